/**
 * How `StoreFlagRepository` lays its documents out in a store's namespace, and the reads and the
 * change signal every part of it shares:
 *
 *   flag/<key>                               one document per flag (rules, variants, schedules inside)
 *   override/<flagKey>/<entityType>/<entityId>  one per override, with the store's native expiry
 *   segment/<key>
 *   env/<slug>
 *   envflag/<flagKey>/<slug>                  a flag's settings in one environment
 *   revision                                  change counter, bumped with `increment` after every write
 */
import { randomInt } from 'node:crypto'
import { FlagstoneError } from '../../errors.js'
import type { Store } from '../../stores/types.js'

export const FLAG = 'flag/'
export const OVERRIDE = 'override/'
export const SEGMENT = 'segment/'
export const ENVIRONMENT = 'env/'
export const ENVIRONMENT_FLAG = 'envflag/'
const REVISION = 'revision'
export const CHANNEL = 'changes'
/** Parallel reads while loading a snapshot: enough to fill a pipeline, few enough for a small pool. */
export const READ_CONCURRENCY = 32

const part = (text: string) => encodeURIComponent(text)
export const overridePrefix = (flagKey: string) => `${OVERRIDE}${part(flagKey)}/`
export const environmentFlagKey = (flagKey: string, slug: string) => `${ENVIRONMENT_FLAG}${flagKey}/${slug}`
export const overrideKey = (flagKey: string, entityType: string, entityId: string) =>
  `${overridePrefix(flagKey)}${part(entityType)}/${part(entityId)}`

export function notFound(what: string, key: string): FlagstoneError {
  return new FlagstoneError('NOT_FOUND', `${what} "${key}" does not exist`, { details: { key } })
}

export function conflict(message: string, key: string): FlagstoneError {
  return new FlagstoneError('CONFLICT', message, { details: { key } })
}

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

export interface ReadAllResult<T> {
  items: T[]
  corrupt: Array<{ key: string; message: string }>
}

/** Every document under `prefix`; unreadable ones (`CORRUPT_VALUE`) are set aside in `corrupt`. */
export async function readAll<T>(
  store: Store,
  prefix: string,
  decode: (bytes: Uint8Array, key: string) => T,
): Promise<ReadAllResult<T>> {
  const keys: string[] = []
  for await (const key of store.keys(prefix)) keys.push(key)
  const corrupt: Array<{ key: string; message: string }> = []
  const items = await mapLimit(keys, READ_CONCURRENCY, async (key) => {
    const bytes = await store.get(key)
    if (bytes === null) return undefined // deleted since it was listed
    try {
      return decode(bytes, key)
    } catch (error) {
      if (error instanceof FlagstoneError && error.code === 'CORRUPT_VALUE') {
        corrupt.push({ key, message: error.message })
        return undefined
      }
      throw error
    }
  })
  return { items: items.filter((x): x is Awaited<T> => x !== undefined) as T[], corrupt }
}

export async function readRevision(store: Store): Promise<number> {
  const bytes = await store.get(REVISION)
  return bytes === null ? 0 : Number(Buffer.from(bytes).toString('utf8'))
}

/** After every write: bump the revision, then announce it where the store can push. */
export async function signalChange(store: Store): Promise<void> {
  let revision = await store.increment(REVISION)
  if (revision === 1) {
    // The counter was just (re)created — a new repository, or a store that lost its data (a Redis
    // restart without persistence). Jump to a random start so that a client still holding a
    // revision from the counter's previous life cannot mistake new data for what it has.
    const start = randomInt(2, 2 ** 40)
    revision = (await store.compareAndSet(REVISION, Buffer.from('1'), String(start))) ? start : await readRevision(store)
  }
  // Push is only a wake-up call (and UNSUPPORTED on SQLite): pollers still see the new revision.
  await store.publish(CHANNEL, String(revision)).catch(() => undefined)
}

/** Everything that hangs off a flag: its overrides and its environment settings. */
export async function deleteDependents(store: Store, flagKey: string): Promise<void> {
  const keys: string[] = []
  for (const prefix of [overridePrefix(flagKey), `${ENVIRONMENT_FLAG}${flagKey}/`]) {
    for await (const key of store.keys(prefix)) keys.push(key)
  }
  await mapLimit(keys, READ_CONCURRENCY, (key) => store.delete(key))
}
