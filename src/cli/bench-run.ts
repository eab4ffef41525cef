/**
 * The measurement behind `flagstone bench`: each operation (get, set, increment, compareAndSet)
 * on each store, at 1 and at N operations in flight, for a fixed count; latency percentiles from
 * every sample, throughput from the wall time of the batch. Everything runs inside one random
 * namespace, removed afterwards.
 */
import { randomBytes } from 'node:crypto'
import { createStore, type Store } from '../stores/index.js'

export const OPERATIONS = ['get', 'set', 'increment', 'compareAndSet'] as const
export type BenchOperation = (typeof OPERATIONS)[number]

export interface BenchOptions {
  /** Operations per (operation, concurrency) cell. */
  operations: number
  /** The "N in flight" level (1 is always measured). */
  concurrency: number
  /** Bytes of each value written (get reads values of this size). */
  valueSize: number
  /** Checked between operations: when it returns true the run stops early. */
  aborted: () => boolean
  /** Called after each finished operation. */
  progress?: (done: number) => void
}

export interface BenchCell {
  url: string
  backend: string
  operation: BenchOperation
  concurrency: number
  operations: number
  p50Ms: number
  p99Ms: number
  opsPerSecond: number
}

export function benchNamespace(): string {
  return `flagstone-bench-${randomBytes(6).toString('hex')}`
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits

/** Opens `url` in its own namespace; the caller closes it through `cleanUp`. */
export async function openBenchStore(url: string, namespace: string): Promise<Store> {
  return createStore(url, { namespace })
}

/** Measures every operation at 1 and `concurrency` in flight on `store`. */
export async function benchStore(store: Store, url: string, backend: string, options: BenchOptions): Promise<BenchCell[]> {
  const value = randomBytes(options.valueSize)
  const keys = 256
  for (let i = 0; i < keys && !options.aborted(); i++) await store.set(`v${i}`, value)
  const cells: BenchCell[] = []
  let done = 0
  for (const concurrency of [...new Set([1, options.concurrency])]) {
    for (const operation of OPERATIONS) {
      if (options.aborted()) return cells
      const latencies = new Float64Array(options.operations)
      let next = 0
      let finished = 0
      // compareAndSet: each worker owns one key and swaps it between two values it knows, so every call succeeds.
      const other = Buffer.concat([value.subarray(0, Math.max(0, value.length - 1)), Buffer.from([value.at(-1) === 1 ? 2 : 1])])
      const held: Buffer[] = []
      for (let w = 0; w < concurrency && operation === 'compareAndSet'; w++) {
        await store.set(`c${w}`, value)
        held[w] = value
      }
      const run = async (i: number, w: number) => {
        const key = `v${i % keys}`
        switch (operation) {
          case 'get':
            await store.get(key)
            break
          case 'set':
            await store.set(key, value)
            break
          case 'increment':
            await store.increment(`n${i % keys}`)
            break
          case 'compareAndSet': {
            const expected = held[w] ?? value
            const replacement = expected === value ? other : value
            if (await store.compareAndSet(`c${w}`, expected, replacement)) held[w] = replacement
            break
          }
        }
      }
      const started = performance.now()
      const worker = async (w: number) => {
        while (next < options.operations && !options.aborted()) {
          const i = next++
          const t = performance.now()
          await run(i, w)
          latencies[finished++] = performance.now() - t
          options.progress?.(++done)
        }
      }
      await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)))
      const elapsed = (performance.now() - started) / 1000
      const sorted = latencies.slice(0, finished).sort()
      cells.push({
        url,
        backend,
        operation,
        concurrency,
        operations: finished,
        p50Ms: round(percentile(sorted, 50), 4),
        p99Ms: round(percentile(sorted, 99), 4),
        opsPerSecond: round(finished / elapsed, 1),
      })
    }
  }
  return cells
}

/** Removes everything the run wrote (its namespace only) and closes the store. */
export async function cleanUp(store: Store): Promise<void> {
  try {
    await store.deleteAll()
  } finally {
    await store.close()
  }
}
