/**
 * Plain keyv adapters as flagstone stores (createKeyvStore): keyv's in-memory Map and @keyv/sqlite
 * used through keyv only: the Map store passes the store conformance suite for what its capabilities
 * claim, and the flag repository refuses the one without compare-and-set, saying why.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import KeyvSqlite from '@keyv/sqlite'
import Keyv from 'keyv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreFlagRepository } from '../../src/index.js'
import { createKeyvStore } from '../../src/keyv/index.js'
import { CONFORMANCE_TIMEOUT, testStore } from '../../src/testing/index.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-keyv-store-'))
/**
 * Set up as the README advises for @keyv/sqlite: WAL (its default rollback journal fsyncs about three
 * times per write, ~20 ms each here, so the suite's 1,200 concurrent writes took past any timeout)
 * and 1,000-row iterator pages (its default of 10 re-reads the table with LIMIT/OFFSET per page).
 */
const sqlite = new KeyvSqlite({ uri: `sqlite://${join(dir, 'keyv.sqlite')}`, iterationLimit: 1_000 })
beforeAll(async () => {
  await sqlite.query('PRAGMA journal_mode = WAL')
})
afterAll(async () => {
  await sqlite.disconnect()
  rmSync(dir, { recursive: true, force: true })
})

// One Map shared by every store of the suite, as one process's keyv Map would be.
const map = new Map()
testStore(
  'keyv Map (inProcessAtomics)',
  (namespace) => createKeyvStore(new Keyv({ store: map }), { namespace, inProcessAtomics: true }),
  {
    expectCapabilities: {
      backend: 'keyv',
      shared: false,
      atomic: 'process',
      renewOnRead: 'rewrite',
      listKeys: true,
      push: 'none',
      atomicWrites: false,
    },
  },
)

// @keyv/sqlite through keyv only: shared data, so neither increment nor compareAndSet (keyv has no
// conditional write); the suite runs what it claims and checks the refusals.
testStore(
  'keyv @keyv/sqlite',
  (namespace) => createKeyvStore(new Keyv({ store: sqlite }), { namespace, operationTimeout: CONFORMANCE_TIMEOUT }),
  {
    expectCapabilities: {
      backend: 'keyv',
      shared: true,
      atomic: 'none',
      renewOnRead: 'rewrite',
      listKeys: true,
      push: 'none',
      atomicWrites: false,
    },
  },
)

describe('createKeyvStore capabilities', () => {
  it('states what the wrapper can and cannot make exact', () => {
    expect(createKeyvStore(sqlite).capabilities).toEqual({
      backend: 'keyv',
      shared: true,
      atomic: 'none',
      renewOnRead: 'rewrite',
      listKeys: true,
      push: 'none',
      atomicWrites: false,
    })
    expect(createKeyvStore(new Map(), { inProcessAtomics: true }).capabilities).toMatchObject({
      shared: false,
      atomic: 'process',
    })
  })

  it('is refused by the flag repository where it lacks compare-and-set, with the reason', () => {
    expect(() => new StoreFlagRepository(createKeyvStore(sqlite))).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringContaining('compareAndSet') }),
    )
    // in-process atomics on data other processes can open are not enough either
    expect(() => new StoreFlagRepository(createKeyvStore(sqlite, { inProcessAtomics: true }))).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringContaining('across processes') }),
    )
    // every repository write is one atomic multi-key write, which no keyv adapter can give
    expect(() => new StoreFlagRepository(createKeyvStore(new Map(), { inProcessAtomics: true }))).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringContaining('atomic multi-key writes') }),
    )
  })
})
