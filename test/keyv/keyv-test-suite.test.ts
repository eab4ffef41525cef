/**
 * keyv's own conformance suite (@keyv/test-suite, by keyv's maintainers), unchanged, through
 * `keyvAdapter` on every backend. The suite calls `store()` for each Keyv it makes: each call is a
 * new adapter on one flagstone store, as `new KeyvRedis(url)` is a new adapter on one server.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite'
import Keyv from 'keyv'
import * as vitest from 'vitest'
import { createStore, type Store } from '../../src/index.js'
import { keyvAdapter } from '../../src/keyv/index.js'
import { DATABASE_URL, MYSQL_URL, randomNamespace, REDIS_URL, serviceAvailable } from '../helpers/services.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-keyv-suite-'))
vitest.afterAll(() => rmSync(dir, { recursive: true, force: true }))

const backends: Array<[string, string, boolean]> = [
  ['memory', 'memory:', true],
  ['sqlite', `sqlite://${join(dir, 'keyv.sqlite')}`, true],
  ['redis', REDIS_URL, await serviceAvailable('Redis', REDIS_URL)],
  ['postgres', DATABASE_URL, await serviceAvailable('PostgreSQL', DATABASE_URL)],
  ['mysql', MYSQL_URL, await serviceAvailable('MySQL/MariaDB', MYSQL_URL)],
]

for (const [name, url, available] of backends) {
  vitest.describe.runIf(available)(`@keyv/test-suite through keyvAdapter: ${name}`, () => {
    let store: Store | undefined
    vitest.beforeAll(async () => {
      store = await createStore(url, { namespace: randomNamespace() })
    })
    vitest.afterAll(async () => {
      await store?.deleteAll()
      await store?.close()
    })
    const adapter = () => {
      if (store === undefined) throw new Error('store not open yet')
      return keyvAdapter(store)
    }
    keyvTestSuite(vitest, Keyv, adapter)
    // keyv offers iterator() only to adapters whose opts.dialect it lists (sqlite, postgres, mysql, redis, …), not memory.
    if (name !== 'memory') keyvIteratorTests(vitest, Keyv, adapter)
  })
}
