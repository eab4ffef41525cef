/** OFREP (OpenFeature remote evaluation protocol) on Koa. */
export { ofrepRouter, type OfrepRouterOptions, type OfrepToken } from './ofrep.js'
