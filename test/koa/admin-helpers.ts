/** Real HTTP against the admin API: a Koa app with `adminRouter` on an ephemeral port, and a small JSON client. */
import Koa from 'koa'
import { expect } from 'vitest'
import type { FlagRepository, SnapshotData } from '../../src/flags/repositories/repository.js'
import { StoreFlagRepository } from '../../src/flags/repositories/store-repository.js'
import { type AdminRouter, type AdminRouterOptions, adminRouter } from '../../src/koa/index.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { collectErrors, type Served, serve } from './helpers.js'

export const TOKEN = 'test-admin-token-0123456789abcdef'
export const PREFIX = '/admin/api'

export interface ApiResponse {
  status: number
  headers: Headers
  /** Parsed JSON, or `undefined` for an empty body. */
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any -- test convenience: responses are asserted field by field
  text: string
}

export interface RequestOptions {
  headers?: Record<string, string>
  /** A raw body (sent as is); objects are JSON-encoded. */
  raw?: string | Uint8Array
  token?: string | null
}

export interface Admin {
  app: Koa
  served: Served
  url: string
  repository: FlagRepository
  /** The admin API's @koa/router (its route table). */
  router: AdminRouter['router']
  errors: unknown[]
  api(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<ApiResponse>
}

export async function startAdmin(options: Partial<AdminRouterOptions> = {}): Promise<Admin> {
  const repository = options.repository ?? new StoreFlagRepository(new MemoryStore())
  const app = new Koa()
  const errors = collectErrors(app)
  const admin = adminRouter({ repository, auth: { token: TOKEN }, ...options })
  app.use(admin)
  const { router } = admin
  app.use((ctx) => {
    ctx.body = { outside: true }
  })
  const served = await serve(app)
  const api = async (method: string, path: string, body?: unknown, request: RequestOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = {}
    const token = request.token === undefined ? TOKEN : request.token
    if (token !== null) headers.authorization = `Bearer ${token}`
    let payload: string | Uint8Array | undefined = request.raw
    if (payload === undefined && body !== undefined) payload = JSON.stringify(body)
    if (payload !== undefined) headers['content-type'] = 'application/json'
    Object.assign(headers, request.headers)
    const response = await fetch(served.url + (path.startsWith('/') && !path.startsWith(PREFIX) ? PREFIX + path : path), {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    })
    const text = await response.text()
    let parsed: unknown
    if (text !== '') {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
    }
    return { status: response.status, headers: response.headers, body: parsed, text }
  }
  return { app, served, url: served.url, repository, router, errors, api }
}

/** Every answer of the admin API that has a body is a JSON `{ error: { code, message, details } }` when it is an error. */
export function expectJsonError(response: ApiResponse, status?: number, code?: string): void {
  if (status !== undefined) expect(response.status, response.text).toBe(status)
  expect(response.headers.get('content-type') ?? '').toMatch(/^application\/(problem\+)?json/) // 503s are problem documents
  expect(typeof response.body?.error?.code, response.text).toBe('string')
  expect(typeof response.body?.error?.message).toBe('string')
  expect(typeof response.body?.error?.details).toBe('object')
  if (code !== undefined) expect(response.body.error.code).toBe(code)
}

/** A snapshot with its lists in a stable order, for before / after comparisons. */
export function normalise(snapshot: SnapshotData): unknown {
  const by = <T>(items: readonly T[], key: (item: T) => string) =>
    [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
  return JSON.parse(
    JSON.stringify({
      revision: snapshot.revision,
      flags: by(snapshot.flags, (f) => f.key),
      overrides: by(snapshot.overrides, (o) => `${o.flagKey}/${o.entityType}/${o.entityId}`),
      segments: by(snapshot.segments, (s) => s.key),
      environments: by(snapshot.environments, (e) => e.slug),
      environmentFlags: by(snapshot.environmentFlags, (e) => `${e.flagKey}/${e.environment}`),
      corrupt: snapshot.corrupt,
    }),
  )
}

/** mulberry32: a small seeded PRNG, so a failing case can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
