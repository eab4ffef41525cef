/**
 * Prometheus metrics on prom-client, fed by flagstone's diagnostics channels (`../events.ts`).
 * Names and labels are part of the public API (README, "Metrics"); every label is bounded: HTTP
 * routes are route patterns, flags are the flags the snapshot knows (others count as `(unknown)`),
 * outcomes are error codes.
 */
import client from 'prom-client'
import { observe } from '../events.js'
import { checkOptions } from '../internal/objects.js'

/** What the snapshot gauges read: a `FlagClient` fits. */
export interface SnapshotSource {
  readonly status: string
  readonly revision: number | undefined
  /** Epoch ms when the snapshot was last confirmed current (loaded or checked). */
  readonly confirmedAt?: number | undefined
  readonly snapshot?: { readonly flags: { has(key: string): boolean } } | undefined
}

export interface FlagstoneMetricsOptions {
  /** Register into this registry instead of a new one. */
  registry?: client.Registry
  /** Also collect prom-client's process metrics (`process_*`, `nodejs_*`). @default true */
  defaultMetrics?: boolean
  /** The flag client whose snapshot revision, age and state are reported. */
  snapshot?: () => SnapshotSource | undefined
}

export interface FlagstoneMetrics {
  readonly registry: client.Registry
  /** The text exposition (`text/plain; version=0.0.4`). */
  render(): Promise<string>
  readonly contentType: string
  /** Unsubscribes from the channels (the registry keeps its values). */
  close(): void
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** Distinct tracking event names counted by name; beyond, `(other)`. */
export const MAX_TRACKED_EVENTS = 100
const STATES = ['NOT_READY', 'READY', 'STALE', 'CLOSED'] as const

/** Creates the metrics and starts counting what the library publishes. */
export function createMetrics(options: FlagstoneMetricsOptions = {}): FlagstoneMetrics {
  checkOptions(options, 'createMetrics()')
  const registry = options.registry ?? new client.Registry()
  const registers = [registry]
  if (options.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry })

  const httpRequests = new client.Counter({
    name: 'flagstone_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    registers,
  })
  const httpDuration = new client.Histogram({
    name: 'flagstone_http_request_duration_seconds',
    help: 'HTTP request duration, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    buckets: SECONDS,
    registers,
  })
  const storeOperations = new client.Counter({
    name: 'flagstone_store_operations_total',
    help: 'Store operations, by backend, operation and outcome (ok or an error code)',
    labelNames: ['backend', 'operation', 'outcome'],
    registers,
  })
  const storeDuration = new client.Histogram({
    name: 'flagstone_store_operation_duration_seconds',
    help: 'Store operation latency, by backend and operation',
    labelNames: ['backend', 'operation'],
    buckets: SECONDS,
    registers,
  })
  const evaluations = new client.Counter({
    name: 'flagstone_flag_evaluations_total',
    help: 'Flag evaluations, by flag, reason and variant (rule id or variant key)',
    labelNames: ['flag', 'reason', 'variant'],
    registers,
  })
  const rateLimits = new client.Counter({
    name: 'flagstone_rate_limit_decisions_total',
    help: 'Rate-limit decisions (allowed or limited)',
    labelNames: ['decision'],
    registers,
  })
  const sessions = new client.Counter({
    name: 'flagstone_sessions_total',
    help: 'Sessions created and destroyed',
    labelNames: ['action'],
    registers,
  })
  const tracked = new client.Counter({
    name: 'flagstone_tracked_events_total',
    help: 'OpenFeature tracking events (client.track), by event name',
    labelNames: ['event'],
    registers,
  })
  const trackedValue = new client.Counter({
    name: 'flagstone_tracked_event_value_total',
    help: 'Sum of the non-negative numeric values (details.value) of OpenFeature tracking events, by event name',
    labelNames: ['event'],
    registers,
  })
  // Event names come from application code, not from requests; still, past MAX_TRACKED_EVENTS
  // distinct names the rest count as `(other)` so a bug cannot grow the registry without bound.
  const trackedNames = new Set<string>()
  const trackedName = (event: string) => {
    if (trackedNames.has(event)) return event
    if (trackedNames.size >= MAX_TRACKED_EVENTS) return '(other)'
    trackedNames.add(event)
    return event
  }
  const source = options.snapshot
  new client.Gauge({
    name: 'flagstone_flag_snapshot_revision',
    help: 'Repository revision of the flag snapshot the server evaluates from (-1 before the first load)',
    registers,
    collect() {
      this.set(source?.()?.revision ?? -1)
    },
  })
  new client.Gauge({
    name: 'flagstone_flag_snapshot_age_seconds',
    help: 'Seconds since the flag snapshot was last confirmed current (-1 before the first load)',
    registers,
    collect() {
      const at = source?.()?.confirmedAt
      this.set(at === undefined ? -1 : Math.max(0, (Date.now() - at) / 1000))
    },
  })
  new client.Gauge({
    name: 'flagstone_flag_snapshot_state',
    help: 'State of the flag client: 1 for the current state (NOT_READY, READY, STALE or CLOSED), 0 for the others',
    labelNames: ['state'],
    registers,
    collect() {
      const status = source?.()?.status ?? 'NOT_READY'
      for (const state of STATES) this.set({ state }, state === status ? 1 : 0)
    },
  })

  const known = (flag: string) => {
    const snapshot = source?.()?.snapshot
    return snapshot !== undefined && snapshot.flags.has(flag) ? flag : '(unknown)'
  }
  const unsubscribe = observe({
    httpRequest(event) {
      const labels = { method: event.method, route: event.route, status: String(event.status) }
      httpRequests.inc(labels)
      httpDuration.observe(labels, event.durationMs / 1000)
    },
    storeOperation(event) {
      storeOperations.inc({ backend: event.backend, operation: event.operation, outcome: event.outcome })
      storeDuration.observe({ backend: event.backend, operation: event.operation }, event.durationMs / 1000)
    },
    flagEvaluation(event) {
      const flag = known(event.flag)
      evaluations.inc({ flag, reason: event.reason, variant: flag === '(unknown)' ? '' : event.variant })
    },
    rateLimit(event) {
      rateLimits.inc({ decision: event.decision })
    },
    session(event) {
      sessions.inc({ action: event.action })
    },
    track(event) {
      const name = trackedName(event.event)
      tracked.inc({ event: name })
      if (event.value !== undefined && event.value >= 0) trackedValue.inc({ event: name }, event.value)
    },
  })
  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close: unsubscribe,
  }
}
