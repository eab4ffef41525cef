/** `flagstone serve`: the server, configured from flags, environment and config file (serve-config.ts). */
import { Command, Option } from 'commander'
import type { FlagstoneMetrics } from '../observability/index.js'
import type { RunningServer } from '../server.js'
import { CliError, EXIT } from './exit-codes.js'
import { report } from './output.js'
import { resolveSettings, SETTINGS, type ServeSettings } from './serve-config.js'
import { VERSION } from './version.js'

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('run the server: admin API, /healthz, /readyz, /metrics (with a metrics token), a flag-gated /demo')
    .option(
      '-c, --config <file>',
      'config file (default: flagstone.config.json, .yaml or .yml in the working directory; or FLAGSTONE_CONFIG)',
    )
  for (const setting of SETTINGS) {
    const placeholder = setting.kind === 'boolean' ? '[bool]' : '<value>'
    const fallback = setting.default === undefined ? '' : ` (default: ${String(setting.default)})`
    // No commander default: an absent flag must fall through to the environment and the config file.
    command.addOption(new Option(`${setting.flag} ${placeholder}`, `${setting.help}${fallback} [env ${setting.env}]`))
  }
  return command.action(async (flags: Partial<Record<keyof ServeSettings, unknown>> & { config?: string }) => {
    // A boolean flag given without a value (`--trust-proxy`) arrives as `true`.
    let settings: ReturnType<typeof resolveSettings>
    try {
      settings = resolveSettings(flags)
      environmentSettings(settings) // checked before anything starts
    } catch (error) {
      report(error, {})
      return
    }
    await serve(settings)
  })
}

/** `environment` and `environmentSelection` of the server: selection only with an allow-list. */
export function environmentSettings(settings: ServeSettings): {
  environment?: string
  environmentSelection?: { header?: string; query?: string; allowed: string[] }
} {
  const allowed = (settings.environments ?? '')
    .split(',')
    .map((slug) => slug.trim())
    .filter((slug) => slug !== '')
  const { environmentHeader: header, environmentQuery: query } = settings
  if ((header !== undefined || query !== undefined) && allowed.length === 0) {
    throw new CliError(
      'invalid setting environments: must list the environments a request may choose when environmentHeader or environmentQuery is set',
      EXIT.USAGE,
      'INVALID_ARGUMENT',
      { field: 'environments' },
    )
  }
  return {
    ...(settings.environment === undefined ? {} : { environment: settings.environment }),
    ...(header === undefined && query === undefined
      ? {}
      : {
          environmentSelection: {
            ...(header === undefined ? {} : { header }),
            ...(query === undefined ? {} : { query }),
            allowed,
          },
        }),
  }
}

async function serve(settings: ReturnType<typeof resolveSettings>): Promise<void> {
  // Loaded on use: the server brings Koa, pino and prom-client, which `--help` does not need.
  const { createLogger, createMetrics } = await import('../observability/index.js')
  const { startServer } = await import('../server.js')
  const { parseOfrepTokens } = await import('../koa/index.js')
  const logger = createLogger({ level: settings.logLevel, format: settings.logFormat })
  let metrics: FlagstoneMetrics | undefined
  let running: RunningServer | undefined
  if (settings.metricsToken !== undefined) metrics = createMetrics({ snapshot: () => running?.flagClient })
  try {
    running = await startServer({
      storeUrl: settings.store,
      namespace: settings.namespace,
      port: settings.port,
      ...(settings.host === undefined ? {} : { host: settings.host }),
      ...(settings.adminToken === undefined ? {} : { adminToken: settings.adminToken }),
      proxy: settings.trustProxy,
      ...environmentSettings(settings),
      adminRateLimit: { limit: settings.adminRateLimit, window: 60_000 },
      headersTimeout: settings.headersTimeout,
      requestTimeout: settings.requestTimeout,
      keepAliveTimeout: settings.keepAliveTimeout,
      maxConnections: settings.maxConnections,
      ofrepTokens: parseOfrepTokens(settings.ofrepTokens),
      rateLimit: { limit: settings.rateLimit, window: 60_000 },
      seedDemo: settings.seedDemo,
      shutdownTimeout: settings.shutdownTimeout,
      logger,
      version: VERSION,
      ...(metrics === undefined || settings.metricsToken === undefined
        ? {}
        : { metrics: { metrics, token: settings.metricsToken } }),
      ...(settings.configFile === undefined ? {} : { configFile: settings.configFile }),
    })
  } catch (error) {
    if (error instanceof Error) error.message = `could not start: ${error.message}`
    report(error, {})
    metrics?.close()
    return
  }
  const server = running
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(EXIT.FAILURE)
    }
    stopping = true
    logger.info({ signal }, 'stopping: finishing in-flight requests')
    server.close().then(
      () => {
        logger.info({ signal, version: VERSION, backend: server.backend }, `stopped (${signal})`)
        metrics?.close()
        process.exit(EXIT.OK)
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping')
        process.exit(EXIT.FAILURE)
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
