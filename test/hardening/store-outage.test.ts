/**
 * Issue 10 item 8 and the "killed Redis under load" fault: a store outage answers 503 with
 * `Retry-After` and an `application/problem+json` body carrying `STORE_UNAVAILABLE` in every
 * middleware that is set to fail closed (session by default), goes on in the ones set to fail
 * open, and a server under concurrent load whose Redis is killed -9 and restarted on the same
 * port answers every request within a bound and recovers. Our own redis-server, killed by pid.
 */
import Koa from 'koa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreFlagRepository } from '../../src/flags/index.js'
import { adminRouter, flags, rateLimit, responseCache, session, stores } from '../../src/koa/index.js'
import { createStore, StoreRegistry, type Store } from '../../src/index.js'
import { createLogger } from '../../src/observability/index.js'
import { startServer } from '../../src/server.js'
import { type Served, serve } from '../koa/helpers.js'
import { RedisServer } from '../helpers/redis-server.js'
import { randomNamespace, sleep } from '../helpers/services.js'

const TOKEN = 'outage-admin-token-0123456789abcdef'
let redis: RedisServer
beforeAll(async () => {
  redis = await RedisServer.start()
}, 30_000)
afterAll(async () => {
  await redis?.kill()
})

async function expectProblem(response: Response, what: RegExp): Promise<void> {
  expect(response.status).toBe(503)
  expect(response.headers.get('retry-after')).toBe('1')
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  const body = (await response.json()) as { code: string; status: number; detail: string; error: { code: string } }
  expect(body).toMatchObject({ code: 'STORE_UNAVAILABLE', status: 503, error: { code: 'STORE_UNAVAILABLE' } })
  expect(body.detail).toMatch(what)
}

describe('a store outage in each middleware (item 8)', () => {
  let store: Store
  const served: Served[] = []
  beforeAll(async () => {
    store = await createStore(redis.url, { namespace: randomNamespace(), operationTimeout: 1000 })
  })
  afterAll(async () => {
    await Promise.all(served.map((s) => s.close()))
    await store?.close().catch(() => undefined)
  })

  async function app(...middleware: Koa.Middleware[]): Promise<string> {
    const koa = new Koa()
    koa.on('error', () => undefined) // each outage is reported; the answers are what is tested
    koa.use(stores(new StoreRegistry({ defaultFactory: (name) => store.withNamespace(name) })))
    for (const m of middleware) koa.use(m)
    koa.use((ctx) => {
      if (ctx.path === '/login') ctx.session.user = 'alice'
      ctx.body = { ok: true }
    })
    const s = await serve(koa)
    served.push(s)
    return s.url
  }

  it('closed: 503 + Retry-After + problem body; open: the request goes on; other errors are not excused', async () => {
    const repository = new StoreFlagRepository(store.withNamespace('flags'))
    await repository.createFlag({ key: 'demo', type: 'boolean' })
    const sessions = await app(session())
    const login = await fetch(`${sessions}/login`)
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!
    const openSessions = await app(session({ onStoreError: 'open' }))
    const closedLimit = await app(rateLimit({ limit: 100, onStoreError: 'closed' }))
    const openLimit = await app(rateLimit({ limit: 100 }))
    const closedCache = await app(responseCache({ onStoreError: 'closed' }))
    const openCache = await app(responseCache())
    const closedFlags = await app(flags({ onStoreError: 'closed', readyTimeout: 500 }))
    const adminApp = new Koa()
    adminApp.on('error', () => undefined)
    adminApp.use(adminRouter({ repository, auth: { token: TOKEN } }))
    const adminServed = await serve(adminApp)
    served.push(adminServed)
    expect((await fetch(`${adminServed.url}/admin/api/flags`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(
      200,
    )

    await redis.kill()
    try {
      await expectProblem(await fetch(sessions, { headers: { cookie } }), /session/)
      const open = await fetch(openSessions, { headers: { cookie } })
      expect(open.status).toBe(200)
      expect(open.headers.get('set-cookie')).toBeNull() // the user's cookie is left alone
      await expectProblem(await fetch(closedLimit), /rate limiting/)
      expect((await fetch(openLimit)).status).toBe(200)
      await expectProblem(await fetch(closedCache), /response cache/)
      expect((await fetch(openCache)).status).toBe(200)
      await expectProblem(await fetch(closedFlags), /feature flags/)
      await expectProblem(
        await fetch(`${adminServed.url}/admin/api/flags`, { headers: { authorization: `Bearer ${TOKEN}` } }),
        /flag store/,
      )
    } finally {
      await redis.restart()
    }
  }, 60_000)

  it('onStoreError is checked', () => {
    expect(() => session({ onStoreError: 'maybe' as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
    expect(() => rateLimit({ limit: 1, onStoreError: 'x' as never })).toThrow(
      expect.objectContaining({ details: { field: 'onStoreError' } }),
    )
  })
})

describe('killed Redis under load (fault report)', () => {
  it('every request is answered within the bound (200, 404 or 503, never 500), and the server recovers', async () => {
    const server = await startServer({
      storeUrl: redis.url,
      port: 0,
      host: '127.0.0.1',
      adminToken: TOKEN,
      logger: createLogger({ level: 'silent' }),
      rateLimit: { limit: 1_000_000, window: 60_000 },
      adminRateLimit: { limit: 1_000_000, window: 60_000 },
    })
    const base = `http://127.0.0.1:${server.port}`
    const BOUND = 15_000 // operationTimeout (10 s by default) and a loaded 2-core machine
    const statuses = new Map<number | string, number>()
    let tried = 0
    let withinBound = 0
    let stop = false
    let lastOk = 0
    const worker = async (i: number) => {
      while (!stop) {
        tried++
        const started = Date.now()
        const path = i % 2 === 0 ? '/admin/api/flags' : '/demo'
        try {
          const response = await fetch(base + path, {
            headers: { authorization: `Bearer ${TOKEN}` },
            signal: AbortSignal.timeout(BOUND),
          })
          await response.arrayBuffer()
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
          if (response.status === 503) expect(response.headers.get('retry-after')).not.toBeNull()
          if (response.status === 200 && path === '/admin/api/flags') lastOk = Date.now()
          withinBound++
        } catch (error) {
          const name = (error as Error).name
          statuses.set(name, (statuses.get(name) ?? 0) + 1)
        }
        if (Date.now() - started < 5) await sleep(5)
      }
    }
    try {
      const workers = Array.from({ length: 8 }, (_, i) => worker(i))
      await sleep(1500)
      await redis.kill()
      const killedAt = Date.now()
      await sleep(3000)
      await redis.restart()
      const restartedAt = Date.now()
      while (lastOk < restartedAt && Date.now() - restartedAt < 30_000) await sleep(50)
      const recoveryMs = lastOk - restartedAt
      stop = true
      await Promise.all(workers)
      const report = { tried, withinBound, statuses: Object.fromEntries(statuses), downMs: restartedAt - killedAt, recoveryMs }
      console.log(`killed Redis under load: ${JSON.stringify(report)}`)
      expect(withinBound).toBe(tried)
      expect([...statuses.keys()].every((s) => s === 200 || s === 404 || s === 503)).toBe(true)
      expect(statuses.get(503) ?? 0).toBeGreaterThan(0)
      expect(recoveryMs).toBeGreaterThanOrEqual(0)
      expect(recoveryMs).toBeLessThan(30_000)
    } finally {
      stop = true
      await server.close()
    }
  }, 120_000)
})
