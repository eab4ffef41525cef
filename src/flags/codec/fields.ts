/**
 * Field primitives every codec file builds on: the limits, the path-naming `fail`, bounded strings,
 * numbers, dates, lists, JSON values and flag values. Rejections are `FlagstoneError('INVALID_ARGUMENT')`
 * whose message starts with the field path (`rules[0].conditions[1].operator: …`) and whose
 * `details.field` holds it.
 */
import { FlagstoneError } from '../../errors.js'
import { FORBIDDEN_KEYS, isPlainObject } from '../../internal/objects.js'
import { parseIsoDate } from '../matchers/index.js'
import type { FlagType, FlagValue, JsonObject, JsonValue } from '../model.js'

/** Limits that keep one document from making evaluation or storage slow. */
export const LIMITS = Object.freeze({
  nameLength: 256,
  descriptionLength: 4096,
  stringValueLength: 65_536,
  tags: 100,
  tagLength: 128,
  rules: 1000,
  conditions: 100,
  variants: 1000,
  scheduledChanges: 1000,
  rolloutPhases: 1000,
  timeSchedules: 100,
  jsonDepth: 32,
  jsonNodes: 100_000,
  jsonArrayLength: 10_000,
  jsonKeyLength: 256,
})

/** Rule, variant, schedule and change ids: ASCII, so sorting by key is the same in every language. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/
export const ENTITY_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/
export const TIME_PATTERN = /^([01]\d|2[0-3]):[0-5]\d$/

export interface ValidateOptions {
  /**
   * `reject` (default) fails on fields the model does not have; `strip` drops them (what decoding
   * uses, so documents written by a newer version still load).
   */
  unknownFields?: 'reject' | 'strip'
}

export type Mode = 'reject' | 'strip'

export function fail(path: string, problem: string): never {
  const field = path === '' ? '(document)' : path
  throw new FlagstoneError('INVALID_ARGUMENT', `${field}: ${problem}`, { details: { field } })
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  return path === '' ? key : `${path}.${key}`
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Date) return 'a Date'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return `"${value.length > 64 ? `${value.slice(0, 64)}…` : value}"`
  return `${typeof value} ${String(value)}`
}

export function checkKeys(value: object, path: string): void {
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) fail(join(path, key), 'this key is not allowed (prototype pollution)')
  }
}

/** A plain object with no forbidden keys and, in reject mode, no fields outside `allowed`. */
export function record(
  value: unknown,
  path: string,
  allowed: ReadonlySet<string>,
  mode: Mode,
  what: string,
): Record<string, unknown> {
  if (!isPlainObject(value)) fail(path, `must be ${what} object, got ${describe(value)}`)
  checkKeys(value, path)
  if (mode === 'reject') {
    for (const key of Object.keys(value)) {
      if (!allowed.has(key)) fail(join(path, key), `unknown field (expected one of ${[...allowed].join(', ')})`)
    }
  }
  return value
}

const LONE_SURROGATE = /\p{Cs}/u

export function str(value: unknown, path: string, options: { max: number; min?: number; pattern?: RegExp }): string {
  if (typeof value !== 'string') fail(path, value === undefined ? 'is required' : `must be a string, got ${describe(value)}`)
  const min = options.min ?? 0
  if (value.length < min) fail(path, min === 1 ? 'must not be empty' : `must be at least ${min} characters`)
  if (value.length > options.max) fail(path, `must be at most ${options.max} characters, got ${value.length}`)
  // A lone surrogate has no UTF-8 form: stores would replace it (two ids become one) and
  // encodeURIComponent throws URIError on it.
  if (LONE_SURROGATE.test(value)) fail(path, 'must be well-formed Unicode (it contains a lone surrogate)')
  if (options.pattern !== undefined && !options.pattern.test(value)) {
    fail(path, `must match ${options.pattern.source}, got ${describe(value)}`)
  }
  return value
}

export function optStr(
  value: unknown,
  path: string,
  options: { max: number; min?: number; pattern?: RegExp },
): string | undefined {
  return value === undefined ? undefined : str(value, path, options)
}

export function bool(value: unknown, path: string, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'boolean') fail(path, value === undefined ? 'is required' : `must be a boolean, got ${describe(value)}`)
  return value
}

export function num(value: unknown, path: string, options: { min?: number; max?: number; integer?: boolean } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(path, value === undefined ? 'is required' : `must be a finite number, got ${describe(value)}`)
  }
  if (options.integer === true && !Number.isSafeInteger(value)) fail(path, `must be an integer, got ${value}`)
  if (options.min !== undefined && value < options.min) fail(path, `must be >= ${options.min}, got ${value}`)
  if (options.max !== undefined && value > options.max) fail(path, `must be <= ${options.max}, got ${value}`)
  return value
}

export function percentage(value: unknown, path: string): number {
  return num(value, path, { min: 0, max: 100 })
}

const MIN_TIME = Date.parse('0000-01-01T00:00:00.000Z')
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z')

/** A Date; ISO-8601 strings and epoch milliseconds are accepted on input and become Dates. */
export function date(value: unknown, path: string): Date {
  let t: number | undefined
  if (value instanceof Date) t = value.getTime()
  else if (typeof value === 'string') t = parseIsoDate(value)
  else if (typeof value === 'number' && Number.isFinite(value)) t = value
  if (t === undefined || Number.isNaN(t)) {
    fail(
      path,
      value === undefined ? 'is required' : `must be a Date, an ISO-8601 string or epoch milliseconds, got ${describe(value)}`,
    )
  }
  // Beyond four-digit years a Date is invalid (1e16: RangeError from toISOString) or has no
  // ISO-8601 form that reads back.
  if (t < MIN_TIME || t > MAX_TIME) {
    fail(
      path,
      `must be between 0000-01-01 and 9999-12-31T23:59:59.999Z (epoch ms ${MIN_TIME}..${MAX_TIME}), got ${describe(value)}`,
    )
  }
  return new Date(t)
}

export function optDate(value: unknown, path: string): Date | undefined {
  return value === undefined ? undefined : date(value, path)
}

export function list(value: unknown, path: string, max: number, fallback?: unknown[]): unknown[] {
  if (value === undefined && fallback !== undefined) return fallback
  if (!Array.isArray(value)) fail(path, value === undefined ? 'is required' : `must be an array, got ${describe(value)}`)
  if (value.length > max) fail(path, `must have at most ${max} items, got ${value.length}`)
  return value
}

export function oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    fail(path, `${value === undefined ? 'is required' : `must be one of ${options.join(', ')}, got ${describe(value)}`}`)
  }
  return value as T
}

export function noDuplicates(values: readonly (string | number)[], path: string, field: string): void {
  const seen = new Set<string | number>()
  values.forEach((v, i) => {
    if (seen.has(v)) fail(field === '' ? join(path, i) : join(join(path, i), field), `duplicate ${JSON.stringify(v)}`)
    seen.add(v)
  })
}

/** A JSON value, deep-copied; bounded in depth and size; no forbidden keys, no non-plain objects. */
export function validateJson(value: unknown, path = 'value'): JsonValue {
  const budget = { nodes: 0 }
  return json(value, path, 0, budget)
}

function json(value: unknown, path: string, depth: number, budget: { nodes: number }): JsonValue {
  if (++budget.nodes > LIMITS.jsonNodes) fail(path, `JSON value has more than ${LIMITS.jsonNodes} nodes`)
  if (value === null || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(path, `must be a finite number, got ${value}`)
    return value
  }
  if (typeof value === 'string') {
    if (value.length > LIMITS.stringValueLength) fail(path, `must be at most ${LIMITS.stringValueLength} characters`)
    return value
  }
  if (depth >= LIMITS.jsonDepth) fail(path, `JSON value nested deeper than ${LIMITS.jsonDepth} levels`)
  if (Array.isArray(value)) {
    if (value.length > LIMITS.jsonArrayLength) fail(path, `must have at most ${LIMITS.jsonArrayLength} items`)
    return value.map((item, i) => json(item, join(path, i), depth + 1, budget))
  }
  if (isPlainObject(value)) {
    const out: JsonObject = {}
    for (const key of Object.keys(value)) {
      const at = join(path, key)
      if (FORBIDDEN_KEYS.has(key)) fail(at, 'this key is not allowed (prototype pollution)')
      if (key.length > LIMITS.jsonKeyLength) fail(at, `key longer than ${LIMITS.jsonKeyLength} characters`)
      out[key] = json(value[key], at, depth + 1, budget)
    }
    return out
  }
  return fail(path, `must be a JSON value, got ${value === undefined ? 'undefined' : describe(value)}`)
}

export function jsonObject(value: unknown, path: string, fallback: JsonObject): JsonObject {
  if (value === undefined) return fallback
  if (!isPlainObject(value)) fail(path, `must be an object, got ${describe(value)}`)
  return validateJson(value, path) as JsonObject
}

/** A flag value of `type` (any JSON value when the type is unknown). */
export function validateFlagValue(value: unknown, type: FlagType | undefined, path = 'value'): FlagValue {
  switch (type) {
    case 'boolean':
      if (typeof value !== 'boolean') fail(path, `must be a boolean for a boolean flag, got ${describe(value)}`)
      return value
    case 'string':
      if (typeof value !== 'string') fail(path, `must be a string for a string flag, got ${describe(value)}`)
      if (value.length > LIMITS.stringValueLength) fail(path, `must be at most ${LIMITS.stringValueLength} characters`)
      return value
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        fail(path, `must be a finite number for a number flag, got ${describe(value)}`)
      }
      return value
    default:
      return validateJson(value, path)
  }
}

/**
 * Boolean flags serve their `enabled` fields; a value field next to one is accepted only when it
 * says the same thing, so a document can never be read two ways.
 */
export function booleanAgrees(value: FlagValue | undefined, enabled: boolean, path: string, enabledField: string): void {
  if (value !== undefined && value !== enabled) {
    fail(path, `contradicts ${enabledField} (${enabled}); boolean flags serve ${enabledField}`)
  }
}

const timeZoneCache = new Map<string, boolean>()

/** Whether the runtime knows this IANA time zone. */
export function isValidTimeZone(zone: string): boolean {
  let known = timeZoneCache.get(zone)
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: zone })
      known = true
    } catch {
      known = false
    }
    if (timeZoneCache.size < 1000) timeZoneCache.set(zone, known)
  }
  return known
}
