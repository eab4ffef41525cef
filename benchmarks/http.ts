/**
 * Requests per second over HTTP: load from autocannon in its own process against a server process
 * (benchmarks/http-server.ts), for four stacks serving the same route handler:
 *
 *   (1) bare Koa
 *   (2) Koa + flagstone `rateLimit` + `session` + `flags` on memory stores   target ≥ 0.6 × (1)
 *   (3) the same on Redis stores                                              target ≥ 1.0 × (4)
 *   (4) the peer stack: koa-session with a Redis external store + koa-ratelimit's Redis driver
 *
 * Each session stack runs twice: without `app.keys` (cookies unsigned: flagstone's default without
 * keys; koa-session with `signed: false`) and with `app.keys` (both sign and verify their cookie).
 *
 * The handler reads the session and increments a counter in it (a store read and a write per
 * request), evaluates a flag where flags are wired, and answers a small JSON body. Every request
 * carries the cookie of one session made before measuring. The rate limit is set far above what
 * the run sends, so every request is counted and none is refused (the run checks: any non-2xx
 * answer makes the run fail).
 *
 * A breakdown (BENCH_BREAKDOWN=0 leaves it out) loads each part of stack (2) alone, to show where
 * its time goes.
 *
 * One run: every server starts and gets a warm-up, then ROUNDS rounds; in a round each comparison
 * runs back to back in its group (the baseline with what is compared with it), DURATION seconds
 * per stack, the order inside a group rotating every round. Rate-limit keys are deleted before each
 * Redis run (the peer's sliding window keeps one sorted-set entry per request: starting each run
 * empty is the kind choice for it). req/s are medians over the rounds; a ratio is the median of
 * the per-round ratios, with their range. The table goes to stdout and into BENCHMARKS.md between
 * `<!-- http:start -->` and `<!-- http:end -->`. BENCH_NO_WRITE=1 skips writing; BENCH_ROUNDS,
 * BENCH_DURATION (s), BENCH_WARMUP (s), BENCH_CONNECTIONS change the run. Every Redis key the run made is deleted.
 *
 * Run: npx tsx benchmarks/http.ts
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createStore } from '../src/index.js'
import type { Stack } from './http-server.js'
import { writeSection } from './report.js'

const run = promisify(execFile)
const require = createRequire(import.meta.url)

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const DURATION = Number(process.env.BENCH_DURATION ?? 5)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const WRITE = process.env.BENCH_NO_WRITE !== '1'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const NAMESPACE = `bench-http-${randomBytes(4).toString('hex')}`

const SERVER = fileURLToPath(new URL('./http-server.ts', import.meta.url))
const AUTOCANNON = require.resolve('autocannon/autocannon.js')

interface Contender {
  id: string
  stack: Stack
  /** BENCH_PARTS for the server: which parts of the stack are wired; `keys` sets `app.keys` (signed session cookies). */
  parts: string
  label: string
  /** The contender this one is compared with, and the target ratio. */
  versus?: string
  target?: number
  /** A single part of stack (2) alone, for the breakdown table (BENCH_BREAKDOWN=0 leaves these out). */
  breakdown?: boolean
  /**
   * What the route does with the session: `read` (written once, then read on every request) or
   * `write` (changed on every request). @default 'read'
   */
  session?: 'read' | 'write'
}

/**
 * The four stacks of the question, each without `app.keys` (flagstone's default signs the session
 * cookie only when `app.keys` is set; koa-session runs with `signed: false` to match), then the
 * session stacks again with `app.keys` set, where both sign and verify their cookie.
 */
const CONTENDERS: Contender[] = [
  { id: 'bare', stack: 'bare', parts: 'none', label: '(1) bare Koa' },
  {
    id: 'mem',
    stack: 'flagstone-memory',
    parts: 'ratelimit,session,flags',
    label: '(2) flagstone rateLimit + session + flags, memory stores',
    versus: 'bare',
    target: 0.6,
  },
  {
    id: 'peer',
    stack: 'peer-redis',
    parts: 'ratelimit,session',
    label: '(4) peer: koa-ratelimit (Redis driver) + koa-session (Redis store)',
  },
  {
    id: 'redis',
    stack: 'flagstone-redis',
    parts: 'ratelimit,session,flags',
    label: '(3) flagstone rateLimit + session + flags, Redis stores',
    versus: 'peer',
    target: 1.0,
  },
  {
    id: 'mem-write',
    stack: 'flagstone-memory',
    parts: 'ratelimit,session,flags',
    session: 'write',
    label: '(2w) = (2), the session changed on every request',
    versus: 'bare',
    target: 0.6,
  },
  {
    id: 'peer-write',
    stack: 'peer-redis',
    parts: 'ratelimit,session',
    session: 'write',
    label: '(4w) = (4), the session changed on every request',
  },
  {
    id: 'redis-write',
    stack: 'flagstone-redis',
    parts: 'ratelimit,session,flags',
    session: 'write',
    label: '(3w) = (3), the session changed on every request',
    versus: 'peer-write',
    target: 1.0,
  },
  { id: 'peer-keys', stack: 'peer-redis', parts: 'ratelimit,session,keys', label: '(4k) = (4) with `app.keys` (signed cookie)' },
  {
    id: 'redis-keys',
    stack: 'flagstone-redis',
    parts: 'ratelimit,session,flags,keys',
    label: '(3k) = (3) with `app.keys` (signed cookie)',
    versus: 'peer-keys',
    target: 1.0,
  },
  { id: 'only-flags', stack: 'flagstone-memory', parts: 'flags', label: '`flags()` + one evaluation', breakdown: true },
  { id: 'only-ratelimit', stack: 'flagstone-memory', parts: 'ratelimit', label: '`rateLimit()` (memory)', breakdown: true },
  { id: 'only-session', stack: 'flagstone-memory', parts: 'session', label: '`session()` read (memory)', breakdown: true },
  {
    id: 'only-session-write',
    stack: 'flagstone-memory',
    parts: 'session',
    session: 'write',
    label: '`session()` read + write (memory)',
    breakdown: true,
  },
]
const BREAKDOWN = process.env.BENCH_BREAKDOWN !== '0'

interface Server {
  contender: Contender
  /** Root namespace (flagstone) or key prefix (peer) of this server's Redis keys. */
  namespace: string
  child: ChildProcess
  url: string
  cookie: string | undefined
}

function startServer(contender: Contender): Promise<Server> {
  const namespace = `${NAMESPACE}-${contender.id}`
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, contender.stack, REDIS_URL, namespace], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BENCH_PARTS: contender.parts, BENCH_SESSION: contender.session ?? 'read' },
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000)
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${contender.id} server did not start: ${stderr}`)), 60_000)
    child.once('exit', (code) => reject(new Error(`${contender.id} server exited with ${code}: ${stderr}`)))
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      const { port } = JSON.parse(line) as { port: number }
      resolve({ contender, namespace, child, url: `http://127.0.0.1:${port}/`, cookie: undefined })
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

/** One request without a cookie: the session it creates is the one every measured request carries. */
async function sessionCookie(server: Server): Promise<string | undefined> {
  const response = await fetch(server.url)
  if (response.status !== 200) throw new Error(`${server.contender.id}: GET / answered ${response.status}`)
  await response.arrayBuffer()
  const pairs = response.headers.getSetCookie().map((c) => c.split(';')[0] ?? '')
  return pairs.length === 0 ? undefined : pairs.join('; ')
}

interface Load {
  rps: number
  p99: number
  requests: number
  bad: number
}

async function load(server: Server, seconds: number): Promise<Load> {
  const args = [AUTOCANNON, '--json', '-c', String(CONNECTIONS), '-d', String(seconds)]
  if (server.cookie !== undefined) args.push('-H', `cookie: ${server.cookie}`)
  args.push(server.url)
  const { stdout } = await run(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 })
  const result = JSON.parse(stdout) as {
    requests: { average: number; total: number }
    latency: { p99: number }
    non2xx: number
    errors: number
    timeouts: number
  }
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    requests: result.requests.total,
    bad: result.non2xx + result.errors + result.timeouts,
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

async function redisReachable(): Promise<boolean> {
  try {
    const store = await createStore(REDIS_URL, { namespace: NAMESPACE, connectTimeout: 2000 })
    try {
      await store.exists('probe')
      return true
    } finally {
      await store.close()
    }
  } catch {
    return false
  }
}

/** Deletes the rate-limit keys of one Redis server (before each of its runs), or every key of the run. */
async function cleanRedis(servers: readonly Server[], only?: 'rate-limits'): Promise<void> {
  const { createClient } = await import('@redis/client')
  const client = createClient({ url: REDIS_URL })
  client.on('error', () => undefined)
  await client.connect()
  try {
    for (const server of servers) {
      if (server.contender.stack === 'peer-redis' || only === undefined) {
        const pattern = only === 'rate-limits' ? `${server.namespace}:peer-limit:*` : `${server.namespace}:*`
        for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
          if (keys.length > 0) await client.del(keys)
        }
      }
    }
  } finally {
    await client.close()
  }
  for (const server of servers) {
    if (server.contender.stack !== 'flagstone-redis') continue
    // flagstone's own keys: through its store API (the key encoding is the store's business)
    const root = await createStore(REDIS_URL, { namespace: server.namespace })
    try {
      if (only === 'rate-limits') await root.withNamespace('rate_limit').deleteAll()
      else await root.deleteAll()
    } finally {
      await root.close()
    }
  }
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

function version(name: string): string {
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const ratio = (n: number) => `${n.toFixed(2)}×`

async function main(): Promise<void> {
  const redis = await redisReachable()
  if (!redis) console.warn(`\n!!! Redis at ${REDIS_URL} is unreachable: the Redis stacks are SKIPPED\n`)
  const contenders = CONTENDERS.filter(
    (c) => (redis || (c.stack !== 'flagstone-redis' && c.stack !== 'peer-redis')) && (BREAKDOWN || c.breakdown !== true),
  )
  const byId = new Map(contenders.map((c) => [c.id, c]))

  const servers: Server[] = []
  try {
    for (const contender of contenders) servers.push(await startServer(contender))
    for (const server of servers) server.cookie = await sessionCookie(server)
    console.log(`warm-up: ${WARMUP} s per stack`)
    for (const server of servers) await load(server, WARMUP)

    // Each comparison is measured back to back, within its group (the baseline runs in every group
    // that needs it), so both sides of a per-round ratio saw the same state of the shared machine.
    const present = (ids: string[]) => ids.filter((id) => byId.has(id))
    const groups = [
      present(['bare', 'mem']),
      present(['peer', 'redis']),
      present(['bare', 'mem-write']),
      present(['peer-write', 'redis-write']),
      present(['peer-keys', 'redis-keys']),
      present(['bare', 'only-flags', 'only-ratelimit', 'only-session', 'only-session-write']),
    ].filter((g) => g.length > 1)
    const results = new Map<string, Load[]>()
    const serverOf = new Map(servers.map((s) => [s.contender.id, s]))
    for (let round = 0; round < ROUNDS; round++) {
      for (const [g, group] of groups.entries()) {
        const order = group.map((_, i) => group[(i + round) % group.length] as string)
        for (const id of order) {
          const server = serverOf.get(id) as Server
          if (server.contender.stack !== 'bare' && server.contender.stack !== 'flagstone-memory')
            await cleanRedis([server], 'rate-limits')
          const result = await load(server, DURATION)
          if (result.bad > 0) throw new Error(`${id}: ${result.bad} non-2xx answers, errors or timeouts in round ${round + 1}`)
          const key = `${g}:${id}`
          results.set(key, [...(results.get(key) ?? []), result])
          console.log(`round ${round + 1}: ${id.padEnd(18)} ${fmt(result.rps).padStart(8)} req/s  p99 ${result.p99} ms`)
        }
      }
    }
    /** The group in which `id` is compared with `versus` (both measured there), or the first group that has `id`. */
    const groupOf = (id: string, versus?: string) =>
      groups.findIndex((g) => g.includes(id) && (versus === undefined || g.includes(versus)))

    const loads = (id: string, versus?: string) => results.get(`${groupOf(id, versus)}:${id}`) ?? []
    const rps = (id: string, versus?: string) => loads(id, versus).map((r) => r.rps)
    const short = (id: string) => /^\(\w+\)/.exec(byId.get(id)?.label ?? id)?.[0] ?? id
    const rows: string[] = []
    const summary: string[] = []
    /** Time added per request relative to bare Koa, µs: 1e6/rps − 1e6/rps(bare), median over the rounds (the server is CPU-bound). */
    const added = (id: string) => {
      const base = rps('bare', id)
      return median(rps(id, 'bare').map((x, i) => 1e6 / x - 1e6 / (base[i] as number)))
    }
    const breakdownRows: string[] = []
    const missed = new Set<string>()
    for (const contender of contenders) {
      if (contender.breakdown === true) {
        breakdownRows.push(
          `| ${contender.label} | ${fmt(median(rps(contender.id, 'bare')))} | ${added(contender.id).toFixed(0)} |`,
        )
        continue
      }
      const { versus, target } = contender
      const values = rps(contender.id, versus)
      const p99 = median(loads(contender.id, versus).map((r) => r.p99))
      if (versus === undefined || target === undefined || !byId.has(versus)) {
        rows.push(`| ${contender.label} | ${fmt(median(values))} | ${p99} | — | — | — |`)
        continue
      }
      const base = rps(versus, contender.id)
      const ratios = values.map((x, i) => x / (base[i] as number))
      const m = median(ratios)
      const met = m >= target
      if (!met) missed.add(contender.id)
      summary.push(`${short(contender.id)} / ${short(versus)} = ${ratio(m)} (target ≥ ${target}×): ${met ? 'met' : 'MISSED'}`)
      rows.push(
        `| ${contender.label} | ${fmt(median(values))} | ${p99} | ${ratio(m)} vs ${short(versus)} <sub>(${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})</sub> | ≥ ${target}× | ${met ? '✅' : '❌'} |`,
      )
    }

    const cpus = os.cpus()
    const date = new Date().toISOString().slice(0, 10)
    const markdown = [
      '## HTTP: requests per second with and without the middleware',
      '',
      `Written by \`npx tsx benchmarks/http.ts\` on ${date}: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, Node ${process.version}, linux ${os.release()}, flagstone at commit ${commit()}; koa ${version('koa')}, koa-session ${version('koa-session')}, koa-ratelimit ${version('koa-ratelimit')}, ioredis ${version('ioredis')}, autocannon ${version('autocannon')}. ` +
        `Load: autocannon in its own process, ${CONNECTIONS} connections, no pipelining, against one server process per stack, all on this machine (its ${cpus.length} cores shared by the load generator, the server and Redis). ` +
        `A ${WARMUP} s warm-up per stack, then ${ROUNDS} rounds; in each round every comparison runs back to back (bare Koa with (2); (4) with (3); bare Koa with (2w); (4w) with (3w); (4k) with (3k); bare Koa with the parts of the breakdown), ${DURATION} s per stack, the order rotating every round. req/s and p99 are medians over the rounds (bare Koa: from its run next to (2)); a ratio is the **median of the per-round ratios** with their range in brackets. Absolute numbers on a shared machine are noise; the ratios are the result.`,
      '',
      '| stack | req/s | p99 ms | ratio | target | met |',
      '|---|---:|---:|---:|---|:---:|',
      ...rows,
      '',
      ...(breakdownRows.length === 0
        ? []
        : [
            `Where the time of (2) goes: each part of it alone on memory stores, as time added per request to bare Koa (\`1e6/req·s − 1e6/req·s(bare)\`, median over the rounds; bare Koa: ${(1e6 / median(rps('bare', 'mem'))).toFixed(0)} µs per request; (2): ${added('mem').toFixed(0)} µs added, (2w): ${added('mem-write').toFixed(0)} µs added).`,
            '',
            '| part alone | req/s | µs added per request |',
            '|---|---:|---:|',
            ...breakdownRows,
            '',
          ]),
      ...(redis ? [] : [`**Redis was unreachable at ${REDIS_URL}: the Redis stacks were not measured.**`, '']),
      'Notes:',
      '',
      '- The same route handler everywhere. Rows (2), (3), (4), (3k), (4k): a logged-in user — the session was written once before the run and every request reads it (`ctx.session.user`), the common case for a session. Rows (2w)–(4w): `ctx.session.count += 1`, a read and a write of the session on every request and a `Set-Cookie` on every answer. Then `ctx.flags.isEnabled(...)` where flags are wired, and a ~40-byte JSON body. Every measured request carries the cookie of one session created before the run.',
      '- flagstone: `stores(registry)` → `rateLimit({ limit: 1e9, window: 60 s })` → `session()` → `flags()` (its client loaded before listening). Per request on Redis: one `increment` (Lua, `EVALSHA`), one `GET` and one `SET` of the session; the flag evaluation touches no store.',
      "- peer: `koa-ratelimit({ driver: 'redis', db: ioredis, duration: 60 s, max: 1e9 })` (a sliding window: one Lua script per request over a sorted set; its keys are deleted before each run, so the set starts empty) → `koa-session({ store, signed })` with a 15-line external store on ioredis (`GET`, `SET … PX`, `DEL`; JSON). `koa-redis` was not used: its last release (4.0.1, 2020) is built for koa-generic-session on ioredis 4. Per request: one `EVALSHA`, one `GET`, one `SET`.",
      '- Rows without `app.keys`: flagstone\u2019s session signs its cookie only when `app.keys` is set (its ids carry 256 random bits), and koa-session runs with `signed: false` to match. Rows (2k)–(4k): `app.keys` set, both sign (`.sig` cookie) and verify on every request through Koa\u2019s `cookies` (keygrip HMAC, and tsscmp, which HMACs both sides under a fresh random key for each comparison).',
      ...(missed.has('mem') || missed.has('mem-write')
        ? [
            '- Why writing the session on every request costs so much against bare Koa: bare Koa\u2019s whole request is cheap here (~50–100 µs of server time), and one session write per request costs about as much again (breakdown above). A CPU profile of the (2) server without `app.keys` (`node --cpu-prof`, 8 s of this load, 2026-11-21: 175 µs of CPU per request against 77 µs for bare Koa, profiler included) puts the extra ~98 µs in: the kernel side of `writev` and the rest of `node:http`/net (+48 µs: answers 2.3× larger with a `Set-Cookie` and four `RateLimit-*` headers, and a slower server wakes the idle load generator for every answer), superjson parse + stringify of the session (13 µs), `session()` (8 µs), the memory store (8 µs), `cookies` building the `Set-Cookie` (7 µs), Koa\u2019s `ctx.set`/delegates (6 µs), `rateLimit()` (4 µs), `flags()` with its evaluation (1 µs). With `app.keys` Koa\u2019s `cookies` adds a keygrip HMAC to sign and, to verify, tsscmp\u2019s `randomBytes` + two HMACs: ~80 µs more per request on this VM (rows (2k), and the signed session row).',
          ]
        : []),
      '- The rate limit is far above what a run sends: every request is counted and none is refused (a run with any non-2xx answer fails).',
      '- The run deletes every Redis key it wrote (flagstone through its store API, the peer\u2019s by prefix) and stops every process it started.',
    ].join('\n')

    console.log(`\n${markdown}\n`)
    console.log(summary.join('\n'))
    if (WRITE) console.log(`\nwritten to ${writeSection('http', markdown)}`)
  } finally {
    await Promise.all(servers.map(stopServer))
    if (redis) await cleanRedis(servers)
  }
}

await main()
