/**
 * Redis Cluster store on @keyv/redis's node-redis cluster client: the key-level operations of
 * redis-core.ts (shared with the one-node backend), routed by key; listings and deletes SCAN every
 * master. Ordinary namespaces spread over every slot; a namespace kept together (the flag
 * repository's) or every namespace with `hashTags` lives in one slot, where `atomic` works.
 */
import type { RedisClusterType } from '@redis/client'
import { FlagstoneError } from '../../errors.js'
import { checkOptions } from '../../internal/objects.js'
import { type Driver, DriverStore, reconnectDelay, resolveBaseOptions } from '../driver.js'
import type { BaseStoreOptions, MessageListener, Store } from '../types.js'
import { BUFFERS, type RedisCoreOptions, type RedisLink, redisOperations, resolveWait, type ScanNode } from './redis-core.js'

export interface RedisClusterStoreOptions extends BaseStoreOptions {
  /**
   * `redis+cluster://[user:password@]host:port,host:port,…` (`rediss+cluster://` for TLS): the
   * nodes to discover the cluster from (one reachable node is enough; name several). Query
   * parameters `hashTags`, `waitReplicas`, `waitTimeout`, `pubsub` set the options of the same
   * name, so that every process opening the URL agrees; an option given here wins.
   */
  url: string
  /** How long one connection attempt may take, in ms. @default 5000 */
  connectTimeout?: number
  /**
   * Every namespace in one slot (as `hashTags` of the Redis backend): `atomic` then works in every
   * namespace, but a namespace no longer spreads over the masters. Without it only namespaces kept
   * together (the flag repository's) are one slot.
   * @default false
   */
  hashTags?: boolean
  /** Replicas that must acknowledge each write (`WAIT`); see `RedisStoreOptions.waitReplicas`. @default 0 */
  waitReplicas?: number
  /** @default 1000 (or operationTimeout, if smaller) */
  waitTimeout?: number
  /**
   * `'sharded'`: SSUBSCRIBE / SPUBLISH (Redis 7), a message travels only within the channel's
   * shard. `'classic'`: SUBSCRIBE / PUBLISH, every message is broadcast to every node.
   * @default 'sharded'
   */
  pubsub?: 'sharded' | 'classic'
}

const URL_SHAPE = /^(rediss?)\+cluster:\/\/(?:([^@/?]*)@)?([^/?]+)\/?(?:\?(.*))?$/i

function invalid(message: string, field = 'url'): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', message, { details: { field } })
}

/** Seed node URLs and the query's options of a `redis+cluster://` URL. */
export function parseClusterUrl(url: string): { nodes: string[]; query: URLSearchParams } {
  const match = URL_SHAPE.exec(url)
  if (match === null) throw invalid(`invalid Redis Cluster URL ${JSON.stringify(url)}: use redis+cluster://host:port,host:port`)
  const [, scheme, auth, hosts, query] = match as unknown as [string, string, string | undefined, string, string | undefined]
  const nodes = hosts.split(',').map((host) => {
    if (!/^(\[[0-9a-f:.]+\]|[^:[\]]+):[0-9]{1,5}$/i.test(host))
      throw invalid(`invalid node ${JSON.stringify(host)} in the Redis Cluster URL: use host:port`)
    return `${scheme.toLowerCase()}://${auth === undefined ? '' : `${auth}@`}${host}`
  })
  return { nodes, query: new URLSearchParams(query ?? '') }
}

function queryOptions(query: URLSearchParams): Partial<RedisClusterStoreOptions> {
  const out: Partial<RedisClusterStoreOptions> = {}
  for (const [name, value] of query) {
    if (name === 'hashTags' && (value === 'true' || value === 'false')) out.hashTags = value === 'true'
    else if ((name === 'waitReplicas' || name === 'waitTimeout') && /^[0-9]{1,9}$/.test(value)) out[name] = Number(value)
    else if (name === 'pubsub' && (value === 'sharded' || value === 'classic')) out.pubsub = value
    else throw invalid(`unknown or invalid Redis Cluster URL parameter ${name}=${JSON.stringify(value)}`)
  }
  return out
}

type Cluster = RedisClusterType
type NodeClient = Awaited<ReturnType<Cluster['nodeClient']>>

/** Keys that all carry the same hash tag `{…}` share a slot: one MGET / UNLINK serves them. */
function oneTag(keys: readonly string[]): boolean {
  const first = keys[0]
  if (first === undefined || first.charCodeAt(0) !== 123) return false
  const tag = first.slice(0, first.indexOf('}') + 1)
  return tag.length > 2 && keys.every((k) => k.startsWith(tag))
}

function clusterDriver(make: () => Cluster, core: RedisCoreOptions, pubsubMode: 'sharded' | 'classic'): Driver {
  let cluster: Cluster | undefined
  let connecting: Promise<Cluster> | undefined

  /**
   * node-redis refreshes the slot map only on MOVED / ASK. A master that dies answers neither, so
   * its slots would stay pointed at it after its replica took over: every node error (each failed
   * reconnect attempt too) asks for a refresh, at most one per 250 ms, started from a live node.
   */
  let lastRefresh = 0
  const refresh = (target: Cluster, after?: () => void) => {
    const now = Date.now()
    if (now - lastRefresh < 250) return
    lastRefresh = now
    const start = target.masters.map((m) => m.client).find((c) => c?.isReady === true) ?? target.masters[0]?.client
    if (start === undefined) return
    target._slots.rediscover(start as NodeClient).then(after, () => undefined)
  }
  const watch = (target: Cluster, after?: () => void) => {
    target.on('error', () => undefined) // a failed discovery: the operation that meets it reports it
    target.on('node-error', () => refresh(target, after))
    return target
  }

  const ready = (): Promise<Cluster> => {
    if (cluster !== undefined) return Promise.resolve(cluster)
    connecting ??= (async () => {
      const fresh = watch(make())
      try {
        await fresh.connect()
      } catch (error) {
        fresh.destroy()
        throw error instanceof FlagstoneError ? new Error(error.message, { cause: error }) : error
      } finally {
        connecting = undefined
      }
      cluster = fresh
      return fresh
    })()
    return connecting
  }
  const link: RedisLink = {
    send: async (route, args, types) =>
      (await ready()).sendCommand(route, false, args, types === undefined ? undefined : { typeMapping: types }),
    async multi(route, commands) {
      let multi = (await ready()).multi(route)
      for (const command of commands) multi = multi.addCommand(route, false, command)
      return multi.exec()
    },
    async nodes() {
      const target = await ready()
      const masters = [...target.masters].sort((a, b) => a.address.localeCompare(b.address))
      return masters.map((master): ScanNode => ({ send: async (args) => (await target.nodeClient(master)).sendCommand(args) }))
    },
    async unlink(keys) {
      if (oneTag(keys)) await link.send(keys[0], ['UNLINK', ...keys])
      else await Promise.all(keys.map((key) => link.send(key, ['UNLINK', key])))
    },
    async readKeys(keys) {
      // Keys of one tag: one MGET. Others span slots: one GET each, which node-redis pipelines per node.
      if (oneTag(keys)) return link.send<Array<Buffer | null>>(keys[0], ['MGET', ...keys], BUFFERS)
      return Promise.all(keys.map((key) => link.send<Buffer | null>(key, ['GET', key], BUFFERS)))
    },
  }

  // Subscriptions get their own cluster client (never recycled), made on first use. node-redis moves
  // classic subscriptions when their node leaves the slot map, but drops sharded ones of a master
  // that died: after every refresh and every node that becomes ready, each is subscribed again
  // (idempotent: a channel already subscribed on the right node only keeps its listener).
  const subscriptions = new Map<string, Set<MessageListener>>()
  let subscriber: Promise<Cluster> | undefined
  const resubscribe = () => {
    void subscriber?.then((sub) => {
      for (const [channel, listeners] of subscriptions) {
        for (const listener of listeners) sub.sSubscribe(channel, listener).catch(() => undefined)
      }
    })
  }
  const subscriberClient = async (): Promise<Cluster> => {
    await ready()
    subscriber ??= (async () => {
      const sub = watch(make(), pubsubMode === 'sharded' ? resubscribe : undefined)
      if (pubsubMode === 'sharded') sub.on('node-ready', resubscribe)
      await sub.connect()
      return sub
    })().catch((error: unknown) => {
      subscriber = undefined
      throw error
    })
    return subscriber
  }

  const hashTags = core.hashTags
  return {
    backend: 'redis-cluster',
    ...redisOperations(link, core),
    capabilities: { atomicWrites: hashTags },
    whyNoAtomic: hashTags
      ? undefined
      : ': on Redis Cluster the keys of a namespace spread over the hash slots and one script reaches one slot' +
        ' (the flag repository keeps its namespace in one slot by itself; hashTags: true keeps every namespace in one)',
    keepTogether: hashTags
      ? undefined
      : (space) => {
          core.together?.add(space.own.slice(0, -1))
        },
    pubsub: {
      acrossProcesses: true,
      async publish(channel, message) {
        const command = pubsubMode === 'sharded' ? 'SPUBLISH' : 'PUBLISH'
        await link.send(channel, [command, channel, message], undefined)
      },
      async subscribe(channel, listener) {
        const sub = await subscriberClient()
        if (pubsubMode === 'classic') {
          await sub.subscribe(channel, listener)
          return async () => void (await sub.unsubscribe(channel, listener as never))
        }
        const listeners = subscriptions.get(channel) ?? new Set()
        subscriptions.set(channel, listeners.add(listener))
        await sub.sSubscribe(channel, listener)
        return async () => {
          listeners.delete(listener)
          if (listeners.size === 0) subscriptions.delete(channel)
          await sub.sUnsubscribe(channel, listener)
        }
      },
    },
    recycle() {
      // After a missed operationTimeout (a frozen node): drop the command client, failing what waits
      // on it; the next operation discovers the cluster afresh. Subscriptions keep their client.
      const old = cluster
      cluster = undefined
      old?.destroy()
    },
    async close() {
      const sub = await subscriber?.catch(() => undefined)
      sub?.destroy()
      const old = cluster ?? (await connecting?.catch(() => undefined))
      cluster = undefined
      old?.destroy()
    },
  }
}

export async function createRedisClusterStore(options: RedisClusterStoreOptions): Promise<Store> {
  checkOptions(options, 'createRedisClusterStore()')
  if (typeof options.url !== 'string') throw invalid('url: a redis+cluster:// URL is required')
  const { nodes, query } = parseClusterUrl(options.url)
  const merged = { ...queryOptions(query), ...options }
  const base = resolveBaseOptions(merged)
  const wait = resolveWait(merged.waitReplicas, merged.waitTimeout, base.operationTimeout)
  const pubsub = merged.pubsub ?? 'sharded'
  if (pubsub !== 'sharded' && pubsub !== 'classic') throw invalid(`pubsub must be 'sharded' or 'classic'`, 'pubsub')
  const connectTimeout = merged.connectTimeout ?? 5000
  const { createCluster } = await import('@keyv/redis')
  const make = (): Cluster => {
    let everReady = false
    const cluster = createCluster({
      rootNodes: nodes.map((url) => ({ url })),
      defaults: {
        // Without an offline queue, a command for a node that is down fails at once (STORE_UNAVAILABLE)
        // instead of waiting for a reconnect that may never come: its replica is promoted instead.
        disableOfflineQueue: true,
        socket: {
          connectTimeout,
          // Fail the first connection at once (a wrong URL should not hang); after that, reconnect
          // with capped backoff until a refresh of the slot map drops a node that is gone.
          reconnectStrategy: (retries: number, cause: Error) =>
            everReady
              ? reconnectDelay(retries)
              : new FlagstoneError('STORE_UNAVAILABLE', `cannot connect to Redis Cluster: ${cause.message}`, { cause }),
        },
      },
    }) as unknown as Cluster
    cluster.once('connect', () => (everReady = true))
    return cluster
  }
  const core: RedisCoreOptions = { hashTags: merged.hashTags === true, together: new Set(), ...wait }
  return DriverStore.root(clusterDriver(make, core, pubsub), base)
}
