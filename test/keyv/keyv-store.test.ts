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
import { afterAll, describe, expect, it } from 'vitest'
import { StoreFlagRepository } from '../../src/index.js'
import { createKeyvStore } from '../../src/keyv/index.js'
import { storeConformance } from '../stores/conformance.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-keyv-store-'))
const sqlite = new KeyvSqlite(`sqlite://${join(dir, 'keyv.sqlite')}`)
afterAll(async () => {
  await sqlite.disconnect()
  rmSync(dir, { recursive: true, force: true })
})

// One Map shared by every store of the suite, as one process's keyv Map would be.
const map = new Map()
storeConformance({
  name: 'keyv Map (inProcessAtomics)',
  open: async (namespace) => createKeyvStore(new Keyv({ store: map }), { namespace, inProcessAtomics: true }),
  push: 'none',
  atomicRenew: false,
})

// @keyv/sqlite through keyv only: its capability and refusal checks run below. Its conformance run
// is left out: every deleteAll / keys there scans the adapter's whole table through iterator(), which
// took past the 30 s test timeout on this shared machine.

describe('createKeyvStore capabilities', () => {
  it('states what the wrapper can and cannot make exact', () => {
    expect(createKeyvStore(sqlite).capabilities).toEqual({
      backend: 'keyv',
      shared: true,
      atomic: 'none',
      renewOnRead: 'rewrite',
      listKeys: true,
      push: 'none',
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
    expect(() => new StoreFlagRepository(createKeyvStore(new Map(), { inProcessAtomics: true }))).not.toThrow()
  })
})
