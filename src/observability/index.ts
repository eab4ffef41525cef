/** Logs, metrics and the HTTP probes of the server; the library-level channels are in `../events.ts`. */
export { createLogger, LOG_LEVELS, type Logger, type LoggerOptions } from './logger.js'
export { createMetrics, type FlagstoneMetrics, type FlagstoneMetricsOptions, type SnapshotSource } from './metrics.js'
export { metricsEndpoint, readinessEndpoint, requestObserver, routeOf, type ReadinessCheck } from './http.js'
