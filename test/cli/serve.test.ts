/**
 * `flagstone serve` (the real binary) and `npm start`: a signal to the process the user started
 * stops the server within 5 s after finishing the request in flight; settings from flags,
 * environment and config file, validated; request logs; /readyz; /metrics behind its token,
 * parsed by a Prometheus text-format parser, with counters that move.
 */
import type { ChildProcess } from 'node:child_process'
import { request } from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { BIN, flagstone, killGroup, ROOT, spawnGroup, tempDir } from './helpers.js'

const scratch = tempDir()
afterAll(() => scratch.remove())
const children: ChildProcess[] = []
afterEach(() => children.splice(0).forEach(killGroup))

interface Running {
  child: ChildProcess
  url: string
  logs: Array<Record<string, unknown>>
  exited: Promise<number | string>
}

/** Starts a command and waits for the JSON "listening" line. */
function start(command: string, args: string[], env: Record<string, string>): Promise<Running> {
  const child = spawnGroup(command, args, ROOT, { FLAGSTONE_LOG_FORMAT: 'json', ...env })
  children.push(child)
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no listening line within 120 s: ${JSON.stringify(logs)} ${stderr}`)),
      120_000,
    )
    void exited.then((code) => reject(new Error(`exited with ${code} before listening: ${JSON.stringify(logs)} ${stderr}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return // npm's own banner
      const entry = JSON.parse(line) as Record<string, unknown>
      logs.push(entry)
      if (typeof entry.url === 'string' && String(entry.msg).startsWith('listening on')) {
        clearTimeout(timer)
        resolve({ child, url: entry.url.replace('//localhost:', '//127.0.0.1:'), logs, exited })
      }
    })
  })
}

/** A POST whose body is still being sent: the request is in flight until `finish()`. */
function inFlight(url: string, token: string): { finish: () => void; response: Promise<{ status: number; body: string }> } {
  const body = JSON.stringify({ key: `late-${Date.now()}`, type: 'boolean' })
  const target = new URL('/admin/api/flags', url)
  let finish = () => undefined as void
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = ''
        res.on('data', (chunk: Buffer) => (text += chunk.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      },
    )
    req.on('error', reject)
    req.write(body.slice(0, 5))
    finish = () => req.end(body.slice(5))
  })
  return { finish, response }
}

const TOKEN = 'admin-token-for-serve-tests-0123'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.each([
  ['flagstone serve', process.execPath, [BIN, 'serve']],
  ['npm start', 'npm', ['start', '--silent']],
] as const)('%s', (name, command, args) => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    `stops within 5 s on %s sent to the process the user started, finishing the request in flight`,
    async (signal) => {
      const file = join(scratch.dir, `${name.replace(/\W/g, '-')}-${signal}.sqlite`)
      const running = await start(command, [...args], {
        FLAGSTONE_STORE_URL: `sqlite://${file}`,
        PORT: '0',
        FLAGSTONE_ADMIN_TOKEN: TOKEN,
      })
      expect((await fetch(`${running.url}/healthz`)).status).toBe(200)
      const pending = inFlight(running.url, TOKEN)
      await sleep(300) // the request has reached the server
      const signalled = Date.now()
      process.kill(running.child.pid!, signal)
      await sleep(500) // the server is closing while the request still waits for its body
      pending.finish()
      const answered = await pending.response
      expect(answered.status, answered.body).toBe(201)
      const code = await Promise.race([running.exited, sleep(5_000).then(() => 'still running after 5 s')])
      expect(code).toBe(0)
      expect(Date.now() - signalled).toBeLessThan(5_000)
      expect(running.logs.map((l) => l.msg)).toContain(`stopped (${signal})`)
    },
    300_000,
  )
})

describe('flagstone serve settings', () => {
  it('a bad setting names the setting and where it came from, and exits 2', async () => {
    const fromEnv = await flagstone(['serve'], { env: { PORT: 'eighty' } })
    expect(fromEnv.code).toBe(2)
    expect(fromEnv.stderr).toContain('invalid setting port (PORT): must be an integer from 0 to 65535, got "eighty"')
    const fromFlag = await flagstone(['serve', '--log-level', 'loud'])
    expect(fromFlag.code).toBe(2)
    expect(fromFlag.stderr).toContain('invalid setting logLevel (--log-level): must be one of fatal, error')
    const config = join(scratch.dir, 'bad.config.yaml')
    writeFileSync(config, 'port: 3000\nadminTokn: typo\n')
    const fromFile = await flagstone(['serve', '--config', config])
    expect(fromFile.code).toBe(2)
    expect(fromFile.stderr).toContain('unknown setting "adminTokn"')
    const short = join(scratch.dir, 'short.config.json')
    writeFileSync(short, JSON.stringify({ metricsToken: 'short' }))
    const tooShort = await flagstone(['serve', '--config', short])
    expect(tooShort.stderr).toContain(
      `invalid setting metricsToken (metricsToken in ${short}): must be a string of at least 16 characters`,
    )
  }, 300_000)

  it('reads flagstone.config.yaml from the working directory; a flag beats the environment, which beats the file', async () => {
    const dir = tempDir('flagstone-config-')
    try {
      writeFileSync(
        join(dir.dir, 'flagstone.config.yaml'),
        `store: memory://\nport: 0\nnamespace: from-file\nadminToken: ${TOKEN}\n`,
      )
      const child = spawnGroup(process.execPath, [BIN, 'serve', '--namespace', 'from-flag'], dir.dir, {
        FLAGSTONE_LOG_FORMAT: 'json',
        FLAGSTONE_NAMESPACE: 'from-env',
        FLAGSTONE_SEED_DEMO: 'false',
      })
      children.push(child)
      const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no listening line')), 120_000)
        createInterface({ input: child.stdout! }).on('line', (text) => {
          const entry = JSON.parse(text) as Record<string, unknown>
          if (String(entry.msg).startsWith('listening on')) {
            clearTimeout(timer)
            resolve(entry)
          }
        })
      })
      expect(line).toMatchObject({ namespace: 'from-flag', backend: 'memory', changes: 'poll', metrics: 'off' })
      expect(String(line.configFile)).toContain('flagstone.config.yaml')
      expect(line.version).toMatch(/^\d+\.\d+\.\d+/)
      const url = String(line.url).replace('//localhost:', '//127.0.0.1:')
      expect((await fetch(`${url}/metrics`)).status).toBe(404) // off without a metrics token
      const listed = await fetch(`${url}/admin/api/flags`, { headers: { authorization: `Bearer ${TOKEN}` } })
      expect(((await listed.json()) as { items: unknown[] }).items).toEqual([]) // seedDemo false from the environment
    } finally {
      dir.remove()
    }
  }, 300_000)
})

describe('flagstone serve observability', () => {
  const metricsToken = 'metrics-token-0123456789abcdef'

  it('logs one JSON line per request with its id; /readyz; /metrics parses and its counters move', async () => {
    const running = await start(process.execPath, [BIN, 'serve'], {
      FLAGSTONE_STORE_URL: 'memory://',
      PORT: '0',
      FLAGSTONE_ADMIN_TOKEN: TOKEN,
      FLAGSTONE_METRICS_TOKEN: metricsToken,
    })
    const ready = await fetch(`${running.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', store: 'ok', flags: 'READY' })

    expect((await fetch(`${running.url}/metrics`)).status).toBe(401)
    const scrape = async () => {
      const response = await fetch(`${running.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toContain('text/plain')
      return parsePrometheusTextFormat(await response.text())
    }
    type Family = ReturnType<typeof parsePrometheusTextFormat>[number]
    const value = (families: Family[], name: string, labels: Record<string, string>) => {
      const family = families.find((f) => f.name === name)
      const sample = (family?.metrics as Array<{ labels?: Record<string, string>; value?: string }> | undefined)?.find((m) =>
        Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
      )
      return Number(sample?.value ?? 0)
    }

    const before = await scrape()
    for (let i = 0; i < 3; i++)
      expect((await fetch(`${running.url}/demo`, { headers: { 'x-request-id': `req-${i}` } })).status).toBe(404)
    await fetch(`${running.url}/admin/api/flags/demo`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ defaultEnabled: true }),
    })
    let demoOn = await fetch(`${running.url}/demo`)
    for (let i = 0; i < 100 && demoOn.status !== 200; i++) {
      await sleep(50)
      demoOn = await fetch(`${running.url}/demo`)
    }
    expect(demoOn.status).toBe(200) // and it wrote a session
    const after = await scrape()

    const names = after.map((f) => f.name)
    for (const name of [
      'flagstone_http_requests_total',
      'flagstone_http_request_duration_seconds',
      'flagstone_store_operations_total',
      'flagstone_store_operation_duration_seconds',
      'flagstone_flag_evaluations_total',
      'flagstone_flag_snapshot_revision',
      'flagstone_flag_snapshot_age_seconds',
      'flagstone_flag_snapshot_state',
      'flagstone_rate_limit_decisions_total',
      'flagstone_sessions_total',
    ]) {
      expect(names, name).toContain(name)
    }
    const demo = { method: 'GET', route: '/demo', status: '404' }
    expect(value(after, 'flagstone_http_requests_total', demo) - value(before, 'flagstone_http_requests_total', demo)).toBe(3)
    const gets = { backend: 'memory', operation: 'get', outcome: 'ok' }
    expect(value(after, 'flagstone_store_operations_total', gets)).toBeGreaterThan(
      value(before, 'flagstone_store_operations_total', gets),
    )
    const evaluated = { flag: 'demo', reason: 'STATIC' }
    expect(value(after, 'flagstone_flag_evaluations_total', evaluated)).toBeGreaterThanOrEqual(3)
    const allowed = { decision: 'allowed' }
    expect(value(after, 'flagstone_rate_limit_decisions_total', allowed)).toBeGreaterThan(
      value(before, 'flagstone_rate_limit_decisions_total', allowed),
    )
    expect(value(after, 'flagstone_sessions_total', { action: 'created' })).toBe(1)
    expect(value(after, 'flagstone_flag_snapshot_state', { state: 'READY' })).toBe(1)
    expect(value(after, 'flagstone_flag_snapshot_revision', {})).toBeGreaterThan(0)

    const requestLines = running.logs.filter((l) => l.msg === 'request' && String(l.reqId).startsWith('req-'))
    expect(requestLines.map((l) => l.reqId)).toEqual(['req-0', 'req-1', 'req-2'])
    for (const line of requestLines) expect(line).toMatchObject({ method: 'GET', status: 404, url: '/demo', level: 30 })
    expect(typeof requestLines[0]?.durationMs).toBe('number')
    const patched = running.logs.find((l) => l.msg === 'request' && l.method === 'PATCH')
    expect(patched).toMatchObject({ route: '/admin/api/flags/:key', status: 200 })
    expect(JSON.stringify(running.logs)).not.toContain(TOKEN)
  }, 300_000)
})
