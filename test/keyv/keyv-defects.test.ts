/**
 * The keyv defects flagstone fixes, shown through keyv's own API on `keyvAdapter` (stores.md,
 * "What keyv 5 gets wrong"): namespaces that do not clear each other, `_` and `%` that are no
 * wildcards, expired entries swept, bytes that come back as bytes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Keyv from 'keyv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStore, type Store } from '../../src/index.js'
import { keyvAdapter } from '../../src/keyv/index.js'
import { MYSQL_URL, randomNamespace, serviceAvailable, sleep } from '../helpers/services.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-keyv-defects-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const backends: Array<[string, string, boolean]> = [
  ['sqlite', `sqlite://${join(dir, 'defects.sqlite')}`, true],
  ['mysql', MYSQL_URL, await serviceAvailable('MySQL/MariaDB', MYSQL_URL)],
]

for (const [name, url, available] of backends) {
  describe.runIf(available)(`keyv defects fixed, through keyv: ${name}`, () => {
    let store: Store
    beforeAll(async () => {
      store = await createStore(url, { namespace: randomNamespace() })
    })
    afterAll(async () => {
      await store.deleteAll()
      await store.close()
    })

    it('a.clear() leaves b alone: per-Keyv adapters on one store, and one adapter shared by both (defect 1)', async () => {
      const a = new Keyv({ store: keyvAdapter(store), namespace: 'a' })
      const b = new Keyv({ store: keyvAdapter(store), namespace: 'b' })
      await a.set('k', 'from a')
      await b.set('k', 'from b')
      await b.set('a:k', 'b, with a key that looks like a namespace')
      await a.clear()
      expect(await a.get('k')).toBeUndefined()
      expect(await b.get('k')).toBe('from b')

      // One adapter shared by two Keyv: keyv's clear() does not say which one calls, so the adapter
      // refuses instead of clearing the namespace of whichever Keyv was made last (keyv #1495).
      const shared = keyvAdapter(store)
      const c = new Keyv({ store: shared, namespace: 'c', throwOnErrors: true })
      const d = new Keyv({ store: shared, namespace: 'd', throwOnErrors: true })
      await c.set('k', 'from c')
      await d.set('k', 'from d')
      await expect(c.clear()).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringContaining('own keyvAdapter') })
      expect(await c.get('k')).toBe('from c')
      expect(await d.get('k')).toBe('from d') // gets and sets use each Keyv's own prefix: still apart
    })

    it('treats _ and % in namespaces as characters, not wildcards, and keeps case apart (defect 4)', async () => {
      const names = ['a_b', 'a%b', 'aXb', 'A_B', 'a_b:child']
      const keyvs = names.map((namespace) => new Keyv({ store: keyvAdapter(store), namespace }))
      for (const [i, keyv] of keyvs.entries()) await keyv.set('k', names[i])
      await keyvs[0]?.clear()
      const left = await Promise.all(keyvs.map((keyv) => keyv.get('k')))
      expect(left).toEqual([undefined, 'a%b', 'aXb', 'A_B', 'a_b:child'])
    })

    it('sweeps expired entries physically; has() does not see them (defect 5)', async () => {
      const keyv = new Keyv({ store: keyvAdapter(store), namespace: 'sweep' })
      await keyv.set('short', 'v', 100)
      await keyv.set('long', 'v', 60_000)
      await sleep(250)
      expect(await keyv.has('short')).toBe(false)
      const removed = await store.deleteExpired()
      expect(removed).toBeGreaterThanOrEqual(1)
      const left: string[] = []
      for await (const key of store.withNamespace('kv-sweep').keys()) left.push(key)
      expect(left).toEqual(['long'])
    })

    it('gives a Uint8Array back as bytes (defect 7)', async () => {
      const keyv = new Keyv({ store: keyvAdapter(store), namespace: 'bytes', serialize: undefined, deserialize: undefined })
      await keyv.set('b', new Uint8Array([0, 9, 255]))
      const got: unknown = await keyv.get('b')
      expect(got).toBeInstanceOf(Uint8Array)
      expect([...(got as Uint8Array)]).toEqual([0, 9, 255])
      await keyv.set('o', { when: new Date(0), n: 1n })
      expect(await keyv.get('o')).toEqual({ when: new Date(0), n: 1n })
      // keyv's default serializer on keyv's own Map turns the same bytes into a plain object
      const plain = new Keyv()
      await plain.set('b', new Uint8Array([0, 9, 255]))
      expect(await plain.get('b')).not.toBeInstanceOf(Uint8Array)
    })
  })
}
