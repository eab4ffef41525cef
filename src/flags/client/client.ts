/**
 * `FlagClient`: evaluates flags synchronously from an in-memory compiled snapshot and keeps that
 * snapshot current in the background. An evaluation never touches the store.
 *
 * Following changes, cheapest first:
 * - push: `repository.watch()` (Redis pub/sub, Postgres LISTEN/NOTIFY, memory in-process) wakes the
 *   client at once; a subscription that failed (store down at start) is retried with backoff;
 * - poll: `repository.revision()` (one GET) every `pollInterval`; a different revision → reload;
 * - safety net: a full reload every `fullRefreshInterval`, and one after every outage (a store that
 *   lost its data may have restarted its revision counter at a value we already saw).
 * All of it runs through one work loop, so at most one store operation of the client is in flight:
 * requests that arrive during a load are coalesced into one more load after it.
 *
 * When the store is unreachable the client keeps serving the last snapshot and never throws; once
 * nothing has confirmed the snapshot for `staleAfter` ms, successful results carry reason `STALE`
 * (value and variant unchanged). It recovers by itself: polling continues, and the store
 * re-subscribes after a reconnect.
 */
import { FlagstoneError, type FlagstoneErrorCode } from '../../errors.js'
import { type CompiledSnapshot, compileSnapshot, errorDetails } from '../evaluation/evaluate.js'
import type { EvaluationContext, EvaluationDetails, FlagType, FlagValue, JsonValue } from '../model.js'
import type { FlagRepository } from '../repositories/repository.js'

/** Node's timers treat longer delays as 1 ms. */
const MAX_TIMER_MS = 2_147_483_647
/** Longest wait between two attempts to subscribe again after `watch()` failed. */
const MAX_WATCH_RETRY_MS = 30_000

export interface FlagClientOptions {
  /** Where flags come from. The client never closes it (nor its store): the caller owns them. */
  repository: FlagRepository
  /**
   * How often the client compares `repository.revision()` (one read) with its snapshot's and
   * reloads on a difference, in ms. This bounds how late a change is seen where the backend cannot
   * push (SQLite) or a push was lost. `Infinity` turns polling off.
   * @default 1000
   */
  pollInterval?: number
  /**
   * How long a snapshot stays authoritative without a successful revision check or load, in ms.
   * Older, results are still served from it but carry reason `STALE`. `Infinity`: never stale.
   * @default 30_000
   */
  staleAfter?: number
  /** Reload everything this often even when no change was signalled, in ms. `Infinity`: never. @default 300_000 */
  fullRefreshInterval?: number
  /**
   * How long `ready()` waits for the first snapshot before it rejects, in ms (the client keeps
   * trying in the background either way). `Infinity`: wait for ever.
   * @default 10_000
   */
  readyTimeout?: number
  /**
   * Called with every failure of background work (a failed poll, load or subscription; a throwing
   * event listener). Never called after `close()`. Errors from the store are `FlagstoneError`s.
   * @default a `console.warn` on the first failure of each outage
   */
  onError?: (error: Error) => void
}

/**
 * `NOT_READY` before the first snapshot, `READY`, `STALE` while it is older than `staleAfter`,
 * `CLOSED` after `close()` (evaluations then keep answering from the last snapshot, as `STALE`).
 */
export type FlagClientStatus = 'NOT_READY' | 'READY' | 'STALE' | 'CLOSED'

export interface FlagClientEvents {
  /** The first snapshot is loaded, and again each time the client leaves `STALE`. */
  ready: () => void
  /**
   * A new snapshot was installed (after the first): at a different revision, or after an outage (a
   * store that lost its data restarts its counter, so `revision` may then equal `previous`).
   */
  change: (revision: number, previous: number) => void
  /** Nothing confirmed the snapshot for `staleAfter` ms. */
  stale: () => void
}

type Resolved = Readonly<Required<Omit<FlagClientOptions, 'repository' | 'onError'>>> & {
  readonly repository: FlagRepository
  readonly onError: ((error: Error) => void) | undefined
}

interface Waiter {
  resolve: () => void
  reject: (error: Error) => void
  timer?: NodeJS.Timeout
}

function duration(
  options: FlagClientOptions,
  field: 'pollInterval' | 'staleAfter' | 'fullRefreshInterval' | 'readyTimeout',
  fallback: number,
): number {
  const value = options[field] ?? fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (Number.isFinite(value) && value > MAX_TIMER_MS)) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `${field} must be a number of ms in 1..${MAX_TIMER_MS} or Infinity, got ${String(value)}`,
      {
        details: { field },
      },
    )
  }
  return value
}

function resolveOptions(options: FlagClientOptions): Resolved {
  if (options === null || typeof options !== 'object') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'FlagClient needs an options object with a repository', {
      details: { field: 'options' },
    })
  }
  const repository = options.repository
  if (
    repository === null ||
    typeof repository !== 'object' ||
    typeof repository.loadSnapshot !== 'function' ||
    typeof repository.revision !== 'function' ||
    typeof repository.watch !== 'function'
  ) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'repository: must be a FlagRepository', { details: { field: 'repository' } })
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'onError: must be a function', { details: { field: 'onError' } })
  }
  return Object.freeze({
    repository,
    pollInterval: duration(options, 'pollInterval', 1000),
    staleAfter: duration(options, 'staleAfter', 30_000),
    fullRefreshInterval: duration(options, 'fullRefreshInterval', 300_000),
    readyTimeout: duration(options, 'readyTimeout', 10_000),
    onError: options.onError,
  })
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)))

function staleResult<T extends FlagValue>(result: EvaluationDetails<T>): EvaluationDetails<T> {
  return Object.freeze({ ...result, reason: 'STALE' })
}

export class FlagClient {
  readonly #options: Resolved
  readonly #repository: FlagRepository

  #snapshot: CompiledSnapshot | undefined
  #revision: number | undefined
  #stale = false
  #closed = false
  #closing: Promise<void> | undefined

  // Work loop: at most one store operation in flight; requests made meanwhile are merged.
  #running = false
  #wantCheck = false
  #wantLoad = false
  /** A load was asked for without a revision to compare (poll saw a difference, refresh, outage). */
  #mustLoad = false
  /** Highest revision announced by pushes since the last load started. */
  #pushed: number | undefined
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
  readonly #listeners: { [E in keyof FlagClientEvents]: Set<FlagClientEvents[E]> } = {
    ready: new Set(),
    change: new Set(),
    stale: new Set(),
  }

  /**
   * Starts loading at once; evaluations answer `PROVIDER_NOT_READY` until the first snapshot is in.
   * Background timers are `unref()`ed: a server is kept alive by its server, and a script that
   * forgets `close()` still exits. (An unfinished `ready()` does keep the process alive.)
   */
  constructor(options: FlagClientOptions) {
    this.#options = resolveOptions(options)
    this.#repository = this.#options.repository
    this.#watchRetryDelay = this.#retryBase()
    const { pollInterval, fullRefreshInterval } = this.#options
    if (Number.isFinite(pollInterval)) {
      this.#pollTimer = setInterval(() => this.#request('check'), pollInterval).unref()
    }
    if (Number.isFinite(fullRefreshInterval)) {
      this.#refreshTimer = setInterval(() => this.#request('load'), fullRefreshInterval).unref()
    }
    this.#request('load')
    this.#subscribe()
  }

  // ---- state ----

  /** See `FlagClientStatus`. */
  get status(): FlagClientStatus {
    if (this.#closed) return 'CLOSED'
    if (this.#snapshot === undefined) return 'NOT_READY'
    return this.#stale ? 'STALE' : 'READY'
  }

  /** The repository revision of the snapshot evaluations use; `undefined` before the first load. */
  get revision(): number | undefined {
    return this.#revision
  }

  /** The compiled snapshot evaluations use (for inspection); `undefined` before the first load. */
  get snapshot(): CompiledSnapshot | undefined {
    return this.#snapshot
  }

  /** Whether a push subscription is active (otherwise changes arrive by polling only). */
  get watching(): boolean {
    return this.#watch === 'active'
  }

  /**
   * Resolves once the first snapshot is loaded and the first attempt to subscribe to pushes has
   * settled (so a change made right after is pushed, where the backend can); at `readyTimeout` a
   * loaded snapshot is enough. With no snapshot by then, rejects with a `FlagstoneError` (the
   * store's code, usually `STORE_UNAVAILABLE`, the store's error as `cause`); the client keeps
   * trying in the background, evaluations answer `PROVIDER_NOT_READY` meanwhile, and a later
   * `ready()` resolves once it succeeds. Rejects with `STORE_CLOSED` if the client is closed first.
   */
  ready(): Promise<void> {
    if (this.#readyEmitted) return Promise.resolve()
    if (this.#closed) return Promise.reject(this.#closedError())
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject }
      const timeout = this.#options.readyTimeout
      if (Number.isFinite(timeout)) {
        waiter.timer = setTimeout(() => {
          this.#readyWaiters.delete(waiter)
          // Loaded, only the subscription has not answered: usable (changes are polled meanwhile).
          if (this.#snapshot !== undefined) resolve()
          else reject(this.#notReadyError(timeout))
        }, timeout)
      }
      this.#readyWaiters.add(waiter)
    })
  }

  /**
   * Loads a fresh snapshot now (even at an unchanged revision) and resolves once it is installed;
   * rejects with the store's error if that load fails (the snapshot in use is kept).
   */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError())
    return new Promise<void>((resolve, reject) => {
      this.#refreshWaiters.push({ resolve, reject })
      this.#request('load')
    })
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends keyof FlagClientEvents>(event: E, listener: FlagClientEvents[E]): () => void {
    const set = Object.hasOwn(this.#listeners, event) ? (this.#listeners[event] as Set<FlagClientEvents[E]>) : undefined
    if (set === undefined) {
      throw new FlagstoneError('INVALID_ARGUMENT', `unknown event ${JSON.stringify(event)}: use ready, change or stale`, {
        details: { field: 'event' },
      })
    }
    if (typeof listener !== 'function') {
      throw new FlagstoneError('INVALID_ARGUMENT', 'listener must be a function', { details: { field: 'listener' } })
    }
    set.add(listener)
    return () => this.off(event, listener)
  }

  off<E extends keyof FlagClientEvents>(event: E, listener: FlagClientEvents[E]): void {
    ;(this.#listeners[event] as Set<FlagClientEvents[E]> | undefined)?.delete(listener)
  }

  /**
   * Stops polling and unsubscribes. Idempotent. Does not close the repository or its store.
   * Evaluations afterwards keep answering from the last snapshot, as `STALE`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  // ---- evaluation: synchronous, from the snapshot only ----

  /** Whether a boolean flag is on; `defaultValue` when it is missing, of another type, or not loaded. */
  isEnabled(flagKey: string, context?: EvaluationContext, defaultValue = false): boolean {
    return this.#evaluate(flagKey, 'boolean', defaultValue, context).value
  }

  getBoolean(flagKey: string, defaultValue: boolean, context?: EvaluationContext): boolean {
    return this.#evaluate(flagKey, 'boolean', defaultValue, context).value
  }

  getBooleanDetails(flagKey: string, defaultValue: boolean, context?: EvaluationContext): EvaluationDetails<boolean> {
    return this.#evaluate(flagKey, 'boolean', defaultValue, context)
  }

  getString(flagKey: string, defaultValue: string, context?: EvaluationContext): string {
    return this.#evaluate(flagKey, 'string', defaultValue, context).value
  }

  getStringDetails(flagKey: string, defaultValue: string, context?: EvaluationContext): EvaluationDetails<string> {
    return this.#evaluate(flagKey, 'string', defaultValue, context)
  }

  getNumber(flagKey: string, defaultValue: number, context?: EvaluationContext): number {
    return this.#evaluate(flagKey, 'number', defaultValue, context).value
  }

  getNumberDetails(flagKey: string, defaultValue: number, context?: EvaluationContext): EvaluationDetails<number> {
    return this.#evaluate(flagKey, 'number', defaultValue, context)
  }

  /** A `json` flag's value. `T` is the caller's claim about its shape: the client checks only that the flag is `json`. */
  getObject<T extends JsonValue>(flagKey: string, defaultValue: T, context?: EvaluationContext): T {
    return this.#evaluate(flagKey, 'json', defaultValue, context).value
  }

  getObjectDetails<T extends JsonValue>(flagKey: string, defaultValue: T, context?: EvaluationContext): EvaluationDetails<T> {
    return this.#evaluate(flagKey, 'json', defaultValue, context)
  }

  /**
   * Every flag of the snapshot, by key, evaluated for `context` (as any type). Where a flag would
   * serve the caller's default (a non-boolean flag without `defaultValue`), the value is `null`.
   * Empty before the first snapshot.
   */
  evaluateAll(context?: EvaluationContext): Record<string, EvaluationDetails> {
    const out = Object.create(null) as Record<string, EvaluationDetails>
    const snapshot = this.#snapshot
    if (snapshot === undefined) return out
    for (const key of snapshot.keys()) out[key] = this.#evaluate<FlagValue>(key, undefined, null, context)
    return out
  }

  #evaluate<T extends FlagValue>(
    flagKey: string,
    type: FlagType | undefined,
    defaultValue: T,
    context: EvaluationContext | undefined,
  ): EvaluationDetails<T> {
    const snapshot = this.#snapshot
    if (snapshot === undefined) {
      return errorDetails(flagKey, defaultValue, 'PROVIDER_NOT_READY', 'the flag client has not loaded its first snapshot yet')
    }
    const result = snapshot.evaluate(flagKey, type, defaultValue, context)
    return this.#stale && result.errorCode === undefined ? staleResult(result) : result
  }

  // ---- the work loop ----

  #request(kind: 'check' | 'load', pushed?: number): void {
    if (this.#closed) return
    if (kind === 'check') {
      this.#wantCheck = true
    } else {
      this.#wantLoad = true
      if (pushed === undefined) this.#mustLoad = true
      else this.#pushed = this.#pushed === undefined ? pushed : Math.max(this.#pushed, pushed)
    }
    if (!this.#running) this.#run().catch((error: unknown) => this.#report(asError(error), true))
  }

  async #run(): Promise<void> {
    this.#running = true
    try {
      while (!this.#closed) {
        if (this.#wantLoad || (this.#wantCheck && this.#snapshot === undefined)) {
          const skip = !this.#mustLoad && this.#pushed !== undefined && this.#pushed === this.#revision
          this.#wantLoad = this.#mustLoad = false
          this.#pushed = undefined
          if (skip) continue // every push since the last load announced the revision we hold
          this.#wantCheck = false // a load reads the revision too
          await this.#load(this.#refreshWaiters.splice(0))
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
    if (this.#closed) {
      for (const w of waiters) w.reject(this.#closedError())
      return
    }
    const announce = this.#reachable() || this.#announce
    this.#announce = false
    const previous = this.#revision
    this.#snapshot = compiled
    this.#revision = revision
    this.#confirmed()
    for (const w of waiters) w.resolve()
    if (previous === undefined) this.#maybeReady()
    else if (previous !== revision || announce) this.#emit('change', revision, previous)
  }

  async #check(): Promise<void> {
    let revision: number
    try {
      revision = await this.#repository.revision()
    } catch (error) {
      this.#failed(error)
      return
    }
    if (this.#closed) return
    // After an outage reload in any case, and announce it: a store that lost its data restarts its
    // counter, possibly at the very revision we hold. A different revision means our snapshot is
    // known to be old: only a successful load confirms it then.
    if (this.#reachable()) {
      this.#announce = true
      this.#request('load')
    } else if (revision !== this.#revision) {
      this.#request('load')
    } else {
      this.#confirmed()
    }
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
    const staleAfter = this.#options.staleAfter
    if (Number.isFinite(staleAfter)) {
      if (this.#staleTimer === undefined) this.#staleTimer = setTimeout(() => this.#becomeStale(), staleAfter).unref()
      else this.#staleTimer.refresh() // re-arms it, also after it fired
    }
    if (this.#stale) {
      this.#stale = false
      if (this.#readyEmitted) this.#emit('ready')
    }
  }

  #becomeStale(): void {
    if (this.#closed || this.#stale || this.#snapshot === undefined) return
    this.#stale = true
    this.#emit('stale')
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
      watching = this.#repository.watch((revision) => this.#request('load', Number.isFinite(revision) ? revision : undefined))
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
    this.#emit('ready')
  }

  #rejectReady(error: Error): void {
    for (const waiter of this.#readyWaiters) {
      clearTimeout(waiter.timer)
      waiter.reject(error)
    }
    this.#readyWaiters.clear()
  }

  #emit<E extends keyof FlagClientEvents>(event: E, ...args: Parameters<FlagClientEvents[E]>): void {
    for (const listener of [...this.#listeners[event]]) {
      try {
        ;(listener as (...a: Parameters<FlagClientEvents[E]>) => void)(...args)
      } catch (error) {
        if (!this.#closed) this.#report(asError(error), true)
      }
    }
  }

  /** To `onError`, or by default a warning for the first failure of each outage. */
  #report(error: Error, first: boolean): void {
    const onError = this.#options.onError
    try {
      if (onError !== undefined) onError(error)
      else if (first) {
        const serving = this.#snapshot === undefined ? 'no snapshot yet' : 'serving the last snapshot'
        console.warn(`flagstone: flag client: ${error.message} (${serving}; retrying)`)
      }
    } catch {
      // An onError that throws must not break the client nor surface as an unhandled rejection.
    }
  }

  #notReadyError(timeout: number): FlagstoneError {
    const last = this.#lastError
    const code: FlagstoneErrorCode = last instanceof FlagstoneError ? last.code : 'STORE_UNAVAILABLE'
    const why = last === undefined ? 'the store did not answer' : last.message
    return new FlagstoneError(code, `flag client not ready after ${timeout} ms: ${why} (still retrying in the background)`, {
      cause: last,
    })
  }

  #closedError(): FlagstoneError {
    return new FlagstoneError('STORE_CLOSED', 'the flag client is closed')
  }

  async #close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#pollTimer)
    clearInterval(this.#refreshTimer)
    clearTimeout(this.#staleTimer)
    clearTimeout(this.#retryTimer)
    if (this.#snapshot !== undefined) this.#stale = true // nothing follows changes any more
    this.#rejectReady(this.#closedError())
    for (const w of this.#refreshWaiters.splice(0)) w.reject(this.#closedError())
    const unwatch = this.#unwatch
    this.#unwatch = undefined
    this.#watch = 'idle'
    // The store may be down; an unsubscribe that fails leaves nothing behind that we could fix.
    if (unwatch !== undefined) await unwatch().catch(() => undefined)
  }
}
