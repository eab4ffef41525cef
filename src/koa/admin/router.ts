/**
 * `adminRouter(options)`: the admin API — a JSON API over a `FlagRepository` on @koa/router, mounted
 * under `/admin/api` by default:
 *
 * ```ts
 * const admin = adminRouter({ repository, auth: { token: process.env.FLAGSTONE_ADMIN_TOKEN! }, audit: { store: registry.get('audit') } })
 * app.use(admin)   // allowedMethods, authentication and JSON errors are built in; admin.router is the @koa/router
 * ```
 *
 * The router owns its prefix: every request under it is authenticated first (401 with
 * `WWW-Authenticate: Bearer` without or with a wrong token, on every route and on unknown paths
 * alike), then routed; failures answer `{ error: { code, message, details } }` (404 for unknown
 * routes, 405 with `Allow` for wrong methods, 5xx without internals). Requests outside the prefix
 * pass through untouched.
 *
 * Versions: a flag's `ETag` is `"<version>"`. `PUT /flags/:key` replaces the whole flag and needs a
 * precondition — `If-Match` (stale → 412; `*` for "whatever is there") or the `version` read, in
 * the body (stale → 409); without either it answers 428. Every other flag edit (PATCH, DELETE,
 * archive, restore, rules, variants, schedules) honours `If-Match` when sent and otherwise applies
 * the change to the latest version (re-reading and re-applying if another writer got in between).
 *
 * Audit: every change writes `{ id, at, actor, claimedActor?, action, target, flagKey?, before,
 * after, details? }`; `actor` comes from authentication, `X-Flagstone-Actor` is recorded beside it
 * as `claimedActor` (anyone holding the token can claim any name). A failed audit write does not
 * undo or fail the change: the answer carries `Flagstone-Audit: failed` and the error goes to
 * `app.emit('error')`.
 */
import { Router } from '@koa/router'
import type { Middleware } from 'koa'
import { FlagstoneError } from '../../errors.js'
import type { FlagRepository } from '../../flags/index.js'
import { createMemoryStore, type Store } from '../../stores/index.js'
import { AuditLog } from './audit.js'
import { evaluateRoutes } from './routes/evaluate.js'
import { flagPartRoutes } from './routes/flag-parts.js'
import { flagRoutes } from './routes/flags.js'
import { type AdminAuth, authenticator, type Principal } from './auth.js'
import { DEFAULT_MAX_BODY_BYTES, errorBoundary } from './http.js'
import { createKit } from './kit.js'
import { resourceRoutes } from './routes/resources.js'
import { checkOptions } from '../../internal/objects.js'

export type { AuditEntry, AuditQuery } from './audit.js'
export { AuditLog } from './audit.js'
export type { AdminAuth, AdminAuthFunction, AdminAuthResult, AdminTokenAuth } from './auth.js'

export interface AdminAuditOptions {
  /** Where entries go. Pass a shared store (`registry.get('audit')`) so every process writes one trail. */
  store: Store
  /** Entries expire after this many ms. @default undefined — kept forever */
  expiresIn?: number
}

export interface AdminRouterOptions {
  /** Where flags live. A read-only repository answers every write with 405. */
  repository: FlagRepository
  /** `{ token, actor? }` (bearer token, constant-time comparison) or `auth(ctx)`; required on every route. */
  auth: AdminAuth
  /**
   * The audit trail's store.
   * @default an in-memory store: the trail lives as long as the process — pass a store in production
   */
  audit?: AdminAuditOptions
  /** Mount path; `''` puts the API at the root (and it then owns every path). @default '/admin/api' */
  prefix?: string
  /** Largest request body; more answers 413. @default 1048576 (1 MiB) */
  maxBodyBytes?: number
}

function resolvePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || (prefix !== '' && !/^(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+\/?$/.test(prefix))) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'adminRouter: prefix must be a path such as /admin/api (or "")', {
      details: { field: 'prefix' },
    })
  }
  return prefix.replace(/\/+$/, '')
}

/**
 * What `adminRouter()` returns: the whole admin API as one middleware, with its @koa/router instance
 * as `.router` (for route tables, as the middleware of `router.routes()` carries it).
 */
export type AdminRouter = Middleware & { readonly router: Router }

/** The admin API. Mount it with `app.use(admin)`; see the module comment for what it answers. */
export function adminRouter(options: AdminRouterOptions): AdminRouter {
  checkOptions(options, 'adminRouter()')
  if (options === null || typeof options !== 'object') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'adminRouter(options) needs { repository, auth }', {
      details: { field: 'options' },
    })
  }
  const { repository } = options
  if (repository === null || typeof repository !== 'object' || typeof repository.getFlag !== 'function') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'adminRouter: repository must be a FlagRepository', {
      details: { field: 'repository' },
    })
  }
  const prefix = resolvePrefix(options.prefix ?? '/admin/api')
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'adminRouter: maxBodyBytes must be a positive integer', {
      details: { field: 'maxBodyBytes' },
    })
  }
  const authenticate = authenticator(options.auth)
  const auditLog = new AuditLog(options.audit?.store ?? createMemoryStore(), {
    ...(options.audit?.expiresIn === undefined ? {} : { expiresIn: options.audit.expiresIn }),
  })
  const principals = new WeakMap<object, Principal>()
  const kit = createKit({ repository, prefix, maxBodyBytes, audit: auditLog, principals })

  const router = new Router({ ...(prefix === '' ? {} : { prefix }), sensitive: true })
  flagRoutes(router, kit)
  flagPartRoutes(router, kit)
  resourceRoutes(router, kit, auditLog)
  evaluateRoutes(router, kit)

  const boundary = errorBoundary()
  const dispatch = router.middleware() as unknown as Middleware
  const allowed = router.allowedMethods({ throw: true }) as unknown as Middleware
  const nothing = async () => undefined
  const admin: Middleware = (ctx) =>
    boundary(ctx, async () => {
      principals.set(ctx, await authenticate(ctx))
      await dispatch(ctx, () => allowed(ctx, nothing))
    })
  const owns = (path: string) => prefix === '' || path === prefix || path.startsWith(`${prefix}/`)
  const mounted: Middleware = function adminApi(ctx, next) {
    return owns(ctx.path) ? admin(ctx, nothing) : next()
  }
  return Object.assign(mounted, { router })
}
