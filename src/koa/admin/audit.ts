/**
 * The admin API's audit trail: one entry per change (who, what, when, before / after), in a
 * `Store` of the caller's choosing. Layout inside that store:
 *
 *   seq                                   counter, `increment`ed once per entry (atomic across processes)
 *   entry/<seq, 16 digits>                the entry, JSON
 *   by-target/<target>/<seq, 16 digits>   index for `?target=` (target URI-encoded)
 *   by-flag/<flagKey>/<seq, 16 digits>    index for `?flagKey=`
 *
 * Zero-padded sequence numbers make key order the write order, so listing newest first is a
 * sort of the keys, and a page reads only its own entries. The entry is written before its index
 * keys; a crash in between leaves an entry that only the unfiltered listing shows.
 */
import { FlagstoneError } from '../../errors.js'
import type { Store } from '../../stores/index.js'
import { checkOptions } from '../../internal/objects.js'

export interface AuditEntry {
  /** The entry's sequence number, zero-padded (sorts as written). */
  readonly id: string
  /** ISO-8601 instant of the change. */
  readonly at: string
  /** Who made the change, as authentication established it. */
  readonly actor: string
  /** What the request's `X-Flagstone-Actor` header claimed (not verified), when sent. */
  readonly claimedActor?: string
  /** `flag.create`, `rule.update`, `override.delete`, `promote`, … */
  readonly action: string
  /**
   * The document that changed: `flag:<key>`, `override:<flag>/<type>/<id>`, `segment:<key>`,
   * `environment:<slug>`, `environmentFlag:<slug>/<flag>`.
   */
  readonly target: string
  /** The flag the change concerns, when there is one (for `?flagKey=`). */
  readonly flagKey?: string
  /** The document before the change; `null` when it did not exist. */
  readonly before: unknown
  /** The document after the change; `null` when it was deleted. */
  readonly after: unknown
  /** Anything else worth keeping (`{ ruleId }`, `{ from, to }`, …). */
  readonly details?: Readonly<Record<string, unknown>>
}

export type AuditRecord = Omit<AuditEntry, 'id' | 'at'>

export interface AuditQuery {
  readonly limit: number
  readonly offset: number
  /** Only entries about this document (`flag:checkout`). */
  readonly target?: string
  /** Only entries about this flag: its document, its overrides and its environment settings. */
  readonly flagKey?: string
}

export interface AuditLogOptions {
  /** Entries (and their index keys) expire after this many ms. @default undefined — kept forever */
  expiresIn?: number
  /** Clock for `at`. @default Date.now */
  now?: () => number
}

const SEQ = 'seq'
const ENTRY = 'entry/'
const BY_TARGET = 'by-target/'
const BY_FLAG = 'by-flag/'
const pad = (seq: number) => String(seq).padStart(16, '0')
const part = (text: string) => encodeURIComponent(text)
/** Parallel reads of one page. */
const READ_CONCURRENCY = 16

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Reads and writes the audit trail in `store`; the store stays the caller's (never closed here). */
export class AuditLog {
  readonly #store: Store
  readonly #expiresIn: number | undefined
  readonly #now: () => number

  constructor(store: Store, options: AuditLogOptions = {}) {
    checkOptions(options, 'AuditLog')
    if (store === null || typeof store !== 'object' || typeof store.increment !== 'function') {
      throw new FlagstoneError('INVALID_ARGUMENT', 'audit.store must be a Store', { details: { field: 'audit.store' } })
    }
    if (options.expiresIn !== undefined && !(Number.isFinite(options.expiresIn) && options.expiresIn > 0)) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'audit.expiresIn must be a number of milliseconds > 0', {
        details: { field: 'audit.expiresIn' },
      })
    }
    this.#store = store
    this.#expiresIn = options.expiresIn
    this.#now = options.now ?? Date.now
  }

  /** Writes one entry and returns it as stored. */
  async record(record: AuditRecord): Promise<AuditEntry> {
    const seq = await this.#store.increment(SEQ)
    const id = pad(seq)
    const entry = entryOf(id, new Date(this.#now()).toISOString(), record)
    const opts = this.#expiresIn === undefined ? undefined : { expiresIn: this.#expiresIn }
    // JSON, as the API serves it: Dates become ISO strings once, here.
    const text = JSON.stringify(entry)
    await this.#store.set(ENTRY + id, encoder.encode(text), opts)
    const index = [`${BY_TARGET}${part(entry.target)}/${id}`]
    if (entry.flagKey !== undefined) index.push(`${BY_FLAG}${part(entry.flagKey)}/${id}`)
    await Promise.all(index.map((key) => this.#store.set(key, '1', opts)))
    return JSON.parse(text) as AuditEntry
  }

  /** Entries newest first; `total` counts every entry the filter selects. */
  async list(query: AuditQuery): Promise<{ items: AuditEntry[]; total: number }> {
    let prefix = ENTRY
    if (query.target !== undefined) prefix = `${BY_TARGET}${part(query.target)}/`
    else if (query.flagKey !== undefined) prefix = `${BY_FLAG}${part(query.flagKey)}/`
    const ids: string[] = []
    for await (const key of this.#store.keys(prefix)) {
      const id = key.slice(prefix.length)
      if (/^\d{16}$/.test(id)) ids.push(id)
    }
    ids.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))
    const page = ids.slice(query.offset, query.offset + query.limit)
    const entries: Array<AuditEntry | undefined> = new Array(page.length)
    let next = 0
    const worker = async () => {
      while (next < page.length) {
        const i = next++
        const bytes = await this.#store.get(ENTRY + page[i]!)
        entries[i] = bytes === null ? undefined : (JSON.parse(decoder.decode(bytes)) as AuditEntry)
      }
    }
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, page.length) }, worker))
    let items = entries.filter((e): e is AuditEntry => e !== undefined)
    if (query.target !== undefined && query.flagKey !== undefined) items = items.filter((e) => e.flagKey === query.flagKey)
    return { items, total: ids.length }
  }
}

/** The entry in a fixed field order, optional fields only when set; before / after are `null` when absent. */
function entryOf(id: string, at: string, record: AuditRecord): AuditEntry {
  return {
    id,
    at,
    actor: record.actor,
    ...(record.claimedActor === undefined ? {} : { claimedActor: record.claimedActor }),
    action: record.action,
    target: record.target,
    ...(record.flagKey === undefined ? {} : { flagKey: record.flagKey }),
    before: record.before ?? null,
    after: record.after ?? null,
    ...(record.details === undefined ? {} : { details: record.details }),
  }
}
