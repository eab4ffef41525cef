/**
 * Exit codes every `flagstone` command uses (documented in docs/cli.md, stable for scripts).
 */
import { isFlagstoneError } from '../errors.js'

export const EXIT = {
  /** Done. */
  OK: 0,
  /** Anything not listed below (a bug, an unexpected answer). */
  FAILURE: 1,
  /** Bad arguments, a bad setting, an invalid file or body (`INVALID_ARGUMENT`): nothing was changed. */
  USAGE: 2,
  /** The flag (or other resource) does not exist (`NOT_FOUND`). */
  NOT_FOUND: 3,
  /** A conflicting write (`CONFLICT`, `PRECONDITION_FAILED`): someone else changed it, or it exists. */
  CONFLICT: 4,
  /** The store or the server could not be reached (`STORE_UNAVAILABLE`). */
  UNAVAILABLE: 5,
  /** The admin token was missing or wrong (HTTP 401 / 403, `FORBIDDEN`). */
  UNAUTHORIZED: 6,
  /** Stopped by Ctrl-C (SIGINT) before it finished, after cleaning up. */
  INTERRUPTED: 130,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** An error a command reports to its user: one line on stderr (or `{ error }` with `--json`) and `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly code: string = 'CLI_ERROR',
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message)
  }
}

const BY_CODE: Readonly<Record<string, ExitCode>> = {
  INVALID_ARGUMENT: EXIT.USAGE,
  VALUE_TOO_LARGE: EXIT.USAGE,
  UNSUPPORTED: EXIT.USAGE,
  NOT_FOUND: EXIT.NOT_FOUND,
  CONFLICT: EXIT.CONFLICT,
  PRECONDITION_FAILED: EXIT.CONFLICT,
  PRECONDITION_REQUIRED: EXIT.CONFLICT,
  STORE_UNAVAILABLE: EXIT.UNAVAILABLE,
  STORE_CLOSED: EXIT.UNAVAILABLE,
  FORBIDDEN: EXIT.UNAUTHORIZED,
  UNAUTHORIZED: EXIT.UNAUTHORIZED,
}

/** The exit code for a FlagstoneError / CliError code. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode
  if (isFlagstoneError(error)) return BY_CODE[error.code] ?? EXIT.FAILURE
  return EXIT.FAILURE
}

/** From an HTTP error answer of the admin API. */
export function exitCodeForStatus(status: number, code: string | undefined): ExitCode {
  if (code !== undefined && BY_CODE[code] !== undefined) return BY_CODE[code]
  if (status === 401 || status === 403) return EXIT.UNAUTHORIZED
  if (status === 404) return EXIT.NOT_FOUND
  if (status === 409 || status === 412 || status === 428) return EXIT.CONFLICT
  if (status === 400 || status === 413 || status === 422) return EXIT.USAGE
  if (status === 503) return EXIT.UNAVAILABLE
  return EXIT.FAILURE
}
