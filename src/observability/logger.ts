/**
 * The server's logger: pino, one JSON object per line; human-readable (pino-pretty, in-process,
 * synchronous) when the output is a terminal. Field names are part of the public API (README,
 * "Logs"): `msg`, `level`, `time`, and per request `reqId`, `method`, `route`, `url`, `status`,
 * `durationMs`; errors carry `err.code` (the `FlagstoneError` code) and `err.message`.
 */
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino'
import pretty from 'pino-pretty'
import { checkOptions } from '../internal/objects.js'

export type { Logger } from 'pino'

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export interface LoggerOptions {
  /** @default 'info' */
  level?: LevelWithSilent
  /** `auto`: pretty when `destination` is standard output and it is a terminal. @default 'auto' */
  format?: 'auto' | 'json' | 'pretty'
  /** Where lines go. @default standard output */
  destination?: DestinationStream
}

/** Errors as `{ code, message }` (and the stack for non-flagstone errors): never a driver's internals beyond its message. */
function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) }
  const code = (error as { code?: unknown }).code
  const out: Record<string, unknown> = { type: error.name, message: error.message }
  if (typeof code === 'string') out.code = code
  if (error.name !== 'FlagstoneError' && error.stack !== undefined) out.stack = error.stack
  return out
}

export function createLogger(options: LoggerOptions = {}): Logger {
  checkOptions(options, 'createLogger()')
  const format = options.format ?? 'auto'
  const toStdout = options.destination === undefined
  const usePretty = format === 'pretty' || (format === 'auto' && toStdout && process.stdout.isTTY === true)
  const destination =
    usePretty && toStdout
      ? pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
      : (options.destination ?? pino.destination({ dest: 1, sync: true }))
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      serializers: { err: serializeError },
    },
    destination,
  )
}
