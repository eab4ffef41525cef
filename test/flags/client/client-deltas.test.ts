/**
 * Clients follow changes as deltas (issue 9): after the first load, every kind of change reaches
 * a client as the changed documents only, with no full reload; a client that missed changes
 * catches up from the change log, and one that missed more than the log holds reloads in full.
 * On every backend the repository runs on: pushed (memory, Redis, PostgreSQL) and polled (SQLite,
 * MySQL/MariaDB).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { FlagClient } from '../../../src/flags/client/client.js'
import type { FeatureFlag, Segment } from '../../../src/flags/model.js'
import { StoreFlagRepository, type StoreFlagRepositoryOptions } from '../../../src/flags/repositories/store-repository.js'
import { createStore, MemoryStore, type Store } from '../../../src/index.js'
import { DATABASE_URL, MYSQL_URL, randomNamespace, REDIS_URL, serviceAvailable, sleep } from '../../helpers/services.js'
import { wrapStore, type Wrapped } from '../../helpers/store-wrappers.js'
import { makeRule } from '../fixtures.js'
import { input, waitFor } from './fixtures/client-helpers.js'
import { expectSameAs, followed, type Followed } from './fixtures/follow-helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-deltas-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Backend {
  name: string
  push: boolean
  /** The writer's store and the client's (another connection where the backend has them). */
  open(namespace: string): Promise<[Store, Store]>
}

const CONTEXTS = [
  {},
  { userId: 'u1' },
  { country: 'NO' },
  { country: 'SE', userId: 'u2' },
  { environment: 'production', country: 'NO' },
  { environment: 'staging', country: 'SE' },
  { environment: 'staging', now: new Date('2031-01-01T00:00:00Z') },
  { now: new Date('2031-01-01T00:00:00Z') },
]

const nordic: Segment = { key: 'nordic', name: 'Nordic', conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }] }
const inNordic = [makeRule('nordic', { conditions: [{ attribute: 'country', operator: 'in_segment', value: 'nordic' }] })]

function deltaSuite(backend: Backend) {
  describe(`deltas on ${backend.name} (${backend.push ? 'pushed' : 'polled'})`, () => {
    let stores: [Store, Store]
    let writer: StoreFlagRepository
    let wrapped: Wrapped
    let follow: Followed
    let client: FlagClient
    let errors: Error[]
    let initial: number

    const open = async (options: StoreFlagRepositoryOptions = {}) => {
      stores = await backend.open(randomNamespace())
      writer = new StoreFlagRepository(stores[0], options)
      await writer.createEnvironment({ slug: 'production', name: 'Production', settings: {} })
      await writer.createEnvironment({ slug: 'staging', name: 'Staging', parent: 'production', settings: {} })
      await writer.createSegment(nordic)
      await writer.createFlag(input({ key: 'checkout', defaultEnabled: true }))
      await writer.createFlag(input({ key: 'beta', rules: inNordic }))
      await writer.createFlag(input({ key: 'banner', type: 'string', defaultValue: 'blue' }))
      await writer.createFlag(input({ key: 'regional' }))
      await writer.setEnvironmentFlag({ environment: 'production', flagKey: 'regional', rules: inNordic })
      await writer.createFlag(input({ key: 'plain', defaultEnabled: true })) // never touched: never recompiled
      wrapped = wrapStore(stores[1])
      follow = followed(new StoreFlagRepository(wrapped.store, options))
      errors = []
      client = new FlagClient({
        repository: follow.repository,
        // Pushed backends: polling off, so the push path alone is tested.
        pollInterval: backend.push ? Infinity : 50,
        fullRefreshInterval: Infinity,
        onError: (e) => errors.push(e),
      })
      await client.ready()
      initial = client.revision as number
      expect(follow.loads()).toBe(1)
    }

    /** Runs the writes, waits until the client holds the writer's revision, returns it. */
    const seen = async (write: () => Promise<unknown>): Promise<number> => {
      await write()
      const revision = await writer.revision()
      await waitFor(() => client.revision === revision, 10_000)
      return revision
    }
    const flag = async (key: string) => (await writer.getFlag(key)) as FeatureFlag
    const revisionOf = (key: string) => client.getBooleanDetails(key, false).flagMetadata.revision

    afterEach(async () => {
      await client?.close()
      await stores[0].deleteAll()
      for (const store of new Set(stores)) await store.close()
      expect(errors).toEqual([])
    })

    it('flag create, update, archive and delete (with its overrides) travel as deltas', async () => {
      await open()
      await seen(() => writer.createFlag(input({ key: 'fresh', defaultEnabled: true })))
      expect(client.isEnabled('fresh')).toBe(true)
      const banner = await flag('banner')
      const at = await seen(() => writer.updateFlag('banner', { ...input(banner), defaultValue: 'green' }, banner.version))
      expect(client.getStringDetails('banner', 'x')).toMatchObject({ value: 'green', flagMetadata: { revision: at, version: 2 } })
      await seen(() => writer.archiveFlag('fresh'))
      expect(client.getBooleanDetails('fresh', true)).toMatchObject({ value: false, reason: 'DISABLED' })
      await seen(() => writer.setOverride({ flagKey: 'checkout', entityType: 'user', entityId: 'u1', enabled: false }))
      expect(client.getBooleanDetails('checkout', true, { userId: 'u1' })).toMatchObject({ value: false, reason: 'OVERRIDE' })
      await seen(() => writer.deleteFlag('checkout'))
      expect(client.getBooleanDetails('checkout', true, { userId: 'u1' })).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' })
      expect(follow.loads()).toBe(1)
      expect(revisionOf('plain')).toBe(initial) // untouched: the compiled flag of the first load
      await expectSameAs(client.snapshot, writer, CONTEXTS)
    })

    it('a segment change recompiles the flags that use it (in their rules or their settings in an environment)', async () => {
      await open()
      expect(client.isEnabled('beta', false, { country: 'NO' })).toBe(true)
      expect(client.isEnabled('regional', false, { environment: 'production', country: 'NO' })).toBe(true)
      const at = await seen(() =>
        writer.updateSegment({ ...nordic, conditions: [{ attribute: 'country', operator: 'eq', value: 'SE' }] }),
      )
      expect(client.isEnabled('beta', false, { country: 'NO' })).toBe(false)
      expect(client.isEnabled('beta', false, { country: 'SE' })).toBe(true)
      expect(client.isEnabled('regional', false, { environment: 'production', country: 'SE' })).toBe(true)
      expect(revisionOf('beta')).toBe(at)
      expect(revisionOf('plain')).toBe(initial)
      expect(follow.loads()).toBe(1)
      await expectSameAs(client.snapshot, writer, CONTEXTS)
    })

    it('an environment change recompiles the flags with settings along its chain', async () => {
      await open()
      await seen(() => writer.setEnvironmentFlag({ environment: 'production', flagKey: 'checkout', enabled: false }))
      expect(client.isEnabled('checkout', true, { environment: 'staging' })).toBe(false) // inherited
      const at = await seen(() => writer.updateEnvironment({ slug: 'staging', name: 'Staging', settings: {} })) // no parent now
      expect(client.isEnabled('checkout', false, { environment: 'staging' })).toBe(true)
      expect(client.isEnabled('checkout', true, { environment: 'production' })).toBe(false)
      expect(revisionOf('checkout')).toBe(at)
      expect(revisionOf('plain')).toBe(initial)
      await seen(() => writer.deleteEnvironment('production')) // and its settings with it
      expect(client.isEnabled('checkout', false, { environment: 'production' })).toBe(true)
      expect(follow.loads()).toBe(1)
      await expectSameAs(client.snapshot, writer, CONTEXTS)
    })

    it('an override with an expiry travels as a delta and stops applying when it expires, with no reload', async () => {
      await open()
      const expiresAt = new Date(Date.now() + 1_500)
      await seen(() => writer.setOverride({ flagKey: 'beta', entityType: 'user', entityId: 'u2', enabled: true, expiresAt }))
      expect(client.getBooleanDetails('beta', false, { userId: 'u2' })).toMatchObject({ value: true, reason: 'OVERRIDE' })
      wrapped.reset()
      await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + 50)
      // The store expired it natively (no change record): the compiled override carries its expiry.
      expect(client.getBooleanDetails('beta', true, { userId: 'u2' })).toMatchObject({ value: false, reason: 'DEFAULT' })
      if (backend.push) expect(wrapped.total()).toBe(0)
      expect(follow.loads()).toBe(1)
      await expectSameAs(client.snapshot, writer, [...CONTEXTS, { userId: 'u2' }])
    })

    it('scheduled changes travel with their flag', async () => {
      await open()
      const later = new Date('2030-01-01T00:00:00Z')
      const plain = await flag('beta')
      await seen(() =>
        writer.updateFlag(
          'beta',
          { ...input(plain), scheduledChanges: [{ id: 's1', at: later, change: 'disable' }] },
          plain.version,
        ),
      )
      expect(client.isEnabled('beta', false, { country: 'NO', now: new Date('2029-12-31T00:00:00Z') })).toBe(true)
      expect(client.getBooleanDetails('beta', true, { country: 'NO', now: new Date('2031-01-01T00:00:00Z') })).toMatchObject({
        value: false,
        reason: 'DISABLED',
      })
      expect(follow.loads()).toBe(1)
      await expectSameAs(client.snapshot, writer, CONTEXTS)
    })

    /** 50 changes of every kind. */
    const fiftyChanges = async () => {
      for (let i = 0; i < 10; i++) {
        await writer.createFlag(input({ key: `n${i}`, type: 'number', defaultValue: i }))
        const current = await flag('banner')
        await writer.updateFlag('banner', { ...input(current), defaultValue: `c${i}` }, current.version)
        await writer.setOverride({ flagKey: `n${i}`, entityType: 'user', entityId: 'u1', enabled: true, value: 100 + i })
        await writer.setEnvironmentFlag({ environment: 'staging', flagKey: 'checkout', enabled: i % 2 === 0 })
        if (i % 2 === 0)
          await writer.updateSegment({ ...nordic, conditions: [{ attribute: 'country', operator: 'eq', value: `X${i}` }] })
        else await writer.deleteFlag(`n${i - 1}`)
      }
    }

    it('a client that missed 50 changes catches up from the log, without a full reload', async () => {
      await open()
      follow.pause()
      const from = await writer.revision()
      await fiftyChanges()
      expect((await writer.revision()) - from).toBe(50)
      follow.resume()
      await seen(() => writer.createFlag(input({ key: 'after' })))
      expect(follow.loads()).toBe(1)
      await expectSameAs(client.snapshot, writer, CONTEXTS)
    })

    it('a client that missed more changes than the log keeps reloads in full, and converges', async () => {
      await open({ changeLog: { maxEntries: 10 } })
      follow.pause()
      await fiftyChanges()
      follow.resume()
      await seen(() => writer.createFlag(input({ key: 'after' })))
      expect(follow.loads()).toBe(2)
      await expectSameAs(client.snapshot, writer, CONTEXTS)
    })
  })
}

deltaSuite({
  name: 'memory',
  push: true,
  open: async (namespace) => {
    const store = new MemoryStore({ namespace })
    return [store, store]
  },
})
const sqlite = `sqlite://${join(dir, 'deltas.sqlite')}`
deltaSuite({
  name: 'sqlite',
  push: false,
  open: async (namespace) => [await createStore(sqlite, { namespace }), await createStore(sqlite, { namespace })],
})
for (const [name, url, push, label] of [
  ['redis', REDIS_URL, true, 'Redis'],
  ['postgres', DATABASE_URL, true, 'PostgreSQL'],
  ['mysql', MYSQL_URL, false, 'MySQL/MariaDB'],
] as const) {
  describe.runIf(await serviceAvailable(label, url))(name, () => {
    deltaSuite({
      name,
      push,
      open: async (namespace) => [await createStore(url, { namespace }), await createStore(url, { namespace })],
    })
  })
}
