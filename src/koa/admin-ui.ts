/**
 * `adminUi(options)`: serves the admin web UI (built from ui/ into dist/ui by `npm run build:ui`)
 * at `/admin/`, under a strict Content-Security-Policy: everything from the server's own origin,
 * no inline script or style, no framing. The UI talks to the admin API beside it (`/admin/api`)
 * with the bearer token the user signs in with; requests under the API prefix pass through.
 *
 * Files go out through @koa/send (path resolution confined to the root, ETag-free but
 * Last-Modified, precompressed variants when present). Hashed assets are cached for a year,
 * `index.html` is revalidated on every load so a new build is picked up at once.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { send } from '@koa/send'
import type { Middleware } from 'koa'
import { FlagstoneError } from '../errors.js'
import { sendJsonError } from './json-error.js'
import { checkOptions } from '../internal/objects.js'

export interface AdminUiOptions {
  /** Where the UI is served. @default '/admin' */
  prefix?: string
  /** Requests under this path are not the UI's (the admin API). @default `${prefix}/api` */
  apiPrefix?: string
  /** The built UI. @default dist/ui of this package */
  root?: string
}

/** default-src 'self' and nothing looser: no inline code, no other origin, no plugins, no framing. */
export const ADMIN_UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

/** dist/ui beside the compiled module (dist/koa → dist/ui), or of the package when run from source (src/koa → dist/ui). */
export function defaultAdminUiRoot(): string {
  const candidates = [new URL('../ui/', import.meta.url), new URL('../../dist/ui/', import.meta.url)].map((u) => fileURLToPath(u))
  return candidates.find((dir) => existsSync(`${dir}index.html`)) ?? candidates[candidates.length - 1]!
}

export function adminUi(options: AdminUiOptions = {}): Middleware {
  checkOptions(options, 'adminUi()')
  const prefix = (options.prefix ?? '/admin').replace(/\/+$/, '')
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(prefix)) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'adminUi: prefix must be a path such as /admin', {
      details: { field: 'prefix' },
    })
  }
  const apiPrefix = options.apiPrefix ?? `${prefix}/api`
  const root = options.root ?? defaultAdminUiRoot()
  return async (ctx, next) => {
    const path = ctx.path
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return next()
    if (path === apiPrefix || path.startsWith(`${apiPrefix}/`)) return next()
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD')
      return sendJsonError(ctx, 405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on the admin UI`)
    }
    if (path === prefix) {
      // Relative asset and API URLs resolve against the trailing slash.
      ctx.status = 308
      ctx.redirect(`${prefix}/${ctx.querystring === '' ? '' : `?${ctx.querystring}`}`)
      return
    }
    ctx.set('Content-Security-Policy', ADMIN_UI_CSP)
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Referrer-Policy', 'no-referrer')
    ctx.set('X-Frame-Options', 'DENY')
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin')
    const file = path.slice(prefix.length + 1) || 'index.html'
    if (!existsSync(`${root}/index.html`)) {
      return sendJsonError(ctx, 503, 'UI_NOT_BUILT', 'the admin UI is not built: run `npm run build:ui`')
    }
    const hashed = file.startsWith('assets/')
    try {
      await send(ctx, file, {
        root,
        index: 'index.html',
        hidden: false,
        maxage: hashed ? 365 * 24 * 3600 * 1000 : 0,
        immutable: hashed,
        setHeaders: (res) => {
          if (!hashed) res.setHeader('Cache-Control', 'no-cache')
        },
      })
    } catch (error) {
      const status = (error as { status?: unknown }).status
      if (status === 404 || status === 400 || status === 403) {
        return sendJsonError(ctx, 404, 'NOT_FOUND', `no such file in the admin UI: ${file.slice(0, 128)}`)
      }
      throw error
    }
  }
}
