import mysql from 'mysql2/promise'
import { describe } from 'vitest'
import { createStore } from '../../../src/index.js'
import { MYSQL_URL, serviceAvailable } from '../../helpers/services.js'
import { CONFORMANCE_TIMEOUT, type RawAccess, testStore } from '../../../src/testing/index.js'

async function raw(): Promise<RawAccess> {
  const pool = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 2 })
  const q = async (sql: string, params: unknown[]) => (await pool.query(sql, params))[0] as Record<string, unknown>[]
  const key = (k: string) => Buffer.from(k, 'utf8')
  return {
    write: async (k, value) =>
      void (await q('INSERT INTO flagstone_store (`key`, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)', [
        key(k),
        Buffer.from(value),
      ])),
    read: async (k) => {
      const row = (await q('SELECT value FROM flagstone_store WHERE `key` = ?', [key(k)]))[0]
      return row === undefined ? null : Buffer.from(row.value as Uint8Array).toString('utf8')
    },
    count: async (prefix) =>
      Number(
        (await q('SELECT count(*) AS n FROM flagstone_store WHERE LEFT(`key`, ?) = ?', [key(prefix).length, key(prefix)]))[0]?.n,
      ),
    delete: async (k) => void (await q('DELETE FROM flagstone_store WHERE `key` = ?', [key(k)])),
    close: () => pool.end(),
  }
}

describe.runIf(await serviceAvailable('MySQL/MariaDB', MYSQL_URL))('mysql', () => {
  testStore('mysql', (namespace) => createStore(MYSQL_URL, { namespace, operationTimeout: CONFORMANCE_TIMEOUT }), {
    url: MYSQL_URL,
    raw,
    unreachable: () => createStore('mysql://root@127.0.0.1:1/test', { namespace: 'down', connectTimeout: 1_000 }),
    expectCapabilities: {
      backend: 'mysql',
      shared: true,
      atomic: 'processes',
      renewOnRead: 'atomic',
      listKeys: true,
      push: 'none',
      atomicWrites: true,
    },
  })
})
