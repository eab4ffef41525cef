/** In-process store on a plain `Map` — the embedded default for tests and single-process apps. */
import { EventEmitter } from 'node:events'
import { FlagstoneError } from '../../errors.js'
import { bytesEqual, checkCounterResult, copyBytes, counterBytes, parseCounter } from '../bytes.js'
import { type Driver, DriverStore, resolveBaseOptions } from '../driver.js'
import { expiresAtFor, isExpired, remainingMs } from '../expiry.js'
import type { KeySpace } from '../keys.js'
import type { BaseStoreOptions, Store } from '../types.js'

export interface MemoryStoreOptions extends BaseStoreOptions {
  /**
   * How often expired entries are swept in the background, in ms; `0` turns the sweep off
   * (expired entries stay invisible either way, they just keep their memory until read).
   * @default 60_000
   */
  sweepInterval?: number
}

interface Entry {
  value: Buffer
  expiresAt: number | null
}

function memoryDriver(sweepInterval: number): Driver {
  const map = new Map<string, Entry>()
  const channels = new EventEmitter().setMaxListeners(0)

  const live = (key: string, now: number): Entry | undefined => {
    const entry = map.get(key)
    if (entry === undefined) return undefined
    if (isExpired(entry.expiresAt, now)) {
      map.delete(key)
      return undefined
    }
    return entry
  }

  const sweep = (prefixes: readonly string[]): number => {
    const now = Date.now()
    let removed = 0
    for (const [key, entry] of map) {
      if (isExpired(entry.expiresAt, now) && prefixes.some((p) => key.startsWith(p))) {
        map.delete(key)
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
      map.set(key, { value, expiresAt: expiresAtFor(ttlMs, Date.now()) })
    },
    delete(key) {
      map.delete(key)
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
        if (key.startsWith(space.own) || key.startsWith(space.children)) map.delete(key)
      }
    },
    async deleteExpired(space: KeySpace) {
      return sweep([space.own, space.children])
    },
    async *scan(prefix) {
      const now = Date.now()
      for (const key of [...map.keys()]) {
        if (key.startsWith(prefix) && live(key, now) !== undefined) yield key
      }
    },
    increment(key, by, ttlMs, label) {
      const now = Date.now()
      const entry = live(key, now)
      if (entry === undefined) {
        const n = checkCounterResult(by, label)
        map.set(key, { value: counterBytes(n), expiresAt: expiresAtFor(ttlMs, now) })
        return n
      }
      const n = checkCounterResult(parseCounter(entry.value, label) + by, label)
      entry.value = counterBytes(n)
      return n
    },
    compareAndSet(key, expected, value, ttlMs) {
      const now = Date.now()
      const entry = live(key, now)
      const matches = expected === null ? entry === undefined : entry !== undefined && bytesEqual(entry.value, expected)
      if (matches) map.set(key, { value, expiresAt: expiresAtFor(ttlMs, now) })
      return matches
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
      channels.removeAllListeners()
    },
  }
}

/** A memory store. Each instance has its own map; `withNamespace` views share it. */
export class MemoryStore extends DriverStore {
  constructor(options: MemoryStoreOptions = {}) {
    const base = resolveBaseOptions(options)
    const sweepInterval = options.sweepInterval ?? 60_000
    if (!Number.isSafeInteger(sweepInterval) || sweepInterval < 0) {
      throw new FlagstoneError('INVALID_ARGUMENT', `sweepInterval must be an integer >= 0, got ${String(sweepInterval)}`, {
        details: { field: 'sweepInterval' },
      })
    }
    super(DriverStore.shared(memoryDriver(sweepInterval), base), base.root, true)
  }
}

export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  return new MemoryStore(options)
}
