/**
 * flags() + requireFlag() on a shared Redis / PostgreSQL store: one app serves the admin API,
 * another — its own registry and its own connection, as a second instance would have — serves the
 * gated route. A change made through the first app's admin API reaches the second within 2 s
 * (pushed: Redis pub/sub, Postgres LISTEN/NOTIFY), without a restart.
 */
import Koa from 'koa'
import { afterAll, describe, expect, it } from 'vitest'
import { StoreFlagRepository } from '../../src/flags/repositories/store-repository.js'
import { createStore } from '../../src/index.js'
import { adminRouter } from '../../src/koa/admin/router.js'
import { closeFlags, closeStores, flags, requireFlag, startFlags, stores } from '../../src/koa/index.js'
import { StoreRegistry } from '../../src/stores/registry.js'
import type { Store } from '../../src/stores/types.js'
import { DATABASE_URL, REDIS_URL, randomNamespace, serviceAvailable, sleep } from '../helpers/services.js'
import { type Served, serve } from './helpers.js'

const TOKEN = 'shared-store-test-token-0123456789'

function sharedStoreSuite(name: string, url: string, available: boolean): void {
  describe.runIf(available)(`flags() on ${name}`, () => {
    const namespace = randomNamespace('kf')
    const roots: Store[] = []
    const apps: Koa[] = []
    const running: Served[] = []

    afterAll(async () => {
      await Promise.all(running.map((s) => s.close()))
      for (const app of apps) {
        await closeFlags(app)
        await closeStores(app)
      }
      await roots[0]?.deleteAll()
      await Promise.all(roots.map((root) => root.close()))
    })

    /** An instance: its own connection to the shared store, its own registry. */
    async function instance(configure: (app: Koa, repository: StoreFlagRepository) => void) {
      const root = await createStore(url, { namespace })
      roots.push(root)
      const registry = new StoreRegistry({ defaultFactory: (n) => root.withNamespace(n) })
      const app = new Koa()
      apps.push(app)
      app.use(stores(registry))
      app.use((ctx, next) => {
        const id = ctx.get('x-user')
        if (id !== '') ctx.state.user = { id }
        return next()
      })
      app.use(flags())
      configure(app, new StoreFlagRepository(registry.get('flags')))
      await startFlags(app)
      const served = await serve(app)
      running.push(served)
      return served
    }

    it('requireFlag answers 404 while off and passes within 2 s of a change made through another instance\u2019s admin API', async () => {
      const adminInstance = await instance((app, repository) => {
        app.use(adminRouter({ repository, auth: { token: TOKEN } }))
      })
      const web = await instance((app) => {
        app.use(requireFlag('checkout-v2'))
        app.use((ctx) => {
          ctx.body = { user: ctx.flags.context.userId ?? null, variant: 'v2' }
        })
      })
      const admin = (method: string, path: string, body: unknown) =>
        fetch(`${adminInstance.url}/admin/api${path}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      const get = (user?: string) => fetch(`${web.url}/checkout`, { headers: user === undefined ? {} : { 'x-user': user } })
      const within = async (ms: number, check: () => Promise<boolean>) => {
        const started = Date.now()
        while (!(await check())) {
          if (Date.now() - started > ms) throw new Error(`not seen within ${ms} ms`)
          await sleep(20)
        }
        return Date.now() - started
      }

      expect((await get('alice')).status).toBe(404)
      const created = await admin('POST', '/flags', {
        key: 'checkout-v2',
        type: 'boolean',
        rules: [{ id: 'alice', conditions: [{ attribute: 'userId', operator: 'eq', value: 'alice' }] }],
      })
      expect(created.status).toBe(201)
      expect(await within(2_000, async () => (await get('alice')).status === 200)).toBeLessThan(2_000)
      expect(await (await get('alice')).json()).toEqual({ user: 'alice', variant: 'v2' })
      expect((await get('bob')).status).toBe(404)

      expect((await admin('PATCH', '/flags/checkout-v2', { defaultEnabled: true })).status).toBe(200)
      await within(2_000, async () => (await get('bob')).status === 200)
      expect((await get()).status).toBe(200)

      expect((await admin('POST', '/flags/checkout-v2/archive', {})).status).toBe(200)
      await within(2_000, async () => (await get('alice')).status === 404)
    }, 30_000)
  })
}

sharedStoreSuite('Redis', REDIS_URL, await serviceAvailable('Redis', REDIS_URL))
sharedStoreSuite('PostgreSQL', DATABASE_URL, await serviceAvailable('PostgreSQL', DATABASE_URL))
