/**
 * Any keyv adapter (or `Keyv` instance) as a flagstone store: `createKeyvStore(new KeyvMongo(url))`.
 *
 * What the wrapper makes exact: namespaces (flagstone's key encoding), bytes (base64 in a string,
 * which every adapter can hold) and expiry visibility (the expiry instant travels with the value and
 * is checked on every read, whatever the adapter does with its TTL). What it cannot make exact
 * across processes: keyv has no conditional write, so `increment` and `compareAndSet` reject with
 * `UNSUPPORTED` unless `inProcessAtomics` is set (then they are atomic in this process only, which
 * `capabilities.atomic` says), and renew-on-read rewrites the value. Listing needs the adapter to
 * be a `Map` or to offer `iterator()`.
 */
import type { Keyv, KeyvStoreAdapter } from 'keyv'
import { FlagstoneError } from '../errors.js'
import { createDriverStore, type Driver } from '../stores/index.js'
import type { BaseStoreOptions, Store } from '../stores/index.js'

export interface KeyvStoreOptions extends BaseStoreOptions {
  /**
   * Make `increment` and `compareAndSet` atomic within this process (one operation per key at a
   * time). Only safe when no other process writes the same keys: `capabilities.atomic` is then
   * `'process'` and the flag repository still refuses the store if it is shared.
   * @default false (they reject with `UNSUPPORTED`)
   */
  inProcessAtomics?: boolean
}

type Adapter = Pick<KeyvStoreAdapter, 'get' | 'set' | 'delete'> & { iterator?: KeyvStoreAdapter['iterator'] }

function isKeyv(value: object): value is Keyv {
  return 'store' in value && 'opts' in value && typeof (value as { hooks?: unknown }).hooks === 'object'
}

/** `<expiresAt or empty>:<base64>` */
const encode = (bytes: Buffer, expiresAt: number | null) => `${expiresAt ?? ''}:${bytes.toString('base64')}`

function decode(raw: unknown, now: number): { bytes: Buffer; expiresAt: number | null } | null {
  if (typeof raw !== 'string') return null
  const colon = raw.indexOf(':')
  if (colon < 0) return null
  const expiresAt = colon === 0 ? null : Number(raw.slice(0, colon))
  if (expiresAt !== null && expiresAt <= now) return null
  return { bytes: Buffer.from(raw.slice(colon + 1), 'base64'), expiresAt }
}

export function createKeyvStore(
  keyvOrAdapter: Keyv | KeyvStoreAdapter | Map<unknown, unknown>,
  options: KeyvStoreOptions = {},
): Store {
  if (keyvOrAdapter === null || typeof keyvOrAdapter !== 'object' || typeof (keyvOrAdapter as Adapter).get !== 'function') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'createKeyvStore: pass a Keyv instance, a keyv storage adapter or a Map', {
      details: { field: 'adapter' },
    })
  }
  // A Keyv instance: use its adapter directly, so keyv's serializer and key prefix stay out of the bytes.
  const adapter = (isKeyv(keyvOrAdapter) ? keyvOrAdapter.store : keyvOrAdapter) as Adapter
  const listable = adapter instanceof Map || typeof adapter.iterator === 'function'
  const inProcess = options.inProcessAtomics === true

  const read = async (key: string) => decode(await adapter.get(key), Date.now())
  const write = async (key: string, bytes: Buffer, ttlMs: number | undefined) => {
    const expiresAt = ttlMs === undefined ? null : Date.now() + ttlMs
    await adapter.set(key, encode(bytes, expiresAt), ttlMs)
  }
  /**
   * The raw entries whose key starts with one of `prefixes`, collected before the caller acts on them:
   * deleting while an adapter's iterator pages can skip entries (keyv defect 6). The adapter has no
   * range scan, so every call reads its whole keyspace once (values included: no second read per key).
   */
  async function rawEntries(...prefixes: string[]): Promise<Array<[string, unknown]>> {
    const wanted = (key: unknown): key is string => typeof key === 'string' && prefixes.some((p) => key.startsWith(p))
    if (adapter instanceof Map) return [...adapter.entries()].filter(([key]) => wanted(key)) as Array<[string, unknown]>
    if (typeof adapter.iterator !== 'function') {
      throw new FlagstoneError(
        'UNSUPPORTED',
        'this keyv adapter cannot list keys (it has no iterator()): keys and deleteAll are unavailable',
      )
    }
    const seen: Array<[string, unknown]> = []
    for await (const [key, value] of adapter.iterator(undefined)) if (wanted(key)) seen.push([key, value])
    return seen
  }

  /** One operation per key at a time in this process. */
  const locks = new Map<string, Promise<unknown>>()
  const locked = <T>(key: string, op: () => Promise<T>): Promise<T> => {
    if (!inProcess) {
      return Promise.reject(
        new FlagstoneError(
          'UNSUPPORTED',
          'a keyv adapter has no atomic increment or compare-and-set; pass inProcessAtomics: true to make them atomic in this process only',
        ),
      )
    }
    const previous = locks.get(key) ?? Promise.resolve()
    const next = previous.then(op, op)
    const tail = next.catch(() => undefined)
    locks.set(key, tail)
    void tail.then(() => locks.get(key) === tail && locks.delete(key))
    return next
  }

  const driver: Driver = {
    backend: 'keyv',
    capabilities: {
      shared: !(adapter instanceof Map),
      atomic: inProcess ? 'process' : 'none',
      renewOnRead: 'rewrite',
      listKeys: listable,
    },
    async get(key) {
      return (await read(key))?.bytes ?? null
    },
    async getAndRenew(key, ttlMs) {
      const entry = await read(key)
      if (entry === null) return null
      if (entry.expiresAt !== null) await write(key, entry.bytes, ttlMs)
      return entry.bytes
    },
    set: write,
    async delete(key) {
      await adapter.delete(key)
    },
    async exists(key) {
      return (await read(key)) !== null
    },
    async ttl(key) {
      const entry = await read(key)
      if (entry === null) return null
      return entry.expiresAt === null ? Infinity : Math.max(1, entry.expiresAt - Date.now())
    },
    async deleteSpace(space) {
      for (const [key] of await rawEntries(space.own, space.children)) await adapter.delete(key)
    },
    async deleteExpired(space) {
      let removed = 0
      for (const [key, listed] of await rawEntries(space.own, space.children)) {
        if (typeof listed !== 'string' || decode(listed, Date.now()) !== null) continue
        // read again just before deleting: the entry may have been rewritten since it was listed
        const raw: unknown = await adapter.get(key)
        if (typeof raw === 'string' && decode(raw, Date.now()) === null) {
          await adapter.delete(key)
          removed++
        }
      }
      return removed
    },
    async *scan(prefix) {
      for (const [key, value] of await rawEntries(prefix)) if (decode(value, Date.now()) !== null) yield key
    },
    increment: (key, by, ttlMs, label) =>
      locked(key, async () => {
        const entry = await read(key)
        const text = entry === null ? '0' : entry.bytes.toString('utf8')
        const n = Number(text) + by
        // The canonical decimal form every backend's increment accepts (src/stores/bytes.ts): no "007" or "-0".
        if (!/^(0|-?[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(n)) {
          throw new FlagstoneError(
            'INVALID_ARGUMENT',
            `cannot increment key ${JSON.stringify(label)}: its value is not a decimal integer`,
            {
              details: { field: 'key', key: label },
            },
          )
        }
        const left = entry?.expiresAt == null ? undefined : Math.max(1, entry.expiresAt - Date.now())
        await write(key, Buffer.from(String(n)), entry === null ? ttlMs : left)
        return n
      }),
    compareAndSet: (key, expected, bytes, ttlMs) =>
      locked(key, async () => {
        const entry = await read(key)
        const matches = expected === null ? entry === null : entry !== null && entry.bytes.equals(expected)
        if (matches) await write(key, bytes, ttlMs)
        return matches
      }),
    async close() {
      // the adapter is the caller's: never disconnected here
    },
  }
  return createDriverStore(driver, options)
}
