/**
 * The documents' wire shapes (JSON, as the admin API and OFREP speak them), defined once with
 * TypeBox: each constant is a JSON Schema (for the OpenAPI document) and a TypeScript type (`Static`).
 *
 * Validation stays in the codec (`validateFlag` & co.), which is the hot path and checks what a
 * schema cannot say: values against the flag's type, unique ids, boolean `serveValue` agreeing with
 * `serveEnabled`, time zones, cron expressions, segment and environment cycles, and it fills in
 * defaults. Measured (benchmarks/schemas.ts, BENCHMARKS.md): a compiled TypeBox check of a flag is
 * faster than the codec, but the codec's remaining checks and its messages (field path + allowed
 * values) would still be needed after it, so running both would be slower than the codec alone.
 * test/flags/schemas.test.ts keeps the two in agreement: every document the codec accepts and
 * writes validates against these schemas, and the structural mistakes the codec rejects fail here too.
 */
import { FormatRegistry, type Static, type TSchema, Type } from '@sinclair/typebox'
import { ID_PATTERN, LIMITS } from '../codec/fields.js'
import { ENVIRONMENT_SLUG_PATTERN, FLAG_KEY_PATTERN, OPERATORS } from '../model.js'

// TypeBox checks only formats it is told about; `date-time` as RFC 3339 (what the codec parses and writes).
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)))

const ref = <T extends TSchema>(schema: T) => Type.Unsafe<Static<T>>(Type.Ref(schema.$id!))

const Key = Type.String({ pattern: FLAG_KEY_PATTERN.source, maxLength: 128, description: 'flag or segment key' })
const Slug = Type.String({ pattern: ENVIRONMENT_SLUG_PATTERN.source, maxLength: 64, description: 'environment slug' })
const Id = Type.String({ pattern: ID_PATTERN.source, maxLength: 128 })
const Name = Type.String({ maxLength: LIMITS.nameLength })
const Percentage = Type.Number({ minimum: 0, maximum: 100 })
const Instant = Type.Union([Type.String({ format: 'date-time' }), Type.Number({ description: 'epoch milliseconds' })], {
  description: 'an ISO-8601 instant (answers use this form) or epoch milliseconds',
})

export const JsonValueSchema = Type.Unknown({ $id: 'JsonValue', description: 'any JSON value' })
export const FlagValueSchema = Type.Unknown({
  $id: 'FlagValue',
  description: "a value of the flag's type: boolean, string, number, or any JSON for json flags",
})
const Value = ref(FlagValueSchema)
const JsonObject = Type.Record(Type.String({ maxLength: LIMITS.jsonKeyLength }), ref(JsonValueSchema))

export const ConditionSchema = Type.Object(
  {
    attribute: Type.String({
      maxLength: LIMITS.nameLength,
      description: "a standard context field (targetingKey, userId, country, …, now) or an attribute's name",
    }),
    operator: Type.Union(
      OPERATORS.map((o) => Type.Literal(o)),
      { description: 'the comparison' },
    ),
    value: Type.Optional(Type.Unknown({ description: 'what to compare against; absent for exists / not_exists' })),
  },
  { $id: 'Condition', additionalProperties: false },
)

const conditions = Type.Array(ref(ConditionSchema), { maxItems: LIMITS.conditions })

export const RuleSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(Name),
    priority: Type.Optional(Type.Number({ description: 'lower first; default: the position' })),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    conditions: Type.Optional(conditions),
    serveEnabled: Type.Optional(Type.Boolean({ default: true })),
    serveValue: Type.Optional(Value),
    rolloutPercentage: Type.Optional(Percentage),
  },
  { $id: 'Rule', additionalProperties: false },
)

export const VariantSchema = Type.Object(
  { key: Id, name: Type.Optional(Name), value: Value, weight: Type.Number({ minimum: 0 }) },
  { $id: 'Variant', additionalProperties: false },
)

export const ScheduledChangeSchema = Type.Object(
  {
    id: Id,
    at: Instant,
    change: Type.Union([Type.Literal('enable'), Type.Literal('disable'), Type.Literal('setValue'), Type.Literal('setRollout')]),
    value: Type.Optional(Value),
    percentage: Type.Optional(Percentage),
    createdBy: Type.Optional(Name),
  },
  { $id: 'ScheduledChange', additionalProperties: false },
)

export const RolloutPhaseSchema = Type.Object(
  { at: Instant, percentage: Percentage },
  { $id: 'RolloutPhase', additionalProperties: false },
)

const Time = Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'HH:MM local time' })
export const TimeScheduleSchema = Type.Object(
  {
    id: Id,
    name: Type.Optional(Name),
    recurrence: Type.Union([Type.Literal('daily'), Type.Literal('weekly'), Type.Literal('monthly'), Type.Literal('cron')]),
    start: Type.Optional(Time),
    end: Type.Optional(Time),
    daysOfWeek: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 7 }))),
    daysOfMonth: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 31 }))),
    cron: Type.Optional(Type.String({ maxLength: 256 })),
    timezone: Type.String({ maxLength: 64, description: 'IANA time zone, e.g. Europe/Oslo' }),
    validFrom: Type.Optional(Instant),
    validUntil: Type.Optional(Instant),
  },
  { $id: 'TimeSchedule', additionalProperties: false },
)

const flagFields = {
  key: Key,
  name: Type.Optional(Name),
  description: Type.Optional(Type.String({ maxLength: LIMITS.descriptionLength })),
  type: Type.Union([Type.Literal('boolean'), Type.Literal('string'), Type.Literal('number'), Type.Literal('json')]),
  status: Type.Optional(
    Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('archived')], { default: 'active' }),
  ),
  defaultEnabled: Type.Optional(Type.Boolean({ default: false })),
  defaultValue: Type.Optional(Value),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: LIMITS.tagLength }), { maxItems: LIMITS.tags })),
  metadata: Type.Optional(JsonObject),
  rules: Type.Optional(Type.Array(ref(RuleSchema), { maxItems: LIMITS.rules })),
  variants: Type.Optional(Type.Array(ref(VariantSchema), { maxItems: LIMITS.variants })),
  scheduledChanges: Type.Optional(Type.Array(ref(ScheduledChangeSchema), { maxItems: LIMITS.scheduledChanges })),
  rolloutPhases: Type.Optional(Type.Array(ref(RolloutPhaseSchema), { maxItems: LIMITS.rolloutPhases })),
  timeSchedules: Type.Optional(Type.Array(ref(TimeScheduleSchema), { maxItems: LIMITS.timeSchedules })),
}

/** A flag as a caller writes it (`POST /flags`, `PUT /flags/{key}`): `key` and `type` required. */
export const FlagInputSchema = Type.Object(flagFields, { $id: 'FlagInput', additionalProperties: false })

/** A stored flag, as the API answers it. */
export const FlagSchema = Type.Object(
  {
    ...flagFields,
    version: Type.Integer({ minimum: 1, readOnly: true, description: '+1 on every write; send it as If-Match' }),
    createdAt: Type.String({ format: 'date-time', readOnly: true }),
    updatedAt: Type.String({ format: 'date-time', readOnly: true }),
  },
  { $id: 'Flag', additionalProperties: false },
)

export const OverrideSchema = Type.Object(
  {
    flagKey: Key,
    entityType: Type.String({
      pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,63}$',
      description: 'user, organization, tenant, targetingKey or an attribute',
    }),
    entityId: Type.String({ minLength: 1, maxLength: LIMITS.nameLength }),
    enabled: Type.Boolean(),
    value: Type.Optional(Value),
    expiresAt: Type.Optional(Instant),
  },
  { $id: 'Override', additionalProperties: false },
)

export const SegmentSchema = Type.Object(
  {
    key: Key,
    name: Type.Optional(Name),
    description: Type.Optional(Type.String({ maxLength: LIMITS.descriptionLength })),
    conditions: Type.Optional(conditions),
    parent: Type.Optional(Key),
  },
  { $id: 'Segment', additionalProperties: false },
)

export const EnvironmentSchema = Type.Object(
  {
    slug: Slug,
    name: Type.Optional(Name),
    parent: Type.Optional(Slug),
    settings: Type.Optional(
      Type.Object({ protected: Type.Optional(Type.Boolean()) }, { additionalProperties: ref(JsonValueSchema) }),
    ),
  },
  { $id: 'Environment', additionalProperties: false },
)

export const EnvironmentFlagSchema = Type.Object(
  {
    environment: Slug,
    flagKey: Key,
    enabled: Type.Optional(Type.Boolean()),
    percentage: Type.Optional(Percentage),
    rules: Type.Optional(Type.Array(ref(RuleSchema), { maxItems: LIMITS.rules })),
    variants: Type.Optional(Type.Array(ref(VariantSchema), { maxItems: LIMITS.variants })),
  },
  { $id: 'EnvironmentFlag', additionalProperties: false },
)

export type FlagInputJson = Static<typeof FlagInputSchema>
export type FlagJson = Static<typeof FlagSchema>
export type OverrideJson = Static<typeof OverrideSchema>
export type SegmentJson = Static<typeof SegmentSchema>
export type EnvironmentJson = Static<typeof EnvironmentSchema>
export type EnvironmentFlagJson = Static<typeof EnvironmentFlagSchema>

/** Every named schema, for `$ref` resolution (`Value.Check(schema, DOCUMENT_SCHEMAS, value)`) and OpenAPI components. */
export const DOCUMENT_SCHEMAS: readonly TSchema[] = [
  JsonValueSchema,
  FlagValueSchema,
  ConditionSchema,
  RuleSchema,
  VariantSchema,
  ScheduledChangeSchema,
  RolloutPhaseSchema,
  TimeScheduleSchema,
  FlagInputSchema,
  FlagSchema,
  OverrideSchema,
  SegmentSchema,
  EnvironmentSchema,
  EnvironmentFlagSchema,
]
