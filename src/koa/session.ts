/**
 * `session(options)`: server-side sessions in the `sessions` store. The cookie carries only a
 * random id; the data (`ctx.session`, a plain object) lives in the store, serialised with
 * superjson so `Date`, `Map`, `Set`, `BigInt`, … survive.
 *
 * For koa-session users: `key`, `maxAge`, `renew`, `signed`, `httpOnly`, `sameSite`, `secure`
 * mean what they mean there (cookie attributes are grouped under `cookie`), `ctx.session = null`
 * destroys, and `await ctx.regenerateSession()` works the same. The differences: there is always
 * a store (no cookie-only sessions), `renew: true` slides the expiry on every request that carries
 * the session (koa-session's `rolling`), and an id the server did not issue is never adopted.
 */
import { randomBytes } from 'node:crypto'
import type Koa from 'koa'
import type { Middleware } from 'koa'
import { isStoreOutage, type OnStoreError, resolveOnStoreError, sendStoreUnavailable } from './store-errors.js'
import { FlagstoneError } from '../errors.js'
import type { Store } from '../stores/index.js'
import { checkOptions, isPlainObject } from '../internal/objects.js'
import { decodeSession, serialiseSession } from './session-codec.js'
import { storeFor } from './stores.js'
import { publish } from '../events.js'

/**
 * The session object. Augment it to type your fields:
 * `declare module 'flagstone/koa' { interface Session { userId?: string } }`.
 */
export { serialiseSession } from './session-codec.js'

export interface Session {
  [key: string]: unknown
}

export interface SessionCookieOptions {
  /** @default '/' */
  path?: string
  /** @default undefined — host-only cookie */
  domain?: string
  /** @default 'lax' */
  sameSite?: 'lax' | 'strict' | 'none'
  /**
   * `'auto'`: `Secure` exactly when the request is HTTPS (`ctx.secure`, which trusts
   * `X-Forwarded-Proto` only when `app.proxy` is set). `true` on a plain-HTTP request throws, as
   * Koa's cookies do.
   * @default 'auto'
   */
  secure?: boolean | 'auto'
  /**
   * Keep the session cookie out of reach of page scripts.
   * @default true
   */
  httpOnly?: boolean
}

export interface SessionOptions {
  /**
   * Name of the store in the registry.
   * @default 'sessions'
   */
  store?: string
  /** Store down: `'closed'` answers 503 (no silent sign-out), `'open'` gives an empty, unsaved session. @default 'closed' */
  onStoreError?: OnStoreError
  /**
   * Cookie name (koa-session's `key`).
   * @default 'flagstone.sid'
   */
  key?: string
  /**
   * Lifetime in ms of a session since it was last written (or, with `renew`, last used); also the
   * cookie's `Max-Age`.
   * @default 86_400_000 (one day, as koa-session)
   */
  maxAge?: number
  /**
   * Sliding expiry: every request that carries a live session resets its expiry to `maxAge` (the
   * store's renew-on-read, `get(id, { renewFor: maxAge })`) and re-sends the cookie.
   * @default false
   */
  renew?: boolean
  /**
   * Sign the cookie (an extra `<key>.sig` cookie, HMAC with `app.keys`); a cookie whose signature
   * does not match is ignored. `'auto'` signs when `app.keys` is set; `true` without `app.keys`
   * fails the request.
   * @default 'auto'
   */
  signed?: boolean | 'auto'
  /** Cookie attributes. */
  cookie?: SessionCookieOptions
}

interface ResolvedOptions {
  readonly onStoreError: OnStoreError
  readonly store: string
  readonly key: string
  readonly maxAge: number
  readonly renew: boolean
  readonly signed: boolean | 'auto'
  readonly path: string
  readonly domain: string | undefined
  readonly sameSite: 'lax' | 'strict' | 'none'
  readonly secure: boolean | 'auto'
  readonly httpOnly: boolean
}

function invalid(field: string, message: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `session(): ${field} ${message}`, { details: { field } })
}

function resolve(options: SessionOptions): ResolvedOptions {
  const cookie = options.cookie ?? {}
  const maxAge = options.maxAge ?? 86_400_000
  if (typeof maxAge !== 'number' || !Number.isFinite(maxAge) || maxAge <= 0)
    throw invalid('maxAge', 'must be a finite number of ms > 0')
  const store = options.store ?? 'sessions'
  const key = options.key ?? 'flagstone.sid'
  if (typeof store !== 'string' || store === '') throw invalid('store', 'must be a non-empty string')
  if (typeof key !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key))
    throw invalid('key', 'must be a cookie name (an HTTP token)')
  const sameSite = cookie.sameSite ?? 'lax'
  if (!['lax', 'strict', 'none'].includes(sameSite)) throw invalid('cookie.sameSite', "must be 'lax', 'strict' or 'none'")
  return Object.freeze({
    store,
    key,
    onStoreError: resolveOnStoreError(options.onStoreError, undefined, 'closed', 'session()'),
    maxAge,
    renew: options.renew ?? false,
    signed: options.signed ?? 'auto',
    path: cookie.path ?? '/',
    domain: cookie.domain,
    sameSite,
    secure: cookie.secure ?? 'auto',
    httpOnly: cookie.httpOnly ?? true,
  })
}

/** 256 random bits, base64url: 43 characters. */
function newId(): string {
  return randomBytes(32).toString('base64url')
}

const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/

function isEmpty(session: Session): boolean {
  for (const key in session) if (Object.hasOwn(session, key)) return false
  return true
}

/** Per-request session state; lives on the context under a symbol. */
class SessionState {
  /** Id of the stored session this request works on; `undefined` until one is issued. */
  id: string | undefined
  /** The object handed out as `ctx.session`; `null` after `ctx.session = null` until read again. */
  data: Session | null
  /** Serialised form as loaded, to write only when changed; `undefined` for a new session. */
  loaded: string | undefined
  /** Ids to delete at the end of the request (a destroyed session). */
  readonly stale: string[] = []
  /** The request carried a session cookie (valid or not). */
  readonly hadCookie: boolean
  /** `ctx.session` was read, assigned or regenerated: only then can anything have changed. */
  touched = false

  constructor(
    readonly store: Store,
    id: string | undefined,
    data: Session | null,
    loaded: string | undefined,
    hadCookie: boolean,
  ) {
    this.id = id
    this.data = data
    this.loaded = loaded
    this.hadCookie = hadCookie
  }

  get(): Session {
    this.touched = true
    if (this.data === null) this.data = {}
    return this.data
  }

  set(value: Session | null | undefined): void {
    this.touched = true
    if (value === null || value === undefined) {
      this.#forget()
      this.data = null
      return
    }
    if (!isPlainObject(value)) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'ctx.session must be set to a plain object or null', {
        details: { field: 'session' },
      })
    }
    this.data = { ...value }
  }

  async regenerate(): Promise<void> {
    this.touched = true
    const old = this.id
    this.id = undefined
    this.loaded = undefined
    this.data = {}
    if (old !== undefined) await this.store.delete(old)
  }

  /** Drops the current id: whatever is written next goes under a new one. */
  #forget(): void {
    if (this.id !== undefined) this.stale.push(this.id)
    this.id = undefined
    this.loaded = undefined
  }
}

const STATE = Symbol('flagstone.session')

type WithState = { [STATE]?: SessionState }

function stateOf(ctx: unknown): SessionState {
  const state = (ctx as WithState)[STATE]
  if (state === undefined) {
    throw new FlagstoneError('NOT_CONFIGURED', 'ctx.session is used on a request that the session() middleware did not handle', {
      details: { middleware: 'session' },
    })
  }
  return state
}

const extended = new WeakSet<object>()

/** Defines `ctx.session` and `ctx.regenerateSession` once per app, on `app.context`. */
function extendContext(app: Koa): void {
  const proto = app.context as object
  if (extended.has(proto)) return
  extended.add(proto)
  Object.defineProperties(proto, {
    session: {
      configurable: true,
      get(this: unknown) {
        return stateOf(this).get()
      },
      set(this: unknown, value: Session | null) {
        stateOf(this).set(value)
      },
    },
    regenerateSession: {
      configurable: true,
      writable: true,
      value(this: unknown) {
        return stateOf(this).regenerate()
      },
    },
  })
}

/**
 * Server-side sessions. `ctx.session` is a plain object (start: `{}`); change it, replace it
 * (`ctx.session = { … }`) or destroy it (`ctx.session = null`). At the end of a successful
 * request the session is written to the store only if it changed, deleted if it became empty,
 * and the cookie is set or cleared accordingly. A request that throws writes nothing.
 *
 * `await ctx.regenerateSession()` deletes the current session from the store at once and starts
 * an empty one that gets a new id when written: call it at login, then fill it (to carry data
 * over: `const old = ctx.session; await ctx.regenerateSession(); Object.assign(ctx.session, old)`).
 *
 * Ids are 256 random bits (`crypto.randomBytes(32)`, base64url). A cookie with a malformed,
 * unknown, expired or (when signed) badly signed id gets a fresh, empty session with a new id:
 * the server never adopts an id it did not issue (no session fixation).
 *
 * A store outage answers 503 with a problem body (`onStoreError: 'closed'`, the default); other
 * store errors fail the request.
 */
export function session(options: SessionOptions = {}): Middleware {
  checkOptions(options, 'session()')
  const opts = resolve(options)
  const getOptions = opts.renew ? Object.freeze({ renewFor: opts.maxAge }) : undefined
  const setOptions = Object.freeze({ expiresIn: opts.maxAge })

  return async function sessionMiddleware(ctx, next) {
    extendContext(ctx.app)
    const store = storeFor(ctx, opts.store, 'session')
    const signed = opts.signed === 'auto' ? ctx.app.keys !== undefined : opts.signed
    if (signed && ctx.app.keys === undefined) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'session({ signed: true }) needs app.keys to sign the cookie', {
        details: { field: 'signed' },
      })
    }
    const raw = ctx.cookies.get(opts.key, { signed })
    const hadCookie = raw !== undefined || (signed && ctx.cookies.get(opts.key, { signed: false }) !== undefined)

    let id: string | undefined
    let data: Session | null = null
    let loaded: string | undefined
    let [bytes, degraded]: [Uint8Array | null, boolean] = [null, false]
    try {
      if (raw !== undefined && ID_PATTERN.test(raw)) bytes = await store.get(raw, getOptions)
    } catch (error) {
      if (!isStoreOutage(error)) throw error
      ctx.app.emit('error', error, ctx)
      if (opts.onStoreError === 'closed') return sendStoreUnavailable(ctx, 'the session')
      degraded = true // an empty session for this request: nothing is saved, the cookie is left alone
    }
    if (raw !== undefined && ID_PATTERN.test(raw)) {
      const text = bytes === null ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
      const decoded = text === undefined ? undefined : (decodeSession(text) as Session | undefined)
      if (decoded !== undefined) {
        id = raw
        data = decoded
        loaded = text
      } else if (bytes !== null) {
        // Not ours to guess at: start afresh (under a new id) and say so.
        const error = new FlagstoneError(
          'CORRUPT_VALUE',
          `session(): the session in store "${opts.store}" is not a superjson object; starting a new one`,
          {
            details: { store: opts.store },
          },
        )
        ctx.app.emit('error', error, ctx)
      }
    }
    const state = new SessionState(store, id, data, loaded, hadCookie && !degraded)
    ;(ctx as WithState)[STATE] = state

    await next()
    if (degraded) return
    try {
      await commit(ctx, state, signed)
    } catch (error) {
      if (!isStoreOutage(error)) throw error
      ctx.app.emit('error', error, ctx)
      if (opts.onStoreError === 'closed' && !ctx.headerSent) sendStoreUnavailable(ctx, 'the session')
    }
  }

  async function commit(ctx: Koa.Context, state: SessionState, signed: boolean): Promise<void> {
    const { store } = state
    if (!state.touched) {
      if (state.id !== undefined) {
        if (opts.renew) sendCookie(ctx, state.id, signed)
      } else if (state.hadCookie) {
        sendCookie(ctx, null, signed) // unknown, expired or forged: clear it
      }
      return
    }
    const deletes = state.stale.map((stale) => store.delete(stale))
    const data = state.data
    if (data === null || isEmpty(data)) {
      const id = state.id
      if (id !== undefined) deletes.push(store.delete(id))
      await Promise.all(deletes)
      if (id !== undefined) publish('session', { action: 'destroyed' })
      if (id !== undefined || state.hadCookie || state.stale.length > 0) sendCookie(ctx, null, signed)
      return
    }
    const serialised = serialiseSession(data)
    if (state.id === undefined) {
      const id = newId()
      await Promise.all([...deletes, store.set(id, serialised, setOptions)])
      publish('session', { action: 'created' })
      sendCookie(ctx, id, signed)
    } else if (serialised !== state.loaded) {
      await Promise.all([...deletes, store.set(state.id, serialised, setOptions)])
      sendCookie(ctx, state.id, signed)
    } else {
      await Promise.all(deletes)
      if (opts.renew) sendCookie(ctx, state.id, signed)
    }
  }

  function sendCookie(ctx: Koa.Context, id: string | null, signed: boolean): void {
    if (ctx.headerSent) return
    ctx.cookies.set(opts.key, id, {
      signed,
      httpOnly: opts.httpOnly,
      sameSite: opts.sameSite,
      secure: opts.secure === 'auto' ? ctx.secure : opts.secure,
      path: opts.path,
      ...(opts.domain === undefined ? {} : { domain: opts.domain }),
      ...(id === null ? {} : { maxAge: opts.maxAge }),
      overwrite: true,
    })
  }
}

declare module 'koa' {
  interface ExtendableContext {
    /**
     * The request's session (from `session()`): a plain object, `{}` when new. Assign `null` to
     * destroy it. Throws on a request the `session()` middleware did not handle.
     */
    get session(): Session
    set session(value: Session | null)
    /**
     * Deletes the current session from the store now and starts an empty one that will be saved
     * under a new id: call at login (no session fixation). From `session()`.
     */
    regenerateSession(): Promise<void>
  }
}
