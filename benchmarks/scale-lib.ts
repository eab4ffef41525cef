/**
 * Shared by benchmarks/scale.ts, its follower process and the Unleash comparison: opening stores,
 * bulk seeding, the flag document, statistics and the results file the table is rendered from.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { completeFlag, encodeValidFlag, validateFlagInput } from '../src/flags/codec/index.js'
import type { FlagDraft } from '../src/flags/model.js'
import { createStore, MemoryStore, type Store } from '../src/index.js'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'

export function storeUrl(backend: string, sqliteFile: string): string {
  switch (backend) {
    case 'sqlite':
      return `sqlite://${sqliteFile}`
    case 'redis':
      return REDIS_URL
    case 'postgres':
      return POSTGRES_URL
    case 'mysql':
      return MYSQL_URL
    default:
      throw new Error(`unknown backend ${backend}`)
  }
}

export async function openStore(backend: string, url: string, namespace: string): Promise<Store> {
  return backend === 'memory' ? new MemoryStore({ namespace }) : createStore(url, { namespace })
}

/** The benchmark's flag: one rule with one condition, like the measurement. */
export const draft = (key: string, name = 'f'): FlagDraft => ({
  key,
  type: 'boolean',
  name,
  rules: [{ id: 'r', conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }], serveValue: true }],
})

/** Keys of the seeded flags: `flag-<i>`. */
export const flagKey = (i: number) => `flag-${i}`

/** Documents plus the first revision in one `atomic` are at most this many keys (MAX_ATOMIC_KEYS is 256). */
const SEED_CHUNK = 250

/**
 * Writes `n` flags straight through the store: documents encoded by the repository's own codec
 * (`completeFlag` + `encodeValidFlag`, exactly what `createFlag` stores), in atomic chunks of 250,
 * 4 chunks in flight, then the revision. Not through `createFlag` (one atomic per flag): at 100,000
 * flags that would be the benchmark's whole run. No change records: nobody follows during seeding.
 */
export async function seed(store: Store, n: number): Promise<void> {
  const now = new Date()
  let next = 0
  const worker = async () => {
    while (next < n) {
      const from = next
      next = Math.min(n, next + SEED_CHUNK)
      const writes = []
      for (let i = from; i < next; i++) {
        const flag = completeFlag(validateFlagInput(draft(flagKey(i))), 1, now, now)
        writes.push({ op: 'set' as const, key: `flag/${flag.key}`, value: encodeValidFlag(flag) })
      }
      if (!(await store.atomic(writes))) throw new Error('seed: atomic write without checks did not apply')
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker))
  await store.set('revision', String(1_000 + Math.floor(Math.random() * 1e6)))
}

/** Runs `fn(0..n-1)` with `inFlight` calls in flight. */
export async function pool(n: number, inFlight: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await fn(next++)
    }),
  )
}

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
/** Nearest-rank percentile. */
export function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

/** Wall-clock ms with sub-ms resolution, comparable across processes of one machine. */
export const preciseNow = () => performance.timeOrigin + performance.now()

// ---- results file: each run merges the cells it measured, the table is rendered from all of them ----

export interface CellResult {
  /** Median of 3 `loadSnapshot()` calls, ms. */
  load?: number
  /** `FlagClient.ready()` in the follower process (load + compile), ms. */
  ready?: number
  /** Follower's heap after `ready()` minus before, per flag, bytes. */
  heapPerFlag?: number
  change?: { p50: number; p99: number; max: number; samples: number; poll: number; push: boolean }
  /** createFlag / updateFlag per second at 32 in flight. */
  create?: number
  update?: number
  /** Commit and date the cell's numbers come from (cells may come from different runs). */
  measured?: Record<string, string>
}

export type Results = Record<string, CellResult>

export const RESULTS_FILE = fileURLToPath(new URL('./scale-results.json', import.meta.url))

export function readResults(): Results {
  return existsSync(RESULTS_FILE) ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as Results) : {}
}

export function writeResults(results: Results): void {
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`)
}
