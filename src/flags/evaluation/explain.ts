/**
 * "Why does this user see that?": the decision `evaluate` made, explained from the same parts the
 * evaluator uses (its rule order, its override order and entity-id reading, the effective flag
 * after schedules and the environment chain), so the explanation cannot drift from the result.
 */
import { evaluateCondition } from '../matchers/index.js'
import { isTimeScheduleOpen } from '../matchers/index.js'
import type { EvaluationContext, EvaluationDetails, FeatureFlag, FlagOverride, FlagRule, FlagVariant } from '../model.js'
import { entityIdOf, overrideOrder, rulesInOrder } from './compile.js'
import { effectiveFlag, resolveChain, type EnvironmentField } from './environments.js'
import type { CompiledSnapshot } from './evaluate.js'
import { flagAt } from './schedules.js'

/** One rule as the evaluator tried it: each condition with its result. */
export interface ExplainedRule extends Omit<FlagRule, 'conditions'> {
  conditions: (FlagRule['conditions'][number] & { result: boolean })[]
  conditionsHold: boolean
}

export interface Explanation {
  now: string
  status: FeatureFlag['status']
  rolloutPercentage: number | null
  scheduledChangesApplied: string[]
  environment: {
    slug: string
    known: boolean
    chain: readonly string[]
    sources: Record<EnvironmentField, string>
  } | null
  timeSchedules: { id: string; open: boolean }[]
  /** The live overrides matching the context, in the order the evaluator tries them. */
  overrides: FlagOverride[]
  override: FlagOverride | null
  /** Every rule in evaluation order. */
  rules: ExplainedRule[]
  rule: FlagRule | null
  variant: FlagVariant | null
}

/** The live overrides of `flagKey` that match `context`, in the evaluator's order (the first one decides). */
export function matchingOverrides(
  overrides: readonly FlagOverride[],
  flagKey: string,
  context: EvaluationContext,
  now: number,
): FlagOverride[] {
  return overrides
    .filter((o) => o.flagKey === flagKey && (o.expiresAt === undefined || o.expiresAt.getTime() > now))
    .filter((o) => {
      const id = entityIdOf(context, o.entityType, now)
      return typeof id === 'string' && id === o.entityId
    })
    .sort(overrideOrder)
}

/** What decided `result` (an evaluation of `flag` in `snapshot` at `now`), and everything that could have. */
export function explain(
  snapshot: CompiledSnapshot,
  overrides: readonly FlagOverride[],
  flag: FeatureFlag,
  context: EvaluationContext,
  now: number,
  result: EvaluationDetails,
): Explanation {
  const environment = context.environment
  const effective = effectiveFlag(flag, now, {
    ...(environment === undefined ? {} : { environment }),
    environments: snapshot.environments,
    environmentFlags: snapshot.environmentFlags,
  })
  const resolution =
    environment === undefined ? undefined : resolveChain(snapshot.environments, snapshot.environmentFlags, flag.key, environment)
  const rules = rulesInOrder(effective.flag.rules).map((rule) => {
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
