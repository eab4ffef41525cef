/**
 * The repository's change log: every write stores its documents, appends a change record
 * (`log/<revision>` → which documents changed and how) and bumps `revision`, in ONE `atomic`
 * operation checked against the revision it read. So no change is stored and not announced, and a
 * failed write (a lost race, a store error) changes nothing. The log is bounded by count (each
 * write deletes the record `maxEntries` revisions back) and by age (each record expires natively).
 */
import { randomInt, randomUUID } from 'node:crypto'
import { FlagstoneError, isFlagstoneError } from '../../errors.js'
import { type AtomicCheck, type AtomicWrite, MAX_ATOMIC_KEYS, type Store } from '../../stores/types.js'
import { enqueue, type Pending } from './group-commit.js'

export const REVISION = 'revision'
export const LOG = 'log/'
export const CHANNEL = 'changes'

export interface ChangeLogOptions {
  /** Most change records kept. @default 1000 */
  maxEntries?: number
  /** How long a change record is kept, in ms. @default 86_400_000 (one day) */
  maxAge?: number
}

export type ResolvedLog = Readonly<Required<ChangeLogOptions>>

/** One changed document: its store key, and whether it was written or removed. */
export interface DocumentChange {
  readonly key: string
  readonly op: 'put' | 'delete'
}

export interface ChangeRecord {
  readonly revision: number
  /** Which write made it: how a writer whose answer was lost finds out that it landed. */
  readonly id: string
  /** Epoch ms of the write. */
  readonly at: number
  readonly changes: readonly DocumentChange[]
}

/** What one write does, computed from the values of the keys it read. `null`: nothing to write. */
export interface WritePlan {
  readonly writes: AtomicWrite[]
  readonly checks: AtomicCheck[]
  readonly changes: DocumentChange[]
}

/** Longest push message: Postgres NOTIFY takes 8000 bytes; a bigger change travels as its bare revision. */
const MAX_MESSAGE = 4000

/**
 * The push message of a change: `{"revision":…,"changes":[…]}` (the record's own fields), or the
 * bare revision when that would be long (a follower then reads the changes from the log). A
 * client of an earlier version reads the JSON form as no number and reloads in full, as it always did.
 */
export function changeMessage(revision: number, changes: readonly DocumentChange[]): string {
  const message = JSON.stringify({ revision, changes })
  return message.length <= MAX_MESSAGE && changes.length > 0 ? message : String(revision)
}

const logKey = (revision: number) => `${LOG}${String(revision).padStart(16, '0')}`
/** A write racing others on the revision retries this often before giving up with CONFLICT. */
const ATTEMPTS = 50

export function resolveLog(options: ChangeLogOptions = {}): ResolvedLog {
  const check = (value: number, field: string) => {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new FlagstoneError('INVALID_ARGUMENT', `${field} must be a positive integer, got ${String(value)}`, {
        details: { field },
      })
    }
    return value
  }
  return Object.freeze({
    maxEntries: check(options.maxEntries ?? 1000, 'changeLog.maxEntries'),
    maxAge: check(options.maxAge ?? 86_400_000, 'changeLog.maxAge'),
  })
}

export function parseRevision(bytes: Uint8Array | null | undefined): number {
  return bytes == null ? 0 : Number(Buffer.from(bytes).toString('utf8'))
}

/**
 * Reads `keys` together with the revision (one round trip), lets `plan` decide the write from
 * their values (it may throw `CONFLICT` / `NOT_FOUND`), then applies the documents, the change
 * record and the next revision in one atomic operation checked against the revision read (plus
 * the plan's own checks). When the check fails, reads again and re-plans. Announces the new
 * revision where the store can push. Returns it, or `null` when the plan had nothing to write.
 *
 * Writes of one process to one store are committed in groups (group-commit.ts): every write
 * checks the one revision, so concurrent writers of one process would only make each other retry.
 */
export function commitChange(
  store: Store,
  log: ResolvedLog,
  keys: readonly string[],
  plan: (values: Array<Uint8Array | null>, attempt: number) => WritePlan | null,
  now: () => number = Date.now,
): Promise<number | null> {
  return enqueue(store, { keys, plan }, (group, defer) => commitGroup(store, log, group, defer, now))
}

/**
 * One read of the revision and of every key of the group, each plan run on its values, then ONE
 * atomic with all their documents, one change record and revision per write (so a follower sees
 * each write as its own change, in order), checked against the revision read. A plan that throws
 * or has nothing to write leaves the group; a lost race re-reads and re-plans the rest.
 */
async function commitGroup(
  store: Store,
  log: ResolvedLog,
  group: Pending<WritePlan>[],
  defer: (rest: Pending<WritePlan>[]) => void,
  now: () => number,
): Promise<void> {
  let live = group
  for (let attempt = 0; attempt < ATTEMPTS && live.length > 0; attempt++) {
    const keys = [...new Set(live.flatMap((p) => p.keys))]
    const index = new Map(keys.map((k, i) => [k, i]))
    const [revisionBytes, ...values] = (await store.getMany([REVISION, ...keys])) as Array<Uint8Array | null>
    const steps: Array<{ pending: Pending<WritePlan>; step: WritePlan }> = []
    // Keys read, written or checked by the writes taken so far. A write touching one of them goes
    // to the next group: planned on values an earlier write of this group changes, it would not be
    // the same as running after it. So the group is exactly the writes run one after the other.
    const touched = new Set<string>()
    let size = 2 // the revision's write and check
    for (const [i, pending] of live.entries()) {
      let step: WritePlan | null
      try {
        step = pending.plan(
          pending.keys.map((k) => values[index.get(k) as number] ?? null),
          attempt,
        )
      } catch (error) {
        pending.settle(undefined, error) // changes nothing, so it takes nothing from the others
        continue
      }
      if (step === null) {
        pending.settle(null)
        continue
      }
      const own = [...pending.keys, ...step.writes.map((w) => w.key), ...step.checks.map((c) => c.key)]
      const stepSize = step.writes.length + step.checks.length + 2 // its change record, and the one it trims
      if (
        steps.length > 0 &&
        (own.some((k) => touched.has(k)) || size + stepSize > MAX_ATOMIC_KEYS || steps.length >= log.maxEntries)
      ) {
        defer(live.slice(i))
        break
      }
      for (const k of own) touched.add(k)
      size += stepSize
      steps.push({ pending, step })
    }
    live = steps.map((s) => s.pending)
    if (steps.length === 0) return
    const current = revisionBytes ?? null
    // A missing counter is a new repository or a store that lost its data: start at a random
    // revision, so that a client still holding one from the counter's previous life cannot
    // mistake new data for what it has.
    const first = current === null ? randomInt(2, 2 ** 40) : parseRevision(current) + 1
    const at = now()
    const records: ChangeRecord[] = steps.map(({ step }, i) => ({
      revision: first + i,
      id: randomUUID(),
      at,
      changes: step.changes,
    }))
    const last = first + steps.length - 1
    const writes: AtomicWrite[] = steps.flatMap(({ step }) => step.writes)
    for (const record of records) {
      writes.push({ op: 'set', key: logKey(record.revision), value: JSON.stringify(record), expiresIn: log.maxAge })
      // The group is never longer than the log (above), so this is never one of its own records.
      if (record.revision - log.maxEntries > 0) writes.push({ op: 'delete', key: logKey(record.revision - log.maxEntries) })
    }
    writes.push({ op: 'set', key: REVISION, value: String(last) })
    const checks = [...steps.flatMap(({ step }) => step.checks), { key: REVISION, expected: current }]
    let landed: boolean
    try {
      landed = await applied(store, log, writes, checks, records[0] as ChangeRecord)
    } catch (error) {
      for (const pending of live) pending.settle(undefined, error)
      return
    }
    if (landed) {
      // Each write returns once its push is sent; the next group commits meanwhile.
      const group = live
      void announce(store, records).then(() => group.forEach((pending, i) => pending.settle(first + i)))
      return
    }
  }
  const error = new FlagstoneError('CONFLICT', 'too many concurrent writes to the flag repository; try again', {
    details: { key: REVISION },
  })
  for (const pending of live) pending.settle(undefined, error)
}

const announcing = new WeakMap<Store, Promise<void>>()

/**
 * Pushes one message per revision, in order across groups (one after the other: a connection pool
 * may reorder concurrent ones). Push is only a wake-up call (UNSUPPORTED on SQLite): pollers still
 * see the new revision, so a failed push fails nothing.
 */
function announce(store: Store, records: readonly ChangeRecord[]): Promise<void> {
  const done = (announcing.get(store) ?? Promise.resolve()).then(async () => {
    for (const record of records)
      await store.publish(CHANNEL, changeMessage(record.revision, record.changes)).catch(() => undefined)
  })
  announcing.set(store, done)
  void done.then(() => announcing.get(store) === done && announcing.delete(store))
  return done
}

/**
 * Whether the atomic write applied. When its answer is lost (`STORE_UNAVAILABLE`: a timeout, a
 * dropped connection) it may still have landed, so the caller must not report a failure for a
 * change that is stored: settle it by racing a fence for the same revision (an empty change
 * record, checked against the same revision). If the fence applies, the write never can (its
 * revision check now fails forever): it did not land. If the fence loses, the change record at
 * that revision says whose write won. Only when the store does not answer that either does the
 * original error stand (the outcome is then unknown to anyone).
 */
async function applied(
  store: Store,
  log: ResolvedLog,
  writes: AtomicWrite[],
  checks: AtomicCheck[],
  record: ChangeRecord,
): Promise<boolean> {
  try {
    return await store.atomic(writes, checks)
  } catch (error) {
    if (!isFlagstoneError(error) || error.code !== 'STORE_UNAVAILABLE') throw error
    const fence: ChangeRecord = { revision: record.revision, id: randomUUID(), at: record.at, changes: [] }
    const fenceWrites: AtomicWrite[] = [
      { op: 'set', key: REVISION, value: String(record.revision) },
      { op: 'set', key: logKey(record.revision), value: JSON.stringify(fence), expiresIn: log.maxAge },
    ]
    const revisionCheck = checks[checks.length - 1] as AtomicCheck
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        if (await store.atomic(fenceWrites, [revisionCheck])) throw error // fenced off: nothing of it is stored
        const landed = await store.get(logKey(record.revision))
        return landed !== null && (JSON.parse(Buffer.from(landed).toString('utf8')) as ChangeRecord).id === record.id
      } catch (settling) {
        if (settling === error) throw error
        await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)))
      }
    }
    throw error
  }
}

/** The change records after `since` up to the newest, or `null` when the log no longer reaches back that far. */
export async function readChanges(store: Store, since: number, upTo: number): Promise<ChangeRecord[] | null> {
  if (upTo <= since) return []
  // Checked before the keys are made: a restarted counter can be 2^40 away.
  if (upTo - since > 10_000) return null
  const keys = Array.from({ length: upTo - since }, (_, i) => logKey(since + 1 + i))
  const values = await store.getMany(keys)
  const records: ChangeRecord[] = []
  for (const value of values) {
    if (value === null) return null // trimmed (or expired): past the horizon
    records.push(JSON.parse(Buffer.from(value).toString('utf8')) as ChangeRecord)
  }
  return records
}
