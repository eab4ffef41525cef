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
const { document, undescribed } = openApiDocument({ admin, ofrep })
const paths = document.paths as Record<string, Record<string, OpenAPIV3_1.OperationObject>>

describe('the OpenAPI document', () => {
  it('describes every route of the admin and OFREP routers', () => {
    expect(undescribed).toEqual([])
    const routes = [...routesOf(admin), ...routesOf(ofrep)]
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
