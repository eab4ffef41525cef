/** PostgreSQL store on @keyv/postgres, with a connection pool each store owns. */
import type { KeyvPostgres as KeyvPostgresType, KeyvPostgresOptions } from '@keyv/postgres'
import { createHash } from 'node:crypto'
import type { Pool, PoolClient, PoolConfig } from 'pg'
import { DriverStore, reconnectDelay, resolveBaseOptions } from '../driver.js'
import { checkTable, MAX_SAFE_SQL, type SqlConnection, type SqlDialect, sqlDriver } from './sql.js'
import type { BaseStoreOptions, MessageListener, Store } from '../types.js'
import { checkOptions } from '../../internal/objects.js'

export interface PostgresStoreOptions extends BaseStoreOptions {
  /** Connection string, e.g. `postgresql://postgres@127.0.0.1:5432/test`. */
  url?: string
  /** A pool the caller owns (never ended by the store); `url` is then ignored. */
  pool?: Pool
  /** Schema of the table. @default 'public' */
  schema?: string
  /** Table for flagstone's entries. @default 'flagstone_store' */
  table?: string
  /** Pool size when the store makes its own pool. @default 10 */
  max?: number
  /** How long to wait for a connection before failing with `STORE_UNAVAILABLE`, in ms. @default 5000 */
  connectTimeout?: number
}

export const postgresDialect: SqlDialect = {
  backend: 'postgres',
  now: `(extract(epoch from clock_timestamp()) * 1000)::bigint`,
  incrementable: (v, s) =>
    `CASE WHEN encode(${v}, 'escape') ~ '^(0|-?[1-9][0-9]{0,15})$' ` +
    `THEN abs(encode(${v}, 'escape')::numeric + ${s}::bigint) <= ${MAX_SAFE_SQL} ELSE FALSE END`,
  add: (v, s) => `convert_to((encode(${v}, 'escape')::bigint + ${s}::bigint)::text, 'UTF8')`,
  keyIn: (p) => `key = ANY(${p}::text[])`,
  keyList: (keys) => keys,
  forUpdate: ' FOR UPDATE',
  // In the order given (the keys sorted), so two atomics always take shared locks in the same order: no deadlock.
  manyRows: (k, v, t) => `unnest(${k}::text[], ${v}::bytea[], ${t}::bigint[]) AS x(k, v, t)`,
  lockKeys: `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) WITH ORDINALITY AS t(k, i) ORDER BY i`,
}

type Options = KeyvPostgresOptions & { flagstone: { pool: Pool | undefined; ddl: readonly string[] } }

export async function createPostgresStore(options: PostgresStoreOptions = {}): Promise<Store> {
  checkOptions(options, 'createPostgresStore()')
  const base = resolveBaseOptions(options)
  const schema = checkTable(options.schema ?? 'public')
  const table = checkTable(options.table ?? 'flagstone_store')
  const qualified = `${schema}.${table}`
  const { KeyvPostgres } = await import('@keyv/postgres')
  const pg = (await import('pg')).default

  /**
   * @keyv/postgres keeps one module-global pool per process: a second URL silently replaces it and
   * `disconnect()` ends it under every other instance. This subclass gives each adapter its own
   * pool (or the caller's), and creates flagstone's table before the adapter issues any query.
   */
  class OwnPoolKeyvPostgres extends KeyvPostgres {
    declare pool: Pool
    declare owned: boolean
    declare schemaReady: Promise<void> | undefined

    override async connect() {
      const { flagstone, ...config } = this.opts as Options
      this.owned = flagstone.pool === undefined
      this.pool = flagstone.pool ?? new pg.Pool({ ...(config as PoolConfig), connectionString: config.uri })
      this.pool.on('error', () => undefined) // idle-client errors surface on the next query instead
      return async (sql: string, values?: unknown[]) => {
        await this.ensureSchema(flagstone.ddl)
        return (await this.pool.query(sql, values)).rows
      }
    }

    /** Creates the table once; after a failure (server down) the next call tries again. */
    ensureSchema(ddl: readonly string[]): Promise<void> {
      this.schemaReady ??= (async () => {
        for (const statement of ddl) {
          try {
            await this.pool.query(statement)
          } catch (error) {
            // Two processes creating the table at once: the loser sees a duplicate; that is fine.
            const code = (error as { code?: string }).code
            if (code !== '23505' && code !== '42P07') throw error
          }
        }
      })().catch((error: unknown) => {
        this.schemaReady = undefined
        throw error
      })
      return this.schemaReady
    }

    override async disconnect() {
      if (this.owned) await this.pool.end()
    }
  }

  const ddl = [
    `CREATE TABLE IF NOT EXISTS ${qualified} (key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL, expires_at BIGINT)`,
    `CREATE INDEX IF NOT EXISTS ${table}_expires_at ON ${qualified} (expires_at) WHERE expires_at IS NOT NULL`,
  ]
  const adapterOptions: Options = {
    uri: options.url ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
    schema,
    table, // the adapter's own CREATE TABLE then finds flagstone's table and does nothing
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeout ?? 5000,
    // pg's own read timeout on our pool: when it fires, pool.query destroys that connection
    // instead of returning it, so a frozen connection is recycled rather than reused.
    query_timeout: base.operationTimeout,
    flagstone: { pool: options.pool, ddl },
  }
  const adapter: OwnPoolKeyvPostgresLike = new OwnPoolKeyvPostgres(adapterOptions)
  adapter.on('error', () => undefined) // keyv emits connect errors; ours surface per operation

  const pubsub = listenNotify(adapter.pool)
  const conn: SqlConnection = {
    async query(name, text, values) {
      await adapter.ensureSchema(ddl)
      // Named statements are prepared once per connection and reused.
      return (await adapter.pool.query({ name, text, values: values as unknown[] })).rows as Record<string, unknown>[]
    },
    async transaction(work) {
      await adapter.ensureSchema(ddl)
      const client = await adapter.pool.connect()
      let broken = false
      try {
        await client.query('BEGIN')
        const commit = await work(
          async (name, text, values) =>
            (await client.query({ name, text, values: values as unknown[] })).rows as Record<string, unknown>[],
        )
        await client.query(commit ? 'COMMIT' : 'ROLLBACK')
        return commit
      } catch (error) {
        // A connection that cannot even roll back (lost, timed out) is dropped rather than reused.
        broken = !(await client.query('ROLLBACK').then(
          () => true,
          () => false,
        ))
        throw error
      } finally {
        client.release(broken || undefined)
      }
    },
    async close() {
      pubsub.close()
      await adapter.disconnect()
    },
  }
  return DriverStore.root({ ...sqlDriver(qualified, postgresDialect, conn), pubsub, recycle: () => pubsub.recycle() }, base)
}

/**
 * Push through LISTEN/NOTIFY on one dedicated pooled connection, re-established (and every
 * channel re-LISTENed) with backoff after it is lost. Channel names are hashed: Postgres
 * identifiers stop at 63 bytes.
 */
function listenNotify(pool: Pool) {
  const listeners = new Map<string, Set<MessageListener>>()
  let client: PoolClient | undefined
  let connecting: Promise<PoolClient> | undefined
  let retry: NodeJS.Timeout | undefined
  let attempts = 0
  let closed = false
  let queue: Promise<unknown> = Promise.resolve()
  // pg deprecates a query on a client that is still running one: LISTEN, UNLISTEN and the
  // re-LISTENs of a reconnect wait their turn on the one listening connection.
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task)
    queue = run.catch(() => undefined)
    return run
  }
  const pgChannel = (channel: string) => `fs_${createHash('sha1').update(channel).digest('hex').slice(0, 40)}`

  const lost = (lostClient: PoolClient) => {
    if (client !== lostClient) return
    client = undefined
    lostClient.release(true)
    scheduleReconnect()
  }
  const scheduleReconnect = () => {
    if (closed || retry !== undefined || listeners.size === 0) return
    retry = setTimeout(() => {
      retry = undefined
      serial(connect).catch(scheduleReconnect)
    }, reconnectDelay(attempts++))
    retry.unref()
  }
  const connect = () =>
    (connecting ??= (async () => {
      const fresh = await pool.connect()
      fresh.on('notification', (n) => {
        for (const listener of listeners.get(n.channel) ?? []) listener(n.payload ?? '')
      })
      fresh.on('error', () => lost(fresh))
      fresh.on('end', () => lost(fresh))
      try {
        for (const channel of listeners.keys()) await fresh.query(`LISTEN "${channel}"`)
      } catch (error) {
        fresh.release(true)
        throw error
      }
      client = fresh
      attempts = 0
      return fresh
    })().finally(() => (connecting = undefined)))

  return {
    acrossProcesses: true,
    async publish(channel: string, message: string) {
      await pool.query('SELECT pg_notify($1, $2)', [pgChannel(channel), message])
    },
    async subscribe(channel: string, listener: MessageListener) {
      const name = pgChannel(channel)
      const set = listeners.get(name) ?? new Set()
      listeners.set(name, set.add(listener))
      try {
        await serial(async () => {
          const active = client ?? (await connect())
          await active.query(`LISTEN "${name}"`)
        })
      } catch (error) {
        set.delete(listener)
        if (set.size === 0) listeners.delete(name)
        throw error
      }
      return async () => {
        set.delete(listener)
        if (set.size > 0) return
        listeners.delete(name)
        await serial(async () => {
          // Subscribed again while waiting: keep listening.
          if (!listeners.has(name)) await client?.query(`UNLISTEN "${name}"`)
        }).catch(() => undefined)
      }
    },
    /** Drops the listening connection (it may be the frozen one); a fresh one re-LISTENs every channel. */
    recycle() {
      if (client !== undefined) lost(client)
    },
    close() {
      closed = true
      clearTimeout(retry)
      client?.release(true)
      client = undefined
    },
  }
}

type OwnPoolKeyvPostgresLike = KeyvPostgresType & { pool: Pool; ensureSchema(ddl: readonly string[]): Promise<void> }
