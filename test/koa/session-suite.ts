/**
 * The session() tests, over real HTTP, run against each backend by the `session-*.test.ts` files.
 * Every test gets its own namespace under one root store per file.
 */
import Koa from 'koa'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type SessionOptions, session, stores } from '../../src/koa/index.js'
import { StoreRegistry } from '../../src/stores/registry.js'
import type { Store } from '../../src/stores/types.js'
import { randomNamespace, sleep } from '../helpers/services.js'
import { client, collectErrors, countingStore, isDeletion, type Served, serve, setCookies } from './helpers.js'

export interface SessionSuiteOptions {
  name: string
  /** A root store for the whole file. */
  open: (namespace: string) => Promise<Store>
}

const COOKIE = 'flagstone.sid'

interface Setup {
  app: Koa
  store: Store
  served: Served
  writes: () => number
  errors: unknown[]
}

export function sessionSuite({ name, open }: SessionSuiteOptions): void {
  describe(`session() on ${name}`, () => {
    let root: Store
    const running: Served[] = []

    beforeAll(async () => {
      root = await open(randomNamespace('koa'))
    })
    afterEach(async () => {
      await Promise.all(running.splice(0).map((s) => s.close()))
    })
    afterAll(async () => {
      await root?.deleteAll()
      await root?.close()
    })

    /** An app with `session(options)` and a few routes that read and change the session. */
    async function start(options: SessionOptions = {}, configure?: (app: Koa) => void): Promise<Setup> {
      const store = root.withNamespace(randomNamespace('s'))
      const counting = countingStore(store)
      const app = new Koa()
      configure?.(app)
      const errors = collectErrors(app)
      app.use(stores(new StoreRegistry({ stores: { sessions: counting.store } })))
      app.use(session(options))
      app.use(async (ctx) => {
        const params = new URLSearchParams(ctx.querystring)
        switch (ctx.path) {
          case '/peek':
            ctx.body = { session: ctx.session }
            return
          case '/set':
            for (const [k, v] of params) ctx.session[k] = v
            ctx.body = { session: ctx.session }
            return
          case '/count':
            ctx.session.count = ((ctx.session.count as number | undefined) ?? 0) + 1
            ctx.body = { count: ctx.session.count }
            return
          case '/replace':
            ctx.session = { replaced: true }
            ctx.body = { session: ctx.session }
            return
          case '/destroy':
            ctx.session = null
            ctx.body = { destroyed: true }
            return
          case '/empty':
            for (const k of Object.keys(ctx.session)) delete ctx.session[k]
            ctx.body = { emptied: true }
            return
          case '/login':
            await ctx.regenerateSession()
            ctx.session.user = params.get('user') ?? 'alice'
            ctx.body = { session: ctx.session }
            return
          case '/typed-set':
            ctx.session.when = new Date('2024-02-29T12:34:56.789Z')
            ctx.session.map = new Map<string, unknown>([
              ['a', 1],
              ['b', new Date(0)],
            ])
            ctx.session.set = new Set([1, 'two', 3n])
            ctx.session.big = 2n ** 70n
            ctx.session.nested = { deep: [new Date(1), undefined, null] }
            ctx.body = { ok: true }
            return
          case '/typed-get': {
            const s = ctx.session
            const map = s.map as Map<string, unknown>
            const set = s.set as Set<unknown>
            const nested = s.nested as { deep: unknown[] }
            ctx.body = {
              when: s.when instanceof Date && s.when.toISOString() === '2024-02-29T12:34:56.789Z',
              map: map instanceof Map && map.get('a') === 1 && map.get('b') instanceof Date,
              set: set instanceof Set && set.has(1) && set.has('two') && set.has(3n),
              big: s.big === 2n ** 70n,
              nested: nested.deep[0] instanceof Date && nested.deep[1] === undefined && nested.deep[2] === null,
            }
            return
          }
          case '/throw':
            ctx.session.poisoned = true
            ctx.throw(418, 'nope')
            return
          default:
            ctx.status = 404
        }
      })
      const served = await serve(app)
      running.push(served)
      return { app, store, served, writes: counting.writes, errors }
    }

    function sid(response: Response): string | undefined {
      return setCookies(response).find((c) => c.name === COOKIE && !isDeletion(c))?.value
    }

    it('creates a session only once something is stored, with a 256-bit id and safe cookie flags', async () => {
      const { served, store, writes } = await start()
      const c = client(served.url)

      const first = await c.request('/peek')
      expect(await first.json()).toEqual({ session: {} })
      expect(first.headers.getSetCookie()).toEqual([]) // an untouched empty session costs nothing
      expect(writes()).toBe(0)

      const created = await c.request('/set?name=ada')
      expect(await created.json()).toEqual({ session: { name: 'ada' } })
      const [cookie, ...others] = setCookies(created)
      expect(others).toEqual([])
      expect(cookie?.name).toBe(COOKIE)
      expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/) // 32 random bytes, base64url
      expect(Buffer.from(cookie?.value ?? '', 'base64url')).toHaveLength(32)
      expect(cookie?.attributes.has('httponly')).toBe(true)
      expect(cookie?.attributes.get('samesite')).toBe('lax')
      expect(cookie?.attributes.get('path')).toBe('/')
      expect(cookie?.attributes.has('secure')).toBe(false) // plain HTTP
      expect(Date.parse(cookie?.attributes.get('expires') ?? '')).toBeGreaterThan(Date.now() + 86_000_000)
      expect(await store.exists(cookie?.value ?? '')).toBe(true)
      expect(await store.expiresIn(cookie?.value ?? '')).toBeGreaterThan(86_000_000)
    })

    it('reads the session back, and writes it only when it changed', async () => {
      const { served, store, writes } = await start()
      const c = client(served.url)
      await c.request('/set?name=ada')
      expect(writes()).toBe(1)

      for (let i = 0; i < 3; i++) {
        const read = await c.request('/peek')
        expect(await read.json()).toEqual({ session: { name: 'ada' } })
        expect(read.headers.getSetCookie()).toEqual([]) // unchanged: no cookie, no write
      }
      expect(writes()).toBe(1)

      await c.request('/set?name=ada') // same value again: still unchanged
      expect(writes()).toBe(1)

      const id = c.jar.cookies.get(COOKIE) ?? ''
      expect(await (await c.request('/count')).json()).toEqual({ count: 1 })
      expect(await (await c.request('/count')).json()).toEqual({ count: 2 })
      expect(writes()).toBe(3)
      expect(c.jar.cookies.get(COOKIE)).toBe(id) // a change keeps the id

      expect(await (await c.request('/replace')).json()).toEqual({ session: { replaced: true } })
      expect(await (await c.request('/peek')).json()).toEqual({ session: { replaced: true } })
      expect(await store.exists(id)).toBe(true)

      // another client does not see it
      expect(await (await client(served.url).request('/peek')).json()).toEqual({ session: {} })
    })

    it('renew: every request slides the expiry (store renew-on-read) and re-sends the cookie', async () => {
      const maxAge = 10_000
      const renewing = await start({ maxAge, renew: true })
      const fixed = await start({ maxAge })
      const a = client(renewing.served.url)
      const b = client(fixed.served.url)
      await a.request('/set?x=1')
      await b.request('/set?x=1')
      const idA = a.jar.cookies.get(COOKIE) ?? ''
      const idB = b.jar.cookies.get(COOKIE) ?? ''

      await sleep(2500)
      const readA = await a.request('/peek')
      const readB = await b.request('/peek')
      expect(await readA.json()).toEqual({ session: { x: '1' } })
      expect(await readB.json()).toEqual({ session: { x: '1' } })

      // renewed: close to a full maxAge again; not renewed: 2.5 s of it are gone
      expect(await renewing.store.expiresIn(idA)).toBeGreaterThan(maxAge - 1500)
      expect(await fixed.store.expiresIn(idB)).toBeLessThanOrEqual(maxAge - 2000)
      const resent = setCookies(readA).find((c) => c.name === COOKIE)
      expect(resent?.value).toBe(idA)
      expect(Date.parse(resent?.attributes.get('expires') ?? '')).toBeGreaterThan(Date.now() + maxAge - 2000)
      expect(readB.headers.getSetCookie()).toEqual([])
      expect(renewing.writes()).toBe(1) // renewing is the store's renew-on-read, not a rewrite
    })

    it('expires after maxAge: the old cookie then gets a fresh, empty session', async () => {
      const { served, store } = await start({ maxAge: 1000 })
      const c = client(served.url)
      await c.request('/set?x=1')
      const id = c.jar.cookies.get(COOKIE) ?? ''
      expect(await (await c.request('/peek')).json()).toEqual({ session: { x: '1' } })

      await sleep(1600)
      const expired = await c.request('/peek')
      expect(await expired.json()).toEqual({ session: {} })
      expect(setCookies(expired).some((cookie) => cookie.name === COOKIE && isDeletion(cookie))).toBe(true) // stale cookie cleared
      expect(await store.exists(id)).toBe(false)

      await c.request('/set?y=2')
      expect(c.jar.cookies.get(COOKIE)).not.toBe(id) // never the expired id again
    })

    it('ctx.session = null destroys the session in the store and clears the cookie; so does emptying it', async () => {
      const { served, store } = await start()
      const c = client(served.url)
      await c.request('/set?x=1')
      const id = c.jar.cookies.get(COOKIE) ?? ''
      const stolen = c.jar.clone()

      const destroyed = await c.request('/destroy')
      expect(setCookies(destroyed).some((cookie) => cookie.name === COOKIE && isDeletion(cookie))).toBe(true)
      expect(await store.exists(id)).toBe(false)
      expect(c.jar.cookies.has(COOKIE)).toBe(false)
      // a copy of the old cookie is worthless now
      expect(await (await client(served.url, stolen).request('/peek')).json()).toEqual({ session: {} })

      await c.request('/set?y=2')
      const second = c.jar.cookies.get(COOKIE) ?? ''
      expect(second).not.toBe(id)
      const emptied = await c.request('/empty')
      expect(setCookies(emptied).some((cookie) => cookie.name === COOKIE && isDeletion(cookie))).toBe(true)
      expect(await store.exists(second)).toBe(false)
    })

    it('regenerateSession() issues a new id and the old one no longer works', async () => {
      const { served, store } = await start()
      const c = client(served.url)
      await c.request('/set?cart=3')
      const before = c.jar.cookies.get(COOKIE) ?? ''
      const attacker = c.jar.clone() // e.g. a fixated or leaked pre-login id

      const login = await c.request('/login?user=ada')
      expect(await login.json()).toEqual({ session: { user: 'ada' } })
      const after = c.jar.cookies.get(COOKIE) ?? ''
      expect(after).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(after).not.toBe(before)
      expect(await store.exists(before)).toBe(false)
      expect(await store.exists(after)).toBe(true)

      expect(await (await c.request('/peek')).json()).toEqual({ session: { user: 'ada' } })
      const old = await client(served.url, attacker).request('/peek')
      expect(await old.json()).toEqual({ session: {} })
    })

    it('Secure only over HTTPS: behind a proxy with app.proxy and X-Forwarded-Proto: https', async () => {
      const proxied = await start({}, (app) => {
        app.proxy = true
      })
      const https = await fetch(`${proxied.served.url}/set?x=1`, { headers: { 'x-forwarded-proto': 'https' } })
      const secure = setCookies(https).find((c) => c.name === COOKIE)
      expect(secure?.attributes.has('secure')).toBe(true)
      expect(secure?.attributes.has('httponly')).toBe(true)
      expect(secure?.attributes.get('samesite')).toBe('lax')

      const http = await fetch(`${proxied.served.url}/set?x=1`, { headers: { 'x-forwarded-proto': 'http' } })
      expect(
        setCookies(http)
          .find((c) => c.name === COOKIE)
          ?.attributes.has('secure'),
      ).toBe(false)

      // without app.proxy the header is not trusted
      const direct = await start()
      const spoofed = await fetch(`${direct.served.url}/set?x=1`, { headers: { 'x-forwarded-proto': 'https' } })
      expect(
        setCookies(spoofed)
          .find((c) => c.name === COOKIE)
          ?.attributes.has('secure'),
      ).toBe(false)
    })

    it('a forged, unknown or malformed id starts a fresh empty session and is never adopted', async () => {
      const { served, store } = await start()
      const forgedIds = [
        Buffer.alloc(32, 7).toString('base64url'), // well-formed, never issued
        '../../etc/passwd',
        'x'.repeat(5000),
        '',
      ]
      for (const forged of forgedIds) {
        const c = client(served.url)
        c.jar.cookies.set(COOKIE, forged)
        expect(await (await c.request('/peek')).json()).toEqual({ session: {} })
        const write = await c.request('/set?user=mallory')
        const issued = sid(write)
        expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/)
        expect(issued).not.toBe(forged)
        if (forged.length > 0 && forged.length < 100) expect(await store.exists(forged)).toBe(false)
      }
    })

    it('Date, Map, Set and BigInt values survive the round trip', async () => {
      const { served, writes } = await start()
      const c = client(served.url)
      await c.request('/typed-set')
      expect(await (await c.request('/typed-get')).json()).toEqual({ when: true, map: true, set: true, big: true, nested: true })
      expect(writes()).toBe(1) // reading them back is not a change
    })

    it('signed cookies (app.keys): a tampered id or signature is ignored', async () => {
      const { served, store } = await start({}, (app) => {
        app.keys = ['key-2024', 'key-2023']
      })
      const victim = client(served.url)
      await victim.request('/set?user=victim')
      expect([...victim.jar.cookies.keys()].sort()).toEqual([COOKIE, `${COOKIE}.sig`])
      expect(await (await victim.request('/peek')).json()).toEqual({ session: { user: 'victim' } })

      const other = client(served.url)
      await other.request('/set?user=other')

      // the other session's id with the victim's signature, a flipped signature, no signature
      const swapped = victim.jar.clone()
      swapped.cookies.set(COOKIE, other.jar.cookies.get(COOKIE) ?? '')
      const flipped = victim.jar.clone()
      const sig = flipped.cookies.get(`${COOKIE}.sig`) ?? ''
      flipped.cookies.set(`${COOKIE}.sig`, (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))
      const unsigned = victim.jar.clone()
      unsigned.cookies.delete(`${COOKIE}.sig`)
      for (const jar of [swapped, flipped, unsigned]) {
        expect(await (await client(served.url, jar).request('/peek')).json()).toEqual({ session: {} })
      }
      // none of that hurt the real sessions
      expect(await (await victim.request('/peek')).json()).toEqual({ session: { user: 'victim' } })
      expect(await store.exists(victim.jar.cookies.get(COOKIE) ?? '')).toBe(true)
    })

    it('a request that fails writes nothing', async () => {
      const { served, writes } = await start()
      const c = client(served.url)
      const failed = await c.request('/throw')
      expect(failed.status).toBe(418)
      expect(failed.headers.getSetCookie()).toEqual([])
      expect(writes()).toBe(0)
    })

    it('a stored value that is not a session starts a fresh one under a new id, and is reported', async () => {
      const { served, store, errors } = await start()
      const c = client(served.url)
      await c.request('/set?x=1')
      const id = c.jar.cookies.get(COOKIE) ?? ''
      await store.set(id, new Uint8Array([0xff, 0x00, 0x7b]))
      expect(await (await c.request('/peek')).json()).toEqual({ session: {} })
      expect(errors).toEqual([expect.objectContaining({ code: 'CORRUPT_VALUE' })])
      await c.request('/set?y=2')
      expect(c.jar.cookies.get(COOKIE)).not.toBe(id)
    })

    it('signed: true without app.keys fails with an error that says so', async () => {
      const { served, errors } = await start({ signed: true })
      expect((await fetch(`${served.url}/peek`)).status).toBe(500)
      expect(errors).toEqual([
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: 'session({ signed: true }) needs app.keys to sign the cookie',
        }),
      ])
    })

    it('reports a wiring mistake: ctx.session on a request session() did not handle', async () => {
      const app = new Koa()
      const errors = collectErrors(app)
      app.use(stores(new StoreRegistry()))
      app.use(async (ctx, next) => {
        if (ctx.path === '/early') ctx.body = { session: ctx.session }
        else await next()
      })
      app.use(session())
      app.use((ctx) => {
        ctx.body = { session: ctx.session }
      })
      const served = await serve(app)
      running.push(served)
      expect((await fetch(`${served.url}/late`)).status).toBe(200) // defines ctx.session on the app
      expect((await fetch(`${served.url}/early`)).status).toBe(500)
      expect(String(errors[0])).toMatch(/session\(\) middleware did not handle/)
    })
  })
}
