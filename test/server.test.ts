/**
 * The server: `npm start` itself on a temporary SQLite file, the start command in a temporary
 * working directory with no configuration at all (the default `./data/flagstone.sqlite`), the same
 * on Redis and PostgreSQL through FLAGSTONE_STORE_URL, and `startServer()` in process for health,
 * start-up errors and the scheduled-change fold.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { isFlagstoneError } from '../src/errors.js'
import { createStore } from '../src/index.js'
import { createLogger } from '../src/observability/index.js'
import { describeStore, type RunningServer, startServer } from '../src/server.js'
import { DATABASE_URL, REDIS_URL, randomNamespace, serviceAvailable, sleep } from './helpers/services.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const START_SCRIPT =
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? ''

const temporary: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flagstone-server-'))
  temporary.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true })
})

/** Environment for a child: ours minus every FLAGSTONE_ / PORT setting, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('FLAGSTONE_') && name !== 'PORT' && name !== 'HOST') env[name] = value
  }
  env.PATH = [dirname(process.execPath), env.PATH ?? ''].join(delimiter)
  return { ...env, ...extra }
}

/**
 * The start script with its relative parts made absolute, to run it from any working directory:
 * `exec node --import tsx src/cli/main.ts serve` → `<node> --import <tsx loader URL> <repo>/src/cli/main.ts serve`.
 */
function absoluteStartCommand(): [string, string[]] {
  const match = /^exec node --import tsx (\S+) serve$/.exec(START_SCRIPT)
  if (match?.[1] === undefined) throw new Error(`unexpected start script ${JSON.stringify(START_SCRIPT)}: update this test`)
  return [process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, match[1]), 'serve']]
}

/** The message of a JSON log line (pino's `msg`), or the line itself. */
function messageOf(line: string): string {
  try {
    const parsed = JSON.parse(line) as { msg?: unknown }
    return typeof parsed.msg === 'string' ? parsed.msg : line
  } catch {
    return line
  }
}

interface Started {
  child: ChildProcess
  lines: string[]
  stderr: () => string
  url: string
  token: string
  /** The server's own process id, from its log line (npm and sh may sit between it and `child`). */
  pid: number
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | string>
}

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
})

/** Spawns in its own process group (npm and sh in between get the signal too) and waits for the "listening" line. */
function spawnServer(command: string, args: string[], options: { cwd: string; env: Record<string, string> }): Promise<Started> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  children.push(child)
  const lines: string[] = []
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s: ${lines.join('\n')}\n${stderr}`)), 60_000)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before listening: ${lines.join('\n')}\n${stderr}`))
    })
    createInterface({ input: child.stdout! }).on('line', (raw) => {
      const line = messageOf(raw)
      lines.push(line)
      const listening = /listening on (http:\/\/\S+) \(pid (\d+)\)/.exec(line)
      if (listening?.[1] === undefined) return
      clearTimeout(timer)
      const token =
        lines.map((l) => /admin token \(generated[^)]*\): (\S+)$/.exec(l)?.[1]).find((t) => t !== undefined) ??
        options.env.FLAGSTONE_ADMIN_TOKEN ??
        ''
      // The URL says localhost; ask for the IPv4 loopback so the test does not depend on name resolution.
      resolve({
        child,
        lines,
        stderr: () => stderr,
        url: listening[1].replace('//localhost:', '//127.0.0.1:'),
        token,
        pid: Number(listening[2]),
        exited,
      })
    })
  })
}

/** Signals the server process (as an orchestrator would) and returns the exit code of what we spawned. */
async function stop(started: Started, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
  process.kill(started.pid, signal)
  const timer = setTimeout(() => process.kill(-(started.child.pid ?? 0), 'SIGKILL'), 20_000)
  const code = await started.exited
  clearTimeout(timer)
  return code
}

/** What every backend must serve: health, the admin API with and without the token, the demo flag switched on through it. */
async function exercise(started: Started, within: number): Promise<void> {
  const { url, token } = started
  expect(token.length).toBeGreaterThanOrEqual(16)
  const health = await fetch(`${url}/healthz`)
  expect(health.status).toBe(200)
  expect(await health.json()).toEqual({ status: 'ok' })

  const auth = { authorization: `Bearer ${token}` }
  const listed = await fetch(`${url}/admin/api/flags`, { headers: auth })
  expect(listed.status).toBe(200)
  expect(JSON.stringify(await listed.json())).toContain('"demo"') // seeded at start
  expect((await fetch(`${url}/admin/api/flags`)).status).toBe(401)
  expect((await fetch(`${url}/admin/api/flags`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(
    401,
  )

  expect((await fetch(`${url}/demo`)).status).toBe(404)
  const patched = await fetch(`${url}/admin/api/flags/demo`, {
    method: 'PATCH',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ defaultEnabled: true }),
  })
  expect(patched.status).toBe(200)
  const started_ = Date.now()
  let demo = await fetch(`${url}/demo`)
  while (demo.status !== 200 && Date.now() - started_ < within) {
    await sleep(50)
    demo = await fetch(`${url}/demo`)
  }
  expect(demo.status, `demo not on within ${within} ms`).toBe(200)
  expect(await demo.json()).toMatchObject({ visits: 1 })
}

describe('npm start', () => {
  it('serves /healthz and the admin API on SQLite with no other set-up; prints the generated token once; exits cleanly on SIGTERM', async () => {
    const dir = tempDir()
    const file = join(dir, 'flagstone.sqlite')
    const started = await spawnServer('npm', ['start'], {
      cwd: ROOT,
      env: { FLAGSTONE_STORE_URL: `sqlite://${file}`, PORT: '0' },
    })
    const log = started.lines.join('\n')
    expect(log).toMatch(
      /listening on http:\/\/localhost:\d+ \(pid \d+\) — store sqlite \(.*flagstone\.sqlite\), admin API at http:\/\/localhost:\d+\/admin\/api/,
    )
    expect(log.split(started.token).length - 1).toBe(1) // printed exactly once
    await exercise(started, 3_000) // SQLite cannot push: the client polls every second
    expect(existsSync(file)).toBe(true)
    expect(await stop(started)).toBe(0)
    expect(started.lines.join('\n')).toMatch(/stopped \(SIGTERM\)/)
    expect(started.stderr()).not.toMatch(/Error|unhandled/i)
  }, 90_000)

  it('defaults to ./data/flagstone.sqlite in the working directory; a given FLAGSTONE_ADMIN_TOKEN is not printed; SIGINT stops it', async () => {
    const cwd = tempDir()
    const [command, args] = absoluteStartCommand()
    const token = 'a-token-chosen-by-the-operator-0123456789'
    const started = await spawnServer(command, args, { cwd, env: { PORT: '0', FLAGSTONE_ADMIN_TOKEN: token } })
    expect(started.lines.join('\n')).toContain('store sqlite (./data/flagstone.sqlite)')
    expect(started.lines.join('\n')).not.toContain(token)
    expect(existsSync(join(cwd, 'data', 'flagstone.sqlite'))).toBe(true)
    await exercise(started, 3_000)
    expect(await stop(started, 'SIGINT')).toBe(0)
  }, 90_000)

  it('a store that cannot be reached stops the start with a clear error and exit code 5 (no password in the message)', async () => {
    const [command, args] = absoluteStartCommand()
    const child = spawn(command, args, {
      cwd: ROOT,
      env: childEnv({ PORT: '0', FLAGSTONE_STORE_URL: 'redis://:hunter2@127.0.0.1:1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code).toBe(5) // EXIT.UNAVAILABLE (src/cli/exit-codes.ts)
    expect(output).toMatch(/could not start: cannot reach the store redis \(127\.0\.0\.1:1\)/)
    expect(output).not.toContain('hunter2')
    expect(output).not.toContain('listening')
  }, 60_000)
})

function onBackend(name: string, url: string, available: boolean, within: number): void {
  describe.runIf(available)(`FLAGSTONE_STORE_URL on ${name}`, () => {
    const namespace = randomNamespace('srv')
    afterAll(async () => {
      const store = await createStore(url, { namespace })
      await store.deleteAll()
      await store.close()
    })

    it(`serves /healthz, the admin API and the flag-gated demo on ${name}`, async () => {
      const [command, args] = absoluteStartCommand()
      const started = await spawnServer(command, args, {
        cwd: ROOT,
        env: { PORT: '0', FLAGSTONE_STORE_URL: url, FLAGSTONE_NAMESPACE: namespace },
      })
      expect(started.lines.join('\n')).toContain(`store ${describeStore(url)}`)
      await exercise(started, within)
      expect(await stop(started)).toBe(0)
    }, 90_000)
  })
}

onBackend('Redis', REDIS_URL, await serviceAvailable('Redis', REDIS_URL), 2_000)
onBackend('PostgreSQL', DATABASE_URL, await serviceAvailable('PostgreSQL', DATABASE_URL), 2_000)

describe('startServer()', () => {
  const quiet = { logger: createLogger({ level: 'silent' }) }
  let running: RunningServer | undefined
  afterEach(async () => {
    await running?.close()
    running = undefined
  })

  it('/healthz answers 503 without internals when the store is down', async () => {
    running = await startServer({ ...quiet, storeUrl: 'memory://', port: 0, host: '127.0.0.1', adminToken: 'x'.repeat(32) })
    const base = `http://127.0.0.1:${running.port}`
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    await running.store.close()
    const down = await fetch(`${base}/healthz`)
    expect(down.status).toBe(503)
    expect(await down.json()).toEqual({ status: 'unavailable' })
    expect(down.headers.get('cache-control')).toBe('no-store')
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405)
  })

  it('rejects with STORE_UNAVAILABLE, naming the backend without credentials, when the store does not answer at start', async () => {
    const started = Date.now()
    const error: unknown = await startServer({
      ...quiet,
      storeUrl: 'redis://user:hunter2@127.0.0.1:1',
      port: 0,
      connectTimeout: 5_000,
    }).catch((e: unknown) => e)
    expect(isFlagstoneError(error, 'STORE_UNAVAILABLE')).toBe(true)
    expect((error as Error).message).toMatch(/^cannot reach the store redis \(user@127\.0\.0\.1:1\)/)
    expect((error as Error).message).not.toContain('hunter2')
    expect(Date.now() - started).toBeLessThan(15_000)
  })

  it('folds due scheduled changes into the stored flag periodically', async () => {
    running = await startServer({
      ...quiet,
      storeUrl: 'memory://',
      port: 0,
      host: '127.0.0.1',
      adminToken: 'x'.repeat(32),
      foldInterval: 100,
      seedDemo: false,
    })
    const { repository } = running
    const created = await repository.createFlag({
      key: 'later',
      type: 'boolean',
      scheduledChanges: [{ id: 'switch-on', at: new Date(Date.now() + 150), change: 'enable' }],
    })
    expect(created.defaultEnabled).toBe(false)
    const deadline = Date.now() + 5_000
    let flag = await repository.getFlag('later')
    while ((flag?.scheduledChanges.length ?? 0) > 0 && Date.now() < deadline) {
      await sleep(50)
      flag = await repository.getFlag('later')
    }
    expect(flag?.scheduledChanges).toEqual([])
    expect(flag?.version).toBe(created.version + 1)
    expect(flag?.defaultEnabled).toBe(true)
    expect(await repository.getFlag('demo')).toBeNull() // seedDemo: false
  })

  it('describeStore() never shows a password', () => {
    expect(describeStore('sqlite://./data/flagstone.sqlite')).toBe('sqlite (./data/flagstone.sqlite)')
    expect(describeStore('redis://:secret@cache:6380/2')).toBe('redis (cache:6380/2)')
    expect(describeStore('postgresql://app:secret@db.internal/flags')).toBe('postgresql (app@db.internal/flags)')
    expect(describeStore('memory://')).toBe('memory')
  })
})
