/**
 * Applying a change set to a compiled snapshot: the changed documents replace (or remove) their
 * old versions and only the flags they affect are compiled again; every other compiled flag is
 * reused as it is (the maps holding them are layered, so nothing is copied per unchanged flag).
 *
 * What a change affects:
 * - a flag, one of its overrides or one of its environment settings: that flag;
 * - a segment: every flag whose rules (its own or in an environment) name it, or name a segment
 *   that depends on it (through `parent` or a segment condition), before or after the change;
 * - an environment: every flag with settings in it, in one of its ancestors or in one of its
 *   descendants (before or after the change): the chains that run through it.
 * A reused flag keeps the `revision` of the snapshot it was compiled in, in its results' metadata.
 * The keys of the flags affected (compiled again, added or removed) travel with the client's
 * `change` event, so its listeners (the OpenFeature provider's `flagsChanged`) need not compare
 * whole snapshots.
 */
import type { CompiledCondition } from '../matchers/index.js'
import { compileSegments, segmentDependencies } from '../matchers/index.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagOverride, FlagRule, Segment } from '../model.js'
import { type BrokenFlag, type CompiledFlag, compileFlag } from '../evaluation/compile.js'
import { CompiledSnapshot, snapshotParts } from '../evaluation/evaluate.js'
import { LayeredMap } from '../evaluation/layered-map.js'
import { readSnapshotDocuments } from '../evaluation/snapshot-documents.js'
import { checkedFlag, scopeOf, type SnapshotParts } from '../evaluation/snapshot-parts.js'
import type { CorruptDocument, DocumentRef, StoredDocument } from '../repositories/repository.js'

/** One changed document as it is now: `null` when it is gone. */
export interface ChangedDocument {
  readonly ref: DocumentRef
  readonly document: StoredDocument | CorruptDocument | null
}

const isCorrupt = (d: ChangedDocument['document']): d is CorruptDocument => d !== null && 'corrupt' in d

/** A document's identity, for de-duplicating refs. */
export function refId(ref: DocumentRef): string {
  switch (ref.kind) {
    case 'flag':
    case 'segment':
      return `${ref.kind}\0${ref.key}`
    case 'environment':
      return `environment\0${ref.slug}`
    case 'override':
      return `override\0${ref.flagKey}\0${ref.entityType}\0${ref.entityId}`
    case 'environmentFlag':
      return `environmentFlag\0${ref.flagKey}\0${ref.environment}`
  }
}

/** A delta applied: the new snapshot, and the keys (sorted, frozen) of the flags it affected, in either snapshot. */
export interface AppliedChanges {
  readonly snapshot: CompiledSnapshot
  readonly flagKeys: readonly string[]
}

/** `previous` with `changed` applied, at `revision`. */
export function applyChanges(previous: CompiledSnapshot, changed: readonly ChangedDocument[], revision: number): AppliedChanges {
  const p = snapshotParts(previous)
  const of = <K extends DocumentRef['kind']>(kind: K) =>
    changed.filter((c): c is ChangedDocument & { ref: Extract<DocumentRef, { kind: K }> } => c.ref.kind === kind)
  // Readable documents of one kind, validated as a full load validates them (corrupt ones are left out, as there).
  const present = <T>(items: readonly ChangedDocument[]) =>
    items.flatMap((c) => (c.document === null || isCorrupt(c.document) ? [] : [c.document as T]))
  const affected = new Set<string>()

  // Segments and environments: few; copied and (segments) compiled again.
  const segmentChanges = of('segment')
  let segments = p.segments
  let segmentTests: ReadonlyMap<string, CompiledCondition> = p.segmentTests
  if (segmentChanges.length > 0) {
    const next = new Map(p.segments)
    for (const c of segmentChanges) next.delete(c.ref.key)
    for (const [key, segment] of readSnapshotDocuments({ flags: [], segments: present<Segment>(segmentChanges) }).segments) {
      next.set(key, segment)
    }
    segments = next
    segmentTests = compileSegments(next)
  }
  const environmentChanges = of('environment')
  let environments = p.environments
  if (environmentChanges.length > 0) {
    const next = new Map(p.environments)
    for (const c of environmentChanges) next.delete(c.ref.slug)
    const read = readSnapshotDocuments({ flags: [], environments: present<Environment>(environmentChanges) })
    for (const [slug, environment] of read.environments) next.set(slug, environment)
    environments = next
  }

  // Overrides, grouped by flag as the compiler reads them.
  const overrideLists = new Map<string, FlagOverride[] | undefined>()
  for (const c of of('override')) {
    const { flagKey, entityType, entityId } = c.ref
    const list = (overrideLists.get(flagKey) ?? [...(p.overridesByFlag.get(flagKey) ?? [])]).filter(
      (o) => o.entityType !== entityType || o.entityId !== entityId,
    )
    if (c.document !== null && !isCorrupt(c.document)) list.push(c.document as FlagOverride)
    overrideLists.set(flagKey, list)
    affected.add(flagKey)
  }
  for (const [flagKey, list] of overrideLists) if (list?.length === 0) overrideLists.set(flagKey, undefined)
  const overridesByFlag = LayeredMap.of(p.overridesByFlag).with(overrideLists)

  // Environment settings: the inner maps (one per flag, small) are copied.
  const settingChanges = of('environmentFlag')
  const settingsByFlag = new Map<string, Map<string, EnvironmentFlag> | undefined>()
  const brokenByFlag = new Map<string, Map<string, string> | undefined>()
  for (const c of settingChanges) {
    const { flagKey, environment } = c.ref
    if (!settingsByFlag.has(flagKey)) {
      settingsByFlag.set(flagKey, new Map(p.environmentFlags.get(flagKey) ?? []))
      brokenByFlag.set(flagKey, new Map(p.brokenEnvironmentFlags.get(flagKey) ?? []))
    }
    settingsByFlag.get(flagKey)!.delete(environment)
    brokenByFlag.get(flagKey)!.delete(environment)
    affected.add(flagKey)
  }
  const read = readSnapshotDocuments({ flags: [], environmentFlags: present<EnvironmentFlag>(settingChanges) })
  for (const [flagKey, byEnvironment] of read.environmentFlags) {
    for (const [slug, settings] of byEnvironment) settingsByFlag.get(flagKey)?.set(slug, settings)
  }
  for (const [flagKey, broken] of read.brokenEnvironmentFlags) {
    for (const [slug, message] of broken) brokenByFlag.get(flagKey)?.set(slug, message)
  }
  for (const [flagKey, settings] of settingsByFlag) {
    const broken = brokenByFlag.get(flagKey)!
    // As a full load does: a flag with unreadable settings keeps an (empty) entry, so it resolves environments.
    if (settings!.size === 0 && broken.size === 0) settingsByFlag.set(flagKey, undefined)
    if (broken.size === 0) brokenByFlag.set(flagKey, undefined)
  }
  const environmentFlags = LayeredMap.of(p.environmentFlags).with(settingsByFlag)
  const brokenEnvironmentFlags = LayeredMap.of(p.brokenEnvironmentFlags).with(brokenByFlag)

  // Flags themselves.
  const flagChanges = new Map<string, FeatureFlag | undefined>()
  const compiledChanges = new Map<string, CompiledFlag | BrokenFlag | undefined>()
  for (const c of of('flag')) {
    const key = c.ref.key
    affected.add(key)
    flagChanges.set(key, undefined)
    compiledChanges.set(key, undefined)
    if (c.document === null) continue
    const flag = isCorrupt(c.document) ? { parseError: c.document.corrupt } : checkedFlag(c.document as FeatureFlag)
    if ('parseError' in flag) compiledChanges.set(key, flag)
    else flagChanges.set(key, flag)
  }
  const flags = LayeredMap.of(p.flags).with(flagChanges)

  if (segmentChanges.length > 0) {
    const keys = dependentSegments(
      segmentChanges.map((c) => c.ref.key),
      [p.segments, segments],
    )
    for (const flag of flags.values()) {
      if (
        usesSegment(flag.rules, keys) ||
        [...(environmentFlags.get(flag.key)?.values() ?? [])].some((s) => usesSegment(s.rules, keys))
      ) {
        affected.add(flag.key)
      }
    }
  }
  if (environmentChanges.length > 0) {
    const slugs = chainsThrough(
      environmentChanges.map((c) => c.ref.slug),
      [p.environments, environments],
    )
    for (const map of [environmentFlags, brokenEnvironmentFlags]) {
      for (const [flagKey, byEnvironment] of map) if ([...byEnvironment.keys()].some((s) => slugs.has(s))) affected.add(flagKey)
    }
  }

  const parts: SnapshotParts = {
    revision,
    flags,
    compiled: p.compiled,
    segments,
    segmentTests,
    overridesByFlag,
    environments,
    environmentFlags,
    brokenEnvironmentFlags,
  }
  const scope = scopeOf(parts, revision)
  for (const key of affected) {
    const flag = flags.get(key)
    if (flag !== undefined) compiledChanges.set(key, compileFlag(scope, flag))
  }
  // An override or setting whose flag exists in neither snapshot (written just before the flag was deleted) changes nothing.
  const flagKeys = [...affected].filter((key) => compiledChanges.get(key) !== undefined || p.compiled.has(key)).sort()
  return {
    snapshot: new CompiledSnapshot({ flags: [] }, { ...parts, compiled: LayeredMap.of(p.compiled).with(compiledChanges) }),
    flagKeys: Object.freeze(flagKeys),
  }
}

function usesSegment(rules: readonly FlagRule[] | undefined, keys: ReadonlySet<string>): boolean {
  return (rules ?? []).some((rule) =>
    rule.conditions.some(
      (c) => (c.operator === 'in_segment' || c.operator === 'not_in_segment') && typeof c.value === 'string' && keys.has(c.value),
    ),
  )
}

/** `changed` and every segment that depends on one of them, in any of `versions` of the segments. */
function dependentSegments(changed: readonly string[], versions: readonly ReadonlyMap<string, Segment>[]): Set<string> {
  const dependents = new Map<string, string[]>()
  for (const segments of versions) {
    for (const segment of segments.values()) {
      const { parent, referenced } = segmentDependencies(segment)
      for (const on of parent === undefined ? referenced : [parent, ...referenced]) {
        dependents.set(on, [...(dependents.get(on) ?? []), segment.key])
      }
    }
  }
  return closure(changed, (key) => dependents.get(key) ?? [])
}

/** The environments whose chain runs through one of `changed`, in any of `versions`: each of them, its ancestors and descendants. */
function chainsThrough(changed: readonly string[], versions: readonly ReadonlyMap<string, Environment>[]): Set<string> {
  const children = new Map<string, string[]>()
  const parents = new Map<string, string[]>()
  for (const environments of versions) {
    for (const env of environments.values()) {
      if (env.parent === undefined) continue
      children.set(env.parent, [...(children.get(env.parent) ?? []), env.slug])
      parents.set(env.slug, [...(parents.get(env.slug) ?? []), env.parent])
    }
  }
  const down = closure(changed, (slug) => children.get(slug) ?? [])
  const up = closure(changed, (slug) => parents.get(slug) ?? [])
  return new Set([...down, ...up])
}

function closure(start: readonly string[], next: (key: string) => readonly string[]): Set<string> {
  const seen = new Set<string>(start)
  const queue = [...start]
  while (queue.length > 0) {
    for (const key of next(queue.pop()!)) {
      if (!seen.has(key)) {
        seen.add(key)
        queue.push(key)
      }
    }
  }
  return seen
}
