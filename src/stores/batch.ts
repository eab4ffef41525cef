/**
 * Argument checks of the multi-key operations (`atomic`, `getMany`, `entries`) and the fallbacks
 * the store uses for a driver that lacks `getMany` or `entries`: the backend-independent half,
 * kept out of driver.ts so that file stays the store's machinery.
 */
import { FlagstoneError } from '../errors.js'
import { checkStep, toBytes } from './bytes.js'
import type { Awaitable, Driver, DriverCheck, DriverEntriesPage, DriverWrite } from './driver-contract.js'
import { checkTtl } from './expiry.js'
import { checkKey, checkWellFormed } from './keys.js'
import { type AtomicCheck, type AtomicWrite, type EntriesOptions, MAX_ATOMIC_KEYS } from './types.js'

export const MAX_BATCH_KEYS = 10_000
export const DEFAULT_PAGE = 1000

function invalid(message: string, field: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', message, { details: { field } })
}

function list<T>(value: unknown, field: string, max: number): readonly T[] {
  if (!Array.isArray(value)) throw invalid(`${field} must be an array`, field)
  if (value.length > max) throw invalid(`${field}: at most ${max} entries, got ${value.length}`, field)
  return value as readonly T[]
}

/** Validates and encodes an `atomic` call; `own` is the namespace's key prefix. */
export function checkAtomic(
  writes: unknown,
  checks: unknown,
  own: string,
  maxValueBytes: number,
): { writes: DriverWrite[]; checks: DriverCheck[] } {
  const ws = list<AtomicWrite>(writes, 'writes', MAX_ATOMIC_KEYS)
  const cs = list<AtomicCheck>(checks ?? [], 'checks', MAX_ATOMIC_KEYS)
  if (ws.length + cs.length > MAX_ATOMIC_KEYS) {
    throw invalid(`atomic: at most ${MAX_ATOMIC_KEYS} writes and checks together, got ${ws.length + cs.length}`, 'writes')
  }
  const written = new Set<string>()
  const outWrites = ws.map((w, i): DriverWrite => {
    const field = `writes[${i}]`
    if (w === null || typeof w !== 'object') throw invalid(`${field} must be an object`, field)
    const key = checkKey(w.key)
    if (written.has(key)) throw invalid(`${field}.key: key ${JSON.stringify(key)} is written twice`, `${field}.key`)
    written.add(key)
    const physical = own + key
    switch (w.op) {
      case 'set':
        return {
          op: 'set',
          key: physical,
          value: toBytes(w.value, maxValueBytes),
          ttlMs: w.expiresIn === undefined ? undefined : checkTtl(w.expiresIn, 'expiresIn'),
        }
      case 'delete':
        return { op: 'delete', key: physical }
      case 'increment':
        return {
          op: 'increment',
          key: physical,
          by: checkStep(w.by ?? 1),
          ttlMs: w.expiresIn === undefined ? undefined : checkTtl(w.expiresIn, 'expiresIn'),
          label: key,
        }
      default:
        throw invalid(`${field}.op must be 'set', 'delete' or 'increment'`, `${field}.op`)
    }
  })
  const checked = new Set<string>()
  const outChecks = cs.map((c, i): DriverCheck => {
    const field = `checks[${i}]`
    if (c === null || typeof c !== 'object') throw invalid(`${field} must be an object`, field)
    const key = checkKey(c.key)
    if (checked.has(key)) throw invalid(`${field}.key: key ${JSON.stringify(key)} is checked twice`, `${field}.key`)
    checked.add(key)
    const expected = c.expected === null ? null : toBytes(c.expected, Number.MAX_SAFE_INTEGER, `${field}.expected`)
    return { key: own + key, expected }
  })
  return { writes: outWrites, checks: outChecks }
}

/** Validates `getMany` keys and returns them physical. */
export function checkKeys(keys: unknown, own: string): string[] {
  return list<string>(keys, 'keys', MAX_BATCH_KEYS).map((key) => own + checkKey(key))
}

/** Validates `entries` arguments. */
export function checkEntries(prefix: unknown, opts: EntriesOptions | undefined): { limit: number; cursor: string | null } {
  if (typeof prefix !== 'string') throw invalid(`entries prefix must be a string, got ${typeof prefix}`, 'prefix')
  checkWellFormed(prefix, 'prefix')
  if (opts !== undefined && (opts === null || typeof opts !== 'object'))
    throw invalid('entries options must be an object', 'opts')
  const limit = opts?.limit ?? DEFAULT_PAGE
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_BATCH_KEYS) {
    throw invalid(`limit must be an integer from 1 to ${MAX_BATCH_KEYS}, got ${String(limit)}`, 'limit')
  }
  const cursor = opts?.cursor ?? null
  if (cursor !== null && (typeof cursor !== 'string' || cursor === '')) {
    throw invalid('cursor must be the non-empty string a previous page returned', 'cursor')
  }
  if (cursor !== null) checkWellFormed(cursor, 'cursor')
  return { limit, cursor }
}

/** `driver.getMany`, or one `get` per key in parallel for a driver without it. */
export function readMany(driver: Driver, keys: readonly string[]): Awaitable<Array<Uint8Array | null>> {
  if (driver.getMany !== undefined) return driver.getMany(keys)
  return Promise.all(keys.map((key) => driver.get(key)))
}

/**
 * `driver.entries`, or for a driver without it: the keys from `scan` in order, the page after
 * `cursor` (the last key of the previous page), then their values.
 */
export function readEntries(driver: Driver, prefix: string, limit: number, cursor: string | null): Awaitable<DriverEntriesPage> {
  return driver.entries !== undefined ? driver.entries(prefix, limit, cursor) : scanEntries(driver, prefix, limit, cursor)
}

async function scanEntries(driver: Driver, prefix: string, limit: number, cursor: string | null): Promise<DriverEntriesPage> {
  const keys: string[] = []
  for await (const key of driver.scan(prefix)) if (cursor === null || key > cursor) keys.push(key)
  keys.sort()
  const page = keys.slice(0, limit)
  const values = await readMany(driver, page)
  const entries: Array<[string, Uint8Array]> = []
  page.forEach((key, i) => {
    const value = values[i]
    if (value !== null && value !== undefined) entries.push([key, value])
  })
  return { entries, cursor: keys.length > limit ? (page[page.length - 1] ?? null) : null }
}
