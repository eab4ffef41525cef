/** Hands out stores by name, so integrations (`flags`, `sessions`, `rate_limit`, …) find theirs. */
import { FlagstoneError } from '../errors.js'
import { MemoryStore } from './drivers/memory.js'
import type { Store } from './types.js'
import { checkOptions } from '../internal/objects.js'

export type StoreFactory = (name: string) => Store

export interface StoreRegistryOptions {
  /** Stores registered up front, by name. */
  stores?: Readonly<Record<string, Store>>
  /**
   * Makes the store for a name nobody registered, on first `get`; the result is remembered.
   * @default (name) => new MemoryStore() — one independent memory store per name
   */
  defaultFactory?: StoreFactory
}

export interface RegisterOptions {
  /** Replace a store already registered under the name instead of throwing `DUPLICATE_STORE`. @default false */
  allowOverride?: boolean
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new FlagstoneError('INVALID_ARGUMENT', `store name must be a non-empty string, got ${JSON.stringify(name)}`, {
      details: { field: 'name' },
    })
  }
  return name
}

export class StoreRegistry {
  readonly #stores = new Map<string, Store>()
  readonly #factory: StoreFactory
  #closed = false

  constructor(options: StoreRegistryOptions = {}) {
    checkOptions(options, 'StoreRegistry')
    this.#factory = options.defaultFactory ?? (() => new MemoryStore())
    for (const [name, store] of Object.entries(options.stores ?? {})) this.register(name, store)
  }

  /** The store registered under `name`, or a new one from the default factory (remembered). */
  get(name: string): Store {
    this.#open()
    const existing = this.#stores.get(checkName(name))
    if (existing !== undefined) return existing
    const created = this.#factory(name)
    this.#stores.set(name, created)
    return created
  }

  /** Registers `store` under `name`; throws `DUPLICATE_STORE` if taken, unless `allowOverride`. */
  register(name: string, store: Store, options: RegisterOptions = {}): void {
    this.#open()
    checkName(name)
    if (this.#stores.has(name) && options.allowOverride !== true) {
      throw new FlagstoneError('DUPLICATE_STORE', `a store is already registered as "${name}"`, { details: { name } })
    }
    this.#stores.set(name, store)
  }

  has(name: string): boolean {
    return this.#stores.has(name)
  }

  names(): string[] {
    return [...this.#stores.keys()]
  }

  /** Closes every store the registry created or was given. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const stores = [...this.#stores.values()]
    this.#stores.clear()
    const results = await Promise.allSettled(stores.map((store) => store.close()))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  #open(): void {
    if (this.#closed) throw new FlagstoneError('STORE_CLOSED', 'the store registry is closed')
  }
}
