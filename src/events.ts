/**
 * Library-level hooks: flagstone publishes what it does on `node:diagnostics_channel` channels,
 * so an application can feed its own metrics registry (or tracer, or log) without the server.
 * Publishing costs one `hasSubscribers` check when nobody listens, which is why this is a
 * channel and not an EventEmitter handed through every constructor.
 *
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import { CHANNELS, type StoreOperationEvent } from 'flagstone'
 * subscribe(CHANNELS.storeOperation, (message) => myHistogram.observe((message as StoreOperationEvent).durationMs))
 * ```
 *
 * `observe(handlers)` does the same with types and returns one unsubscribe function.
 */
import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel'

/** The channel names (stable: part of the public API). */
export const CHANNELS = {
  /** Every store operation: {@link StoreOperationEvent}. */
  storeOperation: 'flagstone:store:operation',
  /** Every flag evaluation of a `FlagClient`: {@link FlagEvaluationEvent}. */
  flagEvaluation: 'flagstone:flags:evaluation',
  /** Every decision of `rateLimit()`: {@link RateLimitEvent}. */
  rateLimit: 'flagstone:koa:rate-limit',
  /** Sessions created and destroyed by `session()`: {@link SessionEvent}. */
  session: 'flagstone:koa:session',
  /** Every request the server answered: {@link HttpRequestEvent}. */
  httpRequest: 'flagstone:server:request',
  /** Every OpenFeature `client.track(...)` through `FlagstoneProvider`: {@link TrackEvent}. */
  track: 'flagstone:openfeature:track',
} as const

export type StoreOperation =
  | 'get'
  | 'set'
  | 'delete'
  | 'exists'
  | 'expiresIn'
  | 'increment'
  | 'compareAndSet'
  | 'keys'
  | 'deleteAll'
  | 'deleteExpired'
  | 'atomic'
  | 'getMany'
  | 'entries'

export interface StoreOperationEvent {
  /** `memory`, `sqlite`, `redis`, `postgres`, … */
  backend: string
  operation: StoreOperation
  /** `ok`, or the `FlagstoneError` code it failed with (`STORE_UNAVAILABLE`, …; `ERROR` for anything else). */
  outcome: string
  durationMs: number
}

export interface FlagEvaluationEvent {
  flag: string
  /** `STATIC`, `DEFAULT`, `TARGETING_MATCH`, `SPLIT`, `OVERRIDE`, `DISABLED`, `STALE`, `ERROR`. */
  reason: string
  /** The rule id or variant key, or `''`. */
  variant: string
}

export interface RateLimitEvent {
  /** `allowed` or `limited`. */
  decision: 'allowed' | 'limited'
}

export interface SessionEvent {
  action: 'created' | 'destroyed'
}

export interface HttpRequestEvent {
  method: string
  /** The matched route pattern (`/admin/api/flags/:key`), or `(unmatched)`: bounded, unlike the path. */
  route: string
  status: number
  durationMs: number
  requestId: string
}

export interface TrackEvent {
  /** The tracking event's name, as the application gave it. */
  event: string
  /** `details.value` when it is a finite number. */
  value: number | undefined
  /** The evaluation context's `targetingKey`, or `''`. */
  targetingKey: string
}

interface Events {
  storeOperation: StoreOperationEvent
  flagEvaluation: FlagEvaluationEvent
  rateLimit: RateLimitEvent
  session: SessionEvent
  httpRequest: HttpRequestEvent
  track: TrackEvent
}

const channels = {
  storeOperation: channel(CHANNELS.storeOperation),
  flagEvaluation: channel(CHANNELS.flagEvaluation),
  rateLimit: channel(CHANNELS.rateLimit),
  session: channel(CHANNELS.session),
  httpRequest: channel(CHANNELS.httpRequest),
  track: channel(CHANNELS.track),
}

/** Whether anyone listens on `name`: callers skip building the message (and timing) when not. */
export function hasListeners(name: keyof Events): boolean {
  return channels[name].hasSubscribers
}

/** Publishes `message` on the channel `name` (no-op without subscribers). */
export function publish<K extends keyof Events>(name: K, message: Events[K]): void {
  const target = channels[name]
  if (target.hasSubscribers) target.publish(message)
}

export type ObserveHandlers = { [K in keyof Events]?: (event: Events[K]) => void }

/** Subscribes typed handlers to flagstone's channels; returns the function that unsubscribes them all. */
export function observe(handlers: ObserveHandlers): () => void {
  const undo: Array<() => void> = []
  for (const name of Object.keys(handlers) as Array<keyof Events>) {
    const handler = handlers[name] as ((event: unknown) => void) | undefined
    if (handler === undefined) continue
    const listener = (message: unknown) => handler(message)
    subscribe(CHANNELS[name], listener)
    undo.push(() => unsubscribe(CHANNELS[name], listener))
  }
  return () => {
    for (const fn of undo.splice(0)) fn()
  }
}
