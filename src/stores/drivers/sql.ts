/**
 * The SQL driver shared by SQLite and PostgreSQL: one table `(key, value, expires_at)` with the
 * key in byte order (BINARY on SQLite, `COLLATE "C"` on Postgres), so a namespace is a key range
 * — no `LIKE`, no wildcard or case-folding surprises. Every operation is one statement, so each is
 * atomic across processes; expiry uses the database's own clock.
 */
import { FlagstoneError } from '../../errors.js'
import { asBuffer, bytesEqual, counterBytes, counterError, parseCounter } from '../bytes.js'
import type { Driver, DriverCheck, DriverWrite } from '../driver.js'
import { type KeySpace, prefixEnd } from '../keys.js'

export interface SqlDialect {
  readonly backend: 'sqlite' | 'postgres'
  /** SQL expression for the current time in epoch ms. */
  readonly now: string
  /** SQL boolean: the bytes value `v` is a decimal integer whose sum with the step `$s` stays a safe integer. */
  incrementable(v: string, s: string): string
  /** SQL expression: bytes `v` plus integer `s`, as the decimal string's bytes. */
  add(v: string, s: string): string
  /** SQL boolean: `key` is one of the keys in the list parameter `p` (bound with `keyList`). */
  keyIn(p: string): string
  /** The list parameter for `keyIn`. */
  keyList(keys: readonly string[]): unknown
  /** Appended to the check read of `atomic`: row locks held to the commit (`' FOR UPDATE'` on Postgres). */
  readonly forUpdate: string
  /**
   * A statement taking transaction-scoped locks on the keys of an `atomic` (parameter `$1`: the
   * `keyList` of the sorted keys), so two atomics on overlapping keys run one after the other even
   * where a checked key has no row to lock. Absent where the transaction locks the whole database (SQLite).
   */
  readonly lockKeys?: string
  /**
   * A FROM item of rows `x(k, v, t)` (key, value bytes, ttl ms or null) from three array
   * parameters, so one statement writes many rows (an `atomic` with many writes is then a few
   * statements, not one per write). Absent where statements are in-process calls anyway (SQLite).
   */
  manyRows?(keys: string, values: string, ttls: string): string
}

export type SqlQuery = (name: string, sql: string, params: readonly unknown[]) => Promise<Record<string, unknown>[]>

export interface SqlConnection {
  /** Runs one statement with `$1…$n` parameters and returns its rows. `name` allows statement caching. */
  query: SqlQuery
  /**
   * Runs `work` in one transaction on one connection: commits when it resolves `true`, rolls back
   * when it resolves `false` or throws. No other statement of this store runs inside it.
   */
  transaction(work: (query: SqlQuery) => Promise<boolean>): Promise<boolean>
  close(): Promise<void>
}

const PAGE = 500
/** `Number.MAX_SAFE_INTEGER` as SQL text, for the dialects' range checks. */
export const MAX_SAFE_SQL = '9007199254740991'
/** An identifier both dialects accept unquoted (Postgres stops at 63 bytes), so it is safe to splice into SQL. */
const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/** Validates a table (or schema) name before it is spliced into statements. */
export function checkTable(table: unknown): string {
  if (typeof table !== 'string' || !TABLE.test(table)) {
    throw new FlagstoneError('INVALID_ARGUMENT', `invalid table name ${JSON.stringify(table)}: use [A-Za-z_][A-Za-z0-9_]{0,62}`, {
      details: { field: 'table' },
    })
  }
  return table
}

type Statement = keyof ReturnType<typeof statements> | 'lockKeys' | 'setMany' | 'insertManyIfAbsent'

function statements(table: string, dialect: SqlDialect) {
  const NOW = dialect.now
  const LIVE = `(expires_at IS NULL OR expires_at > ${NOW})`
  const DEAD = (t: string) => `(${t}.expires_at IS NOT NULL AND ${t}.expires_at <= ${NOW})`
  const IN_SPACE = `((key >= $1 AND key < $2) OR (key >= $3 AND key < $4))`
  return {
    get: `SELECT value FROM ${table} WHERE key = $1 AND ${LIVE}`,
    renew: `UPDATE ${table} SET expires_at = ${NOW} + $2 WHERE key = $1 AND expires_at IS NOT NULL AND expires_at > ${NOW} RETURNING value`,
    getPermanent: `SELECT value FROM ${table} WHERE key = $1 AND expires_at IS NULL`,
    set:
      `INSERT INTO ${table} (key, value, expires_at) VALUES ($1, $2, ${NOW} + $3) ` +
      `ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    delete: `DELETE FROM ${table} WHERE key = $1`,
    ttl: `SELECT expires_at - ${NOW} AS remaining, expires_at IS NULL AS forever FROM ${table} WHERE key = $1 AND ${LIVE}`,
    deleteSpace: `DELETE FROM ${table} WHERE ${IN_SPACE}`,
    deleteExpired: `DELETE FROM ${table} WHERE ${IN_SPACE} AND expires_at <= ${NOW} RETURNING key`,
    scan: `SELECT key FROM ${table} WHERE key >= $1 AND key < $2 AND key > $3 AND ${LIVE} ORDER BY key LIMIT ${PAGE}`,
    getMany: `SELECT key, value FROM ${table} WHERE ${dialect.keyIn('$1')} AND ${LIVE}`,
    entries: `SELECT key, value FROM ${table} WHERE key >= $1 AND key < $2 AND key > $3 AND ${LIVE} ORDER BY key LIMIT $4`,
    checkRead: `SELECT key, value FROM ${table} WHERE ${dialect.keyIn('$1')} AND ${LIVE}${dialect.forUpdate}`,
    ...(dialect.lockKeys === undefined ? {} : { lockKeys: dialect.lockKeys }),
    deleteMany: `DELETE FROM ${table} WHERE ${dialect.keyIn('$1')}`,
    ...(dialect.manyRows === undefined
      ? {}
      : {
          setMany:
            `INSERT INTO ${table} (key, value, expires_at) SELECT x.k, x.v, ${NOW} + x.t FROM ${dialect.manyRows('$1', '$2', '$3')} ` +
            `ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
          insertManyIfAbsent:
            `INSERT INTO ${table} AS t (key, value, expires_at) SELECT x.k, x.v, ${NOW} + x.t FROM ${dialect.manyRows('$1', '$2', '$3')} ` +
            `ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at WHERE ${DEAD('t')} ` +
            `RETURNING 1 AS ok`,
        }),
    increment:
      `INSERT INTO ${table} AS t (key, value, expires_at) VALUES ($1, $2, ${NOW} + $3) ` +
      `ON CONFLICT (key) DO UPDATE SET ` +
      `value = CASE WHEN ${DEAD('t')} THEN excluded.value ELSE ${dialect.add('t.value', '$4')} END, ` +
      `expires_at = CASE WHEN ${DEAD('t')} THEN excluded.expires_at ELSE t.expires_at END ` +
      `WHERE CASE WHEN ${DEAD('t')} THEN TRUE ELSE ${dialect.incrementable('t.value', '$4')} END ` +
      `RETURNING value`,
    insertIfAbsent:
      `INSERT INTO ${table} AS t (key, value, expires_at) VALUES ($1, $2, ${NOW} + $3) ` +
      `ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at WHERE ${DEAD('t')} ` +
      `RETURNING 1 AS ok`,
    replaceIfEqual: `UPDATE ${table} SET value = $2, expires_at = ${NOW} + $3 WHERE key = $1 AND value = $4 AND ${LIVE} RETURNING 1 AS ok`,
  }
}

export function sqlDriver(table: string, dialect: SqlDialect, conn: SqlConnection): Driver {
  const q = statements(table, dialect) as Record<Statement, string>
  const run = (name: Statement, params: readonly unknown[], query: SqlQuery = conn.query) =>
    query(`${table}_${name}`, q[name], params)
  const spaceParams = (space: KeySpace) => [space.own, prefixEnd(space.own), space.children, prefixEnd(space.children)]
  const value = (rows: Record<string, unknown>[]): Uint8Array | null => {
    const row = rows[0]
    return row === undefined ? null : asBuffer(row.value as Uint8Array)
  }

  return {
    backend: dialect.backend,
    async get(key) {
      return value(await run('get', [key]))
    },
    async getAndRenew(key, ttlMs) {
      // Renewing in the same statement that reads means a concurrent delete wins: no resurrection.
      const renewed = value(await run('renew', [key, ttlMs]))
      return renewed ?? value(await run('getPermanent', [key]))
    },
    async set(key, bytes, ttlMs) {
      await run('set', [key, bytes, ttlMs ?? null])
    },
    async delete(key) {
      await run('delete', [key])
    },
    async exists(key) {
      return (await run('get', [key])).length > 0
    },
    async ttl(key) {
      const row = (await run('ttl', [key]))[0]
      if (row === undefined) return null
      if (row.forever === true || row.forever === 1) return Infinity
      return Math.max(1, Number(row.remaining))
    },
    async deleteSpace(space) {
      await run('deleteSpace', spaceParams(space))
    },
    async deleteExpired(space) {
      return (await run('deleteExpired', spaceParams(space))).length
    },
    async *scan(prefix) {
      // Keys of one namespace are one contiguous range in byte order, so stop at the first miss.
      const end = prefixEnd(prefix.slice(0, prefix.indexOf('/') + 1))
      let after = ''
      while (true) {
        const rows = await run('scan', [prefix, end, after])
        for (const row of rows) {
          const key = String(row.key)
          if (!key.startsWith(prefix)) return
          yield key
        }
        if (rows.length < PAGE) return
        after = String(rows[rows.length - 1]?.key)
      }
    },
    async getMany(keys) {
      const found = new Map<string, Uint8Array>()
      for (const row of await run('getMany', [dialect.keyList([...new Set(keys)])])) {
        found.set(String(row.key), asBuffer(row.value as Uint8Array))
      }
      return keys.map((key) => found.get(key) ?? null)
    },
    async entries(prefix, limit, cursor) {
      const end = prefixEnd(prefix.slice(0, prefix.indexOf('/') + 1))
      // One row past the page says whether there is a next one.
      const rows = await run('entries', [prefix, end, cursor ?? '', limit + 1])
      const entries: Array<[string, Uint8Array]> = []
      for (const row of rows) {
        const key = String(row.key)
        if (!key.startsWith(prefix)) return { entries, cursor: null } // past the prefix in byte order
        if (entries.length === limit) return { entries, cursor: entries[limit - 1]?.[0] ?? null }
        entries.push([key, asBuffer(row.value as Uint8Array)])
      }
      return { entries, cursor: null }
    },
    atomic: (writes, checks) => conn.transaction((query) => atomicInTransaction(query, writes, checks)),
    async increment(key, by, ttlMs, label) {
      const rows = await run('increment', [key, counterBytes(by), ttlMs ?? null, by])
      const bytes = value(rows)
      if (bytes === null) throw counterError(label) // the upsert's WHERE refused the stored value
      return parseCounter(bytes, label)
    },
    async compareAndSet(key, expected, bytes, ttlMs) {
      const rows =
        expected === null
          ? await run('insertIfAbsent', [key, bytes, ttlMs ?? null])
          : await run('replaceIfEqual', [key, bytes, ttlMs ?? null, expected])
      return rows.length > 0
    },
    close: () => conn.close(),
  }

  /**
   * Locks, checks, then writes. A write to a key checked as absent is a conditional insert and one
   * to a key checked for a value finds its row locked by the check read, so a plain `set` from
   * another connection in between cannot be overwritten unseen; any miss rolls everything back.
   */
  async function atomicInTransaction(query: SqlQuery, writes: readonly DriverWrite[], checks: readonly DriverCheck[]) {
    const keys = [...new Set([...writes.map((w) => w.key), ...checks.map((c) => c.key)])].sort()
    if (q.lockKeys !== undefined) await run('lockKeys', [dialect.keyList(keys)], query)
    const expected = new Map(checks.map((c) => [c.key, c.expected]))
    if (checks.length > 0) {
      const live = new Map<string, Uint8Array>()
      const rows = await run('checkRead', [dialect.keyList(checks.map((c) => c.key))], query)
      for (const row of rows) live.set(String(row.key), asBuffer(row.value as Uint8Array))
      for (const check of checks) {
        const value = live.get(check.key)
        if (check.expected === null ? value !== undefined : value === undefined || !bytesEqual(value, check.expected))
          return false
      }
    }
    // Each key is written at most once, so the writes may run grouped by kind in any order.
    const deletes = writes.filter((w) => w.op === 'delete').map((w) => w.key)
    if (deletes.length > 1) await run('deleteMany', [dialect.keyList(deletes)], query)
    else if (deletes.length === 1) await run('delete', [deletes[0]], query)
    const sets = writes.filter((w): w is Extract<DriverWrite, { op: 'set' }> => w.op === 'set')
    const inserts = sets.filter((w) => expected.get(w.key) === null)
    const replaces = sets.filter((w) => expected.get(w.key) !== null)
    const rows = (ws: readonly Extract<DriverWrite, { op: 'set' }>[]) => [
      ws.map((w) => w.key),
      ws.map((w) => w.value),
      ws.map((w) => w.ttlMs ?? null),
    ]
    if (q.setMany !== undefined && replaces.length > 1) await run('setMany', rows(replaces), query)
    else for (const w of replaces) await run('set', [w.key, w.value, w.ttlMs ?? null], query)
    if (q.insertManyIfAbsent !== undefined && inserts.length > 1) {
      if ((await run('insertManyIfAbsent', rows(inserts), query)).length !== inserts.length) return false
    } else {
      for (const w of inserts) {
        if ((await run('insertIfAbsent', [w.key, w.value, w.ttlMs ?? null], query)).length === 0) return false
      }
    }
    for (const w of writes) {
      if (
        w.op === 'increment' &&
        value(await run('increment', [w.key, counterBytes(w.by), w.ttlMs ?? null, w.by], query)) === null
      ) {
        throw counterError(w.label)
      }
    }
    return true
  }
}
