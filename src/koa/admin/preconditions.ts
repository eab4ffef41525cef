/**
 * Preconditions for destructive admin writes (issue 10 item 6). A flag has a version; segments,
 * environments, environment flag settings and overrides do not, so their `ETag` is a digest of
 * the document as stored (`"c-<hex>"`). Every DELETE needs `If-Match` (428 without, 412 when
 * stale, `*` for "whatever is there"), as `PUT /flags/:key` does; a PUT of these documents honours
 * `If-Match` when sent. Writing a protected environment's flag settings needs `confirm`, as
 * promotion into it does.
 *
 * The `If-Match` check of these documents runs inside the repository's write (`documentCondition`
 * makes it a `WriteCondition`), on the document the write found: checked before the write, two
 * admins sending the same `If-Match` at once could both pass and one update be lost.
 */
import { createHash } from 'node:crypto'
import { FlagstoneError } from '../../errors.js'
import type { Environment, WriteCondition } from '../../flags/index.js'
import { HttpProblem, ifMatchOf, type Precondition } from './http.js'
import type { Ctx } from './kit.js'

/** `If-Match` of a destructive write: 428 PRECONDITION_REQUIRED without one. */
export function requireIfMatch(ctx: Ctx, what: string): Precondition {
  const precondition = ifMatchOf(ctx)
  if (precondition.source === 'none') {
    throw new HttpProblem(
      428,
      'PRECONDITION_REQUIRED',
      `${ctx.method} of ${what} needs If-Match: the ETag you read (or * for whatever is there)`,
      { field: 'If-Match' },
    )
  }
  return precondition
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

/** The strong entity tag of an unversioned document. */
export function documentEtag(document: unknown): string {
  return `"c-${createHash('sha256').update(canonical(document)).digest('hex').slice(0, 20)}"`
}

/** Answers `document` with its `ETag`. */
export function sendDocument(ctx: Ctx, status: number, document: unknown): void {
  ctx.status = status
  ctx.set('ETag', documentEtag(document))
  if (status !== 204) ctx.body = document
}

const TAG_LIST = /"[^"]*"|\*/g

/**
 * 412 unless `If-Match` is absent (when not `required`), `*` with a document there, or names the
 * document's current tag. `current` null: nothing is there, which only an absent header accepts.
 */
export function checkDocument(ctx: Ctx, current: unknown, what: string, required: boolean): void {
  const header = ctx.get('if-match').trim()
  if (header === '') {
    if (required) requireIfMatch(ctx, what)
    return
  }
  const tags: string[] = header.match(TAG_LIST) ?? []
  if (tags.length === 0) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'If-Match: must be * or a list of entity tags', {
      details: { field: 'If-Match' },
    })
  }
  if (current !== null && (tags.includes('*') || tags.includes(documentEtag(current)))) return
  throw new FlagstoneError('PRECONDITION_FAILED', `${what} changed since it was read (If-Match is stale); read it again`, {
    details: { field: 'If-Match' },
  })
}

/** A document's `If-Match` check to run inside the repository's write, and what that write found. */
export interface DocumentCondition<T> {
  readonly condition: WriteCondition<T>
  /** The document the write replaced or deleted (`null`: none, or the write did not run): the audit's `before`. */
  readonly before: () => T | null
}

/**
 * `checkDocument` as a repository `WriteCondition`. A missing document: `missing()` is thrown when
 * given (an update of something that must exist); a `required` check (a DELETE) lets the write
 * find nothing to delete; otherwise only an absent `If-Match` accepts it (a create-or-replace).
 */
export function documentCondition<T>(ctx: Ctx, what: string, required: boolean, missing?: () => Error): DocumentCondition<T> {
  let found: T | null = null
  return {
    condition: (current) => {
      found = current
      if (current === null && missing !== undefined) throw missing()
      if (current === null && required) return
      checkDocument(ctx, current, what, required)
    },
    before: () => found,
  }
}

/** 403 unless `confirm` is true when `environment` is protected. */
export function requireConfirm(environment: Environment, confirm: unknown, what: string): void {
  if (confirm !== undefined && typeof confirm !== 'boolean') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'confirm: must be a boolean', { details: { field: 'confirm' } })
  }
  if (environment.settings.protected === true && confirm !== true) {
    throw new FlagstoneError(
      'FORBIDDEN',
      `environment "${environment.slug}" is protected: ${what} with confirm (true) to change it`,
      { details: { field: 'confirm', environment: environment.slug } },
    )
  }
}

/** `?confirm=true` of a DELETE (it has no body). */
export function confirmQuery(ctx: Ctx): boolean | undefined {
  const raw = ctx.query.confirm
  if (raw === undefined) return undefined
  if (raw === 'true') return true
  if (raw === 'false') return false
  throw new FlagstoneError('INVALID_ARGUMENT', 'confirm: must be true or false', { details: { field: 'confirm' } })
}
