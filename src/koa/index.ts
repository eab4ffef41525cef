/** Koa integration: middleware that finds its stores by name in the app's `StoreRegistry`. */
export { ADMIN_UI_CSP, adminUi, type AdminUiOptions } from './admin-ui.js'
export { environment, type EnvironmentOptions } from './environment.js'
export { closeFlags, flags, type FlagsContext, type FlagsOptions, RequestFlags, startFlags } from './flags.js'
export { type JsonErrorBody, sendJsonError } from './json-error.js'
export { rateLimit, type RateLimitKey, type RateLimitOptions } from './rate-limit.js'
export { requireFlag, type RequireFlagOptions } from './require-flag.js'
export { defaultCacheKey, responseCache, type ResponseCacheKey, type ResponseCacheOptions } from './response-cache.js'
export { type Session, type SessionCookieOptions, type SessionOptions, session } from './session.js'
export { closeStores, storeFor, stores } from './stores.js'
export {
  type AdminAuditOptions,
  type AdminAuth,
  type AdminAuthFunction,
  type AdminAuthResult,
  type AdminRouter,
  type AdminRouterOptions,
  type AdminTokenAuth,
  type AuditEntry,
  type AuditQuery,
  AuditLog,
  adminRouter,
} from './admin/router.js'
export { ofrepRouter, type OfrepRouterOptions, type OfrepToken } from './ofrep/index.js'
export {
  apiDocsRouter,
  mountApiStandards,
  openApiDocument,
  parseOfrepTokens,
  routesOf,
  type ApiDocsOptions,
  type ApiStandardsOptions,
  type OpenApiOptions,
  type OpenApiResult,
} from './openapi/index.js'
