/** flags() and requireFlag() over real HTTP, on memory stores (Redis: flags-redis.test.ts). */
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { isFlagstoneError } from '../../src/errors.js'
import type { FlagClient } from '../../src/flags/client/client.js'
import type { FlagDraft } from '../../src/flags/model.js'
import { StoreFlagRepository } from '../../src/flags/repositories/store-repository.js'
import {
  closeFlags,
  closeStores,
  environment,
  type FlagsOptions,
  flags,
  requireFlag,
  type RequireFlagOptions,
  startFlags,
  stores,
} from '../../src/koa/index.js'
import { adminRouter } from '../../src/koa/admin/router.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { StoreRegistry } from '../../src/stores/registry.js'
import { sleep } from '../helpers/services.js'
import { collectErrors, type Served, serve } from './helpers.js'

const running: Served[] = []
const apps: Koa[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
  for (const app of apps.splice(0)) {
    await closeFlags(app)
    await closeStores(app)
  }
})

/** A flag on for the users listed, off for everyone else. */
const forUsers = (key: string, users: string[]): FlagDraft => ({
  key,
  type: 'boolean',
  rules: [{ id: 'listed', conditions: [{ attribute: 'userId', operator: 'in', value: users }] }],
})

/** `x-user: <id>` plays the part of an authentication middleware (sets ctx.state.user). */
const fakeAuth: Koa.Middleware = (ctx, next) => {
  const id = ctx.get('x-user')
  if (id !== '') ctx.state.user = { id }
  return next()
}

async function start(options: FlagsOptions = {}, routes?: (app: Koa, repository: StoreFlagRepository) => void) {
  const flagStore = new MemoryStore()
  const registry = new StoreRegistry({ stores: { flags: flagStore } })
  const repository = new StoreFlagRepository(flagStore)
  const app = new Koa()
  apps.push(app)
  const errors = collectErrors(app)
  app.use(stores(registry))
  app.use(environment())
  app.use(fakeAuth)
  app.use(flags(options))
  if (routes) routes(app, repository)
  app.use((ctx) => {
    ctx.body = {
      beta: ctx.flags.isEnabled('beta'),
      theme: ctx.flags.getString('theme', 'light'),
      context: ctx.flags.context,
    }
  })
  const served = await serve(app)
  running.push(served)
  const get = (path = '/', headers: Record<string, string> = {}) => fetch(served.url + path, { headers })
  return { app, registry, repository, flagStore, served, errors, get }
}

/** Polls `check` until it holds, at most `within` ms; returns how long it took. */
async function eventually(check: () => Promise<boolean>, within: number): Promise<number> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > within) throw new Error(`not within ${within} ms`)
    await sleep(20)
  }
  return Date.now() - started
}

describe('flags()', () => {
  it("ctx.flags evaluates with the request's context: a rule on userId from ctx.state.user", async () => {
    const { repository, get } = await start()
    await repository.createFlag(forUsers('beta', ['alice']))
    await repository.createFlag({ key: 'theme', type: 'string', defaultEnabled: true, defaultValue: 'dark' })

    const alice = await get('/', { 'x-user': 'alice', 'user-agent': 'test-agent/1', 'x-environment': 'staging' })
    expect(await alice.json()).toEqual({
      beta: true,
      theme: 'dark',
      context: {
        targetingKey: 'alice',
        userId: 'alice',
        ipAddress: '127.0.0.1',
        userAgent: 'test-agent/1',
        environment: 'staging',
      },
    })
    const bob = (await (await get('/', { 'x-user': 'bob' })).json()) as { beta: boolean; context: Record<string, unknown> }
    expect(bob.beta).toBe(false)
    expect(bob.context.userId).toBe('bob')
    const anonymous = (await (await get('/')).json()) as { beta: boolean; context: Record<string, unknown> }
    expect(anonymous.beta).toBe(false)
    expect(anonymous.context.userId).toBeUndefined()
    expect(anonymous.context.targetingKey).toBeUndefined()
  })

  it('context(ctx) extends the defaults; a field returned as undefined removes its default', async () => {
    const { repository, get } = await start({
      context: (ctx) => ({ country: ctx.get('x-country'), userAgent: undefined, attributes: { plan: ctx.get('x-plan') } }),
    })
    await repository.createFlag({
      key: 'beta',
      type: 'boolean',
      rules: [{ id: 'pro', conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }] }],
    })
    const pro = await get('/', { 'x-user': 'carol', 'x-country': 'NO', 'x-plan': 'pro', 'user-agent': 'ua' })
    expect(await pro.json()).toMatchObject({
      beta: true,
      context: { targetingKey: 'carol', userId: 'carol', ipAddress: '127.0.0.1', country: 'NO', attributes: { plan: 'pro' } },
    })
    const free = (await (await get('/', { 'x-plan': 'free', 'user-agent': 'ua' })).json()) as {
      beta: boolean
      context: Record<string, unknown>
    }
    expect(free.beta).toBe(false)
    expect('userAgent' in free.context).toBe(false)
  })

  it('the context follows ctx.state.user when it changes during the request (e.g. a login after a first evaluation)', async () => {
    const { repository, get } = await start({}, (app) => {
      app.use((ctx, next) => {
        if (ctx.path !== '/login') return next()
        const before = ctx.flags.isEnabled('beta')
        const same = ctx.flags === ctx.flags
        ctx.state.user = { id: 42 } // numeric ids become strings
        ctx.body = { before, after: ctx.flags.isEnabled('beta'), same, userId: ctx.flags.context.userId }
      })
    })
    await repository.createFlag(forUsers('beta', ['42']))
    expect(await (await get('/login')).json()).toEqual({ before: false, after: true, same: true, userId: '42' })
  })

  it('every evaluation helper is bound to the request: typed getters, details, evaluateAll', async () => {
    const { repository, get } = await start({}, (app) => {
      app.use((ctx, next) => {
        if (ctx.path !== '/all') return next()
        const f = ctx.flags
        ctx.body = {
          boolean: f.getBoolean('beta', false),
          details: f.getBooleanDetails('beta', false),
          number: f.getNumber('limit', 1),
          numberDetails: f.getNumberDetails('limit', 1).reason,
          string: f.getString('missing', 'fallback'),
          stringDetails: f.getStringDetails('missing', 'fallback').errorCode,
          object: f.getObject('config', { a: 0 }),
          objectDetails: f.getObjectDetails('config', { a: 0 }).value,
          wrongType: f.isEnabled('limit', true),
          all: Object.keys(f.evaluateAll()).sort(),
          ready: f.client.status,
        }
      })
    })
    await repository.createFlag(forUsers('beta', ['dora']))
    await repository.createFlag({ key: 'limit', type: 'number', defaultEnabled: true, defaultValue: 10 })
    await repository.createFlag({ key: 'config', type: 'json', defaultEnabled: true, defaultValue: { a: 1 } })
    const body = (await (await get('/all', { 'x-user': 'dora' })).json()) as Record<string, unknown>
    expect(body).toMatchObject({
      boolean: true,
      details: { flagKey: 'beta', value: true, reason: 'TARGETING_MATCH' },
      number: 10,
      numberDetails: 'STATIC',
      string: 'fallback',
      stringDetails: 'FLAG_NOT_FOUND',
      object: { a: 1 },
      objectDetails: { a: 1 },
      wrongType: true,
      all: ['beta', 'config', 'limit'],
      ready: 'READY',
    })
  })

  it('concurrent first requests build one client and wait for it once', async () => {
    const seen = new Set<FlagClient>()
    const { repository, get } = await start({}, (app) => {
      app.use((ctx, next) => {
        seen.add(ctx.flags.client)
        return next()
      })
    })
    await repository.createFlag(forUsers('beta', ['erin']))
    const bodies = await Promise.all(Array.from({ length: 20 }, () => get('/', { 'x-user': 'erin' }).then((r) => r.json())))
    expect(bodies.every((b) => (b as { beta: boolean }).beta)).toBe(true) // every one of them waited for the snapshot
    expect(seen.size).toBe(1)
  })

  it('startFlags(app) builds and readies the client before the first request, and requests use it', async () => {
    const flagStore = new MemoryStore()
    await new StoreFlagRepository(flagStore).createFlag({ key: 'beta', type: 'boolean', defaultEnabled: true })
    const app = new Koa()
    apps.push(app)
    app.use(stores(new StoreRegistry({ stores: { flags: flagStore } })))
    app.use(flags())
    app.use((ctx) => {
      ctx.body = { same: ctx.flags.client === started[0], beta: ctx.flags.isEnabled('beta') }
    })
    const started = await startFlags(app)
    expect(started).toHaveLength(1)
    expect(started[0]?.status).toBe('READY')
    const served = await serve(app)
    running.push(served)
    expect(await (await fetch(served.url)).json()).toEqual({ same: true, beta: true })
  })

  it('closeFlags(app) closes the client; requests after it still answer from the last snapshot', async () => {
    const { app, repository, get } = await start({}, (a) => {
      a.use((ctx, next) => {
        if (ctx.path !== '/status') return next()
        ctx.body = { status: ctx.flags.client.status, beta: ctx.flags.isEnabled('beta') }
      })
    })
    await repository.createFlag({ key: 'beta', type: 'boolean', defaultEnabled: true })
    expect(await (await get('/status')).json()).toEqual({ status: 'READY', beta: true })
    await closeFlags(app)
    await closeFlags(app) // idempotent
    expect(await (await get('/status')).json()).toEqual({ status: 'CLOSED', beta: true })
  })

  it('closeStores(app) alone closes the flag clients first, then the stores', async () => {
    const { app, get } = await start({}, (a) => {
      a.use((ctx, next) => {
        if (ctx.path !== '/status') return next()
        ctx.body = { status: ctx.flags.client.status }
      })
    })
    expect(await (await get('/status')).json()).toEqual({ status: 'READY' })
    await closeStores(app)
    expect(await (await get('/status')).json()).toEqual({ status: 'CLOSED' })
  })

  it('store unusable at start, failOpen (default): requests go on with defaults, one error reported, no second wait', async () => {
    const { flagStore, get, errors } = await start({ readyTimeout: 200, onError: () => undefined })
    await flagStore.close()
    const started = Date.now()
    const first = (await (await get('/', { 'x-user': 'alice' })).json()) as { beta: boolean; theme: string }
    expect(first).toMatchObject({ beta: false, theme: 'light' })
    for (let i = 0; i < 3; i++) expect((await get('/')).status).toBe(200)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(errors).toHaveLength(1)
    expect(isFlagstoneError(errors[0], 'STORE_CLOSED')).toBe(true)
  })

  it('store unusable at start, failOpen: false: 503 STORE_UNAVAILABLE without internals', async () => {
    const { flagStore, get, errors } = await start({ readyTimeout: 200, failOpen: false, onError: () => undefined })
    await flagStore.close()
    const response = await get('/')
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await response.json()).toMatchObject({
      status: 503,
      code: 'STORE_UNAVAILABLE',
      error: { code: 'STORE_UNAVAILABLE', message: expect.stringContaining('feature flags is unavailable'), details: {} },
    })
    expect((await get('/')).status).toBe(503)
    expect(errors).toHaveLength(1)
  })

  it('wiring mistakes fail loudly: flags() without stores() before it, requireFlag() without flags()', async () => {
    const noRegistry = new Koa()
    const errors = collectErrors(noRegistry)
    noRegistry.use(flags())
    noRegistry.use((ctx) => {
      ctx.body = 'unreachable'
    })
    const a = await serve(noRegistry)
    running.push(a)
    expect((await fetch(a.url)).status).toBe(500)
    expect(isFlagstoneError(errors[0], 'NOT_CONFIGURED')).toBe(true)
    expect((errors[0] as Error).message).toMatch(/flags\(\).*stores\(registry\)/)

    const noFlags = new Koa()
    const errors2 = collectErrors(noFlags)
    noFlags.use(stores(new StoreRegistry()))
    noFlags.use(requireFlag('beta'))
    const b = await serve(noFlags)
    running.push(b)
    expect((await fetch(b.url)).status).toBe(500)
    expect(isFlagstoneError(errors2[0], 'NOT_CONFIGURED')).toBe(true)
    expect((errors2[0] as Error).message).toMatch(/requireFlag\("beta"\).*flags\(\)/)
  })

  it('startFlags(app) on an app with flags() but no stores() is a wiring mistake (NOT_CONFIGURED), not a missing thing', async () => {
    const app = new Koa()
    app.use(flags())
    await expect(startFlags(app)).rejects.toMatchObject({ code: 'NOT_CONFIGURED', details: { middleware: 'stores' } })
  })

  it('rejects bad options up front and never mutates them', () => {
    const bad: unknown[] = [
      null,
      { store: '' },
      { store: 3 },
      { context: 'user' },
      { pollInterval: -1 },
      { readyTimeout: 'soon' },
      { onError: true },
    ]
    for (const options of bad) {
      expect(() => flags(options as FlagsOptions), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      )
    }
    const options = { store: 'flags', pollInterval: 500 }
    flags(options)
    expect(options).toEqual({ store: 'flags', pollInterval: 500 })
  })
})

describe('requireFlag()', () => {
  it('answers 404 while the flag is off and passes once it is on — changed through the admin API, seen without a restart', async () => {
    const token = 'flags-test-token-0123456789abcdef'
    const { get, served } = await start({}, (app, repository) => {
      app.use(adminRouter({ repository, auth: { token } }))
      app.use(async (ctx, next) => {
        if (ctx.path !== '/beta') return next()
        await requireFlag('beta')(ctx, async () => {
          ctx.body = { welcome: ctx.state.user?.id ?? 'anonymous' }
        })
      })
    })
    const admin = (method: string, path: string, body: unknown) =>
      fetch(`${served.url}/admin/api${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })

    const missing = await get('/beta')
    expect(missing.status).toBe(404)
    expect(await missing.text()).toBe('Not Found') // exactly like a route that does not exist

    expect((await admin('POST', '/flags', forUsers('beta', ['alice']))).status).toBe(201)
    expect(await eventually(async () => (await get('/beta', { 'x-user': 'alice' })).status === 200, 2_000)).toBeLessThan(2_000)
    expect((await get('/beta', { 'x-user': 'bob' })).status).toBe(404)

    expect((await admin('PATCH', '/flags/beta', { defaultEnabled: true })).status).toBe(200)
    await eventually(async () => (await get('/beta', { 'x-user': 'bob' })).status === 200, 2_000)
    expect(await (await get('/beta', { 'x-user': 'bob' })).json()).toEqual({ welcome: 'bob' })

    expect((await admin('PATCH', '/flags/beta', { defaultEnabled: false, rules: [] })).status).toBe(200)
    await eventually(async () => (await get('/beta', { 'x-user': 'alice' })).status === 404, 2_000)
  })

  it('status option; a flag of another type counts as off; bad arguments are rejected', async () => {
    const { repository, get } = await start({}, (app) => {
      app.use(async (ctx, next) => {
        if (ctx.path === '/forbidden') {
          await requireFlag('beta', { status: 403 })(ctx, async () => {
            ctx.body = 'in'
          })
        } else if (ctx.path === '/typed') {
          await requireFlag('theme')(ctx, async () => {
            ctx.body = 'in'
          })
        } else {
          await next()
        }
      })
    })
    await repository.createFlag({ key: 'theme', type: 'string', defaultEnabled: true, defaultValue: 'dark' })
    const forbidden = await get('/forbidden')
    expect(forbidden.status).toBe(403)
    expect(await forbidden.text()).toBe('Forbidden')
    expect((await get('/typed')).status).toBe(404)

    for (const [key, options] of [
      ['', {}],
      [7, {}],
      ['beta', { status: 200 }],
      ['beta', { status: 404.5 }],
      ['beta', null],
    ] as [unknown, unknown][]) {
      expect(() => requireFlag(key as string, options as RequireFlagOptions), JSON.stringify([key, options])).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      )
    }
  })
})
