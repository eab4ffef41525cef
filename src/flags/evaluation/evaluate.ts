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
import { validateFlag } from '../codec/index.js'
import type {
  Environment,
  EnvironmentFlag,
  EvaluationContext,
  EvaluationDetails,
  FeatureFlag,
  FlagType,
  FlagValue,
  Segment,
} from '../model.js'
import {
  BUILTIN_ENTITIES,
  type BrokenFlag,
  type CompiledFlag,
  type CompileScope,
  compileFlag,
  contextProblem,
  type Details,
  details,
  type DynamicInfo,
  EMPTY_CONTEXT,
  EMPTY_METADATA,
  type EnvState,
  errorDetails,
  firstLive,
  intervalIndex,
  MAX_CACHED_INTERVALS,
  messageOf,
  newEnvState,
  resolve,
} from './compile.js'
import { applyOverlayToState, environmentOverlay, resolveChain } from './environments.js'
import { hashWithPrefix, inRolloutPrefixed } from './hash.js'
import { flagAt } from './schedules.js'
import { nextEvaluation } from '../matchers/segments.js'
import type { SnapshotInput } from './snapshot-documents.js'
import { compileParts, scopeOf, type SnapshotParts } from './snapshot-parts.js'

export type { SnapshotInput }

export { errorDetails }

/** Anything `evaluate` accepts: a compiled snapshot, or raw input (compiled on first use and cached). */
export type Snapshot = CompiledSnapshot | SnapshotInput

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
  readonly #compiled: ReadonlyMap<string, CompiledFlag | BrokenFlag>
  readonly #scope: CompileScope
  /** Environment flags that failed validation, by flag key then environment slug: their message. */
  readonly #brokenEnvironmentFlags: ReadonlyMap<string, ReadonlyMap<string, string>>

  /** `parts`: for client/delta.ts, which builds them from a previous snapshot's (the input is then not read). */
  constructor(input: SnapshotInput, parts: SnapshotParts = compileParts(input)) {
    this.revision = parts.revision
    this.flags = parts.flags
    this.segments = parts.segments
    this.environments = parts.environments
    this.environmentFlags = parts.environmentFlags
    this.#compiled = parts.compiled
    this.#brokenEnvironmentFlags = parts.brokenEnvironmentFlags
    this.#scope = scopeOf(parts, parts.revision)
    PARTS.set(this, parts)
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
      return errorDetails(flagKey, defaultValue, 'FLAG_NOT_FOUND', `flag "${flagKey}" does not exist`, 'DEFAULT')
    }
    if ('parseError' in cf) {
      return errorDetails(
        flagKey,
        defaultValue,
        'PARSE_ERROR',
        `flag "${flagKey}" is unreadable: ${cf.parseError}`,
        'ERROR',
        EMPTY_METADATA,
      )
    }
    // 2. Type.
    if (expectedType !== undefined && expectedType !== cf.type) {
      return errorDetails(
        flagKey,
        defaultValue,
        'TYPE_MISMATCH',
        `flag "${flagKey}" is of type ${cf.type}, not ${expectedType}`,
        'ERROR',
        cf.metadata,
      )
    }
    if (context === null || typeof context !== 'object') {
      return errorDetails(
        flagKey,
        defaultValue,
        'INVALID_CONTEXT',
        'the evaluation context must be an object',
        'ERROR',
        cf.metadata,
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
        return errorDetails(
          flagKey,
          defaultValue,
          'INVALID_CONTEXT',
          'now: must be a valid Date or epoch milliseconds',
          'ERROR',
          cf.metadata,
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
    if (rules.length > 0) nextEvaluation() // segments named by these rules: each computed once (segments.ts)
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
    const i = intervalIndex(instants, now)
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
        compiled = compileFlag(
          this.#scope,
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
}

const compiledInputs = new WeakMap<SnapshotInput, CompiledSnapshot>()
const PARTS = new WeakMap<CompiledSnapshot, SnapshotParts>()

/** What `snapshot` is made of (for client/delta.ts; not part of the public API). */
export function snapshotParts(snapshot: CompiledSnapshot): SnapshotParts {
  return PARTS.get(snapshot) as SnapshotParts
}

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
