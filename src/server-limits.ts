/**
 * What the server trusts and how long it waits (issue 10), kept beside `server.ts`: the one
 * environment requests are evaluated in (selection by header or query only from an allow-list),
 * how many proxies sit in front of it (`X-Forwarded-For` is read from the right), the slow-client
 * bounds and the connection cap, and the scheduler's audit entries. Each setting is an option of
 * `createApp` / `startServer`, and a setting of `flagstone serve` (src/cli/serve-config.ts).
 */
import { createServer, type Server } from 'node:http'
import type Koa from 'koa'
import { FlagstoneError } from './errors.js'
import type { FeatureFlag, StoreFlagRepository } from './flags/index.js'
import { type AuditLog, environment } from './koa/index.js'

function invalid(field: string, message: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `${field} ${message}`, { details: { field } })
}

// ---- environments ----

export interface EnvironmentSelection {
  /** Request header naming the environment; `false` or absent: none. */
  header?: string | false
  /** Query parameter naming the environment; `false` or absent: none. */
  query?: string | false
  /** The only environments a request may name (others answer 400). Required and non-empty. */
  allowed: readonly string[]
}

/**
 * The `environment()` middleware for the server: every request in `configured` (or in the flags'
 * base settings when none is configured), unless the operator lets requests choose, and then only
 * among `allowed`.
 */
export function environmentMiddleware(
  configured: string | undefined,
  selection: EnvironmentSelection | undefined,
): Koa.Middleware {
  if (selection === undefined) {
    return environment({ header: false, query: false, ...(configured === undefined ? {} : { fallback: configured }) })
  }
  if (!Array.isArray(selection.allowed) || selection.allowed.length === 0) {
    throw invalid('environmentSelection.allowed', 'must list the environments a request may choose (a non-empty array)')
  }
  const allowed =
    configured === undefined || selection.allowed.includes(configured) ? selection.allowed : [...selection.allowed, configured]
  return environment({
    header: selection.header ?? false,
    query: selection.query ?? false,
    allowed,
    ...(configured === undefined ? {} : { fallback: configured }),
  })
}

// ---- proxies ----

/**
 * Koa's `app.proxy` and `app.maxIpsCount` for `proxies` trusted proxies: `ctx.ip` is then the
 * address the outermost trusted proxy saw, the right-most `X-Forwarded-For` entry it did not add
 * itself; what a client writes to the left of it is ignored.
 */
export function trustProxies(app: Koa, proxies: boolean | number | undefined): void {
  const count = proxies === true ? 1 : proxies === false || proxies === undefined ? 0 : proxies
  if (!Number.isSafeInteger(count) || count < 0 || count > 32) {
    throw invalid(
      'proxy',
      `must be false, true (one proxy) or the number of proxies in front of the server (0..32), got ${String(proxies)}`,
    )
  }
  app.proxy = count > 0
  app.maxIpsCount = count
}

// ---- slow clients and connections ----

export interface ConnectionLimits {
  /** Time to receive a request's headers, in ms (408 after). @default 10_000 */
  headersTimeout?: number
  /** Time to receive a whole request, in ms (408 after). @default 30_000 */
  requestTimeout?: number
  /** How long an idle keep-alive connection stays open, in ms. @default 5_000 */
  keepAliveTimeout?: number
  /** Open connections at most; more are closed at once. @default 1024 */
  maxConnections?: number
}

const LIMIT_DEFAULTS = { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxConnections: 1024 } as const

function positiveInteger(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalid(field, `must be an integer from 1 to ${max}, got ${String(value)}`)
  }
  return value
}

/** An HTTP server for `app` with the limits applied (Node's own defaults wait 60 s / 300 s and take any number of connections). */
export function createLimitedServer(app: Koa, limits: ConnectionLimits): Server {
  const headersTimeout = positiveInteger(limits.headersTimeout ?? LIMIT_DEFAULTS.headersTimeout, 'headersTimeout', 3_600_000)
  const requestTimeout = positiveInteger(limits.requestTimeout ?? LIMIT_DEFAULTS.requestTimeout, 'requestTimeout', 3_600_000)
  const keepAliveTimeout = positiveInteger(
    limits.keepAliveTimeout ?? LIMIT_DEFAULTS.keepAliveTimeout,
    'keepAliveTimeout',
    3_600_000,
  )
  const maxConnections = positiveInteger(limits.maxConnections ?? LIMIT_DEFAULTS.maxConnections, 'maxConnections', 1_000_000)
  if (headersTimeout > requestTimeout) {
    throw invalid('headersTimeout', `(${headersTimeout} ms) must not exceed requestTimeout (${requestTimeout} ms)`)
  }
  // Node checks the two timeouts only every connectionsCheckingInterval (30 s by default): check
  // often enough that a bound of a second or two holds.
  const connectionsCheckingInterval = Math.max(250, Math.min(1000, Math.floor(headersTimeout / 2)))
  const server = createServer({ headersTimeout, requestTimeout, keepAliveTimeout, connectionsCheckingInterval }, app.callback())
  server.maxConnections = maxConnections
  return server
}

// ---- the scheduler's changes in the audit trail ----

/**
 * Folds due scheduled changes (`applyDueChanges`) and writes one `schedule.apply` audit entry per
 * flag it changed, with actor `scheduler`, as `POST /apply-due-changes` does for a person.
 */
export async function foldAudited(repository: StoreFlagRepository, audit: AuditLog): Promise<void> {
  const before = new Map<string, FeatureFlag>((await repository.listFlags()).map((f) => [f.key, f]))
  const result = await repository.applyDueChanges()
  for (const key of result.flags) {
    await audit.record({
      actor: 'scheduler',
      action: 'schedule.apply',
      target: `flag:${key}`,
      flagKey: key,
      before: before.get(key) ?? null,
      after: await repository.getFlag(key),
    })
  }
}

/** Folds every `interval` ms (one fold at a time); a failure is logged once until a fold succeeds again. */
export function startFolding(
  repository: StoreFlagRepository,
  audit: AuditLog,
  interval: number,
  onError: (error: unknown) => void,
): { stop(): void } {
  let folding = false
  let failing = false
  const timer = setInterval(() => {
    if (folding) return
    folding = true
    foldAudited(repository, audit)
      .then(
        () => {
          failing = false
        },
        (error: unknown) => {
          if (!failing) onError(error)
          failing = true
        },
      )
      .finally(() => {
        folding = false
      })
  }, interval).unref()
  return { stop: () => clearInterval(timer) }
}
