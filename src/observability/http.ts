/**
 * The server's HTTP observability: one log line and one metrics event per request (with a
 * request id), `GET /metrics` behind its own bearer token, and `GET /readyz`.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto'
import type { Middleware } from 'koa'
import { publish } from '../events.js'
import type { Logger } from './logger.js'
import type { FlagstoneMetrics } from './metrics.js'

/** Paths answered outside the router: their own route label. */
const FIXED_ROUTES = new Set(['/', '/healthz', '/readyz', '/metrics'])
/** An incoming `X-Request-Id` is kept when it is this tame (it goes into logs). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** The bounded route label: the router's pattern (`/admin/api/flags/:key`), a fixed path, or `(unmatched)`. */
export function routeOf(ctx: { path: string; _matchedRoute?: unknown; routePath?: unknown }): string {
  if (typeof ctx._matchedRoute === 'string') return ctx._matchedRoute
  if (typeof ctx.routePath === 'string') return ctx.routePath
  return FIXED_ROUTES.has(ctx.path) ? ctx.path : '(unmatched)'
}

/**
 * First middleware of the app: gives each request an id (`ctx.state.requestId`, the
 * `X-Request-Id` response header; a tame incoming one is kept), then logs one line when it is
 * answered and publishes it on `CHANNELS.httpRequest`.
 */
export function requestObserver(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now()
    const incoming = ctx.get('x-request-id')
    const requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID()
    ctx.state.requestId = requestId
    ctx.set('X-Request-Id', requestId)
    let failed: unknown
    try {
      await next()
    } catch (error) {
      failed = error
      throw error
    } finally {
      const status = failed === undefined ? ctx.status : errorStatus(failed)
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000
      const route = routeOf(ctx as unknown as Parameters<typeof routeOf>[0])
      publish('httpRequest', { method: ctx.method, route, status, durationMs, requestId })
      const line = { reqId: requestId, method: ctx.method, route, url: ctx.originalUrl, status, durationMs }
      if (status >= 500) logger.error(line, 'request failed')
      else logger.info(line, 'request')
    }
  }
}

function errorStatus(error: unknown): number {
  const status = (error as { status?: unknown } | null)?.status
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * `GET /metrics` (Prometheus text format), only with `Authorization: Bearer <token>`: metrics
 * name every flag and route, which is more than an anonymous caller should learn. Without a
 * token the server does not mount it at all (404).
 */
export function metricsEndpoint(metrics: FlagstoneMetrics, token: string): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== '/metrics') return next()
    ctx.set('Cache-Control', 'no-store')
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405
      ctx.set('Allow', 'GET, HEAD')
      return
    }
    const header = ctx.get('authorization')
    const given = header.startsWith('Bearer ') ? header.slice(7) : ''
    if (!sameToken(given, token)) {
      ctx.status = 401
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"')
      ctx.body = {
        error: { code: 'UNAUTHORIZED', message: 'GET /metrics needs Authorization: Bearer <metrics token>', details: {} },
      }
      return
    }
    ctx.type = metrics.contentType
    ctx.body = await metrics.render()
  }
}

export interface ReadinessCheck {
  /** Rejects when the store does not answer. */
  store(): Promise<unknown>
  /** The flag client's state: ready means a snapshot is loaded and current. */
  flagStatus(): string
}

/**
 * `GET /readyz`: 200 when the store answers and the flag snapshot is loaded (`READY`), else 503
 * with which of the two is missing. For Kubernetes readiness probes; `/healthz` is liveness.
 */
export function readinessEndpoint(check: ReadinessCheck, timeoutMs: number): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== '/readyz') return next()
    ctx.set('Cache-Control', 'no-store')
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405
      ctx.set('Allow', 'GET, HEAD')
      return
    }
    let store = 'ok'
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        check.store(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)
        }),
      ])
    } catch {
      store = 'unavailable' // no internals
    } finally {
      clearTimeout(timer)
    }
    const flags = check.flagStatus()
    const ready = store === 'ok' && flags === 'READY'
    ctx.status = ready ? 200 : 503
    ctx.body = { status: ready ? 'ready' : 'not ready', store, flags }
  }
}
