/**
 * Issue 10 item 12: bad input that used to escape as the wrong error. An out-of-range epoch
 * (1e16) in rolloutPhases / scheduledChanges, `null` as an options argument of any public
 * function, and a lone surrogate in an override's entity id are all INVALID_ARGUMENT naming the
 * field — over HTTP a 400, never a 500, RangeError, TypeError or URIError.
 */
import Koa from 'koa'
import { afterAll, describe, expect, it } from 'vitest'
import * as flagstone from '../../src/index.js'
import { isFlagstoneError } from '../../src/errors.js'
import * as koa from '../../src/koa/index.js'
import * as observability from '../../src/observability/index.js'
import { adminUi } from '../../src/koa/admin-ui.js'
import { FlagstoneProvider } from '../../src/openfeature/index.js'
import { createApp, startServer } from '../../src/server.js'
import { startAdmin, type Admin } from '../koa/admin-helpers.js'

const { MemoryStore, StoreFlagRepository, FlagClient } = flagstone

/** Runs `call` and answers the error's code and field (or 'no error' / the class of a non-flagstone error). */
async function failure(call: () => unknown): Promise<{ code: string; field?: unknown }> {
  try {
    await call()
  } catch (error) {
    if (isFlagstoneError(error)) return { code: error.code, field: error.details?.field }
    return { code: `${(error as Error).constructor.name}: ${(error as Error).message}` }
  }
  return { code: 'no error' }
}

describe('out-of-range epochs are INVALID_ARGUMENT naming the field', () => {
  const repository = new StoreFlagRepository(new MemoryStore())
  it('createFlag with rolloutPhases / scheduledChanges at 1e16 (was a RangeError)', async () => {
    expect(
      await failure(() =>
        repository.createFlag({ key: 'a', type: 'boolean', rolloutPhases: [{ at: 1e16 as never, percentage: 50 }] }),
      ),
    ).toEqual({ code: 'INVALID_ARGUMENT', field: 'rolloutPhases[0].at' })
    expect(
      await failure(() =>
        repository.createFlag({
          key: 'b',
          type: 'boolean',
          scheduledChanges: [{ id: 'c1', at: -1e16 as never, change: 'enable' }],
        }),
      ),
    ).toEqual({ code: 'INVALID_ARGUMENT', field: 'scheduledChanges[0].at' })
    expect(await repository.listFlags()).toEqual([]) // a failed write changes nothing
    expect(
      await failure(() =>
        flagstone.validateFlagInput({ key: 'c', type: 'boolean', rolloutPhases: [{ at: 253402300800000, percentage: 1 }] }),
      ),
    ).toEqual({ code: 'INVALID_ARGUMENT', field: 'rolloutPhases[0].at' })
    // the edges of four-digit years are still fine
    await repository.createFlag({ key: 'd', type: 'boolean', rolloutPhases: [{ at: new Date(253402300799999), percentage: 1 }] })
  })

  let admin: Admin | undefined
  afterAll(async () => admin?.served.close())
  it('over HTTP: 400 naming the field (was 500)', async () => {
    admin = await startAdmin()
    const phases = await admin.api('POST', '/flags', { key: 'a', type: 'boolean', rolloutPhases: [{ at: 1e16, percentage: 5 }] })
    expect(phases.status, phases.text).toBe(400)
    expect(phases.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', details: { field: 'rolloutPhases[0].at' } })
    expect((await admin.api('POST', '/flags', { key: 'a', type: 'boolean' })).status).toBe(201)
    const change = await admin.api(
      'POST',
      '/flags/a/schedule',
      { at: 1e16, change: 'enable' },
      { headers: { 'if-match': '"1"' } },
    )
    expect(change.status, change.text).toBe(400)
    expect(change.body.error.details.field).toMatch(/(^|\.)at$/)
    const put = await admin.api('PUT', '/flags/a/rollout-phases', [{ at: 1e16, percentage: 5 }], {
      headers: { 'if-match': '"1"' },
    })
    expect(put.status, put.text).toBe(400)
    expect(admin.errors).toEqual([]) // nothing reached the 500 path
  })
})

describe('a lone surrogate in an id is INVALID_ARGUMENT (was URIError)', () => {
  it('setOverride, and the other documents keyed by a string', async () => {
    const repository = new StoreFlagRepository(new MemoryStore())
    await repository.createFlag({ key: 'a', type: 'boolean' })
    expect(
      await failure(() => repository.setOverride({ flagKey: 'a', entityType: 'user', entityId: 'u\ud800', enabled: true })),
    ).toEqual({ code: 'INVALID_ARGUMENT', field: 'entityId' })
    expect(await failure(() => repository.createFlag({ key: 'b', type: 'boolean', description: 'x\udc00y' }))).toEqual({
      code: 'INVALID_ARGUMENT',
      field: 'description',
    })
    // a pair is a character, not a lone surrogate
    await repository.setOverride({ flagKey: 'a', entityType: 'user', entityId: 'u\ud83d\ude00', enabled: true })
    expect(await repository.listOverrides('a')).toHaveLength(1)
  })
})

describe('null as an options argument is INVALID_ARGUMENT naming it (was TypeError)', () => {
  const NULL = null as never
  const store = new MemoryStore()
  const repository = new StoreFlagRepository(store)
  const calls: Record<string, () => unknown> = {
    'createStore(url, null)': () => flagstone.createStore('memory://', NULL),
    'createMemoryStore(null)': () => flagstone.createMemoryStore(NULL),
    'new MemoryStore(null)': () => new MemoryStore(NULL),
    'createSqliteStore(null)': () => flagstone.createSqliteStore(NULL),
    'createRedisStore(null)': () => flagstone.createRedisStore(NULL),
    'createPostgresStore(null)': () => flagstone.createPostgresStore(NULL),
    'createMysqlStore(null)': () => flagstone.createMysqlStore(NULL),
    'new StoreRegistry(null)': () => new flagstone.StoreRegistry(NULL),
    'store.get(k, null)': () => store.get('k', NULL),
    'store.set(k, v, null)': () => store.set('k', 'v', NULL),
    'store.increment(k, 1, null)': () => store.increment('n', 1, NULL),
    'store.compareAndSet(k, null, v, null)': () => store.compareAndSet('k', null, 'v', NULL),
    'keyvAdapter(store, null)': () => flagstone.keyvAdapter(store, NULL),
    'new StoreFlagRepository(store, null)': () => new StoreFlagRepository(store, NULL),
    'repository.listFlags(null)': () => repository.listFlags(NULL),
    'repository.promote(k, a, b, null)': () => repository.promote('a', 'x', 'y', NULL),
    'validateFlag(x, null)': () => flagstone.validateFlag({}, NULL),
    'validateFlagInput(x, null)': () => flagstone.validateFlagInput({}, NULL),
    'validateSegment(x, null)': () => flagstone.validateSegment({}, NULL),
    'validateEnvironment(x, null)': () => flagstone.validateEnvironment({}, NULL),
    'new FlagClient(null)': () => new FlagClient(NULL),
    'environment(null)': () => koa.environment(NULL),
    'session(null)': () => koa.session(NULL),
    'rateLimit(null)': () => koa.rateLimit(NULL),
    'responseCache(null)': () => koa.responseCache(NULL),
    'flags(null)': () => koa.flags(NULL),
    'requireFlag(k, null)': () => koa.requireFlag('k', NULL),
    'adminRouter(null)': () => koa.adminRouter(NULL),
    'adminUi(null)': () => adminUi(NULL),
    'ofrepRouter(null)': () => koa.ofrepRouter(NULL),
    'new AuditLog(store, null)': () => new koa.AuditLog(store, NULL),
    'createLogger(null)': () => observability.createLogger(NULL),
    'createMetrics(null)': () => observability.createMetrics(NULL),
    'new FlagstoneProvider(null)': () => new FlagstoneProvider(NULL),
    'createApp(null)': () => createApp(NULL),
    'startServer(null)': () => startServer(NULL),
    'mountApiStandards(app, null)': () => koa.mountApiStandards(new Koa(), NULL),
  }
  for (const [name, call] of Object.entries(calls)) {
    it(name, async () => {
      const { code, field } = await failure(call)
      expect(code).toBe('INVALID_ARGUMENT')
      expect(field).toMatch(/^(options|filter)$/)
    })
  }
})
