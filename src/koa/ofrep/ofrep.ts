/**
 * `ofrepRouter(options)`: OpenFeature's remote evaluation protocol (OFREP v1) over the app's
 * `FlagClient`, so services in other languages and browsers evaluate with any OFREP provider:
 *
 * - `POST /ofrep/v1/evaluate/flags/{key}` → 200 `{ key, value, reason, variant?, metadata }`;
 *   404 `{ key, errorCode: 'FLAG_NOT_FOUND', errorDetails }`; 400 `{ key, errorCode, errorDetails }`
 *   (`INVALID_CONTEXT`, `PARSE_ERROR`, `TARGETING_KEY_MISSING`, `GENERAL`); 500 before the first snapshot.
 * - `POST /ofrep/v1/evaluate/flags` → 200 `{ flags: [...] }` with an `ETag` (a hash of the body, so
 *   it changes exactly when an answer does), 304 when `If-None-Match` carries it, 400 `{ errorCode, errorDetails }`.
 *
 * Authentication: `Authorization: Bearer <token>` or `X-API-Key: <token>`, one of `tokens`. These
 * are read-only evaluation tokens, distinct from the admin token; each is bound to one environment,
 * which every evaluation with it uses (a context naming another environment is 403). Missing or
 * unknown token: 401. Requests are rate-limited per token (`rateLimit`, on the registry's store).
 *
 * The OFREP context is OpenFeature's flat context: `targetingKey` and flagstone's standard fields by
 * name, every other field an attribute (`fromOpenFeatureContext`).
 */
import { createHash } from 'node:crypto'
import Router from '@koa/router'
import type { Context, Middleware } from 'koa'
import { FlagstoneError } from '../../errors.js'
import { ENVIRONMENT_SLUG_PATTERN, type EvaluationDetails, type FlagClient, fromOpenFeatureContext } from '../../flags/index.js'
import { readJson } from '../admin/http.js'
import { rateLimit, type RateLimitOptions } from '../rate-limit.js'
import { checkOptions } from '../../internal/objects.js'

export interface OfrepToken {
  /** At least 16 visible ASCII characters. */
  token: string
  /** The environment every evaluation with this token uses (an environment slug). */
  environment: string
  /** Counts requests under this name in the rate limiter. @default the environment and the token's position */
  name?: string
}

export interface OfrepRouterOptions {
  tokens: readonly OfrepToken[]
  /**
   * The client to evaluate with.
   * @default the client of `flags()` (`ctx.flags.client`), which must run before the router
   */
  client?: (ctx: Context) => FlagClient | Promise<FlagClient>
  /**
   * Per-token rate limit (see `rateLimit`); `false` turns it off.
   * @default { limit: 6000, window: 60_000 } on the `rate_limit` store
   */
  rateLimit?: Omit<RateLimitOptions, 'key' | 'prefix'> | false
  /** Largest request body. @default 65_536 */
  maxBodyBytes?: number
}

const TOKEN_PATTERN = /^[\x21-\x7e]{16,4096}$/
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('base64')

interface Bound {
  readonly environment: string
  readonly name: string
}

const STATE = Symbol('ofrep token')
type WithToken = Context & { [STATE]?: Bound }

function invalid(field: string, message: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `ofrepRouter(): ${field} ${message}`, { details: { field } })
}

function tokenTable(tokens: readonly OfrepToken[]): Map<string, Bound> {
  if (!Array.isArray(tokens) || tokens.length === 0)
    throw invalid('tokens', 'must be a non-empty array of { token, environment }')
  const table = new Map<string, Bound>()
  tokens.forEach((entry, i) => {
    const field = `tokens[${i}]`
    if (entry === null || typeof entry !== 'object') throw invalid(field, 'must be { token, environment }')
    if (typeof entry.token !== 'string' || !TOKEN_PATTERN.test(entry.token)) {
      throw invalid(`${field}.token`, 'must be at least 16 visible ASCII characters')
    }
    if (typeof entry.environment !== 'string' || !ENVIRONMENT_SLUG_PATTERN.test(entry.environment)) {
      throw invalid(`${field}.environment`, `must be an environment slug (${ENVIRONMENT_SLUG_PATTERN.source})`)
    }
    const hash = sha256(entry.token)
    if (table.has(hash)) throw invalid(`${field}.token`, 'is listed twice')
    table.set(hash, Object.freeze({ environment: entry.environment, name: entry.name ?? `${entry.environment}#${i}` }))
  })
  return table
}

function send(ctx: Context, status: number, body: unknown): void {
  ctx.status = status
  ctx.body = body
}

/** The bearer or X-API-Key token's binding; answers 401 itself when there is none. */
function authenticate(table: ReadonlyMap<string, Bound>): Middleware {
  return async (ctx: WithToken, next) => {
    const header = ctx.get('authorization')
    const apiKey = ctx.get('x-api-key')
    const given = header !== '' ? BEARER.exec(header)?.[1] : apiKey !== '' ? apiKey : undefined
    // Looked up by hash: the table holds no token text, and a lookup does not compare characters.
    const bound = given === undefined ? undefined : table.get(sha256(given))
    if (bound === undefined) {
      ctx.set('WWW-Authenticate', 'Bearer realm="flagstone-ofrep"')
      send(ctx, 401, { errorDetails: given === undefined ? 'missing Authorization: Bearer <token>' : 'invalid token' })
      return
    }
    ctx[STATE] = bound
    return next()
  }
}

type Outcome =
  | { status: 200; body: Record<string, unknown> }
  | { status: 400 | 403 | 404 | 500; body: { key?: string; errorCode: string; errorDetails: string } }

/** The request's context with the token's environment in it, or why not. */
async function contextOf(ctx: WithToken, maxBytes: number): Promise<Outcome | Record<string, unknown>> {
  const bound = ctx[STATE]!
  let body: unknown = {}
  if (ctx.request.length !== 0 && ctx.get('content-length') !== '0') {
    try {
      body = await readJson(ctx, maxBytes)
    } catch (error) {
      return { status: 400, body: { errorCode: 'INVALID_CONTEXT', errorDetails: (error as Error).message } }
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { status: 400, body: { errorCode: 'INVALID_CONTEXT', errorDetails: 'the body must be a JSON object { context }' } }
  }
  const context: unknown = (body as { context?: unknown }).context ?? {}
  if (context === null || typeof context !== 'object' || Array.isArray(context)) {
    return { status: 400, body: { errorCode: 'INVALID_CONTEXT', errorDetails: 'context: must be an object' } }
  }
  const asked: unknown = (context as { environment?: unknown }).environment
  if (asked !== undefined && asked !== bound.environment) {
    const details = `this token evaluates in ${JSON.stringify(bound.environment)}, not ${JSON.stringify(asked)}`
    return { status: 403, body: { errorCode: 'GENERAL', errorDetails: details } }
  }
  return { ...(context as Record<string, unknown>), environment: bound.environment }
}

const isOutcome = (value: unknown): value is Outcome => typeof (value as Outcome).status === 'number'

function evaluateOne(client: FlagClient, key: string, context: Record<string, unknown>): EvaluationDetails | undefined {
  const snapshot = client.snapshot
  if (snapshot === undefined) return undefined
  const result = snapshot.evaluate(key, undefined, null, fromOpenFeatureContext(context))
  // The client marks answers from an unconfirmed snapshot; an untyped evaluation goes around it.
  return client.status === 'STALE' && result.errorCode === undefined ? { ...result, reason: 'STALE' } : result
}

/** One flag's OFREP answer: a success object, or a failure object with the HTTP status it has alone. */
function answer(result: EvaluationDetails): Outcome {
  const key = result.flagKey
  if (result.errorCode === undefined && result.value !== null) {
    const body: Record<string, unknown> = {
      key,
      value: result.value,
      reason: result.reason === 'OVERRIDE' ? 'TARGETING_MATCH' : result.reason,
    }
    if (result.variant !== undefined) body.variant = result.variant
    body.metadata = result.reason === 'OVERRIDE' ? { ...result.flagMetadata, flagstoneReason: 'OVERRIDE' } : result.flagMetadata
    return { status: 200, body }
  }
  if (result.errorCode === 'FLAG_NOT_FOUND') {
    return {
      status: 404,
      body: { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: result.errorMessage ?? `flag ${key} not found` },
    }
  }
  const errorCode = result.errorCode === undefined || result.errorCode === 'TYPE_MISMATCH' ? 'GENERAL' : result.errorCode
  const errorDetails = result.errorMessage ?? `flag ${key} has no defaultValue for this context: the caller's default applies`
  return { status: 400, body: { key, errorCode, errorDetails } }
}

function etagOf(json: string): string {
  return `"${createHash('sha1').update(json).digest('base64url')}"`
}

function notModified(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === '') return false
  if (ifNoneMatch.trim() === '*') return true
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}

export function ofrepRouter(options: OfrepRouterOptions): Router {
  checkOptions(options, 'ofrepRouter()')
  if (options === null || typeof options !== 'object') throw invalid('options', 'must be an object with tokens')
  const table = tokenTable(options.tokens)
  const clientOf =
    options.client ??
    ((ctx: Context) => {
      const client = (ctx as Context & { flags?: { client?: FlagClient } }).flags?.client
      if (client === undefined) throw new Error('ofrepRouter: mount flags() before it, or pass options.client')
      return client
    })
  const maxBytes = options.maxBodyBytes ?? 65_536
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1024) throw invalid('maxBodyBytes', 'must be an integer >= 1024')
  const router = new Router({ prefix: '/ofrep/v1' })
  router.use(authenticate(table))
  if (options.rateLimit !== false) {
    const limits = options.rateLimit ?? { limit: 6000, window: 60_000 }
    router.use(rateLimit({ ...limits, prefix: 'ofrep', key: (ctx) => (ctx as WithToken)[STATE]?.name }))
  }

  router.post('/evaluate/flags/:key', async (ctx) => {
    const key = ctx.params.key!
    const context = await contextOf(ctx, maxBytes)
    if (isOutcome(context)) return send(ctx, context.status, { key, ...context.body })
    const result = evaluateOne(await clientOf(ctx), key, context)
    if (result === undefined) {
      return send(ctx, 500, { key, errorCode: 'GENERAL', errorDetails: 'the flag snapshot is not loaded yet' })
    }
    const outcome = answer(result)
    send(ctx, outcome.status, outcome.body)
  })

  router.post('/evaluate/flags', async (ctx) => {
    const context = await contextOf(ctx, maxBytes)
    if (isOutcome(context)) return send(ctx, context.status, context.body)
    const client = await clientOf(ctx)
    const snapshot = client.snapshot
    if (snapshot === undefined) return send(ctx, 500, { errorDetails: 'the flag snapshot is not loaded yet' })
    const flags: unknown[] = []
    for (const key of [...snapshot.keys()].sort()) flags.push(answer(evaluateOne(client, key, context)!).body)
    const json = JSON.stringify({ flags })
    const etag = etagOf(json)
    ctx.set('ETag', etag)
    if (notModified(ctx.get('if-none-match'), etag)) {
      ctx.status = 304
      return
    }
    ctx.type = 'application/json'
    ctx.body = json
  })

  return router
}
