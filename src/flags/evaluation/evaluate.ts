/**
 * The evaluator: a pure function of (snapshot, flag key, context, now) that never throws.
 *
 * A snapshot is compiled once (`compileSnapshot`, which the client calls when it loads one):
 * every flag is validated, its rules sorted and their conditions compiled to closures, overrides
 * indexed, hash prefixes encoded, and every outcome whose value does not depend on the caller's
 * default turned into a frozen result object. Evaluating a plain flag is then a map lookup, a type
 * check and returning that object: no allocation on the hot path. Results are therefore shared
 * and frozen; treat them as immutable.
 *
 * Order (flags.md): 1 missing → DEFAULT/FLAG_NOT_FOUND; 2 type differs → ERROR/TYPE_MISMATCH;
 * 3 environment (`context.environment`, see `environments.ts`) and 4 scheduled changes and rollout
 * phases at `now` (see `schedules.ts`); 5 not active → DISABLED; 6 overrides → OVERRIDE; 7 time
 * schedules all closed → DISABLED; then the rollout gate (the environment's `percentage`, else the
 * flag-level percentage set by rollout phases / `setRollout`): outside it → DISABLED; 8 rules →
 * TARGETING_MATCH (variant = rule id); 9 variants → SPLIT; 10 default → STATIC, or DEFAULT when
 * enabled rules exist and none matched.
 *
 * Steps 3–4 are memoised: a flag with schedules or environment settings is resolved once per
 * (environment, interval between two schedule instants), compiled, and kept until `now` leaves that
 * interval, so evaluating it costs a map lookup and two comparisons more than a plain flag. Flags
 * without either take exactly the plain path.
 *
 * Values: boolean flags serve their `enabled` fields (`defaultEnabled`, `serveEnabled`, override
 * `enabled`); "disabled" is `false`. Other types serve `serveValue` / override `value` / variant
 * `value`, and otherwise (and when disabled, or served with `enabled: false`) the flag's
 * `defaultValue`, or the caller's default when the flag has none.
 */
import { validateEnvironment, validateEnvironmentFlag, validateFlag, validateOverride, validateSegment } from '../codec/codec.js'
import { applyOverlayToState, environmentOverlay, resolveChain, type EnvironmentOverlay } from './environments.js'
import { hashWithPrefix, inRolloutPrefixed, compareKeys, utf8 } from './hash.js'
import type {
  Environment,
  EnvironmentFlag,
  ErrorCode,
  EvaluationContext,
  EvaluationDetails,
  FeatureFlag,
  FlagMetadata,
  FlagOverride,
  FlagType,
  FlagValue,
  Reason,
  Segment,
} from '../model.js'
import {
  allOf,
  compileCondition,
  compileReader,
  compileSegments,
  type AttributeReader,
  type CompiledCondition,
  type ConditionTest,
} from '../matchers/operators.js'
import { flagAt, scheduleInstants } from './schedules.js'
import { compileTimeSchedule } from '../matchers/time-windows.js'

/** What a snapshot is made of: arrays (as repositories return them) or maps keyed by key. */
export interface SnapshotInput {
  readonly flags: Iterable<FeatureFlag> | ReadonlyMap<string, FeatureFlag>
  /** All overrides, or overrides grouped by flag key. */
  readonly overrides?: Iterable<FlagOverride> | ReadonlyMap<string, readonly FlagOverride[]>
  readonly segments?: Iterable<Segment> | ReadonlyMap<string, Segment>
  /** The repository's change counter; reported in each result's `flagMetadata.revision`. */
  readonly revision?: number
  /** Flags whose stored document could not be read: they evaluate to ERROR / PARSE_ERROR. */
  readonly corrupt?: ReadonlyArray<{ readonly flagKey: string; readonly message: string }>
  /** For evaluation step 3 (environments issue). */
  readonly environments?: Iterable<Environment> | ReadonlyMap<string, Environment>
  readonly environmentFlags?: Iterable<EnvironmentFlag>
}

/** Anything `evaluate` accepts: a compiled snapshot, or raw input (compiled on first use and cached). */
export type Snapshot = CompiledSnapshot | SnapshotInput

type Details = EvaluationDetails<FlagValue>

/** An outcome fixed at compile time: the frozen result when its value is known, else what to build. */
interface Outcome {
  readonly fixed: Details | undefined
  readonly reason: Reason
  readonly variant: string | undefined
  /** For non-boolean flags without a defaultValue: undefined means "the caller's default". */
  readonly value: FlagValue | undefined
}

interface CompiledOverride {
  readonly expiresAt: number
  readonly outcome: Outcome
}

interface CompiledRule {
  readonly test: ConditionTest
  readonly rollout: number
  readonly outcome: Outcome
}

interface CompiledVariants {
  readonly prefix: Uint8Array
  readonly total: number
  readonly cumulative: Float64Array
  readonly outcomes: readonly Outcome[]
}

/** Steps 3–4 for one environment of one flag: the compiled effective flag for the current schedule interval. */
interface EnvState {
  /** `current` holds for `now` in `[from, until)`. */
  from: number
  until: number
  current: CompiledFlag | BrokenFlag | undefined
  readonly overlay: EnvironmentOverlay | undefined
  /** Compiled effective flags by schedule interval index (bounded; see `MAX_CACHED_INTERVALS`). */
  readonly intervals: Map<number, CompiledFlag | BrokenFlag>
}

/** What a flag with schedules or environment settings needs to resolve steps 3–4. */
interface DynamicInfo {
  /** Distinct schedule instants, ascending: interval `i` is `[instants[i-1], instants[i])`. */
  readonly instants: Float64Array
  /** No environment, an unknown one, or one whose chain sets nothing for this flag. */
  readonly base: EnvState
  /** Known environments only (so a hostile context cannot grow it). */
  readonly byEnvironment: Map<string, EnvState>
}

const MAX_CACHED_INTERVALS = 8

/** One flag ready to evaluate. */
interface CompiledFlag {
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

interface BrokenFlag {
  readonly parseError: string
}

const EMPTY_METADATA: FlagMetadata = Object.freeze({})
const EMPTY_CONTEXT: EvaluationContext = Object.freeze({})

const BUILTIN_ENTITIES: readonly (readonly [string, keyof EvaluationContext])[] = [
  ['user', 'userId'],
  ['organization', 'organizationId'],
  ['tenant', 'tenantId'],
  ['targetingKey', 'targetingKey'],
]
const BUILTIN_ENTITY_TYPES: ReadonlySet<string> = new Set(BUILTIN_ENTITIES.map(([type]) => type))

function details(
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

function isMapLike<V>(value: Iterable<V> | ReadonlyMap<string, V>): value is ReadonlyMap<string, V> {
  return (
    typeof (value as ReadonlyMap<string, V>).get === 'function' && typeof (value as ReadonlyMap<string, V>).values === 'function'
  )
}

function valuesOf<V>(input: Iterable<V> | ReadonlyMap<string, V> | undefined): Iterable<V> {
  if (input === undefined) return []
  return isMapLike(input) ? input.values() : input
}

function metadataOf(flag: FeatureFlag, revision: number | undefined): FlagMetadata {
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

/** A snapshot compiled for evaluation. Build with `compileSnapshot`. */
export class CompiledSnapshot {
  /** The repository revision this snapshot was read at, if known. */
  readonly revision: number | undefined
  /** The validated flags by key (flags that failed validation are left out: they evaluate to PARSE_ERROR). */
  readonly flags: ReadonlyMap<string, FeatureFlag>
  readonly segments: ReadonlyMap<string, Segment>
  readonly environments: ReadonlyMap<string, Environment>
  /** By flag key, then environment slug. */
  readonly environmentFlags: ReadonlyMap<string, ReadonlyMap<string, EnvironmentFlag>>
  readonly #compiled: Map<string, CompiledFlag | BrokenFlag>
  readonly #segmentTests: ReadonlyMap<string, CompiledCondition>
  readonly #overridesByFlag: Map<string, FlagOverride[]>
  /** Environment flags that failed validation, by flag key then environment slug: their message. */
  readonly #brokenEnvironmentFlags = new Map<string, Map<string, string>>()

  constructor(input: SnapshotInput) {
    this.revision = input.revision
    const segments = new Map<string, Segment>()
    for (const raw of valuesOf(input.segments)) {
      try {
        const segment = validateSegment(raw, { unknownFields: 'strip' })
        segments.set(segment.key, segment)
      } catch {
        // An invalid segment is left out: conditions naming it never match.
      }
    }
    this.segments = segments
    this.#segmentTests = compileSegments(segments)

    this.#overridesByFlag = new Map()
    const overrideInput = input.overrides
    let overrideLists: Iterable<FlagOverride> = []
    if (overrideInput !== undefined) {
      overrideLists = isMapLike<readonly FlagOverride[]>(overrideInput as ReadonlyMap<string, readonly FlagOverride[]>)
        ? [...(overrideInput as ReadonlyMap<string, readonly FlagOverride[]>).values()].flat()
        : (overrideInput as Iterable<FlagOverride>)
    }
    for (const override of overrideLists) {
      if (override === null || typeof override !== 'object') continue
      const list = this.#overridesByFlag.get(override.flagKey)
      if (list === undefined) this.#overridesByFlag.set(override.flagKey, [override])
      else list.push(override)
    }

    const environments = new Map<string, Environment>()
    for (const raw of valuesOf(input.environments)) {
      try {
        const environment = validateEnvironment(raw, { unknownFields: 'strip' })
        environments.set(environment.slug, environment)
      } catch {
        // An invalid environment is left out: its slug evaluates the base flag.
      }
    }
    this.environments = environments
    const envFlags = new Map<string, Map<string, EnvironmentFlag>>()
    for (const raw of input.environmentFlags ?? []) {
      let ef: EnvironmentFlag
      try {
        // Rule and variant values are checked against the flag's type when the effective flag is compiled.
        ef = validateEnvironmentFlag(raw, undefined, { unknownFields: 'strip' })
      } catch (error) {
        // Unreadable settings must not be skipped silently (an ignored `enabled: false` would turn the
        // flag on): the flag is a PARSE_ERROR in every environment whose chain includes this one.
        const flagKey = raw !== null && typeof raw === 'object' && typeof raw.flagKey === 'string' ? raw.flagKey : undefined
        const environment =
          raw !== null && typeof raw === 'object' && typeof raw.environment === 'string' ? raw.environment : undefined
        if (flagKey !== undefined && environment !== undefined) {
          let broken = this.#brokenEnvironmentFlags.get(flagKey)
          if (broken === undefined) this.#brokenEnvironmentFlags.set(flagKey, (broken = new Map()))
          broken.set(environment, messageOf(error))
          if (!envFlags.has(flagKey)) envFlags.set(flagKey, new Map())
        }
        continue
      }
      let byEnv = envFlags.get(ef.flagKey)
      if (byEnv === undefined) envFlags.set(ef.flagKey, (byEnv = new Map()))
      byEnv.set(ef.environment, ef)
    }
    this.environmentFlags = envFlags

    this.#compiled = new Map()
    const flags = new Map<string, FeatureFlag>()
    for (const raw of valuesOf(input.flags)) {
      const key = raw !== null && typeof raw === 'object' && typeof raw.key === 'string' ? raw.key : undefined
      let flag: FeatureFlag
      try {
        flag = validateFlag(raw, { unknownFields: 'strip' })
      } catch (error) {
        if (key !== undefined) this.#compiled.set(key, { parseError: messageOf(error) })
        continue
      }
      flags.set(flag.key, flag)
      this.#compiled.set(flag.key, this.#compileFlag(flag))
    }
    for (const { flagKey, message } of input.corrupt ?? []) {
      if (!flags.has(flagKey)) this.#compiled.set(flagKey, { parseError: message })
    }
    this.flags = flags
  }

  /** Keys of every flag in the snapshot, including ones that evaluate to PARSE_ERROR. */
  keys(): IterableIterator<string> {
    return this.#compiled.keys()
  }

  /** See `evaluate`. */
  evaluate<T extends FlagValue>(
    flagKey: string,
    expectedType: FlagType | undefined,
    defaultValue: T,
    context: EvaluationContext = EMPTY_CONTEXT,
    now?: number | Date,
  ): EvaluationDetails<T> {
    try {
      return this.#evaluate(flagKey, expectedType, defaultValue, context, now) as EvaluationDetails<T>
    } catch (error) {
      return errorDetails(flagKey, defaultValue, 'GENERAL', `evaluation failed: ${messageOf(error)}`)
    }
  }

  #evaluate(
    flagKey: string,
    expectedType: FlagType | undefined,
    defaultValue: FlagValue,
    context: EvaluationContext,
    nowArg: number | Date | undefined,
  ): Details {
    let cf = this.#compiled.get(flagKey)
    // 1. Missing.
    if (cf === undefined) {
      return details(
        flagKey,
        defaultValue,
        'DEFAULT',
        undefined,
        EMPTY_METADATA,
        'FLAG_NOT_FOUND',
        `flag "${flagKey}" does not exist`,
      )
    }
    if ('parseError' in cf) {
      return details(
        flagKey,
        defaultValue,
        'ERROR',
        undefined,
        EMPTY_METADATA,
        'PARSE_ERROR',
        `flag "${flagKey}" is unreadable: ${cf.parseError}`,
      )
    }
    // 2. Type.
    if (expectedType !== undefined && expectedType !== cf.type) {
      return details(
        flagKey,
        defaultValue,
        'ERROR',
        undefined,
        cf.metadata,
        'TYPE_MISMATCH',
        `flag "${flagKey}" is of type ${cf.type}, not ${expectedType}`,
      )
    }
    if (context === null || typeof context !== 'object') {
      return details(
        flagKey,
        defaultValue,
        'ERROR',
        undefined,
        cf.metadata,
        'INVALID_CONTEXT',
        'the evaluation context must be an object',
      )
    }
    if (cf.constant !== undefined) return cf.constant

    const problem = contextProblem(context)
    if (problem !== undefined) {
      return details(flagKey, defaultValue, 'ERROR', undefined, cf.metadata, 'INVALID_CONTEXT', problem)
    }
    // The clock is read here, at evaluation, and only when something needs it.
    let now = 0
    if (cf.needsNow || cf.dynamic !== undefined) {
      const given = nowArg ?? context.now
      now = given === undefined ? Date.now() : given instanceof Date ? given.getTime() : given
      if (!Number.isFinite(now)) {
        return details(
          flagKey,
          defaultValue,
          'ERROR',
          undefined,
          cf.metadata,
          'INVALID_CONTEXT',
          'now: must be a valid Date or epoch milliseconds',
        )
      }
    }

    // 3–4. Environment and schedules, memoised per environment and schedule interval.
    const dynamic = cf.dynamic
    if (dynamic !== undefined) {
      let state = dynamic.base
      const environment = context.environment
      if (environment !== undefined && environment !== '') {
        const known = dynamic.byEnvironment.get(environment)
        if (known !== undefined) state = known
        else if (this.environments.has(environment)) state = this.#environmentState(cf.flag, dynamic, environment)
      }
      let resolved = state.current
      if (resolved === undefined || !(now >= state.from && now < state.until))
        resolved = this.#advance(cf.flag, dynamic, state, now)
      if ('parseError' in resolved) {
        return details(flagKey, defaultValue, 'ERROR', undefined, cf.metadata, 'PARSE_ERROR', resolved.parseError)
      }
      cf = resolved
      if (cf.constant !== undefined) return cf.constant
    }

    // 5. Status.
    if (!cf.active) return resolve(flagKey, cf.disabled, defaultValue, cf.metadata)

    // 6. Overrides: user, organization, tenant, targetingKey, then custom entity types.
    const overrides = cf.overrides
    if (overrides !== undefined) {
      for (let i = 0; i < BUILTIN_ENTITIES.length; i++) {
        const [entityType, field] = BUILTIN_ENTITIES[i]!
        const byId = overrides.get(entityType)
        if (byId === undefined) continue
        const id = context[field]
        if (typeof id !== 'string') continue
        const hit = firstLive(byId.get(id), now)
        if (hit !== undefined) return resolve(flagKey, hit, defaultValue, cf.metadata)
      }
      for (const { type, read } of cf.customEntityTypes) {
        const id = read(context, now)
        if (typeof id !== 'string') continue
        const hit = firstLive(overrides.get(type)?.get(id), now)
        if (hit !== undefined) return resolve(flagKey, hit, defaultValue, cf.metadata)
      }
    }

    // 7. Time schedules: with any, one must be open.
    const windows = cf.timeWindows
    if (windows.length > 0) {
      let open = false
      for (let i = 0; i < windows.length && !open; i++) open = windows[i]!(now)
      if (!open) return resolve(flagKey, cf.disabled, defaultValue, cf.metadata)
    }

    // Rollout gate: the environment's percentage, else the flag-level one (phases, setRollout).
    const targetingKey = context.targetingKey
    if (cf.gate < 100 && !inRolloutPrefixed(cf.rolloutPrefix, targetingKey, cf.gate)) {
      return resolve(flagKey, cf.disabled, defaultValue, cf.metadata)
    }

    // 8. Rules, by priority; a rule whose rollout leaves this subject out falls through.
    const rules = cf.rules
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!
      if (!rule.test(context, now)) continue
      if (rule.rollout < 100 && !inRolloutPrefixed(cf.rolloutPrefix, targetingKey, rule.rollout)) continue
      return resolve(flagKey, rule.outcome, defaultValue, cf.metadata)
    }

    // 9. Variants.
    const variants = cf.variants
    if (variants !== undefined) {
      const bucket = hashWithPrefix(variants.prefix, targetingKey ?? '') % variants.total
      const cumulative = variants.cumulative
      let chosen = cumulative.length - 1
      for (let i = 0; i < cumulative.length; i++) {
        if (bucket < cumulative[i]!) {
          chosen = i
          break
        }
      }
      return resolve(flagKey, variants.outcomes[chosen]!, defaultValue, cf.metadata)
    }

    // 10. Default.
    return resolve(flagKey, cf.fallback, defaultValue, cf.metadata)
  }

  /** The state for a known environment: shared with the base when its chain sets nothing for this flag. */
  #environmentState(flag: FeatureFlag, dynamic: DynamicInfo, environment: string): EnvState {
    const resolution = resolveChain(this.environments, this.environmentFlags, flag.key, environment)
    const broken = this.#brokenEnvironmentFlags.get(flag.key)
    const brokenIn = broken === undefined ? undefined : resolution.chain.find((slug) => broken.has(slug))
    let state: EnvState
    if (brokenIn !== undefined) {
      state = newEnvState(undefined)
      state.from = -Infinity
      state.until = Infinity
      state.current = {
        parseError: `settings of flag "${flag.key}" in environment "${brokenIn}" are unreadable: ${broken!.get(brokenIn)!}`,
      }
    } else {
      const overlay = environmentOverlay(resolution)
      state = overlay === undefined ? dynamic.base : newEnvState(overlay)
    }
    dynamic.byEnvironment.set(environment, state)
    return state
  }

  /** Moves `state` to the schedule interval holding `now`, compiling that interval's effective flag if needed. */
  #advance(flag: FeatureFlag, dynamic: DynamicInfo, state: EnvState, now: number): CompiledFlag | BrokenFlag {
    const instants = dynamic.instants
    // i = how many instants are <= now: the interval index.
    let lo = 0
    let hi = instants.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (instants[mid]! <= now) lo = mid + 1
      else hi = mid
    }
    const i = lo
    let compiled = state.intervals.get(i)
    if (compiled === undefined) {
      try {
        const scheduled = flagAt(flag, now)
        const effective = applyOverlayToState(
          scheduled.flag,
          scheduled.rolloutPercentage,
          scheduled.from,
          scheduled.until,
          state.overlay,
        )
        compiled = this.#compileFlag(
          validateFlag(effective.flag, { unknownFields: 'strip' }),
          effective.rolloutPercentage ?? 100,
          false,
        )
      } catch (error) {
        compiled = { parseError: messageOf(error) }
      }
      if (state.intervals.size >= MAX_CACHED_INTERVALS) state.intervals.clear()
      state.intervals.set(i, compiled)
    }
    state.from = i === 0 ? -Infinity : instants[i - 1]!
    state.until = i === instants.length ? Infinity : instants[i]!
    state.current = compiled
    return compiled
  }

  /** `base`: a stored flag (steps 3–4 still to resolve when it has schedules or environment settings); else an effective flag. */
  #compileFlag(flag: FeatureFlag, gate = 100, base = true): CompiledFlag {
    const metadata = metadataOf(flag, this.revision)
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
    for (const raw of this.#overridesByFlag.get(key) ?? []) {
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
        ? []
        : [...overrides.keys()]
            .filter((t) => !BUILTIN_ENTITY_TYPES.has(t))
            .sort(compareKeys)
            .map((type) => ({ type, read: compileReader(type) }))

    const timeWindows = flag.timeSchedules.map(compileTimeSchedule)
    if (timeWindows.length > 0) needsNow = true

    const segments = this.#segmentTests
    const enabledRules = flag.rules
      .map((rule, index) => ({ rule, index }))
      .filter(({ rule }) => rule.enabled)
      .sort((a, b) => a.rule.priority - b.rule.priority || a.index - b.index)
    const rules: CompiledRule[] = enabledRules.map(({ rule }) => {
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
    if (base && (flag.scheduledChanges.length > 0 || flag.rolloutPhases.length > 0 || this.environmentFlags.has(key))) {
      dynamic = { instants: Float64Array.from(scheduleInstants(flag)), base: newEnvState(undefined), byEnvironment: new Map() }
    }
    const active = flag.status === 'active'
    const disabled = outcome(isBoolean ? false : flag.defaultValue, 'DISABLED')
    const fallback = outcome(isBoolean ? flag.defaultEnabled : flag.defaultValue, rules.length > 0 ? 'DEFAULT' : 'STATIC')

    let constant: Details | undefined
    if (dynamic === undefined) {
      if (!active) constant = disabled.fixed
      else if (
        overrides === undefined &&
        timeWindows.length === 0 &&
        gate >= 100 &&
        rules.length === 0 &&
        variants === undefined
      ) {
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
      rolloutPrefix: utf8(`${key}:`),
      variants,
      fallback,
    }
  }
}

function newEnvState(overlay: EnvironmentOverlay | undefined): EnvState {
  return { from: 0, until: 0, current: undefined, overlay, intervals: new Map() }
}

function resolve(flagKey: string, outcome: Outcome, defaultValue: FlagValue, metadata: FlagMetadata): Details {
  return outcome.fixed ?? details(flagKey, outcome.value ?? defaultValue, outcome.reason, outcome.variant, metadata)
}

function firstLive(list: readonly CompiledOverride[] | undefined, now: number): Outcome | undefined {
  if (list === undefined) return undefined
  for (let i = 0; i < list.length; i++) {
    const o = list[i]!
    if (o.expiresAt > now) return o.outcome
  }
  return undefined
}

const STRING_FIELDS = ['targetingKey', 'userId', 'organizationId', 'tenantId', 'environment'] as const

/** What makes a context unusable (the id fields overrides and bucketing read), or undefined. */
function contextProblem(context: EvaluationContext): string | undefined {
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

function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error)
  } catch {
    return 'unknown error'
  }
}

const compiledInputs = new WeakMap<SnapshotInput, CompiledSnapshot>()

/**
 * Compiles a snapshot for evaluation (validating every document; invalid flags become PARSE_ERROR
 * results, invalid overrides and segments are left out). Call once per loaded snapshot.
 */
export function compileSnapshot(input: SnapshotInput): CompiledSnapshot {
  if (input instanceof CompiledSnapshot) return input
  return new CompiledSnapshot(input)
}

/**
 * Evaluates `flagKey` for `context`. `expectedType` is the type the caller asks for (undefined:
 * any). `now` defaults to `context.now`, then to the real clock read during this call. Never throws:
 * every failure is a result with the caller's `defaultValue`, reason ERROR (or DEFAULT for a missing
 * flag) and an error code.
 */
export function evaluate<T extends FlagValue>(
  snapshot: Snapshot,
  flagKey: string,
  expectedType: FlagType | undefined,
  defaultValue: T,
  context?: EvaluationContext,
  now?: number | Date,
): EvaluationDetails<T> {
  try {
    let compiled: CompiledSnapshot | undefined
    if (snapshot instanceof CompiledSnapshot) {
      compiled = snapshot
    } else {
      compiled = compiledInputs.get(snapshot)
      if (compiled === undefined) {
        compiled = new CompiledSnapshot(snapshot)
        compiledInputs.set(snapshot, compiled)
      }
    }
    return compiled.evaluate(flagKey, expectedType, defaultValue, context, now)
  } catch (error) {
    return errorDetails(flagKey, defaultValue, 'GENERAL', `evaluation failed: ${messageOf(error)}`)
  }
}
