/**
 * flagstone as a keyv store: `new Keyv({ store: keyvAdapter(store) })` gives keyv, cache-manager and
 * cacheable users flagstone's namespaces, sweeping and exact bytes on any backend.
 *
 * Each keyv namespace is a flagstone child namespace (so `clear()` is one range delete of exactly
 * that namespace, never a `LIKE`), found from the key keyv passes (`ns:key`) rather than from the
 * adapter's `namespace` property, which every `Keyv` bound to the adapter overwrites (keyv #1495).
 * Values keyv serialized (strings) are stored as their UTF-8 bytes; with `serialize: undefined`
 * keyv hands over `{ value, expires }` itself, stored in a binary envelope so a `Uint8Array` comes
 * back as bytes. A UTF-8 string never starts with byte 0xFF, so the two cannot be confused.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { KeyvStoreAdapter, StoredData } from 'keyv'
import superjson from 'superjson'
import { FlagstoneError } from '../errors.js'
import type { Store } from '../stores/index.js'
import { checkOptions } from '../internal/objects.js'

export interface KeyvAdapterOptions {
  /** Whether `keyv.disconnect()` closes the store. @default false (the store stays the caller's) */
  closeOnDisconnect?: boolean
}

const ENVELOPE = 0xff
const BYTES = 1
const OTHER = 2
const NAME = /^[A-Za-z0-9_.-]{1,61}$/

/** The flagstone namespace that holds one keyv namespace; the three shapes never collide. */
function childName(namespace: string | undefined): string {
  if (namespace === undefined || namespace === '') return 'kv'
  return NAME.test(namespace) ? `kv-${namespace}` : `kh-${createHash('sha256').update(namespace).digest('hex').slice(0, 40)}`
}

function encode(value: unknown): Uint8Array | string {
  if (typeof value === 'string') return value
  const { value: inner, expires } = (value ?? {}) as { value?: unknown; expires?: unknown }
  const head = Buffer.alloc(10)
  head[0] = ENVELOPE
  head.writeDoubleBE(typeof expires === 'number' ? expires : Number.NaN, 2)
  if (inner instanceof Uint8Array) {
    head[1] = BYTES
    return Buffer.concat([head, inner])
  }
  head[1] = OTHER
  return Buffer.concat([head, Buffer.from(superjson.stringify(inner), 'utf8')])
}

function decode(bytes: Uint8Array): unknown {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buffer[0] !== ENVELOPE) return buffer.toString('utf8')
  const expires = buffer.readDoubleBE(2)
  const body = buffer.subarray(10)
  const value = buffer[1] === BYTES ? Buffer.from(body) : superjson.parse(body.toString('utf8'))
  return Number.isNaN(expires) ? { value } : { value, expires }
}

class FlagstoneKeyvAdapter extends EventEmitter implements KeyvStoreAdapter {
  /** keyv reads `opts.dialect` / `opts.url` to decide whether to offer `iterator()`. */
  opts: { dialect: string; url: string }
  readonly #store: Store
  readonly #closeOnDisconnect: boolean
  /**
   * Every namespace a `Keyv` bound to this adapter, longest first (for matching key prefixes), with
   * its `ns:` prefix and its store made once: this runs on every call, and building the prefix
   * and looking up the child each time cost more than the memory store's own work.
   */
  #bound: Array<{ readonly namespace: string; readonly prefix: string; readonly store: Store }> = []
  #namespace: string | undefined
  /** The store of `#namespace` (for keys with no bound namespace's prefix). */
  #current: Store
  readonly #children = new Map<string, Store>()

  constructor(store: Store, options: KeyvAdapterOptions) {
    super()
    this.#store = store
    this.#closeOnDisconnect = options.closeOnDisconnect ?? false
    const backend = store.capabilities.backend
    this.opts = { dialect: backend, url: `flagstone+${backend}:` }
    this.#current = this.#child(undefined)
  }

  get namespace(): string | undefined {
    return this.#namespace
  }

  set namespace(namespace: string | undefined) {
    this.#namespace = namespace
    this.#current = this.#child(namespace)
    if (namespace !== undefined && namespace !== '' && !this.#bound.some((b) => b.namespace === namespace)) {
      const bound = { namespace, prefix: `${namespace}:`, store: this.#current }
      this.#bound = [...this.#bound, bound].sort((a, b) => b.namespace.length - a.namespace.length)
    }
  }

  #child(namespace: string | undefined): Store {
    const name = childName(namespace)
    let child = this.#children.get(name)
    if (child === undefined) {
      child = this.#store.withNamespace(name)
      this.#children.set(name, child)
    }
    return child
  }

  /** The namespace store and flagstone key for a key keyv passes (`ns:key` while keyv prefixes keys). */
  #locate(key: string): [Store, string] {
    for (const { prefix, store } of this.#bound) {
      if (key.length > prefix.length && key.startsWith(prefix)) return [store, key.slice(prefix.length)]
    }
    return [this.#current, key]
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const [store, k] = this.#locate(key)
    const bytes = await store.get(k)
    return bytes === null ? undefined : (decode(bytes) as StoredData<Value>)
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    const [store, k] = this.#locate(key)
    await store.set(k, encode(value), typeof ttl === 'number' && ttl > 0 ? { expiresIn: ttl } : undefined)
    return true
  }

  async delete(key: string): Promise<boolean> {
    const [store, k] = this.#locate(key)
    const existed = await store.exists(k)
    await store.delete(k)
    return existed
  }

  async has(key: string): Promise<boolean> {
    const [store, k] = this.#locate(key)
    return store.exists(k)
  }

  /**
   * Clears the namespace of the one `Keyv` bound to this adapter. keyv calls `clear()` with no
   * argument, so when Keyv instances of several namespaces share the adapter it cannot know whose
   * namespace is meant; rather than clear the wrong one it refuses.
   */
  async clear(): Promise<void> {
    if (this.#bound.length > 1 && this.listenerCount('error') > 1) {
      const names = this.#bound.map((b) => JSON.stringify(b.namespace)).join(', ')
      throw new FlagstoneError(
        'UNSUPPORTED',
        `clear(): this keyv adapter is shared by Keyv instances of namespaces ${names} ` +
          'and keyv does not say which one calls; give each Keyv its own keyvAdapter(store) (they share the store and its connection)',
      )
    }
    await this.#current.deleteAll()
  }

  async *iterator<Value>(namespace?: string): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    const store = this.#child(namespace)
    const prefix = namespace === undefined || namespace === '' ? '' : `${namespace}:`
    for await (const key of store.keys()) {
      const bytes = await store.get(key)
      if (bytes !== null) yield [prefix + key, decode(bytes) as Awaited<Value>]
    }
  }

  async disconnect(): Promise<void> {
    if (this.#closeOnDisconnect) await this.#store.close()
  }
}

/** A keyv storage adapter on a flagstone store (any backend). */
export function keyvAdapter(store: Store, options: KeyvAdapterOptions = {}): KeyvStoreAdapter {
  checkOptions(options, 'keyvAdapter()')
  if (store === null || typeof store !== 'object' || typeof store.withNamespace !== 'function') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'keyvAdapter(store): store must be a flagstone Store', {
      details: { field: 'store' },
    })
  }
  return new FlagstoneKeyvAdapter(store, options)
}
