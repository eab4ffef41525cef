/**
 * `stores(registry)`: puts a `StoreRegistry` on every request as `ctx.stores`, so the other
 * middleware (`session`, `rateLimit`, `responseCache`, `flags`, …) find their store **by name**.
 * `closeStores(app)` closes that registry once, at shutdown.
 */
import type Koa from 'koa'
import type { Middleware } from 'koa'
import { FlagstoneError } from '../errors.js'
import type { StoreRegistry, Store } from '../stores/index.js'

/** Tags the middleware `stores()` returns, so `closeStores(app)` finds the registry in `app.middleware`. */
const REGISTRY = Symbol.for('flagstone.koa.registry')

type TaggedMiddleware = Middleware & { readonly [REGISTRY]?: StoreRegistry }

/** Only what the middleware needs of a registry; checked at run time by shape, not by class. */
function isRegistry(value: unknown): value is StoreRegistry {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as StoreRegistry).get === 'function' &&
    typeof (value as StoreRegistry).close === 'function'
  )
}

/**
 * The middleware that makes `registry` available as `ctx.stores`. Use it before every middleware
 * that needs a store:
 *
 * ```ts
 * const registry = new StoreRegistry({ defaultFactory: (name) => root.withNamespace(name) })
 * app.use(stores(registry))
 * app.use(session({ maxAge: 86_400_000 }))   // finds registry.get('sessions')
 * ```
 *
 * The registry stays the caller's: nothing closes it until `closeStores(app)` (or
 * `registry.close()`) is called.
 */
export function stores(registry: StoreRegistry): Middleware {
  if (!isRegistry(registry)) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'stores(registry) needs a StoreRegistry', { details: { field: 'registry' } })
  }
  const middleware: TaggedMiddleware = function storesMiddleware(ctx, next) {
    ctx.stores = registry
    return next()
  }
  Object.defineProperty(middleware, REGISTRY, { value: registry })
  return middleware
}

/**
 * The store registered as `name` in the request's registry. Throws a `FlagstoneError`
 * (`NOT_CONFIGURED`) naming the middleware and the store when `stores(registry)` did not run before
 * it: a wiring mistake that must not pass silently.
 *
 * This is how every flagstone middleware finds its store; other middleware can use it too.
 */
export function storeFor(ctx: Koa.Context | Koa.ParameterizedContext, name: string, middleware: string): Store {
  const registry: unknown = ctx.stores
  if (!isRegistry(registry)) {
    throw new FlagstoneError(
      'NOT_CONFIGURED',
      `${middleware}() needs the store "${name}" but there is no store registry on the request: ` +
        `add app.use(stores(registry)) before ${middleware}()`,
      { details: { middleware, store: name } },
    )
  }
  return registry.get(name)
}

const closing = new WeakMap<StoreRegistry, Promise<void>>()

/**
 * Every registry an app knows: `app.context.stores`, then the ones `stores()` middleware carries.
 * The one place that reads the tag: `closeStores` closes them all, `startFlags` builds on the first.
 */
export function registriesOf(app: Koa): StoreRegistry[] {
  const found = new Set<StoreRegistry>()
  const onContext: unknown = (app.context as { stores?: unknown }).stores
  if (isRegistry(onContext)) found.add(onContext)
  for (const fn of app.middleware as TaggedMiddleware[]) {
    const registry = fn[REGISTRY]
    if (registry !== undefined) found.add(registry)
  }
  return [...found]
}

const beforeClose = new WeakMap<Koa, Set<() => Promise<void>>>()

/** Runs `hook` when `closeStores(app)` is called, before the stores close (for middleware built on them). */
export function beforeCloseStores(app: Koa, hook: () => Promise<void>): void {
  let hooks = beforeClose.get(app)
  if (hooks === undefined) beforeClose.set(app, (hooks = new Set()))
  hooks.add(hook)
}

/**
 * Closes the registry (or registries) that `stores()` put on `app`, once (flag clients of
 * `flags()` are closed first): later and concurrent
 * calls share the first call's promise, so a shutdown handler and a test's `afterAll` can both
 * call it. Call it after `server.close()`, when no request still needs a store. Rejects with
 * `NOT_CONFIGURED` when the app has no `stores()` middleware.
 */
export async function closeStores(app: Koa): Promise<void> {
  // What lives on top of the stores (the flag clients of `flags()`) stops first.
  const hooks = beforeClose.get(app)
  beforeClose.delete(app)
  await Promise.all([...(hooks ?? [])].map((hook) => hook()))
  const registries = registriesOf(app)
  if (registries.length === 0) {
    throw new FlagstoneError('NOT_CONFIGURED', 'closeStores(app): the app has no stores(registry) middleware', {
      details: { middleware: 'stores' },
    })
  }
  await Promise.all(
    registries.map((registry) => {
      let promise = closing.get(registry)
      if (promise === undefined) {
        promise = registry.close()
        closing.set(registry, promise)
      }
      return promise
    }),
  )
}

declare module 'koa' {
  interface ExtendableContext {
    /** The store registry `stores(registry)` put on the request (absent without that middleware). */
    stores: StoreRegistry
  }
}
