/**
 * TTL maths — the only place that turns `expiresIn` / `renewFor` into absolute instants and back.
 * Backends store an absolute `expiresAt` (epoch ms) or `null` for "never"; Redis uses native PX.
 */
import { FlagstoneError } from '../errors.js'

/** 100 years: longer is almost certainly a unit mistake (seconds vs ms), and overflows some drivers. */
export const MAX_TTL_MS = 100 * 365.25 * 24 * 3600 * 1000

/**
 * Validates a duration option and returns it as whole ms (rounded up, so 0.5 ms is 1 ms, never 0).
 * `undefined` stays `undefined` ("never expires" / "no renew").
 */
export function checkTtl(ms: unknown, field: 'expiresIn' | 'renewFor'): number | undefined {
  if (ms === undefined) return undefined
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0 || ms > MAX_TTL_MS) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `${field} must be a finite number of milliseconds > 0 and <= ${MAX_TTL_MS}, got ${String(ms)}`,
      { details: { field } },
    )
  }
  return Math.ceil(ms)
}

/** Absolute expiry instant for a TTL, or `null` for none. */
export function expiresAtFor(ttlMs: number | undefined, now: number): number | null {
  return ttlMs === undefined ? null : now + ttlMs
}

/** Whether an entry with this expiry is dead at `now` (an entry is dead from its expiry instant on). */
export function isExpired(expiresAt: number | null, now: number): boolean {
  return expiresAt !== null && expiresAt <= now
}

/** The `expiresIn()` answer for a live entry: ms left (>= 1), or `Infinity` if it never expires. */
export function remainingMs(expiresAt: number | null, now: number): number | null {
  if (expiresAt === null) return Infinity
  const left = expiresAt - now
  return left >= 1 ? left : null
}
