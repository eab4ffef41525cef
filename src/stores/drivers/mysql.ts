/**
 * MySQL / MariaDB store on mysql2 (the driver @keyv/mysql is built on), with a pool each store owns.
 *
 * Why not @keyv/mysql's own pool: it keeps one module-global pool per process (a second URL silently
 * replaces it, `endPool()` ends it under every other adapter) and its constructor creates keyv's
 * `keyv (id VARCHAR(255), value TEXT)` table in the user's database, which cannot hold 1 KiB keys,
 * bytes or an indexed expiry.
 *
 * flagstone's table: `key VARBINARY(3072)` (binary collation: byte order, no padding, no case
 * folding, so a namespace is a key range and no `LIKE` is ever used), `value LONGBLOB`, an indexed
 * `expires_at` in epoch ms on the server's clock (sessions run in UTC). MySQL has no `RETURNING`, so
 * the atomic operations are single upserts whose outcome is read from the affected-row count (the
 * pool turns CLIENT_FOUND_ROWS off: 0 = unchanged, 1 = inserted, 2 = updated) or, for `increment`,
 * from session variables set inside the same upsert statement.
 */
import { createHash } from 'node:crypto'
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise'
import { FlagstoneError } from '../../errors.js'
import { asBuffer, bytesEqual, counterError, parseCounter } from '../bytes.js'
import { type Driver, type DriverCheck, type DriverWrite, DriverStore, resolveBaseOptions } from '../driver.js'
import { type KeySpace, prefixEnd } from '../keys.js'
import type { BaseStoreOptions, Store } from '../types.js'
import { checkTable, MAX_SAFE_SQL } from './sql.js'
import { checkOptions } from '../../internal/objects.js'

export interface MysqlStoreOptions extends BaseStoreOptions {
  /** Connection string, e.g. `mysql://root@127.0.0.1:3306/test`. */
  url?: string
  /** Table for flagstone's entries. @default 'flagstone_store' */
  table?: string
  /** Pool size when the store makes its own pool. @default 10 */
  max?: number
  /** How long to wait for a connection before failing with `STORE_UNAVAILABLE`, in ms. @default 5000 */
  connectTimeout?: number
}

/** InnoDB's longest index key: the physical key (root, namespaces and key) must fit. */
const MAX_PHYSICAL_KEY_BYTES = 3072
/** Room for the statement text and protocol headers next to a value in one packet. */
const PACKET_SLACK = 64 * 1024
const PAGE = 500
const NOW = 'CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)'
const LIVE = `(expires_at IS NULL OR expires_at > ${NOW})`
const DEAD = `(expires_at IS NOT NULL AND expires_at <= ${NOW})`
const IN_SPACE = '((`key` >= ? AND `key` < ?) OR (`key` >= ? AND `key` < ?))'
const INTEGER = `value REGEXP '^(0|-?[1-9][0-9]{0,15})$'`

function statements(t: string) {
  // In ON DUPLICATE KEY UPDATE, assignments run left to right and later ones see earlier results:
  // `value` is assigned first, so both assignments test the row's old `expires_at`.
  return {
    ddl: [
      `CREATE TABLE IF NOT EXISTS ${t} (\`key\` VARBINARY(${MAX_PHYSICAL_KEY_BYTES}) NOT NULL PRIMARY KEY, ` +
        `value LONGBLOB NOT NULL, expires_at BIGINT NULL, INDEX expires_at (expires_at)) ENGINE=InnoDB`,
    ],
    get: `SELECT value FROM ${t} WHERE \`key\` = ? AND ${LIVE}`,
    renew: `UPDATE ${t} SET expires_at = ${NOW} + ? WHERE \`key\` = ? AND expires_at IS NOT NULL AND expires_at > ${NOW}`,
    set:
      `INSERT INTO ${t} (\`key\`, value, expires_at) VALUES (?, ?, ${NOW} + ?) ` +
      `ON DUPLICATE KEY UPDATE value = VALUES(value), expires_at = VALUES(expires_at)`,
    delete: `DELETE FROM ${t} WHERE \`key\` = ?`,
    exists: `SELECT 1 AS ok FROM ${t} WHERE \`key\` = ? AND ${LIVE}`,
    ttl: `SELECT expires_at - ${NOW} AS remaining, expires_at IS NULL AS forever FROM ${t} WHERE \`key\` = ? AND ${LIVE}`,
    deleteSpace: `DELETE FROM ${t} WHERE ${IN_SPACE}`,
    deleteExpired: `DELETE FROM ${t} WHERE ${IN_SPACE} AND expires_at <= ${NOW}`,
    scan: `SELECT \`key\` FROM ${t} WHERE \`key\` >= ? AND \`key\` < ? AND \`key\` > ? AND ${LIVE} ORDER BY \`key\` LIMIT ${PAGE}`,
    // Three statements in one round trip; only the upsert writes, so it alone is the atomic step.
    // The session variables carry its outcome: @fs_ok = 0 (not a counter), @fs_v = the new value,
    // NULL when the row was inserted (the new value is then the step itself).
    increment:
      `SET @fs_ok = 1, @fs_v = NULL; ` +
      `INSERT INTO ${t} (\`key\`, value, expires_at) VALUES (?, ?, ${NOW} + ?) ON DUPLICATE KEY UPDATE ` +
      `value = IF(${DEAD}, @fs_v := VALUES(value), IF(@fs_ok := (${INTEGER} AND ` +
      `ABS(CAST(value AS DECIMAL(20,0)) + ?) <= ${MAX_SAFE_SQL}), @fs_v := CAST(CAST(value AS SIGNED) + ? AS CHAR), value)), ` +
      `expires_at = IF(${DEAD}, VALUES(expires_at), expires_at); ` +
      `SELECT @fs_ok AS ok, @fs_v AS v`,
    insertIfAbsent:
      `INSERT INTO ${t} (\`key\`, value, expires_at) VALUES (?, ?, ${NOW} + ?) ON DUPLICATE KEY UPDATE ` +
      `value = IF(${DEAD}, VALUES(value), value), expires_at = IF(${DEAD}, VALUES(expires_at), expires_at)`,
    replaceIfEqual: `UPDATE ${t} SET value = ?, expires_at = ${NOW} + ? WHERE \`key\` = ? AND value = ? AND ${LIVE}`,
    holds: `SELECT 1 AS ok FROM ${t} WHERE \`key\` = ? AND value = ? AND ${LIVE}`,
    // Text protocol (`IN (?)` expands an array there, not in a prepared statement).
    getMany: `SELECT \`key\`, value FROM ${t} WHERE \`key\` IN (?) AND ${LIVE}`,
    entries: `SELECT \`key\`, value FROM ${t} WHERE \`key\` >= ? AND \`key\` < ? AND \`key\` > ? AND ${LIVE} ORDER BY \`key\` LIMIT ?`,
    checkRead: `SELECT \`key\`, value FROM ${t} WHERE \`key\` IN (?) AND ${LIVE} FOR UPDATE`,
  }
}

type Param = string | number | Buffer | null

export async function createMysqlStore(options: MysqlStoreOptions = {}): Promise<Store> {
  checkOptions(options, 'createMysqlStore()')
  const base = resolveBaseOptions(options)
  const table = `\`${checkTable(options.table ?? 'flagstone_store')}\``
  const q = statements(table)
  // No caller-supplied pool: the upserts rely on this pool's flags and UTC sessions.
  const pool = await ownPool(options)

  let ready: Promise<number> | undefined
  /** Creates the table once and learns the server's packet limit; after a failure the next call tries again. */
  const prepare = () =>
    (ready ??= (async () => {
      for (const ddl of q.ddl) await pool.query(ddl)
      const [rows] = await pool.query<RowDataPacket[]>('SELECT @@max_allowed_packet AS packet')
      return Number(rows[0]?.packet)
    })().catch((error: unknown) => {
      ready = undefined
      throw error
    }))
  const rows = async (sql: string, params: Param[]) => {
    await prepare()
    return (await pool.execute<RowDataPacket[]>(sql, params))[0]
  }
  const write = async (sql: string, params: Param[]) => {
    await prepare()
    return (await pool.execute<ResultSetHeader>(sql, params))[0].affectedRows
  }
  /** A value the server would refuse mid-statement (and drop the connection for) is refused here first. */
  const fits = async (key: Buffer, value: Buffer) => {
    const packet = await prepare()
    if (value.byteLength + key.byteLength + PACKET_SLACK > packet) {
      throw new FlagstoneError(
        'VALUE_TOO_LARGE',
        `value has ${value.byteLength} bytes, more than the MySQL server accepts in one packet (max_allowed_packet = ${packet}): ` +
          'raise max_allowed_packet on the server or lower maxValueBytes',
        { details: { field: 'value', size: value.byteLength, limit: packet - PACKET_SLACK } },
      )
    }
  }
  const k = (key: string) => {
    const bytes = Buffer.from(key, 'utf8')
    if (bytes.byteLength > MAX_PHYSICAL_KEY_BYTES) {
      throw new FlagstoneError(
        'INVALID_ARGUMENT',
        `key with its namespaces is longer than ${MAX_PHYSICAL_KEY_BYTES} bytes: ${key.slice(0, 60)}…`,
        {
          details: { field: 'key' },
        },
      )
    }
    return bytes
  }
  const value = (found: RowDataPacket[]): Buffer | null => {
    const row = found[0]
    return row === undefined ? null : asBuffer(row.value as Uint8Array)
  }
  const space = (s: KeySpace) => [s.own, prefixEnd(s.own), s.children, prefixEnd(s.children)].map((p) => Buffer.from(p, 'utf8'))

  const driver: Driver = {
    backend: 'mysql',
    async get(key) {
      return value(await rows(q.get, [k(key)]))
    },
    async getAndRenew(key, ttlMs) {
      // The UPDATE only touches a live row with an expiry, so a concurrent delete wins: no resurrection.
      const physical = k(key)
      await write(q.renew, [ttlMs, physical])
      return value(await rows(q.get, [physical]))
    },
    async set(key, bytes, ttlMs) {
      const physical = k(key)
      await fits(physical, bytes)
      await write(q.set, [physical, bytes, ttlMs ?? null])
    },
    async delete(key) {
      await write(q.delete, [k(key)])
    },
    async exists(key) {
      return (await rows(q.exists, [k(key)])).length > 0
    },
    async ttl(key) {
      const row = (await rows(q.ttl, [k(key)]))[0]
      if (row === undefined) return null
      if (Number(row.forever) === 1) return Infinity
      return Math.max(1, Number(row.remaining))
    },
    async deleteSpace(s) {
      await write(q.deleteSpace, space(s))
    },
    async deleteExpired(s) {
      return write(q.deleteExpired, space(s))
    },
    async *scan(prefix) {
      // Keys of one namespace are one contiguous range in byte order, so stop at the first miss.
      const end = Buffer.from(prefixEnd(prefix.slice(0, prefix.indexOf('/') + 1)), 'utf8')
      let after: Buffer = Buffer.alloc(0)
      while (true) {
        const page = await rows(q.scan, [Buffer.from(prefix, 'utf8'), end, after])
        for (const row of page) {
          const key = asBuffer(row.key as Uint8Array).toString('utf8')
          if (!key.startsWith(prefix)) return
          yield key
        }
        if (page.length < PAGE) return
        after = asBuffer(page[page.length - 1]?.key as Uint8Array)
      }
    },
    async increment(key, by, ttlMs, label) {
      await prepare()
      // Text protocol (several statements): the parameters are a key and two numbers, never a large value.
      const [results] = await pool.query<RowDataPacket[][]>(q.increment, [k(key), String(by), ttlMs ?? null, by, by])
      const outcome = results[2]?.[0]
      if (outcome === undefined || Number(outcome.ok) !== 1) throw counterError(label)
      return outcome.v === null ? by : parseCounter(Buffer.from(outcome.v as string | Uint8Array), label)
    },
    async compareAndSet(key, expected, bytes, ttlMs) {
      const physical = k(key)
      await fits(physical, bytes)
      if (expected === null) return (await write(q.insertIfAbsent, [physical, bytes, ttlMs ?? null])) > 0
      if ((await write(q.replaceIfEqual, [bytes, ttlMs ?? null, physical, expected])) > 0) return true
      // 0 changed rows is also what a matching write that changes nothing reports (same bytes, same
      // expiry): that write is a no-op, so it succeeded if the row still holds those bytes.
      return bytes.equals(expected) && (await rows(q.holds, [physical, expected])).length > 0
    },
    async getMany(keys) {
      await prepare()
      const [found] = await pool.query<RowDataPacket[]>(q.getMany, [[...new Set(keys)].map(k)])
      const byKey = new Map(
        found.map((row) => [asBuffer(row.key as Uint8Array).toString('utf8'), asBuffer(row.value as Uint8Array)]),
      )
      return keys.map((key) => byKey.get(key) ?? null)
    },
    async entries(prefix, limit, cursor) {
      await prepare()
      const end = Buffer.from(prefixEnd(prefix.slice(0, prefix.indexOf('/') + 1)), 'utf8')
      const after = Buffer.from(cursor ?? '', 'utf8')
      const [page] = await pool.query<RowDataPacket[]>(q.entries, [Buffer.from(prefix, 'utf8'), end, after, limit + 1])
      const entries: Array<[string, Uint8Array]> = []
      for (const row of page) {
        const key = asBuffer(row.key as Uint8Array).toString('utf8')
        if (!key.startsWith(prefix)) return { entries, cursor: null }
        if (entries.length === limit) return { entries, cursor: entries[limit - 1]?.[0] ?? null }
        entries.push([key, asBuffer(row.value as Uint8Array)])
      }
      return { entries, cursor: null }
    },
    async atomic(writes, checks) {
      await prepare()
      for (const w of writes) if (w.op === 'set') await fits(k(w.key), w.value)
      const connection = await pool.getConnection()
      try {
        return await atomicOn(connection, writes, checks)
      } finally {
        await connection.query('SELECT RELEASE_ALL_LOCKS()').catch(() => undefined)
        connection.release()
      }
    },
    async close() {
      await pool.end()
    },
  }

  /**
   * Named locks (taken in key order, so two atomics never deadlock) serialise atomics on the same
   * keys, including checked keys without a row; READ COMMITTED with FOR UPDATE locks the rows
   * that exist without gap locks. Writes to keys checked as absent are conditional inserts.
   */
  async function atomicOn(connection: PoolConnection, writes: readonly DriverWrite[], checks: readonly DriverCheck[]) {
    const keys = [...new Set([...writes.map((w) => w.key), ...checks.map((c) => c.key)])].sort()
    const wait = Math.max(1, Math.ceil(base.operationTimeout / 1000))
    const locks = keys.map((key) => `GET_LOCK('fs:${createHash('sha1').update(key).digest('hex')}', ${wait})`).join(', ')
    await connection.query(`SELECT ${locks}`)
    await connection.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED')
    await connection.beginTransaction()
    try {
      const applied = await checkAndWrite(connection, writes, checks)
      if (applied) await connection.commit()
      else await connection.rollback()
      return applied
    } catch (error) {
      await connection.rollback().catch(() => undefined)
      throw error
    }
  }

  async function checkAndWrite(connection: PoolConnection, writes: readonly DriverWrite[], checks: readonly DriverCheck[]) {
    const expected = new Map(checks.map((c) => [c.key, c.expected]))
    if (checks.length > 0) {
      const [found] = await connection.query<RowDataPacket[]>(q.checkRead, [checks.map((c) => k(c.key))])
      const live = new Map(
        found.map((row) => [asBuffer(row.key as Uint8Array).toString('utf8'), asBuffer(row.value as Uint8Array)]),
      )
      for (const c of checks) {
        const v = live.get(c.key)
        if (c.expected === null ? v !== undefined : v === undefined || !bytesEqual(v, c.expected)) return false
      }
    }
    for (const w of writes) {
      const physical = k(w.key)
      if (w.op === 'delete') {
        await connection.execute(q.delete, [physical])
      } else if (w.op === 'set') {
        const ttl = w.ttlMs ?? null
        if (expected.get(w.key) === null) {
          const [result] = await connection.execute<ResultSetHeader>(q.insertIfAbsent, [physical, w.value, ttl])
          if (result.affectedRows === 0) return false
        } else {
          await connection.execute(q.set, [physical, w.value, ttl])
        }
      } else {
        const [results] = await connection.query<RowDataPacket[][]>(q.increment, [
          physical,
          String(w.by),
          w.ttlMs ?? null,
          w.by,
          w.by,
        ])
        if (Number(results[2]?.[0]?.ok) !== 1) throw counterError(w.label)
      }
    }
    return true
  }
  return DriverStore.root(driver, base)
}

async function ownPool(options: MysqlStoreOptions): Promise<Pool> {
  const mysql = (await import('mysql2/promise')).default
  const config: PoolOptions = {
    uri: options.url ?? 'mysql://root@127.0.0.1:3306/test',
    connectionLimit: options.max ?? 10,
    connectTimeout: options.connectTimeout ?? 5000,
    flags: ['-FOUND_ROWS'], // affected rows = changed rows: how the upserts report what they did
    multipleStatements: true, // increment's three statements; every statement here is a constant
    supportBigNumbers: true,
  }
  const pool = mysql.createPool(config)
  // Expiry is epoch ms from the server's NOW(): a UTC session makes that exact across DST changes.
  pool.pool.on('connection', (connection) => connection.query("SET time_zone = '+00:00'"))
  return pool
}
