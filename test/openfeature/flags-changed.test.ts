/**
 * `flagsChanged` of `PROVIDER_CONFIGURATION_CHANGED` comes from the delta the client applied (the
 * `change` event's `flagKeys`), so a change among 2,000 flags costs the provider what the change
 * touched: exactly the flags it affected, and no snapshot comparison. Only after a full reload are
 * the snapshots compared. The real SDK on a real backend (memory; Redis, through two connections).
 * `changedFlagKeys` is wrapped by a spy that calls the real function, to count its runs.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { encodeFlag } from '../../src/flags/codec/index.js'
import { FlagClient, StoreFlagRepository } from '../../src/flags/index.js'
import type { FeatureFlag, FlagRule } from '../../src/flags/model.js'
import { createStore } from '../../src/index.js'
import { changedFlagKeys } from '../../src/openfeature/changes.js'
import type * as Changes from '../../src/openfeature/changes.js'
import { FlagstoneProvider } from '../../src/openfeature/index.js'
import type { Store } from '../../src/stores/index.js'
import { input } from '../flags/client/fixtures/client-helpers.js'
import { makeFlag, makeRule } from '../flags/fixtures.js'
import { randomNamespace, REDIS_URL, serviceAvailable } from '../helpers/services.js'
import { nextProviderEvent, OpenFeature, ProviderEvents } from './helpers.js'

vi.mock('../../src/openfeature/changes.js', async (importOriginal) => {
  const actual = await importOriginal<typeof Changes>()
  return { ...actual, changedFlagKeys: vi.fn(actual.changedFlagKeys) }
})
const comparisons = vi.mocked(changedFlagKeys)

const COUNT = 2_000
const inSegment = (segment: string): FlagRule[] => [
  makeRule(segment, { conditions: [{ attribute: 'country', operator: 'in_segment', value: segment }] }),
]
/** Flags whose own rules name a segment; f1500 uses `nordic` in an environment's settings only. */
const RULES: Record<string, FlagRule[]> = { f10: inSegment('nordic'), f20: inSegment('nordic'), f30: inSegment('baltic') }

/** 2,000 flags straight into the store (250 per atomic write), as 2,000 `createFlag`s would leave them. */
async function seed(store: Store): Promise<void> {
  for (let from = 0; from < COUNT; from += 250) {
    const writes = Array.from({ length: 250 }, (_, i) => {
      const key = `f${from + i}`
      return { op: 'set' as const, key: `flag/${key}`, value: encodeFlag(makeFlag({ key, rules: RULES[key] ?? [] })) }
    })
    expect(await store.atomic(writes, [])).toBe(true)
  }
  await store.set('revision', '1000')
  const repository = new StoreFlagRepository(store)
  await repository.createSegment({
    key: 'nordic',
    name: 'Nordic',
    conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }],
  })
  // Built on nordic: a change of nordic affects f30 through it.
  await repository.createSegment({ key: 'baltic', name: 'Baltic', parent: 'nordic', conditions: [] })
  await repository.createEnvironment({ slug: 'production', name: 'Production', settings: {} })
  await repository.setEnvironmentFlag({ environment: 'production', flagKey: 'f1500', rules: inSegment('nordic') })
}

const opened: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of opened.splice(0)) await close()
})
afterAll(() => OpenFeature.close())

function suite(name: string, url: string, connections: 1 | 2) {
  describe(`flagsChanged from deltas on ${name}`, async () => {
    const up = url === 'memory:' || (await serviceAvailable(name, url))

    it.runIf(up)(
      'names exactly the flags a change affected among 2,000, without comparing snapshots; a full reload compares them',
      async () => {
        const namespace = randomNamespace('ofd')
        const writerStore = await createStore(url, { namespace })
        const clientStore = connections === 1 ? writerStore : await createStore(url, { namespace })
        opened.push(async () => {
          await writerStore.deleteAll()
          for (const store of new Set([writerStore, clientStore])) await store.close()
        })
        await seed(writerStore)
        const writer = new StoreFlagRepository(writerStore)
        const errors: Error[] = []
        // Pushes only (no poll, no periodic reload): every change below arrives as one delta.
        const client = new FlagClient({
          repository: new StoreFlagRepository(clientStore),
          pollInterval: Infinity,
          fullRefreshInterval: Infinity,
          readyTimeout: 60_000,
          onError: (e) => errors.push(e),
        })
        opened.unshift(() => client.close())
        const domain = randomNamespace('domain')
        await OpenFeature.setProviderAndWait(domain, new FlagstoneProvider({ client }))
        const of = OpenFeature.getClient(domain)
        expect(client.snapshot?.flags.size).toBe(COUNT)
        const events: Array<readonly string[] | undefined> = []
        client.on('change', (_revision, _previous, flagKeys) => events.push(flagKeys))
        comparisons.mockClear()

        /** The `flagsChanged` of the provider event `write` causes. */
        const flagsChanged = async (write: () => Promise<unknown>): Promise<unknown> => {
          const changed = nextProviderEvent(of, ProviderEvents.ConfigurationChanged, 30_000)
          await write()
          return (await changed).flagsChanged
        }

        const f7 = (await writer.getFlag('f7')) as FeatureFlag
        expect(await flagsChanged(() => writer.updateFlag('f7', { ...input(f7), defaultEnabled: true }, f7.version))).toEqual([
          'f7',
        ])
        expect(await of.getBooleanValue('f7', false)).toBe(true)

        const segment = {
          key: 'nordic',
          name: 'Nordic',
          conditions: [{ attribute: 'country', operator: 'eq' as const, value: 'SE' }],
        }
        // f10 and f20 name it, f30 through baltic, f1500 in production's settings.
        expect(await flagsChanged(() => writer.updateSegment(segment))).toEqual(['f10', 'f1500', 'f20', 'f30'])
        expect(await of.getBooleanValue('f30', false, { targetingKey: 'u', country: 'SE' })).toBe(true)

        const override = { flagKey: 'f8', entityType: 'user', entityId: 'u1', enabled: true }
        expect(await flagsChanged(() => writer.setOverride(override))).toEqual(['f8'])
        expect(await of.getBooleanValue('f8', false, { targetingKey: 'u1', userId: 'u1' })).toBe(true)
        expect(await flagsChanged(() => writer.deleteOverride('f8', 'user', 'u1'))).toEqual(['f8'])

        const production = { slug: 'production', name: 'Production (EU)', settings: {} }
        expect(await flagsChanged(() => writer.updateEnvironment(production))).toEqual(['f1500'])
        expect(await flagsChanged(() => writer.createFlag(input({ key: 'fresh' })))).toEqual(['fresh'])
        expect(await flagsChanged(() => writer.deleteFlag('f11'))).toEqual(['f11'])

        expect(comparisons).not.toHaveBeenCalled()
        expect(events).toEqual([['f7'], ['f10', 'f1500', 'f20', 'f30'], ['f8'], ['f8'], ['f1500'], ['fresh'], ['f11']])

        // A write behind the client's back (no change record, no push) is found by a full reload only:
        // the event carries no keys, and the provider compares the snapshots.
        const f9 = encodeFlag(makeFlag({ key: 'f9', version: 2, defaultEnabled: true }))
        const revision = await writer.revision()
        await writerStore.atomic([
          { op: 'set', key: 'flag/f9', value: f9 },
          { op: 'set', key: 'revision', value: String(revision + 1) },
        ])
        expect(await flagsChanged(() => client.refresh())).toEqual(['f9'])
        expect(comparisons).toHaveBeenCalledTimes(1)
        expect(events.at(-1)).toBeUndefined()
        expect(events).toHaveLength(8)
        expect(await of.getBooleanValue('f9', false)).toBe(true)
        expect(errors).toEqual([])
      },
      120_000,
    )
  })
}

suite('memory', 'memory:', 1)
suite('Redis', REDIS_URL, 2)
