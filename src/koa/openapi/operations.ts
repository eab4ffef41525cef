/**
 * What each route takes and answers, by `METHOD path` (admin paths relative to the admin prefix,
 * in OpenAPI's `{param}` form). Paths and methods come from the routers themselves (see
 * `openapi.ts`); a route missing here is reported by `openApiDocument` and fails its test.
 */
import { type TSchema, Type } from '@sinclair/typebox'
import {
  EnvironmentFlagSchema,
  EnvironmentSchema,
  FlagInputSchema,
  FlagSchema,
  OverrideSchema,
  RolloutPhaseSchema,
  RuleSchema,
  ScheduledChangeSchema,
  SegmentSchema,
  TimeScheduleSchema,
  VariantSchema,
} from '../../flags/index.js'

export interface Operation {
  summary: string
  tag: string
  /** Request body schema (JSON). */
  body?: TSchema
  /** Success status and body schema (none: no body). */
  status?: number
  response?: TSchema
  /** The write refuses to run without `If-Match` or a body `version` (428). */
  versionRequired?: boolean
  /** A PUT that creates what is missing: 201 then, the success status otherwise. */
  upsert?: boolean
  /** A GET that answers 304 to `If-None-Match` with the current ETag. */
  conditional?: boolean
}

const ref = (schema: TSchema) => Type.Unsafe(Type.Ref(schema.$id!))
const page = (schema: TSchema) =>
  Type.Object({ items: Type.Array(ref(schema)), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() })
const Any = Type.Object({}, { additionalProperties: true })
const omit = (schema: TSchema, fields: string[], id: string) =>
  Type.Omit(schema as ReturnType<typeof Type.Object>, fields, { $id: id, additionalProperties: false })

/** Bodies whose path fields come from the URL. */
export const OverrideBodySchema = omit(OverrideSchema, ['flagKey', 'entityType', 'entityId'], 'OverrideBody')
export const EnvironmentFlagBodySchema = Type.Composite(
  [
    Type.Omit(EnvironmentFlagSchema as ReturnType<typeof Type.Object>, ['environment', 'flagKey']),
    Type.Object({ confirm: Type.Optional(Type.Boolean({ description: 'required (true) for a protected environment' })) }),
  ],
  { $id: 'EnvironmentFlagBody', additionalProperties: false },
)
export const FlagPatchSchema = Type.Partial(Type.Omit(FlagInputSchema, ['key', 'type']), {
  $id: 'FlagPatch',
  additionalProperties: false,
})
export const RuleBodySchema = Type.Composite([Type.Partial(Type.Pick(RuleSchema, ['id'])), Type.Omit(RuleSchema, ['id'])], {
  $id: 'RuleBody',
  additionalProperties: false,
})
export const ScheduledChangeBodySchema = Type.Composite(
  [Type.Partial(Type.Pick(ScheduledChangeSchema, ['id'])), Type.Omit(ScheduledChangeSchema, ['id'])],
  { $id: 'ScheduledChangeBody', additionalProperties: false },
)
export const EvaluationRequestSchema = Type.Object(
  {
    flagKey: Type.Optional(Type.String({ description: 'one flag; absent: every flag' })),
    context: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'the evaluation context' })),
    type: Type.Optional(
      Type.Union([Type.Literal('boolean'), Type.Literal('string'), Type.Literal('number'), Type.Literal('json')]),
    ),
    defaultValue: Type.Optional(Type.Unknown()),
  },
  { $id: 'EvaluationRequest', additionalProperties: false },
)
export const PromotionSchema = Type.Object(
  {
    flagKey: Type.String({ description: "a flag key, or 'all'" }),
    from: Type.String(),
    to: Type.String(),
    dryRun: Type.Optional(Type.Boolean()),
    confirm: Type.Optional(Type.Boolean({ description: 'needed to promote into a protected environment' })),
  },
  { $id: 'Promotion', additionalProperties: false },
)
export const REQUEST_SCHEMAS: readonly TSchema[] = [
  OverrideBodySchema,
  EnvironmentFlagBodySchema,
  FlagPatchSchema,
  RuleBodySchema,
  ScheduledChangeBodySchema,
  EvaluationRequestSchema,
  PromotionSchema,
]

const flag = { status: 200, response: ref(FlagSchema) }
const flags = 'flags'
const parts = 'flag parts'

export const ADMIN_OPERATIONS: Readonly<Record<string, Operation>> = {
  'GET /flags': {
    tag: flags,
    summary: 'List flags (filters: tag, status, type, search; limit, offset)',
    response: page(FlagSchema),
  },
  'POST /flags': { tag: flags, summary: 'Create a flag', body: ref(FlagInputSchema), status: 201, response: ref(FlagSchema) },
  'GET /flags/{key}': { tag: flags, summary: 'Read a flag (ETag: its version)', ...flag, conditional: true },
  'PUT /flags/{key}': {
    tag: flags,
    summary: 'Replace a flag (If-Match or version required)',
    body: ref(FlagInputSchema),
    ...flag,
    versionRequired: true,
  },
  'PATCH /flags/{key}': { tag: flags, summary: 'Change some fields of a flag', body: ref(FlagPatchSchema), ...flag },
  'DELETE /flags/{key}': { tag: flags, summary: 'Delete a flag and what depends on it', status: 204 },
  'POST /flags/{key}/archive': { tag: flags, summary: 'Archive a flag', ...flag },
  'POST /flags/{key}/restore': { tag: flags, summary: 'Restore an archived flag', ...flag },
  'GET /flags/{key}/rules': { tag: parts, summary: "A flag's rules", status: 200, response: Type.Array(ref(RuleSchema)) },
  'GET /flags/{key}/rules/{id}': { tag: parts, summary: 'One rule', status: 200, response: ref(RuleSchema) },
  'POST /flags/{key}/rules': {
    tag: parts,
    summary: 'Add a rule (id generated when absent)',
    body: ref(RuleBodySchema),
    status: 201,
    response: ref(FlagSchema),
  },
  'PUT /flags/{key}/rules/{id}': { tag: parts, summary: 'Replace a rule', body: ref(RuleBodySchema), ...flag },
  'DELETE /flags/{key}/rules/{id}': { tag: parts, summary: 'Remove a rule', ...flag },
  'POST /flags/{key}/rules/reorder': {
    tag: parts,
    summary: 'Reorder the rules (priorities follow the order)',
    body: Type.Object({ ids: Type.Array(Type.String()) }, { additionalProperties: false }),
    ...flag,
  },
  'GET /flags/{key}/variants': {
    tag: parts,
    summary: "A flag's variants",
    status: 200,
    response: Type.Array(ref(VariantSchema)),
  },
  'PUT /flags/{key}/variants': { tag: parts, summary: 'Replace all variants', body: Type.Array(ref(VariantSchema)), ...flag },
  'POST /flags/{key}/variants': {
    tag: parts,
    summary: 'Add a variant',
    body: ref(VariantSchema),
    status: 201,
    response: ref(FlagSchema),
  },
  'PUT /flags/{key}/variants/{variantKey}': {
    tag: parts,
    summary: 'Add or replace a variant',
    body: ref(VariantSchema),
    ...flag,
    upsert: true,
  },
  'DELETE /flags/{key}/variants/{variantKey}': { tag: parts, summary: 'Remove a variant', ...flag },
  'GET /flags/{key}/schedule': {
    tag: parts,
    summary: 'Scheduled changes',
    status: 200,
    response: Type.Array(ref(ScheduledChangeSchema)),
  },
  'POST /flags/{key}/schedule': {
    tag: parts,
    summary: 'Schedule a change',
    body: ref(ScheduledChangeBodySchema),
    status: 201,
    response: ref(FlagSchema),
  },
  'DELETE /flags/{key}/schedule/{id}': { tag: parts, summary: 'Cancel a scheduled change', ...flag },
  'GET /flags/{key}/rollout-phases': {
    tag: parts,
    summary: 'Rollout phases',
    status: 200,
    response: Type.Array(ref(RolloutPhaseSchema)),
  },
  'PUT /flags/{key}/rollout-phases': {
    tag: parts,
    summary: 'Replace the rollout phases',
    body: Type.Array(ref(RolloutPhaseSchema)),
    ...flag,
  },
  'GET /flags/{key}/time-schedules': {
    tag: parts,
    summary: 'Time schedules',
    status: 200,
    response: Type.Array(ref(TimeScheduleSchema)),
  },
  'PUT /flags/{key}/time-schedules': {
    tag: parts,
    summary: 'Replace the time schedules',
    body: Type.Array(ref(TimeScheduleSchema)),
    ...flag,
  },
  'GET /flags/{key}/overrides': { tag: 'overrides', summary: "A flag's overrides", status: 200, response: page(OverrideSchema) },
  'GET /flags/{key}/overrides/{entityType}/{entityId}': {
    tag: 'overrides',
    summary: 'One override',
    status: 200,
    response: ref(OverrideSchema),
  },
  'PUT /flags/{key}/overrides/{entityType}/{entityId}': {
    tag: 'overrides',
    summary: 'Set an override',
    body: ref(OverrideBodySchema),
    status: 200,
    response: ref(OverrideSchema),
    upsert: true,
  },
  'DELETE /flags/{key}/overrides/{entityType}/{entityId}': { tag: 'overrides', summary: 'Remove an override', status: 204 },
  'GET /segments': { tag: 'segments', summary: 'List segments', status: 200, response: page(SegmentSchema) },
  'POST /segments': {
    tag: 'segments',
    summary: 'Create a segment',
    body: ref(SegmentSchema),
    status: 201,
    response: ref(SegmentSchema),
  },
  'GET /segments/{key}': { tag: 'segments', summary: 'Read a segment', status: 200, response: ref(SegmentSchema) },
  'PUT /segments/{key}': {
    tag: 'segments',
    summary: 'Replace a segment',
    body: ref(SegmentSchema),
    status: 200,
    response: ref(SegmentSchema),
  },
  'DELETE /segments/{key}': { tag: 'segments', summary: 'Delete a segment', status: 204 },
  'GET /environments': { tag: 'environments', summary: 'List environments', status: 200, response: page(EnvironmentSchema) },
  'POST /environments': {
    tag: 'environments',
    summary: 'Create an environment',
    body: ref(EnvironmentSchema),
    status: 201,
    response: ref(EnvironmentSchema),
  },
  'GET /environments/{slug}': {
    tag: 'environments',
    summary: 'Read an environment',
    status: 200,
    response: ref(EnvironmentSchema),
  },
  'PUT /environments/{slug}': {
    tag: 'environments',
    summary: 'Replace an environment',
    body: ref(EnvironmentSchema),
    status: 200,
    response: ref(EnvironmentSchema),
  },
  'DELETE /environments/{slug}': { tag: 'environments', summary: 'Delete an environment', status: 204 },
  'GET /environments/{slug}/flags': {
    tag: 'environments',
    summary: "An environment's flag settings",
    status: 200,
    response: page(EnvironmentFlagSchema),
  },
  'GET /environments/{slug}/flags/{key}': {
    tag: 'environments',
    summary: "One flag's settings in an environment",
    status: 200,
    response: ref(EnvironmentFlagSchema),
  },
  'PUT /environments/{slug}/flags/{key}': {
    tag: 'environments',
    summary: "Set a flag's settings in an environment (a protected one needs confirm: true)",
    body: ref(EnvironmentFlagBodySchema),
    status: 200,
    response: ref(EnvironmentFlagSchema),
    upsert: true,
  },
  'DELETE /environments/{slug}/flags/{key}': {
    tag: 'environments',
    summary: "Remove a flag's settings in an environment (a protected one needs ?confirm=true)",
    status: 204,
  },
  'GET /environments/{slug}/flags/{key}/resolve': {
    tag: 'environments',
    summary: 'Where each effective setting comes from along the environment chain',
    status: 200,
    response: Any,
  },
  'POST /promote': {
    tag: 'environments',
    summary: "Copy one flag's (or all) settings between environments",
    body: ref(PromotionSchema),
    status: 200,
    response: Any,
  },
  'POST /apply-due-changes': { tag: flags, summary: 'Apply the scheduled changes that are due now', status: 200, response: Any },
  'GET /audit': {
    tag: 'audit',
    summary: 'The audit trail (filters: flagKey, actor, action, since, until)',
    status: 200,
    response: Any,
  },
  'POST /evaluate': {
    tag: 'evaluation',
    summary: 'Evaluate one flag or all for a context',
    body: ref(EvaluationRequestSchema),
    status: 200,
    response: Any,
  },
}
