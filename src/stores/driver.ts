/**
 * The part of every store that does not depend on the backend: argument checks, namespaces,
 * closed-state and error mapping. A backend only implements `Driver` (driver-contract.ts): primitive
 * operations on physical keys (already validated and encoded), with TTLs in whole ms.
 */
import { FlagstoneError } from '../errors.js'
import { checkAtomic, checkEntries, checkKeys, readEntries, readMany } from './batch.js'
import { checkStep, toBytes } from './bytes.js'
import { type Driver, resolveBaseOptions, type ResolvedOptions, type Shared } from './driver-contract.js'
import { checkTtl } from './expiry.js'
import { checkKey, checkWellFormed, childKeySpace, type KeySpace } from './keys.js'
import type {
  AtomicCheck,
  AtomicWrite,
  BaseStoreOptions,
  EntriesOptions,
  EntriesPage,
  GetOptions,
  MessageListener,
  SetOptions,
  Store,
  StoreCapabilities,
  StoreValue,
} from './types.js'
import { checkOptions } from '../internal/objects.js'
import { KEEP_TOGETHER } from './together.js'

export {
  type Awaitable,
  DEFAULT_OPERATION_TIMEOUT,
  type Driver,
  type DriverCheck,
  type DriverEntriesPage,
  type DriverWrite,
  reconnectDelay,
  resolveBaseOptions,
  type ResolvedOptions,
  type Shared,
} from './driver-contract.js'

/**
 * A store on a custom backend: `driver` provides the storage calls, the store adds everything else
 * (argument checks, namespaces, closed state, error mapping). Closing the store closes the driver.
 */
export function createDriverStore(driver: Driver, options: BaseStoreOptions = {}): Store {
  checkOptions(options, 'createDriverStore()')
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
      atomicWrites: driver.atomic !== undefined && driver.capabilities?.atomicWrites !== false,
      push: pubsub === undefined ? 'none' : pubsub.acrossProcesses ? 'processes' : 'process',
    })
    return {
      driver,
      capabilities,
      together: new Set(),
      togetherCapabilities: Object.freeze({ ...capabilities, atomicWrites: driver.atomic !== undefined }),
      maxValueBytes: options.maxValueBytes,
      copiesValues: driver.copiesValues === true,
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
    const shared = this.#shared
    return shared.together.size > 0 && shared.together.has(this.#space.own) ? shared.togetherCapabilities : shared.capabilities
  }

  /** `keepTogether(store)` (together.ts); an arrow, so it works through a Proxy that does not bind symbols. */
  readonly [KEEP_TOGETHER] = (): void => {
    // No #open() check: marking touches no connection, and a repository made on a closed store must
    // fail on its first operation (STORE_CLOSED there), not in its constructor.
    const driver = this.#shared.driver
    if (driver.keepTogether === undefined) return
    driver.keepTogether(this.#space)
    this.#shared.together.add(this.#space.own)
  }

  async get(key: string, opts?: GetOptions): Promise<Uint8Array | null> {
    checkOptions(opts, 'get()', 'options')
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
    checkOptions(opts, 'set()', 'options')
    const k = this.#key(key)
    const ttl = opts === undefined ? undefined : checkTtl(opts.expiresIn, 'expiresIn')
    const bytes = toBytes(value, this.#shared.maxValueBytes, 'value', !this.#shared.copiesValues)
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
    checkOptions(opts, 'increment()', 'options')
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
    checkOptions(opts, 'compareAndSet()', 'options')
    const k = this.#key(key)
    const ttl = opts === undefined ? undefined : checkTtl(opts.expiresIn, 'expiresIn')
    const want = expected === null ? null : toBytes(expected, Number.MAX_SAFE_INTEGER, 'expected')
    const bytes = toBytes(value, this.#shared.maxValueBytes, 'value', !this.#shared.copiesValues)
    try {
      const result = this.#shared.driver.compareAndSet(k, want, bytes, ttl)
      return result instanceof Promise ? await this.#bounded(result, 'compareAndSet', key) : result
    } catch (error) {
      throw this.#fail(error, 'compareAndSet', key)
    }
  }

  async atomic(writes: readonly AtomicWrite[], checks?: readonly AtomicCheck[]): Promise<boolean> {
    this.#open()
    const args = checkAtomic(writes, checks, this.#space.own, this.#shared.maxValueBytes)
    const atomic = this.#shared.driver.atomic
    if (atomic === undefined || !this.capabilities.atomicWrites) {
      const why = this.#shared.driver.whyNoAtomic ?? ''
      throw new FlagstoneError(
        'UNSUPPORTED',
        `${this.#describe()} has no atomic multi-key write (capabilities.atomicWrites)${why}`,
      )
    }
    try {
      const result = atomic.call(this.#shared.driver, args.writes, args.checks)
      return result instanceof Promise ? await this.#bounded(result, 'atomic') : result
    } catch (error) {
      throw this.#fail(error, 'atomic')
    }
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | null>> {
    this.#open()
    const physical = checkKeys(keys, this.#space.own)
    if (physical.length === 0) return []
    try {
      const result = readMany(this.#shared.driver, physical)
      return result instanceof Promise ? await this.#bounded(result, 'getMany') : result
    } catch (error) {
      throw this.#fail(error, 'getMany')
    }
  }

  async entries(prefix = '', opts?: EntriesOptions): Promise<EntriesPage> {
    const { limit, cursor } = checkEntries(prefix, opts)
    this.#open()
    const own = this.#space.own
    try {
      const result = readEntries(this.#shared.driver, own + prefix, limit, cursor)
      const page = result instanceof Promise ? await this.#bounded(result, 'entries') : result
      return { entries: page.entries.map(([key, value]) => [key.slice(own.length), value] as const), cursor: page.cursor }
    } catch (error) {
      throw this.#fail(error, 'entries')
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
