/**
 * The client's sync loop: keeps a compiled snapshot current in the background (poll, push,
 * reload, outage) and tells the client's listeners about it. `FlagClient` (client.ts) reads the
 * snapshot from here and evaluates; nothing here evaluates.
 *
 * Following changes, cheapest first:
 * - push: `repository.watch()` (Redis pub/sub, Postgres LISTEN/NOTIFY, memory in-process) wakes the
 *   client at once with the revision and the changed documents: when it follows the revision held,
 *   the client reads just those documents (one `readDocuments`) and recompiles what they affect
 *   (delta.ts); a subscription that failed (store down at start) is retried with backoff;
 * - catch-up: a push that skips revisions (or carries none), and every poll (`pollInterval`), ask
 *   `repository.changesSince(held)`: one GET when nothing changed, else the log, then the documents;
 * - full reload: when the log cannot bridge the gap (past its horizon, a counter that went
 *   backwards), on `refresh()`, every `fullRefreshInterval`, and after every outage (a store that
 *   lost its data may have restarted its revision counter at a value we already saw). A repository
 *   without `changesSince` / `readDocuments` is followed by full reloads only, as before.
 * All of it runs through one work loop, so at most one store operation of the client is in flight:
 * pushes that arrive meanwhile are applied together after it.
 */
import { FlagstoneError } from '../../errors.js'
import { type CompiledSnapshot, compileSnapshot } from '../evaluation/evaluate.js'
import type { ChangeSet, FlagRepository } from '../repositories/repository.js'
import { applyChanges } from './delta.js'
import { ClientEvents } from './events.js'
import { canFollow, type Following, planPushes, type Push, readDelta } from './follow.js'
import type { ResolvedClientOptions } from './options.js'
import { asError, closedError, notReadyError, report, type Waiter } from './report.js'

/** Longest wait between two attempts to subscribe again after `watch()` failed. */
const MAX_WATCH_RETRY_MS = 30_000

export class SnapshotSync {
  readonly #options: ResolvedClientOptions
  readonly #repository: FlagRepository

  #snapshot: CompiledSnapshot | undefined
  #revision: number | undefined
  #stale = false
  #closed = false
  #closing: Promise<void> | undefined

  // Work loop: at most one store operation in flight; requests made meanwhile are merged.
  #running = false
  #wantCheck = false
  /** A full reload is due (first load, refresh, outage, a gap the log cannot bridge). */
  #mustLoad = false
  /** Pushes not applied yet. */
  #pushes: Push[] = []
  #refreshWaiters: Waiter[] = []

  // Push subscription.
  #unwatch: (() => Promise<void>) | undefined
  #watch: 'idle' | 'pending' | 'active' | 'unsupported' = 'idle'
  #watchSettledOnce = false
  #watchRetryDelay: number
  #watchRetryAt = 0
  #watchWarned = false

  /** Inside an outage: the last read failed. */
  #failing = false
  /** The next installed snapshot is announced as a change even at an unchanged revision (after an outage). */
  #announce = false
  #retryTimer: NodeJS.Timeout | undefined
  #lastError: Error | undefined
  #readyEmitted = false
  #readyWaiters = new Set<Waiter>()
  #pollTimer: NodeJS.Timeout | undefined
  #refreshTimer: NodeJS.Timeout | undefined
  #staleTimer: NodeJS.Timeout | undefined
  /** A listener that throws is reported like a failed poll (never after `close()`). */
  readonly events = new ClientEvents((error) => {
    if (!this.#closed) this.#report(error, true)
  })

  constructor(options: ResolvedClientOptions) {
    this.#options = options
    this.#repository = options.repository
    this.#watchRetryDelay = this.#retryBase()
    const { pollInterval, fullRefreshInterval } = this.#options
    if (Number.isFinite(pollInterval)) this.#pollTimer = setInterval(() => this.#request('check'), pollInterval).unref()
    if (Number.isFinite(fullRefreshInterval))
      this.#refreshTimer = setInterval(() => this.#request('load'), fullRefreshInterval).unref()
    this.#request('load')
    this.#subscribe()
  }

  get snapshot(): CompiledSnapshot | undefined {
    return this.#snapshot
  }

  get revision(): number | undefined {
    return this.#revision
  }
  confirmedAt: number | undefined // epoch ms when the snapshot was last confirmed current (loaded or checked)

  /** Nothing has confirmed the snapshot for `staleAfter` ms, or the client is closed. */
  get stale(): boolean {
    return this.#stale
  }

  get closed(): boolean {
    return this.#closed
  }

  get watching(): boolean {
    return this.#watch === 'active'
  }

  ready(): Promise<void> {
    if (this.#readyEmitted) return Promise.resolve()
    if (this.#closed) return Promise.reject(closedError())
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject }
      const timeout = this.#options.readyTimeout
      if (Number.isFinite(timeout)) {
        waiter.timer = setTimeout(() => {
          this.#readyWaiters.delete(waiter)
          // Loaded, only the subscription has not answered: usable (changes are polled meanwhile).
          if (this.#snapshot !== undefined) resolve()
          else reject(notReadyError(this.#lastError, timeout))
        }, timeout)
      }
      this.#readyWaiters.add(waiter)
    })
  }

  /** See `FlagClient`: ready, refresh and close are documented there. */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    return new Promise<void>((resolve, reject) => {
      this.#refreshWaiters.push({ resolve, reject })
      this.#request('load')
    })
  }

  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  // ---- the work loop ----

  #request(kind: 'check' | 'load' | Push): void {
    if (this.#closed) return
    if (kind === 'check') this.#wantCheck = true
    else if (kind === 'load') this.#mustLoad = true
    else this.#pushes.push(kind)
    if (!this.#running) this.#run().catch((error: unknown) => this.#report(asError(error), true))
  }

  async #run(): Promise<void> {
    this.#running = true
    try {
      while (!this.#closed) {
        if (this.#mustLoad || (this.#snapshot === undefined && (this.#wantCheck || this.#pushes.length > 0))) {
          // The load reads everything those asked for; pushes arriving during it are looked at after it.
          this.#mustLoad = this.#wantCheck = false
          this.#pushes = []
          await this.#load(this.#refreshWaiters.splice(0))
        } else if (this.#pushes.length > 0) {
          await this.#follow(this.#pushes.splice(0))
        } else if (this.#wantCheck) {
          this.#wantCheck = false
          await this.#check()
        } else {
          break
        }
      }
    } finally {
      this.#running = false
    }
  }

  async #load(waiters: Waiter[]): Promise<void> {
    let compiled: CompiledSnapshot
    let revision: number
    try {
      const data = await this.#repository.loadSnapshot()
      revision = data.revision
      compiled = compileSnapshot(data)
    } catch (error) {
      this.#failed(error)
      for (const w of waiters) w.reject(asError(error))
      if (this.#snapshot === undefined && !Number.isFinite(this.#options.pollInterval)) {
        // No poll will retry the first load: do it here.
        this.#retryTimer ??= setTimeout(() => {
          this.#retryTimer = undefined
          this.#request('load')
        }, 1000).unref()
      }
      return
    }
    if (this.#closed) return waiters.forEach((w) => w.reject(closedError()))
    const announce = this.#reachable() || this.#announce
    this.#announce = false
    this.#install(compiled, revision, announce)
    for (const w of waiters) w.resolve()
  }

  /** `flagKeys`: the flags a delta affected; `undefined` after a full load (any may have changed). */
  #install(compiled: CompiledSnapshot, revision: number, announce: boolean, flagKeys?: readonly string[]): void {
    const previous = this.#revision
    this.#snapshot = compiled
    this.#revision = revision
    this.#confirmed()
    if (previous === undefined) this.#maybeReady()
    else if (previous !== revision || announce) this.events.emit('change', revision, previous, flagKeys)
  }

  async #follow(pushes: Push[]): Promise<void> {
    const next = planPushes(pushes, this.#revision as number, canFollow(this.#repository))
    if (next === 'load') this.#mustLoad = true
    else if (next === 'check') this.#wantCheck = true
    else if (next === 'catch-up') await this.#check()
    else if (next !== 'none') await this.#apply(next)
  }

  async #check(): Promise<void> {
    const repository = this.#repository
    const held = this.#revision as number
    const follows = canFollow(repository)
    let changes: ChangeSet | null
    try {
      // With a log: one GET when nothing changed, else what did. Without: the revision only.
      changes = follows ? await repository.changesSince(held) : { revision: await repository.revision(), changed: [] }
    } catch (error) {
      this.#failed(error)
      return
    }
    if (this.#closed) return
    // After an outage reload in any case, and announce it: a store that lost its data restarts its
    // counter, possibly at the very revision we hold. A different revision means our snapshot is
    // known to be old: only a successful load or delta confirms it then.
    if (this.#reachable()) {
      this.#announce = true
      this.#mustLoad = true
    } else if (changes?.revision === held) {
      this.#confirmed()
    } else if (!follows || changes === null) {
      this.#mustLoad = true // no log, past its horizon, or a counter that went backwards
    } else {
      await this.#apply(changes)
    }
  }

  /** Reads the documents `changes` names and installs the snapshot with them applied. */
  async #apply(changes: ChangeSet): Promise<void> {
    const delta = await readDelta(this.#repository as Following, changes).catch((error: unknown) => {
      this.#failed(error)
      return undefined
    })
    if (this.#closed || delta === undefined) return
    const recovered = this.#reachable()
    if (recovered || delta === null || this.#snapshot === undefined) {
      if (recovered) this.#announce = true // as in #check
      this.#mustLoad = true
      return
    }
    const { snapshot, flagKeys } = applyChanges(this.#snapshot, delta.changed, delta.revision)
    this.#install(snapshot, delta.revision, false, flagKeys)
  }

  /**
   * A read succeeded: the outage (if any) is over; retry a failed subscription when it is due.
   * Returns whether this ended an outage (while a snapshot was held).
   */
  #reachable(): boolean {
    const recovered = this.#failing && this.#snapshot !== undefined
    this.#failing = false
    this.#lastError = undefined
    if (this.#watch === 'idle' && Date.now() >= this.#watchRetryAt) this.#subscribe()
    return recovered
  }

  /** The snapshot is known current now. */
  #confirmed(): void {
    this.confirmedAt = Date.now()
    const staleAfter = this.#options.staleAfter
    if (Number.isFinite(staleAfter)) {
      if (this.#staleTimer === undefined) this.#staleTimer = setTimeout(() => this.#becomeStale(), staleAfter).unref()
      else this.#staleTimer.refresh() // re-arms it, also after it fired
    }
    if (this.#stale) {
      this.#stale = false
      if (this.#readyEmitted) this.events.emit('ready')
    }
  }

  #becomeStale(): void {
    if (this.#closed || this.#stale || this.#snapshot === undefined) return
    this.#stale = true
    this.events.emit('stale')
  }

  #failed(error: unknown): void {
    if (this.#closed) return
    const err = asError(error)
    const first = !this.#failing
    this.#failing = true
    this.#lastError = err
    if (this.#snapshot === undefined && err instanceof FlagstoneError && err.code === 'STORE_CLOSED') {
      // Nothing will ever load from a closed store: do not make ready() callers wait for the timeout.
      this.#rejectReady(err)
    }
    this.#report(err, first)
  }

  // ---- push ----

  #subscribe(): void {
    if (this.#closed || this.#watch !== 'idle') return
    this.#watch = 'pending'
    let watching: Promise<(() => Promise<void>) | null>
    try {
      watching = this.#repository.watch((revision, changed) => this.#request({ revision, changed }))
    } catch (error) {
      watching = Promise.reject(error)
    }
    const subscribed = (unwatch: (() => Promise<void>) | null) => {
      if (unwatch === null) {
        this.#watch = 'unsupported'
      } else if (this.#closed) {
        unwatch().catch(() => undefined) // closed meanwhile: nobody to report to
        return
      } else {
        this.#unwatch = unwatch
        this.#watch = 'active'
        this.#watchRetryDelay = this.#retryBase()
        this.#watchWarned = false
        // A change made while we were subscribing was not pushed to us: look now.
        if (this.#snapshot !== undefined) this.#request('check')
      }
      this.#watchSettled()
    }
    const failed = (error: unknown) => {
      this.#watch = 'idle'
      this.#watchRetryAt = Date.now() + this.#watchRetryDelay
      this.#watchRetryDelay = Math.min(this.#watchRetryDelay * 2, MAX_WATCH_RETRY_MS)
      if (!this.#closed) {
        this.#report(asError(error), !this.#watchWarned)
        this.#watchWarned = true
      }
      this.#watchSettled()
    }
    watching.then(subscribed, failed).catch((error: unknown) => this.#report(asError(error), true))
  }

  #retryBase(): number {
    return Math.min(Number.isFinite(this.#options.pollInterval) ? this.#options.pollInterval : 1000, MAX_WATCH_RETRY_MS)
  }

  #watchSettled(): void {
    this.#watchSettledOnce = true
    this.#maybeReady()
  }

  // ---- ready, events, errors ----

  #maybeReady(): void {
    if (this.#readyEmitted || this.#closed || this.#snapshot === undefined || !this.#watchSettledOnce) return
    this.#readyEmitted = true
    for (const waiter of this.#readyWaiters) {
      clearTimeout(waiter.timer)
      waiter.resolve()
    }
    this.#readyWaiters.clear()
    this.events.emit('ready')
  }

  #rejectReady(error: Error): void {
    for (const waiter of this.#readyWaiters) {
      clearTimeout(waiter.timer)
      waiter.reject(error)
    }
    this.#readyWaiters.clear()
  }

  #report(error: Error, first: boolean): void {
    report(this.#options.onError, error, first, this.#snapshot !== undefined)
  }

  async #close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#pollTimer)
    clearInterval(this.#refreshTimer)
    clearTimeout(this.#staleTimer)
    clearTimeout(this.#retryTimer)
    if (this.#snapshot !== undefined) this.#stale = true // nothing follows changes any more
    this.#rejectReady(closedError())
    for (const w of this.#refreshWaiters.splice(0)) w.reject(closedError())
    const unwatch = this.#unwatch
    this.#unwatch = undefined
    this.#watch = 'idle'
    // The store may be down; an unsubscribe that fails leaves nothing behind that we could fix.
    if (unwatch !== undefined) await unwatch().catch(() => undefined)
  }
}
