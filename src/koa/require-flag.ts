/**
 * `requireFlag(key, options)`: a guard for routes behind a feature flag. While the flag is off for
 * the request the route does not exist (404 by default); once it is on — changed through the admin
 * API or any repository write, in any process — the same running app lets the request through.
 */
import type { Middleware } from 'koa'
import { FlagstoneError } from '../errors.js'
import type { RequestFlags } from './flags.js'
import { checkOptions } from '../internal/objects.js'

export interface RequireFlagOptions {
  /**
   * The status answered while the flag is off, with Koa's body for it (`Not Found` for 404), as
   * for any unknown route. Use 403 to say "exists, but not for you".
   * @default 404
   */
  status?: number
}

/**
 * Lets the request through only when the boolean flag `key` is on for it (`ctx.flags.isEnabled`,
 * with the request's context: user, environment, …). A missing flag, a flag of another type and a
 * client that has not loaded count as off. Needs `flags()` before it.
 *
 * ```ts
 * router.get('/beta/reports', requireFlag('beta-reports'), listReports)
 * ```
 */
export function requireFlag(key: string, options: RequireFlagOptions = {}): Middleware {
  checkOptions(options, 'requireFlag()')
  if (typeof key !== 'string' || key === '') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'requireFlag(): key must be a non-empty flag key', { details: { field: 'key' } })
  }
  if (typeof options !== 'object' || options === null) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'requireFlag(): options must be an object', { details: { field: 'options' } })
  }
  const status = options.status ?? 404
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `requireFlag(): status must be an HTTP error status (400..599), got ${String(status)}`,
      {
        details: { field: 'status' },
      },
    )
  }
  return function requireFlagMiddleware(ctx, next) {
    const flags = (ctx as { flags?: RequestFlags }).flags
    if (flags === undefined) {
      // ctx.flags exists on an app's context only once flags() has run there.
      throw new FlagstoneError('NOT_CONFIGURED', `requireFlag("${key}") needs ctx.flags: add app.use(flags()) before it`, {
        details: { middleware: 'flags' },
      })
    }
    if (flags.isEnabled(key)) return next()
    ctx.status = status
    return undefined
  }
}
