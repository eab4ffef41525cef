/**
 * The HTTP plumbing of the admin API (`admin.ts`): bounded JSON bodies, the one error-mapping
 * middleware, pagination and `If-Match` preconditions. Authentication is in `admin-auth.ts`.
 */
import type { Context, Middleware, ParameterizedContext } from 'koa'
import { FLAGSTONE_ERROR_CODES, FlagstoneError, type FlagstoneErrorCode } from '../../errors.js'
import { FORBIDDEN_KEYS } from '../../internal/objects.js'
import { sendJsonError } from '../json-error.js'
import { sendStoreUnavailable } from '../store-errors.js'

type AnyContext = Context | ParameterizedContext

// ---- errors that exist only over HTTP ----

/** Codes only the HTTP layer answers: no `FlagstoneError` carries them. */
const HTTP_ERROR_CODES = [
  'UNAUTHENTICATED',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'PRECONDITION_REQUIRED',
  'METHOD_NOT_ALLOWED',
  'NOT_IMPLEMENTED',
  'BAD_REQUEST',
  'INTERNAL',
] as const

/** Every `error.code` the admin API answers. */
export const ADMIN_ERROR_CODES = [...FLAGSTONE_ERROR_CODES, ...HTTP_ERROR_CODES] as const
export type AdminErrorCode = (typeof ADMIN_ERROR_CODES)[number]

/** A failure with its own HTTP status (401, 413, 415, 428, …): codes that are not `FlagstoneErrorCode`s. */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem'
  constructor(
    readonly status: number,
    readonly code: (typeof HTTP_ERROR_CODES)[number] | 'NOT_FOUND',
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message)
  }
}

/** HTTP status for each FlagstoneError code; 5xx ones answer a generic message. */
const STATUS: Readonly<Record<FlagstoneErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  NOT_CONFIGURED: 500,
  UNSUPPORTED: 405,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  VALUE_TOO_LARGE: 413,
  CORRUPT_VALUE: 500,
  DUPLICATE_STORE: 500,
  STORE_UNAVAILABLE: 503,
  STORE_CLOSED: 503,
}

const GENERIC: Readonly<Record<number, string>> = {
  500: 'internal error: the server logged the details',
  503: 'the flag store is unavailable; try again shortly',
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

interface Layered {
  readonly matched?: ReadonlyArray<{ readonly methods: readonly string[] }>
}

/** Methods the routes matching this request's path answer (what an `Allow` header lists). */
function allowedMethods(ctx: AnyContext, safeOnly = false): string {
  const methods = new Set<string>()
  for (const layer of (ctx as unknown as Layered).matched ?? []) {
    for (const method of layer.methods) if (!safeOnly || !UNSAFE_METHODS.has(method)) methods.add(method)
  }
  return [...methods].join(', ')
}

/** The admin API's one way to answer an error: `code` is one of `ADMIN_ERROR_CODES`. */
function answer(
  ctx: AnyContext,
  status: number,
  code: AdminErrorCode,
  message: string,
  details?: Readonly<Record<string, unknown>>,
) {
  sendJsonError(ctx, status, code, message, details)
}

function statusOf(error: unknown): number | undefined {
  const status =
    (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : undefined
}

/**
 * Answers `error` as `{ error: { code, message, details } }`; 5xx answers say nothing about the
 * cause, which goes to `app.emit('error')`.
 */
export function respondWithError(ctx: AnyContext, error: unknown): void {
  // Headers a handler set before failing (ETag, Location) must not describe an error answer.
  for (const name of ['etag', 'location', 'allow', 'www-authenticate']) ctx.remove(name)
  // A body nobody read (refused before parsing: 401, 415, 413) is not worth draining: close instead.
  if (!ctx.req.readableEnded && ((ctx.request.length ?? 0) > 0 || ctx.get('transfer-encoding') !== ''))
    ctx.set('Connection', 'close')
  if (error instanceof HttpProblem) {
    for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value)
    answer(ctx, error.status, error.code, error.message, error.details)
    if (error.status >= 500) ctx.app.emit('error', error, ctx)
    return
  }
  if (error instanceof FlagstoneError) {
    const status = STATUS[error.code] ?? 500
    if (status >= 500) {
      if (status === 503) sendStoreUnavailable(ctx, 'the flag store')
      else answer(ctx, status, error.code, GENERIC[status] ?? GENERIC[500]!)
      ctx.app.emit('error', error, ctx)
      return
    }
    if (error.code === 'UNSUPPORTED') {
      // A read-only repository (the static one): the route exists, writing through it does not.
      ctx.set('Allow', allowedMethods(ctx, true))
      answer(ctx, 405, 'UNSUPPORTED', 'this flag repository is read-only', {})
      return
    }
    answer(ctx, status, error.code, error.message, error.details ?? {})
    return
  }
  const status = statusOf(error)
  if (status === 405) {
    ctx.set('Allow', allowedMethods(ctx))
    answer(ctx, 405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}`, {
      allowed: allowedMethods(ctx).split(', ').filter(Boolean),
    })
    return
  }
  if (status === 501) {
    answer(ctx, 501, 'NOT_IMPLEMENTED', `method ${JSON.stringify(ctx.method.slice(0, 32))} is not implemented`)
    return
  }
  if (status !== undefined && status < 500 && (error as { expose?: unknown }).expose === true) {
    answer(ctx, status, 'BAD_REQUEST', error instanceof Error ? error.message.slice(0, 200) : 'bad request')
    return
  }
  answer(ctx, 500, 'INTERNAL', GENERIC[500]!)
  ctx.app.emit('error', error, ctx)
}

/**
 * The admin API's error boundary: every failure below it becomes a JSON error, and a request that
 * no route answered becomes a JSON 404. Responses are never cached (`Cache-Control: no-store`).
 */
export function errorBoundary(): Middleware {
  return async function adminErrors(ctx, next) {
    ctx.set('Cache-Control', 'no-store')
    try {
      await next()
      if (ctx.status === 404 && ctx.body == null) {
        throw new HttpProblem(404, 'NOT_FOUND', `no route ${ctx.method} ${ctx.path.slice(0, 200)}`)
      }
    } catch (error) {
      respondWithError(ctx, error)
    }
  }
}

// ---- JSON bodies ----

/** @default 1 MiB */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
/** Deeper bodies are refused before any validator walks them (flag documents need about 8 levels, metadata 32). */
export const MAX_BODY_DEPTH = 64
const JSON_TYPE = /^application\/(?:[a-z0-9.!#$&^_-]+\+)?json$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

function bad(field: string, message: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `${field}: ${message}`, { details: { field } })
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  return path === '' ? key : `${path}.${key}`
}

/**
 * Refuses bodies nested deeper than `MAX_BODY_DEPTH` and keys that pollute prototypes anywhere
 * (`JSON.parse` makes `"__proto__"` an own property; merging such an object would not). Iterative,
 * so 100,000 levels of nesting cost a loop, not a stack overflow.
 */
export function checkJsonStructure(value: unknown): void {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: '', depth: 0 }]
  while (stack.length > 0) {
    const { value: node, path, depth } = stack.pop()!
    if (node === null || typeof node !== 'object') continue
    if (depth >= MAX_BODY_DEPTH) throw bad(path === '' ? '(body)' : path, `nested deeper than ${MAX_BODY_DEPTH} levels`)
    if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push({ value: item, path: join(path, i), depth: depth + 1 }))
      continue
    }
    for (const key of Object.keys(node)) {
      if (FORBIDDEN_KEYS.has(key)) throw bad(join(path, key), 'this key is not allowed (prototype pollution)')
      stack.push({ value: (node as Record<string, unknown>)[key], path: join(path, key), depth: depth + 1 })
    }
  }
}

/**
 * The request's JSON body: `Content-Type` must be JSON (`application/json` or `application/*+json`,
 * UTF-8), at most `maxBytes` (413 beyond, without reading further), well-formed (400), not empty,
 * and free of prototype-pollution keys and excessive nesting (400 naming the path).
 */
export async function readJson(ctx: AnyContext, maxBytes: number): Promise<unknown> {
  // Media types are case-insensitive (RFC 9110 §8.3.1); Koa's `type` keeps the client's case.
  const type = ctx.request.type.trim().toLowerCase()
  if (!JSON_TYPE.test(type)) {
    throw new HttpProblem(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type must be application/json, got ${JSON.stringify(type.slice(0, 100) || '(none)')}`,
      {
        field: 'Content-Type',
      },
    )
  }
  const charset = ctx.request.charset.toLowerCase()
  if (charset !== '' && charset !== 'utf-8' && charset !== 'utf8') {
    throw new HttpProblem(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `JSON bodies must be UTF-8, got charset ${JSON.stringify(charset.slice(0, 40))}`,
      {
        field: 'Content-Type',
      },
    )
  }
  const encoding = ctx.get('content-encoding').toLowerCase()
  if (encoding !== '' && encoding !== 'identity') {
    throw new HttpProblem(415, 'UNSUPPORTED_MEDIA_TYPE', 'compressed request bodies are not accepted', {
      field: 'Content-Encoding',
    })
  }
  const tooLarge = () =>
    new HttpProblem(
      413,
      'PAYLOAD_TOO_LARGE',
      `request body is larger than ${maxBytes} bytes`,
      { limit: maxBytes },
      { Connection: 'close' },
    )
  // Another body parser may have read the stream already.
  const parsed = (ctx.request as { body?: unknown }).body
  let value: unknown
  if (parsed !== undefined) {
    value = parsed
  } else {
    const declared = ctx.request.length
    if (declared !== undefined && declared > maxBytes) throw tooLarge()
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > maxBytes) {
        ctx.req.pause()
        throw tooLarge()
      }
      chunks.push(chunk)
    }
    let text: string
    try {
      text = utf8.decode(Buffer.concat(chunks, size))
    } catch {
      throw bad('(body)', 'is not valid UTF-8')
    }
    if (text.trim() === '') throw bad('(body)', 'a JSON body is required')
    try {
      value = JSON.parse(text)
    } catch (error) {
      const reason = error instanceof Error ? error.message.slice(0, 160) : 'unreadable'
      throw new FlagstoneError('INVALID_ARGUMENT', `(body): malformed JSON: ${reason}`, { details: { field: '(body)' } })
    }
  }
  checkJsonStructure(value)
  return value
}

// ---- pagination ----

export interface Page {
  readonly limit: number
  readonly offset: number
}

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 500

function queryInteger(ctx: AnyContext, name: string, fallback: number, max: number): number {
  const raw = ctx.query[name]
  if (raw === undefined) return fallback
  if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw) || Number(raw) > max) {
    throw bad(name, `must be an integer from 0 to ${max}`)
  }
  return Number(raw)
}

/** `?limit` (default 50, 1..500) and `?offset` (default 0). */
export function pageOf(ctx: AnyContext): Page {
  const limit = queryInteger(ctx, 'limit', DEFAULT_LIMIT, MAX_LIMIT)
  if (limit === 0) throw bad('limit', `must be an integer from 1 to ${MAX_LIMIT}`)
  return { limit, offset: queryInteger(ctx, 'offset', 0, 1e9) }
}

/** An optional single string query parameter, at most `max` characters. */
export function queryString(ctx: AnyContext, name: string, max = 256): string | undefined {
  const raw = ctx.query[name]
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || raw.length > max) throw bad(name, `must be one string of at most ${max} characters`)
  return raw
}

export function paginate<T>(items: readonly T[], page: Page): { items: T[]; total: number; limit: number; offset: number } {
  return { items: items.slice(page.offset, page.offset + page.limit), total: items.length, ...page }
}

// ---- preconditions (flag versions) ----

/**
 * What a write expects of the flag's version: `If-Match` (stale → 412), a `version` field in the
 * body (stale → 409), or nothing.
 */
export type Precondition =
  | { readonly source: 'if-match'; readonly any: boolean; readonly versions: ReadonlySet<number> }
  | { readonly source: 'body'; readonly version: number }
  | { readonly source: 'none' }

const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e]*)"$/

/** Parses `If-Match` (`*`, or a list of entity tags; weak tags never match). 400 when malformed. */
export function ifMatchOf(ctx: AnyContext): Precondition {
  const header = ctx.get('if-match').trim()
  if (header === '') return { source: 'none' }
  if (header === '*') return { source: 'if-match', any: true, versions: new Set() }
  const versions = new Set<number>()
  for (const part of header.split(',')) {
    const match = ENTITY_TAG.exec(part.trim())
    if (match === null) throw bad('If-Match', 'must be * or a list of entity tags such as "3"')
    if (match[1] === undefined && /^[1-9]\d{0,15}$/.test(match[2]!)) versions.add(Number(match[2]))
  }
  return { source: 'if-match', any: false, versions }
}

/** `If-Match`, else a `version` in `body` (a positive integer); both given must agree. */
export function preconditionOf(ctx: AnyContext, body: unknown): Precondition {
  const header = ifMatchOf(ctx)
  const raw =
    body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as { version?: unknown }).version : undefined
  if (raw === undefined) return header
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 1) throw bad('version', 'must be a positive integer')
  if (header.source !== 'if-match' || header.any) return { source: 'body', version: raw }
  if (header.versions.size !== 1 || !header.versions.has(raw)) throw bad('version', 'disagrees with If-Match')
  return header
}

/** Throws 412 (If-Match) or 409 (body version) unless `version` satisfies the precondition. */
export function checkPrecondition(precondition: Precondition, version: number, what: string): void {
  if (precondition.source === 'if-match' && !precondition.any && !precondition.versions.has(version)) {
    throw new FlagstoneError(
      'PRECONDITION_FAILED',
      `${what} is at version ${version}, not the one If-Match names; read it again`,
      {
        details: { field: 'If-Match', version },
      },
    )
  }
  if (precondition.source === 'body' && precondition.version !== version) {
    throw new FlagstoneError('CONFLICT', `${what} is at version ${version}, not ${precondition.version}; read it again`, {
      details: { field: 'version', version },
    })
  }
}

/** The strong entity tag of a flag version. */
export const etagOf = (version: number) => `"${version}"`
