/**
 * The admin API over fetch: `Authorization: Bearer <token>` from sessionStorage (gone when the tab
 * closes; never a cookie, so no CSRF surface), `If-Match: "<version>"` on every flag write, and
 * failures as `ApiError` with the status, the code and the field the server named.
 */
import type { FeatureFlag } from './model.ts'

const TOKEN_KEY = 'flagstone.admin.token'
const ACTOR_KEY = 'flagstone.admin.actor'
/** The API sits beside the UI: /admin/ → /admin/api/. */
const BASE = new URL('api/', document.baseURI).pathname

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message)
  }
  /** Someone else saved first: 412 (stale If-Match) or 409 (stale version / already exists). */
  get conflict(): boolean {
    return this.status === 412 || this.status === 409
  }
}

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  actor: (): string => sessionStorage.getItem(ACTOR_KEY) ?? '',
  signIn(token: string, actor: string): void {
    sessionStorage.setItem(TOKEN_KEY, token)
    if (actor === '') sessionStorage.removeItem(ACTOR_KEY)
    else sessionStorage.setItem(ACTOR_KEY, actor)
  },
  signOut(): void {
    sessionStorage.removeItem(TOKEN_KEY)
    sessionStorage.removeItem(ACTOR_KEY)
  },
}

/** Called on any 401 after sign-in (token rotated, server restarted with a new one). */
let onUnauthorized: () => void = () => undefined
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler
}

export interface Reply<T> {
  data: T
  /** The flag version from `ETag: "<n>"`, when the answer has one. */
  version: number | undefined
  /** The raw `ETag` (a segment's, environment's or override's is a digest, `"c-…"`). */
  etag: string | undefined
}

export interface RequestOptions {
  body?: unknown
  /** Sent as `If-Match: "<version>"`: the write fails with 412 if the flag moved on. */
  version?: number
  /** Sent as `If-Match` as is: an `etag` read before, or `*` (a delete the user asked for by name). */
  ifMatch?: string
  /** Overrides the stored token (sign-in checks a token before storing it). */
  token?: string
  query?: Record<string, string | number | undefined>
}

/** Someone else changed what this screen shows: the same notice as a 412 from the server. */
export function staleError(): ApiError {
  return new ApiError(412, 'PRECONDITION_FAILED', MESSAGES[412]!)
}

const MESSAGES: Record<number, string> = {
  412: 'Someone else saved this flag since you opened it. Nothing was saved: reload to see their change, then redo yours.',
  503: 'The flag store is unavailable right now. Nothing was saved; try again shortly.',
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<Reply<T>> {
  const token = options.token ?? session.token() ?? ''
  const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${token}` }
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  if (options.version !== undefined) headers['if-match'] = `"${options.version}"`
  if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch
  const actor = session.actor()
  if (actor !== '') headers['x-flagstone-actor'] = actor
  const query = Object.entries(options.query ?? {}).filter(
    (e): e is [string, string | number] => e[1] !== undefined && e[1] !== '',
  )
  const search = query.length === 0 ? '' : `?${new URLSearchParams(query.map(([k, v]) => [k, String(v)])).toString()}`
  let response: Response
  try {
    response = await fetch(`${BASE}${path}${search}`, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      cache: 'no-store',
    })
  } catch {
    throw new ApiError(0, 'NETWORK', 'Cannot reach the server. Check that it is running, then try again.')
  }
  const etag = /^(?:W\/)?"(\d+)"$/.exec(response.headers.get('etag') ?? '')
  const version = etag === null ? undefined : Number(etag[1])
  const text = await response.text()
  let json: unknown = undefined
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; details?: { field?: unknown } } } | undefined)?.error
    const field = typeof error?.details?.field === 'string' ? error.details.field : undefined
    if (response.status === 401 && options.token === undefined) onUnauthorized()
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      MESSAGES[response.status] ?? error?.message ?? `The server answered ${response.status} ${response.statusText}`,
      field,
    )
  }
  return { data: json as T, version, etag: response.headers.get('etag') ?? undefined }
}

export interface Page<T> {
  items: T[]
  total: number
}

/** Every item of a paginated collection (500 per request, the API's largest page). */
export async function listAll<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T[]> {
  const items: T[] = []
  for (let offset = 0; ; offset += 500) {
    const { data } = await request<Page<T>>('GET', path, { query: { ...query, limit: 500, offset } })
    items.push(...data.items)
    if (data.items.length < 500 || items.length >= data.total) return items
  }
}

export const enc = encodeURIComponent

/** A flag with its version (from the document and the ETag, which agree). */
export async function getFlag(key: string): Promise<FeatureFlag> {
  const { data } = await request<FeatureFlag>('GET', `flags/${enc(key)}`)
  return data
}

/** `error.message` when `error` is one, else a string form: what the UI shows. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
