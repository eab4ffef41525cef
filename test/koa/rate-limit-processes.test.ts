/**
 * Rate-limit exactness across processes: four server processes share one store (Redis,
 * PostgreSQL, a SQLite file); 64 concurrent clients send 1,000 requests spread over them against
 * a limit of 100 per window. Exactly 100 may pass.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStore } from '../../src/index.js'
import { clusterAvailable, RedisCluster } from '../helpers/redis-cluster.js'
import { DATABASE_URL, MYSQL_URL, REDIS_URL, randomNamespace, serviceAvailable } from '../helpers/services.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/rate-limit-server.ts', import.meta.url))
const SERVERS = 4
const CLIENTS = 64
const REQUESTS = 1000
const LIMIT = 100
/**
 * Windows are aligned to the epoch, so a burst that straddles a window boundary would rightly
 * admit up to 2 × LIMIT. A one-day window makes that a ~1 in 30,000 event for a burst of a few
 * seconds; the test also checks it did not happen (and says so) rather than fail obscurely.
 */
const WINDOW = 86_400_000

interface Server {
  child: ChildProcess
  port: number
  /** What the process printed on stderr (store errors are reported there). */
  stderr: () => string
}

function startServer(url: string, namespace: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, url, namespace, String(LIMIT), String(WINDOW)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`rate-limit server did not start within 60 s: ${stderr}`))
    }, 60_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`rate-limit server exited with ${code}: ${stderr}`))
    })
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      resolve({ child, port: (JSON.parse(line) as { port: number }).port, stderr: () => stderr })
    })
  })
}

async function stopServer({ child }: Server): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

interface Result {
  status: number
  port: number
  headers: Headers
}

/** REQUESTS requests from CLIENTS concurrent clients, round-robin over the servers. */
async function burst(ports: number[]): Promise<Result[]> {
  const results: Result[] = []
  let next = 0
  const clientLoop = async () => {
    while (next < REQUESTS) {
      const i = next++
      const port = ports[i % ports.length] ?? 0
      const response = await fetch(`http://127.0.0.1:${port}/`)
      await response.arrayBuffer()
      results.push({ status: response.status, port, headers: response.headers })
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, clientLoop))
  return results
}

function exactness(name: string, url: string, available: boolean, cleanup?: () => void | Promise<void>): void {
  describe.runIf(available)(`rateLimit() across ${SERVERS} processes on ${name}`, () => {
    const namespace = randomNamespace('rl')
    let servers: Server[] = []

    beforeAll(async () => {
      const started = await Promise.allSettled(Array.from({ length: SERVERS }, () => startServer(url, namespace)))
      servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (failed !== undefined) throw failed.reason
    }, 120_000)

    afterAll(async () => {
      await Promise.all(servers.map(stopServer))
      const store = await createStore(url, { namespace })
      await store.deleteAll()
      await store.close()
      await cleanup?.()
    }, 60_000)

    it(`admits exactly ${LIMIT} of ${REQUESTS} requests; the rest get 429 with Retry-After and RateLimit-*`, async () => {
      const windowBefore = Math.floor(Date.now() / WINDOW)
      const results = await burst(servers.map((s) => s.port))
      const windowAfter = Math.floor(Date.now() / WINDOW)
      expect(windowAfter, 'the burst straddled a window boundary: rerun').toBe(windowBefore)

      expect(results).toHaveLength(REQUESTS)
      const statuses = new Map<number, number>()
      for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
      const logs = servers.map((s) => s.stderr()).join('')
      expect(Object.fromEntries(statuses), `server errors: ${logs.slice(0, 2000)}`).toEqual({ 200: LIMIT, 429: REQUESTS - LIMIT })

      // every server took its share of the load, and of the admitted requests no two got the same count
      for (const { port } of servers) expect(results.filter((r) => r.port === port)).toHaveLength(REQUESTS / SERVERS)
      const remaining = results.filter((r) => r.status === 200).map((r) => Number(r.headers.get('ratelimit-remaining')))
      expect(remaining.sort((a, b) => a - b)).toEqual(Array.from({ length: LIMIT }, (_, i) => i))

      const windowSeconds = WINDOW / 1000
      for (const r of results) {
        expect(r.headers.get('ratelimit-limit')).toBe(String(LIMIT))
        expect(r.headers.get('ratelimit-policy')).toBe(`${LIMIT};w=${windowSeconds}`)
        const reset = Number(r.headers.get('ratelimit-reset'))
        expect(reset).toBeGreaterThanOrEqual(1)
        expect(reset).toBeLessThanOrEqual(windowSeconds)
        if (r.status === 429) {
          expect(r.headers.get('ratelimit-remaining')).toBe('0')
          const retryAfter = Number(r.headers.get('retry-after'))
          expect(Number.isInteger(retryAfter)).toBe(true)
          expect(retryAfter).toBeGreaterThanOrEqual(1)
          expect(retryAfter).toBeLessThanOrEqual(windowSeconds)
          expect(r.headers.get('content-type')).toMatch(/^application\/json/)
        }
      }
    }, 120_000)
  })
}

exactness('Redis', REDIS_URL, await serviceAvailable('Redis', REDIS_URL))
const withCluster = await clusterAvailable()
const cluster = withCluster ? await RedisCluster.start() : undefined
exactness('Redis Cluster', cluster?.url ?? 'redis+cluster://127.0.0.1:1', withCluster, () => cluster?.stop())
exactness('PostgreSQL', DATABASE_URL, await serviceAvailable('PostgreSQL', DATABASE_URL))
exactness('MySQL/MariaDB', MYSQL_URL, await serviceAvailable('MySQL/MariaDB', MYSQL_URL))
const sqliteDir = mkdtempSync(join(tmpdir(), 'flagstone-rl-'))
exactness('SQLite', `sqlite://${join(sqliteDir, 'rate-limit.sqlite')}`, true, () =>
  rmSync(sqliteDir, { recursive: true, force: true }),
)
