/**
 * `responseCache(options)`: a shared server-side cache of whole responses (status, headers, body
 * bytes) in the `response_cache` store, for GET and HEAD.
 */
import { isStoreOutage, type OnStoreError, resolveOnStoreError, sendStoreUnavailable } from './store-errors.js'
import { createHash } from 'node:crypto'
import type { OutgoingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import type Koa from 'koa'
import type { Middleware } from 'koa'
import { FlagstoneError } from '../errors.js'
import { storeFor } from './stores.js'
import type { Store } from '../stores/index.js'
import { checkOptions } from '../internal/objects.js'

/** The cache key of a request; `null` / `undefined` bypasses the cache for it. */
export type ResponseCacheKey = (ctx: Koa.Context) => string | null | undefined | Promise<string | null | undefined>

export interface ResponseCacheOptions {
  /**
   * Name of the store in the registry.
   * @default 'response_cache'
   */
  store?: string
  /** The store is down: `'open'` computes every answer (uncached), `'closed'` answers 503. @default 'open' */
  onStoreError?: OnStoreError
  /**
   * How long a cached response is served, in ms (finite, > 0).
   * @default 60_000
   */
  ttl?: number
  /**
   * The cache key. Responses that depend on anything else (the user, a cookie, a header) must
   * put it in the key, or send `Cache-Control: private`.
   * @default method + path + query sorted by name, e.g. `GET /items?a=1&b=2` (host not included)
   */
  key?: ResponseCacheKey
  /**
   * Largest body cached, in bytes. A stream of unknown length is buffered up to this size; one
   * that turns out larger is passed through untouched and not cached.
   * @default 1_048_576 (1 MiB)
   */
  maxBodyBytes?: number
  /**
   * Cookies that make a request private: such a request is neither served from the cache nor
   * stored in it (its answer may be that user's). `'any'`: every request with a `Cookie` header.
   * List names (`['flagstone.sid']`) to let requests that carry only other cookies (analytics)
   * use the cache.
   * @default 'any'
   */
  privateCookies?: 'any' | readonly string[]
  /**
   * How long a request that misses waits for another request computing the same key (in this
   * process) before computing it itself, in ms.
   * @default 10_000
   */
  lockTimeout?: number
}

interface ResolvedOptions {
  readonly store: string
  readonly ttl: number
  readonly key: ResponseCacheKey
  readonly maxBodyBytes: number
  readonly privateCookies: 'any' | ReadonlySet<string>
  readonly lockTimeout: number
  readonly onStoreError: OnStoreError
}

function invalid(field: string, message: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `responseCache(): ${field} ${message}`, { details: { field } })
}

/** `GET /path?sorted=query`: parameters sorted by name (values of one name keep their order). */
export const defaultCacheKey: ResponseCacheKey = (ctx) => {
  const query = new URLSearchParams(ctx.querystring)
  query.sort()
  const search = query.toString()
  return search === '' ? `${ctx.method} ${ctx.path}` : `${ctx.method} ${ctx.path}?${search}`
}

function resolve(options: ResponseCacheOptions): ResolvedOptions {
  const {
    store = 'response_cache',
    ttl = 60_000,
    key = defaultCacheKey,
    maxBodyBytes = 1_048_576,
    privateCookies = 'any',
    lockTimeout = 10_000,
  } = options
  if (typeof store !== 'string' || store === '') throw invalid('store', 'must be a non-empty string')
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) throw invalid('ttl', 'must be a finite number of ms > 0')
  if (typeof key !== 'function') throw invalid('key', 'must be a function of the context')
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0 || maxBodyBytes > 16 * 1024 * 1024) {
    throw invalid('maxBodyBytes', 'must be an integer from 0 to 16 MiB')
  }
  if (
    privateCookies !== 'any' &&
    !(Array.isArray(privateCookies) && privateCookies.every((n) => typeof n === 'string' && n !== ''))
  ) {
    throw invalid('privateCookies', "must be 'any' or an array of cookie names")
  }
  if (!Number.isSafeInteger(lockTimeout) || lockTimeout < 0 || lockTimeout > 600_000) {
    throw invalid('lockTimeout', 'must be an integer number of ms from 0 to 600000')
  }
  const cookies = privateCookies === 'any' ? 'any' : new Set(privateCookies)
  const onStoreError = resolveOnStoreError(options.onStoreError, undefined, 'open', 'responseCache()')
  return Object.freeze({ store, ttl, key, maxBodyBytes, privateCookies: cookies, lockTimeout, onStoreError })
}

/** Headers that describe one transfer, not the resource, or that belong to other middleware. */
const UNCACHED_HEADERS = new Set([
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'x-cache',
  'retry-after',
])

type HeaderList = [name: string, value: string | string[]][]

interface Entry {
  status: number
  headers: HeaderList
  body: Buffer
  /** The request's values of the headers the response varies by (`Vary`), lower-case names. */
  vary: Array<[name: string, value: string]>
}

/** Entry bytes: 4-byte big-endian length of the JSON head (`{ s, h, v }`), the head, the body. */
function encodeEntry(entry: Entry): Buffer {
  const head = Buffer.from(JSON.stringify({ s: entry.status, h: entry.headers, v: entry.vary }))
  const size = Buffer.alloc(4)
  size.writeUInt32BE(head.length)
  return Buffer.concat([size, head, entry.body])
}

function decodeEntry(bytes: Uint8Array): Entry | undefined {
  try {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const headLength = buf.readUInt32BE(0)
    const head = JSON.parse(buf.subarray(4, 4 + headLength).toString('utf8')) as { s?: unknown; h?: unknown; v?: unknown }
    if (typeof head.s !== 'number' || !Array.isArray(head.h)) return undefined
    const vary = Array.isArray(head.v) ? (head.v as Entry['vary']) : []
    return { status: head.s, headers: head.h as HeaderList, body: buf.subarray(4 + headLength), vary }
  } catch {
    return undefined
  }
}

function sameHeader(a: OutgoingHttpHeaders[string], b: OutgoingHttpHeaders[string]): boolean {
  if (a === b) return true
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i])
}

/** Whether a request carries a cookie that makes it private (its answer may be one user's). */
function isPrivateRequest(ctx: Koa.Context, privateCookies: 'any' | ReadonlySet<string>): boolean {
  if (ctx.get('authorization') !== '') return true
  const header = ctx.get('cookie')
  if (header === '') return false
  if (privateCookies === 'any') return true
  for (const pair of header.split(';')) {
    const name = pair.split('=', 1)[0]?.trim() ?? ''
    if (privateCookies.has(name)) return true
  }
  return false
}

/** The request's values of the headers `vary` names; `undefined` for `Vary: *` (never cacheable). */
function varyValues(ctx: Koa.Context, vary: unknown): Entry['vary'] | undefined {
  if (vary === undefined) return []
  const names = String(vary)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '')
  if (names.includes('*')) return undefined
  return [...new Set(names)].sort().map((name) => [name, ctx.get(name)])
}

function sameVariant(ctx: Koa.Context, entry: Entry): boolean {
  return entry.vary.every(([name, value]) => ctx.get(name) === value)
}

/**
 * Whether the response may be cached, and the headers to store: the ones downstream middleware
 * added or changed (headers set before `responseCache` ran, e.g. by a rate limiter, are set again
 * on a hit by that same middleware).
 */
function cacheableHeaders(ctx: Koa.Context, before: OutgoingHttpHeaders): HeaderList | undefined {
  const status = ctx.status
  if (status < 200 || status > 299 || status === 206 || ctx.respond === false || ctx.headerSent) return undefined
  const after = ctx.response.headers
  if (after['set-cookie'] !== undefined) return undefined
  const cacheControl = String(after['cache-control'] ?? '').toLowerCase()
  if (/(?:^|[\s,])(?:no-store|private|no-cache)(?:$|[\s,=])/.test(cacheControl)) return undefined
  const headers: HeaderList = []
  for (const [name, value] of Object.entries(after)) {
    if (value === undefined || UNCACHED_HEADERS.has(name) || name.startsWith('ratelimit-')) continue
    if (sameHeader(before[name], value)) continue
    headers.push([name, typeof value === 'number' ? String(value) : value])
  }
  return headers
}

function isStream(body: unknown): body is Readable {
  return body instanceof Readable
}

type Drained = { bytes: Buffer } | { rest: Readable }

/** Reads `stream` up to `max` bytes; past that, gives back a stream that replays what was read. */
async function drain(stream: Readable, max: number): Promise<Drained> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>
  const chunks: Buffer[] = []
  let size = 0
  while (true) {
    const next = await iterator.next()
    if (next.done === true) return { bytes: Buffer.concat(chunks, size) }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
    chunks.push(chunk)
    size += chunk.length
    if (size > max) {
      const replay = async function* () {
        yield* chunks
        while (true) {
          const more = await iterator.next()
          if (more.done === true) return
          yield more.value
        }
      }
      return { rest: Readable.from(replay(), { objectMode: false }) }
    }
  }
}

/** The body's bytes, buffering a stream (and putting the bytes back as the body) if needed. */
async function bodyBytes(ctx: Koa.Context, max: number): Promise<Buffer | undefined> {
  const body: unknown = ctx.body
  if (body === null || body === undefined) return ctx.status === 204 ? Buffer.alloc(0) : undefined
  if (typeof body === 'string') return Buffer.from(body)
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  if (isStream(body)) {
    const known = ctx.response.length
    if (typeof known === 'number' && known > max) return undefined
    const drained = await drain(body, max)
    if ('rest' in drained) {
      ctx.body = drained.rest
      return undefined
    }
    ctx.body = drained.bytes
    return drained.bytes
  }
  // Koa 3 also sends Blob, ReadableStream and Response bodies: passed through, not cached.
  if (typeof body === 'object' && !(body instanceof Blob) && !(body instanceof ReadableStream) && !(body instanceof Response)) {
    return Buffer.from(JSON.stringify(body)) // what Koa sends for an object body
  }
  return undefined
}

function cacheKey(raw: string): string {
  return raw.length * 3 <= 512 || Buffer.byteLength(raw) <= 512
    ? raw
    : `#sha256:${createHash('sha256').update(raw).digest('base64url')}`
}

function serveEntry(ctx: Koa.Context, entry: Entry): void {
  ctx.status = entry.status
  for (const [name, value] of entry.headers) ctx.set(name, value)
  ctx.body = entry.status === 204 || entry.status === 205 ? null : entry.body
  ctx.set('X-Cache', 'HIT')
}

/** `promise`'s value, or `undefined` once `ms` have passed (a stuck computation must not hold its waiters forever). */
async function waitAtMost<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Caches 2xx responses (except 206) to GET and HEAD requests for `ttl` ms and serves them again
 * without running the middleware below it, with `X-Cache: HIT` (`MISS` on every other GET/HEAD
 * answer that went downstream).
 *
 * Private by default: a request with `Authorization` or a cookie (`privateCookies`) or `Range`
 * bypasses the cache entirely; responses with `Set-Cookie`, `Cache-Control: no-store | private |
 * no-cache`, `Vary: *`, a body over `maxBodyBytes`, or a Blob / web stream body are not cached.
 * `Vary`: an entry is served only to requests with the same values of the headers it names.
 * Stampedes: while one request computes a key, others that miss it in this process wait for it
 * (at most `lockTimeout`) and are served its answer if it was cacheable (other processes compute
 * their own). A store failure never fails the request: it is
 * reported with `ctx.app.emit('error', err, ctx)` and the request is served uncached.
 *
 * Place it after middleware whose headers must be fresh on every request (rate limits, sessions,
 * compression): what they do around it still happens on a hit.
 */
export function responseCache(options: ResponseCacheOptions = {}): Middleware {
  checkOptions(options, 'responseCache()')
  const opts = resolve(options)
  const setOptions = Object.freeze({ expiresIn: opts.ttl })
  /** Keys being computed in this process, with the entry the computation stored (`undefined`: none). */
  const inflight = new Map<string, Promise<Entry | undefined>>()

  /** Runs the rest of the chain and stores the answer if it may be cached; returns what was stored. */
  async function compute(ctx: Koa.Context, next: Koa.Next, store: Store, key: string): Promise<Entry | undefined> {
    const before = ctx.response.headers
    await next()
    if (ctx.respond === false || ctx.headerSent) return undefined
    ctx.set('X-Cache', 'MISS')
    const headers = cacheableHeaders(ctx, before)
    if (headers === undefined) return undefined
    const vary = varyValues(ctx, ctx.response.get('vary') || undefined)
    if (vary === undefined) return undefined
    const body = await bodyBytes(ctx, opts.maxBodyBytes)
    if (body === undefined || body.length > opts.maxBodyBytes) return undefined
    const entry: Entry = { status: ctx.status, headers, body, vary }
    try {
      await store.set(key, encodeEntry(entry), setOptions)
    } catch (error) {
      ctx.app.emit('error', error, ctx)
    }
    return entry
  }

  return async function responseCacheMiddleware(ctx, next) {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.get('range') !== '' || isPrivateRequest(ctx, opts.privateCookies))
      return next()
    const rawKey = await opts.key(ctx)
    if (rawKey === null || rawKey === undefined) return next()
    const store = storeFor(ctx, opts.store, 'responseCache')
    const key = cacheKey(String(rawKey))

    let cached: Uint8Array | null = null
    try {
      cached = await store.get(key)
    } catch (error) {
      ctx.app.emit('error', error, ctx)
      if (opts.onStoreError === 'closed' && isStoreOutage(error)) return sendStoreUnavailable(ctx, 'the response cache')
    }
    const entry = cached === null ? undefined : decodeEntry(cached)
    if (entry !== undefined && sameVariant(ctx, entry)) return serveEntry(ctx, entry)

    const running = inflight.get(key)
    if (running !== undefined) {
      const shared = await waitAtMost(running, opts.lockTimeout)
      if (shared !== undefined && sameVariant(ctx, shared)) return serveEntry(ctx, shared)
      await compute(ctx, next, store, key) // not shareable (private, another variant, too slow): our own answer
      return
    }
    let settle: (entry: Entry | undefined) => void = () => undefined
    const promise = new Promise<Entry | undefined>((resolve) => (settle = resolve))
    inflight.set(key, promise)
    try {
      settle(await compute(ctx, next, store, key))
    } finally {
      settle(undefined)
      if (inflight.get(key) === promise) inflight.delete(key)
    }
  }
}
