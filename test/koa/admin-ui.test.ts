/** `adminUi()`: the static UI under /admin/ with its CSP, and nothing outside it (the API, other paths, files outside the root). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { get, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Koa from 'koa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_UI_CSP, adminUi } from '../../src/koa/admin-ui.js'

describe('adminUi', () => {
  let dir: string
  let server: Server
  let url: string
  let missing: Server
  let missingUrl: string

  const raw = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = get({ host: '127.0.0.1', port: new URL(url).port, path }, (response) => {
        let body = ''
        response.on('data', (chunk: Buffer) => (body += chunk.toString()))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
      })
      request.on('error', reject)
    })

  const listen = async (app: Koa) => {
    const s = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => s.once('listening', resolve))
    return { s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flagstone-admin-ui-'))
    mkdirSync(join(dir, 'ui', 'assets'), { recursive: true })
    writeFileSync(join(dir, 'ui', 'index.html'), '<!doctype html><title>ui</title>')
    writeFileSync(join(dir, 'ui', 'assets', 'app-abc123.js'), 'console.log(1)')
    writeFileSync(join(dir, 'secret.txt'), 'outside the root')
    const app = new Koa()
    app.use(adminUi({ root: join(dir, 'ui') }))
    app.use((ctx) => {
      ctx.body = { passedThrough: ctx.path }
    })
    ;({ s: server, url } = await listen(app))
    const bare = new Koa()
    bare.use(adminUi({ root: join(dir, 'nothing-here') }))
    ;({ s: missing, url: missingUrl } = await listen(bare))
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
    await new Promise((resolve) => missing.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves index.html at /admin/ under the strict CSP, revalidated on every load', async () => {
    const response = await fetch(`${url}/admin/`)
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('<title>ui</title>')
    expect(response.headers.get('content-security-policy')).toBe(ADMIN_UI_CSP)
    expect(ADMIN_UI_CSP).toContain("default-src 'self'")
    expect(ADMIN_UI_CSP).not.toMatch(/unsafe|\*|https?:/)
    expect(response.headers.get('cache-control')).toBe('no-cache')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
  })

  it('redirects /admin to /admin/ so relative URLs resolve', async () => {
    const response = await fetch(`${url}/admin?x=1`, { redirect: 'manual' })
    expect(response.status).toBe(308)
    expect(response.headers.get('location')).toBe('/admin/?x=1')
  })

  it('caches hashed assets for a year', async () => {
    const response = await fetch(`${url}/admin/assets/app-abc123.js`)
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toContain('immutable')
  })

  it('answers 404 for unknown files and for paths that climb out of the root', async () => {
    expect((await fetch(`${url}/admin/nope.js`)).status).toBe(404)
    // node:http sends the path as written (fetch would fold `%2e%2e` away before sending).
    for (const path of [
      '/admin/%2e%2e/secret.txt',
      '/admin/..%2fsecret.txt',
      '/admin/../secret.txt',
      '/admin/assets/%2e%2e/%2e%2e/secret.txt',
    ]) {
      const answer = await raw(path)
      expect(answer.status, path).not.toBe(200)
      expect(answer.body, path).not.toContain('outside the root')
    }
  })

  it('answers 405 for writes, and leaves the API and other paths to the next middleware', async () => {
    const post = await fetch(`${url}/admin/`, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    expect(await (await fetch(`${url}/admin/api/flags`, { method: 'POST' })).json()).toEqual({
      passedThrough: '/admin/api/flags',
    })
    expect(await (await fetch(`${url}/administrator`)).json()).toEqual({ passedThrough: '/administrator' })
  })

  it('says how to build it when the build is missing', async () => {
    const response = await fetch(`${missingUrl}/admin/`)
    expect(response.status).toBe(503)
    expect(await response.text()).toContain('npm run build:ui')
  })

  it('rejects a prefix that is not a path', () => {
    expect(() => adminUi({ prefix: 'admin' })).toThrow(/prefix/)
  })
})
