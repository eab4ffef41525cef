/** `FlagClient`'s options, checked once in the constructor, and the events it emits. */
import { FlagstoneError } from '../../errors.js'
import type { FlagRepository } from '../repositories/repository.js'

/** Node's timers treat longer delays as 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647

export interface FlagClientOptions {
  /** Where flags come from. The client never closes it (nor its store): the caller owns them. */
  repository: FlagRepository
  /**
   * How often the client compares `repository.revision()` (one read) with its snapshot's and
   * reloads on a difference, in ms. This bounds how late a change is seen where the backend cannot
   * push (SQLite) or a push was lost. `Infinity` turns polling off.
   * @default 1000
   */
  pollInterval?: number
  /**
   * How long a snapshot stays authoritative without a successful revision check or load, in ms.
   * Older, results are still served from it but carry reason `STALE`. `Infinity`: never stale.
   * @default 30_000
   */
  staleAfter?: number
  /** Reload everything this often even when no change was signalled, in ms. `Infinity`: never. @default 300_000 */
  fullRefreshInterval?: number
  /**
   * How long `ready()` waits for the first snapshot before it rejects, in ms (the client keeps
   * trying in the background either way). `Infinity`: wait for ever.
   * @default 10_000
   */
  readyTimeout?: number
  /**
   * Called with every failure of background work (a failed poll, load or subscription; a throwing
   * event listener). Never called after `close()`. Errors from the store are `FlagstoneError`s.
   * @default a `console.warn` on the first failure of each outage
   */
  onError?: (error: Error) => void
}

export interface FlagClientEvents {
  /** The first snapshot is loaded, and again each time the client leaves `STALE`. */
  ready: () => void
  /**
   * A new snapshot was installed (after the first): at a different revision, or after an outage (a
   * store that lost its data restarts its counter, so `revision` may then equal `previous`).
   *
   * `flagKeys`, when the change was applied as a delta: the keys of the flags it affected, sorted
   * and frozen (created, updated, deleted, with changed overrides or environment settings, or
   * compiled again for a segment or environment they use); empty when it touched none. `undefined`
   * after a full reload, where any flag may have changed (compare `client.snapshot` with the
   * previous one if you need to know which).
   */
  change: (revision: number, previous: number, flagKeys: readonly string[] | undefined) => void
  /** Nothing confirmed the snapshot for `staleAfter` ms. */
  stale: () => void
}

export type ResolvedClientOptions = Readonly<Required<Omit<FlagClientOptions, 'repository' | 'onError'>>> & {
  readonly repository: FlagRepository
  readonly onError: ((error: Error) => void) | undefined
}

function duration(
  options: FlagClientOptions,
  field: 'pollInterval' | 'staleAfter' | 'fullRefreshInterval' | 'readyTimeout',
  fallback: number,
): number {
  const value = options[field] ?? fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (Number.isFinite(value) && value > MAX_TIMER_MS)) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `${field} must be a number of ms in 1..${MAX_TIMER_MS} or Infinity, got ${String(value)}`,
      {
        details: { field },
      },
    )
  }
  return value
}

export function resolveOptions(options: FlagClientOptions): ResolvedClientOptions {
  if (options === null || typeof options !== 'object') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'FlagClient needs an options object with a repository', {
      details: { field: 'options' },
    })
  }
  const repository = options.repository
  if (
    repository === null ||
    typeof repository !== 'object' ||
    typeof repository.loadSnapshot !== 'function' ||
    typeof repository.revision !== 'function' ||
    typeof repository.watch !== 'function'
  ) {
    throw new FlagstoneError('INVALID_ARGUMENT', 'repository: must be a FlagRepository', { details: { field: 'repository' } })
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new FlagstoneError('INVALID_ARGUMENT', 'onError: must be a function', { details: { field: 'onError' } })
  }
  return Object.freeze({
    repository,
    pollInterval: duration(options, 'pollInterval', 1000),
    staleAfter: duration(options, 'staleAfter', 30_000),
    fullRefreshInterval: duration(options, 'fullRefreshInterval', 300_000),
    readyTimeout: duration(options, 'readyTimeout', 10_000),
    onError: options.onError,
  })
}
