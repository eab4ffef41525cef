/**
 * One server process for benchmarks/http.ts. argv: <stack> <redis-url> <namespace>, where stack is
 *
 *   bare              Koa and the route handler only
 *   flagstone-memory  stores + rateLimit + session + flags on memory stores
 *   flagstone-redis   the same on Redis stores (root namespace <namespace>)
 *   peer-redis        koa-session with a Redis external store (ioredis) + koa-ratelimit's Redis driver (ioredis)
 *
 * Every stack serves the same route handler: read the session (if any) and increment a counter in
 * it, evaluate a flag (if flags are wired), answer a small JSON body. BENCH_PARTS (default
 * `ratelimit,session,flags,keys`) keeps only the parts named; `keys` sets `app.keys`, so both
 * session middlewares sign their cookie (koa-session gets `signed: false` without it). Prints
 * `{"port":N}` once listening; on SIGTERM closes everything and exits.
 */
import Koa from 'koa'
import type { Middleware } from 'koa'
import { closeFlags, closeStores, flags, rateLimit, session, startFlags, stores } from '../src/koa/index.js'
import { createStore, StoreFlagRepository, StoreRegistry, type Store } from '../src/index.js'

export type Stack = 'bare' | 'flagstone-memory' | 'flagstone-redis' | 'peer-redis'

/** A limit the benchmark never reaches: rate limiting does its full work but never answers 429. */
export const LIMIT = 1_000_000_000
export const WINDOW_MS = 60_000
export const FLAG_KEY = 'bench.hello'

const [stack, redisUrl = 'redis://127.0.0.1:6379', namespace = 'bench-http'] = process.argv.slice(2) as [Stack, string?, string?]

/** For breakdowns: `BENCH_PARTS=ratelimit,session,flags,keys` keeps only those parts of a stack. @default all */
const parts = new Set((process.env.BENCH_PARTS ?? 'ratelimit,session,flags,keys').split(','))

const app = new Koa()
if (parts.has('keys')) app.keys = ['flagstone-benchmark-key-1', 'flagstone-benchmark-key-2']
app.on('error', (error: unknown) => process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`))

const withSession = stack !== 'bare' && parts.has('session')
/**
 * BENCH_SESSION: `read` (a logged-in user: the session is read on every request, written once) or
 * `write` (changed on every request). @default read
 */
const sessionMode = process.env.BENCH_SESSION === 'write' ? 'write' : 'read'
const withFlags = (stack === 'flagstone-memory' || stack === 'flagstone-redis') && parts.has('flags')

/** The route handler, the same in every stack. */
const handler: Middleware = (ctx) => {
  let count = 0
  if (withSession) {
    const s = ctx.session as { count?: unknown; user?: unknown } // flagstone and koa-session both put a plain object here
    if (sessionMode === 'write') {
      count = (typeof s.count === 'number' ? s.count : 0) + 1
      s.count = count
    } else if (s.user === undefined) {
      s.user = 'u1' // the first request logs in; every later one only reads the session
    }
  }
  const on = withFlags ? ctx.flags.isEnabled(FLAG_KEY) : true
  ctx.body = { hello: 'world', count, on }
}

const cleanups: Array<() => Promise<unknown>> = []

if (stack === 'flagstone-memory' || stack === 'flagstone-redis') {
  const root: Store = await createStore(stack === 'flagstone-redis' ? redisUrl : 'memory://', { namespace })
  await root.exists('warm-up') // connect before serving
  const registry = new StoreRegistry({ defaultFactory: (name) => root.withNamespace(name) })
  const repository = new StoreFlagRepository(registry.get('flags'))
  if ((await repository.getFlag(FLAG_KEY)) === null) {
    await repository.createFlag({ key: FLAG_KEY, type: 'boolean', defaultEnabled: true })
  }
  app.use(stores(registry))
  if (parts.has('ratelimit')) app.use(rateLimit({ limit: LIMIT, window: WINDOW_MS }))
  if (withSession) app.use(session())
  if (withFlags) app.use(flags())
  await startFlags(app)
  cleanups.push(
    () => closeFlags(app),
    () => closeStores(app),
    () => root.close(),
  )
} else if (stack === 'peer-redis') {
  const [{ Redis }, { default: koaSession }, { default: ratelimit }] = await Promise.all([
    import('ioredis'),
    import('koa-session'),
    import('koa-ratelimit'),
  ])
  const redis = new Redis(redisUrl)
  await redis.ping()
  const sessionPrefix = `${namespace}:peer-sess:`
  /** koa-session's external store contract on ioredis: JSON under a key with a TTL. */
  const externalStore = {
    async get(key: string): Promise<Record<string, unknown> | undefined> {
      const json = await redis.get(sessionPrefix + key)
      return json === null ? undefined : (JSON.parse(json) as Record<string, unknown>)
    },
    async set(key: string, value: Record<string, unknown>, maxAge: number | 'session' | undefined): Promise<void> {
      const ttl = typeof maxAge === 'number' ? maxAge : 86_400_000
      await redis.set(sessionPrefix + key, JSON.stringify(value), 'PX', ttl)
    },
    async destroy(key: string): Promise<void> {
      await redis.del(sessionPrefix + key)
    },
  }
  if (parts.has('ratelimit'))
    app.use(
      ratelimit({
        driver: 'redis',
        db: redis,
        namespace: `${namespace}:peer-limit`,
        duration: WINDOW_MS,
        max: LIMIT,
        id: (ctx: Koa.Context) => ctx.ip,
      }),
    )
  if (withSession) app.use(koaSession({ store: externalStore, maxAge: 86_400_000, signed: parts.has('keys') }, app))
  cleanups.push(() => redis.quit())
}

app.use(handler)

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 })}\n`)
})

process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  void (async () => {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined)
    process.exit(0)
  })()
})
