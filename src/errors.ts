/** Every failure flagstone reports carries one of these codes. */
export const FLAGSTONE_ERROR_CODES = [
  'INVALID_ARGUMENT',
  'STORE_UNAVAILABLE',
  'STORE_CLOSED',
  'CONFLICT',
  'NOT_FOUND',
  /** A wiring mistake: a middleware that needs another one (`stores()`, `flags()`, `session()`) before it. */
  'NOT_CONFIGURED',
  'VALUE_TOO_LARGE',
  'CORRUPT_VALUE',
  'DUPLICATE_STORE',
  'UNSUPPORTED',
  'PRECONDITION_FAILED',
  'FORBIDDEN',
] as const

export type FlagstoneErrorCode = (typeof FLAGSTONE_ERROR_CODES)[number]

export interface FlagstoneErrorOptions {
  /** The underlying error (driver error, parse error, …). */
  cause?: unknown
  /** Machine-readable detail, e.g. `{ field: 'rules[0].operator' }`. */
  details?: Readonly<Record<string, unknown>>
}

/**
 * The one error class of flagstone. `code` is stable and meant for programs; `message` names
 * the key, store or field involved and is meant for people.
 */
export class FlagstoneError extends Error {
  override readonly name = 'FlagstoneError'
  readonly code: FlagstoneErrorCode
  readonly details: Readonly<Record<string, unknown>> | undefined

  constructor(code: FlagstoneErrorCode, message: string, options: FlagstoneErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details
  }
}

export function isFlagstoneError(error: unknown, code?: FlagstoneErrorCode): error is FlagstoneError {
  return error instanceof FlagstoneError && (code === undefined || error.code === code)
}
