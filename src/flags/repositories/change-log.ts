/**
 * The repository's change log: every write stores its documents, appends a change record
 * (`log/<revision>` → which documents changed and how) and bumps `revision`, in ONE `atomic`
 * operation checked against the revision it read. So no change is stored and not announced, and a
 * failed write (a lost race, a store error) changes nothing. The log is bounded by count (each
 * write deletes the record `maxEntries` revisions back) and by age (each record expires natively).
 */
import { randomInt, randomUUID } from 'node:crypto'
import { FlagstoneError, isFlagstoneError } from '../../errors.js'
import type { AtomicCheck, AtomicWrite, Store } from '../../stores/types.js'

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
 */
export function commitChange(
  store: Store,
  log: ResolvedLog,
  keys: readonly string[],
  plan: (values: Array<Uint8Array | null>, attempt: number) => WritePlan | null,
  now: () => number = Date.now,
): Promise<number | null> {
  // One write at a time per store in this process: every write checks the one revision, so
  // concurrent writers of one process would only make each other retry (n² atomics for n writers).
  const previous = queues.get(store) ?? Promise.resolve()
  const run = previous.then(
    () => commitNow(store, log, keys, plan, now),
    () => commitNow(store, log, keys, plan, now),
  )
  const tail = run.then(
    () => undefined,
    () => undefined,
  )
  queues.set(store, tail)
  void tail.then(() => queues.get(store) === tail && queues.delete(store))
  return run
}

const queues = new WeakMap<Store, Promise<void>>()

async function commitNow(
  store: Store,
  log: ResolvedLog,
  keys: readonly string[],
  plan: (values: Array<Uint8Array | null>, attempt: number) => WritePlan | null,
  now: () => number,
): Promise<number | null> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const [revisionBytes, ...values] = await store.getMany([REVISION, ...keys])
    const step = plan(values as Array<Uint8Array | null>, attempt)
    if (step === null) return null
    const current = revisionBytes ?? null
    // A missing counter is a new repository or a store that lost its data: start at a random
    // revision, so that a client still holding one from the counter's previous life cannot
    // mistake new data for what it has.
    const next = current === null ? randomInt(2, 2 ** 40) : parseRevision(current) + 1
    const record: ChangeRecord = { revision: next, id: randomUUID(), at: now(), changes: step.changes }
    const writes: AtomicWrite[] = [
      ...step.writes,
      { op: 'set', key: REVISION, value: String(next) },
      { op: 'set', key: logKey(next), value: JSON.stringify(record), expiresIn: log.maxAge },
    ]
    if (next - log.maxEntries > 0) writes.push({ op: 'delete', key: logKey(next - log.maxEntries) })
    const checks = [...step.checks, { key: REVISION, expected: current }]
    if (await applied(store, log, writes, checks, record)) {
      // Push is only a wake-up call (UNSUPPORTED on SQLite): pollers still see the new revision.
      await store.publish(CHANNEL, changeMessage(next, step.changes)).catch(() => undefined)
      return next
    }
  }
  throw new FlagstoneError('CONFLICT', 'too many concurrent writes to the flag repository; try again', {
    details: { key: REVISION },
  })
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
