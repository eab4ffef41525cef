/**
 * `POST /evaluate`: "why does this user see that?" Evaluates a flag for a context exactly as the
 * client does (same compiled snapshot, same evaluator) and explains the decision: the effective
 * flag after schedules and the environment chain, which override or rule decided, every rule's
 * conditions with their results, and the variant picked.
 */
import type { Router } from '@koa/router'
import { FlagstoneError } from '../../../errors.js'
import { validateFlagValue, validateJson } from '../../../flags/codec/codec.js'
import { effectiveFlag, resolveChain } from '../../../flags/evaluation/environments.js'
import { compileSnapshot, type CompiledSnapshot, evaluate } from '../../../flags/evaluation/evaluate.js'
import type {
  EvaluationContext,
  EvaluationDetails,
  FeatureFlag,
  FlagOverride,
  FlagType,
  FlagValue,
  JsonObject,
} from '../../../flags/model.js'
import { evaluateCondition, parseIsoDate, readAttribute } from '../../../flags/matchers/operators.js'
import type { FlagRepository, SnapshotData } from '../../../flags/repositories/repository.js'
import { flagAt } from '../../../flags/evaluation/schedules.js'
import { isTimeScheduleOpen } from '../../../flags/matchers/time-windows.js'
import { type AdminKit, type Ctx, onlyFields, requireObject } from '../kit.js'
import { FLAG_KEY_PATTERN } from '../../../flags/model.js'

const STRING_FIELDS = [
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
const CONTEXT_FIELDS: readonly string[] = [...STRING_FIELDS, 'now', 'attributes']
const TYPES: readonly FlagType[] = ['boolean', 'string', 'number', 'json']
const BUILTIN: ReadonlyArray<readonly [string, keyof EvaluationContext]> = [
  ['user', 'userId'],
  ['organization', 'organizationId'],
  ['tenant', 'tenantId'],
  ['targetingKey', 'targetingKey'],
]

function invalid(field: string, problem: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `${field}: ${problem}`, { details: { field } })
}

/** An instant from an ISO-8601 string or epoch milliseconds. */
export function parseInstant(value: unknown, field: string): number {
  const t = typeof value === 'number' ? value : typeof value === 'string' ? parseIsoDate(value) : undefined
  if (t === undefined || !Number.isFinite(t) || Math.abs(t) > 8.64e15)
    throw invalid(field, 'must be an ISO-8601 date-time or epoch milliseconds')
  return t
}

/** An evaluation context from JSON: known fields only, strings bounded, `attributes` a bounded JSON object. */
export function parseContext(value: unknown): EvaluationContext {
  if (value === undefined) return {}
  const o = requireObject(value, 'an evaluation context')
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(o)) {
    const path = `context.${key}`
    if ((STRING_FIELDS as readonly string[]).includes(key)) {
      if (typeof field !== 'string' || field.length > 1024) throw invalid(path, 'must be a string of at most 1024 characters')
      out[key] = field
    } else if (key === 'now') {
      out.now = new Date(parseInstant(field, path))
    } else if (key === 'attributes') {
      if (field === null || typeof field !== 'object' || Array.isArray(field)) throw invalid(path, 'must be an object')
      out.attributes = validateJson(field, path) as JsonObject
    } else {
      throw invalid(path, `unknown field (expected one of ${CONTEXT_FIELDS.join(', ')})`)
    }
  }
  return out as EvaluationContext
}

const byPriority = <T extends { priority: number }>(items: readonly T[]) =>
  items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => a.item.priority - b.item.priority || a.i - b.i)
    .map(({ item }) => item)

function matchingOverrides(
  overrides: readonly FlagOverride[],
  flagKey: string,
  context: EvaluationContext,
  now: number,
): FlagOverride[] {
  const builtin = new Map(BUILTIN)
  const live = overrides.filter((o) => o.flagKey === flagKey && (o.expiresAt === undefined || o.expiresAt.getTime() > now))
  const matches = live.filter((o) => {
    const field = builtin.get(o.entityType)
    const id = field === undefined ? readAttribute(context, o.entityType, now) : context[field]
    return typeof id === 'string' && id === o.entityId
  })
  // The evaluator's order: the built-in types, then the others by name.
  const rank = (o: FlagOverride) => {
    const i = BUILTIN.findIndex(([type]) => type === o.entityType)
    return i === -1 ? BUILTIN.length : i
  }
  return matches.sort((a, b) => rank(a) - rank(b) || (a.entityType < b.entityType ? -1 : a.entityType > b.entityType ? 1 : 0))
}

/** What decided, and everything that could have. */
export function explain(
  snapshot: CompiledSnapshot,
  overrides: readonly FlagOverride[],
  flag: FeatureFlag,
  context: EvaluationContext,
  now: number,
  result: EvaluationDetails,
) {
  const environment = context.environment
  const effective = effectiveFlag(flag, now, {
    ...(environment === undefined ? {} : { environment }),
    environments: snapshot.environments,
    environmentFlags: snapshot.environmentFlags,
  })
  const resolution =
    environment === undefined ? undefined : resolveChain(snapshot.environments, snapshot.environmentFlags, flag.key, environment)
  const rules = byPriority(effective.flag.rules).map((rule) => {
    const conditions = rule.conditions.map((condition) => ({
      ...condition,
      result: evaluateCondition(condition, context, { segments: snapshot.segments, now }),
    }))
    return { ...rule, conditions, conditionsHold: rule.enabled && conditions.every((c) => c.result) }
  })
  const matching = matchingOverrides(overrides, flag.key, context, now)
  return {
    now: new Date(now).toISOString(),
    status: effective.flag.status,
    rolloutPercentage: effective.rolloutPercentage ?? null,
    scheduledChangesApplied: flagAt(flag, now).applied.map((c) => c.id),
    environment:
      resolution === undefined
        ? null
        : {
            slug: resolution.environment,
            known: resolution.known,
            chain: resolution.chain,
            sources: {
              enabled: resolution.enabled.source,
              percentage: resolution.percentage.source,
              rules: resolution.rules.source,
              variants: resolution.variants.source,
            },
          },
    timeSchedules: effective.flag.timeSchedules.map((s) => ({ id: s.id, open: isTimeScheduleOpen(s, now) })),
    overrides: matching,
    override: result.reason === 'OVERRIDE' ? (matching[0] ?? null) : null,
    rules,
    rule: result.reason === 'TARGETING_MATCH' ? (effective.flag.rules.find((r) => r.id === result.variant) ?? null) : null,
    variant: result.reason === 'SPLIT' ? (effective.flag.variants.find((v) => v.key === result.variant) ?? null) : null,
  }
}

const DEFAULTS: Readonly<Record<FlagType, FlagValue>> = { boolean: false, string: '', number: 0, json: null }

export function evaluateRoutes(router: Router, kit: AdminKit): void {
  const repository: FlagRepository = kit.repository
  // One compiled snapshot, reloaded when the repository's revision moves on.
  let cached: { revision: number; data: SnapshotData; compiled: CompiledSnapshot } | undefined
  const snapshot = async () => {
    const revision = await repository.revision()
    if (cached === undefined || cached.revision !== revision) {
      const data = await repository.loadSnapshot()
      cached = { revision: data.revision, data, compiled: compileSnapshot(data) }
    }
    return cached
  }

  router.post('/evaluate', async (ctx: Ctx) => {
    const body = requireObject(await kit.body(ctx), 'an evaluation request')
    onlyFields(body, ['flagKey', 'context', 'type', 'defaultValue'])
    const { flagKey, type } = body
    if (typeof flagKey !== 'string' || !FLAG_KEY_PATTERN.test(flagKey))
      throw invalid('flagKey', `must be a flag key matching ${FLAG_KEY_PATTERN.source}`)
    if (type !== undefined && !(TYPES as readonly unknown[]).includes(type))
      throw invalid('type', `must be one of ${TYPES.join(', ')}`)
    const flagType = type as FlagType | undefined
    const defaultValue =
      body.defaultValue === undefined
        ? DEFAULTS[flagType ?? 'json']
        : validateFlagValue(body.defaultValue, flagType, 'defaultValue')
    const context = parseContext(body.context)
    const now = context.now === undefined ? Date.now() : new Date(context.now).getTime()
    const { data, compiled } = await snapshot()
    const result = evaluate(compiled, flagKey, flagType, defaultValue, context, now)
    const flag = compiled.flags.get(flagKey)
    ctx.body = {
      ...result,
      revision: data.revision,
      explanation: flag === undefined ? null : explain(compiled, data.overrides, flag, context, now, result),
    }
  })
}
