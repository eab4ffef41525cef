/** Admin API authentication: a bearer token compared in constant time, or the caller's `auth(ctx)`. */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Context } from 'koa'
import { FlagstoneError } from '../../errors.js'
import { HttpProblem } from './http.js'

/** What a custom `auth(ctx)` answers: `false` → 401; `true` → allowed as 'admin'; `{ actor }` → allowed as that actor. */
export type AdminAuthResult = boolean | { actor: string }

/** A custom check. Throw `FlagstoneError('FORBIDDEN')` to answer 403 instead of 401. */
export type AdminAuthFunction = (ctx: Context) => AdminAuthResult | Promise<AdminAuthResult>

export interface AdminTokenAuth {
  /** The bearer token (at least 16 visible ASCII characters); compared in constant time. */
  token: string
  /**
   * The actor recorded in the audit trail for requests carrying the token.
   * @default 'admin'
   */
  actor?: string
}

export type AdminAuth = AdminTokenAuth | AdminAuthFunction

export interface Principal {
  /** Who the audit trail names: from the token's `actor` or the custom auth's answer. */
  readonly actor: string
  /** `X-Flagstone-Actor`, if sent: recorded next to `actor` as a claim (it is not verified). */
  readonly claimedActor: string | undefined
}

const ACTOR_PATTERN = /^[\x20-\x7e]{1,128}$/
const TOKEN_PATTERN = /^[\x21-\x7e]{16,4096}$/
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i
const CHALLENGE = 'Bearer realm="flagstone-admin"'
export const ACTOR_HEADER = 'x-flagstone-actor'

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest()

function checkActor(actor: unknown, field: string): string {
  if (typeof actor !== 'string' || !ACTOR_PATTERN.test(actor)) {
    throw new FlagstoneError('INVALID_ARGUMENT', `${field}: must be 1 to 128 printable ASCII characters`, { details: { field } })
  }
  return actor
}

function unauthenticated(message: string, challenge = CHALLENGE): HttpProblem {
  return new HttpProblem(401, 'UNAUTHENTICATED', message, {}, { 'WWW-Authenticate': challenge })
}

/** The authenticate step: validated once here, run on every request before anything else. */
export function authenticator(auth: AdminAuth): (ctx: Context) => Promise<Principal> {
  let identify: (ctx: Context) => Promise<string>
  if (typeof auth === 'function') {
    identify = async (ctx) => {
      const result: unknown = await auth(ctx)
      if (result === true) return 'admin'
      if (result === false || result === undefined || result === null) throw unauthenticated('authentication required')
      if (typeof result === 'object' && typeof (result as { actor?: unknown }).actor === 'string') {
        return checkActor((result as { actor: string }).actor, 'auth().actor')
      }
      // A programming error in the caller's auth function: a 500, never a silent pass.
      throw new Error('adminRouter: auth(ctx) must return a boolean or { actor: string }')
    }
  } else {
    if (auth === null || typeof auth !== 'object' || typeof auth.token !== 'string' || !TOKEN_PATTERN.test(auth.token)) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'adminRouter: auth.token must be at least 16 visible ASCII characters', {
        details: { field: 'auth.token' },
      })
    }
    const expected = sha256(auth.token)
    const actor = auth.actor === undefined ? 'admin' : checkActor(auth.actor, 'auth.actor')
    identify = async (ctx) => {
      const header = ctx.get('authorization')
      if (header === '') throw unauthenticated('missing Authorization: Bearer <token>')
      const match = BEARER.exec(header)
      // Hash whatever was sent, so the comparison takes the same time for any wrong answer.
      const given = sha256(match?.[1] ?? header)
      if (match === null || !timingSafeEqual(given, expected)) {
        throw unauthenticated('invalid bearer token', `${CHALLENGE}, error="invalid_token"`)
      }
      return actor
    }
  }
  return async (ctx) => {
    const actor = await identify(ctx)
    const claimed = ctx.get(ACTOR_HEADER)
    if (claimed !== '' && !ACTOR_PATTERN.test(claimed)) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'X-Flagstone-Actor: must be 1 to 128 printable ASCII characters', {
        details: { field: 'X-Flagstone-Actor' },
      })
    }
    return { actor, claimedActor: claimed === '' ? undefined : claimed }
  }
}
