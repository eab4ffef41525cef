/**
 * What one change costs a following client, in store round trips, counted by a wrapper around
 * the client's store (every call reaches the real backend): bounded (≤ 5) and the same with 100
 * as with 10,000 flags. The flags are seeded straight into the store (250 per atomic write, then a
 * revision), which is what 10,000 `createFlag`s would leave, minus the change log.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeFlag } from '../../../src/flags/codec/index.js'
import { FlagClient } from '../../../src/flags/client/client.js'
import type { FeatureFlag } from '../../../src/flags/model.js'
import { StoreFlagRepository } from '../../../src/flags/repositories/store-repository.js'
import { createStore, MemoryStore, type Store } from '../../../src/index.js'
import { DATABASE_URL, randomNamespace, REDIS_URL, serviceAvailable } from '../../helpers/services.js'
import { wrapStore } from '../../helpers/store-wrappers.js'
import { makeFlag, makeRule } from '../fixtures.js'
import { input, waitFor } from './fixtures/client-helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-delta-cost-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function seed(store: Store, count: number): Promise<void> {
  for (let from = 0; from < count; from += 250) {
    const writes = Array.from({ length: Math.min(250, count - from) }, (_, i) => {
      const key = `f${from + i}`
      const rule = makeRule('r', { conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }] })
      return { op: 'set' as const, key: `flag/${key}`, value: encodeFlag(makeFlag({ key, rules: [rule] })) }
    })
    expect(await store.atomic(writes, [])).toBe(true)
  }
  await store.set('revision', '1000')
}

interface Cost {
  flags: number
  /** Calls per store operation, per kind of change. */
  perChange: Record<string, Record<string, number>>
}

async function measure(open: (namespace: string) => Promise<[Store, Store]>, count: number, push: boolean): Promise<Cost> {
  const [writerStore, clientStore] = await open(randomNamespace())
  await seed(writerStore, count)
  const writer = new StoreFlagRepository(writerStore)
  await writer.createSegment({
    key: 'nordic',
    name: 'Nordic',
    conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }],
  })
  const wrapped = wrapStore(clientStore)
  const errors: Error[] = []
  const client = new FlagClient({
    repository: new StoreFlagRepository(wrapped.store),
    pollInterval: push ? Infinity : 50,
    fullRefreshInterval: Infinity,
    readyTimeout: 60_000,
    onError: (e) => errors.push(e),
  })
  await client.ready()
  expect(client.snapshot?.flags.size).toBe(count)
  const perChange: Cost['perChange'] = {}
  const changes: Array<[string, () => Promise<unknown>]> = [
    [
      'updateFlag',
      async () => {
        const flag = (await writer.getFlag('f7')) as FeatureFlag
        return writer.updateFlag('f7', { ...input(flag), defaultEnabled: true }, flag.version)
      },
    ],
    ['createFlag', () => writer.createFlag(input({ key: 'fresh', defaultEnabled: true }))],
    ['setOverride', () => writer.setOverride({ flagKey: 'f8', entityType: 'user', entityId: 'u1', enabled: true })],
    ['updateSegment', () => writer.updateSegment({ key: 'nordic', name: 'Nordic (SE too)', conditions: [] })],
    ['deleteFlag', () => writer.deleteFlag('f9')],
  ]
  for (const [name, change] of changes) {
    await waitFor(() => client.revision === 1000 + Object.keys(perChange).length + 1) // the segment's creation, then each change
    wrapped.reset()
    await change()
    const revision = await writer.revision()
    await waitFor(() => client.revision === revision, 30_000)
    const counts = Object.fromEntries(wrapped.counts)
    // A poller's polls are one GET each (changesSince reads the revision; nothing else here GETs):
    // the idle ones before the change are not its cost, the one that found it is (then the log and
    // the documents, one getMany each).
    if (!push && counts.get !== undefined) counts.get = 1
    perChange[name] = counts
  }
  expect(client.isEnabled('f7')).toBe(true)
  expect(client.isEnabled('f8', false, { userId: 'u1' })).toBe(true)
  expect(client.isEnabled('f10', false, { country: 'NO' })).toBe(true)
  expect(client.getBooleanDetails('f9', false).errorCode).toBe('FLAG_NOT_FOUND')
  await client.close()
  await writerStore.deleteAll()
  for (const store of new Set([writerStore, clientStore])) await store.close()
  expect(errors).toEqual([])
  return { flags: count, perChange }
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0)

function costSuite(name: string, push: boolean, open: (namespace: string) => Promise<[Store, Store]>) {
  it(`${name}: one change costs a following client ≤ 5 round trips, the same at 100 and 10,000 flags`, async () => {
    const small = await measure(open, 100, push)
    const large = await measure(open, 10_000, push)
    console.log(`delta cost on ${name} (${push ? 'push' : 'poll'}), store calls per change: ${JSON.stringify(large.perChange)}`)
    for (const [change, counts] of Object.entries(large.perChange)) {
      expect(total(counts), change).toBeLessThanOrEqual(5)
      expect(counts.entries ?? 0, change).toBe(0) // no listing: no full reload
      expect(counts, change).toEqual(small.perChange[change])
    }
  }, 240_000)
}

describe('delta cost', () => {
  costSuite('memory', true, async (namespace) => {
    const store = new MemoryStore({ namespace })
    return [store, store]
  })
  const sqlite = `sqlite://${join(dir, 'cost.sqlite')}`
  costSuite('sqlite', false, async (namespace) => [
    await createStore(sqlite, { namespace }),
    await createStore(sqlite, { namespace }),
  ])
})
describe.runIf(await serviceAvailable('Redis', REDIS_URL))('redis', () => {
  costSuite('redis', true, async (namespace) => [
    await createStore(REDIS_URL, { namespace }),
    await createStore(REDIS_URL, { namespace }),
  ])
})
describe.runIf(await serviceAvailable('PostgreSQL', DATABASE_URL))('postgres', () => {
  costSuite('postgres', true, async (namespace) => [
    await createStore(DATABASE_URL, { namespace }),
    await createStore(DATABASE_URL, { namespace }),
  ])
})
