import pg from 'pg'
import { describe } from 'vitest'
import { createStore } from '../../../src/index.js'
import { DATABASE_URL, serviceAvailable } from '../../helpers/services.js'
import { CONFORMANCE_TIMEOUT, type RawAccess, testStore } from '../../../src/testing/index.js'

async function raw(): Promise<RawAccess> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
  const q = async (sql: string, params: unknown[]) => (await pool.query(sql, params)).rows as Record<string, unknown>[]
  return {
    write: async (key, value) =>
      void (await q(
        `INSERT INTO flagstone_store (key, value) VALUES ($1, convert_to($2, 'UTF8')) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [key, value],
      )),
    read: async (key) => {
      const row = (await q(`SELECT convert_from(value, 'UTF8') AS v FROM flagstone_store WHERE key = $1`, [key]))[0]
      return row === undefined ? null : String(row.v)
    },
    count: async (prefix) =>
      Number((await q('SELECT count(*) AS n FROM flagstone_store WHERE left(key, $1) = $2', [prefix.length, prefix]))[0]?.n),
    delete: async (key) => void (await q('DELETE FROM flagstone_store WHERE key = $1', [key])),
    close: () => pool.end(),
  }
}

describe.runIf(await serviceAvailable('PostgreSQL', DATABASE_URL))('postgres', () => {
  testStore('postgres', (namespace) => createStore(DATABASE_URL, { namespace, operationTimeout: CONFORMANCE_TIMEOUT }), {
    url: DATABASE_URL,
    raw,
    unreachable: () => createStore('postgresql://postgres@127.0.0.1:1/test', { namespace: 'down', connectTimeout: 1_000 }),
    expectCapabilities: {
      backend: 'postgres',
      shared: true,
      atomic: 'processes',
      renewOnRead: 'atomic',
      listKeys: true,
      push: 'processes',
      atomicWrites: true,
    },
  })
})
