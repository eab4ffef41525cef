/**
 * Store benchmark: for each backend (memory, SQLite file, Redis, PostgreSQL, MySQL/MariaDB), `get`, `set` and
 * `increment` operations per second with 1 and with 64 operations in flight, for three contenders
 * measured in the same run:
 *
 * 1. flagstone's store (`createStore(url, { namespace })`, in its own random namespace),
 * 2. raw `Keyv` on the same kind of adapter (`new Keyv()` with its default Map for memory),
 * 3. the raw driver (a plain `Map`, `sqlite3`, node-redis, a `pg` Pool).
 *
 * The machine is shared and noisy: after a warm-up, every cell is measured in 9 short rounds in
 * which the three contenders run one after the other (the order rotating every round), so each
 * round gives a flagstone/keyv and a flagstone/raw ratio measured within about a second; the
 * reported ratio is the median of those per-round ratios. Absolute numbers are noise; ratios
 * measured in the same run are the result. The table goes to stdout and into BENCHMARKS.md between the
 * `<!-- stores:start -->` and `<!-- stores:end -->` markers.
 *
 * A second table, "through keyv", runs the same measurement on two contenders per backend: `Keyv` on
 * `keyvAdapter(flagstoneStore)` and `Keyv` on the backend's native keyv adapter.
 *
 * Run: `npx tsx benchmarks/stores.ts` (about 10 minutes). Env: BENCH_SLICE_MS (default 300),
 * BENCH_WARMUP_MS (300), BENCH_ROUNDS (9), BENCH_BACKENDS (e.g. `memory,redis`; default all),
 * BENCH_KINDS (`stores`, `keyv`), BENCH_NO_WRITE=1 to skip writing BENCHMARKS.md, REDIS_URL, POSTGRES_URL, MYSQL_URL.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import KeyvMysql from '@keyv/mysql'
import { KeyvPostgres } from '@keyv/postgres'
import KeyvRedis from '@keyv/redis'
import { KeyvSqlite } from '@keyv/sqlite'
import { createClient, RESP_TYPES } from '@redis/client'
import Keyv from 'keyv'
import mysql from 'mysql2/promise'
import pg from 'pg'
import sqlite3 from 'sqlite3'
import { keyvAdapter } from '../src/keyv/index.js'
import { createStore, type Store } from '../src/stores/index.js'
import { measurePubsub, startCluster } from './cluster.js'
import { writeSection } from './report.js'

const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 300)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 300)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9)
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
const ONLY = process.env.BENCH_BACKENDS?.split(',').map((s) => s.trim())
const WRITE = process.env.BENCH_NO_WRITE !== '1'
/** BENCH_KINDS=stores or keyv runs one of the two tables only. */
const KINDS = process.env.BENCH_KINDS?.split(',').map((s) => s.trim()) ?? ['stores', 'keyv', 'cluster']

const KEYS = 1000
const VALUE_BYTES = 64
const IN_FLIGHT = [1, 64] as const
const OPS = ['get', 'set', 'increment'] as const
/** Pool size of every PostgreSQL contender (flagstone's default, keyv's pg default). */
const PG_POOL = 10

type OpName = (typeof OPS)[number]
type ContenderName = 'flagstone' | 'keyv' | 'raw'

/** One operation on key number `i` (0..KEYS-1). */
type Op = (i: number) => Promise<unknown>

interface Contender {
  readonly name: ContenderName
  readonly ops: Record<OpName, Op>
  /** Sanity check before measuring: set/get round-trips the value, increment adds 1. */
  readonly check: () => Promise<void>
  readonly close: () => Promise<void>
}

interface Backend {
  readonly name: string
  /** 'stores': flagstone vs keyv vs the raw driver; 'keyv': Keyv on keyvAdapter(flagstone store) vs Keyv on its native adapter. */
  readonly kind: 'stores' | 'keyv' | 'cluster'
  /** Creates the three contenders: flagstone, keyv, raw. */
  readonly setup: () => Promise<Contender[]>
  /** Removes every key, table and file the benchmark created. Runs even after a failure. */
  readonly cleanup: () => Promise<void>
}

const RUN_ID = randomBytes(4).toString('hex')
/**
 * flagstone's root namespace and keyv's namespace: the same string, so both build physical keys of
 * the same length (`bench_1a2b3c4d/k7` and `bench_1a2b3c4d:k7`); each contender has its own map,
 * file, table or key prefix, so they never meet.
 */
const NAMESPACE = `bench_${RUN_ID}`
const VALUE_BUFFER = Buffer.alloc(VALUE_BYTES, 'v') // 64 bytes
const VALUE_STRING = 'v'.repeat(VALUE_BYTES) // the same 64 bytes as a string, keyv's cheapest path
const dataKeys = (prefix = '') => Array.from({ length: KEYS }, (_, i) => `${prefix}k${i}`)
const counterKeys = (prefix = '') => Array.from({ length: KEYS }, (_, i) => `${prefix}c${i}`)

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`sanity check failed: ${message}`)
}

// ---------------------------------------------------------------------------------------------
// Contenders

function flagstoneContender(store: Store): Contender {
  const k = dataKeys()
  const c = counterKeys()
  return {
    name: 'flagstone',
    ops: {
      get: (i) => store.get(k[i]!),
      set: (i) => store.set(k[i]!, VALUE_BUFFER),
      increment: (i) => store.increment(c[i]!),
    },
    async check() {
      await store.set('k0', VALUE_BUFFER)
      const got = await store.get('k0')
      assert(got !== null && Buffer.from(got).equals(VALUE_BUFFER), 'flagstone get returned other bytes')
      const a = await store.increment('c0')
      assert((await store.increment('c0')) === a + 1, 'flagstone increment')
    },
    async close() {
      await store.deleteAll()
      await store.close()
    },
  }
}

/** Keyv has no atomic increment: a Keyv user writes get, parse, set (not atomic across callers). */
function keyvContender(keyv: Keyv<string>): Contender {
  const k = dataKeys()
  const c = counterKeys()
  const increment = async (key: string) => {
    const n = Number((await keyv.get(key)) ?? 0) + 1
    await keyv.set(key, String(n))
    return n
  }
  return {
    name: 'keyv',
    ops: {
      get: (i) => keyv.get(k[i]!),
      set: (i) => keyv.set(k[i]!, VALUE_STRING),
      increment: (i) => increment(c[i]!),
    },
    async check() {
      await keyv.set('k0', VALUE_STRING)
      assert((await keyv.get('k0')) === VALUE_STRING, 'keyv get')
      const a = await increment('c0')
      assert((await increment('c0')) === a + 1, 'keyv increment')
    },
    async close() {
      await keyv.clear()
      await keyv.disconnect()
    },
  }
}

function rawContender(
  ops: { get(key: string): Promise<unknown>; set(key: string): Promise<unknown>; increment(key: string): Promise<number> },
  prefix: string,
  close: () => Promise<void>,
): Contender {
  const k = dataKeys(prefix)
  const c = counterKeys(prefix)
  return {
    name: 'raw',
    ops: {
      get: (i) => ops.get(k[i]!),
      set: (i) => ops.set(k[i]!),
      increment: (i) => ops.increment(c[i]!),
    },
    async check() {
      await ops.set(k[0]!)
      const got = await ops.get(k[0]!)
      assert(Buffer.isBuffer(got) && got.equals(VALUE_BUFFER), 'raw get')
      const a = await ops.increment(c[0]!)
      assert((await ops.increment(c[0]!)) === a + 1, 'raw increment')
    },
    close,
  }
}

// ---------------------------------------------------------------------------------------------
// Backends

function memoryBackend(): Backend {
  return {
    name: 'memory',
    kind: 'stores',
    async setup() {
      const store = await createStore('memory://', { namespace: NAMESPACE })
      const map = new Map<string, Buffer>()
      const counters = new Map<string, number>()
      const raw = rawContender(
        {
          get: async (key) => map.get(key) ?? null,
          set: async (key) => void map.set(key, VALUE_BUFFER),
          async increment(key) {
            const n = (counters.get(key) ?? 0) + 1
            counters.set(key, n)
            return n
          },
        },
        `${NAMESPACE}/`,
        async () => {
          map.clear()
          counters.clear()
        },
      )
      return [flagstoneContender(store), keyvContender(new Keyv<string>({ namespace: NAMESPACE, throwOnErrors: true })), raw]
    },
    async cleanup() {
      // Nothing outside the process.
    },
  }
}

const sqliteRun = (db: sqlite3.Database, sql: string, params: unknown[] = []) =>
  new Promise<void>((resolve, reject) => db.run(sql, params, (error) => (error ? reject(error) : resolve())))
const sqliteGet = <T>(db: sqlite3.Database, sql: string, params: unknown[] = []) =>
  new Promise<T | undefined>((resolve, reject) => db.get<T>(sql, params, (error, row) => (error ? reject(error) : resolve(row))))
const sqliteExec = (db: sqlite3.Database, sql: string) =>
  new Promise<void>((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve())))

function sqliteBackend(): Backend {
  let dir = ''
  return {
    name: 'sqlite',
    kind: 'stores',
    async setup() {
      dir = mkdtempSync(join(os.tmpdir(), `flagstone-bench-${RUN_ID}-`))
      const store = await createStore(`sqlite://${join(dir, 'flagstone.sqlite')}`, { namespace: NAMESPACE })

      // @keyv/sqlite opens the database with the default rollback journal and FULL sync; give it
      // flagstone's WAL + synchronous=NORMAL through its own `query` so the files are like for like.
      const adapter = new KeyvSqlite({ uri: `sqlite://${join(dir, 'keyv.sqlite')}` })
      await adapter.query('PRAGMA journal_mode=WAL')
      await adapter.query('PRAGMA synchronous=NORMAL')
      const keyv = new Keyv<string>({ store: adapter, namespace: NAMESPACE, throwOnErrors: true })

      const db = await new Promise<sqlite3.Database>((resolve, reject) => {
        const d = new sqlite3.Database(join(dir, 'raw.sqlite'), (error) => (error ? reject(error) : resolve(d)))
      })
      await sqliteExec(db, 'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL')
      await sqliteExec(db, 'CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)')
      const raw = rawContender(
        {
          get: async (key) =>
            (await sqliteGet<{ value: Buffer }>(db, 'SELECT value FROM kv WHERE key = ?', [key]))?.value ?? null,
          set: (key) =>
            sqliteRun(db, 'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [
              key,
              VALUE_BUFFER,
            ]),
          async increment(key) {
            const row = await sqliteGet<{ value: string }>(
              db,
              `INSERT INTO kv (key, value) VALUES (?1, '1') ON CONFLICT (key) ` +
                `DO UPDATE SET value = CAST(CAST(CAST(value AS TEXT) AS INTEGER) + 1 AS TEXT) RETURNING value`,
              [key],
            )
            return Number(row?.value)
          },
        },
        `${NAMESPACE}/`,
        () => new Promise<void>((resolve, reject) => db.close((error) => (error ? reject(error) : resolve()))),
      )
      return [flagstoneContender(store), keyvContender(keyv), raw]
    },
    async cleanup() {
      if (dir !== '') rmSync(dir, { recursive: true, force: true })
    },
  }
}

function redisBackend(): Backend {
  const rawPrefix = `${NAMESPACE}:r/` // flagstone's keys there are `${NAMESPACE}/…`
  return {
    name: 'redis',
    kind: 'stores',
    async setup() {
      const store = await createStore(REDIS_URL, { namespace: NAMESPACE })
      const keyv = new Keyv<string>({ store: new KeyvRedis(REDIS_URL), namespace: NAMESPACE, throwOnErrors: true })
      const client = createClient({ url: REDIS_URL })
      await client.connect()
      // Values are bytes: the raw client reads them as Buffers too, as flagstone's store does.
      const bytes = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
      const raw = rawContender(
        {
          get: (key) => bytes.get(key),
          set: (key) => client.set(key, VALUE_BUFFER),
          increment: (key) => client.incrBy(key, 1),
        },
        rawPrefix,
        () => client.close(),
      )
      return [flagstoneContender(store), keyvContender(keyv), raw]
    },
    async cleanup() {
      // Every key of this run (flagstone's, keyv's, raw) contains RUN_ID.
      const client = createClient({ url: REDIS_URL })
      await client.connect()
      try {
        for (let left = 1, tries = 0; left > 0 && tries < 3; tries++) {
          left = 0
          let cursor = '0'
          do {
            const reply = await client.scan(cursor, { MATCH: `*${RUN_ID}*`, COUNT: 1000 })
            cursor = String(reply.cursor)
            if (reply.keys.length > 0) left += await client.unlink(reply.keys)
          } while (cursor !== '0')
        }
      } finally {
        await client.close()
      }
    },
  }
}

function postgresBackend(): Backend {
  const tables = { flagstone: `bench_fs_${RUN_ID}`, keyv: `bench_keyv_${RUN_ID}`, raw: `bench_raw_${RUN_ID}` }
  return {
    name: 'postgres',
    kind: 'stores',
    async setup() {
      // Its own table, so the run never touches the shared flagstone_store table; same schema.
      const store = await createStore(POSTGRES_URL, { namespace: NAMESPACE, table: tables.flagstone, max: PG_POOL })
      const keyv = new Keyv<string>({
        store: new KeyvPostgres({ uri: POSTGRES_URL, table: tables.keyv, max: PG_POOL }),
        namespace: NAMESPACE,
        throwOnErrors: true,
      })
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: PG_POOL })
      const t = tables.raw
      await pool.query(`CREATE TABLE ${t} (key TEXT PRIMARY KEY, value BYTEA NOT NULL)`)
      const raw = rawContender(
        {
          get: async (key) =>
            (await pool.query<{ value: Buffer }>(`SELECT value FROM ${t} WHERE key = $1`, [key])).rows[0]?.value ?? null,
          set: (key) =>
            pool.query(`INSERT INTO ${t} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [
              key,
              VALUE_BUFFER,
            ]),
          async increment(key) {
            const { rows } = await pool.query<{ value: Buffer }>(
              `INSERT INTO ${t} AS t (key, value) VALUES ($1, convert_to('1', 'UTF8')) ON CONFLICT (key) ` +
                `DO UPDATE SET value = convert_to((convert_from(t.value, 'UTF8')::bigint + 1)::text, 'UTF8') RETURNING value`,
              [key],
            )
            return Number(rows[0]?.value.toString())
          },
        },
        `${NAMESPACE}/`,
        () => pool.end(),
      )
      return [flagstoneContender(store), keyvContender(keyv), raw]
    },
    async cleanup() {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 })
      try {
        for (const table of Object.values(tables)) await pool.query(`DROP TABLE IF EXISTS ${table}`)
      } finally {
        await pool.end()
      }
    },
  }
}

function mysqlBackend(): Backend {
  const tables = { flagstone: `bench_fs_${RUN_ID}`, keyv: `bench_keyv_${RUN_ID}`, raw: `bench_raw_${RUN_ID}` }
  return {
    name: 'mysql',
    kind: 'stores',
    async setup() {
      const store = await createStore(MYSQL_URL, { namespace: NAMESPACE, table: tables.flagstone, max: PG_POOL })
      const keyv = new Keyv<string>({
        store: new KeyvMysql({ uri: MYSQL_URL, table: tables.keyv, connectionLimit: PG_POOL }),
        namespace: NAMESPACE,
        throwOnErrors: true,
      })
      const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: PG_POOL })
      const t = tables.raw
      await pool.query(`CREATE TABLE ${t} (k VARBINARY(255) PRIMARY KEY, v LONGBLOB NOT NULL)`)
      const raw = rawContender(
        {
          get: async (key) => {
            const [rows] = await pool.query<mysql.RowDataPacket[]>(`SELECT v FROM ${t} WHERE k = ?`, [key])
            return (rows[0]?.v as Buffer | undefined) ?? null
          },
          set: (key) =>
            pool.query(`INSERT INTO ${t} (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v)`, [key, VALUE_BUFFER]),
          async increment(key) {
            // One statement: LAST_INSERT_ID(expr) hands the updated value back in the OK packet.
            const [result] = await pool.query<mysql.ResultSetHeader>(
              `INSERT INTO ${t} (k, v) VALUES (?, '1') ON DUPLICATE KEY UPDATE v = LAST_INSERT_ID(CAST(CAST(v AS CHAR) AS SIGNED) + 1)`,
              [key],
            )
            return result.affectedRows === 1 ? 1 : result.insertId
          },
        },
        `${NAMESPACE}/`,
        () => pool.end(),
      )
      return [flagstoneContender(store), keyvContender(keyv), raw]
    },
    async cleanup() {
      await KeyvMysqlEnd()
      const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 1 })
      try {
        for (const table of Object.values(tables)) await pool.query(`DROP TABLE IF EXISTS ${table}`)
      } finally {
        await pool.end()
      }
    },
  }
}

/** @keyv/mysql keeps one module-global pool that disconnect() ends without waiting: give it a moment. */
const KeyvMysqlEnd = () => new Promise((resolve) => setTimeout(resolve, 100))

// ---------------------------------------------------------------------------------------------
// Through keyv: `new Keyv({ store: keyvAdapter(flagstoneStore) })` vs Keyv on the backend's native adapter

/** Keyv over a flagstone store (counted as the 'flagstone' contender); the store is closed with it. */
function keyvOnFlagstone(store: Store): Contender {
  const keyv = new Keyv<string>({ store: keyvAdapter(store), namespace: NAMESPACE, throwOnErrors: true })
  const contender = keyvContender(keyv)
  return {
    ...contender,
    name: 'flagstone',
    async close() {
      await contender.close()
      await store.deleteAll()
      await store.close()
    },
  }
}

function keyvBackends(): Backend[] {
  let dir = ''
  const tables = { flagstone: `bench_kfs_${RUN_ID}`, keyv: `bench_kkv_${RUN_ID}` }
  const sqlTables = async (drop: (table: string) => Promise<unknown>) => {
    for (const table of Object.values(tables)) await drop(`DROP TABLE IF EXISTS ${table}`)
  }
  return [
    {
      name: 'memory',
      kind: 'keyv',
      setup: async () => [
        keyvOnFlagstone(await createStore('memory://', { namespace: NAMESPACE })),
        keyvContender(new Keyv<string>({ namespace: NAMESPACE, throwOnErrors: true })),
      ],
      cleanup: async () => undefined,
    },
    {
      name: 'sqlite',
      kind: 'keyv',
      async setup() {
        dir = mkdtempSync(join(os.tmpdir(), `flagstone-bench-keyv-${RUN_ID}-`))
        const adapter = new KeyvSqlite({ uri: `sqlite://${join(dir, 'keyv.sqlite')}` })
        await adapter.query('PRAGMA journal_mode=WAL')
        await adapter.query('PRAGMA synchronous=NORMAL')
        return [
          keyvOnFlagstone(await createStore(`sqlite://${join(dir, 'flagstone.sqlite')}`, { namespace: NAMESPACE })),
          keyvContender(new Keyv<string>({ store: adapter, namespace: NAMESPACE, throwOnErrors: true })),
        ]
      },
      cleanup: async () => void (dir !== '' && rmSync(dir, { recursive: true, force: true })),
    },
    {
      name: 'redis',
      kind: 'keyv',
      setup: async () => [
        keyvOnFlagstone(await createStore(REDIS_URL, { namespace: `${NAMESPACE}k` })),
        keyvContender(new Keyv<string>({ store: new KeyvRedis(REDIS_URL), namespace: `${NAMESPACE}k`, throwOnErrors: true })),
      ],
      cleanup: async () => undefined, // both clear their own namespace on close
    },
    {
      name: 'postgres',
      kind: 'keyv',
      setup: async () => [
        keyvOnFlagstone(await createStore(POSTGRES_URL, { namespace: NAMESPACE, table: tables.flagstone, max: PG_POOL })),
        keyvContender(
          new Keyv<string>({
            store: new KeyvPostgres({ uri: POSTGRES_URL, table: tables.keyv, max: PG_POOL }),
            namespace: NAMESPACE,
            throwOnErrors: true,
          }),
        ),
      ],
      async cleanup() {
        const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 })
        await sqlTables((sql) => pool.query(sql)).finally(() => pool.end())
      },
    },
    {
      name: 'mysql',
      kind: 'keyv',
      setup: async () => [
        keyvOnFlagstone(await createStore(MYSQL_URL, { namespace: NAMESPACE, table: tables.flagstone, max: PG_POOL })),
        keyvContender(
          new Keyv<string>({
            store: new KeyvMysql({ uri: MYSQL_URL, table: tables.keyv, connectionLimit: PG_POOL }),
            namespace: NAMESPACE,
            throwOnErrors: true,
          }),
        ),
      ],
      async cleanup() {
        await KeyvMysqlEnd()
        const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 1 })
        await sqlTables((sql) => pool.query(sql)).finally(() => pool.end())
      },
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// Measurement

/** Runs `op` with `inFlight` operations outstanding for about `ms`; returns operations per second. */
async function measure(op: Op, inFlight: number, ms: number): Promise<number> {
  let done = 0
  let cursor = 0
  let running = true
  const start = performance.now()
  const end = start + ms
  const worker = async () => {
    while (running) {
      cursor = (cursor + 617) % KEYS // 617 is coprime with 1000: every key, spread out
      await op(cursor)
      // Reading the clock costs about as much as a Map lookup: do it every 16th operation (of all
      // workers together), so the harness adds little to the fastest contender's time per op.
      if ((++done & 15) === 0 && performance.now() >= end) running = false
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return (done * 1000) / (performance.now() - start)
}

interface Cell {
  backend: string
  kind: Backend['kind']
  op: OpName
  inFlight: number
  /** ops/s per contender, one per round. */
  rounds: Record<ContenderName, number[]>
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

async function benchBackend(backend: Backend, cells: Cell[]): Promise<void> {
  let contenders: Contender[] = []
  try {
    contenders = await backend.setup()
    for (const c of contenders) {
      await c.check()
      // Every key exists before measuring: gets hit, sets overwrite, counters count.
      for (let i = 0; i < KEYS; i++) {
        await c.ops.set(i)
        await c.ops.increment(i)
      }
    }
    for (const op of OPS) {
      for (const inFlight of IN_FLIGHT) {
        const cell: Cell = {
          backend: backend.name,
          kind: backend.kind,
          op,
          inFlight,
          rounds: { flagstone: [], keyv: [], raw: [] },
        }
        for (const c of contenders) await measure(c.ops[op], inFlight, WARMUP_MS)
        for (let round = 0; round < ROUNDS; round++) {
          // Rotate who goes first, so drift on the shared machine does not favour one contender.
          const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!)
          for (const c of order) cell.rounds[c.name].push(await measure(c.ops[op], inFlight, SLICE_MS))
        }
        cells.push(cell)
        const m = (n: ContenderName) => (cell.rounds[n].length === 0 ? '-' : fmt(median(cell.rounds[n])))
        console.log(
          `${backend.kind.padEnd(6)} ${backend.name.padEnd(8)} ${op.padEnd(9)} x${String(inFlight).padEnd(3)} ` +
            `flagstone ${m('flagstone')}  keyv ${m('keyv')}  raw ${m('raw')}`,
        )
      }
    }
  } finally {
    for (const c of contenders) {
      await c.close().catch((error: unknown) => console.error(`closing ${backend.name}/${c.name} failed:`, error))
    }
    await backend.cleanup().catch((error: unknown) => console.error(`cleaning up ${backend.name} failed:`, error))
  }
}

/**
 * Cluster rows (kind 'cluster'): flagstone on a throwaway 3+3 Redis Cluster ("flagstone"), the same
 * store on the single Redis ("keyv" slot) and the cluster store with waitReplicas: 1 ("raw" slot).
 */
let clusterPubsub: string[] = []
function clusterBackend(): Backend {
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined
  return {
    name: 'redis-cluster',
    kind: 'cluster',
    async setup() {
      cluster = await startCluster()
      clusterPubsub = await measurePubsub(cluster, `${NAMESPACE}p`)
      const spread = flagstoneContender(await createStore(cluster.url, { namespace: NAMESPACE }))
      const single = flagstoneContender(await createStore(REDIS_URL, { namespace: NAMESPACE }))
      const durable = flagstoneContender(await createStore(cluster.url, { namespace: `${NAMESPACE}w`, waitReplicas: 1 }))
      return [spread, { ...single, name: 'keyv' }, { ...durable, name: 'raw' }]
    },
    cleanup: async () => cluster?.stop(),
  }
}

function clusterReport(cells: Cell[]): string {
  const lines = [
    '## Redis Cluster vs one Redis, and the cost of waitReplicas',
    '',
    `Written by \`npx tsx benchmarks/stores.ts\` (BENCH_KINDS=cluster) on ${new Date().toISOString().slice(0, 10)}, measured like ` +
      `the tables above (${ROUNDS} rounds, ${SLICE_MS} ms per contender, order rotating). cluster: \`createStore('redis+cluster://…')\` ` +
      'on a throwaway cluster of 3 masters + 3 replicas (redis-server 7.0, all on this machine, namespaces spread over the slots); ' +
      'one Redis: the same store code on the shared single Redis; WAIT: the cluster store with `waitReplicas: 1` (every write then ' +
      'waits for one replica to acknowledge it). On 2 shared cores a cluster cannot be faster: the point is the cost of the cluster ' +
      'client and of WAIT. Target: cluster ≥ 0.8× one Redis.',
    '',
    '| op | in flight | cluster ops/s | one Redis ops/s | WAIT ops/s | cluster / one Redis | WAIT / cluster | met |',
    '|---|---:|---:|---:|---:|---:|---:|:---:|',
  ]
  for (const cell of cells) {
    const vsSingle = ratioCell(cell, 'keyv', 0.8)
    const wait = cell.rounds.raw.map((w, i) => w / cell.rounds.flagstone[i]!)
    lines.push(
      `| ${cell.op} | ${cell.inFlight} | ${fmt(median(cell.rounds.flagstone))} | ${fmt(median(cell.rounds.keyv))} | ` +
        `${fmt(median(cell.rounds.raw))} | ${vsSingle.text} | ${ratio(median(wait))} | ${vsSingle.ok ? '✅' : '❌'} |`,
    )
  }
  lines.push(...clusterPubsub)
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const ratio = (n: number) => n.toFixed(2)
const REDIS_GET_LATENCY = 1.3

interface Target {
  text: string
  minVsKeyv: number
  minVsRaw?: number
}

function targetFor(cell: Cell): Target {
  if (cell.backend === 'memory') return { text: '≥ 2× keyv', minVsKeyv: 2 }
  if (cell.backend === 'redis' && cell.op === 'get' && cell.inFlight === 1) {
    return { text: '≥ 0.9× keyv, ≥ 1/1.3 (0.77) × raw', minVsKeyv: 0.9, minVsRaw: 1 / REDIS_GET_LATENCY }
  }
  return { text: '≥ 0.9× keyv', minVsKeyv: 0.9 }
}

/** Median of the per-round ratios (each measured within one round), with their range. */
function ratioCell(cell: Cell, other: ContenderName, min: number | undefined): { text: string; ok: boolean } {
  const perRound = cell.rounds.flagstone.map((f, i) => f / cell.rounds[other][i]!)
  const r = median(perRound)
  const ok = min === undefined || r >= min
  const mark = min === undefined ? '' : ok ? ' ✅' : ' ❌'
  return { text: `${ratio(r)}${mark} <sub>(${ratio(Math.min(...perRound))}–${ratio(Math.max(...perRound))})</sub>`, ok }
}

/** Which code was measured: the commit, and whether src/stores had uncommitted changes. */
function codeState(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = git('status', '--porcelain', '--', 'src/stores') !== ''
    return `commit ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes in src/stores' : ''}`
  } catch {
    return 'unknown commit'
  }
}

function report(cells: Cell[]): { markdown: string; met: number; total: number; missed: string[] } {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const lines = [
    '## Stores: flagstone vs raw keyv vs the raw driver',
    '',
    `Written by \`npx tsx benchmarks/stores.ts\` on ${new Date().toISOString().slice(0, 10)}: ` +
      `${os.availableParallelism()} × ${cpu}, Node ${process.version}, ${os.platform()} ${os.release()}, flagstone at ${codeState()}. ` +
      `Each cell: a ${WARMUP_MS} ms warm-up per contender, then ${ROUNDS} rounds in which the three contenders run ${SLICE_MS} ms ` +
      `each, one after the other, the order rotating every round. ops/s columns are the medians over the rounds; ratio columns ` +
      `are the **median of the per-round ratios** (each from one round, so both sides saw the same machine state), with the ` +
      `range over the rounds in brackets. The machine is shared: absolute ops/s are noise, the ratios are the result.`,
    '',
    '| backend | op | in flight | flagstone ops/s | keyv ops/s | raw ops/s | flagstone/keyv | flagstone/raw | target | met |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|:---:|',
  ]
  let met = 0
  const missed: string[] = []
  for (const cell of cells) {
    const target = targetFor(cell)
    const vsKeyv = ratioCell(cell, 'keyv', target.minVsKeyv)
    const vsRaw = ratioCell(cell, 'raw', target.minVsRaw)
    const ok = vsKeyv.ok && vsRaw.ok
    if (ok) met++
    else missed.push(`${cell.backend} ${cell.op} x${cell.inFlight}`)
    lines.push(
      `| ${cell.backend} | ${cell.op} | ${cell.inFlight} | ${fmt(median(cell.rounds.flagstone))} | ${fmt(median(cell.rounds.keyv))} | ` +
        `${fmt(median(cell.rounds.raw))} | ${vsKeyv.text} | ${vsRaw.text} | ${target.text} | ${ok ? '✅' : '❌'} |`,
    )
  }
  lines.push(
    '',
    `**${met} of ${cells.length} cells meet their target.**${missed.length > 0 ? ` Missed: ${missed.join(', ')}.` : ''}`,
    '',
    'Notes:',
    '',
    `- Values are ${VALUE_BYTES} bytes, keys spread over ${KEYS.toLocaleString('en-US')} keys (and ${KEYS.toLocaleString('en-US')} counters), ` +
      'all written before measuring, so every `get` hits. "in flight" is how many operations are outstanding at once ' +
      '(1: one awaited after the other, i.e. latency; 64: throughput under concurrency).',
    "- flagstone: `createStore(url, { namespace })`, values passed as a `Buffer`, `increment` is the store's atomic " +
      'increment. keyv: `Keyv` 5.6.0 with `throwOnErrors: true`, its default JSON serializer and the same random `namespace` ' +
      'string (so both build physical keys of the same length), values passed as a 64-char string (its cheapest path; a ' +
      '`Buffer` would add base64). raw: the driver with no layer on top, values as a `Buffer`, keys precomputed with the namespace as prefix.',
    '- **Keyv has no atomic increment**: its `increment` column is the read-modify-write a Keyv user would write ' +
      '(`get`, `Number(...) + 1`, `set`): two round trips and not atomic across callers, so it is not the same guarantee.',
    "- memory: flagstone's `MemoryStore` vs `new Keyv({ namespace })` (its default `Map` adapter, which still JSON-serializes " +
      'every value) vs a plain `Map` (counters as numbers). The harness reads the clock only every 16th operation, so it adds ' +
      "little to the fastest contender's time per operation.",
    '- SQLite: one file per contender in a temporary directory, all in WAL mode with `synchronous=NORMAL` (flagstone sets these ' +
      'itself; @keyv/sqlite would use the default rollback journal with FULL sync, so the benchmark applies both pragmas through ' +
      'its `query` method; the raw `sqlite3` database gets them via `exec`). raw: `sqlite3` `db.get`/`db.run` on ' +
      '`kv (key TEXT PRIMARY KEY, value BLOB)`, increment as one `INSERT … ON CONFLICT DO UPDATE … RETURNING` via `db.get`. flagstone opens its file with `sqlite3` itself and reuses prepared statements (a pool of 4 per statement); @keyv/sqlite and the raw baseline prepare every statement on every call, which is where flagstone’s 2–3× comes from (the raw baseline here is the plain driver API, not a tuned one).',
    "- Redis: flagstone over @keyv/redis's node-redis client (`GET`/`SET`, `increment` is a Lua script via `EVALSHA`); keyv over " +
      '`new KeyvRedis(url)`; raw: `@redis/client` `createClient`, `get` (with a Buffer type mapping, as values are bytes), `set`, `incrBy`.',
    `- PostgreSQL: every contender has its own table and a pool of ${PG_POOL} connections. flagstone uses named (prepared) ` +
      'statements; raw: `pg` Pool `query(text, values)` (unnamed) with `SELECT`, `INSERT … ON CONFLICT DO UPDATE`, and an ' +
      'upsert `… RETURNING value` for increment on `(key TEXT PRIMARY KEY, value BYTEA)`.',
    `- MySQL / MariaDB: every contender has its own table and a pool of ${PG_POOL} connections. flagstone: its mysql2 pool, ` +
      'server-prepared statements (`execute`), `VARBINARY` keys and `LONGBLOB` values; keyv: `@keyv/mysql` (`VARCHAR(255)` id, ' +
      '`TEXT` value, client-side formatted `query`); raw: mysql2 `pool.query(sql, values)` on `(k VARBINARY(255) PRIMARY KEY, v LONGBLOB)`, ' +
      'increment as one `INSERT … ON DUPLICATE KEY UPDATE v = LAST_INSERT_ID(v + 1)`.',
    '- The run deletes every key, table and file it created and closes every client.',
  )
  return { markdown: lines.join('\n'), met, total: cells.length, missed }
}

function keyvReport(cells: Cell[]): { markdown: string; met: number; total: number; missed: string[] } {
  const lines = [
    '## Through keyv: Keyv on a flagstone store vs Keyv on its native adapter',
    '',
    `Written by \`npx tsx benchmarks/stores.ts\` in the same run as the table above, measured the same way (${ROUNDS} rounds, ` +
      `${SLICE_MS} ms per contender, order rotating). Both columns are the same \`Keyv\` 5.6.0 code (\`throwOnErrors: true\`, its ` +
      'JSON serializer, the same namespace string, 64-char string values); only the adapter differs: ' +
      '`new Keyv({ store: keyvAdapter(await createStore(url)) })` against `@keyv/sqlite` (WAL + `synchronous=NORMAL`, as above), ' +
      `\`@keyv/redis\`, \`@keyv/postgres\`, \`@keyv/mysql\` (pools of ${PG_POOL}) and keyv's default \`Map\` for memory. \`increment\` is keyv's ` +
      'read-modify-write (`get`, `+ 1`, `set`) on both sides. Target: ≥ 0.9× (the fixes of keyv defects must not cost speed).',
    '',
    '| backend | op | in flight | keyv on flagstone ops/s | keyv native ops/s | ratio | target | met |',
    '|---|---|---:|---:|---:|---:|---|:---:|',
  ]
  let met = 0
  const missed: string[] = []
  for (const cell of cells) {
    const vsKeyv = ratioCell(cell, 'keyv', 0.9)
    if (vsKeyv.ok) met++
    else missed.push(`${cell.backend} ${cell.op} x${cell.inFlight}`)
    lines.push(
      `| ${cell.backend} | ${cell.op} | ${cell.inFlight} | ${fmt(median(cell.rounds.flagstone))} | ${fmt(median(cell.rounds.keyv))} | ` +
        `${vsKeyv.text} | ≥ 0.9× | ${vsKeyv.ok ? '✅' : '❌'} |`,
    )
  }
  lines.push(
    '',
    `**${met} of ${cells.length} cells meet their target.**${missed.length > 0 ? ` Missed: ${missed.join(', ')}.` : ''}`,
  )
  return { markdown: lines.join('\n'), met, total: cells.length, missed }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const backends = [
    ...[memoryBackend, sqliteBackend, redisBackend, postgresBackend, mysqlBackend, clusterBackend].map((make) => make()),
    ...keyvBackends(),
  ]
    .filter((b) => ONLY === undefined || ONLY.includes(b.name))
    .filter((b) => KINDS.includes(b.kind))
  console.log(
    `run ${RUN_ID}: ${backends.map((b) => b.name).join(', ')}; ${ROUNDS} rounds × ${SLICE_MS} ms per contender and cell`,
  )
  const cells: Cell[] = []
  const started = performance.now()
  for (const backend of backends) await benchBackend(backend, cells)
  const took = `took ${((performance.now() - started) / 1000).toFixed(0)} s`
  const storeCells = cells.filter((c) => c.kind === 'stores')
  if (storeCells.length > 0) {
    const { markdown, met, total, missed } = report(storeCells)
    console.log(`\n${markdown}\n\n${took}; ${met}/${total} targets met${missed.length ? `; missed: ${missed.join(', ')}` : ''}`)
    if (WRITE) console.log(`wrote ${writeSection('stores', markdown)}`)
  }
  const clusterCells = cells.filter((c) => c.kind === 'cluster')
  if (clusterCells.length > 0) {
    const markdown = clusterReport(clusterCells)
    console.log(`\n${markdown}\n`)
    if (WRITE) console.log(`wrote ${writeSection('stores-cluster', markdown)}`)
  }
  const keyvCells = cells.filter((c) => c.kind === 'keyv')
  if (keyvCells.length > 0) {
    const { markdown, met, total, missed } = keyvReport(keyvCells)
    console.log(`\n${markdown}\n\n${met}/${total} targets met${missed.length ? `; missed: ${missed.join(', ')}` : ''}`)
    if (WRITE) console.log(`wrote ${writeSection('stores-keyv', markdown)}`)
  }
}

await main()
