/**
 * What a `CompiledSnapshot` is made of: the validated documents and every flag compiled. Built
 * from scratch here (`compileParts`), or from a previous snapshot's parts plus a change set
 * (client/delta.ts), which recompiles only the flags the change affects.
 */
import { isValidFlag, validateFlag } from '../codec/index.js'
import { compileSegments, type CompiledCondition } from '../matchers/index.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagOverride, Segment } from '../model.js'
import { type BrokenFlag, type CompiledFlag, type CompileScope, compileFlag, messageOf, valuesOf } from './compile.js'
import { readSnapshotDocuments, type SnapshotInput } from './snapshot-documents.js'

export interface SnapshotParts {
  readonly revision: number | undefined
  /** Validated flags by key. */
  readonly flags: ReadonlyMap<string, FeatureFlag>
  /** Every flag key of the snapshot: compiled, or why it cannot be. */
  readonly compiled: ReadonlyMap<string, CompiledFlag | BrokenFlag>
  readonly segments: ReadonlyMap<string, Segment>
  readonly segmentTests: ReadonlyMap<string, CompiledCondition>
  readonly overridesByFlag: ReadonlyMap<string, readonly FlagOverride[]>
  readonly environments: ReadonlyMap<string, Environment>
  /** By flag key, then environment slug. */
  readonly environmentFlags: ReadonlyMap<string, ReadonlyMap<string, EnvironmentFlag>>
  /** Environment flags that failed validation, by flag key then environment slug: their message. */
  readonly brokenEnvironmentFlags: ReadonlyMap<string, ReadonlyMap<string, string>>
}

/** What compiling a flag of these parts reads; flags compiled with it report `revision` in their metadata. */
export function scopeOf(
  parts: Pick<SnapshotParts, 'segmentTests' | 'overridesByFlag' | 'environmentFlags'>,
  revision: number | undefined,
): CompileScope {
  return {
    revision,
    segmentTests: parts.segmentTests,
    overridesOf: (flagKey) => parts.overridesByFlag.get(flagKey) ?? [],
    hasEnvironmentFlags: (flagKey) => parts.environmentFlags.has(flagKey),
  }
}

/** A flag as the snapshot takes it: validated (once: a repository's load already did), or why not. */
export function checkedFlag(raw: FeatureFlag): FeatureFlag | BrokenFlag {
  try {
    return isValidFlag(raw) ? raw : validateFlag(raw, { unknownFields: 'strip' })
  } catch (error) {
    return { parseError: messageOf(error) }
  }
}

export function compileParts(input: SnapshotInput): SnapshotParts {
  const documents = readSnapshotDocuments(input)
  const segmentTests = compileSegments(documents.segments)
  const scope = scopeOf({ ...documents, segmentTests }, input.revision)
  const compiled = new Map<string, CompiledFlag | BrokenFlag>()
  const flags = new Map<string, FeatureFlag>()
  for (const raw of valuesOf(input.flags)) {
    const key = raw !== null && typeof raw === 'object' && typeof raw.key === 'string' ? raw.key : undefined
    const flag = checkedFlag(raw)
    if ('parseError' in flag) {
      if (key !== undefined) compiled.set(key, flag)
      continue
    }
    flags.set(flag.key, flag)
    compiled.set(flag.key, compileFlag(scope, flag))
  }
  for (const { flagKey, message } of input.corrupt ?? []) {
    if (!flags.has(flagKey)) compiled.set(flagKey, { parseError: message })
  }
  return { ...documents, revision: input.revision, flags, compiled, segmentTests }
}
