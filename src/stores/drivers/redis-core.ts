/**
 * What the Redis backends (one node: redis.ts, a cluster: redis-cluster.ts) share: key encoding
 * (hash tags), the key-level operations built on plain commands and the scripts of
 * redis-scripts.ts, listing by SCAN on every node that holds data, and the optional wait for
 * replica acknowledgement. Each backend file provides only how commands reach the server (a
 * `RedisLink`), push, connection recycling and its factory.
 */
import type { RedisArgument, RESP_TYPES } from '@redis/client'
import { FlagstoneError } from '../../errors.js'
import { counterError } from '../bytes.js'
import type { Driver, DriverEntriesPage } from '../driver-contract.js'
import type { KeySpace } from '../keys.js'
import { ATOMIC, COMPARE_AND_SET, RENEW, sha1 } from './redis-scripts.js'

// RESP_TYPES.BLOB_STRING, typed against @redis/client but not imported: importing flagstone must
// not need the Redis driver (an optional peer) when the application uses another backend.
const BLOB_STRING: (typeof RESP_TYPES)['BLOB_STRING'] = 36
export const BUFFERS = { [BLOB_STRING]: Buffer }
// RESP_TYPES.NUMBER: node-redis parses integer replies imprecisely near 2^53, so counters come back as text.
const NUMBER: (typeof RESP_TYPES)['NUMBER'] = 58
const NUMBERS_AS_TEXT = { [NUMBER]: String }
const SCAN_COUNT = '1000'
const NOT_INTEGER = 'FLAGSTONE_NOT_INTEGER'

export type TypeMapping = typeof BUFFERS | typeof NUMBERS_AS_TEXT | undefined

/** One node's SCAN (and the commands a listing sends to that node). */
export interface ScanNode {
  send<T>(args: RedisArgument[]): Promise<T>
}

/** How commands reach the server: one connection, or a cluster client routing on the key. */
export interface RedisLink {
  /** One command about the key `route` (a cluster routes on it; one node ignores it), with reply `types` (e.g. BUFFERS). */
  send<T>(route: RedisArgument | undefined, args: RedisArgument[], types?: TypeMapping): Promise<T>
  /** Commands on one key, in one MULTI / EXEC. */
  multi(route: RedisArgument, commands: RedisArgument[][]): Promise<unknown[]>
  /** The nodes that hold data: one, or every master of a cluster (in a stable order). */
  nodes(): Promise<ScanNode[]>
  /** Deletes keys a SCAN page returned (one UNLINK on one node; per key on a cluster, where they span slots). */
  unlink(keys: string[]): Promise<void>
  /** Reads keys a SCAN page returned, in order. */
  readKeys(keys: string[]): Promise<Array<Buffer | null>>
}

export interface RedisCoreOptions {
  /** Every namespace in a hash tag. */
  readonly hashTags: boolean
  /** Namespaces kept in one slot on request (`Driver.keepTogether`); `undefined` where the backend never tags on request. */
  readonly together: Set<string> | undefined
  /** Replicas that must acknowledge each write (`WAIT`), 0 for none. */
  readonly waitReplicas: number
  /** How long a write waits for them, in ms. */
  readonly waitTimeout: number
}

/** Escapes a literal for a `SCAN MATCH` glob. */
function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&')
}

/**
 * Physical key ↔ Redis key. A tagged namespace's path (before the first `/`) goes in braces:
 * `{flagstone:flags}/flag/a`, so Redis Cluster hashes only the path and the namespace is one
 * slot. Untagged keys never start with `{` (namespace names cannot hold one), so `from` needs no state.
 */
export function keyMapping(options: Pick<RedisCoreOptions, 'hashTags' | 'together'>) {
  const { hashTags, together } = options
  const tag = (key: string, slash: number) => `{${key.slice(0, slash)}}${key.slice(slash)}`
  return {
    to: (key: string): string => {
      const slash = key.indexOf('/')
      if (hashTags) return slash < 0 ? `{${key}` : tag(key, slash)
      return together !== undefined && together.size > 0 && slash > 0 && together.has(key.slice(0, slash)) ? tag(key, slash) : key
    },
    from: (key: string): string => {
      if (key.charCodeAt(0) !== 123 /* { */) return key
      const close = key.indexOf('}/')
      return close < 0 ? key : key.slice(1, close) + key.slice(close + 1)
    },
    /** SCAN patterns that find every key of `space` and of its children, in whichever layout they are. */
    spacePatterns(space: KeySpace): string[] {
      const base = escapeGlob(space.own.slice(0, -1))
      const plain = `${base}[/:]*`
      const tagged = `{${base}[}:]*`
      if (hashTags) return [tagged]
      return together === undefined ? [plain] : [plain, tagged]
    },
  }
}

/** Entries cursor: the SCAN cursor on one node; `<node index>.<cursor>` across several. */
const CURSOR = /^(?:([0-9]{1,4})\.)?([0-9]{1,20})$/

function badCursor(): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', 'cursor is not one a previous page returned', { details: { field: 'cursor' } })
}

type KeyOps = Omit<Driver, 'backend' | 'pubsub' | 'recycle' | 'close' | 'capabilities' | 'keepTogether'>

/** The key-level half of a Redis driver, on `link`. */
export function redisOperations(link: RedisLink, options: RedisCoreOptions): KeyOps {
  const mapping = keyMapping(options)
  const { to: t, from } = mapping
  const send = <T>(route: string | undefined, args: RedisArgument[], types: TypeMapping = BUFFERS) =>
    link.send<T>(route, args, types)

  /** `write`, then (with waitReplicas) a `WAIT` on the same connection: it counts every write sent on it so far, ours included. */
  const durable = async <T>(route: string, write: Promise<T>): Promise<T> => {
    const result = await write
    if (options.waitReplicas === 0) return result
    const acks = Number(
      await link.send(route, ['WAIT', String(options.waitReplicas), String(options.waitTimeout)], NUMBERS_AS_TEXT),
    )
    if (acks < options.waitReplicas) {
      throw new FlagstoneError(
        'STORE_UNAVAILABLE',
        `the write was applied on the master but acknowledged by ${acks} of ${options.waitReplicas} replica(s) ` +
          `within ${options.waitTimeout} ms (waitReplicas): a failover now could lose it`,
        { details: { waitReplicas: options.waitReplicas, acknowledged: acks } },
      )
    }
    return result
  }

  const scriptOn = async <T>(source: string, keys: string[], args: RedisArgument[]): Promise<T> => {
    const tail = [String(keys.length), ...keys, ...args]
    const route = keys[0]
    try {
      return await send<T>(route, ['EVALSHA', sha1(source), ...tail])
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return send<T>(route, ['EVAL', source, ...tail])
    }
  }
  const ttlArg = (ttlMs: number | undefined) => (ttlMs === undefined ? '' : String(ttlMs))
  const scanOn = (node: ScanNode, cursor: string, pattern: string, count: string) =>
    node.send<[string, string[]]>(['SCAN', cursor, 'MATCH', pattern, 'COUNT', count])
  async function* scanAll(pattern: string): AsyncIterable<string[]> {
    for (const node of await link.nodes()) {
      let cursor = '0'
      do {
        const [next, keys] = await scanOn(node, cursor, pattern, SCAN_COUNT)
        cursor = next
        if (keys.length > 0) yield keys
      } while (cursor !== '0')
    }
  }
  const prefixPattern = (prefix: string) => `${escapeGlob(t(prefix))}*`

  return {
    get: (key) => send<Buffer | null>(t(key), ['GET', t(key)]),
    getAndRenew: (key, ttlMs) => scriptOn<Buffer | null>(RENEW, [t(key)], [String(ttlMs)]),
    async set(key, value, ttlMs) {
      const k = t(key)
      await durable(k, send(k, ttlMs === undefined ? ['SET', k, value] : ['SET', k, value, 'PX', String(ttlMs)]))
    },
    async delete(key) {
      const k = t(key)
      await durable(k, send(k, ['DEL', k]))
    },
    exists: async (key) => (await send<number>(t(key), ['EXISTS', t(key)], undefined)) === 1,
    async ttl(key) {
      const ms = await send<number>(t(key), ['PTTL', t(key)], undefined)
      if (ms === -2) return null
      return ms === -1 ? Infinity : Math.max(1, ms)
    },
    async deleteSpace(space) {
      // Batched SCAN + UNLINK on every node: never FLUSHDB, never one long server-blocking script.
      for (const pattern of mapping.spacePatterns(space)) for await (const keys of scanAll(pattern)) await link.unlink(keys)
    },
    // Redis removes expired keys itself; there is never anything left for us to sweep.
    deleteExpired: async () => 0,
    async *scan(prefix) {
      const seen = new Set<string>() // SCAN may return a key twice
      for await (const keys of scanAll(prefixPattern(prefix))) {
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
        if (ttlMs === undefined) {
          n = Number(await durable(k, send<string>(k, ['INCRBY', k, String(by)], NUMBERS_AS_TEXT)))
        } else {
          // SET NX PX creates the counter with the window's expiry, INCRBY counts, in one MULTI:
          // nothing runs (and no key expires) between them, so a window is never left without
          // expiry. The value is read back with GET: EXEC's integer replies lose precision near 2^53.
          const commands = [
            ['SET', k, '0', 'NX', 'PX', String(ttlMs)],
            ['INCRBY', k, String(by)],
            ['GET', k],
          ]
          const replies = await durable(k, link.multi(k, commands))
          n = Number(replies[2])
        }
      } catch (error) {
        throw error instanceof Error && /not an integer|out of range|overflow|commands failed/.test(error.message)
          ? counterError(label)
          : error
      }
      if (!Number.isSafeInteger(n)) {
        // Past the safe range: take the step back, so the failed call leaves the value as it was.
        await send(k, ['DECRBY', k, String(by)])
        throw counterError(label)
      }
      return n
    },
    getMany: (keys) => link.readKeys(keys.map(t)),
    async entries(prefix, limit, cursor): Promise<DriverEntriesPage> {
      const nodes = await link.nodes()
      const match = cursor === null ? null : CURSOR.exec(cursor)
      if (cursor !== null && (match === null || nodes.length > 1 !== (match[1] !== undefined))) throw badCursor()
      let index = match?.[1] === undefined ? 0 : Number(match[1])
      const node = nodes[index]
      if (node === undefined) throw badCursor()
      const [next, tagged] = await scanOn(node, match?.[2] ?? '0', prefixPattern(prefix), String(limit))
      const values = tagged.length === 0 ? [] : await link.readKeys(tagged)
      const entries: Array<[string, Uint8Array]> = []
      tagged.forEach((key, i) => {
        const value = values[i]
        if (value !== null && value !== undefined) entries.push([from(key), value]) // expired since the SCAN
      })
      if (next !== '0') return { entries, cursor: nodes.length > 1 ? `${index}.${next}` : next }
      index++
      return { entries, cursor: index < nodes.length ? `${index}.0` : null }
    },
    async atomic(writes, checks) {
      const keys = [...checks.map((c) => t(c.key)), ...writes.map((w) => t(w.key))]
      const args: RedisArgument[] = [String(checks.length)]
      for (const c of checks) args.push(c.expected === null ? '' : Buffer.concat([Buffer.from('='), c.expected]))
      for (const w of writes) {
        if (w.op === 'set') args.push('s', w.value, ttlArg(w.ttlMs))
        else if (w.op === 'delete') args.push('d', '', '')
        else args.push('i', String(w.by), ttlArg(w.ttlMs))
      }
      try {
        return (await durable(keys[0] ?? '', scriptOn<number>(ATOMIC, keys, args))) === 1
      } catch (error) {
        const found = error instanceof Error ? new RegExp(`${NOT_INTEGER} (\\d+)`).exec(error.message) : null
        const write = found === null ? undefined : writes[Number(found[1])]
        throw write?.op === 'increment' ? counterError(write.label) : error
      }
    },
    async compareAndSet(key, expected, value, ttlMs) {
      const want = expected === null ? '' : Buffer.concat([Buffer.from('='), expected])
      const k = t(key)
      return (await durable(k, scriptOn<number>(COMPARE_AND_SET, [k], [value, ttlArg(ttlMs), want]))) === 1
    },
  }
}

/** Validates `waitReplicas` / `waitTimeout`. */
export function resolveWait(waitReplicas: unknown, waitTimeout: unknown, operationTimeout: number) {
  const replicas = waitReplicas ?? 0
  if (!Number.isSafeInteger(replicas) || (replicas as number) < 0 || (replicas as number) > 16) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `waitReplicas must be a whole number from 0 to 16, got ${String(waitReplicas)}`,
      {
        details: { field: 'waitReplicas' },
      },
    )
  }
  const timeout = waitTimeout ?? Math.min(1000, operationTimeout)
  if (!Number.isSafeInteger(timeout) || (timeout as number) < 1) {
    throw new FlagstoneError('INVALID_ARGUMENT', `waitTimeout must be a whole number of ms >= 1, got ${String(waitTimeout)}`, {
      details: { field: 'waitTimeout' },
    })
  }
  return { waitReplicas: replicas as number, waitTimeout: timeout as number }
}
