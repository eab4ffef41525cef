/**
 * The store contract. Every backend (memory, SQLite, Redis, PostgreSQL) implements exactly this,
 * and one conformance suite (`src/testing/`, published as `flagstone/testing`) checks every rule below on each.
 *
 * Units: durations are milliseconds; values are bytes.
 */

/** Bytes, or a string that is stored as its UTF-8 bytes. */
export type StoreValue = Uint8Array | string

export type MessageListener = (message: string) => void

export interface GetOptions {
  /**
   * If the key has an expiry, reset it to `renewFor` ms from now (sliding expiry). A key without
   * expiry stays without one. Never resurrects a key deleted or replaced concurrently.
   * Must be a finite number > 0.
   */
  renewFor?: number
}

export interface SetOptions {
  /** Time to live in ms: a finite number > 0. Absent: the key never expires. */
  expiresIn?: number
}

/**
 * Which guarantees a store gives. Every built-in backend gives all of them except where noted; a
 * store wrapped around a plain keyv adapter, or a custom driver, may give fewer, and the parts of
 * flagstone that need one (the flag repository, the rate limiter) refuse a store without it.
 */
export interface StoreCapabilities {
  /** Backend name: `memory`, `sqlite`, `redis`, `postgres`, `mysql`, `keyv`, or a custom driver's. */
  readonly backend: string
  /** Whether other processes can open the same data (`false` for memory). */
  readonly shared: boolean
  /**
   * Where `increment` and `compareAndSet` are atomic: `'processes'` (every process on the backend),
   * `'process'` (this process only: memory, or a keyv adapter with `inProcessAtomics`), `'none'`
   * (they reject with `UNSUPPORTED`).
   */
  readonly atomic: 'processes' | 'process' | 'none'
  /**
   * `'atomic'`: a renew never resurrects a key deleted concurrently. `'rewrite'`: a renew rewrites
   * the value, so a delete racing it can be undone (keyv adapters have no conditional write).
   */
  readonly renewOnRead: 'atomic' | 'rewrite'
  /** Whether `keys`, `deleteAll` and `deleteExpired` work; without it they reject with `UNSUPPORTED`. */
  readonly listKeys: boolean
  /** Where `publish` reaches (`'none'`: it rejects with `UNSUPPORTED`; poll instead). */
  readonly push: 'processes' | 'process' | 'none'
  /**
   * Whether `atomic` (several writes under compare-and-set checks, all or nothing) works; it is
   * atomic where `atomic` above says. Without it `atomic` rejects with `UNSUPPORTED`.
   */
  readonly atomicWrites: boolean
}

/** One write of an `atomic` operation. Each key appears at most once among the writes. */
export type AtomicWrite =
  /** Stores `value`, replacing any previous value and expiry (`expiresIn` as in `set`). */
  | { readonly op: 'set'; readonly key: string; readonly value: StoreValue; readonly expiresIn?: number }
  /** Removes the key; a missing key is a no-op. */
  | { readonly op: 'delete'; readonly key: string }
  /** `increment` semantics: `by` defaults to 1, `expiresIn` applies only when this creates the key. */
  | { readonly op: 'increment'; readonly key: string; readonly by?: number; readonly expiresIn?: number }

/** A condition of an `atomic` operation: the live value of `key` equals `expected` byte for byte (`null`: missing or expired). */
export interface AtomicCheck {
  readonly key: string
  readonly expected: Uint8Array | null
}

/** Most writes plus checks in one `atomic` operation. */
export const MAX_ATOMIC_KEYS = 256

export interface EntriesOptions {
  /** Entries per page: an integer from 1 to 10,000 (on Redis a hint to `SCAN`, which may return a few more). @default 1000 */
  limit?: number
  /** The `cursor` of the previous page; absent for the first page. */
  cursor?: string
}

export interface EntriesPage {
  /** `[key, value]` pairs of live keys (without the namespace), in no set order across backends. */
  readonly entries: ReadonlyArray<readonly [string, Uint8Array]>
  /** Pass it to get the next page; `null` when this was the last. Opaque, and only valid for this prefix. */
  readonly cursor: string | null
}

export interface Store {
  /** `''` for a root store, else the namespace path below the root, e.g. `'app:sessions'`. */
  readonly namespace: string

  /**
   * The guarantees this store gives (the same object for a root store and its children, except for
   * a namespace kept together with `keepTogether`, which may add `atomicWrites`: Redis Cluster).
   */
  readonly capabilities: StoreCapabilities

  /** The value's bytes, or `null` if the key is missing or expired. Never a string. */
  get(key: string, opts?: GetOptions): Promise<Uint8Array | null>

  /** Stores `value` (a string as UTF-8), replacing any previous value and expiry. */
  set(key: string, value: StoreValue, opts?: SetOptions): Promise<void>

  /** Removes the key; a missing key is a no-op. */
  delete(key: string): Promise<void>

  /** Removes every key of this namespace and of its child namespaces; nothing else. */
  deleteAll(): Promise<void>

  /** Whether the key exists and has not expired. */
  exists(key: string): Promise<boolean>

  /** Remaining ms (>= 1) for a key with expiry, `Infinity` for one without, `null` if missing or expired. */
  expiresIn(key: string): Promise<number | null>

  /**
   * Physically removes expired entries of this namespace and its children and returns how many it
   * removed. On Redis the server expires keys itself, so this usually returns 0.
   */
  deleteExpired(): Promise<number>

  /** Live keys of this namespace (not of child namespaces) that start with `prefix`, in no set order. */
  keys(prefix?: string): AsyncIterable<string>

  /**
   * Atomically adds `by` (a safe integer, default 1) to the integer stored at `key` and returns the
   * new value. A missing or expired key starts at 0. `expiresIn` applies only when this call
   * creates the key (a fixed window); later increments keep the original expiry. The value is
   * stored as the decimal string's UTF-8 bytes. Rejects with `INVALID_ARGUMENT` if the stored
   * value is not a decimal integer.
   */
  increment(key: string, by?: number, opts?: SetOptions): Promise<number>

  /**
   * Atomically writes `value` if the current value equals `expected` byte for byte
   * (`expected === null`: only if the key is missing or expired). Returns whether it wrote.
   */
  compareAndSet(key: string, expected: Uint8Array | null, value: StoreValue, opts?: SetOptions): Promise<boolean>

  /**
   * Applies every one of `writes` if every one of `checks` holds, all or nothing, as one atomic
   * step (one transaction on SQL, one Lua script on Redis, synchronous in memory): no other
   * operation sees some writes without the others, and a failed check (or a failed write, e.g. an
   * `increment` of a value that is no integer: `INVALID_ARGUMENT`) changes nothing. Resolves `true`
   * when it applied, `false` when a check failed. Keys of the writes are distinct; checks may name
   * keys that are written. At most `MAX_ATOMIC_KEYS` writes plus checks. Rejects with `UNSUPPORTED`
   * unless `capabilities.atomicWrites`. Bounded by `operationTimeout` like every operation (a write
   * that timed out may still have been applied, all of it or none).
   */
  atomic(writes: readonly AtomicWrite[], checks?: readonly AtomicCheck[]): Promise<boolean>

  /**
   * The values of `keys` in the same order (`null` for missing or expired), in one round trip
   * where the backend allows (Redis `MGET`, one SQL `SELECT … IN`). At most 10,000 keys; a key
   * may repeat. Each value is read atomically, the set of them is not a snapshot.
   */
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | null>>

  /**
   * One page of the live keys of this namespace (not of children) that start with `prefix`, with
   * their values: one range `SELECT` on SQL, `SCAN` + `MGET` on Redis. Loop while `cursor` is not
   * `null`. A page may hold fewer than `limit` entries (even none) before the last. A key written
   * or deleted during the listing may or may not be in it, and on Redis a key may appear in two
   * pages: collect into a map. Needs `capabilities.listKeys`.
   */
  entries(prefix?: string, opts?: EntriesOptions): Promise<EntriesPage>

  /**
   * Whether `publish` reaches subscribers in other processes (Redis pub/sub, Postgres
   * LISTEN/NOTIFY). `false` for memory (in-process only) and SQLite (no push: poll instead).
   */
  readonly pushAcrossProcesses: boolean

  /**
   * Sends `message` to the subscribers of `channel` in this namespace. Delivery is best effort
   * (a subscriber that is disconnected at the time misses it), so use it to wake pollers up, not
   * as the only copy of data. Rejects with `UNSUPPORTED` on SQLite.
   */
  publish(channel: string, message: string): Promise<void>

  /**
   * Calls `listener` with every message published to `channel` of this namespace; resolves once
   * the subscription is active and re-subscribes by itself after a reconnect. Returns the
   * function that unsubscribes. Rejects with `UNSUPPORTED` on SQLite.
   */
  subscribe(channel: string, listener: MessageListener): Promise<() => Promise<void>>

  /** A child view on the same connection: namespace path `this.namespace + ':' + name`. */
  withNamespace(name: string): Store

  /**
   * Releases what this store owns (connections it opened). Idempotent. Closing a root store closes
   * its children too; closing a child only marks the child closed. A client or pool the caller
   * passed in is never closed. Any later call rejects with `STORE_CLOSED`.
   */
  close(): Promise<void>
}

/** Options every backend factory accepts. */
export interface BaseStoreOptions {
  /**
   * The root namespace every key of this store lives under; nothing outside it is ever read,
   * written or deleted. 1..64 chars of `[A-Za-z0-9_.-]`.
   * @default 'flagstone'
   */
  namespace?: string
  /**
   * Largest value accepted, in bytes; larger ones reject with `VALUE_TOO_LARGE` before anything
   * is written.
   * @default 16 MiB
   */
  maxValueBytes?: number
  /**
   * The longest any one operation may take, in ms (connecting included; for `keys()` each page).
   * Past it the operation rejects with `STORE_UNAVAILABLE` and the store drops the connection, so
   * a server that stopped answering costs each caller at most this long. A write that timed out
   * may still have been applied. Memory answers synchronously and is never timed.
   * @default 10000
   */
  operationTimeout?: number
}
