/**
 * Environments (evaluation step 3), the pure part: chain resolution, the per-environment view of a
 * flag, and promotion plans. Storage lives in the repositories.
 *
 * Environments form a tree by `parent` (cycles are rejected on write by `checkEnvironmentCycles`;
 * a cycle or a dangling parent that still reaches a snapshot ends the walk instead of looping).
 * Resolving flag F for environment E walks E, E's parent, … to the root; each field of
 * `EnvironmentFlag` comes from the first environment in that chain that sets it, else from the base
 * flag:
 *
 * - `enabled`: the same as a scheduled `enable` / `disable`. `false` turns the flag off in that
 *   environment (status `inactive`: the off value, reason DISABLED, for everyone, overrides
 *   included); `true` turns it on (status `active`, and a boolean flag serves `true` by default:
 *   `isEnabled` answers true in an environment that says `enabled: true`, unless a rule, override
 *   or variant says otherwise), even when the base flag is off. An `archived` flag stays archived
 *   everywhere.
 * - `percentage`: a rollout gate applied on top of the flag's own evaluation, in the same place and
 *   with the same bucketing as the flag-level percentage (see `schedules.ts`): after overrides and
 *   time schedules, before rules; outside it → the off value, reason DISABLED. It buckets with the
 *   flag's own rollout hash (`murmur3(flagKey + ':' + targetingKey)`), not an environment-salted
 *   one: a subject in staging's 10% is also in production's 10%, raising a percentage only adds
 *   subjects, and promoting a percentage keeps the same people in. When an environment sets a
 *   percentage it replaces the flag-level one (rollout phases, `setRollout`) in that environment.
 * - `rules`, `variants`: replace the flag's rules / variants.
 *
 * Schedules and environments compose as "an environment's explicit setting wins": scheduled changes
 * and rollout phases change the base flag (step 4 is computed on the stored document), and every
 * field an environment sets overrides the scheduled base value. So a scheduled `enable` turns the
 * flag on in every environment that inherits `enabled` from the flag, and not in one that says
 * `enabled: false`. This is also what makes the background fold-in safe: folding rewrites the base
 * flag only, so results are the same before and after it in every environment.
 *
 * An unknown environment (or none) evaluates the base flag; an `EnvironmentFlag` naming an unknown
 * environment is ignored.
 */
import type { Environment, EnvironmentFlag, FeatureFlag, FlagRule, FlagVariant } from '../model.js'
import { flagAt, withEnabled } from './schedules.js'
import { checkOptions } from '../../internal/objects.js'

/** The `source` of a value that no environment in the chain sets. Environment slugs cannot be `flag` (rejected on write). */
export const BASE_SOURCE = 'flag'

/** The fields an environment can set for a flag. */
export const ENVIRONMENT_FIELDS = ['enabled', 'percentage', 'rules', 'variants'] as const
export type EnvironmentField = (typeof ENVIRONMENT_FIELDS)[number]

/** Environments as a list or by slug. */
export type EnvironmentsInput = Iterable<Environment> | ReadonlyMap<string, Environment>
/** Environment flags as a list, or by flag key then environment slug (as `CompiledSnapshot.environmentFlags`). */
export type EnvironmentFlagsInput = Iterable<EnvironmentFlag> | ReadonlyMap<string, ReadonlyMap<string, EnvironmentFlag>>

/** One resolved field: its value and where it came from (an environment slug, or `'flag'`). */
export interface ResolvedField<T> {
  /** `undefined` when the source is the base flag and no flag was passed to `resolveChain`. */
  readonly value: T | undefined
  readonly source: string
}

/** Where each of a flag's environment fields comes from in one environment. */
export interface ChainResolution {
  readonly flagKey: string
  /** The environment asked for. */
  readonly environment: string
  /** Whether that environment exists; an unknown one resolves everything from the flag. */
  readonly known: boolean
  /** The slugs walked, nearest first (empty for an unknown environment). */
  readonly chain: readonly string[]
  readonly enabled: ResolvedField<boolean>
  readonly percentage: ResolvedField<number>
  readonly rules: ResolvedField<FlagRule[]>
  readonly variants: ResolvedField<FlagVariant[]>
}

/** The fields environments set for one flag in one environment (absent: the flag's own). */
export interface EnvironmentOverlay {
  readonly enabled?: boolean
  readonly percentage?: number
  readonly rules?: FlagRule[]
  readonly variants?: FlagVariant[]
}

function isMap<V>(value: unknown): value is ReadonlyMap<string, V> {
  return (
    value instanceof Map ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as Map<string, V>).get === 'function' &&
      typeof (value as Map<string, V>).has === 'function')
  )
}

function environmentMap(environments: EnvironmentsInput): ReadonlyMap<string, Environment> {
  if (isMap<Environment>(environments)) return environments
  const out = new Map<string, Environment>()
  for (const env of environments) out.set(env.slug, env)
  return out
}

function settingsFor(environmentFlags: EnvironmentFlagsInput, flagKey: string): ReadonlyMap<string, EnvironmentFlag> | undefined {
  if (isMap<ReadonlyMap<string, EnvironmentFlag>>(environmentFlags)) return environmentFlags.get(flagKey)
  const out = new Map<string, EnvironmentFlag>()
  for (const ef of environmentFlags) if (ef.flagKey === flagKey) out.set(ef.environment, ef)
  return out
}

/**
 * The slugs from `slug` up to the root, nearest first; empty for an unknown environment. Stops at
 * a parent that does not exist and at a repeated slug (a cycle that reached a snapshot).
 */
export function environmentChain(environments: EnvironmentsInput, slug: string): string[] {
  const bySlug = environmentMap(environments)
  const chain: string[] = []
  const seen = new Set<string>()
  let current: Environment | undefined = bySlug.get(slug)
  while (current !== undefined && !seen.has(current.slug)) {
    seen.add(current.slug)
    chain.push(current.slug)
    current = current.parent === undefined ? undefined : bySlug.get(current.parent)
  }
  return chain
}

export interface ResolveChainOptions {
  /** The base flag: when given, values whose source is `'flag'` are filled in from it (at `now`, schedules applied). */
  readonly flag?: FeatureFlag
  /** For the base values; default: the clock. */
  readonly now?: Date | number
}

/**
 * Resolves flag `flagKey` in environment `slug`: per field, the value and the environment it comes
 * from (`'flag'` when no environment in the chain sets it). "Where does each value come from."
 */
export function resolveChain(
  environments: EnvironmentsInput,
  environmentFlags: EnvironmentFlagsInput,
  flagKey: string,
  slug: string,
  options: ResolveChainOptions = {},
): ChainResolution {
  const chain = environmentChain(environments, slug)
  const settings = chain.length === 0 ? undefined : settingsFor(environmentFlags, flagKey)
  const found: Partial<Record<EnvironmentField, { value: unknown; source: string }>> = {}
  for (const env of chain) {
    const ef = settings?.get(env)
    if (ef === undefined) continue
    for (const field of ENVIRONMENT_FIELDS) {
      if (found[field] === undefined && ef[field] !== undefined) found[field] = { value: ef[field], source: env }
    }
  }
  let base: { enabled: boolean; percentage: number | undefined; rules: FlagRule[]; variants: FlagVariant[] } | undefined
  if (options.flag !== undefined) {
    const state = flagAt(options.flag, options.now ?? Date.now())
    base = {
      enabled: state.flag.status === 'active',
      percentage: state.rolloutPercentage,
      rules: state.flag.rules,
      variants: state.flag.variants,
    }
  }
  const field = <T>(name: EnvironmentField): ResolvedField<T> =>
    (found[name] as ResolvedField<T> | undefined) ?? { value: base?.[name] as T | undefined, source: BASE_SOURCE }
  return {
    flagKey,
    environment: slug,
    known: chain.length > 0,
    chain,
    enabled: field<boolean>('enabled'),
    percentage: field<number>('percentage'),
    rules: field<FlagRule[]>('rules'),
    variants: field<FlagVariant[]>('variants'),
  }
}

/** The fields a resolution takes from environments; `undefined` when it takes none (the environment evaluates the base flag). */
export function environmentOverlay(resolution: ChainResolution): EnvironmentOverlay | undefined {
  const out: { -readonly [K in keyof EnvironmentOverlay]: EnvironmentOverlay[K] } = {}
  let any = false
  if (resolution.enabled.source !== BASE_SOURCE && resolution.enabled.value !== undefined) {
    out.enabled = resolution.enabled.value
    any = true
  }
  if (resolution.percentage.source !== BASE_SOURCE && resolution.percentage.value !== undefined) {
    out.percentage = resolution.percentage.value
    any = true
  }
  if (resolution.rules.source !== BASE_SOURCE && resolution.rules.value !== undefined) {
    out.rules = resolution.rules.value
    any = true
  }
  if (resolution.variants.source !== BASE_SOURCE && resolution.variants.value !== undefined) {
    out.variants = resolution.variants.value
    any = true
  }
  return any ? out : undefined
}

/** The flag with an environment's `enabled`, `rules` and `variants` applied (`percentage` is a gate, see `effectiveFlag`). */
export function applyEnvironmentOverlay(flag: FeatureFlag, overlay: EnvironmentOverlay | undefined): FeatureFlag {
  if (overlay === undefined) return flag
  const out: FeatureFlag = overlay.enabled === undefined ? { ...flag } : withEnabled(flag, overlay.enabled)
  if (overlay.rules !== undefined) out.rules = overlay.rules
  if (overlay.variants !== undefined) out.variants = overlay.variants
  return out
}

/** A flag as evaluated in one environment at one instant. */
export interface EffectiveFlag {
  /** Schedules due at `now` applied (the folded form), then the environment's fields. */
  readonly flag: FeatureFlag
  /** The rollout gate, 0..100: the environment's `percentage`, else the flag-level one; `undefined` = none. */
  readonly rolloutPercentage: number | undefined
  /** This holds for every instant in `[from, until)` (epoch ms). */
  readonly from: number
  readonly until: number
}

export interface EffectiveFlagOptions {
  /** `context.environment`; absent or unknown: the base flag. */
  readonly environment?: string
  readonly environments?: EnvironmentsInput
  readonly environmentFlags?: EnvironmentFlagsInput
}

/**
 * Evaluation steps 3 and 4 for one flag: the flag as it is in `environment` at `now`. Pure; the
 * evaluator memoises its compiled form per (flag, environment) and schedule interval.
 */
export function effectiveFlag(flag: FeatureFlag, now: Date | number, options: EffectiveFlagOptions = {}): EffectiveFlag {
  checkOptions(options, 'effectiveFlag()')
  const state = flagAt(flag, now)
  let overlay: EnvironmentOverlay | undefined
  if (options.environment !== undefined && options.environments !== undefined && options.environmentFlags !== undefined) {
    overlay = environmentOverlay(resolveChain(options.environments, options.environmentFlags, flag.key, options.environment))
  }
  return applyOverlayToState(state.flag, state.rolloutPercentage, state.from, state.until, overlay)
}

/** Internal: combine a scheduled state with an overlay. */
export function applyOverlayToState(
  scheduled: FeatureFlag,
  scheduledPercentage: number | undefined,
  from: number,
  until: number,
  overlay: EnvironmentOverlay | undefined,
): EffectiveFlag {
  return {
    flag: applyEnvironmentOverlay(scheduled, overlay),
    rolloutPercentage: overlay?.percentage ?? scheduledPercentage,
    from,
    until,
  }
}

// ---- promotion plans ----

/** One field that differs between two environment settings. */
export interface EnvironmentFlagChange {
  readonly field: EnvironmentField
  /** `undefined`: not set (inherits). */
  readonly before: unknown
  readonly after: unknown
}

/** Structural equality for stored values (JSON values, Dates, arrays, plain objects). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime()
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    return a.every((item, i) => sameValue(item, b[i]))
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Number.isNaN(a) && Number.isNaN(b)
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined)
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined)
  if (ka.length !== kb.length) return false
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

/** The fields whose settings differ between `before` and `after` (either may be absent: nothing set). */
export function diffEnvironmentFlags(
  before: EnvironmentFlag | undefined,
  after: EnvironmentFlag | undefined,
): EnvironmentFlagChange[] {
  const changes: EnvironmentFlagChange[] = []
  for (const field of ENVIRONMENT_FIELDS) {
    const b = before?.[field]
    const a = after?.[field]
    if (!sameValue(a, b)) changes.push({ field, before: b, after: a })
  }
  return changes
}

/** What promoting one flag from one environment to another would write. */
export interface PromotionPlan {
  readonly flagKey: string
  readonly from: string
  readonly to: string
  /** The target's settings now (`undefined`: none stored). */
  readonly before: EnvironmentFlag | undefined
  /** The target's settings after promotion (`undefined`: delete them, the target inherits everything). */
  readonly after: EnvironmentFlag | undefined
  /** Field by field; empty when promotion would change nothing. */
  readonly changes: readonly EnvironmentFlagChange[]
}

/**
 * Plans promoting `flagKey` from environment `from` to `to`: the target gets, field by field, the
 * value `from` resolves to through its own chain (so a value `from` inherits from its parents is
 * copied too); a field that `from` takes from the base flag is cleared in the target (it inherits).
 * With the usual pipeline (`to` below `from`, or both under the same parents) the target then
 * evaluates as `from` did. Pure: applying the plan (and refusing protected targets without
 * `confirm`) is the repository's business.
 */
export function planPromotion(
  environments: EnvironmentsInput,
  environmentFlags: EnvironmentFlagsInput,
  flagKey: string,
  from: string,
  to: string,
): PromotionPlan {
  const resolution = resolveChain(environments, environmentFlags, flagKey, from)
  const overlay = environmentOverlay(resolution)
  const before = settingsFor(environmentFlags, flagKey)?.get(to)
  let after: EnvironmentFlag | undefined
  if (overlay !== undefined) {
    const next: EnvironmentFlag = { environment: to, flagKey }
    if (overlay.enabled !== undefined) next.enabled = overlay.enabled
    if (overlay.percentage !== undefined) next.percentage = overlay.percentage
    if (overlay.rules !== undefined) next.rules = overlay.rules
    if (overlay.variants !== undefined) next.variants = overlay.variants
    after = next
  }
  return { flagKey, from, to, before, after, changes: diffEnvironmentFlags(before, after) }
}
