/**
 * `FlagClient`: evaluates flags synchronously from an in-memory compiled snapshot; the snapshot is
 * kept current in the background by the sync loop (sync.ts). An evaluation never touches the store.
 *
 * When the store is unreachable the client keeps serving the last snapshot and never throws; once
 * nothing has confirmed the snapshot for `staleAfter` ms, successful results carry reason `STALE`
 * (value and variant unchanged). It recovers by itself: polling continues, and the store
 * re-subscribes after a reconnect.
 */
import { type CompiledSnapshot, errorDetails } from '../evaluation/evaluate.js'
import type { EvaluationContext, EvaluationDetails, FlagType, FlagValue, JsonValue } from '../model.js'
import { type FlagClientEvents, type FlagClientOptions, resolveOptions } from './options.js'

export type { FlagClientEvents, FlagClientOptions } from './options.js'
import { SnapshotSync } from './sync.js'
import { hasListeners, publish } from '../../events.js'

/**
 * `NOT_READY` before the first snapshot, `READY`, `STALE` while it is older than `staleAfter`,
 * `CLOSED` after `close()` (evaluations then keep answering from the last snapshot, as `STALE`).
 */
export type FlagClientStatus = 'NOT_READY' | 'READY' | 'STALE' | 'CLOSED'

function staleResult<T extends FlagValue>(result: EvaluationDetails<T>): EvaluationDetails<T> {
  return Object.freeze({ ...result, reason: 'STALE' })
}

export class FlagClient {
  readonly #sync: SnapshotSync

  /**
   * Starts loading at once; evaluations answer `PROVIDER_NOT_READY` until the first snapshot is in.
   * Background timers are `unref()`ed: a server is kept alive by its server, and a script that
   * forgets `close()` still exits. (An unfinished `ready()` does keep the process alive.)
   */
  constructor(options: FlagClientOptions) {
    this.#sync = new SnapshotSync(resolveOptions(options))
  }

  // ---- state ----

  /** See `FlagClientStatus`. */
  get status(): FlagClientStatus {
    const sync = this.#sync
    if (sync.closed) return 'CLOSED'
    if (sync.snapshot === undefined) return 'NOT_READY'
    return sync.stale ? 'STALE' : 'READY'
  }

  /** The repository revision of the snapshot evaluations use; `undefined` before the first load. */
  get revision(): number | undefined {
    return this.#sync.revision
  }

  /** The compiled snapshot evaluations use (for inspection); `undefined` before the first load. */
  get snapshot(): CompiledSnapshot | undefined {
    return this.#sync.snapshot
  }

  /** Epoch ms when the snapshot was last confirmed current (for an age metric); `undefined` before the first load. */
  get confirmedAt(): number | undefined {
    return this.#sync.confirmedAt
  }

  /** Whether a push subscription is active (otherwise changes arrive by polling only). */
  get watching(): boolean {
    return this.#sync.watching
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
    return this.#sync.ready()
  }

  /**
   * Loads a fresh snapshot now (even at an unchanged revision) and resolves once it is installed;
   * rejects with the store's error if that load fails (the snapshot in use is kept).
   */
  refresh(): Promise<void> {
    return this.#sync.refresh()
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends keyof FlagClientEvents>(event: E, listener: FlagClientEvents[E]): () => void {
    return this.#sync.events.on(event, listener)
  }

  off<E extends keyof FlagClientEvents>(event: E, listener: FlagClientEvents[E]): void {
    this.#sync.events.off(event, listener)
  }

  /**
   * Stops polling and unsubscribes. Idempotent. Does not close the repository or its store.
   * Evaluations afterwards keep answering from the last snapshot, as `STALE`.
   */
  close(): Promise<void> {
    return this.#sync.close()
  }

  // ---- evaluation: synchronous, from the snapshot only ----

  /** Whether a boolean flag is on; `defaultValue` when it is missing, of another type, or not loaded. */
  isEnabled(flagKey: string, defaultValue = false, context?: EvaluationContext): boolean {
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
    const snapshot = this.#sync.snapshot
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
    const snapshot = this.#sync.snapshot
    if (snapshot === undefined) {
      return errorDetails(flagKey, defaultValue, 'PROVIDER_NOT_READY', 'the flag client has not loaded its first snapshot yet')
    }
    const evaluated = snapshot.evaluate(flagKey, type, defaultValue, context)
    const result = this.#sync.stale && evaluated.errorCode === undefined ? staleResult(evaluated) : evaluated
    if (hasListeners('flagEvaluation'))
      publish('flagEvaluation', { flag: flagKey, reason: result.reason, variant: result.variant ?? '' })
    return result
  }
}
