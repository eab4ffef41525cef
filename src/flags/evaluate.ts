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
 * 3 environment and 4 schedules (hook: `effectiveFlag`); 5 not active → DISABLED; 6 overrides →
 * OVERRIDE; 7 time schedules all closed → DISABLED; 8 rules → TARGETING_MATCH (variant = rule id);
 * 9 variants → SPLIT; 10 default → STATIC, or DEFAULT when enabled rules exist and none matched.
 *
 * Values: boolean flags serve their `enabled` fields (`defaultEnabled`, `serveEnabled`, override
 * `enabled`); "disabled" is `false`. Other types serve `serveValue` / override `value` / variant
 * `value`, and otherwise (and when disabled, or served with `enabled: false`) the flag's
 * `defaultValue`, or the caller's default when the flag has none.
 */
import { validateFlag, validateOverride, validateSegment } from './codec.js'
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
} from './model.js'
import { allOf, compileCondition, compileReader, compileSegments, type AttributeReader, type CompiledCondition, type ConditionTest } from './operators.js'
import { compileTimeSchedule } from './time-windows.js'

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

/** One flag ready to evaluate. */
interface CompiledFlag {
  readonly flag: FeatureFlag
  readonly type: FlagType
  readonly metadata: FlagMetadata
  /** The whole answer when nothing depends on context, clock or the caller's default. */
  readonly constant: Details | undefined
  /** Steps 3–4 may change the flag: call the `effectiveFlag` hook. */
  readonly dynamic: boolean
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
  return typeof (value as ReadonlyMap<string, V>).get === 'function' && typeof (value as ReadonlyMap<string, V>).values === 'function'
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

/**
 * Hook for evaluation steps 3 (environments) and 4 (scheduled changes, rollout phases): the flag
 * as it is in `context.environment` at `now`. The environments and schedules issues fill this in;
 * for now the stored flag is the effective flag. Return the same object when nothing changes
 * (the evaluator then keeps the precompiled form); a different object is compiled and cached by
 * identity, so return memoised objects.
 */
export function effectiveFlag(flag: FeatureFlag, _context: EvaluationContext, _now: number, _snapshot?: CompiledSnapshot): FeatureFlag {
  return flag
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
  readonly #derived = new WeakMap<FeatureFlag, CompiledFlag | BrokenFlag>()

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

    this.environments = new Map([...valuesOf(input.environments)].map((e) => [e.slug, e]))
    const envFlags = new Map<string, Map<string, EnvironmentFlag>>()
    for (const ef of input.environmentFlags ?? []) {
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
      return details(flagKey, defaultValue, 'DEFAULT', undefined, EMPTY_METADATA, 'FLAG_NOT_FOUND', `flag "${flagKey}" does not exist`)
    }
    if ('parseError' in cf) {
      return details(flagKey, defaultValue, 'ERROR', undefined, EMPTY_METADATA, 'PARSE_ERROR', `flag "${flagKey}" is unreadable: ${cf.parseError}`)
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
      return details(flagKey, defaultValue, 'ERROR', undefined, cf.metadata, 'INVALID_CONTEXT', 'the evaluation context must be an object')
    }
    if (cf.constant !== undefined) return cf.constant

    const problem = contextProblem(context)
    if (problem !== undefined) {
      return details(flagKey, defaultValue, 'ERROR', undefined, cf.metadata, 'INVALID_CONTEXT', problem)
    }
    // The clock is read here, at evaluation, and only when something needs it.
    let now = 0
    if (cf.needsNow || cf.dynamic) {
      const given = nowArg ?? context.now
      now = given === undefined ? Date.now() : given instanceof Date ? given.getTime() : given
      if (!Number.isFinite(now)) {
        return details(flagKey, defaultValue, 'ERROR', undefined, cf.metadata, 'INVALID_CONTEXT', 'now: must be a valid Date or epoch milliseconds')
      }
    }

    // 3–4. Environment and schedules: hook (environments / schedules issues).
    if (cf.dynamic) {
      const effective = effectiveFlag(cf.flag, context, now, this)
      if (effective !== cf.flag) {
        const derived = this.#derive(effective)
        if ('parseError' in derived) {
          return details(flagKey, defaultValue, 'ERROR', undefined, cf.metadata, 'PARSE_ERROR', derived.parseError)
        }
        cf = derived
      }
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

    // 8. Rules, by priority; a rule whose rollout leaves this subject out falls through.
    const rules = cf.rules
    const targetingKey = context.targetingKey
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

  #derive(flag: FeatureFlag): CompiledFlag | BrokenFlag {
    let compiled = this.#derived.get(flag)
    if (compiled === undefined) {
      try {
        compiled = this.#compileFlag(validateFlag(flag, { unknownFields: 'strip' }))
      } catch (error) {
        compiled = { parseError: messageOf(error) }
      }
      this.#derived.set(flag, compiled)
    }
    return compiled
  }

  #compileFlag(flag: FeatureFlag): CompiledFlag {
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

    const dynamic = flag.scheduledChanges.length > 0 || flag.rolloutPhases.length > 0 || this.environmentFlags.has(key)
    const active = flag.status === 'active'
    const disabled = outcome(isBoolean ? false : flag.defaultValue, 'DISABLED')
    const fallback = outcome(isBoolean ? flag.defaultEnabled : flag.defaultValue, rules.length > 0 ? 'DEFAULT' : 'STATIC')

    let constant: Details | undefined
    if (!dynamic) {
      if (!active) constant = disabled.fixed
      else if (overrides === undefined && timeWindows.length === 0 && rules.length === 0 && variants === undefined) {
        constant = fallback.fixed
      }
    }

    return {
      flag,
      type: flag.type,
      metadata,
      constant,
      dynamic,
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
