/**
 * Issue 10, item 3: the response cache never serves one user's page to another (requests with
 * cookies or `Authorization`, responses that set cookies or are private / no-store), honours
 * `Vary`, and computes a key once at a time however many requests miss it together.
 */
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { responseCache, session, stores } from '../../src/koa/index.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { StoreRegistry } from '../../src/stores/registry.js'
import { sleep } from '../helpers/services.js'
import { type Served, serve } from './helpers.js'

const running: Served[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

async function start(setup: (app: Koa) => void) {
  const app = new Koa()
  app.on('error', () => undefined)
  app.use(stores(new StoreRegistry({ stores: { response_cache: new MemoryStore(), sessions: new MemoryStore() } })))
  setup(app)
  const served = await serve(app)
  running.push(served)
  return (path: string, init: RequestInit = {}) => fetch(served.url + path, init)
}

describe('responseCache(): private answers stay private', () => {
  it('after session(): a page cached for an anonymous visitor is not served to a visitor with a session', async () => {
    let runs = 0
    const request = await start((app) => {
      app.use(session())
      app.use(responseCache())
      app.use((ctx) => {
        runs++
        if (ctx.path === '/login') {
          ctx.session.user = 'alice'
          ctx.body = { ok: true }
          return
        }
        const user = ctx.cookies.get('flagstone.sid') === undefined ? 'anonymous' : String(ctx.session.user ?? 'anonymous')
        ctx.body = { page: 'home', user }
      })
    })
    expect(await (await request('/home')).json()).toEqual({ page: 'home', user: 'anonymous' })
    expect((await request('/home')).headers.get('x-cache')).toBe('HIT')
    const login = await request('/login')
    const cookie = login.headers.get('set-cookie')?.split(';')[0] ?? ''
    expect(cookie).toMatch(/^flagstone\.sid=/)
    const before = runs
    const mine = await request('/home', { headers: { cookie } })
    expect(mine.headers.get('x-cache')).not.toBe('HIT')
    expect(await mine.json()).toEqual({ page: 'home', user: 'alice' })
    expect(runs).toBe(before + 1)
    // …and what alice saw is not cached for anyone else.
    expect(await (await request('/home')).json()).toEqual({ page: 'home', user: 'anonymous' })
  })

  it('requests with Authorization, and responses with Set-Cookie, private, no-store or no-cache, are never cached', async () => {
    const runs = new Map<string, number>()
    const request = await start((app) => {
      app.use(responseCache())
      app.use((ctx) => {
        runs.set(ctx.path, (runs.get(ctx.path) ?? 0) + 1)
        if (ctx.path === '/cookie') ctx.cookies.set('a', 'b')
        if (ctx.path === '/private') ctx.set('Cache-Control', 'Private, max-age=60')
        if (ctx.path === '/no-store') ctx.set('Cache-Control', 'NO-STORE')
        ctx.body = { run: runs.get(ctx.path) }
      })
    })
    for (const path of ['/cookie', '/private', '/no-store']) {
      await request(path)
      expect((await request(path)).headers.get('x-cache'), path).toBe('MISS')
    }
    await request('/page')
    const authorised = await request('/page', { headers: { authorization: 'Bearer x' } })
    expect(authorised.headers.get('x-cache')).toBeNull()
    expect(await authorised.json()).toEqual({ run: 2 })
  })

  it('privateCookies lists the cookies that make a request private; others (analytics) do not', async () => {
    let runs = 0
    const request = await start((app) => {
      app.use(responseCache({ privateCookies: ['sid'] }))
      app.use((ctx) => {
        runs++
        ctx.body = { runs }
      })
    })
    await request('/')
    expect((await request('/', { headers: { cookie: '_ga=1' } })).headers.get('x-cache')).toBe('HIT')
    expect((await request('/', { headers: { cookie: '_ga=1; sid=abc' } })).headers.get('x-cache')).toBeNull()
  })
})

describe('responseCache(): Vary', () => {
  it('serves a cached variant only to requests with the same values of the Vary headers', async () => {
    let runs = 0
    const request = await start((app) => {
      app.use(responseCache())
      app.use((ctx) => {
        runs++
        ctx.vary('Accept-Language')
        ctx.body = { language: ctx.get('accept-language'), runs }
      })
    })
    const en = { headers: { 'accept-language': 'en' } }
    const fr = { headers: { 'accept-language': 'fr' } }
    expect(await (await request('/', en)).json()).toEqual({ language: 'en', runs: 1 })
    const hit = await request('/', en)
    expect(hit.headers.get('x-cache')).toBe('HIT')
    expect(await hit.json()).toEqual({ language: 'en', runs: 1 })
    const other = await request('/', fr)
    expect(other.headers.get('x-cache')).toBe('MISS')
    expect(await other.json()).toEqual({ language: 'fr', runs: 2 })
  })

  it('Vary: * is never cached', async () => {
    const request = await start((app) => {
      app.use(responseCache())
      app.use((ctx) => {
        ctx.set('Vary', '*')
        ctx.body = { ok: true }
      })
    })
    await request('/')
    expect((await request('/')).headers.get('x-cache')).toBe('MISS')
  })
})

describe('responseCache(): stampede protection', () => {
  it('20 concurrent misses of one key run the route once; the others are served its answer', async () => {
    let runs = 0
    const request = await start((app) => {
      app.use(responseCache())
      app.use(async (ctx) => {
        runs++
        await sleep(300)
        ctx.body = { runs }
      })
    })
    const answers = await Promise.all(Array.from({ length: 20 }, () => request('/slow').then((r) => r.json())))
    expect(runs).toBe(1)
    expect(answers.every((a) => (a as { runs: number }).runs === 1)).toBe(true)
  })

  it('an answer that may not be cached is computed by every waiter itself (never shared)', async () => {
    let runs = 0
    const request = await start((app) => {
      app.use(responseCache())
      app.use(async (ctx) => {
        const mine = ++runs
        await sleep(100)
        ctx.set('Cache-Control', 'private')
        ctx.body = { runs: mine }
      })
    })
    const answers = await Promise.all(Array.from({ length: 5 }, () => request('/mine').then((r) => r.json())))
    expect(runs).toBe(5)
    expect(new Set(answers.map((a) => (a as { runs: number }).runs)).size).toBe(5)
  })
})
