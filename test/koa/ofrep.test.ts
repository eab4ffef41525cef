/**
 * The OFREP routes, answered to the official `@openfeature/ofrep-provider` (as a client, through the
 * real OpenFeature SDK) and to plain fetch for what a provider hides (ETag, 401, 403, 429).
 */
import { OFREPProvider } from '@openfeature/ofrep-provider'
import Koa from 'koa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreFlagRepository } from '../../src/flags/index.js'
import { flags, ofrepRouter, stores } from '../../src/koa/index.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { StoreRegistry } from '../../src/stores/registry.js'
import { randomNamespace, sleep } from '../helpers/services.js'
import { OpenFeature, seed } from '../openfeature/helpers.js'
import { collectErrors, type Served, serve } from './helpers.js'

const PRODUCTION = 'ofrep-production-token-0001'
const DEVELOPMENT = 'ofrep-development-token-0001'
const ADMIN = 'the-admin-token-is-not-an-ofrep-one'

let served: Served
let repository: StoreFlagRepository
let app: Koa
let errors: unknown[]

function start(limit: number): Promise<Served> {
  const flagStore = new MemoryStore()
  repository = new StoreFlagRepository(flagStore)
  app = new Koa()
  errors = collectErrors(app)
  app.use(stores(new StoreRegistry({ stores: { flags: flagStore, rate_limit: new MemoryStore() } })))
  app.use(flags())
  const tokens = [
    { token: PRODUCTION, environment: 'production' },
    { token: DEVELOPMENT, environment: 'development' },
  ]
  app.use(ofrepRouter({ tokens, rateLimit: { limit } }).routes())
  return serve(app)
}

const post = (path: string, token: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${served.url}/ofrep/v1/evaluate/flags${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: JSON.stringify(body),
  })

beforeAll(async () => {
  served = await start(1000)
  await seed(repository)
  await repository.createEnvironment({ slug: 'production', name: 'Production', settings: {} })
  await repository.createEnvironment({ slug: 'development', name: 'Development', settings: {} })
  await repository.setEnvironmentFlag({ environment: 'development', flagKey: 'banner', enabled: false })
})
afterAll(async () => {
  await OpenFeature.close()
  await served.close()
})

describe('OFREP through @openfeature/ofrep-provider', () => {
  it('answers each flag type and reason as the OpenFeature SDK expects', async () => {
    const domain = randomNamespace('ofrep')
    await OpenFeature.setProviderAndWait(
      domain,
      new OFREPProvider({ baseUrl: served.url, headers: { Authorization: `Bearer ${PRODUCTION}` } }),
    )
    const of = OpenFeature.getClient(domain)

    const banner = await of.getBooleanDetails('banner', false)
    expect(banner).toMatchObject({ value: true, reason: 'STATIC' })
    expect(banner.flagMetadata).toMatchObject({ owner: 'growth', flagType: 'boolean', version: 1 })
    expect(await of.getBooleanDetails('pro-feature', false, { targetingKey: 'u1', plan: 'pro' })).toMatchObject({
      value: true,
      reason: 'TARGETING_MATCH',
      variant: 'pro-plan',
    })
    expect(await of.getBooleanDetails('pro-feature', true, { targetingKey: 'u1', plan: 'free' })).toMatchObject({
      value: false,
      reason: 'DEFAULT',
    })
    const vip = await of.getBooleanDetails('pro-feature', false, { targetingKey: 'u9', userId: 'vip' })
    expect(vip).toMatchObject({ value: true, reason: 'TARGETING_MATCH', flagMetadata: { flagstoneReason: 'OVERRIDE' } })
    const split = await of.getStringDetails('checkout', 'fallback', { targetingKey: 'user-42' })
    expect(split.reason).toBe('SPLIT')
    expect(['one-page', 'wizard']).toContain(split.value)
    expect(split.variant).toBe(split.value)
    expect(await of.getNumberDetails('page-size', 10)).toMatchObject({ value: 25, reason: 'STATIC' })
    expect(await of.getObjectDetails('theme', {})).toMatchObject({ value: { color: 'teal', dense: false }, reason: 'STATIC' })
    expect(await of.getBooleanDetails('retired', false)).toMatchObject({ value: false, reason: 'DISABLED' })

    expect(await of.getBooleanDetails('no-such-flag', true)).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' })
    expect(await of.getStringDetails('banner', 'fallback')).toMatchObject({ value: 'fallback', errorCode: 'TYPE_MISMATCH' })
    expect(await of.getBooleanDetails('pro-feature', false, { userId: 7 })).toMatchObject({ errorCode: 'INVALID_CONTEXT' })
  })

  it('a token bound to development evaluates there, whatever the context says', async () => {
    const domain = randomNamespace('ofrep')
    await OpenFeature.setProviderAndWait(
      domain,
      new OFREPProvider({ baseUrl: served.url, headers: { 'X-API-Key': DEVELOPMENT } }),
    )
    expect(await OpenFeature.getClient(domain).getBooleanDetails('banner', true)).toMatchObject({ value: false })
  })
})

describe('OFREP over HTTP', () => {
  it('bulk: 200 with an ETag, 304 on a repeat, 200 with a new ETag after a change', async () => {
    const context = { context: { targetingKey: 'user-42', plan: 'pro' } }
    const first = await post('', PRODUCTION, context)
    expect(first.status).toBe(200)
    const etag = first.headers.get('etag')!
    expect(etag).toMatch(/^".+"$/)
    const body = (await first.json()) as { flags: { key: string; value?: unknown; errorCode?: string }[] }
    expect(body.flags.map((f) => f.key)).toEqual(['banner', 'checkout', 'page-size', 'pro-feature', 'retired', 'theme'])
    expect(body.flags.find((f) => f.key === 'pro-feature')).toMatchObject({ value: true, reason: 'TARGETING_MATCH' })

    const repeat = await post('', PRODUCTION, context, { 'if-none-match': etag })
    expect(repeat.status).toBe(304)
    expect(await repeat.text()).toBe('')

    const flag = (await repository.getFlag('page-size'))!
    await repository.updateFlag('page-size', { ...flag, defaultValue: 50 }, flag.version)
    let after: Response | undefined
    for (let i = 0; i < 100; i++) {
      after = await post('', PRODUCTION, context, { 'if-none-match': etag })
      if (after.status !== 304) break
      await sleep(50)
    }
    expect(after!.status).toBe(200)
    expect(after!.headers.get('etag')).not.toBe(etag)
    const changed = (await after!.json()) as { flags: { key: string; value?: unknown }[] }
    expect(changed.flags.find((f) => f.key === 'page-size')?.value).toBe(50)
  })

  it('single flag: spec bodies for 200, 404 and 400', async () => {
    const ok = await post('/banner', PRODUCTION, { context: {} })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('content-type')).toMatch(/application\/json/)
    expect(await ok.json()).toMatchObject({ key: 'banner', value: true, reason: 'STATIC', metadata: { flagType: 'boolean' } })
    const missing = await post('/nope', PRODUCTION, { context: {} })
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ key: 'nope', errorCode: 'FLAG_NOT_FOUND' })
    const bad = await post('/banner', PRODUCTION, { context: 'not an object' })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({
      key: 'banner',
      errorCode: 'INVALID_CONTEXT',
      errorDetails: 'context: must be an object',
    })
  })

  it('401 without a token, with a wrong one, and with the admin token', async () => {
    for (const token of [undefined, 'wrong-token-wrong-token', ADMIN]) {
      const single = await post('/banner', token, { context: {} })
      expect(single.status).toBe(401)
      expect(single.headers.get('www-authenticate')).toMatch(/Bearer/)
      expect((await post('', token, { context: {} })).status).toBe(401)
    }
  })

  it('403 when a production token asks for development', async () => {
    const response = await post('/banner', PRODUCTION, { context: { environment: 'development' } })
    expect(response.status).toBe(403)
    expect(((await response.json()) as { errorDetails: string }).errorDetails).toMatch(/production/)
    expect((await post('', PRODUCTION, { context: { environment: 'development' } })).status).toBe(403)
    // Naming its own environment is fine.
    expect((await post('/banner', PRODUCTION, { context: { environment: 'production' } })).status).toBe(200)
  })

  it('rate-limits per token with 429 and Retry-After', async () => {
    const limited = await start(3)
    try {
      const call = (token: string) =>
        fetch(`${limited.url}/ofrep/v1/evaluate/flags/x`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: '{}',
        })
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await call(PRODUCTION)).status)
      expect(statuses.every((s) => s !== 429)).toBe(true)
      const last = await call(PRODUCTION)
      expect(last.status).toBe(429)
      expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0)
      // Another token has its own budget.
      expect((await call(DEVELOPMENT)).status).not.toBe(429)
      expect(errors).toEqual([])
    } finally {
      await limited.close()
    }
  })
})
