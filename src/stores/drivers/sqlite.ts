/** SQLite store — the embedded persistent default — on the sqlite3 driver, or on a caller's @keyv/sqlite adapter. */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Database as SqliteDatabase, Statement as SqliteStatement } from 'sqlite3'
import { DriverStore, resolveBaseOptions } from '../driver.js'
import { Gate } from './gate.js'
import { checkTable, MAX_SAFE_SQL, type SqlConnection, type SqlDialect, sqlDriver } from './sql.js'
import type { BaseStoreOptions, Store } from '../types.js'
import { checkOptions } from '../../internal/objects.js'

export interface SqliteStoreOptions extends BaseStoreOptions {
  /** Database file, or `':memory:'`. Missing parent directories are created. @default './data/flagstone.sqlite' */
  path?: string
  /** A @keyv/sqlite adapter the caller owns (never closed by the store); `path` is then ignored. */
  adapter?: SqliteAdapter
  /** Table for flagstone's entries. @default 'flagstone_store' */
  table?: string
  /** How long a statement waits for another process's write lock, in ms. @default 5000 */
  busyTimeout?: number
}

export const sqliteDialect: SqlDialect = {
  backend: 'sqlite',
  now: `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`,
  incrementable: (v, s) =>
    `CASE WHEN CAST(CAST(CAST(${v} AS TEXT) AS INTEGER) AS TEXT) = CAST(${v} AS TEXT) ` +
    `THEN abs(CAST(CAST(${v} AS TEXT) AS INTEGER) + ${s}) <= ${MAX_SAFE_SQL} ELSE 0 END`,
  add: (v, s) => `CAST(CAST(CAST(CAST(${v} AS TEXT) AS INTEGER) + ${s} AS TEXT) AS BLOB)`,
  keyIn: (p) => `key IN (SELECT value FROM json_each(${p}))`,
  keyList: (keys) => JSON.stringify(keys),
  forUpdate: '', // BEGIN IMMEDIATE already holds the database's write lock
}

/** What the SQL driver needs from a database: statements by name, and DDL. */
interface Database {
  exec(sql: string): Promise<unknown>
  query(name: string, sql: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>
  close(): Promise<void>
}

/**
 * What the store uses of a @keyv/sqlite adapter (a `KeyvSqlite` fits). Structural, so that the
 * published types do not need @keyv/sqlite installed (it is an optional peer).
 */
export interface SqliteAdapter {
  query(sql: string, ...args: unknown[]): Promise<unknown>
}

/** A caller's @keyv/sqlite adapter: statements run through its `query` (prepared on every call). */
function adapterDatabase(adapter: SqliteAdapter): Database {
  return {
    exec: (sql) => adapter.query(sql),
    query: async (_name, sql, params) => (await adapter.query(sql, params)) as Record<string, unknown>[],
    close: async () => undefined, // the caller owns it
  }
}

/** Statements of one name that may run at once: sqlite3 runs one call at a time per statement. */
const STATEMENTS_PER_NAME = 4

/**
 * A database flagstone opens itself, with the sqlite3 driver @keyv/sqlite is built on. @keyv/sqlite
 * offers no handle to its database, so it re-parses and re-plans every statement on every call;
 * reusing prepared statements here costs 2-4x less CPU per operation (benchmarks/stores.ts).
 */
async function openDatabase(path: string, busyTimeout: number): Promise<Database> {
  const sqlite3 = (await import('sqlite3')).default
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = await new Promise<SqliteDatabase>((resolve, reject) => {
    const opened: SqliteDatabase = new sqlite3.Database(path, (error) => (error ? reject(error) : resolve(opened)))
  })
  db.configure('busyTimeout', busyTimeout)
  const statements = new Map<string, { pool: SqliteStatement[]; next: number }>()
  const statement = (name: string, sql: string) => {
    let entry = statements.get(name)
    if (entry === undefined) {
      entry = { pool: [], next: 0 }
      statements.set(name, entry)
    }
    if (entry.pool.length < STATEMENTS_PER_NAME) {
      const prepared = db.prepare(sql)
      entry.pool.push(prepared)
      return prepared
    }
    return entry.pool[entry.next++ % entry.pool.length] as SqliteStatement
  }
  return {
    exec: (sql) => new Promise((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve(undefined)))),
    query: (name, sql, params) =>
      new Promise((resolve, reject) => {
        statement(name, sql).all(params, (error: Error | null, rows: Record<string, unknown>[]) =>
          error ? reject(error) : resolve(rows),
        )
      }),
    async close() {
      const all = [...statements.values()].flatMap((e) => e.pool)
      statements.clear()
      await Promise.all(all.map((s) => new Promise((resolve) => s.finalize(() => resolve(undefined)))))
      await new Promise<void>((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())))
    },
  }
}

export async function createSqliteStore(options: SqliteStoreOptions = {}): Promise<Store> {
  checkOptions(options, 'createSqliteStore()')
  const base = resolveBaseOptions(options)
  const table = checkTable(options.table ?? 'flagstone_store')
  const path = options.path ?? './data/flagstone.sqlite'
  const busyTimeout = options.busyTimeout ?? 5000
  const database = (async () => {
    const db = options.adapter === undefined ? await openDatabase(path, busyTimeout) : adapterDatabase(options.adapter)
    if (path !== ':memory:' || options.adapter !== undefined) {
      // WAL lets readers and one writer work at once across processes; NORMAL sync in WAL mode
      // still survives a process crash (only an OS crash can lose the last commits).
      await db.exec('PRAGMA journal_mode=WAL')
      await db.exec('PRAGMA synchronous=NORMAL')
    }
    await db.exec(
      `CREATE TABLE IF NOT EXISTS ${table} (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER) WITHOUT ROWID`,
    )
    await db.exec(`CREATE INDEX IF NOT EXISTS ${table}_expires_at ON ${table} (expires_at) WHERE expires_at IS NOT NULL`)
    return db
  })()
  database.catch(() => undefined) // an open error is reported by every operation instead

  const converted = new Map<string, string>()
  const query = async (name: string, sql: string, params: readonly unknown[]) => {
    const db = await database
    let text = converted.get(name)
    if (text === undefined) {
      text = sql.replace(/\$(\d+)/g, '?$1') // SQLite's numbered parameters are ?N
      converted.set(name, text)
    }
    return db.query(name, text, params)
  }
  const gate = new Gate()
  const conn: SqlConnection = {
    query: (name, sql, params) => gate.shared(() => query(name, sql, params)),
    transaction: (work) =>
      gate.exclusive(async () => {
        const db = await database
        // IMMEDIATE takes the write lock now (waiting up to busyTimeout for another process), so
        // the checks read what the writes will be applied to.
        await db.exec('BEGIN IMMEDIATE')
        const rollback = () => db.exec('ROLLBACK').catch(() => undefined)
        try {
          if (!(await work(query))) {
            await rollback()
            return false
          }
          await db.exec('COMMIT')
          return true
        } catch (error) {
          await rollback() // never leave the connection inside a transaction
          throw error
        }
      }),
    async close() {
      // A database that never opened has nothing to close; its open error was already reported.
      const db = await database.catch(() => undefined)
      await db?.close()
    },
  }
  return DriverStore.root(sqlDriver(table, sqliteDialect, conn), base)
}
