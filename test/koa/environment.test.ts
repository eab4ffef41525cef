import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { type EnvironmentOptions, environment } from '../../src/koa/index.js'
import { type Served, serve } from './helpers.js'

const running: Served[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

async function start(options?: EnvironmentOptions) {
  const app = new Koa()
  app.use(environment(options))
  app.use((ctx) => {
    ctx.body = { environment: ctx.state.environment ?? null }
  })
  const served = await serve(app)
  running.push(served)
  return (path = '/', headers: Record<string, string> = {}) => fetch(served.url + path, { headers })
}

const envOf = async (response: Response) => ((await response.json()) as { environment: string | null }).environment

describe('environment()', () => {
  it('takes the header first, then the query parameter, then the fallback', async () => {
    const get = await start({ fallback: 'production' })
    expect(await envOf(await get('/', { 'x-environment': 'staging' }))).toBe('staging')
    expect(await envOf(await get('/?env=dev'))).toBe('dev')
    expect(await envOf(await get('/?env=dev', { 'x-environment': 'staging' }))).toBe('staging')
    expect(await envOf(await get('/'))).toBe('production')
    expect(await envOf(await get('/?env=', { 'x-environment': '  ' }))).toBe('production') // blank = absent
  })

  it('without a fallback, a request naming no environment leaves it unset', async () => {
    const get = await start()
    expect(await envOf(await get('/'))).toBeNull()
  })

  it('custom header and query names', async () => {
    const get = await start({ header: 'X-Stage', query: 'stage' })
    expect(await envOf(await get('/', { 'x-stage': 'qa' }))).toBe('qa')
    expect(await envOf(await get('/?stage=qa2'))).toBe('qa2')
    expect(await envOf(await get('/?env=qa3'))).toBeNull()
  })

  it('query: false ignores the query string (header still works)', async () => {
    const get = await start({ query: false, fallback: 'production', allowed: ['production', 'staging'] })
    expect(await envOf(await get('/?env=staging'))).toBe('production')
    expect(await envOf(await get('/?env=not-allowed'))).toBe('production') // not even validated
    expect(await envOf(await get('/', { 'x-environment': 'staging' }))).toBe('staging')
  })

  it('header: false ignores the header', async () => {
    const get = await start({ header: false })
    expect(await envOf(await get('/?env=dev', { 'x-environment': 'staging' }))).toBe('dev')
  })

  it('a value outside allowed answers 400 with a JSON error naming the allowed values', async () => {
    const get = await start({ allowed: ['production', 'staging'], fallback: 'production' })
    const fromHeader = await get('/', { 'x-environment': 'qa' })
    expect(fromHeader.status).toBe(400)
    expect(fromHeader.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await fromHeader.json()).toEqual({
      error: {
        code: 'INVALID_ARGUMENT',
        message: 'unknown environment "qa" in header "x-environment": use one of: production, staging',
        details: { field: 'x-environment', source: 'header', allowed: ['production', 'staging'] },
      },
    })
    const fromQuery = await get('/?env=Production')
    expect(fromQuery.status).toBe(400)
    expect(await fromQuery.json()).toMatchObject({
      error: { code: 'INVALID_ARGUMENT', details: { field: 'env', source: 'query', allowed: ['production', 'staging'] } },
    })
    // a long hostile value is cut short in the message
    const hostile = await get(`/?env=${'<script>'.repeat(200)}`)
    expect(hostile.status).toBe(400)
    const body = (await hostile.json()) as { error: { message: string } }
    expect(body.error.message.length).toBeLessThan(200)
  })

  it('without allowed, only well-formed slugs pass', async () => {
    const get = await start()
    expect(await envOf(await get('/?env=eu-west_2'))).toBe('eu-west_2')
    for (const bad of ['Staging', '-x', 'a b', 'x'.repeat(65)]) {
      const response = await get(`/?env=${encodeURIComponent(bad)}`)
      expect(response.status, bad).toBe(400)
      expect(((await response.json()) as { error: { details: object } }).error.details).toEqual({ field: 'env', source: 'query' })
    }
  })

  it("rejects bad options up front and leaves the caller's object alone", () => {
    for (const options of [
      { allowed: [] },
      { allowed: ['Prod'] },
      { fallback: 'nope', allowed: ['production'] },
      { header: '' },
      { query: 1 },
    ]) {
      expect(() => environment(options as EnvironmentOptions), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      )
    }
    const options = { allowed: ['production'], fallback: 'production' }
    environment(options)
    expect(options).toEqual({ allowed: ['production'], fallback: 'production' })
  })

  it("the allowed list is copied: changing the caller's array later changes nothing", async () => {
    const allowed = ['production']
    const app = new Koa()
    app.use(environment({ allowed }))
    app.use((ctx) => {
      ctx.body = { environment: ctx.state.environment ?? null }
    })
    const served = await serve(app)
    running.push(served)
    allowed.push('staging')
    expect((await fetch(`${served.url}/?env=staging`)).status).toBe(400)
  })
})
