import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FlagClient, type FlagClientOptions } from '../../../src/flags/client/client.js'
import { compileSnapshot } from '../../../src/flags/evaluation/evaluate.js'
import type { FeatureFlag } from '../../../src/flags/model.js'
import type { FlagRepository } from '../../../src/flags/repositories/repository.js'
import { StaticFlagRepository } from '../../../src/flags/repositories/static-repository.js'
import { StoreFlagRepository } from '../../../src/flags/repositories/store-repository.js'
import { createStore, FlagstoneError, MemoryStore, type Store } from '../../../src/index.js'
import { RedisServer } from '../../helpers/redis-server.js'
import { DATABASE_URL, randomNamespace, REDIS_URL, serviceAvailable, sleep } from '../../helpers/services.js'
import { input, nextEvent, waitFor } from './fixtures/client-helpers.js'
import { makeFlag, makeRule } from '../fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-client-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The same repository as if its backend could not push: the client has to poll. */
function pollingOnly(repository: FlagRepository): FlagRepository {
  return new Proxy(repository, {
    get(target, property) {
      if (property === 'watch') return async () => null
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/** A view of a real store that can be switched off, as a network would: every call then rejects with STORE_UNAVAILABLE. */
function switchable(real: Store): Store & { down: boolean } {
  const state = { down: false }
  return new Proxy(real, {
    get(target, property) {
      if (property === 'down') return state.down
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) =>
        state.down
          ? Promise.reject(new FlagstoneError('STORE_UNAVAILABLE', 'memory store switched off'))
          : (value as (...a: unknown[]) => unknown).apply(target, args)
    },
    set(_target, property, value) {
      if (property !== 'down') return false
      state.down = value === true
      return true
    },
  }) as Store & { down: boolean }
}

const FLAGS = [
  input({ key: 'checkout', defaultEnabled: true }),
  input({ key: 'beta', rules: [makeRule('staff', { conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }] })] }),
  input({ key: 'banner', type: 'string', defaultValue: 'blue' }),
  input({ key: 'limit', type: 'number', defaultValue: 10 }),
  input({ key: 'layout', type: 'json', defaultValue: { columns: 2 } }),
]

function clientBasics(name: string, open: () => Promise<Store>, canPush: boolean) {
  describe(`FlagClient on ${name}`, () => {
    let store: Store
    let repository: StoreFlagRepository
    let clients: FlagClient[] = []
    let errors: Error[] = []

    const makeClient = (options: Partial<FlagClientOptions> = {}) => {
      const client = new FlagClient({ repository, pollInterval: 100, onError: (e) => errors.push(e), ...options })
      clients.push(client)
      return client
    }

    beforeEach(async () => {
      store = await open()
      repository = new StoreFlagRepository(store)
      for (const flag of FLAGS) await repository.createFlag(flag)
    })
    afterEach(async () => {
      for (const client of clients) await client.close()
      clients = []
      await store.deleteAll()
      await store.close()
      expect(errors).toEqual([])
      errors = []
    })

    it('answers PROVIDER_NOT_READY with the caller default until the first snapshot is in', async () => {
      const client = makeClient()
      expect(client.status).toBe('NOT_READY')
      expect(client.revision).toBeUndefined()
      expect(client.isEnabled('checkout')).toBe(false)
      expect(client.getStringDetails('banner', 'fallback')).toMatchObject({
        flagKey: 'banner',
        value: 'fallback',
        reason: 'ERROR',
        errorCode: 'PROVIDER_NOT_READY',
      })
      expect(client.evaluateAll()).toEqual({})
      await client.ready()
      expect(client.status).toBe('READY')
      expect(client.revision).toBe(await repository.revision())
      expect(client.watching).toBe(canPush)
      expect(client.isEnabled('checkout')).toBe(true)
      await client.ready() // resolves again at once
    })

    it('serves typed values with details, TYPE_MISMATCH and FLAG_NOT_FOUND', async () => {
      const client = makeClient()
      await client.ready()
      expect(client.isEnabled('checkout')).toBe(true)
      expect(client.isEnabled('beta')).toBe(false)
      expect(client.isEnabled('beta', false, { country: 'NO' })).toBe(true)
      expect(client.getBooleanDetails('beta', false, { country: 'NO' })).toMatchObject({
        value: true,
        reason: 'TARGETING_MATCH',
        variant: 'staff',
      })
      expect(client.getBooleanDetails('beta', true, { country: 'SE' })).toMatchObject({ value: false, reason: 'DEFAULT' })
      expect(client.getString('banner', 'x')).toBe('blue')
      expect(client.getStringDetails('banner', 'x')).toMatchObject({ value: 'blue', reason: 'STATIC', errorCode: undefined })
      expect(client.getNumber('limit', 0)).toBe(10)
      expect(client.getNumberDetails('limit', 0).flagMetadata).toMatchObject({ flagType: 'number', version: 1 })
      expect(client.getObject('layout', {})).toEqual({ columns: 2 })
      expect(client.getObjectDetails('layout', null).reason).toBe('STATIC')

      // A type other than the flag's: the caller's default, ERROR / TYPE_MISMATCH.
      expect(client.getString('checkout', 'nope')).toBe('nope')
      expect(client.getNumberDetails('banner', 7)).toMatchObject({ value: 7, reason: 'ERROR', errorCode: 'TYPE_MISMATCH' })
      expect(client.getBooleanDetails('layout', true)).toMatchObject({ value: true, errorCode: 'TYPE_MISMATCH' })
      expect(client.isEnabled('limit', true, {})).toBe(true)
      expect(client.getObjectDetails('checkout', { a: 1 })).toMatchObject({ value: { a: 1 }, errorCode: 'TYPE_MISMATCH' })

      expect(client.getBooleanDetails('missing', true)).toMatchObject({
        value: true,
        reason: 'DEFAULT',
        errorCode: 'FLAG_NOT_FOUND',
      })
      expect(client.isEnabled('missing')).toBe(false)
    })

    it('evaluateAll returns details for every flag', async () => {
      const client = makeClient()
      await client.ready()
      const all = client.evaluateAll({ country: 'NO' })
      expect(Object.keys(all).sort()).toEqual(['banner', 'beta', 'checkout', 'layout', 'limit'])
      expect(all.checkout).toMatchObject({ value: true, reason: 'STATIC' })
      expect(all.beta).toMatchObject({ value: true, reason: 'TARGETING_MATCH', variant: 'staff' })
      expect(all.banner).toMatchObject({ value: 'blue' })
      expect(all.limit).toMatchObject({ value: 10 })
      expect(all.layout).toMatchObject({ value: { columns: 2 } })
      expect(JSON.parse(JSON.stringify(all)).limit.value).toBe(10)
    })

    it(`sees a change ${canPush ? 'by push, with polling off' : 'by polling'}`, async () => {
      const client = makeClient({ pollInterval: canPush ? Infinity : 100 })
      await client.ready()
      const before = client.revision as number
      const changed = nextEvent(client, 'change')
      const current = (await repository.getFlag('banner')) as FeatureFlag
      await repository.updateFlag('banner', { ...input(current), defaultValue: 'green' }, current.version)
      const [revision, previous] = await changed
      expect(previous).toBe(before)
      expect(revision).toBe(await repository.revision())
      expect(client.revision).toBe(revision)
      expect(client.getString('banner', 'x')).toBe('green')
    })

    it('sees a change by polling when the repository cannot push', async () => {
      const client = makeClient({ repository: pollingOnly(repository), pollInterval: 100 })
      await client.ready()
      expect(client.watching).toBe(false)
      const changed = nextEvent(client, 'change')
      await repository.archiveFlag('checkout')
      await changed
      expect(client.getBooleanDetails('checkout', true)).toMatchObject({ value: false, reason: 'DISABLED' })
    })

    it('refresh() loads at once; close() is idempotent and keeps answering from the last snapshot as STALE', async () => {
      const client = makeClient({ pollInterval: Infinity })
      await client.ready()
      await repository.setOverride({ flagKey: 'beta', entityType: 'user', entityId: 'u1', enabled: true })
      await client.refresh()
      expect(client.getBooleanDetails('beta', false, { userId: 'u1' })).toMatchObject({ value: true, reason: 'OVERRIDE' })

      const closing = client.close()
      expect(client.close()).toBe(closing)
      await closing
      await client.close()
      expect(client.status).toBe('CLOSED')
      expect(client.getBooleanDetails('checkout', false)).toMatchObject({ value: true, reason: 'STALE' })
      expect(client.getBooleanDetails('beta', false, { userId: 'u1' })).toMatchObject({ value: true, reason: 'STALE' })
      await expect(client.refresh()).rejects.toMatchObject({ code: 'STORE_CLOSED' })
      await expect(client.ready()).resolves.toBeUndefined() // it was ready
      // The store stays open: the caller owns it.
      expect(await repository.getFlag('checkout')).not.toBeNull()
    })
  })
}

clientBasics('memory', async () => new MemoryStore({ namespace: randomNamespace() }), true)
clientBasics('sqlite', () => createStore(`sqlite://${join(dir, 'basics.sqlite')}`, { namespace: randomNamespace() }), false)
describe.runIf(await serviceAvailable('Redis', REDIS_URL))('redis', () => {
  clientBasics('redis', () => createStore(REDIS_URL, { namespace: randomNamespace() }), true)
})
describe.runIf(await serviceAvailable('PostgreSQL', DATABASE_URL))('postgres', () => {
  clientBasics('postgres', () => createStore(DATABASE_URL, { namespace: randomNamespace() }), true)
})

describe('FlagClient (memory store)', () => {
  it('rejects bad options with INVALID_ARGUMENT naming the field', () => {
    const repository = new StoreFlagRepository(new MemoryStore())
    expect(() => new FlagClient({ repository, pollInterval: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'pollInterval' } }),
    )
    expect(() => new FlagClient({ repository, staleAfter: Number.NaN })).toThrow(
      expect.objectContaining({ details: { field: 'staleAfter' } }),
    )
    expect(() => new FlagClient({ repository, fullRefreshInterval: 2 ** 40 })).toThrow(
      expect.objectContaining({ details: { field: 'fullRefreshInterval' } }),
    )
    expect(() => new FlagClient({ repository: {} as FlagRepository })).toThrow(
      expect.objectContaining({ details: { field: 'repository' } }),
    )
  })

  it('never evaluates against the store: 100,000 evaluations make zero store calls', async () => {
    const calls = new Map<string, number>()
    let total = 0
    const real = new MemoryStore()
    const counted = new Proxy(real, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          total++
          calls.set(String(property), (calls.get(String(property)) ?? 0) + 1)
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    }) as Store
    const repository = new StoreFlagRepository(counted)
    for (const flag of FLAGS) await repository.createFlag(flag)
    await repository.setOverride({ flagKey: 'beta', entityType: 'user', entityId: 'vip', enabled: true })

    const client = new FlagClient({ repository, pollInterval: 50 })
    await client.ready()
    const before = total
    let on = 0
    for (let i = 0; i < 100_000; i++) {
      const context = { userId: i % 100 === 0 ? 'vip' : `u${i}`, country: i % 3 === 0 ? 'NO' : 'SE' }
      if (client.isEnabled('checkout', false, context)) on++
      if (client.isEnabled('beta', false, context)) on++
      if (client.getString('banner', 'x', context) === 'blue') on++
      if (client.getNumber('limit', 0, context) === 10) on++
    }
    // Store calls are counted when they are made, synchronously: an evaluation that read the store
    // would show up here even though its promise never got to run.
    expect(total - before).toBe(0)
    expect(on).toBe(100_000 + Math.ceil(100_000 / 3) + 1_000 - Math.ceil(1_000 / 3) + 200_000)

    // The counter does see the client's own background reads: one revision GET per poll.
    const gets = calls.get('get') ?? 0
    await sleep(300)
    expect(calls.get('get') ?? 0).toBeGreaterThan(gets)
    await client.close()
    const afterClose = total
    await sleep(200)
    expect(total).toBe(afterClose) // close() stopped the timers
    await real.close()
  })

  it('coalesces a burst of pushes: never two loads at once, and the last write is always seen', async () => {
    const store = new MemoryStore()
    const repository = new StoreFlagRepository(store)
    await repository.createFlag(input({ key: 'n', type: 'number', defaultValue: 0 }))
    let inFlight = 0
    let maxInFlight = 0
    let loads = 0
    const watched = new Proxy(repository, {
      get(target, property) {
        if (property === 'loadSnapshot') {
          return async () => {
            loads++
            maxInFlight = Math.max(maxInFlight, ++inFlight)
            try {
              await sleep(20) // a slow store: changes keep arriving during the load
              return await target.loadSnapshot()
            } finally {
              inFlight--
            }
          }
        }
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const client = new FlagClient({ repository: watched, pollInterval: Infinity, fullRefreshInterval: Infinity })
    await client.ready()
    loads = 0
    let flag = (await repository.getFlag('n')) as FeatureFlag
    for (let i = 1; i <= 50; i++) flag = await repository.updateFlag('n', { ...input(flag), defaultValue: i }, flag.version)
    await waitFor(() => client.getNumber('n', -1) === 50)
    await sleep(100)
    expect(maxInFlight).toBe(1)
    expect(loads).toBeLessThan(50)
    expect(client.revision).toBe(await repository.revision())
    await client.close()
    await store.close()
  })

  it('reloads after an outage even at an unchanged revision (a store that lost its data restarts its counter)', async () => {
    const real = new MemoryStore()
    const flaky = switchable(real)
    const writes = new StoreFlagRepository(real)
    await writes.createFlag(input({ key: 'f', defaultEnabled: true }))
    await writes.createFlag(input({ key: 'g' }))
    const errors: Error[] = []
    const client = new FlagClient({
      repository: pollingOnly(new StoreFlagRepository(flaky)),
      pollInterval: 20,
      onError: (e) => errors.push(e),
    })
    await client.ready()
    const held = client.revision ?? 0
    const changed = vi.fn()
    client.on('change', changed)

    flaky.down = true
    await waitFor(() => errors.length > 0)
    await real.deleteAll() // the data is lost …
    // … and the counter happens to come back where the old one was (the repository starts new
    // counters at a random point, so force the collision this test is about)
    await real.set('revision', String(held - 2))
    await writes.createFlag(input({ key: 'f', defaultEnabled: false }))
    await writes.createFlag(input({ key: 'g' }))
    expect(await writes.revision()).toBe(held)
    expect(client.isEnabled('f')).toBe(true)
    flaky.down = false

    await waitFor(() => !client.isEnabled('f', true, {}), 2_000)
    expect(client.revision).toBe(held)
    expect(changed).toHaveBeenCalledWith(held, held, undefined) // a full reload: no flag keys
    await client.close()
    await real.close()
  })

  it('without onError, warns once per outage (not once per failed poll)', async () => {
    const real = new MemoryStore()
    const flaky = switchable(real)
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    try {
      const client = new FlagClient({ repository: pollingOnly(new StoreFlagRepository(flaky)), pollInterval: 20 })
      await client.ready()
      for (let outage = 1; outage <= 2; outage++) {
        flaky.down = true
        await sleep(200) // ~10 failed polls
        flaky.down = false
        await waitFor(() => client.status === 'READY' && client.revision !== undefined)
        await sleep(100)
        expect(warn).toHaveBeenCalledTimes(outage)
      }
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/memory store switched off.*serving the last snapshot/)
      await client.close()
    } finally {
      warn.mockRestore()
      await real.close()
    }
  })

  it('works offline on a StaticFlagRepository and hands the context (environment, now) to the evaluator unchanged', async () => {
    const repository = new StaticFlagRepository({
      flags: [
        makeFlag({ key: 'f', defaultEnabled: true }),
        makeFlag({
          key: 'later',
          defaultEnabled: false,
          scheduledChanges: [{ id: 's', at: new Date('2030-01-01T00:00:00Z'), change: 'enable' }],
        }),
      ],
      environments: [{ slug: 'production', name: 'Production', settings: {} }],
      environmentFlags: [{ environment: 'production', flagKey: 'f', enabled: false }],
    })
    const client = new FlagClient({ repository })
    await client.ready()
    expect(client.watching).toBe(false)
    const direct = compileSnapshot(await repository.loadSnapshot())
    const contexts = [
      {},
      { environment: 'production' },
      { environment: 'staging' },
      { now: new Date('2031-01-01T00:00:00Z') },
      { now: 0 },
    ]
    for (const key of ['f', 'later']) {
      for (const context of contexts) {
        expect(client.getBooleanDetails(key, false, context)).toEqual(direct.evaluate(key, 'boolean', false, context))
      }
    }
    expect(client.isEnabled('f')).toBe(true)
    expect(client.isEnabled('f', false, { environment: 'production' })).toBe(false)
    expect(client.isEnabled('later', false, { now: new Date('2031-01-01T00:00:00Z') })).toBe(true)
    await client.close()
  })

  it('reports listener errors to onError and keeps going', async () => {
    const store = new MemoryStore()
    const repository = new StoreFlagRepository(store)
    await repository.createFlag(input({ key: 'f' }))
    const errors: Error[] = []
    const client = new FlagClient({ repository, onError: (e) => errors.push(e) })
    client.on('ready', () => {
      throw new Error('listener broke')
    })
    await client.ready()
    const changed = nextEvent(client, 'change')
    await repository.archiveFlag('f')
    await changed
    expect(errors.map((e) => e.message)).toEqual(['listener broke'])
    await client.close()
    await store.close()
  })
})

describe('FlagClient outage and recovery (own redis-server)', () => {
  let server: RedisServer
  const rejections = vi.fn()
  beforeEach(async () => {
    server = await RedisServer.start()
    process.on('unhandledRejection', rejections)
  })
  afterEach(async () => {
    process.off('unhandledRejection', rejections)
    await server?.kill()
  })

  it('serves the last snapshot while the store is down, turns STALE after staleAfter, and recovers by itself', async () => {
    const namespace = randomNamespace()
    const store = await createStore(server.url, { namespace })
    const repository = new StoreFlagRepository(store)
    await repository.createFlag(input({ key: 'f', defaultEnabled: true }))
    await repository.createFlag(input({ key: 'color', type: 'string', variants: [{ key: 'a', value: 'red', weight: 1 }] }))
    const errors: Error[] = []
    const events: string[] = []
    const client = new FlagClient({ repository, pollInterval: 100, staleAfter: 500, onError: (e) => errors.push(e) })
    client.on('stale', () => events.push('stale'))
    client.on('ready', () => events.push('ready'))
    client.on('change', () => events.push('change'))
    await client.ready()
    expect(client.watching).toBe(true)
    expect(client.getBooleanDetails('f', false)).toMatchObject({ value: true, reason: 'STATIC' })

    await server.kill()
    const killed = Date.now()
    expect(client.isEnabled('f')).toBe(true)
    let staleAt = 0
    while (staleAt === 0 && Date.now() - killed < 5_000) {
      const details = client.getBooleanDetails('f', false) // never throws, never waits
      expect(details.value).toBe(true)
      if (details.reason === 'STALE') staleAt = Date.now()
      else expect(details.reason).toBe('STATIC')
      await sleep(10)
    }
    expect(staleAt).toBeGreaterThan(0)
    const staleAfterKill = staleAt - killed
    expect(staleAfterKill).toBeLessThan(2_000)
    expect(client.status).toBe('STALE')
    expect(client.getStringDetails('color', 'x')).toMatchObject({ value: 'red', reason: 'STALE', variant: 'a' })
    expect(client.getNumberDetails('f', 1)).toMatchObject({ reason: 'ERROR', errorCode: 'TYPE_MISMATCH' }) // errors stay errors
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.every((e) => (e as { code?: string }).code === 'STORE_UNAVAILABLE')).toBe(true)
    await sleep(300) // a while longer down: still answering, still stale
    expect(client.getBooleanDetails('f', false)).toMatchObject({ value: true, reason: 'STALE' })

    await server.restart() // no persistence: the data (and the revision counter) are gone
    const back = Date.now()
    // Write again as soon as the store takes writes, through a fresh repository on a fresh store.
    const writer = await createStore(server.url, { namespace })
    const writes = new StoreFlagRepository(writer)
    // Two writes, as before the outage: the new counter is back at the revision the client holds
    // (unless the client happened to reconnect between them), so only reloading after an outage
    // regardless of the revision finds the new data.
    const changes: Array<[number, number]> = []
    client.on('change', (revision, previous) => changes.push([revision, previous]))
    await writes.createFlag(input({ key: 'f', defaultEnabled: false }))
    await writes.createFlag(input({ key: 'color', type: 'string', variants: [{ key: 'b', value: 'blue', weight: 1 }] }))
    await waitFor(() => client.getBooleanDetails('f', true).value === false && client.getString('color', 'x') === 'blue', 5_000)
    const seen = Date.now() - back
    expect(client.status).toBe('READY')
    expect(client.getBooleanDetails('f', true)).toMatchObject({ value: false, reason: 'STATIC' })
    expect(seen).toBeLessThan(2_000)

    // And the next change (pushed again once the store re-subscribed after reconnecting, else polled).
    const flag = (await writes.getFlag('f')) as FeatureFlag
    const pushed = Date.now()
    await writes.updateFlag('f', { ...input(flag), defaultEnabled: true }, flag.version)
    await waitFor(() => client.isEnabled('f'), 2_000)
    const pushLatency = Date.now() - pushed
    console.log(
      `outage timeline: STALE ${staleAfterKill} ms after kill (staleAfter 500, poll 100); ` +
        `change visible ${seen} ms after the server was back (changes [revision, previous]: ${JSON.stringify(changes)}); next change ${pushLatency} ms; ` +
        `${errors.length} background errors reported; events ${events.join(' → ')}`,
    )
    expect(changes.length).toBeGreaterThan(0) // announced, even at a colliding revision
    expect(events).toContain('stale')
    expect(events.slice(events.indexOf('stale'))).toContain('ready')
    expect(rejections).not.toHaveBeenCalled()
    await client.close()
    await writer.close()
    await store.close()
  }, 30_000)

  it('store down at start: ready() rejects after readyTimeout, the client keeps trying and becomes ready later', async () => {
    await server.kill()
    const namespace = randomNamespace()
    const store = await createStore(server.url, { namespace })
    const errors: Error[] = []
    const client = new FlagClient({
      repository: new StoreFlagRepository(store),
      pollInterval: 100,
      readyTimeout: 500,
      onError: (e) => errors.push(e),
    })
    const started = Date.now()
    await expect(client.ready()).rejects.toMatchObject({ name: 'FlagstoneError', code: 'STORE_UNAVAILABLE' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(450)
    expect(client.getBooleanDetails('f', true)).toMatchObject({ value: true, errorCode: 'PROVIDER_NOT_READY' })
    expect(errors.length).toBeGreaterThan(0)

    await server.restart()
    const writer = await createStore(server.url, { namespace })
    await new StoreFlagRepository(writer).createFlag(input({ key: 'f', defaultEnabled: true }))
    const back = Date.now()
    await client.ready()
    await waitFor(() => client.isEnabled('f'), 2_000) // it may have loaded just before the write
    expect(Date.now() - back).toBeLessThan(5_000)
    // The subscription that failed at start is made again.
    await waitFor(() => client.watching, 5_000)
    expect(rejections).not.toHaveBeenCalled()
    await client.close()
    await writer.close()
    await store.close()
  }, 30_000)
})
