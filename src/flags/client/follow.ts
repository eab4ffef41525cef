/**
 * Following a repository by deltas: read the documents a change set names, and what changed
 * meanwhile, until what was read is consistent at one revision (client/delta.ts then applies it).
 */
import type { ChangeSet, DocumentRef, FlagRepository } from '../repositories/repository.js'
import { type ChangedDocument, refId } from './delta.js'

/** A repository that can be followed by deltas. */
export type Following = FlagRepository & Required<Pick<FlagRepository, 'changesSince' | 'readDocuments'>>

export function canFollow(repository: FlagRepository): repository is Following {
  return typeof repository.changesSince === 'function' && typeof repository.readDocuments === 'function'
}

/** Rounds of "a write landed while we read": after these the delta is applied anyway (the next change set brings the rest). */
const ROUNDS = 3

/**
 * The documents `changes` names as they are at `changes.revision` (one `readDocuments`). When the
 * revision read with them is newer, the documents changed meanwhile are read too, so the result
 * is consistent at one revision. `null`: the counter went backwards or the log cannot bridge the
 * gap; load in full.
 */
export async function readDelta(
  repository: Following,
  changes: ChangeSet,
): Promise<{ revision: number; changed: ChangedDocument[] } | null> {
  const found = new Map<string, ChangedDocument>()
  let target = changes.revision
  let refs = changes.changed
  for (let round = 1; ; round++) {
    const read = await repository.readDocuments(refs)
    if (read.revision < target) return null
    refs.forEach((ref, i) => found.set(refId(ref), { ref, document: read.documents[i] ?? null }))
    if (read.revision === target || round === ROUNDS) return { revision: target, changed: [...found.values()] }
    const more = await repository.changesSince(target)
    if (more === null || more.revision < read.revision) return null
    target = more.revision
    refs = more.changed
  }
}

/** One push message: its revision (`NaN`: unreadable) and, when it said, the documents it changed. */
export interface Push {
  readonly revision: number
  readonly changed: readonly DocumentRef[] | undefined
}

/**
 * What the pushes received since the last step call for, holding revision `held`: one delta when
 * they follow it without a gap and each carried its changes; a catch-up from the log when they
 * skip a revision or one carried none; a check when all are late (out of order) or behind (a
 * counter that went backwards: the check tells which); a full reload for an unreadable message or
 * a repository that cannot be followed by deltas (unless every push named what we hold).
 */
export function planPushes(
  pushes: readonly Push[],
  held: number,
  follows: boolean,
): 'load' | 'check' | 'catch-up' | 'none' | ChangeSet {
  if (!follows || pushes.some((p) => Number.isNaN(p.revision))) return pushes.some((p) => p.revision !== held) ? 'load' : 'none'
  const ahead = [...new Map(pushes.filter((p) => p.revision > held).map((p) => [p.revision, p])).values()].sort(
    (a, b) => a.revision - b.revision,
  )
  if (ahead.length === 0) return pushes.some((p) => p.revision < held) ? 'check' : 'none'
  let upTo = held
  const changed: DocumentRef[] = []
  for (const push of ahead) {
    if (push.revision !== upTo + 1 || push.changed === undefined) return 'catch-up'
    changed.push(...push.changed)
    upTo = push.revision
  }
  return { revision: upTo, changed }
}
