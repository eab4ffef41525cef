/**
 * `rateLimit(options)`: fixed-window rate limiting on the `rate_limit` store's atomic `increment`,
 * exact across processes and machines sharing the store (one round trip per request; no
 * read-then-write, so N workers can never admit N times the limit).
 */
import { createHash } from 'node:crypto'
import type Koa from 'koa'
import type { Middleware } from 'koa'
import { FlagstoneError } from '../errors.js'
import { requireCapabilities, type Store } from '../stores/index.js'
import { sendJsonError } from './json-error.js'
import { isStoreOutage, type OnStoreError, resolveOnStoreError, sendStoreUnavailable } from './store-errors.js'
import { storeFor } from './stores.js'
import { publish } from '../events.js'
import { checkOptions } from '../internal/objects.js'

/** What a request is counted under; `null` / `undefined` lets it through uncounted. */
export type RateLimitKey = (ctx: Koa.Context) => string | null | undefined | Promise<string | null | undefined>

export interface RateLimitOptions {
  /**
   * Name of the store in the registry.
   * @default 'rate_limit'
   */
  store?: string
  /** Requests allowed per key and window: a positive integer. Required. */
  limit: number
  /**
   * Window length in ms (a positive integer, at least 1000).
   * @default 60_000
   */
  window?: number
  /**
   * The client a request is counted for. Returning `null` or `undefined` skips the limit for that
   * request (e.g. health checks, trusted callers).
   * @default (ctx) => ctx.ip — the socket address, or the client from `X-Forwarded-For` only
   * when `app.proxy` is set
   */
  key?: RateLimitKey
  /**
   * Separates the counters of different limiters on one store. Limiters sharing a prefix (and
   * window) share counters: give each per-route limiter its own prefix, e.g. `'login'`.
   * @default 'global'
   */
  prefix?: string
  /**
   * What to do when the store fails (down, closed, …): `true` lets the request through without
   * `RateLimit-*` headers (availability first), `false` answers 503 `STORE_UNAVAILABLE`. Either
   * way the error is reported with `ctx.app.emit('error', err, ctx)`, which Koa logs unless you
   * listen to `'error'` yourself.
   * @default true
   * @deprecated use `onStoreError`
   */
  failOpen?: boolean
  /**
   * When the store is down: `'open'` lets requests through without `RateLimit-*` headers
   * (availability first), `'closed'` answers 503 with `Retry-After` and a problem body.
   * @default 'open'
   */
  onStoreError?: OnStoreError
  /**
   * The clock, in ms since the epoch. For tests.
   * @default Date.now
   */
  now?: () => number
}

interface ResolvedOptions {
  readonly store: string
  readonly limit: number
  readonly window: number
  readonly key: RateLimitKey
  readonly prefix: string
  readonly onStoreError: OnStoreError
  readonly now: () => number
}

function invalid(field: string, message: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `rateLimit(): ${field} ${message}`, { details: { field } })
}

const defaultKey: RateLimitKey = (ctx) => ctx.ip

function resolve(options: RateLimitOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object with at least `limit`')
  const { limit, window = 60_000, store = 'rate_limit', prefix = 'global', key = defaultKey, now = Date.now } = options
  if (!Number.isSafeInteger(limit) || limit < 1) throw invalid('limit', `must be a positive integer, got ${String(limit)}`)
  if (!Number.isSafeInteger(window) || window < 1000)
    throw invalid('window', `must be an integer number of ms >= 1000, got ${String(window)}`)
  if (typeof store !== 'string' || store === '') throw invalid('store', 'must be a non-empty string')
  if (typeof prefix !== 'string' || prefix === '' || prefix.length > 64)
    throw invalid('prefix', 'must be a string of 1..64 characters')
  if (typeof key !== 'function') throw invalid('key', 'must be a function of the context')
  if (typeof now !== 'function') throw invalid('now', 'must be a function returning ms since the epoch')
  const onStoreError = resolveOnStoreError(options.onStoreError, options.failOpen, 'open', 'rateLimit()')
  return Object.freeze({ store, limit, window, key, prefix, onStoreError, now })
}

/** Client keys longer than this are hashed, so any key fits the store's 1024-byte key limit. */
const MAX_RAW_KEY_BYTES = 256

function encodeClientKey(key: string): string {
  if (key.length * 3 <= MAX_RAW_KEY_BYTES || Buffer.byteLength(key) <= MAX_RAW_KEY_BYTES) return key
  return `#sha256:${createHash('sha256').update(key).digest('base64url')}`
}

/**
 * A counter outlives its window by this much, so a process whose clock lags a little still finds
 * the counter the others used instead of starting a new one.
 */
const CLOCK_SKEW_GRACE_MS = 1000

/**
 * Fixed-window rate limit. Every counted request sets `RateLimit-Limit`, `RateLimit-Remaining`,
 * `RateLimit-Reset` (seconds until the window ends) and `RateLimit-Policy` (`<limit>;w=<seconds>`);
 * one over the limit answers **429** `{ error: { code: 'RATE_LIMITED', … } }` with `Retry-After`
 * (seconds, at least 1) and goes no further.
 *
 * Counting: windows are aligned to the epoch (`floor(now / window)`), and the counter key holds
 * the window's index: `<prefix>:<window>:<index>:<client key>`. The first increment of a window
 * creates the counter with an expiry at the window's end (plus a 1 s grace for clock skew), so the
 * store sweeps it; but even if that expiry were lost, the next window uses a new key, so a client
 * can never be blocked for longer than one window. Because the window's end is known from the
 * clock, `Retry-After` and `RateLimit-Reset` cost no second round trip to the store.
 */
export function rateLimit(options: RateLimitOptions): Middleware {
  checkOptions(options, 'rateLimit()')
  const opts = resolve(options)
  const policy = `${opts.limit};w=${Math.ceil(opts.window / 1000)}`
  const limitHeader = String(opts.limit)

  const checked = new WeakSet<Store>()
  return async function rateLimitMiddleware(ctx, next) {
    const clientKey = await opts.key(ctx)
    if (clientKey === null || clientKey === undefined) return next()
    const store = storeFor(ctx, opts.store, 'rateLimit')
    if (!checked.has(store)) {
      // Exact limits are atomic increments: a store without them would admit more than `limit`.
      requireCapabilities(store, { atomic: true }, 'rateLimit')
      checked.add(store)
    }
    const now = opts.now()
    const index = Math.floor(now / opts.window)
    const resetAt = (index + 1) * opts.window
    const counterKey = `${opts.prefix}:${opts.window}:${index}:${encodeClientKey(String(clientKey))}`

    let count: number
    try {
      count = await store.increment(counterKey, 1, { expiresIn: resetAt - now + CLOCK_SKEW_GRACE_MS })
    } catch (error) {
      if (!isStoreOutage(error)) throw error
      ctx.app.emit('error', error, ctx)
      if (opts.onStoreError === 'open') return next()
      sendStoreUnavailable(ctx, 'rate limiting')
      return
    }

    const resetSeconds = String(Math.max(1, Math.ceil((resetAt - now) / 1000)))
    ctx.set('RateLimit-Limit', limitHeader)
    ctx.set('RateLimit-Remaining', String(Math.max(0, opts.limit - count)))
    ctx.set('RateLimit-Reset', resetSeconds)
    ctx.set('RateLimit-Policy', policy)
    const limited = count > opts.limit
    publish('rateLimit', { decision: limited ? 'limited' : 'allowed' })
    if (limited) {
      ctx.set('Retry-After', resetSeconds)
      sendJsonError(ctx, 429, 'RATE_LIMITED', `too many requests: the limit is ${opts.limit} per ${opts.window / 1000} s`, {
        limit: opts.limit,
        window: opts.window,
        retryAfter: Number(resetSeconds),
      })
      return
    }
    return next()
  }
}
