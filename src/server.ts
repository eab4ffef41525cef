/**
 * The flagstone server (`npm start`): one Koa app with every middleware wired to one store
 * registry — `stores`, `environment`, `rateLimit`, `session`, `flags` — the admin API under
 * `/admin/api`, `GET /healthz`, and a demo route behind the `demo` flag.
 *
 * `flagstone serve` (src/cli/serve.ts; `npm start` runs it) reads the settings from flags, the
 * environment and a config file (docs/cli.md); this module takes them as options.
 *
 * For tests and embedding: `createApp({ store, adminToken })` builds the app on a root store the
 * caller opened; `startServer(options)` opens the store, checks it, listens and returns a handle
 * whose `close()` shuts everything down.
 */
import { randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Router } from '@koa/router'
import Koa from 'koa'
import { FlagstoneError, isFlagstoneError } from './errors.js'
import type { FlagClient, FlagClientOptions } from './flags/client/client.js'
import { StoreFlagRepository } from './flags/repositories/store-repository.js'
import { adminRouter } from './koa/admin/router.js'
import { adminUi } from './koa/admin-ui.js'
import { closeFlags, flags, startFlags } from './koa/flags.js'
import { type OfrepToken } from './koa/ofrep/index.js'
import { mountApiStandards } from './koa/openapi/index.js'
import { rateLimit } from './koa/rate-limit.js'
import { requireFlag } from './koa/require-flag.js'
import { session } from './koa/session.js'
import { closeStores, stores } from './koa/stores.js'
import { AuditLog } from './koa/admin/audit.js'
import * as limits from './server-limits.js'
import { createStore } from './stores/create-store.js'
import { StoreRegistry } from './stores/registry.js'
import type { Store } from './stores/types.js'
import { observeStore } from './stores/observe-store.js'
import {
  createLogger,
  type FlagstoneMetrics,
  type Logger,
  metricsEndpoint,
  readinessEndpoint,
  requestObserver,
} from './observability/index.js'
import { checkOptions } from './internal/objects.js'

/** Where the admin API is mounted. */
export const ADMIN_PREFIX = '/admin/api'
/** Where the admin web UI is served (`/admin/`). */
export const ADMIN_UI_PREFIX = '/admin'
/** The flag that gates `GET /demo`. */
export const DEMO_FLAG = 'demo'
/** The default store: an embedded SQLite file, relative to the working directory. */
export const DEFAULT_STORE_URL = 'sqlite://./data/flagstone.sqlite'

export interface AppOptions {
  /** The root store; every named store (`flags`, `sessions`, `rate_limit`, `audit`) is a namespace of it. The caller closes it. */
  store: Store
  /** Bearer token of the admin API (compared in constant time). Required. */
  adminToken: string
  /**
   * Requests per client (`ctx.ip`) and window, over every route but `/healthz`.
   * @default { limit: 600, window: 60_000 }
   */
  rateLimit?: { limit: number; window?: number }
  /** The admin API's own limit per client and window (it does not count against `rateLimit`). @default { limit: 120, window: 60_000 } */
  adminRateLimit?: { limit: number; window?: number }
  /** Proxies in front (`true` = 1): `ctx.ip` = right-most `X-Forwarded-For` hop they did not add (`app.maxIpsCount`). @default false */
  proxy?: boolean | number
  /** The environment every request is evaluated in (default: the flags' base settings); `environmentSelection` lets requests choose. */
  environment?: string
  environmentSelection?: limits.EnvironmentSelection
  /** Options of the flag client (`pollInterval`, `staleAfter`, …). */
  flagClient?: Omit<FlagClientOptions, 'repository'>
  /** OFREP tokens (`/ofrep/v1/...`), each bound to one environment; none: OFREP is not mounted. */
  ofrepTokens?: readonly OfrepToken[]
  /** How long `/healthz` and `/readyz` wait for the store before answering 503, in ms. @default 2000 */
  healthTimeout?: number
  /** One log line per request (with its request id). @default no request logs */
  logger?: Logger
  /** Mounts `GET /metrics`, answered only with `Authorization: Bearer <token>`. @default not mounted */
  metrics?: { metrics: FlagstoneMetrics; token: string }
}

export interface FlagstoneApp {
  app: Koa
  registry: StoreRegistry
  /** The repository the admin API writes to (the `flags` store). */
  repository: StoreFlagRepository
  /** The `flags()` client once started (`startServer` sets it); `/readyz` reports its state. */
  flagClient?: FlagClient | undefined
}

/** Rejects with `STORE_UNAVAILABLE` when `promise` has not settled after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FlagstoneError('STORE_UNAVAILABLE', `${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * The app, not listening: `stores` → `/healthz` → `environment` → `rateLimit` → `session` →
 * `flags` → the admin API (`/admin/api`) → `GET /` and `GET /demo` (behind the `demo` flag).
 */
export function createApp(options: AppOptions): FlagstoneApp {
  checkOptions(options, 'createApp()')
  const { store, adminToken } = options
  if (typeof adminToken !== 'string' || adminToken.length < 16) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'createApp(): adminToken must be a string of at least 16 characters', {
      details: { field: 'adminToken' },
    })
  }
  const healthTimeout = options.healthTimeout ?? 2000
  const registry = new StoreRegistry({ defaultFactory: (name) => store.withNamespace(name) })
  const repository = new StoreFlagRepository(registry.get('flags'))
  const app = new Koa()
  limits.trustProxies(app, options.proxy)
  const isAdmin = (path: string) => path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`)
  const built: FlagstoneApp = { app, registry, repository }

  if (options.logger !== undefined) app.use(requestObserver(options.logger))
  app.use(stores(registry))
  app.use(
    readinessEndpoint(
      { store: () => store.exists('readyz'), flagStatus: () => built.flagClient?.status ?? 'NOT_READY' },
      healthTimeout,
    ),
  )
  if (options.metrics !== undefined) app.use(metricsEndpoint(options.metrics.metrics, options.metrics.token))
  // Health first: load balancers neither use up a rate limit nor get a session.
  app.use(async (ctx, next) => {
    if (ctx.path !== '/healthz') return next()
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405
      ctx.set('Allow', 'GET, HEAD')
      return
    }
    ctx.set('Cache-Control', 'no-store')
    try {
      await withTimeout(store.exists('healthz'), healthTimeout, 'health check')
      ctx.body = { status: 'ok' }
    } catch (error) {
      ctx.app.emit('error', error, ctx)
      ctx.status = 503
      ctx.body = { status: 'unavailable' } // no internals
    }
  })
  app.use(limits.environmentMiddleware(options.environment, options.environmentSelection))
  const [pub, adm] = [options.rateLimit, options.adminRateLimit]
  const publicKey = (ctx: Koa.Context) => (isAdmin(ctx.path) ? null : ctx.ip)
  const adminKey = (ctx: Koa.Context) => (isAdmin(ctx.path) ? ctx.ip : null)
  app.use(rateLimit({ limit: pub?.limit ?? 600, window: pub?.window ?? 60_000, key: publicKey }))
  app.use(rateLimit({ limit: adm?.limit ?? 120, window: adm?.window ?? 60_000, prefix: 'admin', key: adminKey }))
  // The web UI at /admin/ (static files, strict CSP); it signs in to the admin API below with the token.
  app.use(adminUi({ prefix: ADMIN_UI_PREFIX, apiPrefix: ADMIN_PREFIX }))
  app.use(session())
  app.use(flags(options.flagClient ?? {}))

  const admin = adminRouter({
    repository,
    auth: { token: adminToken },
    audit: { store: registry.get('audit') },
    prefix: ADMIN_PREFIX,
  })
  mountApiStandards(app, { admin: admin.router, adminPrefix: ADMIN_PREFIX, adminToken, ofrepTokens: options.ofrepTokens ?? [] })
  app.use(admin) // authentication, allowedMethods and JSON errors are built in; it owns its prefix

  const site = new Router()
  site.get('/', (ctx) => {
    ctx.body = { name: 'flagstone', health: '/healthz', admin: ADMIN_PREFIX, demo: '/demo' }
  })
  site.get('/demo', requireFlag(DEMO_FLAG), (ctx) => {
    const visits = (typeof ctx.session.visits === 'number' ? ctx.session.visits : 0) + 1
    ctx.session.visits = visits
    ctx.body = { message: `the "${DEMO_FLAG}" flag is on for you`, visits }
  })
  app.use(site.routes())
  app.use(site.allowedMethods())
  return built
}

/** Creates the `demo` flag (off) unless it exists; harmless when several instances start at once. */
export async function seedDemoFlag(repository: StoreFlagRepository): Promise<boolean> {
  if ((await repository.getFlag(DEMO_FLAG)) !== null) return false
  try {
    await repository.createFlag({
      key: DEMO_FLAG,
      type: 'boolean',
      name: 'Demo route',
      description: 'Gates GET /demo. Turn it on through the admin API: PATCH /admin/api/flags/demo',
      defaultEnabled: false,
    })
    return true
  } catch (error) {
    if (isFlagstoneError(error, 'CONFLICT')) return false // another instance was first
    throw error
  }
}

export interface ServerOptions extends Omit<AppOptions, 'store' | 'adminToken'>, limits.ConnectionLimits {
  /** @default DEFAULT_STORE_URL — `sqlite://./data/flagstone.sqlite` */
  storeUrl?: string
  /** Root namespace of every key. @default 'flagstone' */
  namespace?: string
  /** `0` picks a free port. @default 3000 */
  port?: number
  /** @default all interfaces */
  host?: string
  /** When absent one is generated with `crypto.randomBytes` and logged once. */
  adminToken?: string
  /** How long the start-up check waits for the store, in ms. @default 10_000 */
  connectTimeout?: number
  /** How often due scheduled changes are folded into the stored flags (`applyDueChanges`), in ms. @default 30_000 */
  foldInterval?: number
  /** Create the `demo` flag (off) when absent. @default true */
  seedDemo?: boolean
  /** Start / stop lines, request lines and errors. @default a pino logger on standard output */
  logger?: Logger
  /** How long in-flight requests may run after `close()` before their connections are cut, in ms. @default 4000 */
  shutdownTimeout?: number
  /** Logged in the start line. */
  version?: string
  /** The config file the settings came from, logged in the start line. */
  configFile?: string
}

export interface RunningServer extends Omit<FlagstoneApp, 'flagClient'> {
  /** The `flags()` client: its snapshot, status and revision. */
  flagClient: FlagClient | undefined
  server: Server
  /** The root store the server opened (closed by `close()`). */
  store: Store
  /** `http://localhost:<port>` (the host when one was given). */
  url: string
  port: number
  adminToken: string
  /** The backend and where it is, without credentials: `sqlite (./data/flagstone.sqlite)`. */
  backend: string
  /** Stops listening, then closes the flag client, the registry and the store. Idempotent. */
  close(): Promise<void>
}

/** The store URL with any password removed, as `scheme (location)`, for logs. */
export function describeStore(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase() ?? 'unknown'
  if (scheme === 'sqlite') return `sqlite (${url.replace(/^sqlite:(\/\/)?/i, '')})`
  if (scheme === 'memory') return 'memory'
  try {
    const parsed = new URL(url)
    const user = parsed.username === '' ? '' : `${decodeURIComponent(parsed.username)}@`
    return `${scheme} (${user}${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname})`
  } catch {
    return scheme
  }
}

/**
 * Opens the store, checks that it answers (one `exists`: a clear start-up error rather than a
 * flood of 503s), builds the app, loads the flags, seeds the demo flag, listens, logs one line,
 * and folds due scheduled changes every `foldInterval`.
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  checkOptions(options, 'startServer()')
  const storeUrl = options.storeUrl ?? DEFAULT_STORE_URL
  const logger = options.logger ?? createLogger()
  const backend = describeStore(storeUrl)
  const namespace = options.namespace ?? 'flagstone'
  const generated = options.adminToken === undefined || options.adminToken === ''
  const adminToken = generated ? randomBytes(32).toString('base64url') : (options.adminToken as string)

  const store = observeStore(await createStore(storeUrl, { namespace }), backendLabel(storeUrl))
  let built: FlagstoneApp
  try {
    try {
      await withTimeout(store.exists('healthz'), options.connectTimeout ?? 10_000, 'start-up check')
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error)
      throw new FlagstoneError('STORE_UNAVAILABLE', `cannot reach the store ${backend}: ${why}`, { cause: error })
    }
    built = createApp({ ...options, logger, store, adminToken })
    // One line per distinct error per 10 s: a store outage must not write one line per request.
    const lastLogged = new Map<string, number>()
    built.app.on('error', (error: unknown, ctx?: Koa.Context) => {
      const status = (error as { status?: unknown } | null)?.status
      if (typeof status === 'number' && status < 500) return // client errors (404, 405, 401, …) are not ours
      const message = error instanceof Error ? error.message : String(error)
      const now = Date.now()
      if ((lastLogged.get(message) ?? -Infinity) > now - 10_000) return
      if (lastLogged.size > 100) lastLogged.clear()
      lastLogged.set(message, now)
      const code = (error as { code?: unknown } | null)?.code
      logger.error(
        {
          err: error,
          ...(typeof code === 'string' ? { code } : {}),
          ...(ctx === undefined ? {} : { method: ctx.method, url: ctx.path }),
        },
        message,
      )
    })
    built.flagClient = (await startFlags(built.app))[0]
    if (options.seedDemo !== false) await seedDemoFlag(built.repository)
  } catch (error) {
    await store.close().catch(() => undefined)
    throw error
  }
  const { app, registry, repository, flagClient } = built

  let server: Server
  try {
    server = limits.createLimitedServer(app, options) // throws on bad limits, before anything listens
    const listening = server
    await new Promise<void>((resolve, reject) => {
      listening.once('listening', resolve)
      listening.once('error', reject)
      listening.listen({ port: options.port ?? 3000, ...(options.host === undefined ? {} : { host: options.host }) })
    })
  } catch (error) {
    await closeFlags(app)
    await closeStores(app).catch(() => undefined)
    await store.close().catch(() => undefined)
    throw error
  }
  const port = (server.address() as AddressInfo).port
  const host = options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

  // Fold due scheduled changes (idempotent across instances: compareAndSet), audited as the scheduler's.
  const foldAudit = new AuditLog(registry.get('audit'))
  const fold = limits.startFolding(repository, foldAudit, options.foldInterval ?? 30_000, (error) =>
    logger.warn({ err: error }, 'folding scheduled changes failed'),
  )

  if (generated) logger.info(`admin token (generated; set FLAGSTONE_ADMIN_TOKEN to choose one): ${adminToken}`)
  logger.info(
    {
      version: options.version,
      url,
      backend,
      namespace,
      changes: store.pushAcrossProcesses ? 'push' : 'poll',
      environment: process.env.NODE_ENV ?? 'development',
      metrics: options.metrics === undefined ? 'off' : '/metrics',
      ...(options.configFile === undefined ? {} : { configFile: options.configFile }),
    },
    `listening on ${url} (pid ${process.pid}) — store ${backend}, admin API at ${url}${ADMIN_PREFIX} (Authorization: Bearer <token>), ` +
      `admin UI at ${url}${ADMIN_UI_PREFIX}/`,
  )

  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      fold.stop()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        // Requests still running after the shutdown timeout are cut off.
        setTimeout(() => server.closeAllConnections(), options.shutdownTimeout ?? 4000).unref()
      })
      await closeFlags(app)
      try {
        await closeStores(app)
      } finally {
        await store.close()
      }
    })()
    return closing
  }
  return { app, registry, repository, flagClient, server, store, url, port, adminToken, backend, close }
}

/** The backend's name for metrics: `memory`, `sqlite`, `redis`, `postgres`. */
export function backendLabel(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase() ?? 'unknown'
  return scheme === 'rediss' ? 'redis' : scheme === 'postgresql' ? 'postgres' : scheme
}
