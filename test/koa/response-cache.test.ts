import { Readable } from 'node:stream'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { rateLimit, type ResponseCacheOptions, responseCache, stores } from '../../src/koa/index.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { StoreRegistry } from '../../src/stores/registry.js'
import { sleep } from '../helpers/services.js'
import { collectErrors, type Served, serve } from './helpers.js'

const running: Served[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

/** An app whose routes count how often they really ran. */
async function start(options: ResponseCacheOptions = {}, before?: (app: Koa) => void) {
  const store = new MemoryStore()
  const app = new Koa()
  const errors = collectErrors(app)
  const runs = new Map<string, number>()
  app.use(stores(new StoreRegistry({ stores: { response_cache: store } })))
  before?.(app)
  app.use(responseCache(options))
  app.use(async (ctx) => {
    const n = (runs.get(ctx.path) ?? 0) + 1
    runs.set(ctx.path, n)
    switch (ctx.path) {
      case '/text':
        ctx.set('X-Custom', 'yes')
        ctx.type = 'text/plain'
        ctx.body = `run ${n} ${ctx.querystring}`
        return
      case '/json':
        ctx.body = { run: n, list: [1, 2, 3] }
        return
      case '/bytes':
        ctx.status = 203
        ctx.body = Buffer.from([0, 1, 2, 255, n])
        return
      case '/created':
        ctx.status = 201
        ctx.body = { run: n }
        return
      case '/missing':
        ctx.status = 404
        ctx.body = { run: n }
        return
      case '/broken':
        throw new Error('boom')
      case '/cookie':
        ctx.cookies.set('a', 'b')
        ctx.body = { run: n }
        return
      case '/private':
        ctx.set('Cache-Control', 'private, max-age=60')
        ctx.body = { run: n }
        return
      case '/no-store':
        ctx.set('Cache-Control', 'no-store')
        ctx.body = { run: n }
        return
      case '/vary':
        ctx.vary('Accept-Language')
        ctx.body = { run: n }
        return
      case '/stream':
        ctx.type = 'text/plain'
        ctx.body = Readable.from([`stream ${n} `, 'second chunk'])
        return
      case '/big-stream':
        ctx.type = 'application/octet-stream'
        ctx.body = Readable.from(Array.from({ length: 64 }, (_, i) => Buffer.alloc(1024, i)))
        return
      default:
        ctx.body = { run: n, method: ctx.method }
    }
  })
  const served = await serve(app)
  running.push(served)
  const request = (path: string, init: RequestInit = {}) => fetch(served.url + path, init)
  return { request, runs, store, errors }
}

describe('responseCache()', () => {
  it('a miss runs the route and stores it; a hit serves status, headers and body without running it', async () => {
    const { request, runs } = await start()
    const miss = await request('/text?x=1')
    expect(miss.headers.get('x-cache')).toBe('MISS')
    expect(await miss.text()).toBe('run 1 x=1')

    const hit = await request('/text?x=1')
    expect(hit.status).toBe(200)
    expect(hit.headers.get('x-cache')).toBe('HIT')
    expect(hit.headers.get('x-custom')).toBe('yes')
    expect(hit.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(hit.headers.get('content-length')).toBe('9')
    expect(await hit.text()).toBe('run 1 x=1')
    expect(runs.get('/text')).toBe(1)

    const json = [await request('/json'), await request('/json')]
    expect(json.map((r) => r.headers.get('x-cache'))).toEqual(['MISS', 'HIT'])
    expect(json[1]?.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await json[1]?.json()).toEqual({ run: 1, list: [1, 2, 3] })

    // other 2xx statuses and binary bodies survive byte for byte
    const bytes = [await request('/bytes'), await request('/bytes')]
    expect(bytes.map((r) => [r.status, r.headers.get('x-cache')])).toEqual([
      [203, 'MISS'],
      [203, 'HIT'],
    ])
    expect([...new Uint8Array(await bytes[1]!.arrayBuffer())]).toEqual([0, 1, 2, 255, 1])
    const created = [await request('/created'), await request('/created')]
    expect(created.map((r) => r.status)).toEqual([201, 201])
    expect(await created[1]?.json()).toEqual({ run: 1 })
  })

  it('caches only 2xx answers to GET and HEAD', async () => {
    const { request, runs } = await start()
    for (let i = 0; i < 2; i++) {
      const missing = await request('/missing')
      expect(missing.status).toBe(404)
      expect(missing.headers.get('x-cache')).toBe('MISS')
      expect((await request('/broken')).status).toBe(500)
      const posted = await request('/thing', { method: 'POST' })
      expect(posted.headers.get('x-cache')).toBeNull() // not a cacheable method: untouched
    }
    expect(runs.get('/missing')).toBe(2)
    expect(runs.get('/broken')).toBe(2)
    expect(runs.get('/thing')).toBe(2)

    // HEAD is cached too, under its own key
    const heads = [await request('/head', { method: 'HEAD' }), await request('/head', { method: 'HEAD' })]
    expect(heads.map((r) => r.headers.get('x-cache'))).toEqual(['MISS', 'HIT'])
    expect(heads[1]?.headers.get('content-length')).toBe(heads[0]?.headers.get('content-length'))
    expect(await heads[1]?.text()).toBe('')
    expect((await request('/head')).headers.get('x-cache')).toBe('MISS')
    expect(runs.get('/head')).toBe(2)
  })

  it('the order of query parameters does not matter; their values do', async () => {
    const { request, runs } = await start()
    expect((await request('/text?b=2&a=1')).headers.get('x-cache')).toBe('MISS')
    const reordered = await request('/text?a=1&b=2')
    expect(reordered.headers.get('x-cache')).toBe('HIT')
    expect(await reordered.text()).toBe('run 1 b=2&a=1')
    expect((await request('/text?a=1&b=3')).headers.get('x-cache')).toBe('MISS')
    expect((await request('/text')).headers.get('x-cache')).toBe('MISS')
    expect(runs.get('/text')).toBe(3)
  })

  it('entries expire after ttl', async () => {
    const { request, runs } = await start({ ttl: 1000 })
    expect((await request('/json')).headers.get('x-cache')).toBe('MISS')
    expect((await request('/json')).headers.get('x-cache')).toBe('HIT')
    await sleep(1500)
    const after = await request('/json')
    expect(after.headers.get('x-cache')).toBe('MISS')
    expect(await after.json()).toEqual({ run: 2, list: [1, 2, 3] })
    expect(runs.get('/json')).toBe(2)
  })

  it('never caches Set-Cookie, Cache-Control private / no-store, or requests with Authorization (Vary: test/koa/response-cache-private)', async () => {
    const { request, runs } = await start()
    for (const path of ['/cookie', '/private', '/no-store']) {
      for (let i = 0; i < 2; i++) expect((await request(path)).headers.get('x-cache'), path).toBe('MISS')
      expect(runs.get(path), path).toBe(2)
    }
    await request('/json')
    const authorised = await request('/json', { headers: { authorization: 'Bearer x' } })
    expect(authorised.headers.get('x-cache')).toBeNull()
    expect(await authorised.json()).toEqual({ run: 2, list: [1, 2, 3] })
  })

  it('buffers streams up to maxBodyBytes; a bigger one passes through intact, uncached', async () => {
    const { request, runs } = await start({ maxBodyBytes: 16 * 1024 })
    expect(await (await request('/stream')).text()).toBe('stream 1 second chunk')
    const hit = await request('/stream')
    expect(hit.headers.get('x-cache')).toBe('HIT')
    expect(await hit.text()).toBe('stream 1 second chunk')

    for (let i = 0; i < 2; i++) {
      const big = await request('/big-stream')
      expect(big.headers.get('x-cache')).toBe('MISS')
      const bytes = new Uint8Array(await big.arrayBuffer())
      expect(bytes.length).toBe(64 * 1024)
      expect(bytes[0]).toBe(0)
      expect(bytes[63 * 1024]).toBe(63)
    }
    expect(runs.get('/big-stream')).toBe(2)
  })

  it('headers of middleware above it (a rate limiter) stay fresh on a hit', async () => {
    const { request } = await start({}, (app) => {
      app.use(rateLimit({ limit: 10 }))
    })
    const remaining = []
    for (let i = 0; i < 3; i++) {
      const r = await request('/json')
      remaining.push([r.headers.get('x-cache'), r.headers.get('ratelimit-remaining')])
    }
    expect(remaining).toEqual([
      ['MISS', '9'],
      ['HIT', '8'],
      ['HIT', '7'],
    ])
  })

  it('a custom key; null bypasses the cache', async () => {
    const { request, runs } = await start({ key: (ctx) => (ctx.query.nocache === undefined ? ctx.path : null) })
    await request('/json?a=1')
    expect((await request('/json?a=2')).headers.get('x-cache')).toBe('HIT') // path only
    expect((await request('/json?nocache')).headers.get('x-cache')).toBeNull()
    expect(runs.get('/json')).toBe(2)
  })

  it('a failing store never fails the request: served uncached, error reported', async () => {
    const { request, store, errors, runs } = await start()
    await store.close()
    const response = await request('/json')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ run: 1, list: [1, 2, 3] })
    expect(errors.length).toBe(2) // the read and the write
    expect(runs.get('/json')).toBe(1)
  })

  it('rejects bad options', () => {
    for (const options of [{ ttl: 0 }, { ttl: Infinity }, { key: 'x' }, { store: '' }, { maxBodyBytes: -1 }]) {
      expect(() => responseCache(options as ResponseCacheOptions), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      )
    }
  })
})
