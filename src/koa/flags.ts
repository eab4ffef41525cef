/**
 * `flags(options)`: one `FlagClient` per app and store, built on first use over a
 * `StoreFlagRepository` on the `flags` store, and `ctx.flags` on every request: the client's
 * typed getters bound to the request's evaluation context. Evaluations are synchronous and never
 * touch the store (the client follows changes in the background).
 *
 * `closeFlags(app)` closes the clients at shutdown; `startFlags(app)` builds them and waits until
 * they are ready, so a server can fail at start-up instead of on its first request.
 */
import type Koa from 'koa'
import type { Middleware } from 'koa'
import { FlagstoneError } from '../errors.js'
import { FlagClient, type FlagClientOptions, StoreFlagRepository } from '../flags/index.js'
import type { StoreRegistry, Store } from '../stores/index.js'
import { type OnStoreError, resolveOnStoreError, sendStoreUnavailable } from './store-errors.js'
import { type FlagsContext, RequestFlags } from './request-flags.js'
import { beforeCloseStores, registriesOf, storeFor } from './stores.js'
import { checkOptions } from '../internal/objects.js'

export { type FlagsContext, RequestFlags } from './request-flags.js'

export interface FlagsOptions extends Omit<FlagClientOptions, 'repository'> {
  /**
   * Name of the store in the registry; the flags live there as `StoreFlagRepository` documents.
   * @default 'flags'
   */
  store?: string
  /**
   * Extends the default evaluation context of a request; the result is shallow-merged over the
   * defaults (`undefined` removes a default field):
   * `targetingKey` and `userId` = `String(ctx.state.user.id)` when there is one, `ipAddress` =
   * `ctx.ip`, `userAgent` = the `User-Agent` header, `environment` = `ctx.state.environment` (from
   * `environment()`).
   * @default undefined — the defaults alone
   */
  context?: FlagsContext
  /**
   * What a request does when the client has no snapshot yet (the store was unreachable for the
   * whole `readyTimeout` of the first load): `true` goes on, and every evaluation answers its
   * default with error code `PROVIDER_NOT_READY`; `false` answers 503 `STORE_UNAVAILABLE`. Either
   * way the error is reported once with `app.emit('error')`, requests do not wait again, and the
   * client keeps retrying in the background.
   * @default true
   * @deprecated use `onStoreError`
   */
  failOpen?: boolean
  /** Before the first snapshot: `'open'` (evaluations answer defaults) or `'closed'` (503, a problem body). @default 'open' */
  onStoreError?: OnStoreError
}

interface ResolvedOptions {
  readonly store: string
  readonly context: FlagsContext | undefined
  readonly onStoreError: OnStoreError
  readonly client: Readonly<Omit<FlagClientOptions, 'repository'>>
}

function invalid(field: string, message: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `flags(): ${field} ${message}`, { details: { field } })
}

/** Node's timers treat longer delays as 1 ms. */
const MAX_TIMER_MS = 2_147_483_647
const CLIENT_FIELDS = ['pollInterval', 'staleAfter', 'fullRefreshInterval', 'readyTimeout', 'onError'] as const

function resolve(options: FlagsOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object')
  const { store = 'flags', context } = options
  if (typeof store !== 'string' || store === '') throw invalid('store', 'must be a non-empty string')
  if (context !== undefined && typeof context !== 'function') throw invalid('context', 'must be a function of the Koa context')
  const client: Record<string, unknown> = {}
  for (const field of CLIENT_FIELDS) {
    const value: unknown = options[field]
    if (value === undefined) continue
    if (field === 'onError') {
      if (typeof value !== 'function') throw invalid(field, 'must be a function')
    } else if (
      typeof value !== 'number' ||
      Number.isNaN(value) ||
      value <= 0 ||
      (Number.isFinite(value) && value > MAX_TIMER_MS)
    ) {
      // The same rule FlagClient applies, checked here so a mistake fails at start-up, not on the first request.
      throw invalid(field, `must be a number of ms in 1..${MAX_TIMER_MS} or Infinity, got ${String(value)}`)
    }
    client[field] = value
  }
  return Object.freeze({
    store,
    context,
    onStoreError: resolveOnStoreError(options.onStoreError, options.failOpen, 'open', 'flags()'),
    client: Object.freeze(client) as Omit<FlagClientOptions, 'repository'>,
  })
}

// ---- per-request state: the middleware leaves a binding on the context; ctx.flags builds lazily ----

/** What `ctx.flags` needs, one frozen object per client: the middleware sets it with one write. */
interface Binding {
  readonly client: FlagClient
  readonly extend: FlagsContext | undefined
}

const BINDING = Symbol('flagstone.flags.binding')
const FLAGS = Symbol('flagstone.flags')

type WithFlags = {
  [BINDING]?: Binding
  [FLAGS]?: RequestFlags | undefined
}

const extended = new WeakSet<object>()

/** Defines the `ctx.flags` getter once per app, on `app.context`. */
function extendContext(app: Koa): void {
  const proto = app.context as object
  if (extended.has(proto)) return
  extended.add(proto)
  Object.defineProperty(proto, 'flags', {
    configurable: true,
    get(this: Koa.Context & WithFlags): RequestFlags {
      const existing = this[FLAGS]
      if (existing !== undefined) return existing
      const binding = this[BINDING]
      if (binding === undefined) {
        throw new FlagstoneError(
          'NOT_CONFIGURED',
          'ctx.flags is used on a request that the flags() middleware did not handle: add app.use(flags()) before it',
          {
            details: { middleware: 'flags' },
          },
        )
      }
      const flags = new RequestFlags(this, binding.client, binding.extend)
      this[FLAGS] = flags
      return flags
    },
  })
}

// ---- clients: one per (middleware, registry); every client an app got, for closeFlags ----

interface ClientState {
  readonly binding: Binding
  /** The first wait for `ready()`, shared by every request that arrives before it settles. */
  waiting: Promise<void> | undefined
  /** That wait failed: later requests go on (or 503) without waiting again. */
  failed: boolean
  /** Its error was reported (once). */
  reported: boolean
}

/** Tags the middleware `flags()` returns, so `startFlags(app)` finds it in `app.middleware`. */
const START = Symbol('flagstone.flags.start')

type TaggedMiddleware = Middleware & {
  readonly [START]?: (app: Koa, registry: StoreRegistry) => Promise<FlagClient>
}

const clientsOf = new WeakMap<Koa, Set<FlagClient>>()

function remember(app: Koa, client: FlagClient): void {
  let set = clientsOf.get(app)
  if (set === undefined) {
    clientsOf.set(app, (set = new Set()))
    beforeCloseStores(app, () => closeFlags(app)) // so closeStores(app) alone is a complete shutdown
  }
  set.add(client)
}

/**
 * Flags for every request: `ctx.flags.isEnabled('new-checkout')`, `ctx.flags.getString('theme',
 * 'light')`, … evaluated with the request's context (see `FlagsOptions.context`).
 *
 * The first request (or `startFlags(app)`) builds one `FlagClient` over a `StoreFlagRepository`
 * on the store named `store` and waits until it is ready (at most `readyTimeout`); concurrent
 * first requests share that one client and that one wait. After that a request costs one property
 * write; `ctx.flags` is a small object made on first use, and the context is built at the first
 * evaluation. Changes (through the admin API or any `FlagRepository` write, in any process) reach
 * the client by push or polling, without a restart.
 *
 * Call `closeFlags(app)` at shutdown, before `closeStores(app)`: the client polls its store.
 */
export function flags(options: FlagsOptions = {}): Middleware {
  checkOptions(options, 'flags()')
  const opts = resolve(options)
  const clients = new WeakMap<StoreRegistry, ClientState>()

  /** The client for `registry`, built on first call. Synchronous: two first requests cannot build two. */
  function stateFor(app: Koa, registry: StoreRegistry, store: Store): ClientState {
    let state = clients.get(registry)
    if (state === undefined) {
      const client = new FlagClient({ ...opts.client, repository: new StoreFlagRepository(store) })
      state = { binding: Object.freeze({ client, extend: opts.context }), waiting: undefined, failed: false, reported: false }
      clients.set(registry, state)
      remember(app, client)
    }
    return state
  }

  function waitReady(state: ClientState): Promise<void> {
    state.waiting ??= state.binding.client.ready().catch((error: unknown) => {
      state.failed = true
      throw error
    })
    return state.waiting
  }

  const middleware: TaggedMiddleware = async function flagsMiddleware(ctx, next) {
    extendContext(ctx.app)
    let state = clients.get(ctx.stores)
    // storeFor() throws NOT_CONFIGURED, naming flags(), when stores(registry) did not run first.
    if (state === undefined) state = stateFor(ctx.app, ctx.stores, storeFor(ctx, opts.store, 'flags'))
    const { binding } = state
    if (binding.client.status === 'NOT_READY') {
      if (!state.failed) {
        try {
          await waitReady(state)
        } catch (error) {
          if (!state.reported) {
            state.reported = true
            ctx.app.emit('error', error, ctx)
          }
        }
      }
      if (binding.client.status === 'NOT_READY' && opts.onStoreError === 'closed') {
        sendStoreUnavailable(ctx, 'feature flags')
        return
      }
    }
    const target = ctx as WithFlags
    target[BINDING] = binding
    if (target[FLAGS] !== undefined) target[FLAGS] = undefined // a second flags() in the chain rebinds
    return next()
  }

  Object.defineProperty(middleware, START, {
    value: async (app: Koa, registry: StoreRegistry): Promise<FlagClient> => {
      extendContext(app)
      const state = clients.get(registry) ?? stateFor(app, registry, registry.get(opts.store))
      await waitReady(state)
      return state.binding.client
    },
  })
  return middleware
}

/**
 * Builds the flag client of every `flags()` middleware of `app` now and waits until each is ready,
 * instead of on the first request: call it before `listen()`. Resolves with the clients; rejects
 * with the client's error (`STORE_UNAVAILABLE` after `readyTimeout`, …) or with `NOT_CONFIGURED` when
 * `app` has no `stores(registry)` middleware.
 */
export async function startFlags(app: Koa): Promise<FlagClient[]> {
  const starters = (app.middleware as TaggedMiddleware[]).flatMap((fn) => (fn[START] === undefined ? [] : [fn[START]]))
  if (starters.length === 0) return []
  const [registry] = registriesOf(app)
  if (registry === undefined) {
    throw new FlagstoneError('NOT_CONFIGURED', 'startFlags(app): the app has no stores(registry) middleware', {
      details: { middleware: 'stores' },
    })
  }
  return Promise.all(starters.map((start) => start(app, registry)))
}

/**
 * Closes every flag client the `flags()` middleware built for `app` (idempotent; requests that
 * still come evaluate from the last snapshot, as `STALE`). Call it at shutdown after
 * `server.close()`; `closeStores(app)` calls it too, before closing the stores. Never closes the stores.
 */
export async function closeFlags(app: Koa): Promise<void> {
  const set = clientsOf.get(app)
  if (set === undefined) return
  await Promise.all([...set].map((client) => client.close()))
}

declare module 'koa' {
  interface ExtendableContext {
    /**
     * The request's flags (from `flags()`): the flag client's getters bound to this request's
     * evaluation context. Throws on a request the `flags()` middleware did not handle.
     */
    readonly flags: RequestFlags
  }
}
