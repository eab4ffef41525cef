/**
 * `mountApiStandards(app, ...)`: what the server adds next to the admin API — OFREP (when tokens
 * are configured), `GET <admin>/openapi.json` and `GET <admin>/docs`. Call it before mounting the
 * admin router: the admin router answers every other path under its prefix.
 */
import type { Router } from '@koa/router'
import type Koa from 'koa'
import { FlagstoneError } from '../../errors.js'
import { ofrepRouter, type OfrepToken } from '../ofrep/index.js'
import { apiDocsRouter } from './docs.js'
import { openApiDocument } from './openapi.js'
import { checkOptions } from '../../internal/objects.js'

export interface ApiStandardsOptions {
  admin: Router
  adminPrefix: string
  /** Must differ from every OFREP token: the admin token never evaluates through OFREP. */
  adminToken: string
  ofrepTokens?: readonly OfrepToken[]
  version?: string
}

/** `FLAGSTONE_OFREP_TOKENS`: `environment=token` pairs separated by commas. */
export function parseOfrepTokens(text: string | undefined): OfrepToken[] {
  if (text === undefined || text.trim() === '') return []
  return text.split(',').map((pair, i) => {
    const at = pair.indexOf('=')
    if (at <= 0) {
      throw new FlagstoneError('INVALID_ARGUMENT', `FLAGSTONE_OFREP_TOKENS: entry ${i + 1} must be environment=token`, {
        details: { field: 'FLAGSTONE_OFREP_TOKENS' },
      })
    }
    return { environment: pair.slice(0, at).trim(), token: pair.slice(at + 1).trim() }
  })
}

export function mountApiStandards(app: Koa, options: ApiStandardsOptions): void {
  checkOptions(options, 'mountApiStandards()')
  const tokens = options.ofrepTokens ?? []
  if (tokens.some((t) => t.token === options.adminToken)) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'ofrepTokens: an OFREP token must not be the admin token', {
      details: { field: 'ofrepTokens' },
    })
  }
  const ofrep = tokens.length > 0 ? ofrepRouter({ tokens }) : undefined
  const { document, undescribed } = openApiDocument({
    admin: options.admin,
    adminPrefix: options.adminPrefix,
    // Described even when not mounted, so the document (and its docs page) is the same for every deployment.
    ofrep: ofrep ?? ofrepRouter({ tokens: [{ token: 'x'.repeat(16), environment: 'x' }], rateLimit: false }),
    ...(options.version === undefined ? {} : { version: options.version }),
  })
  if (undescribed.length > 0) throw new Error(`openApiDocument: routes without a description: ${undescribed.join(', ')}`)
  app.use(apiDocsRouter({ document, prefix: options.adminPrefix }).routes())
  if (ofrep !== undefined) app.use(ofrep.routes())
}
