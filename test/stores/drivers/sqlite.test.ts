import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sqlite3 from 'sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import KeyvSqlite from '@keyv/sqlite'
import { createSqliteStore, createStore } from '../../../src/index.js'
import { CONFORMANCE_TIMEOUT, type RawAccess, testStore } from '../../../src/testing/index.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-sqlite-'))
const file = join(dir, 'store.sqlite')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A second program with its own sqlite3 connection to the same file. */
async function raw(): Promise<RawAccess> {
  const db = new sqlite3.Database(file)
  const all = (sql: string, ...params: unknown[]) =>
    new Promise<Record<string, unknown>[]>((resolve, reject) =>
      db.all(sql, params, (e, rows) => (e ? reject(e) : resolve(rows as Record<string, unknown>[]))),
    )
  await all('PRAGMA busy_timeout = 5000')
  return {
    write: async (key, value) =>
      void (await all('INSERT OR REPLACE INTO flagstone_store (key, value) VALUES (?, CAST(? AS BLOB))', key, value)),
    read: async (key) => {
      const row = (await all('SELECT CAST(value AS TEXT) AS v FROM flagstone_store WHERE key = ?', key))[0]
      return row === undefined ? null : String(row.v)
    },
    count: async (prefix) =>
      Number((await all('SELECT count(*) AS n FROM flagstone_store WHERE substr(key, 1, ?) = ?', prefix.length, prefix))[0]?.n),
    delete: async (key) => void (await all('DELETE FROM flagstone_store WHERE key = ?', key)),
    close: () => new Promise<void>((resolve, reject) => db.close((e) => (e ? reject(e) : resolve()))),
  }
}

testStore('sqlite', (namespace) => createStore(`sqlite://${file}`, { namespace, operationTimeout: CONFORMANCE_TIMEOUT }), {
  url: `sqlite://${file}`,
  raw,
  expectCapabilities: {
    backend: 'sqlite',
    shared: true,
    atomic: 'processes',
    renewOnRead: 'atomic',
    listKeys: true,
    push: 'none',
    atomicWrites: true,
  },
})

describe('sqlite specifics', () => {
  it('reports an unusable database file as STORE_UNAVAILABLE, not a silent miss (keyv defect 9)', async () => {
    const store = await createStore(`sqlite://${dir}`, { namespace: 'x' }) // a directory, not a file
    await expect(store.get('k')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await store.close()
  })

  it("runs on a caller's @keyv/sqlite adapter and leaves it open", async () => {
    const adapter = new KeyvSqlite({ uri: `sqlite://${join(dir, 'adapter.sqlite')}` })
    const store = await createSqliteStore({ adapter, namespace: 'given' })
    await store.set('bytes', new Uint8Array([0, 255]))
    expect([...((await store.get('bytes')) ?? [])]).toEqual([0, 255])
    expect(await store.increment('n', 2, { expiresIn: 60_000 })).toBe(2)
    expect(await store.compareAndSet('n', Buffer.from('2'), '5')).toBe(true)
    expect(await store.expiresIn('n')).toBe(Infinity)
    await store.close()
    expect(await adapter.query('SELECT count(*) AS n FROM flagstone_store')).toEqual([{ n: 2 }]) // still open
    await adapter.disconnect()
  })

  it('accepts sqlite::memory:', async () => {
    const store = await createStore('sqlite::memory:')
    await store.set('k', 'v')
    expect(Buffer.from((await store.get('k')) ?? []).toString()).toBe('v')
    await store.close()
  })
})
