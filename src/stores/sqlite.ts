/** SQLite store on @keyv/sqlite's connection — the embedded persistent default. */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type KeyvSqlite from '@keyv/sqlite'
import { FlagstoneError } from '../errors.js'
import { DriverStore, resolveBaseOptions } from './driver.js'
import { MAX_SAFE_SQL, type SqlConnection, type SqlDialect, sqlDriver } from './sql.js'
import type { BaseStoreOptions, Store } from './types.js'

export interface SqliteStoreOptions extends BaseStoreOptions {
  /** Database file, or `':memory:'`. Missing parent directories are created. @default './data/flagstone.sqlite' */
  path?: string
  /** An adapter the caller owns (never closed by the store); `path` is then ignored. */
  adapter?: KeyvSqlite
  /** Table for flagstone's entries. @default 'flagstone_store' */
  table?: string
  /** How long a statement waits for another process's write lock, in ms. @default 5000 */
  busyTimeout?: number
}

const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

export const sqliteDialect: SqlDialect = {
  backend: 'sqlite',
  now: `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`,
  incrementable: (v, s) =>
    `CASE WHEN CAST(CAST(CAST(${v} AS TEXT) AS INTEGER) AS TEXT) = CAST(${v} AS TEXT) ` +
    `THEN abs(CAST(CAST(${v} AS TEXT) AS INTEGER) + ${s}) <= ${MAX_SAFE_SQL} ELSE 0 END`,
  add: (v, s) => `CAST(CAST(CAST(CAST(${v} AS TEXT) AS INTEGER) + ${s} AS TEXT) AS BLOB)`,
}

export function checkTable(table: unknown): string {
  if (typeof table !== 'string' || !TABLE.test(table)) {
    throw new FlagstoneError('INVALID_ARGUMENT', `invalid table name ${JSON.stringify(table)}: use [A-Za-z_][A-Za-z0-9_]{0,62}`, {
      details: { field: 'table' },
    })
  }
  return table
}

export async function createSqliteStore(options: SqliteStoreOptions = {}): Promise<Store> {
  const base = resolveBaseOptions(options)
  const table = checkTable(options.table ?? 'flagstone_store')
  const path = options.path ?? './data/flagstone.sqlite'
  const busyTimeout = options.busyTimeout ?? 5000
  let adapter = options.adapter
  const owned = adapter === undefined
  if (adapter === undefined) {
    // Loaded here so that users of other backends never need the native sqlite3 build.
    const { KeyvSqlite } = await import('@keyv/sqlite')
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    adapter = new KeyvSqlite({ uri: `sqlite://${path}`, busyTimeout })
    adapter.on('error', () => undefined) // keyv emits open errors; ours surface on every operation
  }
  const db = adapter
  const init = (async () => {
    if (path !== ':memory:' || !owned) {
      // WAL lets readers and one writer work at once across processes; NORMAL sync in WAL mode
      // still survives a process crash (only an OS crash can lose the last commits).
      await db.query('PRAGMA journal_mode=WAL')
      await db.query('PRAGMA synchronous=NORMAL')
    }
    await db.query(
      `CREATE TABLE IF NOT EXISTS ${table} (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER) WITHOUT ROWID`,
    )
    await db.query(`CREATE INDEX IF NOT EXISTS ${table}_expires_at ON ${table} (expires_at) WHERE expires_at IS NOT NULL`)
  })()
  init.catch(() => undefined) // surfaced by the first operation instead

  const converted = new Map<string, string>()
  const conn: SqlConnection = {
    async query(name, sql, params) {
      await init
      let text = converted.get(name)
      if (text === undefined) {
        text = sql.replace(/\$(\d+)/g, '?$1') // SQLite's numbered parameters are ?N
        converted.set(name, text)
      }
      return (await db.query(text, params)) as Record<string, unknown>[]
    },
    async close() {
      if (!owned) return
      // A database that never opened has nothing to close; its open error was already reported.
      await init.then(
        () => db.disconnect(),
        () => db.disconnect().catch(() => undefined),
      )
    },
  }
  return DriverStore.root(sqlDriver(table, sqliteDialect, conn), base)
}
