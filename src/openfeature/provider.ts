/**
 * `FlagstoneProvider`: an OpenFeature server provider (`@openfeature/server-sdk`, a peer
 * dependency) over `FlagClient`'s public API. Evaluation stays local and synchronous inside the
 * client; the provider maps contexts and results and turns the client's events into provider events:
 *
 * | FlagClient                          | provider event                       | SDK status |
 * |-------------------------------------|--------------------------------------|------------|
 * | `ready()` resolves                  | (the SDK emits `PROVIDER_READY`)     | READY      |
 * | `ready()` rejects (`readyTimeout`)  | (the SDK emits `PROVIDER_ERROR`)     | ERROR      |
 * | first snapshot after that failure   | `PROVIDER_READY`                     | READY      |
 * | `change`                            | `PROVIDER_CONFIGURATION_CHANGED` + `flagsChanged` | unchanged |
 *
 * `flagsChanged` is the event's `flagKeys` when the change came as a delta (the flags it affected),
 * else (a full reload) the keys that differ between the last snapshot and the new one (changes.ts).
 * | `stale` (store unreachable)         | `PROVIDER_STALE`                     | STALE      |
 * | `ready` after `stale`               | `PROVIDER_READY`                     | READY      |
 *
 * While ERROR, evaluations answer `PROVIDER_NOT_READY` (there is no snapshot); while STALE they
 * answer from the last snapshot with reason `STALE`.
 */
import {
  type ErrorCode,
  type EvaluationContext as OpenFeatureContext,
  type FlagMetadata as OpenFeatureMetadata,
  type JsonValue as OpenFeatureJson,
  type Provider,
  type ResolutionDetails,
  type TrackingEventDetails,
  OpenFeatureEventEmitter,
  ProviderEvents,
} from '@openfeature/server-sdk'
import { FlagstoneError } from '../errors.js'
import { hasListeners, publish } from '../events.js'
import {
  type CompiledSnapshot,
  type EvaluationDetails,
  type FlagClientOptions,
  type FlagValue,
  type JsonValue,
  FlagClient,
} from '../flags/index.js'
import { changedFlagKeys } from './changes.js'
import { fromOpenFeatureContext } from '../flags/index.js'
import { checkOptions } from '../internal/objects.js'

export interface FlagstoneProviderOptions {
  /**
   * The client to evaluate with. A client passed here belongs to the caller: `onClose` leaves it
   * open. Give `clientOptions` instead to let the provider create (and close) its own.
   */
  client?: FlagClient
  /** Options for a client the provider creates in its constructor and closes in `onClose`. */
  clientOptions?: FlagClientOptions
  /**
   * Also receives `client.track(...)` calls. Every call is published on the `track` diagnostics
   * channel (`CHANNELS.track`), which `flagstone/observability` counts as
   * `flagstone_tracked_events_total` and `flagstone_tracked_event_value_total`.
   */
  onTrack?: (eventName: string, context: OpenFeatureContext, details: TrackingEventDetails) => void
}

const OVERRIDE_METADATA = new WeakMap<object, OpenFeatureMetadata>()

/** flagstone's result as OpenFeature's: `OVERRIDE` becomes `TARGETING_MATCH` with `flagMetadata.flagstoneReason`. */
function toResolution<T>(details: EvaluationDetails<FlagValue>): ResolutionDetails<T> {
  let reason: string = details.reason
  let flagMetadata: OpenFeatureMetadata = details.flagMetadata
  if (reason === 'OVERRIDE') {
    reason = 'TARGETING_MATCH'
    // Metadata objects are shared by every result of one flag in a snapshot: derive once per object.
    let withReason = OVERRIDE_METADATA.get(flagMetadata)
    if (withReason === undefined) {
      withReason = Object.freeze({ ...flagMetadata, flagstoneReason: 'OVERRIDE' })
      OVERRIDE_METADATA.set(flagMetadata, withReason)
    }
    flagMetadata = withReason
  }
  return {
    value: details.value as T,
    reason,
    variant: details.variant,
    flagMetadata,
    errorCode: details.errorCode as ErrorCode | undefined,
    errorMessage: details.errorMessage,
  }
}

export class FlagstoneProvider implements Provider {
  readonly metadata = Object.freeze({ name: 'flagstone' })
  readonly runsOn = 'server'
  readonly events = new OpenFeatureEventEmitter()
  readonly hooks = []
  /** The client evaluations use. */
  readonly client: FlagClient
  readonly #owned: boolean
  readonly #onTrack: FlagstoneProviderOptions['onTrack']
  #unsubscribe: (() => void)[] = []
  /** `initialize` has settled: from then on the provider announces READY itself. */
  #initialized = false
  #last: CompiledSnapshot | undefined

  constructor(options: FlagstoneProviderOptions) {
    checkOptions(options, 'FlagstoneProvider')
    if (options === null || typeof options !== 'object') {
      throw new FlagstoneError('INVALID_ARGUMENT', 'FlagstoneProvider needs { client } or { clientOptions }', {
        details: { field: 'options' },
      })
    }
    const { client, clientOptions, onTrack } = options
    if ((client === undefined) === (clientOptions === undefined)) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'FlagstoneProvider: give exactly one of client and clientOptions', {
        details: { field: client === undefined ? 'client' : 'clientOptions' },
      })
    }
    if (client !== undefined && !(client instanceof FlagClient)) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'client: must be a FlagClient', { details: { field: 'client' } })
    }
    if (onTrack !== undefined && typeof onTrack !== 'function') {
      throw new FlagstoneError('INVALID_ARGUMENT', 'onTrack: must be a function', { details: { field: 'onTrack' } })
    }
    this.client = client ?? new FlagClient(clientOptions!)
    this.#owned = client === undefined
    this.#onTrack = onTrack
  }

  /** Waits for the client's first snapshot (its `readyTimeout` bounds the wait; then the SDK reports ERROR). */
  async initialize(): Promise<void> {
    this.#subscribe()
    try {
      await this.client.ready()
    } finally {
      this.#last = this.client.snapshot
      this.#initialized = true
    }
  }

  /** Stops forwarding events; closes the client only if the provider created it. */
  async onClose(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off()
    this.#initialized = false
    if (this.#owned) await this.client.close()
  }

  resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: OpenFeatureContext,
  ): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve(toResolution(this.client.getBooleanDetails(flagKey, defaultValue, fromOpenFeatureContext(context))))
  }

  resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: OpenFeatureContext,
  ): Promise<ResolutionDetails<string>> {
    return Promise.resolve(toResolution(this.client.getStringDetails(flagKey, defaultValue, fromOpenFeatureContext(context))))
  }

  resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: OpenFeatureContext,
  ): Promise<ResolutionDetails<number>> {
    return Promise.resolve(toResolution(this.client.getNumberDetails(flagKey, defaultValue, fromOpenFeatureContext(context))))
  }

  /** `json` flags. OpenFeature's JSON admits `Date`s, flagstone's does not: a default holding one is returned as given. */
  resolveObjectEvaluation<T extends OpenFeatureJson>(
    flagKey: string,
    defaultValue: T,
    context: OpenFeatureContext,
  ): Promise<ResolutionDetails<T>> {
    const details = this.client.getObjectDetails(flagKey, defaultValue as JsonValue, fromOpenFeatureContext(context))
    return Promise.resolve(toResolution<T>(details))
  }

  track(eventName: string, context: OpenFeatureContext, details: TrackingEventDetails): void {
    if (hasListeners('track')) {
      const value = typeof details?.value === 'number' && Number.isFinite(details.value) ? details.value : undefined
      const targetingKey = typeof context?.targetingKey === 'string' ? context.targetingKey : ''
      publish('track', { event: eventName, value, targetingKey })
    }
    this.#onTrack?.(eventName, context, details)
  }

  #subscribe(): void {
    if (this.#unsubscribe.length > 0) return
    const client = this.client
    this.#unsubscribe.push(
      client.on('ready', () => {
        // The first `ready` settles initialize(), and the SDK announces that one.
        if (this.#initialized) this.events.emit(ProviderEvents.Ready, { message: 'flag snapshot is current' })
        this.#last = client.snapshot
      }),
      client.on('stale', () => {
        this.events.emit(ProviderEvents.Stale, { message: 'the flag store has not confirmed the snapshot: serving the last one' })
      }),
      client.on('change', (revision, _previous, flagKeys) => {
        const next = client.snapshot
        if (next === undefined) return
        // A delta names the flags it touched: the cost of a change is then its own, not the flag count's.
        // Only a full reload (which knows nothing of what moved) compares the two snapshots.
        const flagsChanged = flagKeys !== undefined ? [...flagKeys] : changedFlagKeys(this.#last, next)
        this.#last = next
        this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged, metadata: { revision } })
      }),
    )
  }
}
