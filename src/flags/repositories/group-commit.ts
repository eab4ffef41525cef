/**
 * The queue of writes of one process to one store (change-log.ts commits them). Writes that wait
 * while one commits go together in the next commit: one read, one atomic operation, one revision
 * and change record per write. Without it every write of a process waits for the one before it
 * (they all check the one revision), so throughput is one write per round trips-plus-fsync of the
 * store; grouped, 32 writes in flight share one.
 */
import type { Store } from '../../stores/types.js'

/** Most writes in one group (one atomic operation also holds at most MAX_ATOMIC_KEYS keys: see change-log.ts). */
export const MAX_GROUP = 32

/** `P`: what a plan answers (change-log.ts `WritePlan`; generic so this file imports nothing of it). */
export interface Pending<P> {
  /** The keys the plan reads. */
  readonly keys: readonly string[]
  readonly plan: (values: Array<Uint8Array | null>, attempt: number) => P | null
  /** Resolves (`value`) or rejects (`error` given) the write's promise. Later calls are ignored. */
  settle(value: number | null | undefined, error?: unknown): void
}

/**
 * Commits a group, settling each of its writes, or hands some back with `defer` (they go first in
 * the next group, in their order).
 */
export type CommitGroup<P> = (group: Pending<P>[], defer: (rest: Pending<P>[]) => void) => Promise<void>

interface Queue {
  items: Pending<unknown>[]
  running: boolean
}

const queues = new WeakMap<Store, Queue>()

export function enqueue<P>(
  store: Store,
  write: Pick<Pending<P>, 'keys' | 'plan'>,
  commit: CommitGroup<P>,
): Promise<number | null> {
  return new Promise((resolve, reject) => {
    let done = false
    const pending: Pending<P> = {
      ...write,
      settle(value, error) {
        if (done) return
        done = true
        if (error !== undefined) reject(error)
        else resolve(value ?? null)
      },
    }
    let queue = queues.get(store)
    if (queue === undefined) queues.set(store, (queue = { items: [], running: false }))
    queue.items.push(pending as Pending<unknown>)
    if (!queue.running) void drain(queue, commit as CommitGroup<unknown>)
  })
}

async function drain(queue: Queue, commit: CommitGroup<unknown>): Promise<void> {
  queue.running = true
  try {
    while (queue.items.length > 0) {
      const group = queue.items.splice(0, MAX_GROUP)
      const deferred = new Set<Pending<unknown>>()
      try {
        await commit(group, (rest) => {
          for (const pending of rest) deferred.add(pending)
          queue.items.unshift(...rest)
        })
      } catch (error) {
        // commit settles every write it does not defer; this only guards against a bug leaving one hanging
        for (const pending of group) if (!deferred.has(pending)) pending.settle(undefined, error)
      }
    }
  } finally {
    queue.running = false
  }
}
