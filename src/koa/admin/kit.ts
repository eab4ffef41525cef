/**
 * What the admin API's route files share: the repository, the audit trail, body reading, path
 * parameter checks and `editFlag`, the one read-check-write loop every flag change goes through.
 */
import { randomBytes } from 'node:crypto'
import type { RouterContext } from '@koa/router'
import type { Context } from 'koa'
import { FlagstoneError, isFlagstoneError } from '../../errors.js'
import {
  ID_PATTERN,
  validateFlagInput,
  ENVIRONMENT_SLUG_PATTERN,
  FLAG_KEY_PATTERN,
  type FeatureFlag,
  type FlagInput,
  type FlagRepository,
} from '../../flags/index.js'
import type { AuditLog, AuditRecord } from './audit.js'
import type { Principal } from './auth.js'
import { checkPrecondition, etagOf, type Precondition, readJson } from './http.js'

export type Ctx = RouterContext

/** Attempts of a read-modify-write whose client pinned no version, before answering 409. */
const MAX_ATTEMPTS = 8

export interface AdminKit {
  readonly repository: FlagRepository
  /** The mount prefix, for `Location` headers. */
  readonly prefix: string
  /** The request's JSON body (bounded, checked for structure). */
  body(ctx: Ctx): Promise<unknown>
  /** Records a change in the audit trail as the request's principal; a failed write is reported, not thrown. */
  audit(ctx: Ctx, record: Omit<AuditRecord, 'actor' | 'claimedActor'>): Promise<void>
  principal(ctx: Ctx): Principal
}

export interface KitOptions {
  readonly repository: FlagRepository
  readonly prefix: string
  readonly maxBodyBytes: number
  readonly audit: AuditLog
  readonly principals: WeakMap<object, Principal>
}

export function createKit(options: KitOptions): AdminKit {
  const principal = (ctx: Ctx): Principal => options.principals.get(ctx) ?? { actor: 'unknown', claimedActor: undefined }
  return {
    repository: options.repository,
    prefix: options.prefix,
    body: (ctx) => readJson(ctx, options.maxBodyBytes),
    principal,
    async audit(ctx, record) {
      const who = principal(ctx)
      try {
        await options.audit.record({ ...record, actor: who.actor, claimedActor: who.claimedActor })
      } catch (error) {
        // The change is done and cannot be taken back: failing the request would make the client
        // repeat a change that happened. Say so in a header and report it to the app.
        ctx.set('Flagstone-Audit', 'failed')
        ctx.app.emit(
          'error',
          new FlagstoneError(
            'STORE_UNAVAILABLE',
            `admin API: the audit entry for ${record.action} ${record.target} could not be written`,
            {
              cause: error,
              details: { action: record.action, target: record.target },
            },
          ),
          ctx,
        )
      }
    },
  }
}

// ---- path parameters: checked before they reach a store key ----

function notFound(what: string, id: string): FlagstoneError {
  const shown = id.length > 128 ? `${id.slice(0, 128)}…` : id
  return new FlagstoneError('NOT_FOUND', `${what} "${shown}" does not exist`, {
    details: { [what === 'flag' ? 'key' : 'id']: shown },
  })
}

function param(ctx: Ctx, name: string): string {
  return ctx.params[name] ?? ''
}

/** `:key` as a flag key; a key that cannot exist answers 404. */
export function flagKeyParam(ctx: Ctx, name = 'key', what = 'flag'): string {
  const key = param(ctx, name)
  if (!FLAG_KEY_PATTERN.test(key)) throw notFound(what, key)
  return key
}

export function slugParam(ctx: Ctx, name = 'slug'): string {
  const slug = param(ctx, name)
  if (!ENVIRONMENT_SLUG_PATTERN.test(slug)) throw notFound('environment', slug)
  return slug
}

/** Rule, variant and scheduled-change ids. */
export function idParam(ctx: Ctx, name: string, what: string): string {
  const id = param(ctx, name)
  if (!ID_PATTERN.test(id)) throw notFound(what, id)
  return id
}

const ENTITY_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/
/** Encoded entity ids beyond this would make store keys longer than stores accept (1 KiB with the namespace). */
const MAX_ENCODED_ENTITY_ID = 512

export function entityParams(ctx: Ctx): { entityType: string; entityId: string } {
  const entityType = param(ctx, 'entityType')
  const entityId = param(ctx, 'entityId')
  if (!ENTITY_TYPE_PATTERN.test(entityType)) {
    throw new FlagstoneError('INVALID_ARGUMENT', `entityType: must match ${ENTITY_TYPE_PATTERN.source}`, {
      details: { field: 'entityType' },
    })
  }
  if (entityId.length === 0 || entityId.length > 256 || encodeURIComponent(entityId).length > MAX_ENCODED_ENTITY_ID) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `entityId: must be 1 to 256 characters (at most ${MAX_ENCODED_ENTITY_ID} once URI-encoded)`,
      {
        details: { field: 'entityId' },
      },
    )
  }
  return { entityType, entityId }
}

// ---- bodies ----

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** `body` with `field` set to `value` from the path; a body that names a different one is a 400. */
export function withPathField(body: unknown, field: string, value: string): unknown {
  if (!isObject(body)) return body
  const given = body[field]
  if (given !== undefined && given !== value) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `${field}: is ${JSON.stringify(String(given).slice(0, 128))} in the body but ${JSON.stringify(value)} in the path`,
      {
        details: { field },
      },
    )
  }
  return { ...body, [field]: value }
}

/** Rejects fields outside `allowed` (400 naming the first). */
export function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw new FlagstoneError('INVALID_ARGUMENT', `${key}: unknown field (expected one of ${allowed.join(', ')})`, {
        details: { field: key },
      })
    }
  }
}

export function requireObject(body: unknown, what: string): Record<string, unknown> {
  if (!isObject(body)) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `(body): must be ${what} object, got ${Array.isArray(body) ? 'an array' : body === null ? 'null' : typeof body}`,
      {
        details: { field: '(body)' },
      },
    )
  }
  return body
}

/** A fresh id for a rule or scheduled change the client did not name. */
export function newId(kind: string): string {
  return `${kind}-${randomBytes(6).toString('hex')}`
}

/**
 * Re-addresses a codec error about `prefix` (`rules[0]`, `variants`) to the body it came from:
 * `rules[0].conditions[1].operator` → `conditions[1].operator`.
 */
export function rebaseError(error: unknown, prefix: string): unknown {
  if (!isFlagstoneError(error, 'INVALID_ARGUMENT')) return error
  const field = error.details?.field
  if (typeof field !== 'string' || (field !== prefix && !field.startsWith(`${prefix}.`) && !field.startsWith(`${prefix}[`)))
    return error
  let rest = field.slice(prefix.length)
  if (rest.startsWith('.')) rest = rest.slice(1)
  const next = rest === '' ? '(body)' : rest
  const message = error.message.startsWith(`${field}:`) ? `${next}:${error.message.slice(field.length + 1)}` : error.message
  return new FlagstoneError('INVALID_ARGUMENT', message, { details: { ...error.details, field: next }, cause: error })
}

export type PartField = 'rules' | 'variants' | 'scheduledChanges' | 'rolloutPhases' | 'timeSchedules'

/**
 * Validates `value` as the `field` collection of `flag` (its type decides what values may be) and
 * returns it normalised; errors name fields relative to the body, whose path in the flag is `prefix`.
 */
export function validatePart<F extends PartField>(
  flag: Pick<FeatureFlag, 'key' | 'type'>,
  field: F,
  value: unknown,
  prefix: string,
): FlagInput[F] {
  try {
    return validateFlagInput({ key: flag.key, type: flag.type, [field]: value })[field]
  } catch (error) {
    throw rebaseError(error, prefix)
  }
}

/** The fields a caller writes: a deep copy of the flag without `version`, `createdAt`, `updatedAt` (edits must not touch `before`). */
export function toInput(flag: FeatureFlag): FlagInput {
  const { version: _version, createdAt: _createdAt, updatedAt: _updatedAt, ...input } = structuredClone(flag)
  return input
}

export function flagNotFound(key: string): FlagstoneError {
  return notFound('flag', key)
}

export async function requireFlag(kit: AdminKit, key: string): Promise<FeatureFlag> {
  const flag = await kit.repository.getFlag(key)
  if (flag === null) throw flagNotFound(key)
  return flag
}

export function subjectNotFound(what: string, id: string): FlagstoneError {
  return notFound(what, id)
}

/**
 * Reads the flag, checks the client's precondition against it, and calls `apply(current)`, which
 * writes through the repository with `current.version`. When that write loses a race (`CONFLICT`
 * while the stored version moved on) it starts again from a fresh read — which then fails the
 * precondition of a client that pinned a version (412 / 409) and re-applies the change for one
 * that did not (up to 8 attempts). A `CONFLICT` with the version unchanged is the change's own
 * (a duplicate rule id, restoring a flag that is not archived) and is answered as it is.
 */
export async function editFlag<T extends FeatureFlag | null>(
  kit: AdminKit,
  key: string,
  precondition: Precondition,
  apply: (current: FeatureFlag) => Promise<T>,
): Promise<{ before: FeatureFlag; after: T }> {
  for (let attempt = 1; ; attempt++) {
    const current = await requireFlag(kit, key)
    checkPrecondition(precondition, current.version, `flag "${key}"`)
    try {
      return { before: current, after: await apply(current) }
    } catch (error) {
      if (!isFlagstoneError(error, 'CONFLICT') && !isFlagstoneError(error, 'NOT_FOUND')) throw error
      const latest = await kit.repository.getFlag(key)
      if (latest !== null && latest.version === current.version) throw error
      if (attempt >= MAX_ATTEMPTS) {
        throw new FlagstoneError('CONFLICT', `flag "${key}" kept changing while this change was applied; try again`, {
          details: { key },
        })
      }
    }
  }
}

/** Answers a flag (or part of one) with the flag's `ETag`. */
export function sendWithEtag(ctx: Ctx | Context, status: number, body: unknown, version: number): void {
  ctx.status = status
  ctx.set('ETag', etagOf(version))
  if (status !== 204) ctx.body = body
}

export function locationOf(kit: AdminKit, ...parts: string[]): string {
  return `${kit.prefix}/${parts.map((p) => encodeURIComponent(p)).join('/')}`
}
