/**
 * The flag model: every type a flag document, an evaluation context or an evaluation result is
 * made of, and the key patterns that define them. Validation lives in `codec.ts`, behaviour in `evaluate.ts`.
 *
 * Dates are `Date` objects in memory and survive storage (the codec uses superjson).
 */

/** Flag keys (and segment keys): what the admin API and the stores address documents by. */
export const FLAG_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/

/** Environment slugs. */
export const ENVIRONMENT_SLUG_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/

/** A JSON value: what `json` flags serve and what `metadata` holds. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** A JSON object (flag `metadata`, environment `settings`). */
export type JsonObject = { [key: string]: JsonValue }

export const FLAG_TYPES = ['boolean', 'string', 'number', 'json'] as const
export type FlagType = (typeof FLAG_TYPES)[number]

/** The value a flag serves; its runtime type always matches the flag's `type`. */
export type FlagValue = boolean | string | number | JsonValue

export const FLAG_STATUSES = ['active', 'inactive', 'archived'] as const
export type FlagStatus = (typeof FLAG_STATUSES)[number]

/**
 * Condition operators. An operator outside this list is rejected on write and never matches at
 * evaluation (litestar-flags treated an unknown operator as a match).
 */
export const OPERATORS = [
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'not_in',
  'contains',
  'not_contains',
  'starts_with',
  'ends_with',
  'matches',
  'exists',
  'not_exists',
  'semver_eq',
  'semver_ne',
  'semver_gt',
  'semver_gte',
  'semver_lt',
  'semver_lte',
  'date_before',
  'date_after',
  'in_cidr',
  'in_segment',
  'not_in_segment',
] as const
export type Operator = (typeof OPERATORS)[number]

/** What a condition compares against: which shape is allowed depends on the operator. */
export type ConditionValue = string | number | boolean | Date | null | readonly (string | number | boolean)[]

export interface Condition {
  /**
   * A standard context field of this name (`targetingKey`, `userId`, `country`, …, `now`) when the
   * context has it, else `context.attributes[attribute]`. Ignored by the segment operators.
   */
  attribute: string
  /** Kept as `string` because stored documents may hold anything; the codec rejects unknown ones. */
  operator: Operator | (string & {})
  /** Absent for `exists` / `not_exists`. */
  value?: ConditionValue
}

export interface FlagRule {
  /** Unique within the flag; reported as the `variant` of a TARGETING_MATCH. */
  id: string
  name: string
  /** Lower first; ties keep document order. */
  priority: number
  enabled: boolean
  /** All must hold; none means everyone. */
  conditions: Condition[]
  /** For boolean flags this is the value served. For other types `false` serves the flag's off value. */
  serveEnabled: boolean
  /** For non-boolean flags: the value served (absent: the flag's default). Boolean flags: absent or equal to `serveEnabled`. */
  serveValue?: FlagValue
  /** 0..100, fractions allowed; absent = 100. A user outside it falls through to the next rule. */
  rolloutPercentage?: number
}

export interface FlagVariant {
  /** Unique within the flag; variants are ordered by key for bucketing. */
  key: string
  name?: string
  value: FlagValue
  /** >= 0; shares are `weight / sum of weights`, a variant with weight 0 is never picked. */
  weight: number
}

export const SCHEDULED_CHANGE_KINDS = ['enable', 'disable', 'setValue', 'setRollout'] as const
export type ScheduledChangeKind = (typeof SCHEDULED_CHANGE_KINDS)[number]

export interface ScheduledChange {
  id: string
  /** The change applies to every evaluation at or after this instant. */
  at: Date
  change: ScheduledChangeKind
  /** Required for `setValue`, checked against the flag's type. */
  value?: FlagValue
  /** Required for `setRollout`, 0..100. */
  percentage?: number
  createdBy?: string
}

export interface RolloutPhase {
  at: Date
  /** 0..100 */
  percentage: number
}

export const RECURRENCES = ['daily', 'weekly', 'monthly', 'cron'] as const
export type Recurrence = (typeof RECURRENCES)[number]

export interface TimeSchedule {
  id: string
  name: string
  recurrence: Recurrence
  /** `HH:MM` local time in `timezone`; the window is [start, end) and wraps past midnight when end <= start. */
  start: string
  end: string
  /** ISO weekdays, 1 = Monday … 7 = Sunday (for `weekly`). */
  daysOfWeek?: number[]
  /** 1..31 (for `monthly`). */
  daysOfMonth?: number[]
  /** For `cron` (evaluated by the schedules issue; until then a cron schedule is never active). */
  cron?: string
  /** IANA time zone, e.g. `Europe/Oslo`; checked on write. */
  timezone: string
  validFrom?: Date
  validUntil?: Date
}

export interface FeatureFlag {
  /** `^[A-Za-z][A-Za-z0-9_.-]{0,127}$`; the flag's only identifier. */
  key: string
  name: string
  description?: string
  type: FlagType
  status: FlagStatus
  /** Boolean flags: the value served when no rule, override or variant applies. */
  defaultEnabled: boolean
  /** Non-boolean flags: the value served by default and when off (absent: the caller's default). */
  defaultValue?: FlagValue
  tags: string[]
  metadata: JsonObject
  rules: FlagRule[]
  variants: FlagVariant[]
  scheduledChanges: ScheduledChange[]
  rolloutPhases: RolloutPhase[]
  timeSchedules: TimeSchedule[]
  /** +1 on every write (optimistic concurrency). */
  version: number
  createdAt: Date
  updatedAt: Date
}

/** The fields of a flag a caller supplies; the repository owns `version`, `createdAt`, `updatedAt`. */
export type FlagInput = Omit<FeatureFlag, 'version' | 'createdAt' | 'updatedAt'>

/**
 * A rule as a caller may write it: `id` required; `name` = id, `priority` = position, `enabled` and
 * `serveEnabled` true, no conditions by default.
 */
export type FlagRuleDraft = Pick<FlagRule, 'id'> & Partial<Omit<FlagRule, 'id'>>

/**
 * A flag as a caller may write it (`createFlag`, `updateFlag`): `key` and `type` required; by
 * default `name` = key, `status` 'active', `defaultEnabled` false and every collection empty.
 */
export type FlagDraft = Pick<FlagInput, 'key' | 'type'> &
  Partial<Omit<FlagInput, 'key' | 'type' | 'rules'>> & { rules?: FlagRuleDraft[] }

/** Built-in entity types, in the order overrides are tried; each read from the context field of the same meaning. */
export const BUILTIN_ENTITY_TYPES = ['user', 'organization', 'tenant', 'targetingKey'] as const
export type BuiltinEntityType = (typeof BUILTIN_ENTITY_TYPES)[number]

/** The context field each built-in entity type reads. */
export const BUILTIN_ENTITY_FIELDS: Readonly<Record<BuiltinEntityType, ContextStringField>> = Object.freeze({
  user: 'userId',
  organization: 'organizationId',
  tenant: 'tenantId',
  targetingKey: 'targetingKey',
})

export interface FlagOverride {
  flagKey: string
  /**
   * `user` (context.userId), `organization` (organizationId), `tenant` (tenantId), `targetingKey`,
   * or any other name, matched against the context attribute of that name.
   */
  entityType: BuiltinEntityType | (string & {})
  entityId: string
  enabled: boolean
  /** Non-boolean flags: the value served (absent: the flag's default). */
  value?: FlagValue
  /** Ignored from this instant on. */
  expiresAt?: Date
}

export interface Segment {
  key: string
  name: string
  description?: string
  /** All must hold, and so must the parent's. */
  conditions: Condition[]
  /** Key of the parent segment; cycles are rejected on write (`checkSegmentCycles`). */
  parent?: string
}

export interface EnvironmentSettings {
  /** Promotion into a protected environment needs `{ confirm: true }`. */
  protected?: boolean
  [key: string]: JsonValue | undefined
}

export interface Environment {
  /** `^[a-z0-9][a-z0-9_-]*$` */
  slug: string
  name: string
  /** Slug of the parent environment; the chain is walked up to the root. */
  parent?: string
  settings: EnvironmentSettings
}

/** Per (environment, flag) settings; an absent field inherits from the parent environment, then the flag. */
export interface EnvironmentFlag {
  environment: string
  flagKey: string
  enabled?: boolean
  /** A rollout (0..100) applied on top of the flag's own evaluation. */
  percentage?: number
  rules?: FlagRule[]
  variants?: FlagVariant[]
}

/** The string fields of an evaluation context (conditions read them by name; anything else comes from `attributes`). */
export const CONTEXT_STRING_FIELDS = [
  'targetingKey',
  'userId',
  'organizationId',
  'tenantId',
  'environment',
  'appVersion',
  'ipAddress',
  'userAgent',
  'country',
] as const
export type ContextStringField = (typeof CONTEXT_STRING_FIELDS)[number]

/** Every field of an evaluation context. */
export const CONTEXT_FIELDS = [...CONTEXT_STRING_FIELDS, 'now', 'attributes'] as const
export type ContextField = (typeof CONTEXT_FIELDS)[number]

/** What an evaluation is about. All fields optional. */
export interface EvaluationContext {
  /** Identifies the subject for rollouts and variant bucketing. Missing or '' = outside partial rollouts. */
  targetingKey?: string
  userId?: string
  organizationId?: string
  tenantId?: string
  environment?: string
  appVersion?: string
  ipAddress?: string
  userAgent?: string
  country?: string
  /** The evaluation instant; defaults to the real clock read at each evaluation. */
  now?: Date | number
  /** Anything else conditions may read by name. */
  attributes?: Readonly<Record<string, unknown>>
  /**
   * OpenFeature's flat shape: any other top-level field is read as an attribute when `attributes`
   * does not have it, so one context object works with FlagClient, the OpenFeature provider and OFREP.
   */
  readonly [attribute: string]: unknown
}

/** OpenFeature's resolution reasons plus OVERRIDE (an override decided) and STALE (old snapshot). */
export type Reason =
  'STATIC' | 'DEFAULT' | 'TARGETING_MATCH' | 'SPLIT' | 'CACHED' | 'DISABLED' | 'UNKNOWN' | 'STALE' | 'ERROR' | 'OVERRIDE'

/** OpenFeature's error codes. */
export type ErrorCode =
  | 'PROVIDER_NOT_READY'
  | 'FLAG_NOT_FOUND'
  | 'PARSE_ERROR'
  | 'TYPE_MISMATCH'
  | 'TARGETING_KEY_MISSING'
  | 'INVALID_CONTEXT'
  | 'GENERAL'

/** OpenFeature's flag metadata: primitives only. */
export type FlagMetadata = Readonly<Record<string, string | number | boolean>>

/** The result of one evaluation. Results may be shared between evaluations: treat them as immutable. */
export interface EvaluationDetails<T extends FlagValue = FlagValue> {
  readonly flagKey: string
  readonly value: T
  readonly reason: Reason
  /** Rule id for TARGETING_MATCH, variant key for SPLIT. */
  readonly variant?: string
  readonly errorCode?: ErrorCode
  readonly errorMessage?: string
  readonly flagMetadata: FlagMetadata
}
