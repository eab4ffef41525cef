/**
 * What a backend implements (`Driver`) and the options every backend shares, apart from
 * `DriverStore` (driver.ts) so a driver author reads the contract without the store's machinery.
 */
import { FlagstoneError } from '../errors.js'
import { DEFAULT_MAX_VALUE_BYTES } from './bytes.js'
import { DEFAULT_ROOT, type KeySpace, rootKeySpace } from './keys.js'
import type { BaseStoreOptions, MessageListener, StoreCapabilities } from './types.js'
import { checkOptions } from '../internal/objects.js'

/**
 * The memory driver answers synchronously: skipping a promise and a microtask per call is most of
 * what makes it several times faster than keyv's Map adapter.
 */
export type Awaitable<T> = T | Promise<T>

/**
 * What a backend provides: the storage calls only. Wrap one with `createDriverStore(driver)` and
 * check it with `testStore` from `flagstone/testing`.
 *
 * Every key a driver sees is a physical key: `<root>[:<ns>…]/<key>`, already validated (non-empty,
 * at most 1024 UTF-8 bytes for the user's part); a namespace is the keys that start with
 * `space.own` plus those that start with `space.children`, so a byte-ordered range or a prefix
 * test finds it (never a `LIKE` or glob without escaping). Values are Buffers the store already
 * checked and copied (not copied for a driver that says `copiesValues`); TTLs are whole ms > 0,
 * `undefined` for "never expires". An entry is dead from its expiry instant on, and every read must
 * treat a dead entry as missing, whether or not it was removed yet. Throw anything on a backend
 * failure: the store reports it as `STORE_UNAVAILABLE` with your error as `cause`, or passes a
 * `FlagstoneError` (e.g. `UNSUPPORTED`) through unchanged.
 */
export interface Driver {
  /** Backend name used in error messages and `capabilities.backend`: `memory`, `sqlite`, `redis`, `postgres`, `mysql`, … */
  readonly backend: string
  get(key: string): Awaitable<Uint8Array | null>
  /** `get` that also resets an existing expiry to `ttlMs` from now, atomically (never resurrects). */
  getAndRenew(key: string, ttlMs: number): Awaitable<Uint8Array | null>
  set(key: string, value: Buffer, ttlMs: number | undefined): Awaitable<void>
  /**
   * `true` only when `set` and `compareAndSet` copy (or encode) `value` before they return and keep
   * no reference to it: the store then passes the caller's bytes uncopied (one copy fewer per
   * write) instead of a copy of its own. The memory driver does; a networked one that queues
   * the Buffer for a socket must not.
   */
  readonly copiesValues?: boolean
  delete(key: string): Awaitable<void>
  exists(key: string): Awaitable<boolean>
  /** ms left (>= 1), `Infinity`, or `null` when missing or expired. */
  ttl(key: string): Awaitable<number | null>
  /** Deletes every key under `space.own` and `space.children`. */
  deleteSpace(space: KeySpace): Promise<void>
  /** Physically removes expired entries under `space`; returns how many. */
  deleteExpired(space: KeySpace): Promise<number>
  /** Physical keys of live entries that start with `prefix`. */
  scan(prefix: string): AsyncIterable<string>
  /**
   * Adds `by` to the decimal integer stored at `key` (a missing or dead key counts as 0) and returns
   * the result, atomically; `ttlMs` applies only when this call creates the entry. Throw a
   * `FlagstoneError` with code `INVALID_ARGUMENT` when the value is no integer or the result is not
   * a safe integer. `label` is the user's key, for that message.
   */
  increment(key: string, by: number, ttlMs: number | undefined, label: string): Awaitable<number>
  /** Writes `value` only if the live value equals `expected` byte for byte (`null`: only if missing or dead), atomically. */
  compareAndSet(key: string, expected: Buffer | null, value: Buffer, ttlMs: number | undefined): Awaitable<boolean>
  /**
   * The values of `keys` (physical, possibly repeated) in order, in one round trip. Optional:
   * without it the store issues one `get` per key, in parallel.
   */
  getMany?(keys: readonly string[]): Awaitable<Array<Uint8Array | null>>
  /**
   * One page of at most `limit` live entries whose physical key starts with `prefix`, and the
   * cursor of the next page (`null`: done). `cursor` is `null` for the first page, else one this
   * method returned for the same prefix (the driver's own format: a key on SQL, a SCAN cursor on
   * Redis; the store passes it through, so validate it). Optional: without it the store lists
   * keys with `scan` and reads them with `getMany`.
   */
  entries?(prefix: string, limit: number, cursor: string | null): Awaitable<DriverEntriesPage>
  /**
   * Applies `writes` if every check holds, all or nothing and atomically where `capabilities.atomic`
   * says; resolves whether it applied. Keys are physical and the writes' keys distinct. An
   * `increment` of a value that is no integer throws `counterError(label)` with nothing applied.
   * Optional: without it `capabilities.atomicWrites` is `false` and the store rejects with `UNSUPPORTED`.
   */
  atomic?(writes: readonly DriverWrite[], checks: readonly DriverCheck[]): Awaitable<boolean>
  /**
   * Guarantees this driver does not give (the defaults are every built-in backend's: shared,
   * atomic across processes, atomic renew, listing). `backend` and `push` come from the fields above.
   */
  readonly capabilities?: Partial<Pick<StoreCapabilities, 'shared' | 'atomic' | 'renewOnRead' | 'listKeys' | 'atomicWrites'>>
  /**
   * Keeps the own keys of `space` where one `atomic` reaches them all from now on (Redis Cluster:
   * one hash slot), for a driver whose `capabilities.atomicWrites` is `false` because keys spread.
   * The store then gives that namespace `atomicWrites` (when `atomic` exists). Optional: without
   * it `keepTogether` is a no-op. `whyNoAtomic` is added to the `UNSUPPORTED` message of an
   * `atomic` elsewhere.
   */
  keepTogether?(space: KeySpace): void
  readonly whyNoAtomic?: string
  /** Present where the backend can push; `channel` is already encoded like a key. */
  readonly pubsub?: {
    readonly acrossProcesses: boolean
    publish(channel: string, message: string): Promise<void>
    subscribe(channel: string, listener: MessageListener): Promise<() => Promise<void>>
  }
  /**
   * Drops the connection(s) after an operation missed `operationTimeout`, so the next operation
   * starts on a fresh one instead of queueing behind a reply that may never come. Optional: a
   * driver without it (memory, SQLite, a caller's client) only has its operations bounded.
   */
  recycle?(): void
  close(): Promise<void>
}

export type DriverWrite =
  | { readonly op: 'set'; readonly key: string; readonly value: Buffer; readonly ttlMs: number | undefined }
  | { readonly op: 'delete'; readonly key: string }
  | {
      readonly op: 'increment'
      readonly key: string
      readonly by: number
      readonly ttlMs: number | undefined
      readonly label: string
    }

export interface DriverCheck {
  readonly key: string
  readonly expected: Buffer | null
}

export interface DriverEntriesPage {
  readonly entries: Array<[string, Uint8Array]>
  readonly cursor: string | null
}

/** Wait before reconnect attempt `attempt` (0, 1, …): 50 ms doubling, capped at 1 s, the same on every networked backend. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 1000)
}

export interface Shared {
  readonly driver: Driver
  readonly capabilities: StoreCapabilities
  readonly maxValueBytes: number
  /** `driver.copiesValues`: the store need not copy values first. */
  readonly copiesValues: boolean
  readonly operationTimeout: number
  /** `own` prefixes of the namespaces kept together, and the capabilities they have. */
  readonly together: Set<string>
  readonly togetherCapabilities: StoreCapabilities
  /** Set when the root store closes: every view of the driver is closed then. */
  closed: boolean
}

export interface ResolvedOptions {
  readonly root: KeySpace
  readonly maxValueBytes: number
  readonly operationTimeout: number
}

/**
 * 10 s: the 2-core test machine running at 15x its cores still answers well within it, and a
 * server that stopped answering costs each caller a bounded wait. Where requests must fail fast,
 * set 1-2 s.
 */
export const DEFAULT_OPERATION_TIMEOUT = 10_000
/** setTimeout's largest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Validates and freezes the options every backend shares. */
export function resolveBaseOptions(options: BaseStoreOptions = {}): ResolvedOptions {
  checkOptions(options, 'store options')
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES
  if (!Number.isSafeInteger(maxValueBytes) || maxValueBytes < 1) {
    throw new FlagstoneError('INVALID_ARGUMENT', `maxValueBytes must be a positive integer, got ${String(maxValueBytes)}`, {
      details: { field: 'maxValueBytes' },
    })
  }
  const operationTimeout = options.operationTimeout ?? DEFAULT_OPERATION_TIMEOUT
  if (!Number.isSafeInteger(operationTimeout) || operationTimeout < 1 || operationTimeout > MAX_TIMER_MS) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `operationTimeout must be a whole number of ms from 1 to ${MAX_TIMER_MS}, got ${String(operationTimeout)}`,
      { details: { field: 'operationTimeout' } },
    )
  }
  return Object.freeze({ root: rootKeySpace(options.namespace ?? DEFAULT_ROOT), maxValueBytes, operationTimeout })
}
