/**
 * The settings of `flagstone serve`: each one a command-line flag, an environment variable and a
 * key of the optional config file (`flagstone.config.json`, `.yaml` or `.yml` in the working
 * directory, or `--config FILE`). Precedence: flag > environment > file > default. Everything is
 * validated before the server starts; a bad value names the setting and where it came from.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { CliError, EXIT } from './exit-codes.js'

export type LogFormat = 'auto' | 'json' | 'pretty'
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface ServeSettings {
  store: string
  port: number
  host: string | undefined
  namespace: string
  adminToken: string | undefined
  metricsToken: string | undefined
  ofrepTokens: string | undefined
  trustProxy: boolean | number
  rateLimit: number
  adminRateLimit: number
  environment: string | undefined
  environmentHeader: string | undefined
  environmentQuery: string | undefined
  environments: string | undefined
  headersTimeout: number
  requestTimeout: number
  keepAliveTimeout: number
  maxConnections: number
  seedDemo: boolean
  logLevel: LogLevel
  logFormat: LogFormat
  shutdownTimeout: number
}

type Kind = 'string' | 'port' | 'boolean' | 'proxies' | 'positive' | 'token' | LogLevel[] | LogFormat[]

interface Setting {
  key: keyof ServeSettings
  flag: string
  env: string
  kind: Kind
  default: ServeSettings[keyof ServeSettings]
  help: string
}

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const FORMATS: LogFormat[] = ['auto', 'json', 'pretty']

/** Every setting (docs/cli.md and `flagstone serve --help` list them from here). */
export const SETTINGS: readonly Setting[] = [
  {
    key: 'store',
    flag: '--store',
    env: 'FLAGSTONE_STORE_URL',
    kind: 'string',
    default: 'sqlite://./data/flagstone.sqlite',
    help: 'store URL',
  },
  { key: 'port', flag: '--port', env: 'PORT', kind: 'port', default: 3000, help: 'port to listen on (0: any free port)' },
  { key: 'host', flag: '--host', env: 'HOST', kind: 'string', default: undefined, help: 'address to listen on (default: all)' },
  {
    key: 'namespace',
    flag: '--namespace',
    env: 'FLAGSTONE_NAMESPACE',
    kind: 'string',
    default: 'flagstone',
    help: 'root namespace',
  },
  {
    key: 'adminToken',
    flag: '--admin-token',
    env: 'FLAGSTONE_ADMIN_TOKEN',
    kind: 'token',
    default: undefined,
    help: 'bearer token of the admin API, 16+ characters (default: generated and logged once)',
  },
  {
    key: 'metricsToken',
    flag: '--metrics-token',
    env: 'FLAGSTONE_METRICS_TOKEN',
    kind: 'token',
    default: undefined,
    help: 'bearer token of GET /metrics, 16+ characters; /metrics is off without one',
  },
  {
    key: 'ofrepTokens',
    flag: '--ofrep-tokens',
    env: 'FLAGSTONE_OFREP_TOKENS',
    kind: 'string',
    default: undefined,
    help: 'environment=token,…: read-only OFREP tokens, each bound to one environment; none: OFREP is off',
  },
  {
    key: 'trustProxy',
    flag: '--trust-proxy',
    env: 'FLAGSTONE_TRUST_PROXY',
    kind: 'proxies',
    default: false,
    help: 'N proxies in front (true = 1): the client is the right-most X-Forwarded-For hop they did not add',
  },
  {
    key: 'rateLimit',
    flag: '--rate-limit',
    env: 'FLAGSTONE_RATE_LIMIT',
    kind: 'positive',
    default: 600,
    help: 'requests per client per minute (public routes)',
  },
  {
    key: 'adminRateLimit',
    flag: '--admin-rate-limit',
    env: 'FLAGSTONE_ADMIN_RATE_LIMIT',
    kind: 'positive',
    default: 120,
    help: 'admin API requests per client per minute (its own limit, counted before authentication)',
  },
  {
    key: 'environment',
    flag: '--environment',
    env: 'FLAGSTONE_ENVIRONMENT',
    kind: 'string',
    default: undefined,
    help: "the environment every request is evaluated in (default: the flags' base settings)",
  },
  {
    key: 'environmentHeader',
    flag: '--environment-header',
    env: 'FLAGSTONE_ENVIRONMENT_HEADER',
    kind: 'string',
    default: undefined,
    help: 'a request may choose its environment by this header, among --environments only',
  },
  {
    key: 'environmentQuery',
    flag: '--environment-query',
    env: 'FLAGSTONE_ENVIRONMENT_QUERY',
    kind: 'string',
    default: undefined,
    help: 'a request may choose its environment by this query parameter, among --environments only',
  },
  {
    key: 'environments',
    flag: '--environments',
    env: 'FLAGSTONE_ENVIRONMENTS',
    kind: 'string',
    default: undefined,
    help: 'comma-separated environments a request may choose (required with --environment-header / -query)',
  },
  {
    key: 'headersTimeout',
    flag: '--headers-timeout',
    env: 'FLAGSTONE_HEADERS_TIMEOUT',
    kind: 'positive',
    default: 10_000,
    help: "ms to receive a request's headers (408 after)",
  },
  {
    key: 'requestTimeout',
    flag: '--request-timeout',
    env: 'FLAGSTONE_REQUEST_TIMEOUT',
    kind: 'positive',
    default: 30_000,
    help: 'ms to receive a whole request (408 after)',
  },
  {
    key: 'keepAliveTimeout',
    flag: '--keep-alive-timeout',
    env: 'FLAGSTONE_KEEP_ALIVE_TIMEOUT',
    kind: 'positive',
    default: 5000,
    help: 'ms an idle keep-alive connection stays open',
  },
  {
    key: 'maxConnections',
    flag: '--max-connections',
    env: 'FLAGSTONE_MAX_CONNECTIONS',
    kind: 'positive',
    default: 1024,
    help: 'open connections at most; more are closed at once',
  },
  {
    key: 'seedDemo',
    flag: '--seed-demo',
    env: 'FLAGSTONE_SEED_DEMO',
    kind: 'boolean',
    default: true,
    help: 'create the demo flag (off) when absent',
  },
  { key: 'logLevel', flag: '--log-level', env: 'FLAGSTONE_LOG_LEVEL', kind: LEVELS, default: 'info', help: LEVELS.join(', ') },
  {
    key: 'logFormat',
    flag: '--log-format',
    env: 'FLAGSTONE_LOG_FORMAT',
    kind: FORMATS,
    default: 'auto',
    help: 'auto (pretty on a terminal), json, pretty',
  },
  {
    key: 'shutdownTimeout',
    flag: '--shutdown-timeout',
    env: 'FLAGSTONE_SHUTDOWN_TIMEOUT',
    kind: 'positive',
    default: 4000,
    help: 'ms that in-flight requests get on SIGTERM / SIGINT before they are cut off',
  },
]

export const CONFIG_FILES = ['flagstone.config.json', 'flagstone.config.yaml', 'flagstone.config.yml'] as const

function bad(setting: Setting, source: string, problem: string, value: unknown): CliError {
  return new CliError(
    `invalid setting ${setting.key} (${source}): ${problem}, got ${JSON.stringify(value)}`,
    EXIT.USAGE,
    'INVALID_ARGUMENT',
    {
      field: setting.key,
      source,
    },
  )
}

function coerce(setting: Setting, raw: unknown, source: string): ServeSettings[keyof ServeSettings] {
  const kind = setting.kind
  const text = typeof raw === 'string' ? raw.trim() : raw
  if (Array.isArray(kind)) {
    if (typeof text !== 'string' || !(kind as string[]).includes(text))
      throw bad(setting, source, `must be one of ${kind.join(', ')}`, raw)
    return text
  }
  switch (kind) {
    case 'string':
      if (typeof text !== 'string' || text === '') throw bad(setting, source, 'must be a non-empty string', raw)
      return text
    case 'token':
      if (typeof text !== 'string' || text.length < 16)
        throw bad(setting, source, 'must be a string of at least 16 characters', raw)
      return text
    case 'boolean':
      if (typeof text === 'boolean') return text
      if (text === 'true' || text === '1' || text === 'yes') return true
      if (text === 'false' || text === '0' || text === 'no') return false
      throw bad(setting, source, 'must be true or false', raw)
    case 'proxies':
      if (typeof text === 'boolean') return text
      if (text === 'true' || text === 'yes') return 1
      if (text === 'false' || text === 'no') return 0
      if (typeof text === 'number' && Number.isInteger(text) && text >= 0 && text <= 32) return text
      if (typeof text === 'string' && /^\d{1,2}$/.test(text) && Number(text) <= 32) return Number(text)
      throw bad(setting, source, 'must be true, false or the number of proxies in front (0..32)', raw)
    case 'port':
    case 'positive': {
      const n = typeof text === 'number' ? text : typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : NaN
      if (kind === 'port' && (!Number.isInteger(n) || n < 0 || n > 65_535))
        throw bad(setting, source, 'must be an integer from 0 to 65535', raw)
      if (kind === 'positive' && (!Number.isSafeInteger(n) || n < 1))
        throw bad(setting, source, 'must be a positive integer', raw)
      return n
    }
  }
}

/** The config file's content: `--config FILE`, else the first of CONFIG_FILES in `cwd`, else nothing. */
export function readConfigFile(
  explicit: string | undefined,
  cwd: string,
): { file: string; values: Record<string, unknown> } | undefined {
  const file =
    explicit === undefined ? CONFIG_FILES.map((name) => resolve(cwd, name)).find((f) => existsSync(f)) : resolve(cwd, explicit)
  if (file === undefined) return undefined
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new CliError(
      `config file ${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      EXIT.USAGE,
      'INVALID_ARGUMENT',
      {
        field: '--config',
      },
    )
  }
  let values: unknown
  try {
    values = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  } catch (error) {
    throw new CliError(
      `config file ${file}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      EXIT.USAGE,
      'INVALID_ARGUMENT',
      {
        field: '--config',
      },
    )
  }
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new CliError(`config file ${file}: must hold an object of settings`, EXIT.USAGE, 'INVALID_ARGUMENT', {
      field: '--config',
    })
  }
  const known = new Set<string>(SETTINGS.map((s) => s.key))
  for (const key of Object.keys(values)) {
    if (!known.has(key)) {
      throw new CliError(
        `config file ${file}: unknown setting ${JSON.stringify(key)} (known: ${[...known].join(', ')})`,
        EXIT.USAGE,
        'INVALID_ARGUMENT',
        {
          field: key,
        },
      )
    }
  }
  return { file, values: values as Record<string, unknown> }
}

/** Resolves every setting from flags (commander's parsed options, by setting key), env and the config file. */
export function resolveSettings(
  flags: Partial<Record<keyof ServeSettings, unknown>> & { config?: string },
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): ServeSettings & { configFile: string | undefined } {
  const config = readConfigFile(flags.config ?? (env.FLAGSTONE_CONFIG || undefined), cwd)
  const out: Record<string, unknown> = { configFile: config?.file }
  for (const setting of SETTINGS) {
    const fromFlag = flags[setting.key]
    const fromEnv = env[setting.env]
    const fromFile = config?.values[setting.key]
    if (fromFlag !== undefined) out[setting.key] = coerce(setting, fromFlag, setting.flag)
    else if (fromEnv !== undefined && fromEnv !== '') out[setting.key] = coerce(setting, fromEnv, setting.env)
    else if (fromFile !== undefined && fromFile !== null)
      out[setting.key] = coerce(setting, fromFile, `${setting.key} in ${config?.file}`)
    else out[setting.key] = setting.default
  }
  return out as unknown as ServeSettings & { configFile: string | undefined }
}
