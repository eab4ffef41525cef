/** Redis (and Valkey) store on @keyv/redis's node-redis client: native expiry, Lua for atomic steps. */
import type { RedisArgument, RedisClientType } from '@redis/client'
import { FlagstoneError } from '../../errors.js'
import { type Driver, DriverStore, reconnectDelay, resolveBaseOptions } from '../driver.js'
import {
  BUFFERS,
  type RedisCoreOptions,
  type RedisLink,
  redisOperations,
  resolveWait,
  type ScanNode,
  type TypeMapping,
} from './redis-core.js'
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
  /**
   * Replicas that must acknowledge each write (`set`, `delete`, `increment`, `compareAndSet`,
   * `atomic`) before it resolves: a `WAIT` after the write, on its connection. Redis replicates
   * asynchronously, so without it a write the master acknowledged can be lost when a replica
   * takes over; with it, a write no replica acknowledged within `waitTimeout` rejects with
   * `STORE_UNAVAILABLE` (it was applied on the master, and may or may not survive).
   * @default 0
   */
  waitReplicas?: number
  /** How long a write waits for `waitReplicas`, in ms. @default 1000 (or operationTimeout, if smaller) */
  waitTimeout?: number
}

function redisDriver(client: RedisClientType, owned: boolean, core: RedisCoreOptions): Driver {
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
  const send = async <T>(args: RedisArgument[], types?: TypeMapping): Promise<T> => {
    await ready()
    return client.sendCommand<T>(args, types === undefined ? undefined : { typeMapping: types })
  }
  const node: ScanNode = { send: (args) => send(args) }
  const link: RedisLink = {
    send: (_route, args, types) => send(args, types),
    async multi(_route, commands) {
      await ready()
      let multi = client.multi()
      for (const command of commands) multi = multi.addCommand(command)
      return multi.exec()
    },
    nodes: async () => [node],
    unlink: async (keys) => void (await send(['UNLINK', ...keys])),
    readKeys: (keys) => send(['MGET', ...keys], BUFFERS),
  }
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
    ...redisOperations(link, core),
    pubsub: {
      acrossProcesses: true,
      async publish(channel, message) {
        await send(['PUBLISH', channel, message])
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
  const wait = resolveWait(options.waitReplicas, options.waitTimeout, base.operationTimeout)
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
  const core = { hashTags: options.hashTags === true, together: undefined, ...wait }
  return DriverStore.root(redisDriver(adapter.client as RedisClientType, options.client === undefined, core), base)
}
