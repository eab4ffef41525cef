/**
 * Admin API authentication: every route the router has (enumerated from `router.stack`, so a new
 * route cannot escape) answers 401 without a token and with a wrong one; custom auth functions;
 * the actor recorded in the audit trail.
 */
import { request as httpRequest } from 'node:http'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { FlagstoneError } from '../../src/errors.js'
import { StoreFlagRepository } from '../../src/flags/repositories/store-repository.js'
import { adminRouter } from '../../src/koa/index.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { type Admin, expectJsonError, PREFIX, startAdmin, TOKEN } from './admin-helpers.js'

const running: Admin[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.served.close()))
})

async function start(...args: Parameters<typeof startAdmin>) {
  const admin = await startAdmin(...args)
  running.push(admin)
  return admin
}

/** Every (method, path) the router answers, with `:params` filled with values that would otherwise be valid. */
function routesOf(admin: Admin): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = []
  for (const layer of admin.router.stack) {
    expect(typeof layer.path).toBe('string')
    const path = (layer.path as string).replace(/:([A-Za-z]+)/g, (_, name: string) =>
      name === 'slug' ? 'production' : name === 'entityType' ? 'user' : `dummy-${name}`,
    )
    for (const method of layer.methods) out.push({ method, path })
  }
  return out
}

describe('admin API authentication', () => {
  it('answers 401 on every route without a token, with a wrong token and with another scheme', async () => {
    const admin = await start()
    // Something to find, so a route that skipped authentication would answer 2xx, not 404.
    await admin.repository.createFlag({ key: 'dummy-key', type: 'boolean' })
    const routes = routesOf(admin)
    expect(routes.length).toBeGreaterThanOrEqual(50)
    const methods = new Set(routes.map((r) => r.method))
    expect([...methods].sort()).toEqual(['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'])
    const wrong: Array<[string, string | null]> = [
      ['no Authorization header', null],
      ['wrong token', 'not-the-token-0123456789abcdef!!'],
      ['wrong token of the same length', TOKEN.slice(0, -1) + (TOKEN.endsWith('x') ? 'y' : 'x')],
      ['a prefix of the token', TOKEN.slice(0, 16)],
      ['the token with a suffix', `${TOKEN}x`],
      ['empty bearer', ''],
    ]
    let checked = 0
    for (const { method, path } of routes) {
      for (const [why, token] of wrong) {
        const body = method === 'GET' || method === 'HEAD' || method === 'DELETE' ? undefined : { key: 'x', type: 'boolean' }
        const response = await admin.api(method, path, body, { token })
        expect(response.status, `${method} ${path} (${why})`).toBe(401)
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="flagstone-admin"/)
        if (method !== 'HEAD') expectJsonError(response, 401, 'UNAUTHENTICATED')
        checked++
      }
      const basic = await admin.api(method, path, undefined, {
        token: null,
        headers: { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      })
      expect(basic.status, `${method} ${path} (Basic)`).toBe(401)
      const raw = await admin.api(method, path, undefined, { token: null, headers: { authorization: TOKEN } })
      expect(raw.status, `${method} ${path} (token without scheme)`).toBe(401)
    }
    expect(checked).toBe(routes.length * wrong.length)
    // Nothing was written by any of them.
    expect((await admin.repository.listFlags()).map((f) => f.key)).toEqual(['dummy-key'])
    const audit = await admin.api('GET', '/audit')
    expect(audit.body.total).toBe(0)
  })

  it('answers 401 on unknown paths under the prefix too (no route discovery without a token), and leaves other paths alone', async () => {
    const admin = await start()
    expectJsonError(await admin.api('GET', `${PREFIX}/no-such-route`, undefined, { token: null }), 401, 'UNAUTHENTICATED')
    expectJsonError(await admin.api('GET', `${PREFIX}/no-such-route`), 404, 'NOT_FOUND')
    const outside = await fetch(`${admin.url}/elsewhere`)
    expect(outside.status).toBe(200)
    expect(await outside.json()).toEqual({ outside: true })
    // The prefix is a path segment: /admin/apix is not the admin API's.
    expect((await fetch(`${admin.url}${PREFIX}x/flags`)).status).toBe(200)
  })

  it('answers 401 for methods the router does not implement before saying 501', async () => {
    const admin = await start()
    const send = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${admin.url}${PREFIX}/flags`, { method: 'PROPFIND', headers }, (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (body += chunk))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        })
        req.on('error', reject)
        req.end()
      })
    expect((await send({})).status).toBe(401)
    const authorised = await send({ authorization: `Bearer ${TOKEN}` })
    expect(authorised.status).toBe(501)
    expect(JSON.parse(authorised.body).error.code).toBe('NOT_IMPLEMENTED')
  })

  it('records the token actor, and X-Flagstone-Actor as an unverified claim', async () => {
    const admin = await start({ auth: { token: TOKEN, actor: 'ci-bot' } })
    const created = await admin.api(
      'POST',
      '/flags',
      { key: 'a', type: 'boolean' },
      { headers: { 'x-flagstone-actor': 'alice@example.com' } },
    )
    expect(created.status).toBe(201)
    const entry = (await admin.api('GET', '/audit')).body.items[0]
    expect(entry.actor).toBe('ci-bot')
    expect(entry.claimedActor).toBe('alice@example.com')
    const bad = await admin.api(
      'POST',
      '/flags',
      { key: 'b', type: 'boolean' },
      { headers: { 'x-flagstone-actor': 'x'.repeat(200) } },
    )
    expectJsonError(bad, 400, 'INVALID_ARGUMENT')
    expect(bad.body.error.details.field).toBe('X-Flagstone-Actor')
    expect(await admin.repository.getFlag('b')).toBeNull()
  })

  it('custom auth: false → 401, { actor } → that actor, a thrown FORBIDDEN → 403, a broken answer → 500 without details', async () => {
    const admin = await start({
      auth: async (ctx) => {
        const who = ctx.get('x-user')
        if (who === 'mallory') throw new FlagstoneError('FORBIDDEN', 'mallory may not administer flags')
        if (who === 'broken') return 'yes' as unknown as boolean
        if (who === 'root') return true
        return who === '' ? false : { actor: who }
      },
    })
    expectJsonError(await admin.api('GET', '/flags', undefined, { token: null }), 401, 'UNAUTHENTICATED')
    expectJsonError(
      await admin.api('GET', '/flags', undefined, { token: null, headers: { 'x-user': 'mallory' } }),
      403,
      'FORBIDDEN',
    )
    const broken = await admin.api('GET', '/flags', undefined, { token: null, headers: { 'x-user': 'broken' } })
    expectJsonError(broken, 500, 'INTERNAL')
    expect(broken.text).not.toMatch(/auth\(ctx\)/)
    expect(admin.errors).toHaveLength(1)
    const created = await admin.api(
      'POST',
      '/flags',
      { key: 'a', type: 'boolean' },
      { token: null, headers: { 'x-user': 'bob' } },
    )
    expect(created.status).toBe(201)
    await admin.api('POST', '/flags/a/archive', undefined, { token: null, headers: { 'x-user': 'root' } })
    const audit = await admin.api('GET', '/audit', undefined, { token: null, headers: { 'x-user': 'bob' } })
    expect(audit.body.items.map((e: { actor: string; action: string }) => [e.action, e.actor])).toEqual([
      ['flag.archive', 'admin'],
      ['flag.create', 'bob'],
    ])
  })

  it('refuses short or missing tokens at construction', () => {
    const repository = new StoreFlagRepository(new MemoryStore())
    expect(() => adminRouter({ repository, auth: { token: 'short' } })).toThrow(/at least 16/)
    expect(() => adminRouter({ repository, auth: { token: '' } })).toThrow(FlagstoneError)
    expect(() => adminRouter({ repository, auth: { token: 'has spaces in the token!!' } })).toThrow(FlagstoneError)
    expect(() => adminRouter({ repository, auth: undefined as unknown as { token: string } })).toThrow(FlagstoneError)
    expect(() => adminRouter({ repository, auth: { token: TOKEN }, prefix: 'no-slash' })).toThrow(FlagstoneError)
    const app = new Koa()
    app.use(adminRouter({ repository, auth: { token: TOKEN }, prefix: '/ops/flags/' }))
  })
})
