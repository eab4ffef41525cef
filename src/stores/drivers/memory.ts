/** In-process store on a plain `Map` — the embedded default for tests and single-process apps. */
import { EventEmitter } from 'node:events'
import { FlagstoneError } from '../../errors.js'
import { bytesEqual, checkCounterResult, copyBytes, counterBytes, parseCounter } from '../bytes.js'
import { type Driver, DriverStore, resolveBaseOptions } from '../driver.js'
import { expiresAtFor, isExpired, remainingMs } from '../expiry.js'
import type { KeySpace } from '../keys.js'
import type { BaseStoreOptions, Store } from '../types.js'
import { checkOptions } from '../../internal/objects.js'

export interface MemoryStoreOptions extends BaseStoreOptions {
  /**
   * How often expired entries are swept in the background, in ms; `0` turns the sweep off
   * (expired entries stay invisible either way, they just keep their memory until read).
   * @default 60_000
   */
  sweepInterval?: number
  /**
   * Most entries kept; past it the least recently used entry is evicted (counted in
   * `stats().evictions`), so an embedded cache or rate-limit store cannot grow without limit.
   * @default unbounded
   */
  maxEntries?: number
  /**
   * Most bytes kept (each entry counts its value's bytes plus one per key character); past it the
   * least recently used entries are evicted. Also caps `maxValueBytes` when that is not given.
   * @default unbounded
   */
  maxBytes?: number
}

/** What a memory store holds and how many entries its bound evicted. */
export interface MemoryStoreStats {
  entries: number
  /** Value bytes plus one per key character, of every entry (expired ones not yet swept included). */
  bytes: number
  /** Entries removed by `maxEntries` / `maxBytes` (not by expiry or delete) since the store was made. */
  evictions: number
}

interface Entry {
  value: Buffer
  expiresAt: number | null
}

/**
 * The bytes in memory of their own, exactly sized. A small Buffer from `Buffer.from` or
 * `allocUnsafe` is a slice of Node's shared 8 KiB pool, and keeping it keeps the whole slab alive
 * (5.4 KB held per 1.1 KB value was measured before this copy).
 */
function exact(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength) return bytes
  const own = Buffer.allocUnsafeSlow(bytes.byteLength)
  own.set(bytes)
  return own
}

interface Bounds {
  readonly maxEntries: number
  readonly maxBytes: number
}

function memoryDriver(sweepInterval: number, bounds: Bounds, stats: MemoryStoreStats): Driver {
  const map = new Map<string, Entry>()
  const channels = new EventEmitter().setMaxListeners(0)
  const bounded = bounds.maxEntries !== Infinity || bounds.maxBytes !== Infinity
  const cost = (key: string, entry: Entry) => key.length + entry.value.byteLength

  const remove = (key: string): void => {
    const entry = map.get(key)
    if (entry === undefined) return
    map.delete(key)
    stats.bytes -= cost(key, entry)
    stats.entries = map.size
  }
  const put = (key: string, value: Buffer, expiresAt: number | null): void => {
    remove(key) // re-inserting moves the key to the most recently used end
    const entry = { value: exact(value), expiresAt }
    map.set(key, entry)
    stats.bytes += cost(key, entry)
    stats.entries = map.size
    if (bounded) evict(key)
  }
  /** Evicts from the least recently used end (the Map's insertion order) until within bounds; never `keep`. */
  const evict = (keep: string): void => {
    for (const key of map.keys()) {
      if (map.size <= bounds.maxEntries && stats.bytes <= bounds.maxBytes) return
      if (key === keep) continue
      remove(key)
      stats.evictions++
    }
  }
  const live = (key: string, now: number): Entry | undefined => {
    const entry = map.get(key)
    if (entry === undefined) return undefined
    if (isExpired(entry.expiresAt, now)) {
      remove(key)
      return undefined
    }
    if (bounded) {
      // A read makes the key the most recently used one.
      map.delete(key)
      map.set(key, entry)
    }
    return entry
  }

  const sweep = (prefixes: readonly string[]): number => {
    const now = Date.now()
    let removed = 0
    for (const [key, entry] of map) {
      if (isExpired(entry.expiresAt, now) && prefixes.some((p) => key.startsWith(p))) {
        remove(key)
        removed++
      }
    }
    return removed
  }

  // Rate-limit and session keys are often written once and never read again: without a sweep
  // they would hold memory forever.
  const timer = sweepInterval > 0 ? setInterval(() => sweep(['']), sweepInterval) : undefined
  timer?.unref()

  return {
    backend: 'memory',
    capabilities: { shared: false, atomic: 'process' },
    get(key) {
      const entry = live(key, Date.now())
      return entry === undefined ? null : copyBytes(entry.value)
    },
    getAndRenew(key, ttlMs) {
      const now = Date.now()
      const entry = live(key, now)
      if (entry === undefined) return null
      if (entry.expiresAt !== null) entry.expiresAt = now + ttlMs
      return copyBytes(entry.value)
    },
    set(key, value, ttlMs) {
      put(key, value, expiresAtFor(ttlMs, Date.now()))
    },
    delete(key) {
      remove(key)
    },
    exists(key) {
      return live(key, Date.now()) !== undefined
    },
    ttl(key) {
      const now = Date.now()
      const entry = live(key, now)
      return entry === undefined ? null : remainingMs(entry.expiresAt, now)
    },
    async deleteSpace(space: KeySpace) {
      for (const key of map.keys()) {
        if (key.startsWith(space.own) || key.startsWith(space.children)) remove(key)
      }
    },
    async deleteExpired(space: KeySpace) {
      return sweep([space.own, space.children])
    },
    async *scan(prefix) {
      const now = Date.now()
      for (const key of [...map.keys()]) {
        // Not `live()`: listing keys is no use of them, so it leaves the LRU order alone.
        const entry = map.get(key)
        if (key.startsWith(prefix) && entry !== undefined && !isExpired(entry.expiresAt, now)) yield key
      }
    },
    increment(key, by, ttlMs, label) {
      const now = Date.now()
      const entry = live(key, now)
      if (entry === undefined) {
        const n = checkCounterResult(by, label)
        put(key, counterBytes(n), expiresAtFor(ttlMs, now))
        return n
      }
      const n = checkCounterResult(parseCounter(entry.value, label) + by, label)
      put(key, counterBytes(n), entry.expiresAt)
      return n
    },
    compareAndSet(key, expected, value, ttlMs) {
      const now = Date.now()
      const entry = live(key, now)
      const matches = expected === null ? entry === undefined : entry !== undefined && bytesEqual(entry.value, expected)
      if (matches) put(key, value, expiresAtFor(ttlMs, now))
      return matches
    },
    getMany(keys) {
      const now = Date.now()
      return keys.map((key) => {
        const entry = live(key, now)
        return entry === undefined ? null : copyBytes(entry.value)
      })
    },
    entries(prefix, limit, cursor) {
      const now = Date.now()
      const keys: string[] = []
      for (const [key, entry] of map) {
        if (key.startsWith(prefix) && (cursor === null || key > cursor) && !isExpired(entry.expiresAt, now)) keys.push(key)
      }
      keys.sort()
      const page = keys.slice(0, limit)
      return {
        entries: page.map((key): [string, Buffer] => [key, copyBytes((map.get(key) as Entry).value)]),
        cursor: keys.length > limit ? (page[page.length - 1] ?? null) : null,
      }
    },
    atomic(writes, checks) {
      // Synchronous from the first check to the last write: nothing else runs in between.
      const now = Date.now()
      for (const check of checks) {
        const entry = live(check.key, now)
        const holds =
          check.expected === null ? entry === undefined : entry !== undefined && bytesEqual(entry.value, check.expected)
        if (!holds) return false
      }
      // Every new counter value first, so that one that fails applies nothing.
      const counters = writes.map((w) => {
        if (w.op !== 'increment') return undefined
        const entry = live(w.key, now)
        if (entry === undefined) return { n: checkCounterResult(w.by, w.label), expiresAt: expiresAtFor(w.ttlMs, now) }
        return { n: checkCounterResult(parseCounter(entry.value, w.label) + w.by, w.label), expiresAt: entry.expiresAt }
      })
      writes.forEach((w, i) => {
        if (w.op === 'set') put(w.key, w.value, expiresAtFor(w.ttlMs, now))
        else if (w.op === 'delete') remove(w.key)
        else {
          const counter = counters[i] as { n: number; expiresAt: number | null }
          put(w.key, counterBytes(counter.n), counter.expiresAt)
        }
      })
      return true
    },
    pubsub: {
      acrossProcesses: false,
      async publish(channel, message) {
        // Delivered on a later tick, as a networked backend would.
        setImmediate(() => channels.emit(channel, message))
      },
      async subscribe(channel, listener) {
        channels.on(channel, listener)
        return async () => void channels.off(channel, listener)
      },
    },
    async close() {
      if (timer !== undefined) clearInterval(timer)
      map.clear()
      stats.bytes = 0
      stats.entries = 0
      channels.removeAllListeners()
    },
  }
}

function checkCount(value: unknown, field: string, min: number): number {
  if (value === undefined) return Infinity
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new FlagstoneError('INVALID_ARGUMENT', `${field} must be an integer >= ${min}, got ${String(value)}`, {
      details: { field },
    })
  }
  return value
}

/** A memory store. Each instance has its own map; `withNamespace` views share it. */
export class MemoryStore extends DriverStore {
  readonly #stats: MemoryStoreStats

  constructor(options: MemoryStoreOptions = {}) {
    checkOptions(options, 'MemoryStore')
    const sweepInterval = checkCount(options.sweepInterval ?? 60_000, 'sweepInterval', 0)
    const bounds = {
      maxEntries: checkCount(options.maxEntries, 'maxEntries', 1),
      maxBytes: checkCount(options.maxBytes, 'maxBytes', 1),
    }
    const base = resolveBaseOptions(
      options.maxValueBytes === undefined && bounds.maxBytes !== Infinity
        ? { ...options, maxValueBytes: bounds.maxBytes }
        : options,
    )
    const stats: MemoryStoreStats = { entries: 0, bytes: 0, evictions: 0 }
    const driver = memoryDriver(sweepInterval, bounds, stats)
    super(DriverStore.shared(driver, base), base.root, true)
    this.#stats = stats
  }

  /** Entries, bytes and evictions of the whole store (every namespace view of it). */
  stats(): MemoryStoreStats {
    return { ...this.#stats }
  }
}

export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  return new MemoryStore(options)
}
