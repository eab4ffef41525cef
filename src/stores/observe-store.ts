/**
 * `observeStore(store, backend)`: the same store, publishing every operation (backend, operation,
 * outcome, duration) on the `flagstone:store:operation` channel. A wrapper rather than code in
 * every backend: one place, and a caller who does not want it does not pay for it. Namespaces
 * made from it are observed too.
 */
import { isFlagstoneError } from '../errors.js'
import { hasListeners, publish, type StoreOperation } from '../events.js'
import type {
  AtomicCheck,
  AtomicWrite,
  EntriesOptions,
  GetOptions,
  MessageListener,
  SetOptions,
  Store,
  StoreValue,
} from './types.js'
import { KEEP_TOGETHER, keepTogether } from './together.js'

class ObservedStore implements Store {
  readonly #inner: Store
  readonly #backend: string

  constructor(inner: Store, backend: string) {
    this.#inner = inner
    this.#backend = backend
  }

  get namespace(): string {
    return this.#inner.namespace
  }

  get capabilities(): Store['capabilities'] {
    return this.#inner.capabilities
  }

  get pushAcrossProcesses(): boolean {
    return this.#inner.pushAcrossProcesses
  }

  readonly [KEEP_TOGETHER] = (): void => keepTogether(this.#inner)

  async #run<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> {
    if (!hasListeners('storeOperation')) return call()
    const started = performance.now()
    let outcome = 'ok'
    try {
      return await call()
    } catch (error) {
      outcome = isFlagstoneError(error) ? error.code : 'ERROR'
      throw error
    } finally {
      publish('storeOperation', { backend: this.#backend, operation, outcome, durationMs: performance.now() - started })
    }
  }

  get(key: string, opts?: GetOptions) {
    return this.#run('get', () => this.#inner.get(key, opts))
  }
  set(key: string, value: StoreValue, opts?: SetOptions) {
    return this.#run('set', () => this.#inner.set(key, value, opts))
  }
  delete(key: string) {
    return this.#run('delete', () => this.#inner.delete(key))
  }
  deleteAll() {
    return this.#run('deleteAll', () => this.#inner.deleteAll())
  }
  exists(key: string) {
    return this.#run('exists', () => this.#inner.exists(key))
  }
  expiresIn(key: string) {
    return this.#run('expiresIn', () => this.#inner.expiresIn(key))
  }
  deleteExpired() {
    return this.#run('deleteExpired', () => this.#inner.deleteExpired())
  }
  keys(prefix?: string): AsyncIterable<string> {
    // Counted once per listing, when it starts: a listing is one operation to the caller.
    const inner = this.#inner
    const run = (call: () => Promise<void>) => this.#run('keys', call)
    return {
      [Symbol.asyncIterator]() {
        const iterator = inner.keys(prefix)[Symbol.asyncIterator]()
        let first = true
        return {
          next: async () => {
            if (!first) return iterator.next()
            first = false
            let result!: IteratorResult<string>
            await run(async () => {
              result = await iterator.next()
            })
            return result
          },
          return: async () => (await iterator.return?.()) ?? { done: true, value: undefined },
        }
      },
    }
  }
  increment(key: string, by?: number, opts?: SetOptions) {
    return this.#run('increment', () => this.#inner.increment(key, by, opts))
  }
  compareAndSet(key: string, expected: Uint8Array | null, value: StoreValue, opts?: SetOptions) {
    return this.#run('compareAndSet', () => this.#inner.compareAndSet(key, expected, value, opts))
  }
  atomic(writes: readonly AtomicWrite[], checks?: readonly AtomicCheck[]) {
    return this.#run('atomic', () => this.#inner.atomic(writes, checks))
  }
  getMany(keys: readonly string[]) {
    return this.#run('getMany', () => this.#inner.getMany(keys))
  }
  entries(prefix?: string, opts?: EntriesOptions) {
    return this.#run('entries', () => this.#inner.entries(prefix, opts))
  }
  publish(channel: string, message: string) {
    return this.#inner.publish(channel, message)
  }
  subscribe(channel: string, listener: MessageListener) {
    return this.#inner.subscribe(channel, listener)
  }
  withNamespace(name: string): Store {
    return new ObservedStore(this.#inner.withNamespace(name), this.#backend)
  }
  close() {
    return this.#inner.close()
  }
}

/** `store`, publishing each operation on `CHANNELS.storeOperation` with `backend` as its label. */
export function observeStore(store: Store, backend: string): Store {
  return new ObservedStore(store, backend)
}
