/**
 * The part of every store that does not depend on the backend: argument checks, namespaces,
 * closed-state and error mapping. A backend only implements `Driver`: primitive operations on
 * physical keys (already validated and encoded), with TTLs in whole ms.
 */
import { FlagstoneError } from '../errors.js'
import { checkStep, DEFAULT_MAX_VALUE_BYTES, toBytes } from './bytes.js'
import { checkTtl } from './expiry.js'
import { checkKey, checkWellFormed, childKeySpace, DEFAULT_ROOT, type KeySpace, rootKeySpace } from './keys.js'
import type { BaseStoreOptions, GetOptions, MessageListener, SetOptions, Store, StoreCapabilities, StoreValue } from './types.js'

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
 * checked and copied; TTLs are whole ms > 0, `undefined` for "never expires". An entry is dead from
 * its expiry instant on, and every read must treat a dead entry as missing, whether or not it was
 * removed yet. Throw anything on a backend failure: the store reports it as `STORE_UNAVAILABLE`
 * with your error as `cause`, or passes a `FlagstoneError` (e.g. `UNSUPPORTED`) through unchanged.
 */
export interface Driver {
  /** Backend name used in error messages and `capabilities.backend`: `memory`, `sqlite`, `redis`, `postgres`, `mysql`, … */
  readonly backend: string
  get(key: string): Awaitable<Uint8Array | null>
  /** `get` that also resets an existing expiry to `ttlMs` from now, atomically (never resurrects). */
  getAndRenew(key: string, ttlMs: number): Awaitable<Uint8Array | null>
  set(key: string, value: Buffer, ttlMs: number | undefined): Awaitable<void>
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
   * Guarantees this driver does not give (the defaults are every built-in backend's: shared,
   * atomic across processes, atomic renew, listing). `backend` and `push` come from the fields above.
   */
  readonly capabilities?: Partial<Pick<StoreCapabilities, 'shared' | 'atomic' | 'renewOnRead' | 'listKeys'>>
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

/** Wait before reconnect attempt `attempt` (0, 1, …): 50 ms doubling, capped at 1 s, the same on every networked backend. */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 1000)
}

export interface Shared {
  readonly driver: Driver
  readonly capabilities: StoreCapabilities
  readonly maxValueBytes: number
  readonly operationTimeout: number
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

/**
 * A store on a custom backend: `driver` provides the storage calls, the store adds everything else
 * (argument checks, namespaces, closed state, error mapping). Closing the store closes the driver.
 */
export function createDriverStore(driver: Driver, options: BaseStoreOptions = {}): Store {
  return DriverStore.root(driver, resolveBaseOptions(options))
}

export class DriverStore implements Store {
  readonly #shared: Shared
  readonly #space: KeySpace
  readonly #isRoot: boolean
  #closed = false

  /** A root store that owns `driver` (its `close()` closes the driver). */
  static root(driver: Driver, options: ResolvedOptions): DriverStore {
    return new DriverStore(DriverStore.shared(driver, options), options.root, true)
  }

  protected static shared(driver: Driver, options: ResolvedOptions): Shared {
    const pubsub = driver.pubsub
    const capabilities: StoreCapabilities = Object.freeze({
      backend: driver.backend,
      shared: true,
      atomic: 'processes',
      renewOnRead: 'atomic',
      listKeys: true,
      ...driver.capabilities,
      push: pubsub === undefined ? 'none' : pubsub.acrossProcesses ? 'processes' : 'process',
    })
    return {
      driver,
      capabilities,
      maxValueBytes: options.maxValueBytes,
      operationTimeout: options.operationTimeout,
      closed: false,
    }
  }

  protected constructor(shared: Shared, space: KeySpace, isRoot: boolean) {
    this.#shared = shared
    this.#space = space
    this.#isRoot = isRoot
  }

  get namespace(): string {
    return this.#space.path
  }

  get capabilities(): StoreCapabilities {
    return this.#shared.capabilities
  }

  async get(key: string, opts?: GetOptions): Promise<Uint8Array | null> {
    const k = this.#key(key)
    const renewFor = opts === undefined ? undefined : checkTtl(opts.renewFor, 'renewFor')
    try {
      const result = renewFor === undefined ? this.#shared.driver.get(k) : this.#shared.driver.getAndRenew(k, renewFor)
      return result instanceof Promise ? await this.#bounded(result, 'get', key) : result
    } catch (error) {
      throw this.#fail(error, 'get', key)
    }
  }

  async set(key: string, value: StoreValue, opts?: SetOptions): Promise<void> {
    const k = this.#key(key)
    const ttl = opts === undefined ? undefined : checkTtl(opts.expiresIn, 'expiresIn')
    const bytes = toBytes(value, this.#shared.maxValueBytes)
    try {
      const result = this.#shared.driver.set(k, bytes, ttl)
      return result instanceof Promise ? await this.#bounded(result, 'set', key) : result
    } catch (error) {
      throw this.#fail(error, 'set', key)
    }
  }

  async delete(key: string): Promise<void> {
    const k = this.#key(key)
    try {
      const result = this.#shared.driver.delete(k)
      return result instanceof Promise ? await this.#bounded(result, 'delete', key) : result
    } catch (error) {
      throw this.#fail(error, 'delete', key)
    }
  }

  async deleteAll(): Promise<void> {
    this.#open()
    try {
      await this.#bounded(this.#shared.driver.deleteSpace(this.#space), 'deleteAll')
    } catch (error) {
      throw this.#fail(error, 'deleteAll')
    }
  }

  async exists(key: string): Promise<boolean> {
    const k = this.#key(key)
    try {
      const result = this.#shared.driver.exists(k)
      return result instanceof Promise ? await this.#bounded(result, 'exists', key) : result
    } catch (error) {
      throw this.#fail(error, 'exists', key)
    }
  }

  async expiresIn(key: string): Promise<number | null> {
    const k = this.#key(key)
    try {
      const result = this.#shared.driver.ttl(k)
      return result instanceof Promise ? await this.#bounded(result, 'expiresIn', key) : result
    } catch (error) {
      throw this.#fail(error, 'expiresIn', key)
    }
  }

  async deleteExpired(): Promise<number> {
    this.#open()
    try {
      return await this.#bounded(this.#shared.driver.deleteExpired(this.#space), 'deleteExpired')
    } catch (error) {
      throw this.#fail(error, 'deleteExpired')
    }
  }

  async *keys(prefix = ''): AsyncIterable<string> {
    if (typeof prefix !== 'string') {
      throw new FlagstoneError('INVALID_ARGUMENT', `keys prefix must be a string, got ${typeof prefix}`, {
        details: { field: 'prefix' },
      })
    }
    checkWellFormed(prefix, 'prefix')
    this.#open()
    const own = this.#space.own
    const pages = this.#shared.driver.scan(own + prefix)[Symbol.asyncIterator]()
    let settled = true
    try {
      while (true) {
        settled = false
        // Each step of the scan is one bounded round trip; the caller's loop body is not timed.
        const step = await this.#bounded(pages.next(), 'keys')
        settled = true
        if (step.done === true) return
        yield step.value.slice(own.length)
      }
    } catch (error) {
      throw this.#fail(error, 'keys')
    } finally {
      // An async generator queues return() behind a pending next(): after a timeout, do not wait.
      if (settled) await pages.return?.()
    }
  }

  async increment(key: string, by = 1, opts?: SetOptions): Promise<number> {
    const k = this.#key(key)
    const step = checkStep(by)
    const ttl = opts === undefined ? undefined : checkTtl(opts.expiresIn, 'expiresIn')
    try {
      const result = this.#shared.driver.increment(k, step, ttl, key)
      return result instanceof Promise ? await this.#bounded(result, 'increment', key) : result
    } catch (error) {
      throw this.#fail(error, 'increment', key)
    }
  }

  async compareAndSet(key: string, expected: Uint8Array | null, value: StoreValue, opts?: SetOptions): Promise<boolean> {
    const k = this.#key(key)
    const ttl = opts === undefined ? undefined : checkTtl(opts.expiresIn, 'expiresIn')
    const want = expected === null ? null : toBytes(expected, Number.MAX_SAFE_INTEGER, 'expected')
    const bytes = toBytes(value, this.#shared.maxValueBytes)
    try {
      const result = this.#shared.driver.compareAndSet(k, want, bytes, ttl)
      return result instanceof Promise ? await this.#bounded(result, 'compareAndSet', key) : result
    } catch (error) {
      throw this.#fail(error, 'compareAndSet', key)
    }
  }

  get pushAcrossProcesses(): boolean {
    return this.#shared.driver.pubsub?.acrossProcesses ?? false
  }

  async publish(channel: string, message: string): Promise<void> {
    const [pubsub, physical] = this.#channel(channel)
    if (typeof message !== 'string') {
      throw new FlagstoneError('INVALID_ARGUMENT', `message must be a string, got ${typeof message}`, {
        details: { field: 'message' },
      })
    }
    checkWellFormed(message, 'message')
    try {
      await this.#bounded(pubsub.publish(physical, message), 'publish', channel)
    } catch (error) {
      throw this.#fail(error, 'publish', channel)
    }
  }

  async subscribe(channel: string, listener: MessageListener): Promise<() => Promise<void>> {
    const [pubsub, physical] = this.#channel(channel)
    if (typeof listener !== 'function') {
      throw new FlagstoneError('INVALID_ARGUMENT', 'listener must be a function', { details: { field: 'listener' } })
    }
    try {
      return await this.#bounded(pubsub.subscribe(physical, listener), 'subscribe', channel)
    } catch (error) {
      throw this.#fail(error, 'subscribe', channel)
    }
  }

  withNamespace(name: string): Store {
    this.#open()
    return new DriverStore(this.#shared, childKeySpace(this.#space, name), false)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#isRoot && !this.#shared.closed) {
      this.#shared.closed = true
      await this.#shared.driver.close()
    }
  }

  #open(): void {
    if (this.#closed || this.#shared.closed) {
      throw new FlagstoneError('STORE_CLOSED', `${this.#describe()} is closed`)
    }
  }

  #key(key: string): string {
    this.#open()
    return this.#space.own + checkKey(key)
  }

  #channel(channel: string): [NonNullable<Driver['pubsub']>, string] {
    const physical = this.#key(channel)
    const pubsub = this.#shared.driver.pubsub
    if (pubsub === undefined) {
      throw new FlagstoneError('UNSUPPORTED', `${this.#describe()} cannot publish or subscribe: poll for changes instead`)
    }
    return [pubsub, physical]
  }

  #describe(): string {
    const ns = this.#space.path === '' ? 'root' : `namespace "${this.#space.path}"`
    return `${this.#shared.driver.backend} store (${ns})`
  }

  /**
   * `promise`, or `STORE_UNAVAILABLE` once it has not settled within `operationTimeout` (a server
   * that accepts and never answers, a stopped process, a frozen network); the driver then
   * recycles its connection. A write that timed out may still have been applied.
   */
  #bounded<T>(promise: Promise<T>, op: string, key?: string): Promise<T> {
    const { operationTimeout: ms, driver } = this.#shared
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        // Timers run before I/O in an event-loop turn: after a stall (GC, a starved CPU) an answer
        // may already be waiting in the socket. setImmediate runs after the I/O phase, so that
        // answer still counts instead of a server that did answer being called unavailable.
        setImmediate(() => {
          if (settled) return
          settled = true
          const what = key === undefined ? op : `${op} of key ${JSON.stringify(key)}`
          const message = `${this.#describe()}: ${what} got no answer within ${ms} ms (operationTimeout)`
          reject(new FlagstoneError('STORE_UNAVAILABLE', message, { details: { operation: op, operationTimeout: ms } }))
          driver.recycle?.()
        })
      }, ms)
      promise.then(
        (value) => {
          settled = true
          clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          settled = true
          clearTimeout(timer)
          reject(error)
        },
      )
    })
  }

  #fail(error: unknown, op: string, key?: string): FlagstoneError {
    if (error instanceof FlagstoneError) return error
    if (this.#closed || this.#shared.closed) {
      return new FlagstoneError('STORE_CLOSED', `${this.#describe()} was closed during ${op}`, { cause: error })
    }
    const what = key === undefined ? op : `${op} of key ${JSON.stringify(key)}`
    const reason = error instanceof Error ? error.message : String(error)
    return new FlagstoneError('STORE_UNAVAILABLE', `${this.#describe()}: ${what} failed: ${reason}`, { cause: error })
  }
}
