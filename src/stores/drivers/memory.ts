/** In-process store on a plain `Map` — the embedded default for tests and single-process apps. */
import { constants } from 'node:buffer'
import { EventEmitter } from 'node:events'
import { FlagstoneError } from '../../errors.js'
import { checkCounterResult, parseCounterText } from '../bytes.js'
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
  /** The value's bytes as a one-byte (latin1) string: char i is byte i, so every byte 0–255 round-trips. */
  value: string
  expiresAt: number | null
}

/**
 * Node's own latin1 decoder, without `toString`'s argument handling (measured: the whole `set` of
 * a 64-byte value at 65k entries went from 2.4–4.5 µs with an exactly-sized `allocUnsafeSlow`
 * copy to 0.9–1.2 µs with this).
 */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string })
  .latin1Slice

/**
 * The bytes held as a string of their own, exactly sized. A small Buffer from `Buffer.from` or
 * `allocUnsafe` is a slice of Node's shared 8 KiB pool, and keeping it keeps the whole slab alive
 * (5.4 KB held per 1.1 KB value was measured before values were copied); an ArrayBuffer of its own
 * per value (`allocUnsafeSlow`) is exact but slow to allocate and free. A one-byte string is on the
 * V8 heap, one byte per byte plus a 16-byte header (values of 1 MB and more become external
 * strings, still exactly sized), and copying it into a fresh Buffer on every read is what `get`
 * did anyway (callers must not be able to change what is stored).
 */
const hold = (bytes: Uint8Array): string => latin1Slice.call(bytes, 0, bytes.byteLength)
const release = (value: string): Buffer => Buffer.from(value, 'latin1')
/** Whether the held value is exactly `bytes`. */
const isHeld = (value: string, bytes: Uint8Array): boolean => value.length === bytes.byteLength && value === hold(bytes)
/** Counters are ASCII digits, so the held string is their text and needs no decoding. */
const counterText = (n: number): string => String(n)

interface Bounds {
  readonly maxEntries: number
  readonly maxBytes: number
}

function memoryDriver(sweepInterval: number, bounds: Bounds, stats: MemoryStoreStats): Driver {
  const map = new Map<string, Entry>()
  const channels = new EventEmitter().setMaxListeners(0)
  const bounded = bounds.maxEntries !== Infinity || bounds.maxBytes !== Infinity
  const cost = (key: string, entry: Entry) => key.length + entry.value.length

  const remove = (key: string): void => {
    const entry = map.get(key)
    if (entry === undefined) return
    map.delete(key)
    stats.bytes -= cost(key, entry)
    stats.entries = map.size
  }
  const put = (key: string, value: string, expiresAt: number | null): void => {
    const old = map.get(key)
    if (old !== undefined && !bounded) {
      // Unbounded, the order does not matter: overwrite in place (a Map delete leaves a hole that
      // later costs a rehash, and a new entry is one more allocation).
      stats.bytes += value.length - old.value.length
      old.value = value
      old.expiresAt = expiresAt
      return
    }
    if (old !== undefined) remove(key) // re-inserting moves the key to the most recently used end
    const entry = { value, expiresAt }
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
    // `hold` copies every value into a string before `set` / `compareAndSet` return.
    copiesValues: true,
    get(key) {
      const entry = live(key, Date.now())
      return entry === undefined ? null : release(entry.value)
    },
    getAndRenew(key, ttlMs) {
      const now = Date.now()
      const entry = live(key, now)
      if (entry === undefined) return null
      if (entry.expiresAt !== null) entry.expiresAt = now + ttlMs
      return release(entry.value)
    },
    set(key, value, ttlMs) {
      put(key, hold(value), expiresAtFor(ttlMs, Date.now()))
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
        put(key, counterText(n), expiresAtFor(ttlMs, now))
        return n
      }
      const n = checkCounterResult(parseCounterText(entry.value, label) + by, label)
      put(key, counterText(n), entry.expiresAt)
      return n
    },
    compareAndSet(key, expected, value, ttlMs) {
      const now = Date.now()
      const entry = live(key, now)
      const matches = expected === null ? entry === undefined : entry !== undefined && isHeld(entry.value, expected)
      if (matches) put(key, hold(value), expiresAtFor(ttlMs, now))
      return matches
    },
    getMany(keys) {
      const now = Date.now()
      return keys.map((key) => {
        const entry = live(key, now)
        return entry === undefined ? null : release(entry.value)
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
        entries: page.map((key): [string, Buffer] => [key, release((map.get(key) as Entry).value)]),
        cursor: keys.length > limit ? (page[page.length - 1] ?? null) : null,
      }
    },
    atomic(writes, checks) {
      // Synchronous from the first check to the last write: nothing else runs in between.
      const now = Date.now()
      for (const check of checks) {
        const entry = live(check.key, now)
        const holds = check.expected === null ? entry === undefined : entry !== undefined && isHeld(entry.value, check.expected)
        if (!holds) return false
      }
      // Every new counter value first, so that one that fails applies nothing.
      const counters = writes.map((w) => {
        if (w.op !== 'increment') return undefined
        const entry = live(w.key, now)
        if (entry === undefined) return { n: checkCounterResult(w.by, w.label), expiresAt: expiresAtFor(w.ttlMs, now) }
        return { n: checkCounterResult(parseCounterText(entry.value, w.label) + w.by, w.label), expiresAt: entry.expiresAt }
      })
      writes.forEach((w, i) => {
        if (w.op === 'set') put(w.key, hold(w.value), expiresAtFor(w.ttlMs, now))
        else if (w.op === 'delete') remove(w.key)
        else {
          const counter = counters[i] as { n: number; expiresAt: number | null }
          put(w.key, counterText(counter.n), counter.expiresAt)
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
    if (base.maxValueBytes > constants.MAX_STRING_LENGTH) {
      // Values are held as strings (see `hold`), and V8 has no longer ones.
      throw new FlagstoneError(
        'INVALID_ARGUMENT',
        `maxValueBytes of a memory store can be at most ${constants.MAX_STRING_LENGTH}, got ${base.maxValueBytes}`,
        { details: { field: 'maxValueBytes' } },
      )
    }
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
