/**
 * `flagstone import`: the diff between a validated state file and the store, and applying it.
 *
 * The store has no multi-key transaction, so "all or nothing" is built from two halves: the whole
 * file is validated before the first write (bad input never writes anything), and every write is
 * journalled so that a write failing half-way (store gone, a concurrent edit) is undone in
 * reverse order before the error is reported. Unchanged items are not written, which makes a
 * second import of the same file a no-op.
 */
import type { FlagRepository } from '../flags/index.js'
import type { Environment, FeatureFlag, FlagDraft, Segment } from '../flags/index.js'
import { COLLECTIONS, type Collection, identity, itemJson, type State } from './state-file.js'

export type ChangeKind = 'create' | 'update' | 'delete'

export interface Change {
  kind: ChangeKind
  collection: Collection
  /** The item's identity: flag key, segment key, environment slug, `flag@env`, `flag/type/id`. */
  id: string
  /** Top-level fields that differ (updates only). */
  fields?: string[]
}

export interface Plan {
  changes: Change[]
  unchanged: number
}

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )

function index(collection: Collection, state: State): Map<string, unknown> {
  const key = identity[collection] as (item: unknown) => string
  return new Map((state[collection] as readonly unknown[]).map((item) => [key(item), item]))
}

/** What importing `wanted` into a store holding `current` changes. `prune`: delete what the file does not have. */
export function planImport(current: State, wanted: State, prune: boolean): Plan {
  const changes: Change[] = []
  let unchanged = 0
  for (const collection of COLLECTIONS) {
    const before = index(collection, current)
    const after = index(collection, wanted)
    for (const [id, item] of after) {
      const old = before.get(id)
      if (old === undefined) {
        changes.push({ kind: 'create', collection, id })
        continue
      }
      const a = itemJson(collection, old) as Record<string, unknown>
      const b = itemJson(collection, item) as Record<string, unknown>
      const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])]
        .filter((f) => canonical(a[f]) !== canonical(b[f]))
        .sort()
      if (fields.length === 0) unchanged++
      else changes.push({ kind: 'update', collection, id, fields })
    }
    if (prune) for (const id of before.keys()) if (!after.has(id)) changes.push({ kind: 'delete', collection, id })
  }
  return { changes, unchanged }
}

/** Parents before children, so each create finds its parent. */
function parentsFirst<T extends { parent?: string }>(items: readonly T[], key: (item: T) => string): T[] {
  const byKey = new Map(items.map((item) => [key(item), item]))
  const out: T[] = []
  const seen = new Set<string>()
  const visit = (item: T) => {
    const id = key(item)
    if (seen.has(id)) return
    seen.add(id)
    const parent = item.parent === undefined ? undefined : byKey.get(item.parent)
    if (parent !== undefined) visit(parent)
    out.push(item)
  }
  items.forEach(visit)
  return out
}

const draft = (flag: FeatureFlag): FlagDraft => itemJson('flags', flag) as unknown as FlagDraft

/**
 * Applies `plan` (from `planImport(current, wanted)`). On a failure, the writes already made are
 * undone (newest first) and the original error is thrown; `rollbackErrors` lists undo steps that
 * failed too (then the store may need a second import).
 */
export async function applyImport(repository: FlagRepository, current: State, wanted: State, plan: Plan): Promise<void> {
  const undo: Array<() => Promise<unknown>> = []
  const before = Object.fromEntries(COLLECTIONS.map((c) => [c, index(c, current)])) as Record<Collection, Map<string, unknown>>
  const wantedChange = (collection: Collection, id: string) =>
    plan.changes.find((c) => c.collection === collection && c.id === id && c.kind !== 'delete')
  const deleting = plan.changes.filter((c) => c.kind === 'delete')
  try {
    // Writes: parents first (segments, environments, flags, then what hangs off flags).
    for (const segment of parentsFirst(wanted.segments, (s) => s.key)) {
      const change = wantedChange('segments', segment.key)
      if (change === undefined) continue
      const old = before.segments.get(segment.key) as Segment | undefined
      if (old === undefined) {
        await repository.createSegment(segment)
        undo.push(() => repository.deleteSegment(segment.key))
      } else {
        await repository.updateSegment(segment)
        undo.push(() => repository.updateSegment(old))
      }
    }
    for (const environment of parentsFirst(wanted.environments, (e) => e.slug)) {
      const change = wantedChange('environments', environment.slug)
      if (change === undefined) continue
      const old = before.environments.get(environment.slug) as Environment | undefined
      if (old === undefined) {
        await repository.createEnvironment(environment)
        undo.push(() => repository.deleteEnvironment(environment.slug))
      } else {
        await repository.updateEnvironment(environment)
        undo.push(() => repository.updateEnvironment(old))
      }
    }
    for (const flag of wanted.flags) {
      if (wantedChange('flags', flag.key) === undefined) continue
      const old = before.flags.get(flag.key) as FeatureFlag | undefined
      if (old === undefined) {
        await repository.createFlag(draft(flag))
        undo.push(() => repository.deleteFlag(flag.key))
      } else {
        const written = await repository.updateFlag(flag.key, draft(flag), old.version)
        undo.push(() => repository.updateFlag(flag.key, draft(old), written.version))
      }
    }
    for (const settings of wanted.environmentFlags) {
      const id = identity.environmentFlags(settings)
      if (wantedChange('environmentFlags', id) === undefined) continue
      const old = before.environmentFlags.get(id) as typeof settings | undefined
      await repository.setEnvironmentFlag(settings)
      undo.push(() =>
        old === undefined
          ? repository.deleteEnvironmentFlag(settings.environment, settings.flagKey)
          : repository.setEnvironmentFlag(old),
      )
    }
    for (const override of wanted.overrides) {
      const id = identity.overrides(override)
      if (wantedChange('overrides', id) === undefined) continue
      const old = before.overrides.get(id) as typeof override | undefined
      await repository.setOverride(override)
      undo.push(() =>
        old === undefined
          ? repository.deleteOverride(override.flagKey, override.entityType, override.entityId)
          : repository.setOverride(old),
      )
    }
    // Deletes (--prune): children first.
    const gone = (collection: Collection) =>
      deleting.filter((c) => c.collection === collection).map((c) => before[collection].get(c.id))
    for (const override of gone('overrides') as State['overrides']) {
      await repository.deleteOverride(override.flagKey, override.entityType, override.entityId)
      undo.push(() => repository.setOverride(override))
    }
    for (const settings of gone('environmentFlags') as State['environmentFlags']) {
      await repository.deleteEnvironmentFlag(settings.environment, settings.flagKey)
      undo.push(() => repository.setEnvironmentFlag(settings))
    }
    for (const flag of gone('flags') as State['flags']) {
      const extras = {
        overrides: await repository.listOverrides(flag.key),
        settings: await repository.listEnvironmentFlags(flag.key),
      }
      await repository.deleteFlag(flag.key)
      undo.push(async () => {
        await repository.createFlag(draft(flag))
        for (const o of extras.overrides) await repository.setOverride(o)
        for (const s of extras.settings) await repository.setEnvironmentFlag(s)
      })
    }
    for (const environment of parentsFirst(gone('environments') as Environment[], (e) => e.slug).reverse()) {
      await repository.deleteEnvironment(environment.slug)
      undo.push(() => repository.createEnvironment(environment))
    }
    for (const segment of parentsFirst(gone('segments') as Segment[], (s) => s.key).reverse()) {
      await repository.deleteSegment(segment.key)
      undo.push(() => repository.createSegment(segment))
    }
  } catch (error) {
    const rollbackErrors: string[] = []
    for (const step of undo.reverse()) {
      try {
        await step()
      } catch (undoError) {
        rollbackErrors.push(undoError instanceof Error ? undoError.message : String(undoError))
      }
    }
    if (rollbackErrors.length > 0 && error instanceof Error) {
      error.message += ` (rolled back, but ${rollbackErrors.length} undo step(s) failed: ${rollbackErrors[0]})`
    }
    throw error
  }
}
