/** The sync loop's errors and how they are reported (split out of sync.ts). */
import { FlagstoneError, type FlagstoneErrorCode } from '../../errors.js'

export interface Waiter {
  resolve: () => void
  reject: (error: Error) => void
  timer?: NodeJS.Timeout
}

export const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)))

/** To `onError`, or by default a warning for the first failure of each outage. */
export function report(onError: ((error: Error) => void) | undefined, error: Error, first: boolean, loaded: boolean): void {
  try {
    if (onError !== undefined) onError(error)
    else if (first) {
      const serving = loaded ? 'serving the last snapshot' : 'no snapshot yet'
      console.warn(`flagstone: flag client: ${error.message} (${serving}; retrying)`)
    }
  } catch {
    // An onError that throws must not break the client nor surface as an unhandled rejection.
  }
}

export function notReadyError(last: Error | undefined, timeout: number): FlagstoneError {
  const code: FlagstoneErrorCode = last instanceof FlagstoneError ? last.code : 'STORE_UNAVAILABLE'
  const why = last === undefined ? 'the store did not answer' : last.message
  return new FlagstoneError(code, `flag client not ready after ${timeout} ms: ${why} (still retrying in the background)`, {
    cause: last,
  })
}

export function closedError(): FlagstoneError {
  return new FlagstoneError('STORE_CLOSED', 'the flag client is closed')
}
