/** Redis (and Valkey) store on @keyv/redis's node-redis client: native expiry, Lua for atomic steps. */
import type { RESP_TYPES, RedisArgument, RedisClientType } from '@redis/client'
import { FlagstoneError } from '../../errors.js'
import { counterError } from '../bytes.js'
import { ATOMIC, COMPARE_AND_SET, RENEW, sha1 } from './redis-scripts.js'
import { type Driver, DriverStore, reconnectDelay, resolveBaseOptions } from '../driver.js'
import type { KeySpace } from '../keys.js'
import type { BaseStoreOptions, Store } from '../types.js'
import { checkOptions } from '../../internal/objects.js'

/**
 * A node-redis client (`createClient()` of `@redis/client` or `@keyv/redis`), described by the few
 * members the store relies on instead of by `@redis/client`'s type: the published types must not
 * name an optional peer, or a consumer of another backend fails to typecheck (`skipLibCheck: false`).
 */
export interface RedisClientLike {
  readonly isOpen: boolean
  readonly isReady: boolean
  connect(): Promise<unknown>
  duplicate(): unknown
  destroy(): void
  sendCommand(...args: never[]): unknown
  on(event: 'ready', listener: () => void): unknown
}

export interface RedisStoreOptions extends BaseStoreOptions {
  /** `redis://` or `rediss://` URL. @default 'redis://127.0.0.1:6379' */
  url?: string
  /** A connected or unconnected node-redis client the caller owns (never closed by the store). */
  client?: RedisClientLike
  /** How long one connection attempt may take before operations fail with `STORE_UNAVAILABLE`, in ms. @default 5000 */
  connectTimeout?: number
  /**
   * Wrap each namespace path in a hash tag (`{flagstone:flags}/key` instead of `flagstone:flags/key`),
   * so that every key of one namespace, and so every `atomic` and `getMany` over them, lands in
   * one Redis Cluster slot. It changes where keys live: turn it on for new data only.
   * @default false
   */
  hashTags?: boolean
}

// RESP_TYPES.BLOB_STRING, typed against @redis/client but not imported: importing flagstone must
// not need the Redis driver (an optional peer) when the application uses another backend.
const BLOB_STRING: (typeof RESP_TYPES)['BLOB_STRING'] = 36
const BUFFERS = { typeMapping: { [BLOB_STRING]: Buffer } }
// RESP_TYPES.NUMBER: node-redis parses integer replies imprecisely near 2^53, so counters come back as text.
const NUMBER: (typeof RESP_TYPES)['NUMBER'] = 58
const NUMBERS_AS_TEXT = { [NUMBER]: String }
const SCAN_COUNT = '1000'

/** Escapes a literal for a `SCAN MATCH` glob. */
function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&')
}

/** Physical key ↔ Redis key: with hash tags, the namespace path (before the first `/`) goes in braces. */
function keyMapping(hashTags: boolean) {
  if (!hashTags) return { to: (key: string) => key, from: (key: string) => key }
  return {
    // A prefix without '/' (a namespace's children) maps to the start of their tags.
    to: (key: string) => {
      const slash = key.indexOf('/')
      return slash < 0 ? `{${key}` : `{${key.slice(0, slash)}}${key.slice(slash)}`
    },
    from: (key: string) => {
      const close = key.indexOf('}/')
      return close < 0 ? key : key.slice(1, close) + key.slice(close + 1)
    },
  }
}

const NOT_INTEGER = 'FLAGSTONE_NOT_INTEGER'
const CURSOR = /^[0-9]{1,20}$/

function redisDriver(client: RedisClientType, owned: boolean, hashTags: boolean): Driver {
  const { to: t, from } = keyMapping(hashTags)
  let connecting: Promise<unknown> | undefined
  const open = async () => {
    try {
      await client.connect()
    } catch (error) {
      if (client.isOpen) client.destroy() // stop its retries: the next operation starts again
      throw error instanceof FlagstoneError ? new Error(error.message, { cause: error }) : error
    }
  }

  const ready = async (): Promise<void> => {
    if (client.isReady) return
    // Callers arriving while the first connection opens wait for it (isOpen is already true then);
    // while a lost connection is being re-established, commands fail fast (no offline queue).
    if (connecting !== undefined) {
      await connecting
      return
    }
    if (client.isOpen) return
    const attempt = open().finally(() => {
      if (connecting === attempt) connecting = undefined
    })
    connecting = attempt
    await attempt
  }
  const send = async <T>(args: RedisArgument[], buffers = true): Promise<T> => {
    await ready()
    return client.sendCommand<T>(args, buffers ? BUFFERS : undefined)
  }
  const scriptOn = async <T>(source: string, keys: RedisArgument[], args: RedisArgument[]): Promise<T> => {
    const tail = [String(keys.length), ...keys, ...args]
    try {
      return await send<T>(['EVALSHA', sha1(source), ...tail])
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return send<T>(['EVAL', source, ...tail])
    }
  }
  const script = <T>(source: string, key: string, args: RedisArgument[]): Promise<T> => scriptOn<T>(source, [t(key)], args)
  const scanPage = (cursor: string, prefix: string, count: string) =>
    send<[string, string[]]>(['SCAN', cursor, 'MATCH', `${escapeGlob(t(prefix))}*`, 'COUNT', count], false)
  async function* scanMatch(prefix: string): AsyncIterable<string[]> {
    let cursor = '0'
    do {
      const [next, keys] = await scanPage(cursor, prefix, SCAN_COUNT)
      cursor = next
      if (keys.length > 0) yield keys
    } while (cursor !== '0')
  }
  const deletePrefix = async (prefix: string) => {
    // Batched SCAN + UNLINK: never FLUSHDB, never one long server-blocking script.
    for await (const keys of scanMatch(prefix)) await send(['UNLINK', ...keys])
  }
  const ttlArg = (ttlMs: number | undefined) => (ttlMs === undefined ? '' : String(ttlMs))
  // A connection in subscriber mode can do nothing else, so subscriptions get their own, made on
  // first use; node-redis re-subscribes it after every reconnect.
  let subscriber: Promise<RedisClientType> | undefined
  let subscriberConnecting: RedisClientType | undefined
  const subscriberClient = () => {
    subscriber ??= (async () => {
      await ready()
      const sub = client.duplicate()
      sub.on('error', () => undefined)
      subscriberConnecting = sub
      await sub.connect()
      subscriberConnecting = undefined
      return sub
    })().catch((error: unknown) => {
      subscriberConnecting = undefined
      subscriber = undefined
      throw error
    })
    return subscriber
  }

  return {
    backend: 'redis',
    get: (key) => send<Buffer | null>(['GET', t(key)]),
    getAndRenew: (key, ttlMs) => script<Buffer | null>(RENEW, key, [String(ttlMs)]),
    async set(key, value, ttlMs) {
      await send(ttlMs === undefined ? ['SET', t(key), value] : ['SET', t(key), value, 'PX', String(ttlMs)])
    },
    async delete(key) {
      await send(['DEL', t(key)])
    },
    exists: async (key) => (await send<number>(['EXISTS', t(key)])) === 1,
    async ttl(key) {
      const ms = await send<number>(['PTTL', t(key)])
      if (ms === -2) return null
      return ms === -1 ? Infinity : Math.max(1, ms)
    },
    async deleteSpace(space: KeySpace) {
      await deletePrefix(space.own)
      await deletePrefix(space.children)
    },
    // Redis removes expired keys itself; there is never anything left for us to sweep.
    deleteExpired: async () => 0,
    async *scan(prefix) {
      const seen = new Set<string>() // SCAN may return a key twice
      for await (const keys of scanMatch(prefix)) {
        for (const tagged of keys) {
          const key = from(tagged)
          if (!seen.has(key)) {
            seen.add(key)
            yield key
          }
        }
      }
    },
    async increment(key, by, ttlMs, label) {
      // Plain commands, not a script: INCRBY takes exactly the canonical decimal form (Redis's
      // string2ll refuses "007", "-0", "+1"), and a script per call costs 3-4x the throughput.
      const k = t(key)
      let n: number
      try {
        await ready()
        if (ttlMs === undefined) {
          n = Number(await client.sendCommand<string>(['INCRBY', k, String(by)], { typeMapping: NUMBERS_AS_TEXT }))
        } else {
          // SET NX PX creates the counter with the window's expiry, INCRBY counts, in one MULTI:
          // nothing runs (and no key expires) between them, so a window is never left without
          // expiry. The value is read back with GET: EXEC's integer replies lose precision near 2^53.
          const multi = client.multi().addCommand(['SET', k, '0', 'NX', 'PX', String(ttlMs)])
          const replies = await multi
            .addCommand(['INCRBY', k, String(by)])
            .addCommand(['GET', k])
            .exec()
          n = Number(replies[2])
        }
      } catch (error) {
        throw error instanceof Error && /not an integer|out of range|overflow|commands failed/.test(error.message)
          ? counterError(label)
          : error
      }
      if (!Number.isSafeInteger(n)) {
        // Past the safe range: take the step back, so the failed call leaves the value as it was.
        await send(['DECRBY', k, String(by)])
        throw counterError(label)
      }
      return n
    },
    async getMany(keys) {
      return send<Array<Buffer | null>>(['MGET', ...keys.map(t)])
    },
    async entries(prefix, limit, cursor) {
      if (cursor !== null && !CURSOR.test(cursor)) {
        throw new FlagstoneError('INVALID_ARGUMENT', 'cursor is not one a previous page returned', {
          details: { field: 'cursor' },
        })
      }
      const [next, tagged] = await scanPage(cursor ?? '0', prefix, String(limit))
      const values = tagged.length === 0 ? [] : await send<Array<Buffer | null>>(['MGET', ...tagged])
      const entries: Array<[string, Uint8Array]> = []
      tagged.forEach((key, i) => {
        const value = values[i]
        if (value !== null && value !== undefined) entries.push([from(key), value]) // expired since the SCAN
      })
      return { entries, cursor: next === '0' ? null : next }
    },
    async atomic(writes, checks) {
      const keys: RedisArgument[] = [...checks.map((c) => t(c.key)), ...writes.map((w) => t(w.key))]
      const args: RedisArgument[] = [String(checks.length)]
      for (const c of checks) args.push(c.expected === null ? '' : Buffer.concat([Buffer.from('='), c.expected]))
      for (const w of writes) {
        if (w.op === 'set') args.push('s', w.value, ttlArg(w.ttlMs))
        else if (w.op === 'delete') args.push('d', '', '')
        else args.push('i', String(w.by), ttlArg(w.ttlMs))
      }
      try {
        return (await scriptOn<number>(ATOMIC, keys, args)) === 1
      } catch (error) {
        const match = error instanceof Error ? new RegExp(`${NOT_INTEGER} (\\d+)`).exec(error.message) : null
        const write = match === null ? undefined : writes[Number(match[1])]
        throw write?.op === 'increment' ? counterError(write.label) : error
      }
    },
    async compareAndSet(key, expected, value, ttlMs) {
      const want = expected === null ? '' : Buffer.concat([Buffer.from('='), expected])
      return (await script<number>(COMPARE_AND_SET, key, [value, ttlArg(ttlMs), want])) === 1
    },
    pubsub: {
      acrossProcesses: true,
      async publish(channel, message) {
        await send(['PUBLISH', channel, message], false)
      },
      async subscribe(channel, listener) {
        const sub = await subscriberClient()
        await sub.subscribe(channel, listener)
        return async () => {
          if (sub.isOpen) await sub.unsubscribe(channel, listener)
        }
      },
    },
    recycle() {
      if (!owned) return // a caller's client is the caller's to manage: only our operations are bounded
      // Destroying the socket fails every command still waiting on it; the next operation connects
      // afresh. An established subscriber connection is kept: it carries no replies anyone waits for.
      connecting = undefined
      if (client.isOpen) client.destroy()
      if (subscriberConnecting?.isOpen) subscriberConnecting.destroy()
    },
    async close() {
      const sub = await subscriber?.catch(() => undefined)
      if (sub?.isOpen) sub.destroy()
      if (owned && client.isOpen) client.destroy()
    },
  }
}

export async function createRedisStore(options: RedisStoreOptions = {}): Promise<Store> {
  checkOptions(options, 'createRedisStore()')
  const base = resolveBaseOptions(options)
  const connectTimeout = options.connectTimeout ?? 5000
  const { default: KeyvRedis, createClient } = await import('@keyv/redis')
  let everReady = false
  const client =
    (options.client as RedisClientType | undefined) ??
    (createClient({
      url: options.url ?? 'redis://127.0.0.1:6379',
      // Without an offline queue, commands sent while the server is away fail at once instead of
      // waiting for a reconnect that may never come.
      disableOfflineQueue: true,
      socket: {
        connectTimeout,
        // Fail the first connection at once (a wrong URL should not hang); after that, keep
        // reconnecting with capped backoff so the store recovers by itself.
        reconnectStrategy: (retries: number, cause: Error) =>
          everReady
            ? reconnectDelay(retries)
            : new FlagstoneError('STORE_UNAVAILABLE', `cannot connect to Redis: ${cause.message}`, { cause }),
      },
    }) as RedisClientType)
  client.on('ready', () => (everReady = true))
  // No keyv connectionTimeout: its timer is never cleared and holds the process open; the socket's connectTimeout bounds it.
  const adapter = new KeyvRedis(client, { throwOnConnectError: true })
  adapter.on('error', () => undefined) // connection errors surface on the operation that meets them
  return DriverStore.root(
    redisDriver(adapter.client as RedisClientType, options.client === undefined, options.hashTags === true),
    base,
  )
}
