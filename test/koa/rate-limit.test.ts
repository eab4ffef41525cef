/** rateLimit() in one process over real HTTP, on memory stores (the cross-process test is separate). */
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { isFlagstoneError } from '../../src/errors.js'
import { type RateLimitOptions, rateLimit, stores } from '../../src/koa/index.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { StoreRegistry } from '../../src/stores/registry.js'
import { collectErrors, type Served, serve } from './helpers.js'

const running: Served[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

async function start(options: RateLimitOptions, configure?: (app: Koa) => void) {
  const store = new MemoryStore()
  const registry = new StoreRegistry({ stores: { rate_limit: store } })
  const app = new Koa()
  configure?.(app)
  const errors = collectErrors(app)
  app.use(stores(registry))
  app.use(rateLimit(options))
  app.use((ctx) => {
    ctx.body = { ok: true, ip: ctx.ip }
  })
  const served = await serve(app)
  running.push(served)
  const get = (path = '/', headers: Record<string, string> = {}) => fetch(served.url + path, { headers })
  return { app, store, registry, served, errors, get }
}

describe('rateLimit()', () => {
  it('sets RateLimit-* on every answer and answers 429 with Retry-After and a JSON error once over the limit', async () => {
    let now = Date.UTC(2030, 0, 1, 12, 0, 10) // 10 s into a minute
    const { get } = await start({ limit: 3, window: 60_000, now: () => now })
    for (let i = 1; i <= 3; i++) {
      const ok = await get()
      expect(ok.status).toBe(200)
      expect(ok.headers.get('ratelimit-limit')).toBe('3')
      expect(ok.headers.get('ratelimit-remaining')).toBe(String(3 - i))
      expect(ok.headers.get('ratelimit-reset')).toBe('50')
      expect(ok.headers.get('ratelimit-policy')).toBe('3;w=60')
      expect(ok.headers.get('retry-after')).toBeNull()
    }
    now += 20_000
    const limited = await get()
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('30')
    expect(limited.headers.get('ratelimit-remaining')).toBe('0')
    expect(limited.headers.get('ratelimit-reset')).toBe('30')
    expect(limited.headers.get('ratelimit-policy')).toBe('3;w=60')
    expect(limited.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await limited.json()).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: 'too many requests: the limit is 3 per 60 s',
        details: { limit: 3, window: 60_000, retryAfter: 30 },
      },
    })
  })

  it('starts a new window at the window boundary; Retry-After is at least 1', async () => {
    let now = Date.UTC(2030, 0, 1, 12, 0, 59, 999) // 1 ms before the window ends
    const { get } = await start({ limit: 1, window: 60_000, now: () => now })
    expect((await get()).status).toBe(200)
    const limited = await get()
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('1')
    expect(limited.headers.get('ratelimit-reset')).toBe('1')
    now += 1
    const fresh = await get()
    expect(fresh.status).toBe(200)
    expect(fresh.headers.get('ratelimit-reset')).toBe('60')
  })

  it('a counter whose expiry was lost cannot block beyond its window (the key holds the window)', async () => {
    let now = Date.UTC(2030, 0, 1, 12, 0, 0)
    const { get, store } = await start({ limit: 5, window: 60_000, now: () => now })
    expect((await get()).status).toBe(200)
    const keys: string[] = []
    for await (const key of store.keys()) keys.push(key)
    expect(keys).toEqual([`global:60000:${Math.floor(now / 60_000)}:127.0.0.1`])
    // the counter's expiry was set at creation: the window's end plus a 1 s grace
    expect(await store.expiresIn(keys[0] ?? '')).toBeGreaterThan(60_000)
    // simulate a lost expiry: the counter is stuck far over the limit, with no expiry at all
    await store.set(keys[0] ?? '', '1000000')
    expect((await get()).status).toBe(429)
    now += 60_000
    expect((await get()).status).toBe(200)
  })

  it('counts per client: ctx.ip, trusting X-Forwarded-For only when app.proxy is set', async () => {
    const direct = await start({ limit: 1 })
    expect((await direct.get('/', { 'x-forwarded-for': '203.0.113.1' })).status).toBe(200)
    // a spoofed header does not buy a new allowance
    expect((await direct.get('/', { 'x-forwarded-for': '203.0.113.2' })).status).toBe(429)

    const proxied = await start({ limit: 1 }, (app) => {
      app.proxy = true
    })
    const a = await proxied.get('/', { 'x-forwarded-for': '203.0.113.1' })
    expect(await a.json()).toEqual({ ok: true, ip: '203.0.113.1' })
    expect((await proxied.get('/', { 'x-forwarded-for': '203.0.113.2' })).status).toBe(200)
    expect((await proxied.get('/', { 'x-forwarded-for': '203.0.113.1' })).status).toBe(429)
  })

  it('per-route limits (own prefix) and a global limit keep separate counters on one store', async () => {
    const registry = new StoreRegistry()
    const app = new Koa()
    app.use(stores(registry))
    app.use(rateLimit({ limit: 5 }))
    const login = rateLimit({ limit: 2, prefix: 'login' })
    app.use(async (ctx, next) => {
      if (ctx.path === '/login') await login(ctx, next)
      else await next()
    })
    app.use((ctx) => {
      ctx.body = 'ok'
    })
    const served = await serve(app)
    running.push(served)
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${served.url}/login`)).status)
    expect(statuses).toEqual([200, 200, 429])
    const other = await fetch(`${served.url}/other`)
    expect(other.status).toBe(200)
    expect(other.headers.get('ratelimit-remaining')).toBe('1') // 3 logins + this one counted globally
  })

  it('a key function: fixed keys share one counter, null skips the limit, long keys are hashed', async () => {
    const { get, store } = await start({
      limit: 2,
      key: (ctx) => (ctx.path === '/health' ? null : ctx.path === '/long' ? 'k'.repeat(5000) : 'everyone'),
    })
    expect((await get('/a')).status).toBe(200)
    expect((await get('/b')).status).toBe(200)
    expect((await get('/c')).status).toBe(429)
    for (let i = 0; i < 5; i++) {
      const health = await get('/health')
      expect(health.status).toBe(200)
      expect(health.headers.get('ratelimit-limit')).toBeNull()
    }
    expect((await get('/long')).status).toBe(200)
    const keys: string[] = []
    for await (const key of store.keys()) keys.push(key)
    expect(keys.every((k) => Buffer.byteLength(k) < 400)).toBe(true)
  })

  it('store down, failOpen (default): requests pass without RateLimit-* headers and the error is reported', async () => {
    const { get, store, errors } = await start({ limit: 1 })
    await store.close()
    for (let i = 0; i < 3; i++) {
      const response = await get()
      expect(response.status).toBe(200)
      expect(response.headers.get('ratelimit-limit')).toBeNull()
    }
    expect(errors).toHaveLength(3)
    expect(isFlagstoneError(errors[0], 'STORE_CLOSED')).toBe(true)
  })

  it('store down, failOpen: false: 503 STORE_UNAVAILABLE without internals', async () => {
    const { get, store, errors } = await start({ limit: 1, failOpen: false })
    await store.close()
    const response = await get()
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await response.json()).toMatchObject({
      status: 503,
      code: 'STORE_UNAVAILABLE',
      error: { code: 'STORE_UNAVAILABLE', message: expect.stringContaining('rate limiting is unavailable'), details: {} },
    })
    expect(errors).toHaveLength(1)
  })

  it('rejects bad options up front', () => {
    const bad: unknown[] = [
      {},
      { limit: 0 },
      { limit: 1.5 },
      { limit: 10, window: 10 },
      { limit: 10, window: Infinity },
      { limit: 10, prefix: '' },
      { limit: 10, key: 'ip' },
      { limit: 10, store: '' },
    ]
    for (const options of bad) {
      expect(() => rateLimit(options as RateLimitOptions), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      )
    }
    const options = { limit: 3 }
    rateLimit(options)
    expect(options).toEqual({ limit: 3 }) // never mutated
  })
})
