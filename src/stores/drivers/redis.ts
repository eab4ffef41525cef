/** Redis (and Valkey) store on @keyv/redis's node-redis client: native expiry, Lua for atomic steps. */
import { createHash } from 'node:crypto'
import type { RESP_TYPES, RedisArgument, RedisClientType } from '@redis/client'
import { FlagstoneError } from '../../errors.js'
import { counterError, parseCounter } from '../bytes.js'
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
}

// Scripts run atomically on the server; each touches one key, so they are cluster-safe.
const RENEW = `local v = redis.call('GET', KEYS[1])
if v and redis.call('PTTL', KEYS[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v`
// The result travels back as a decimal string: node-redis's integer replies lose precision near 2^53.
const INCREMENT = `local v = redis.call('GET', KEYS[1])
if v then
  local n = tonumber(v)
  if not (v == '0' or string.match(v, '^%-?[1-9]%d*$')) or not n or math.abs(n + tonumber(ARGV[1])) > 9007199254740991 then
    return redis.error_reply('FLAGSTONE_NOT_INTEGER')
  end
  return string.format('%.0f', redis.call('INCRBY', KEYS[1], ARGV[1]))
end
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return string.format('%.0f', n)`
// The expected value travels as '=' + bytes, so that '' can mean "expect absent" and the empty
// value can still be expected.
const COMPARE_AND_SET = `local v = redis.call('GET', KEYS[1])
if ARGV[3] == '' then
  if v then return 0 end
elseif not v or '=' .. v ~= ARGV[3] then
  return 0
end
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('SET', KEYS[1], ARGV[1]) end
return 1`
const sha1 = (script: string) => createHash('sha1').update(script).digest('hex')
// RESP_TYPES.BLOB_STRING, typed against @redis/client but not imported: importing flagstone must
// not need the Redis driver (an optional peer) when the application uses another backend.
const BLOB_STRING: (typeof RESP_TYPES)['BLOB_STRING'] = 36
const BUFFERS = { typeMapping: { [BLOB_STRING]: Buffer } }
const SCAN_COUNT = '1000'

/** Escapes a literal for a `SCAN MATCH` glob. */
function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&')
}

function redisDriver(client: RedisClientType, owned: boolean): Driver {
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
  const script = async <T>(source: string, key: string, args: RedisArgument[]): Promise<T> => {
    try {
      return await send<T>(['EVALSHA', sha1(source), '1', key, ...args])
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return send<T>(['EVAL', source, '1', key, ...args])
    }
  }
  async function* scanMatch(prefix: string): AsyncIterable<string[]> {
    let cursor = '0'
    do {
      const [next, keys] = await send<[string, string[]]>(
        ['SCAN', cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', SCAN_COUNT],
        false,
      )
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
    get: (key) => send<Buffer | null>(['GET', key]),
    getAndRenew: (key, ttlMs) => script<Buffer | null>(RENEW, key, [String(ttlMs)]),
    async set(key, value, ttlMs) {
      await send(ttlMs === undefined ? ['SET', key, value] : ['SET', key, value, 'PX', String(ttlMs)])
    },
    async delete(key) {
      await send(['DEL', key])
    },
    exists: async (key) => (await send<number>(['EXISTS', key])) === 1,
    async ttl(key) {
      const ms = await send<number>(['PTTL', key])
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
        for (const key of keys) {
          if (!seen.has(key)) {
            seen.add(key)
            yield key
          }
        }
      }
    },
    async increment(key, by, ttlMs, label) {
      try {
        return parseCounter(await script<Buffer>(INCREMENT, key, [String(by), ttlArg(ttlMs)]), label)
      } catch (error) {
        throw error instanceof Error && error.message.includes('FLAGSTONE_NOT_INTEGER') ? counterError(label) : error
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
  return DriverStore.root(redisDriver(adapter.client as RedisClientType, options.client === undefined), base)
}
