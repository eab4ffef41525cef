/** The OpenAPI document (generated from the routers and schemas) and the docs page. */
export { apiDocsRouter, type ApiDocsOptions } from './docs.js'
export { openApiDocument, routesOf, type OpenApiOptions, type OpenApiResult } from './openapi.js'
export { mountApiStandards, parseOfrepTokens, type ApiStandardsOptions } from './mount.js'
