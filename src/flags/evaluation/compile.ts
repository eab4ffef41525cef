/**
 * Compiling one flag for evaluation: its rules in evaluation order with their conditions compiled
 * to closures, overrides indexed by entity type and id, variants bucketed, and every outcome whose
 * value does not depend on the caller's default frozen into a result object. The ordering rules
 * (`rulesInOrder`, `overrideOrder`) are exported so `explain.ts` reports the evaluator's own order.
 */
import { compareKeys } from '../../internal/objects.js'
import { validateOverride } from '../codec/index.js'
import {
  allOf,
  compileCondition,
  compileReader,
  type AttributeReader,
  type CompiledCondition,
  type ConditionTest,
} from '../matchers/index.js'
import { compileTimeSchedule } from '../matchers/index.js'
import {
  BUILTIN_ENTITY_FIELDS,
  BUILTIN_ENTITY_TYPES,
  type ErrorCode,
  type EvaluationContext,
  type EvaluationDetails,
  type FeatureFlag,
  type FlagMetadata,
  type FlagOverride,
  type FlagRule,
  type FlagType,
  type FlagValue,
  type Reason,
} from '../model.js'
import type { EnvironmentOverlay } from './environments.js'
import { utf8 } from './hash.js'
import { scheduleInstants } from './schedules.js'

export type Details = EvaluationDetails<FlagValue>

/** An outcome fixed at compile time: the frozen result when its value is known, else what to build. */
export interface Outcome {
  readonly fixed: Details | undefined
  readonly reason: Reason
  readonly variant: string | undefined
  /** For non-boolean flags without a defaultValue: undefined means "the caller's default". */
  readonly value: FlagValue | undefined
}

export interface CompiledOverride {
  readonly expiresAt: number
  readonly outcome: Outcome
}

export interface CompiledRule {
  readonly test: ConditionTest
  readonly rollout: number
  readonly outcome: Outcome
}

export interface CompiledVariants {
  readonly prefix: Uint8Array
  readonly total: number
  readonly cumulative: Float64Array
  readonly outcomes: readonly Outcome[]
}

/** Steps 3–4 for one environment of one flag: the compiled effective flag for the current schedule interval. */
export interface EnvState {
  /** `current` holds for `now` in `[from, until)`. */
  from: number
  until: number
  current: CompiledFlag | BrokenFlag | undefined
  readonly overlay: EnvironmentOverlay | undefined
  /** Compiled effective flags by schedule interval index (bounded; see `MAX_CACHED_INTERVALS`). */
  readonly intervals: Map<number, CompiledFlag | BrokenFlag>
}

/** What a flag with schedules or environment settings needs to resolve steps 3–4. */
export interface DynamicInfo {
  /** Distinct schedule instants, ascending: interval `i` is `[instants[i-1], instants[i])`. */
  readonly instants: Float64Array
  /** No environment, an unknown one, or one whose chain sets nothing for this flag. */
  readonly base: EnvState
  /** Known environments only (so a hostile context cannot grow it). */
  readonly byEnvironment: Map<string, EnvState>
}

export const MAX_CACHED_INTERVALS = 8

/** One flag ready to evaluate. */
export interface CompiledFlag {
  readonly flag: FeatureFlag
  readonly type: FlagType
  readonly metadata: FlagMetadata
  /** The whole answer when nothing depends on context, clock or the caller's default. */
  readonly constant: Details | undefined
  /** Set when steps 3–4 may change the flag (schedules or environment settings): resolve first. */
  readonly dynamic: DynamicInfo | undefined
  /** The rollout gate (environment or flag-level percentage), 0..100; 100 = none. */
  readonly gate: number
  readonly needsNow: boolean
  readonly active: boolean
  readonly disabled: Outcome
  readonly overrides: ReadonlyMap<string, ReadonlyMap<string, readonly CompiledOverride[]>> | undefined
  /** Entity types other than the four built-ins, in lexicographic order, with their attribute readers. */
  readonly customEntityTypes: readonly { readonly type: string; readonly read: AttributeReader }[]
  readonly timeWindows: readonly ((now: number) => boolean)[]
  readonly rules: readonly CompiledRule[]
  readonly rolloutPrefix: Uint8Array
  readonly variants: CompiledVariants | undefined
  readonly fallback: Outcome
}

export interface BrokenFlag {
  readonly parseError: string
}

export const EMPTY_METADATA: FlagMetadata = Object.freeze({})
/** Shared by every compiled flag without custom entity types or time windows (never mutated: readonly). */
const NONE: readonly never[] = Object.freeze([])
/** The rollout prefix of a flag no percentage reads (see `rolloutPrefix`). */
const NO_PREFIX = new Uint8Array(0)
export const EMPTY_CONTEXT: EvaluationContext = Object.freeze({})

/** Built-in entity types with the context field each reads, in the order overrides are tried. */
export const BUILTIN_ENTITIES: readonly (readonly [string, keyof EvaluationContext])[] = BUILTIN_ENTITY_TYPES.map(
  (type) => [type, BUILTIN_ENTITY_FIELDS[type]] as const,
)
const BUILTIN_TYPES: ReadonlySet<string> = new Set(BUILTIN_ENTITY_TYPES)

/** Rules in evaluation order: lower priority first, ties in document order. */
export function rulesInOrder<T extends Pick<FlagRule, 'priority'>>(rules: readonly T[]): T[] {
  return rules
    .map((rule, index) => ({ rule, index }))
    .sort((a, b) => a.rule.priority - b.rule.priority || a.index - b.index)
    .map(({ rule }) => rule)
}

/** Where an override's entity type comes in the evaluator's order: the built-ins in order, then the others by name. */
export function overrideOrder(a: FlagOverride, b: FlagOverride): number {
  const rank = (o: FlagOverride) => {
    const i = BUILTIN_ENTITY_TYPES.indexOf(o.entityType as (typeof BUILTIN_ENTITY_TYPES)[number])
    return i === -1 ? BUILTIN_ENTITY_TYPES.length : i
  }
  return rank(a) - rank(b) || compareKeys(a.entityType, b.entityType)
}

/** The id an override of `entityType` is matched against in `context`. */
export function entityIdOf(context: EvaluationContext, entityType: string, now: number): unknown {
  const field = BUILTIN_TYPES.has(entityType)
    ? BUILTIN_ENTITY_FIELDS[entityType as (typeof BUILTIN_ENTITY_TYPES)[number]]
    : undefined
  return field === undefined ? compileReader(entityType)(context, now) : context[field]
}

/** What compiling a flag needs from its snapshot. */
export interface CompileScope {
  readonly revision: number | undefined
  readonly segmentTests: ReadonlyMap<string, CompiledCondition>
  overridesOf(flagKey: string): readonly FlagOverride[]
  hasEnvironmentFlags(flagKey: string): boolean
}

export function details(
  flagKey: string,
  value: FlagValue,
  reason: Reason,
  variant: string | undefined,
  flagMetadata: FlagMetadata,
  errorCode?: ErrorCode,
  errorMessage?: string,
): Details {
  // Always the same seven keys in the same order: one object shape for the whole hot path.
  return { flagKey, value, reason, variant, errorCode, errorMessage, flagMetadata }
}

/** An error result with the caller's default: for the client too (PROVIDER_NOT_READY and friends). */
export function errorDetails<T extends FlagValue>(
  flagKey: string,
  defaultValue: T,
  errorCode: ErrorCode,
  errorMessage: string,
  reason: Reason = 'ERROR',
  flagMetadata: FlagMetadata = EMPTY_METADATA,
): EvaluationDetails<T> {
  return details(flagKey, defaultValue, reason, undefined, flagMetadata, errorCode, errorMessage) as EvaluationDetails<T>
}

export function isMapLike<V>(value: Iterable<V> | ReadonlyMap<string, V>): value is ReadonlyMap<string, V> {
  return (
    typeof (value as ReadonlyMap<string, V>).get === 'function' && typeof (value as ReadonlyMap<string, V>).values === 'function'
  )
}

export function valuesOf<V>(input: Iterable<V> | ReadonlyMap<string, V> | undefined): Iterable<V> {
  if (input === undefined) return []
  return isMapLike(input) ? input.values() : input
}

export function metadataOf(flag: FeatureFlag, revision: number | undefined): FlagMetadata {
  const out: Record<string, string | number | boolean> = {}
  // OpenFeature metadata holds primitives only: copy the flag's primitive metadata, then ours.
  for (const [k, v] of Object.entries(flag.metadata)) {
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v
  }
  out.flagType = flag.type
  out.status = flag.status
  out.version = flag.version
  if (revision !== undefined) out.revision = revision
  return Object.freeze(out)
}

/** `base`: a stored flag (steps 3–4 still to resolve when it has schedules or environment settings); else an effective flag. */
export function compileFlag(scope: CompileScope, flag: FeatureFlag, gate = 100, base = true): CompiledFlag {
  const metadata = metadataOf(flag, scope.revision)
  const key = flag.key
  const isBoolean = flag.type === 'boolean'
  const outcome = (value: FlagValue | undefined, reason: Reason, variant?: string): Outcome => ({
    value,
    reason,
    variant,
    fixed: value === undefined ? undefined : Object.freeze(details(key, value, reason, variant, metadata)),
  })
  // Non-boolean flags fall back to their defaultValue, and without one to the caller's default.
  const served = (enabled: boolean, value: FlagValue | undefined): FlagValue | undefined =>
    isBoolean ? enabled : enabled && value !== undefined ? value : flag.defaultValue

  let needsNow = false

  // Overrides, checked against the flag's type; one that does not fit is ignored.
  let overrides: Map<string, Map<string, CompiledOverride[]>> | undefined
  for (const raw of scope.overridesOf(key)) {
    let override: FlagOverride
    try {
      override = validateOverride(raw, flag, { unknownFields: 'strip' })
    } catch {
      continue
    }
    overrides ??= new Map()
    let byId = overrides.get(override.entityType)
    if (byId === undefined) overrides.set(override.entityType, (byId = new Map()))
    let list = byId.get(override.entityId)
    if (list === undefined) byId.set(override.entityId, (list = []))
    const expiresAt = override.expiresAt?.getTime() ?? Infinity
    if (expiresAt !== Infinity) needsNow = true
    list.push({ expiresAt, outcome: outcome(served(override.enabled, override.value), 'OVERRIDE') })
  }
  const customEntityTypes =
    overrides === undefined
      ? NONE
      : [...overrides.keys()]
          .filter((t) => !BUILTIN_TYPES.has(t))
          .sort(compareKeys)
          .map((type) => ({ type, read: compileReader(type) }))

  const timeWindows = flag.timeSchedules.length === 0 ? NONE : flag.timeSchedules.map(compileTimeSchedule)
  if (timeWindows.length > 0) needsNow = true

  const segments = scope.segmentTests
  const rules: CompiledRule[] = rulesInOrder(flag.rules)
    .filter((rule) => rule.enabled)
    .map((rule) => {
      const condition = allOf(rule.conditions.map((c) => compileCondition(c, (k) => segments.get(k))))
      if (condition.usesNow) needsNow = true
      return {
        test: condition.test,
        rollout: rule.rolloutPercentage ?? 100,
        outcome: outcome(served(rule.serveEnabled, rule.serveValue), 'TARGETING_MATCH', rule.id),
      }
    })

  let variants: CompiledVariants | undefined
  const weighted = flag.variants.filter((v) => v.weight > 0).sort((a, b) => compareKeys(a.key, b.key))
  if (weighted.length > 0) {
    const cumulative = new Float64Array(weighted.length)
    let total = 0
    weighted.forEach((v, i) => {
      total += v.weight
      cumulative[i] = total
    })
    variants = {
      prefix: utf8(`${key}:variant:`),
      total,
      cumulative,
      outcomes: weighted.map((v) => outcome(v.value, 'SPLIT', v.key)),
    }
  }

  let dynamic: DynamicInfo | undefined
  if (base && (flag.scheduledChanges.length > 0 || flag.rolloutPhases.length > 0 || scope.hasEnvironmentFlags(key))) {
    dynamic = { instants: Float64Array.from(scheduleInstants(flag)), base: newEnvState(undefined), byEnvironment: new Map() }
  }
  const active = flag.status === 'active'
  const disabled = outcome(isBoolean ? false : flag.defaultValue, 'DISABLED')
  const fallback = outcome(isBoolean ? flag.defaultEnabled : flag.defaultValue, rules.length > 0 ? 'DEFAULT' : 'STATIC')

  let constant: Details | undefined
  if (dynamic === undefined) {
    if (!active) constant = disabled.fixed
    else if (overrides === undefined && timeWindows.length === 0 && gate >= 100 && rules.length === 0 && variants === undefined) {
      constant = fallback.fixed
    }
  }

  return {
    flag,
    type: flag.type,
    metadata,
    constant,
    dynamic,
    gate,
    needsNow,
    active,
    disabled,
    overrides,
    customEntityTypes,
    timeWindows,
    rules,
    // Only a percentage reads it; most flags have none, and a typed array per flag is ~100 bytes of heap.
    rolloutPrefix: gate < 100 || rules.some((r) => r.rollout < 100) ? utf8(`${key}:`) : NO_PREFIX,
    variants,
    fallback,
  }
}

export function newEnvState(overlay: EnvironmentOverlay | undefined): EnvState {
  return { from: 0, until: 0, current: undefined, overlay, intervals: new Map() }
}

export function resolve(flagKey: string, outcome: Outcome, defaultValue: FlagValue, metadata: FlagMetadata): Details {
  return outcome.fixed ?? details(flagKey, outcome.value ?? defaultValue, outcome.reason, outcome.variant, metadata)
}

export function firstLive(list: readonly CompiledOverride[] | undefined, now: number): Outcome | undefined {
  if (list === undefined) return undefined
  for (let i = 0; i < list.length; i++) {
    const o = list[i]!
    if (o.expiresAt > now) return o.outcome
  }
  return undefined
}

export function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error)
  } catch {
    return 'unknown error'
  }
}

/** The id fields overrides and bucketing read. */
const STRING_FIELDS = ['targetingKey', 'userId', 'organizationId', 'tenantId', 'environment'] as const

/** What makes a context unusable (the id fields overrides and bucketing read), or undefined. */
export function contextProblem(context: EvaluationContext): string | undefined {
  for (let i = 0; i < STRING_FIELDS.length; i++) {
    const field = STRING_FIELDS[i]!
    const value: unknown = context[field]
    if (value !== undefined && typeof value !== 'string') return `${field}: must be a string, got ${typeof value}`
  }
  const attributes: unknown = context.attributes
  if (attributes !== undefined && (attributes === null || typeof attributes !== 'object')) {
    return 'attributes: must be an object'
  }
  const now: unknown = context.now
  if (now !== undefined && !(now instanceof Date) && typeof now !== 'number') return 'now: must be a Date or epoch milliseconds'
  return undefined
}

/** The schedule interval holding `now`: how many of the ascending `instants` are <= now. */
export function intervalIndex(instants: Float64Array, now: number): number {
  let lo = 0
  let hi = instants.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (instants[mid]! <= now) lo = mid + 1
    else hi = mid
  }
  return lo
}
