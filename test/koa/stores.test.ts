import Koa, { type Middleware } from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { FlagstoneError, isFlagstoneError } from '../../src/errors.js'
import { closeStores, rateLimit, responseCache, session, storeFor, stores } from '../../src/koa/index.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { StoreRegistry } from '../../src/stores/registry.js'
import { collectErrors, type Served, serve } from './helpers.js'

const running: Served[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

describe('stores()', () => {
  it('puts the registry on ctx.stores; middleware find their store by name', async () => {
    const sessions = new MemoryStore()
    const registry = new StoreRegistry({ stores: { sessions } })
    const app = new Koa()
    app.use(stores(registry))
    app.use(session())
    app.use(async (ctx) => {
      ctx.session.seen = true
      ctx.body = {
        same: ctx.stores === registry,
        found: storeFor(ctx, 'sessions', 'test') === sessions,
        names: ctx.stores.names(),
      }
    })
    const served = await serve(app)
    running.push(served)
    const response = await fetch(served.url)
    expect(await response.json()).toEqual({ same: true, found: true, names: ['sessions'] })
    const id = /flagstone\.sid=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1] ?? ''
    expect(await sessions.exists(id)).toBe(true) // written to the store registered as 'sessions'
  })

  it('stores the default factory creates are remembered by name', async () => {
    const created: string[] = []
    const registry = new StoreRegistry({
      defaultFactory: (name) => {
        created.push(name)
        return new MemoryStore()
      },
    })
    const app = new Koa()
    app.use(stores(registry))
    app.use(rateLimit({ limit: 100 }))
    app.use(responseCache())
    app.use((ctx) => {
      ctx.body = 'ok'
    })
    const served = await serve(app)
    running.push(served)
    for (let i = 0; i < 3; i++) expect((await fetch(served.url)).status).toBe(200)
    expect(created.sort()).toEqual(['rate_limit', 'response_cache'])
  })

  const needsStore: [string, string, Middleware][] = [
    ['session', 'sessions', session()],
    ['rateLimit', 'rate_limit', rateLimit({ limit: 1 })],
    ['responseCache', 'response_cache', responseCache()],
  ]
  for (const [name, storeName, middleware] of needsStore) {
    it(`${name}() without stores() fails the request with an error that names what is missing`, async () => {
      const app = new Koa()
      const errors = collectErrors(app)
      app.use(middleware)
      app.use((ctx) => {
        ctx.body = 'unreachable'
      })
      const served = await serve(app)
      running.push(served)
      const response = await fetch(served.url)
      expect(response.status).toBe(500)
      expect(await response.text()).not.toContain('stores(') // no internals to the client
      expect(errors).toHaveLength(1)
      const error = errors[0]
      expect(isFlagstoneError(error, 'NOT_CONFIGURED')).toBe(true)
      expect((error as FlagstoneError).message).toBe(
        `${name}() needs the store "${storeName}" but there is no store registry on the request: add app.use(stores(registry)) before ${name}()`,
      )
      expect((error as FlagstoneError).details).toEqual({ middleware: name, store: storeName })
    })
  }

  it('stores() rejects something that is not a registry', () => {
    expect(() => stores({} as StoreRegistry)).toThrow(FlagstoneError)
  })

  it('closeStores(app) closes the registry once, whoever calls it and however often', async () => {
    const store = new MemoryStore()
    const registry = new StoreRegistry({ stores: { sessions: store } })
    let closes = 0
    const close = registry.close.bind(registry)
    registry.close = () => {
      closes++
      return close()
    }
    const app = new Koa()
    app.use(stores(registry))
    // before any request was served: found through the middleware
    await Promise.all([closeStores(app), closeStores(app)])
    await closeStores(app)
    expect(closes).toBe(1)
    await expect(store.get('x')).rejects.toMatchObject({ code: 'STORE_CLOSED' })
    expect(() => registry.get('sessions')).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }) as Error)
  })

  it('closeStores(app) on an app without stores() rejects with NOT_CONFIGURED', async () => {
    await expect(closeStores(new Koa())).rejects.toMatchObject({ code: 'NOT_CONFIGURED' })
  })
})
