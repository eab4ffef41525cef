/** The part of koa-ratelimit 6 (untyped) that benchmarks/http-server.ts uses. */
declare module 'koa-ratelimit' {
  import type { Context, Middleware } from 'koa'

  interface RatelimitOptions {
    driver: 'redis' | 'memory'
    /** An ioredis client for `redis`, a `Map` for `memory`. */
    db: unknown
    /** Window in ms. */
    duration?: number
    max?: number
    /** Key prefix in Redis. */
    namespace?: string
    id?: (ctx: Context) => string | false
    disableHeader?: boolean
    throw?: boolean
  }

  export default function ratelimit(options: RatelimitOptions): Middleware
}
