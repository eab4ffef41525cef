/**
 * Cross-cutting helpers that every layer needs (flags' codec, the admin API's body parser, the
 * session codec): one copy each, so the rules for untrusted JSON and for ordering keys cannot
 * drift apart. Internal: not part of the package's public API.
 */
import { FlagstoneError } from '../errors.js'

/** Keys refused in any untrusted object: assigning them can reach `Object.prototype`. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** An object literal or a null-prototype object (not an array, Date, Map or class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Orders strings by UTF-16 code units, as `Array.prototype.sort()` does, without its coercions. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Throws INVALID_ARGUMENT naming `field` unless `value` is omitted or an object: a default
 * parameter (`options = {}`) lets `null` through, which would otherwise surface as a TypeError
 * from the first property read.
 */
export function checkOptions(value: unknown, who: string, field = 'options'): void {
  if (value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value))) return
  throw new FlagstoneError('INVALID_ARGUMENT', `${who}: ${field} must be an object or omitted, got ${describeArg(value)}`, {
    details: { field },
  })
}

function describeArg(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value
}
