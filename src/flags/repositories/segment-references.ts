/**
 * Referential integrity between rules and segments (issue 10 item 11): a rule (of a flag or of
 * its settings in an environment) may only name a segment that exists, and a segment that a rule
 * or another segment names cannot be deleted. Every repository runs these checks on write; the
 * evaluator still treats a dangling reference as "no match" for documents written before.
 *
 * On a store both checks are part of the write's one atomic operation (`segmentGuard`,
 * `deleteUnusedSegment`), so two processes racing (one deleting a segment, one creating a flag
 * that names it) cannot leave a flag naming a missing segment.
 */
import { FlagstoneError } from '../../errors.js'
import { checkSegmentBudget, reachesSegment } from '../codec/budget.js'
import type { AtomicCheck } from '../../stores/types.js'
import type { Condition, EnvironmentFlag, FeatureFlag, FlagRule, Segment } from '../model.js'

const isSegmentCondition = (c: Condition) => c.operator === 'in_segment' || c.operator === 'not_in_segment'

/** The segment keys `rules` name, with the field path of each reference. */
function referencesOf(rules: readonly FlagRule[] | undefined, path: string): { key: string; field: string }[] {
  const found: { key: string; field: string }[] = []
  ;(rules ?? []).forEach((rule, i) =>
    rule.conditions.forEach((condition, j) => {
      if (isSegmentCondition(condition) && typeof condition.value === 'string') {
        found.push({ key: condition.value, field: `${path}[${i}].conditions[${j}].value` })
      }
    }),
  )
  return found
}

/** INVALID_ARGUMENT naming the field and the segment when a rule names a segment not in `exists`. */
export function checkRuleSegments(
  rules: readonly FlagRule[] | undefined,
  exists: (key: string) => boolean,
  path = 'rules',
): void {
  for (const { key, field } of referencesOf(rules, path)) {
    if (!exists(key)) {
      throw new FlagstoneError('INVALID_ARGUMENT', `${field}: segment "${key}" does not exist`, {
        details: { field, segment: key },
      })
    }
  }
}

/**
 * CONFLICT naming the flags (and environments) whose rules name `segment`, or the segments whose
 * conditions do; nothing when it is unused.
 */
export function checkSegmentUnused(
  segment: string,
  flags: readonly FeatureFlag[],
  settings: readonly EnvironmentFlag[],
  segments: readonly Segment[],
): void {
  const users = new Set<string>()
  for (const flag of flags) if (referencesOf(flag.rules, 'rules').some((r) => r.key === segment)) users.add(flag.key)
  for (const s of settings) {
    if (referencesOf(s.rules, 'rules').some((r) => r.key === segment)) users.add(`${s.flagKey} (in ${s.environment})`)
  }
  const bySegments = segments
    .filter((s) => s.key !== segment && (s.conditions ?? []).some((c) => isSegmentCondition(c) && c.value === segment))
    .map((s) => s.key)
  if (users.size === 0 && bySegments.length === 0) return
  const flagsList = [...new Set([...users].map((u) => u.split(' ')[0]!))].sort()
  const parts = [
    ...(users.size === 0
      ? []
      : [
          `flags ${[...users]
            .sort()
            .map((u) => `"${u}"`)
            .join(', ')}`,
        ]),
    ...(bySegments.length === 0 ? [] : [`segments ${bySegments.map((k) => `"${k}"`).join(', ')}`]),
  ]
  throw new FlagstoneError(
    'CONFLICT',
    `segment "${segment}" is used by the rules of ${parts.join(' and ')}; remove those first`,
    {
      details: { key: segment, flags: flagsList, segments: bySegments },
    },
  )
}

interface Readable {
  listSegments(): Promise<Segment[]>
  listFlags(): Promise<FeatureFlag[]>
  listEnvironmentFlags(): Promise<EnvironmentFlag[]>
}

/** `checkRuleSegments` against the segments stored now. */
export async function requireSegments(repository: Readable, rules: readonly FlagRule[] | undefined): Promise<void> {
  if (!referencesOf(rules, 'rules').length) return
  const keys = new Set((await repository.listSegments()).map((s) => s.key))
  checkRuleSegments(rules, (key) => keys.has(key))
}

/** `checkSegmentUnused` against the flags, settings and segments stored now. */
export async function refuseIfUsed(repository: Readable, segment: string): Promise<void> {
  const [flags, settings, segments] = await Promise.all([
    repository.listFlags(),
    repository.listEnvironmentFlags(),
    repository.listSegments(),
  ])
  checkSegmentUnused(segment, flags, settings, segments)
}

/**
 * The evaluation budget with segments (codec/budget.ts `checkSegmentBudget`) against the segments
 * stored now: a flag (or environment settings) write whose rules, with the segments they reach,
 * go over is INVALID_ARGUMENT naming the limit. Read before the write's atomic operation, so a
 * segment update racing it can slip past the check; the evaluator still computes each segment once
 * per evaluation, so such a pair costs at most its segments' own budgets, and it evaluates as written.
 */
export async function requireSegmentBudget(
  repository: Pick<Readable, 'listSegments'>,
  rules: readonly FlagRule[] | undefined,
  path = 'rules',
): Promise<void> {
  if (!referencesOf(rules, 'rules').length) return
  const segments = new Map((await repository.listSegments()).map((s) => [s.key, s]))
  checkSegmentBudget(rules, (key) => segments.get(key), path)
}

/**
 * A segment write is refused (INVALID_ARGUMENT, `details.budget`) when the segment alone, with the
 * segments it reaches, goes over one flag's evaluation budget, or when it would put a flag or
 * environment settings that reach it over (`details.flags` names them): refusing the segment
 * keeps every stored flag evaluating within budget and as written.
 */
export function checkSegmentWriteBudget(
  next: Segment,
  segments: readonly Segment[],
  flags: readonly FeatureFlag[],
  settings: readonly EnvironmentFlag[],
): void {
  const map = new Map(segments.map((s) => [s.key, s]))
  map.set(next.key, next)
  const get = (key: string) => map.get(key)
  const alone: FlagRule[] = [
    {
      id: 'segment',
      name: 'segment',
      priority: 0,
      enabled: true,
      serveEnabled: true,
      conditions: [{ attribute: '', operator: 'in_segment', value: next.key }],
    },
  ]
  const refuse = (error: unknown, what: string, flagKeys: string[]): never => {
    if (!(error instanceof FlagstoneError)) throw error
    const budget = (error.details as { budget?: number } | undefined)?.budget
    const problem = error.message.slice(error.message.indexOf(': ') + 2)
    throw new FlagstoneError('INVALID_ARGUMENT', `conditions: segment "${next.key}" ${what}: ${problem}`, {
      details: { field: 'conditions', budget, flags: flagKeys },
    })
  }
  try {
    checkSegmentBudget(alone, get)
  } catch (error) {
    refuse(error, "with the segments it reaches goes over one flag's evaluation budget", [])
  }
  const users: { label: string; key: string; rules: readonly FlagRule[] | undefined }[] = [
    ...flags.map((f) => ({ label: `flag "${f.key}"`, key: f.key, rules: f.rules })),
    ...settings.map((s) => ({ label: `flag "${s.flagKey}" in ${s.environment}`, key: s.flagKey, rules: s.rules })),
  ]
  for (const user of users) {
    if (!reachesSegment(user.rules, next.key, get)) continue
    try {
      checkSegmentBudget(user.rules, get)
    } catch (error) {
      refuse(error, `would put the rules of ${user.label} over the evaluation budget`, [user.key])
    }
  }
}

/** `checkSegmentWriteBudget` against the flags, settings and segments stored now (read before the write). */
export async function segmentWriteBudget(repository: Readable, next: Segment): Promise<void> {
  const [segments, flags, settings] = await Promise.all([
    repository.listSegments(),
    repository.listFlags(),
    repository.listEnvironmentFlags(),
  ])
  checkSegmentWriteBudget(next, segments, flags, settings)
}

/** The two budget checks a store repository runs before a write (one name keeps its imports short). */
export const segmentBudget = { rules: requireSegmentBudget, segment: segmentWriteBudget } as const

/**
 * What a store write of `rules` reads and checks so that the segments they name still exist when
 * it lands: read `keys` (their documents, under `prefix`) with the write, then `check(values)`
 * throws INVALID_ARGUMENT for a missing one and answers the atomic checks that the documents are
 * unchanged.
 */
export interface SegmentGuard {
  readonly keys: string[]
  check(values: ReadonlyArray<Uint8Array | null>): AtomicCheck[]
}

export function segmentGuard(rules: readonly FlagRule[] | undefined, prefix: string): SegmentGuard {
  const names = [...new Set(referencesOf(rules, 'rules').map((r) => r.key))]
  const keys = names.map((name) => prefix + name)
  return {
    keys,
    check(values) {
      checkRuleSegments(rules, (name) => values[names.indexOf(name)] != null)
      return keys.map((key, i) => ({ key, expected: values[i] ?? null }))
    },
  }
}

/** Thrown inside a delete's plan when something was written since the in-use scan: scan again. */
const STALE = Symbol('stale')
const DELETE_ATTEMPTS = 20

/**
 * Deletes segment `segment` unless a flag, setting or segment uses it, atomically with that
 * check: the scan reads everything after reading the repository's revision, and the delete
 * (`remove`, given the revision read with the document) goes through only if the revision is
 * still that one. Every repository write bumps it, so nothing that could name the segment landed
 * in between; otherwise scan and try again.
 */
export async function deleteUnusedSegment(
  repository: Readable,
  segment: string,
  readRevision: () => Promise<Uint8Array | null>,
  remove: (checkRevision: (now: Uint8Array | null) => void) => Promise<boolean>,
): Promise<boolean> {
  for (let attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
    const seen = await readRevision()
    await refuseIfUsed(repository, segment)
    try {
      return await remove((now) => {
        const same = now === null || seen === null ? now === seen : Buffer.compare(now, seen) === 0
        if (!same) throw STALE
      })
    } catch (error) {
      if (error !== STALE) throw error
    }
  }
  throw new FlagstoneError('CONFLICT', `segment "${segment}": too many concurrent writes to check it is unused; try again`, {
    details: { key: segment },
  })
}
