/**
 * Issue 10, the server's half, over real HTTP on `startServer()`: one configured environment
 * (header selection only with an allow-list), the right-most untrusted `X-Forwarded-For` hop,
 * bounded slow clients and a connection cap, a rate limit of the admin API's own, and scheduled
 * changes folded by the server in the audit trail as `scheduler`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { isFlagstoneError } from '../src/errors.js'
import { StoreFlagRepository } from '../src/flags/index.js'
import { createStore } from '../src/index.js'
import { environmentSettings } from '../src/cli/serve.js'
import { resolveSettings } from '../src/cli/serve-config.js'
import { type RunningServer, type ServerOptions, startServer } from '../src/server.js'
import { sleep } from './helpers/services.js'

const TOKEN = 'x'.repeat(32)
const quiet = { log: () => undefined, logError: () => undefined }
const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

let running: RunningServer | undefined
afterEach(async () => {
  await running?.close()
  running = undefined
})

async function start(options: ServerOptions = {}): Promise<{ base: string; server: RunningServer }> {
  running = await startServer({ ...quiet, storeUrl: 'memory://', port: 0, host: '127.0.0.1', adminToken: TOKEN, ...options })
  return { base: `http://127.0.0.1:${running.port}`, server: running }
}

/** A SQLite file prepared before the server starts, so its first snapshot already holds `prepare`'s writes. */
async function preparedStore(prepare: (repository: StoreFlagRepository) => Promise<void>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'flagstone-hardening-'))
  dirs.push(dir)
  const url = `sqlite://${join(dir, 'flags.sqlite')}`
  const store = await createStore(url, { namespace: 'flagstone' })
  try {
    await prepare(new StoreFlagRepository(store.withNamespace('flags')))
  } finally {
    await store.close()
  }
  return url
}

const admin = { authorization: `Bearer ${TOKEN}` }

/** `flagstone serve`'s settings from these environment variables alone (no flags, no config file). */
function settingsFrom(env: Record<string, string>) {
  const cwd = mkdtempSync(join(tmpdir(), 'flagstone-settings-'))
  dirs.push(cwd)
  return resolveSettings({}, env, cwd)
}

describe('environment: one configured environment, selection only from an allow-list (item 1)', () => {
  /** `demo` is off in its base settings and in production, on in development. */
  const withEnvironments = () =>
    preparedStore(async (repository) => {
      await repository.createFlag({ key: 'demo', type: 'boolean', defaultEnabled: false })
      await repository.createEnvironment({ slug: 'development', name: 'Development', settings: {} })
      await repository.createEnvironment({ slug: 'production', name: 'Production', settings: { protected: true } })
      await repository.setEnvironmentFlag({ environment: 'development', flagKey: 'demo', enabled: true })
      await repository.setEnvironmentFlag({ environment: 'production', flagKey: 'demo', enabled: false })
    })

  it('by default a client cannot pick its environment: X-Environment and ?env= are ignored', async () => {
    const { base } = await start({ storeUrl: await withEnvironments(), seedDemo: false })
    expect((await fetch(`${base}/demo`, { headers: { 'x-environment': 'development' } })).status).toBe(404)
    expect((await fetch(`${base}/demo?env=development`)).status).toBe(404)
  })

  it('evaluates in the configured environment (FLAGSTONE_ENVIRONMENT), whatever the request says', async () => {
    expect(settingsFrom({ FLAGSTONE_ENVIRONMENT: 'production' }).environment).toBe('production')
    const url = await withEnvironments()
    const { base } = await start({ storeUrl: url, seedDemo: false, environment: 'production' })
    expect((await fetch(`${base}/demo`, { headers: { 'x-environment': 'development' } })).status).toBe(404)
    await running?.close()
    const dev = await start({ storeUrl: url, seedDemo: false, environment: 'development' })
    expect((await fetch(`${dev.base}/demo`)).status).toBe(200)
  })

  it('header selection when the operator turns it on with an allow-list; anything else is 400', async () => {
    const options = environmentSettings(
      settingsFrom({
        FLAGSTONE_ENVIRONMENT: 'production',
        FLAGSTONE_ENVIRONMENT_HEADER: 'x-environment',
        FLAGSTONE_ENVIRONMENTS: 'production, development',
      }),
    )
    expect(options.environmentSelection).toEqual({ header: 'x-environment', allowed: ['production', 'development'] })
    const { base } = await start({ ...options, storeUrl: await withEnvironments(), seedDemo: false, port: 0, host: '127.0.0.1' })
    expect((await fetch(`${base}/demo`)).status).toBe(404) // production, the fallback
    const picked = await fetch(`${base}/demo`, { headers: { 'x-environment': 'staging' } })
    expect(picked.status).toBe(400)
    expect(((await picked.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT')
  })

  it('selection without an allow-list is refused at start, naming the setting', async () => {
    expect(() => environmentSettings(settingsFrom({ FLAGSTONE_ENVIRONMENT_HEADER: 'x-environment' }))).toThrow(/environments/)
    const error: unknown = await start({ environmentSelection: { header: 'x-environment', allowed: [] } }).catch(
      (e: unknown) => e,
    )
    expect(isFlagstoneError(error, 'INVALID_ARGUMENT')).toBe(true)
  })

  it('an allowed header value is used', async () => {
    const { base } = await start({
      storeUrl: await withEnvironments(),
      seedDemo: false,
      environment: 'production',
      environmentSelection: { header: 'x-environment', allowed: ['production', 'development'] },
    })
    expect((await fetch(`${base}/demo`, { headers: { 'x-environment': 'development' } })).status).toBe(200)
  })
})

describe('trusted proxy: the right-most untrusted X-Forwarded-For hop (item 2)', () => {
  it('with one proxy, spoofed left-most values share one rate-limit bucket', async () => {
    expect(settingsFrom({ FLAGSTONE_TRUST_PROXY: '1' }).trustProxy).toBe(1)
    expect(settingsFrom({ FLAGSTONE_TRUST_PROXY: 'true' }).trustProxy).toBe(1)
    expect(settingsFrom({ FLAGSTONE_TRUST_PROXY: '2' }).trustProxy).toBe(2)
    const { base } = await start({ proxy: 1, rateLimit: { limit: 3 } })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${base}/`, { headers: { 'x-forwarded-for': `10.0.0.${i}, 198.51.100.7` } })
      statuses.push(response.status)
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
  })

  it('in_cidr rules see the address the trusted proxy saw, not a spoofed one; with two proxies, the hop before them', async () => {
    const storeUrl = await preparedStore(async (repository) => {
      await repository.createFlag({
        key: 'demo',
        type: 'boolean',
        defaultEnabled: false,
        rules: [
          {
            id: 'office',
            name: 'office network',
            priority: 1,
            enabled: true,
            conditions: [{ attribute: 'ipAddress', operator: 'in_cidr', value: ['203.0.113.0/24'] }],
            serveEnabled: true,
          },
        ],
      })
    })
    const one = await start({ storeUrl, seedDemo: false, proxy: 1 })
    expect((await fetch(`${one.base}/demo`, { headers: { 'x-forwarded-for': '203.0.113.5, 198.51.100.1' } })).status).toBe(404)
    expect((await fetch(`${one.base}/demo`, { headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.5' } })).status).toBe(200)
    await running?.close()
    const two = await start({ storeUrl, seedDemo: false, proxy: 2 })
    const spoofed = { 'x-forwarded-for': '203.0.113.9, 198.51.100.1, 10.1.1.1' }
    expect((await fetch(`${two.base}/demo`, { headers: spoofed })).status).toBe(404)
    expect((await fetch(`${two.base}/demo`, { headers: { 'x-forwarded-for': '1.2.3.4, 203.0.113.9, 10.1.1.1' } })).status).toBe(
      200,
    )
  })
})

/** A raw connection; `closed` resolves with what the server sent before it closed the socket. */
function rawConnection(port: number): Promise<{ socket: Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (received += chunk))
    const closed = new Promise<string>((done) => socket.on('close', () => done(received)))
    socket.once('connect', () => resolve({ socket, closed }))
    socket.once('error', reject)
    socket.on('error', () => undefined)
  })
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, sleep(ms).then(() => 'still open after the bound' as const)])

describe('slow clients and a connection cap (item 5)', () => {
  it('a client that never finishes its headers is cut off after headersTimeout', async () => {
    const settings = settingsFrom({ FLAGSTONE_HEADERS_TIMEOUT: '1000', FLAGSTONE_REQUEST_TIMEOUT: '2000' })
    expect(settings).toMatchObject({ headersTimeout: 1000, requestTimeout: 2000 })
    const { server } = await start({ headersTimeout: 1000, requestTimeout: 2000 })
    expect(server.server.headersTimeout).toBe(1000)
    expect(server.server.requestTimeout).toBe(2000)
    const { socket, closed } = await rawConnection(server.port)
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ')
    const answer = await within(closed, 20_000) // Node's own default is 60 s
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
  })

  it('safe defaults: headersTimeout, requestTimeout and keepAliveTimeout below Node’s, and a connection cap', async () => {
    const { server } = await start()
    expect(server.server.headersTimeout).toBeLessThanOrEqual(20_000)
    expect(server.server.requestTimeout).toBeLessThanOrEqual(60_000)
    expect(server.server.keepAliveTimeout).toBeGreaterThan(0)
    expect(server.server.maxConnections).toBeGreaterThan(0)
    expect(Number.isFinite(server.server.maxConnections)).toBe(true)
  })

  it('connections beyond maxConnections are closed without an answer; the ones inside the cap are served', async () => {
    expect(settingsFrom({ FLAGSTONE_MAX_CONNECTIONS: '2' }).maxConnections).toBe(2)
    const { server } = await start({ maxConnections: 2 })
    const request = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'
    const first = await rawConnection(server.port)
    const second = await rawConnection(server.port)
    const answered = (c: { socket: Socket }) =>
      new Promise<string>((resolve) => {
        let text = ''
        c.socket.on('data', (chunk: string) => {
          text += chunk
          if (text.includes('\r\n\r\n')) resolve(text)
        })
        c.socket.write(request)
      })
    expect(await answered(first)).toMatch(/^HTTP\/1\.1 200/)
    expect(await answered(second)).toMatch(/^HTTP\/1\.1 200/)
    const third = await rawConnection(server.port)
    third.socket.write(request)
    expect(await within(third.closed, 20_000)).toBe('')
    first.socket.destroy()
    second.socket.destroy()
  })

  it('rejects a headersTimeout above requestTimeout, naming the field', async () => {
    const error: unknown = await start({ headersTimeout: 5000, requestTimeout: 1000 }).catch((e: unknown) => e)
    expect(isFlagstoneError(error, 'INVALID_ARGUMENT')).toBe(true)
    expect((error as Error).message).toContain('headersTimeout')
    expect(() => settingsFrom({ FLAGSTONE_MAX_CONNECTIONS: 'lots' })).toThrow(/maxConnections \(FLAGSTONE_MAX_CONNECTIONS\)/)
  })
})

describe('the admin API has a rate limit of its own (item 6)', () => {
  it('public traffic does not use up the admin limit, and the admin API is limited separately', async () => {
    expect(settingsFrom({ FLAGSTONE_ADMIN_RATE_LIMIT: '50' }).adminRateLimit).toBe(50)
    const { base } = await start({ rateLimit: { limit: 3 }, adminRateLimit: { limit: 4 } })
    for (let i = 0; i < 3; i++) expect((await fetch(`${base}/`)).status).toBe(200)
    expect((await fetch(`${base}/`)).status).toBe(429)
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${base}/admin/api/flags`, { headers: admin })).status)
    expect(statuses).toEqual([200, 200, 200, 200, 429])
    // Unauthenticated guesses count against the admin limit too (it runs before authentication).
    expect((await fetch(`${base}/admin/api/flags`)).status).toBe(429)
  })
})

describe('scheduled changes folded by the server are audited as the scheduler (item 10)', () => {
  it('writes a schedule.apply entry with actor "scheduler" and the flag before and after', async () => {
    const { base, server } = await start({ foldInterval: 100, seedDemo: false })
    const created = await server.repository.createFlag({
      key: 'later',
      type: 'boolean',
      scheduledChanges: [{ id: 'switch-on', at: new Date(Date.now() + 150), change: 'enable' }],
    })
    const deadline = Date.now() + 15_000
    let items: Array<{ actor: string; action: string; before: { version: number }; after: { defaultEnabled: boolean } }> = []
    while (items.length === 0 && Date.now() < deadline) {
      await sleep(100)
      const response = await fetch(`${base}/admin/api/audit?flagKey=later`, { headers: admin })
      items = ((await response.json()) as { items: typeof items }).items
    }
    expect(items).toHaveLength(1)
    expect(items[0]).toMatchObject({ actor: 'scheduler', action: 'schedule.apply', before: { version: created.version } })
    expect(items[0]?.after.defaultEnabled).toBe(true)
  })
})
