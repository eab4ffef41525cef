/**
 * `environment(options)`: decides which environment (`production`, `staging`, …) a request is
 * evaluated in and puts it on `ctx.state.environment`, from a header, then a query parameter,
 * then a fallback.
 */
import type { Middleware } from 'koa'
import { FlagstoneError } from '../errors.js'
import { ENVIRONMENT_SLUG_PATTERN } from '../flags/index.js'
import { sendJsonError } from './json-error.js'
import { checkOptions } from '../internal/objects.js'

export interface EnvironmentOptions {
  /**
   * Request header carrying the environment slug; `false` ignores headers.
   * @default 'x-environment'
   */
  header?: string | false
  /**
   * Query parameter carrying the environment slug; `false` ignores the query string (what
   * production usually wants: nobody switches environment by editing a URL).
   * @default 'env'
   */
  query?: string | false
  /**
   * The environment of a request that names none. Must be one of `allowed` when that is given.
   * @default undefined — `ctx.state.environment` stays unset
   */
  fallback?: string
  /**
   * The only slugs a request may name; any other answers 400 with a JSON error listing these.
   * @default undefined — any well-formed slug (`^[a-z0-9][a-z0-9_-]{0,63}$`) is accepted
   */
  allowed?: readonly string[]
}

interface ResolvedOptions {
  readonly header: string | false
  readonly query: string | false
  readonly fallback: string | undefined
  readonly allowed: ReadonlySet<string> | undefined
  readonly allowedList: readonly string[] | undefined
}

function checkSlug(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ENVIRONMENT_SLUG_PATTERN.test(value)) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `environment(): ${field} must be an environment slug, got ${JSON.stringify(value)}`,
      {
        details: { field },
      },
    )
  }
  return value
}

function checkName(value: unknown, field: string): string | false {
  if (value === false) return false
  if (typeof value !== 'string' || value.length === 0) {
    throw new FlagstoneError('INVALID_ARGUMENT', `environment(): ${field} must be a non-empty string or false`, {
      details: { field },
    })
  }
  return value
}

function resolve(options: EnvironmentOptions): ResolvedOptions {
  const header = checkName(options.header ?? 'x-environment', 'header')
  const query = checkName(options.query ?? 'env', 'query')
  let allowedList: readonly string[] | undefined
  if (options.allowed !== undefined) {
    if (!Array.isArray(options.allowed) || options.allowed.length === 0) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'environment(): allowed must be a non-empty array of slugs', {
        details: { field: 'allowed' },
      })
    }
    allowedList = Object.freeze(options.allowed.map((slug, i) => checkSlug(slug, `allowed[${i}]`)))
  }
  const allowed = allowedList === undefined ? undefined : new Set(allowedList)
  const fallback = options.fallback === undefined ? undefined : checkSlug(options.fallback, 'fallback')
  if (fallback !== undefined && allowed !== undefined && !allowed.has(fallback)) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `environment(): fallback "${fallback}" is not one of allowed (${allowedList?.join(', ')})`,
      {
        details: { field: 'fallback' },
      },
    )
  }
  return Object.freeze({ header: header === false ? false : header.toLowerCase(), query, fallback, allowed, allowedList })
}

/** Once per process: more than one unrestricted app is one mistake, not many. */
let warned = false

/**
 * Without `allowed` any client picks its environment (a route that is off in production is on in
 * `development`); that is right for a development server only, so say so once.
 */
function warnUnrestricted(): void {
  if (warned) return
  warned = true
  process.emitWarning(
    'environment() without `allowed`: any client can choose its environment by header or query. ' +
      'Pass `allowed` (the environments a request may name) or turn detection off (`header: false, query: false`).',
    { code: 'FLAGSTONE_ENVIRONMENT_UNRESTRICTED' },
  )
}

/** The first non-empty value of a header or query parameter (repeated ones: the first). */
function firstValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value
  const trimmed = first?.trim()
  return trimmed === undefined || trimmed === '' ? undefined : trimmed
}

/**
 * Sets `ctx.state.environment` from the `header` (first), else the `query` parameter, else
 * `fallback`. A named environment outside `allowed` (or, without `allowed`, not a well-formed
 * slug) answers **400** `{ error: { code: 'INVALID_ARGUMENT', message, details: { field, source,
 * allowed } } }` and the request goes no further.
 */
export function environment(options: EnvironmentOptions = {}): Middleware {
  checkOptions(options, 'environment()')
  const opts = resolve(options)
  if (opts.allowed === undefined && (opts.header !== false || opts.query !== false)) warnUnrestricted()
  return function environmentMiddleware(ctx, next) {
    let source: 'header' | 'query' | undefined
    let value: string | undefined
    if (opts.header !== false) {
      value = firstValue(ctx.request.headers[opts.header])
      if (value !== undefined) source = 'header'
    }
    if (value === undefined && opts.query !== false) {
      value = firstValue(ctx.request.query[opts.query])
      if (value !== undefined) source = 'query'
    }
    if (source !== undefined && value !== undefined) {
      const ok = opts.allowed === undefined ? ENVIRONMENT_SLUG_PATTERN.test(value) : opts.allowed.has(value)
      if (!ok) {
        const field = source === 'header' ? opts.header : opts.query
        const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value
        const expected =
          opts.allowedList === undefined ? 'a slug matching ^[a-z0-9][a-z0-9_-]{0,63}$' : `one of: ${opts.allowedList.join(', ')}`
        sendJsonError(
          ctx,
          400,
          'INVALID_ARGUMENT',
          `unknown environment ${JSON.stringify(shown)} in ${source} "${field}": use ${expected}`,
          {
            field,
            source,
            ...(opts.allowedList === undefined ? {} : { allowed: opts.allowedList }),
          },
        )
        return
      }
      ctx.state.environment = value
    } else if (opts.fallback !== undefined) {
      ctx.state.environment = opts.fallback
    }
    return next()
  }
}

declare module 'koa' {
  interface DefaultState {
    /** The environment slug `environment()` chose for this request. */
    environment?: string
  }
}
