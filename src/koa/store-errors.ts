/**
 * What a middleware does when its store is down (issue 10 item 8): `onStoreError: 'open'` goes on
 * without the store (availability first), `'closed'` answers **503** with `Retry-After` and an
 * RFC 9457 problem body (`application/problem+json`) carrying the code `STORE_UNAVAILABLE`, and
 * the one `{ error: { code, message, details } }` shape every flagstone answer has. Either way the
 * error goes to `ctx.app.emit('error')`. Errors other than an outage are not the store's to
 * excuse: they propagate.
 */
import type { Context, ParameterizedContext } from 'koa'
import { FlagstoneError, isFlagstoneError } from '../errors.js'

export type OnStoreError = 'open' | 'closed'

/** A store that cannot answer now (down, timed out, closed), as opposed to bad input. */
export function isStoreOutage(error: unknown): boolean {
  return isFlagstoneError(error, 'STORE_UNAVAILABLE') || isFlagstoneError(error, 'STORE_CLOSED')
}

/** `onStoreError`, or the older `failOpen` boolean when only that is given. */
export function resolveOnStoreError(onStoreError: unknown, failOpen: unknown, fallback: OnStoreError, who: string): OnStoreError {
  if (onStoreError === undefined) {
    if (failOpen === undefined) return fallback
    if (typeof failOpen !== 'boolean') throw invalid(who, 'failOpen', 'must be a boolean')
    return failOpen ? 'open' : 'closed'
  }
  if (onStoreError !== 'open' && onStoreError !== 'closed') throw invalid(who, 'onStoreError', "must be 'open' or 'closed'")
  return onStoreError
}

function invalid(who: string, field: string, problem: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `${who}: ${field} ${problem}`, { details: { field } })
}

/** Seconds a client should wait before retrying; the store's own timeouts are a few seconds. */
const RETRY_AFTER_SECONDS = 1

/** Answers 503 STORE_UNAVAILABLE as a problem document; `what` says which part is unavailable. */
export function sendStoreUnavailable(ctx: Context | ParameterizedContext, what: string): void {
  const message = `${what} is unavailable (its store does not answer); try again shortly`
  ctx.status = 503
  ctx.set('Retry-After', String(RETRY_AFTER_SECONDS))
  ctx.set('Cache-Control', 'no-store')
  ctx.body = {
    type: 'https://flagstone.dev/problems/store-unavailable',
    title: 'Service Unavailable',
    status: 503,
    detail: message,
    code: 'STORE_UNAVAILABLE',
    error: { code: 'STORE_UNAVAILABLE', message, details: {} },
  }
  ctx.type = 'application/problem+json'
}
