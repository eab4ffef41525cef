/**
 * FlagstoneProvider against the real `@openfeature/server-sdk`: every resolver and reason, the
 * error codes, hooks, and the events a change in another process, an outage and a late start cause.
 */
import { type Hook, type EvaluationDetails, type FlagValue, ProviderStatus } from '@openfeature/server-sdk'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { FlagClient, StoreFlagRepository } from '../../src/flags/index.js'
import { createStore } from '../../src/index.js'
import { createMetrics } from '../../src/observability/index.js'
import { FlagstoneProvider } from '../../src/openfeature/index.js'
import type { Store } from '../../src/stores/index.js'
import { RedisServer } from '../helpers/redis-server.js'
import { DATABASE_URL, randomNamespace, REDIS_URL, serviceAvailable } from '../helpers/services.js'
import { nextProviderEvent, OpenFeature, ProviderEvents, seed, writeFromAnotherProcess } from './helpers.js'

afterAll(() => OpenFeature.close())

interface Setup {
  store: Store
  namespace: string
  client: FlagClient
  provider: FlagstoneProvider
  domain: string
}
const opened: Setup[] = []
afterEach(async () => {
  for (const { store, client } of opened.splice(0)) {
    await client.close()
    await store.close()
  }
})

async function open(url: string): Promise<Setup> {
  const namespace = randomNamespace('of')
  const store = await createStore(url, { namespace })
  const repository = new StoreFlagRepository(store)
  await seed(repository)
  const client = new FlagClient({ repository, pollInterval: 200 })
  const provider = new FlagstoneProvider({ client })
  const domain = randomNamespace('domain')
  const setup = { store, namespace, client, provider, domain }
  opened.push(setup)
  await OpenFeature.setProviderAndWait(domain, provider)
  return setup
}

function backend(name: string, url: string, crossProcess: boolean) {
  describe(`FlagstoneProvider on ${name}`, async () => {
    const up = url === 'memory:' || (await serviceAvailable(name, url))

    it.runIf(up)('resolves each flag type with its value, variant, reason and metadata', async () => {
      const { domain } = await open(url)
      const of = OpenFeature.getClient(domain)
      expect(of.providerStatus).toBe(ProviderStatus.READY)

      const banner = await of.getBooleanDetails('banner', false)
      expect(banner).toMatchObject({ flagKey: 'banner', value: true, reason: 'STATIC' })
      expect(banner.errorCode).toBeUndefined()
      expect(banner.flagMetadata).toMatchObject({ owner: 'growth', flagType: 'boolean', status: 'active', version: 1 })

      // A custom top-level field of OpenFeature's flat context is what the rule's `plan` condition reads.
      expect(await of.getBooleanDetails('pro-feature', false, { targetingKey: 'u1', plan: 'pro' })).toMatchObject({
        value: true,
        reason: 'TARGETING_MATCH',
        variant: 'pro-plan',
      })
      expect(await of.getBooleanDetails('pro-feature', true, { targetingKey: 'u1', plan: 'free' })).toMatchObject({
        value: false,
        reason: 'DEFAULT',
      })
      // An override is targeting too; flagstone's own reason stays readable in the metadata.
      const vip = await of.getBooleanDetails('pro-feature', false, { targetingKey: 'u9', userId: 'vip' })
      expect(vip).toMatchObject({ value: true, reason: 'TARGETING_MATCH' })
      expect(vip.flagMetadata.flagstoneReason).toBe('OVERRIDE')

      const split = await of.getStringDetails('checkout', 'fallback', { targetingKey: 'user-42' })
      expect(split.reason).toBe('SPLIT')
      expect(['one-page', 'wizard']).toContain(split.value)
      expect(split.variant).toBe(split.value)
      // Deterministic: the same subject lands in the same variant every time.
      expect((await of.getStringDetails('checkout', 'fallback', { targetingKey: 'user-42' })).value).toBe(split.value)

      expect(await of.getNumberDetails('page-size', 10)).toMatchObject({ value: 25, reason: 'STATIC' })
      expect(await of.getObjectDetails('theme', {})).toMatchObject({ value: { color: 'teal', dense: false }, reason: 'STATIC' })
      expect(await of.getBooleanDetails('retired', false)).toMatchObject({ value: false, reason: 'DISABLED' })
      expect(await of.getBooleanValue('banner', false)).toBe(true)
    })

    it.runIf(up)('answers FLAG_NOT_FOUND and TYPE_MISMATCH with the caller default', async () => {
      const { domain } = await open(url)
      const of = OpenFeature.getClient(domain)
      expect(await of.getBooleanDetails('no-such-flag', true)).toMatchObject({
        value: true,
        reason: 'ERROR',
        errorCode: 'FLAG_NOT_FOUND',
      })
      const mismatch = await of.getStringDetails('banner', 'fallback')
      expect(mismatch).toMatchObject({ value: 'fallback', reason: 'ERROR', errorCode: 'TYPE_MISMATCH' })
      expect(mismatch.errorMessage).toContain('banner')
      expect(await of.getNumberDetails('theme', 3)).toMatchObject({ value: 3, errorCode: 'TYPE_MISMATCH' })
      expect(await of.getBooleanDetails('pro-feature', false, { userId: 7 })).toMatchObject({ errorCode: 'INVALID_CONTEXT' })
    })

    it.runIf(up)('lets hooks see the flag metadata', async () => {
      const { domain } = await open(url)
      const of = OpenFeature.getClient(domain)
      const seen: EvaluationDetails<FlagValue>[] = []
      const errors: unknown[] = []
      const hook: Hook = {
        after: (_context, details) => void seen.push(details),
        error: (_context, error) => void errors.push(error),
      }
      of.addHooks(hook)
      await of.getBooleanDetails('banner', false)
      await of.getNumberDetails('banner', 0)
      expect(seen[0]?.flagMetadata).toMatchObject({ owner: 'growth', flagType: 'boolean', version: 1 })
      expect(typeof seen[0]?.flagMetadata.revision).toBe('number')
      expect(errors).toHaveLength(1)
    })

    it.runIf(up)(
      `fires CONFIGURATION_CHANGED naming the flag on a change made ${crossProcess ? 'in another process' : 'through the repository'}`,
      async () => {
        const { domain, namespace, store } = await open(url)
        const of = OpenFeature.getClient(domain)
        const changed = nextProviderEvent(of, ProviderEvents.ConfigurationChanged, 60_000)
        let version: number
        if (crossProcess) {
          version = await writeFromAnotherProcess(url, namespace, 'banner')
        } else {
          const repository = new StoreFlagRepository(store)
          const flag = (await repository.getFlag('banner'))!
          version = (await repository.updateFlag('banner', { ...flag, defaultEnabled: false }, flag.version)).version
        }
        const details = await changed
        expect(details.flagsChanged).toEqual(['banner'])
        expect(version).toBe(2)
        expect(await of.getBooleanDetails('banner', true)).toMatchObject({ value: false, flagMetadata: { version: 2 } })
      },
      90_000,
    )
  })
}

backend('memory', 'memory:', false)
backend('Redis', REDIS_URL, true)
backend('PostgreSQL', DATABASE_URL, true)

describe('one context object for FlagClient and OpenFeature', () => {
  it('FlagClient reads top-level custom fields as attributes (the flat shape), attributes first', async () => {
    const { client, domain } = await open('memory:')
    const flat = { targetingKey: 'u1', plan: 'pro' }
    expect(client.getBooleanDetails('pro-feature', false, flat)).toMatchObject({ value: true, reason: 'TARGETING_MATCH' })
    expect(await OpenFeature.getClient(domain).getBooleanValue('pro-feature', false, flat)).toBe(true)
    expect(client.getBoolean('pro-feature', true, { plan: 'pro', attributes: { plan: 'free' } })).toBe(false)
    expect(client.getBoolean('pro-feature', false, { attributes: { plan: 'pro' } })).toBe(true)
  })
})

describe('tracking', () => {
  it('client.track reaches onTrack and the metrics (flagstone_tracked_events_total and _value_total)', async () => {
    const metrics = createMetrics({ defaultMetrics: false })
    try {
      const { client } = await open('memory:')
      const seen: string[] = []
      const provider = new FlagstoneProvider({ client, onTrack: (name) => seen.push(name) })
      const domain = randomNamespace('track')
      await OpenFeature.setProviderAndWait(domain, provider)
      const of = OpenFeature.getClient(domain)
      of.track('checkout', { targetingKey: 'u1' }, { value: 12.5 })
      of.track('checkout', { targetingKey: 'u2' }, { value: 7.5 })
      of.track('signup', { targetingKey: 'u3' })
      expect(seen).toEqual(['checkout', 'checkout', 'signup'])
      const text = await metrics.render()
      expect(text).toContain('flagstone_tracked_events_total{event="checkout"} 2')
      expect(text).toContain('flagstone_tracked_events_total{event="signup"} 1')
      expect(text).toContain('flagstone_tracked_event_value_total{event="checkout"} 20')
    } finally {
      metrics.close()
    }
  })
})

describe('FlagstoneProvider status', () => {
  it('answers PROVIDER_NOT_READY (from the SDK) before the first snapshot is in', async () => {
    const store = await createStore('memory:')
    const client = new FlagClient({ repository: new StoreFlagRepository(store) })
    const domain = randomNamespace('domain')
    const ready = OpenFeature.setProviderAndWait(domain, new FlagstoneProvider({ client }))
    const of = OpenFeature.getClient(domain)
    expect(of.providerStatus).toBe(ProviderStatus.NOT_READY)
    expect(await of.getBooleanDetails('banner', true)).toMatchObject({ value: true, errorCode: 'PROVIDER_NOT_READY' })
    await ready
    expect(of.providerStatus).toBe(ProviderStatus.READY)
    await client.close()
    await store.close()
  })

  it('reports STALE during a store outage and READY after it; ERROR and then READY when the store starts late', async () => {
    const server = await RedisServer.start()
    try {
      const namespace = randomNamespace('of')
      const store = await createStore(server.url, { namespace })
      await seed(new StoreFlagRepository(store))
      const provider = new FlagstoneProvider({
        clientOptions: { repository: new StoreFlagRepository(store), pollInterval: 100, staleAfter: 500, onError: () => {} },
      })
      const domain = randomNamespace('domain')
      await OpenFeature.setProviderAndWait(domain, provider)
      const of = OpenFeature.getClient(domain)

      const stale = nextProviderEvent(of, ProviderEvents.Stale)
      await server.kill()
      await stale
      expect(of.providerStatus).toBe(ProviderStatus.STALE)
      // The last snapshot keeps answering, marked as such.
      expect(await of.getBooleanDetails('banner', false)).toMatchObject({ value: true, reason: 'STALE' })

      const ready = nextProviderEvent(of, ProviderEvents.Ready, 20_000)
      await server.restart()
      await ready
      expect(of.providerStatus).toBe(ProviderStatus.READY)
      // The restarted server lost its data (no persistence): the provider says so with a change.
      const changed = nextProviderEvent(of, ProviderEvents.ConfigurationChanged, 20_000)
      await seed(new StoreFlagRepository(store))
      expect((await changed).flagsChanged).toContain('banner')
      expect(await of.getBooleanDetails('banner', false)).toMatchObject({ value: true, reason: 'STATIC' })

      // A provider whose store is down from the start: initialize fails (ERROR), then recovers (READY).
      await server.kill()
      const late = new FlagstoneProvider({
        clientOptions: { repository: new StoreFlagRepository(store), pollInterval: 100, readyTimeout: 300, onError: () => {} },
      })
      const lateDomain = randomNamespace('domain')
      const lateClient = OpenFeature.getClient(lateDomain)
      const errored = nextProviderEvent(lateClient, ProviderEvents.Error)
      await expect(OpenFeature.setProviderAndWait(lateDomain, late)).rejects.toThrow(/not ready/)
      await errored
      expect(lateClient.providerStatus).toBe(ProviderStatus.ERROR)
      expect(await lateClient.getBooleanDetails('banner', false)).toMatchObject({ value: false, errorCode: 'PROVIDER_NOT_READY' })
      const lateReady = nextProviderEvent(lateClient, ProviderEvents.Ready, 20_000)
      await server.restart()
      await lateReady
      expect(lateClient.providerStatus).toBe(ProviderStatus.READY)

      await OpenFeature.clearProviders()
      expect(provider.client.status).toBe('CLOSED') // created by the provider, so closed by onClose
      await store.close()
    } finally {
      await server.kill()
    }
  }, 60_000)
})
