/**
 * Reading a snapshot's documents: segments, environments and environment flags validated (invalid
 * ones left out, or remembered as broken), overrides grouped by flag key (checked against their
 * flag's type when it is compiled).
 */
import { validateEnvironment, validateEnvironmentFlag, validateSegment } from '../codec/index.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagOverride, Segment } from '../model.js'
import { isMapLike, messageOf, valuesOf } from './compile.js'

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

/** A snapshot's documents other than flags, read once. */
export interface SnapshotDocuments {
  readonly segments: ReadonlyMap<string, Segment>
  readonly overridesByFlag: ReadonlyMap<string, FlagOverride[]>
  readonly environments: ReadonlyMap<string, Environment>
  /** By flag key, then environment slug. */
  readonly environmentFlags: ReadonlyMap<string, ReadonlyMap<string, EnvironmentFlag>>
  /** Environment flags that failed validation, by flag key then environment slug: their message. */
  readonly brokenEnvironmentFlags: ReadonlyMap<string, ReadonlyMap<string, string>>
}

export function readSnapshotDocuments(input: SnapshotInput): SnapshotDocuments {
  const brokenEnvironmentFlags = new Map<string, Map<string, string>>()
  const segments = new Map<string, Segment>()
  for (const raw of valuesOf(input.segments)) {
    try {
      const segment = validateSegment(raw, { unknownFields: 'strip' })
      segments.set(segment.key, segment)
    } catch {
      // An invalid segment is left out: conditions naming it never match.
    }
  }

  const overridesByFlag = new Map<string, FlagOverride[]>()
  const overrideInput = input.overrides
  let overrideLists: Iterable<FlagOverride> = []
  if (overrideInput !== undefined) {
    overrideLists = isMapLike<readonly FlagOverride[]>(overrideInput as ReadonlyMap<string, readonly FlagOverride[]>)
      ? [...(overrideInput as ReadonlyMap<string, readonly FlagOverride[]>).values()].flat()
      : (overrideInput as Iterable<FlagOverride>)
  }
  for (const override of overrideLists) {
    if (override === null || typeof override !== 'object') continue
    const list = overridesByFlag.get(override.flagKey)
    if (list === undefined) overridesByFlag.set(override.flagKey, [override])
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
        let broken = brokenEnvironmentFlags.get(flagKey)
        if (broken === undefined) brokenEnvironmentFlags.set(flagKey, (broken = new Map()))
        broken.set(environment, messageOf(error))
        if (!envFlags.has(flagKey)) envFlags.set(flagKey, new Map())
      }
      continue
    }
    let byEnv = envFlags.get(ef.flagKey)
    if (byEnv === undefined) envFlags.set(ef.flagKey, (byEnv = new Map()))
    byEnv.set(ef.environment, ef)
  }
  return { segments, overridesByFlag, environments, environmentFlags: envFlags, brokenEnvironmentFlags }
}
