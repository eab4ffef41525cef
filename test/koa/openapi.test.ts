/**
 * The OpenAPI document: every route of the admin and OFREP routers is in it, it is a valid OpenAPI
 * 3.1 document (@apidevtools/swagger-parser), the server serves it and its docs page without a
 * token, and every request body the README shows validates against it.
 */
import { readFileSync } from 'node:fs'
import SwaggerParser from '@apidevtools/swagger-parser'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { OpenAPIV3_1 } from 'openapi-types'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreFlagRepository } from '../../src/flags/index.js'
import { adminRouter, ofrepRouter, openApiDocument, routesOf } from '../../src/koa/index.js'
import { createApp } from '../../src/server.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { type Served, serve } from './helpers.js'

const ADMIN = 'admin-token-for-the-openapi-test'
const OFREP = 'ofrep-token-for-the-openapi-test'
const admin = adminRouter({ repository: new StoreFlagRepository(new MemoryStore()), auth: { token: ADMIN } })
const ofrep = ofrepRouter({ tokens: [{ token: OFREP, environment: 'production' }], rateLimit: false })
const { document, undescribed } = openApiDocument({ admin: admin.router, ofrep })
const paths = document.paths as Record<string, Record<string, OpenAPIV3_1.OperationObject>>

describe('the OpenAPI document', () => {
  it('describes every route of the admin and OFREP routers', () => {
    expect(undescribed).toEqual([])
    const routes = [...routesOf(admin.router), ...routesOf(ofrep)]
    expect(routes.length).toBeGreaterThan(45)
    const missing = routes.filter(({ method, path }) => paths[path]?.[method.toLowerCase()] === undefined)
    expect(missing).toEqual([])
    expect(Object.keys(paths)).toContain('/ofrep/v1/evaluate/flags/{key}')
  })

  it('is a valid OpenAPI 3.1 document', async () => {
    const api = (await SwaggerParser.validate(
      structuredClone(document) as unknown as OpenAPIV3_1.Document,
    )) as OpenAPIV3_1.Document
    expect(api.openapi).toBe('3.1.0')
  })

  it('every request body in the README validates against it', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8').replace(/\\\n\s*/g, ' ')
    const calls = [...readme.matchAll(/curl ([^\n]*?)-d '([^']*)' *(?:[^\n]*?)(https?:\/\/[^\s]+)/g)]
    expect(calls.length).toBeGreaterThanOrEqual(2)
    const ajv = new Ajv2020({ strict: false, validateFormats: false })
    ajv.addSchema({ ...document, $id: 'openapi.json' })
    for (const [, flags, body, url] of calls) {
      const method = (/-X (\w+)/.exec(flags!)?.[1] ?? 'POST').toLowerCase()
      const path = new URL(url!).pathname
      const template = Object.keys(paths).find((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path))
      expect(template, `${method} ${path} is in the document`).toBeDefined()
      const op = paths[template!]![method]
      expect(op, `${method} ${template}`).toBeDefined()
      const pointer = ['paths', template!, method, 'requestBody', 'content', 'application/json', 'schema']
        .map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1'))
        .join('/')
      const validate = ajv.getSchema(`openapi.json#/${pointer}`)!
      expect(validate(JSON.parse(body!)), `${method} ${path} ${body}: ${JSON.stringify(validate.errors)}`).toBe(true)
    }
  })
})

describe('the server serves it', () => {
  let served: Served
  const store = new MemoryStore()
  beforeAll(async () => {
    const { app } = createApp({ store, adminToken: ADMIN, ofrepTokens: [{ token: OFREP, environment: 'production' }] })
    served = await serve(app)
  })
  afterAll(async () => {
    await served.close()
    await store.close()
  })

  it('GET /admin/api/openapi.json and the docs page, without a token; the admin API still needs one', async () => {
    const spec = await fetch(`${served.url}/admin/api/openapi.json`)
    expect(spec.status).toBe(200)
    const served_ = (await spec.json()) as { paths: Record<string, unknown> }
    expect(Object.keys(served_.paths)).toEqual(Object.keys(paths))
    const page = await fetch(`${served.url}/admin/api/docs`)
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('/admin/api/docs/swagger-ui-bundle.js')
    expect(html).not.toMatch(/https?:\/\//) // no CDN
    const bundle = await fetch(`${served.url}/admin/api/docs/swagger-ui-bundle.js`)
    expect(bundle.status).toBe(200)
    expect((await bundle.text()).length).toBeGreaterThan(100_000)
    expect((await fetch(`${served.url}/admin/api/docs/..%2Fpackage.json`)).status).toBe(401) // not an asset: the admin API's
    expect((await fetch(`${served.url}/admin/api/flags`)).status).toBe(401)
  })

  it('OFREP: the admin token is not an OFREP token', async () => {
    const call = (token: string) =>
      fetch(`${served.url}/ofrep/v1/evaluate/flags/demo`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{"context":{}}',
      })
    expect((await call(ADMIN)).status).toBe(401)
    const known = await call(OFREP) // createApp does not seed the demo flag: a spec 404 proves the token was accepted
    expect(known.status).toBe(404)
    expect(await known.json()).toMatchObject({ key: 'demo', errorCode: 'FLAG_NOT_FOUND' })
  })
})

describe('what the server answers is what the document says', () => {
  let served: Served
  const store = new MemoryStore()
  const seen: string[] = []
  beforeAll(async () => {
    const { app } = createApp({ store, adminToken: ADMIN, ofrepTokens: [{ token: OFREP, environment: 'production' }] })
    served = await serve(app)
  })
  afterAll(async () => {
    await served.close()
    await store.close()
  })

  /** Sends one request and fails unless its status is among the documented responses of its operation. */
  async function call(
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; token?: string; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? ADMIN}`, ...options.headers }
    let body: string | undefined = options.raw
    if (options.body !== undefined) body = JSON.stringify(options.body)
    if (body !== undefined) headers['content-type'] ??= 'application/json'
    const response = await fetch(`${served.url}${path}`, { method, headers, body })
    const template = Object.keys(paths).find((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path))
    expect(template, `${method} ${path} is in the document`).toBeDefined()
    const responses = paths[template!]![method.toLowerCase()]?.responses ?? {}
    seen.push(`${method} ${template} ${response.status}`)
    expect(Object.keys(responses), `${method} ${template} answered ${response.status}`).toContain(String(response.status))
    return response
  }

  it('statuses of real calls, successes and failures, are all documented', async () => {
    const flag = { key: 'documented', type: 'boolean' }
    expect((await call('POST', '/admin/api/flags', { body: flag })).status).toBe(201)
    expect((await call('POST', '/admin/api/flags', { body: flag })).status).toBe(409)
    expect((await call('POST', '/admin/api/flags', { body: { key: 'Bad Key' } })).status).toBe(400)
    expect((await call('POST', '/admin/api/flags', { raw: 'key=x', headers: { 'content-type': 'text/plain' } })).status).toBe(415)
    expect((await call('GET', '/admin/api/flags/documented', { token: 'wrong-token-wrong-token' })).status).toBe(401)
    expect((await call('GET', '/admin/api/flags/missing')).status).toBe(404)
    const current = await call('GET', '/admin/api/flags/documented')
    const etag = current.headers.get('etag')!
    expect(etag).toBeTruthy()
    // (GET's 304 is documented and tested in admin.test.ts: fetch turns freshness off with Cache-Control: no-cache.)
    expect((await call('PUT', '/admin/api/flags/documented', { body: flag })).status).toBe(428)
    expect((await call('PUT', '/admin/api/flags/documented', { body: flag, headers: { 'if-match': '"999"' } })).status).toBe(412)
    const patched = await call('PATCH', '/admin/api/flags/documented', {
      body: { description: 'seen' },
      headers: { 'if-match': etag },
    })
    expect(patched.status).toBe(200)
    const override = '/admin/api/flags/documented/overrides/user/u1'
    expect((await call('PUT', override, { body: { enabled: true } })).status).toBe(201)
    expect((await call('PUT', override, { body: { enabled: false } })).status).toBe(200)
    expect((await call('DELETE', override, { headers: { 'if-match': '*' } })).status).toBe(204)
    expect((await call('POST', '/admin/api/segments', { body: { key: 'seg', name: 'Seg', conditions: [] } })).status).toBe(201)
    expect((await call('DELETE', '/admin/api/segments/seg', { headers: { 'if-match': '*' } })).status).toBe(204)
    const evaluated = await call('POST', '/admin/api/evaluate', { body: { flagKey: 'documented', context: { userId: 'u1' } } })
    expect(evaluated.status).toBe(200)
    const etagNow = (await call('GET', '/admin/api/flags/documented')).headers.get('etag')!
    expect((await call('DELETE', '/admin/api/flags/documented', { headers: { 'if-match': etagNow } })).status).toBe(204)
    const ofrep = { token: OFREP, body: { context: { targetingKey: 'u1' } } }
    expect((await call('POST', '/ofrep/v1/evaluate/flags/documented', ofrep)).status).toBe(404)
    const bulk = await call('POST', '/ofrep/v1/evaluate/flags', ofrep)
    expect(bulk.status).toBe(200)
    const again = await call('POST', '/ofrep/v1/evaluate/flags', {
      ...ofrep,
      headers: { 'if-none-match': bulk.headers.get('etag')! },
    })
    expect(again.status).toBe(304)
    expect(new Set(seen.map((s) => s.split(' ').pop())).size).toBeGreaterThanOrEqual(9)
  })
})
