/**
 * The one codec for every stored flag document: flags, overrides, segments, environments and
 * environment flags. Each kind has `validateX` (input checking, for the admin API and the
 * repositories), `encodeX` (validate, then bytes) and `decodeX` (bytes, then validate).
 *
 * - Validation returns a fresh, normalised copy (defaults filled in), so a caller mutating its
 *   object afterwards cannot change what was checked.
 * - Rejections are `FlagstoneError('INVALID_ARGUMENT')` whose message starts with the field path
 *   (`rules[0].conditions[1].operator: …`) and whose `details.field` holds it.
 * - Bytes are UTF-8 superjson, so `Date`s survive every backend. Decoding never crashes and never
 *   throws a non-Error: garbage, a wrong shape or a document that fails validation is
 *   `CORRUPT_VALUE` naming the store key.
 * - Unknown fields are rejected on input (typos such as `rolloutPercentag` must not pass silently)
 *   and dropped on decode (a newer process may have written a field this one does not know).
 */
import superjson from 'superjson'
import { FlagstoneError } from '../../errors.js'
import { FORBIDDEN_KEYS, isPlainObject } from '../../internal/objects.js'
import { checkConditionValue, isOperator, OPERATORS, parseIsoDate, segmentDependencies } from '../matchers/operators.js'
import { cronProblem } from '../matchers/time-windows.js'
import {
  ENVIRONMENT_SLUG_PATTERN,
  FLAG_KEY_PATTERN,
  type Condition,
  type ConditionValue,
  type Environment,
  type EnvironmentFlag,
  type EnvironmentSettings,
  type FeatureFlag,
  type FlagInput,
  type FlagOverride,
  type FlagRule,
  type FlagStatus,
  type FlagType,
  type FlagValue,
  type FlagVariant,
  type JsonObject,
  type JsonValue,
  type Recurrence,
  type RolloutPhase,
  type ScheduledChange,
  type ScheduledChangeKind,
  type Segment,
  type TimeSchedule,
} from '../model.js'

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
const ENTITY_TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/
const TIME_PATTERN = /^([01]\d|2[0-3]):[0-5]\d$/

const FLAG_TYPES: readonly FlagType[] = ['boolean', 'string', 'number', 'json']
const FLAG_STATUSES: readonly FlagStatus[] = ['active', 'inactive', 'archived']
const CHANGE_KINDS: readonly ScheduledChangeKind[] = ['enable', 'disable', 'setValue', 'setRollout']
const RECURRENCES: readonly Recurrence[] = ['daily', 'weekly', 'monthly', 'cron']

export interface ValidateOptions {
  /**
   * `reject` (default) fails on fields the model does not have; `strip` drops them (what decoding
   * uses, so documents written by a newer version still load).
   */
  unknownFields?: 'reject' | 'strip'
}

type Mode = 'reject' | 'strip'

function fail(path: string, problem: string): never {
  const field = path === '' ? '(document)' : path
  throw new FlagstoneError('INVALID_ARGUMENT', `${field}: ${problem}`, { details: { field } })
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  return path === '' ? key : `${path}.${key}`
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Date) return 'a Date'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return `"${value.length > 64 ? `${value.slice(0, 64)}…` : value}"`
  return `${typeof value} ${String(value)}`
}

function checkKeys(value: object, path: string): void {
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) fail(join(path, key), 'this key is not allowed (prototype pollution)')
  }
}

/** A plain object with no forbidden keys and, in reject mode, no fields outside `allowed`. */
function record(value: unknown, path: string, allowed: ReadonlySet<string>, mode: Mode, what: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(path, `must be ${what} object, got ${describe(value)}`)
  checkKeys(value, path)
  if (mode === 'reject') {
    for (const key of Object.keys(value)) {
      if (!allowed.has(key)) fail(join(path, key), `unknown field (expected one of ${[...allowed].join(', ')})`)
    }
  }
  return value
}

function str(value: unknown, path: string, options: { max: number; min?: number; pattern?: RegExp }): string {
  if (typeof value !== 'string') fail(path, value === undefined ? 'is required' : `must be a string, got ${describe(value)}`)
  const min = options.min ?? 0
  if (value.length < min) fail(path, min === 1 ? 'must not be empty' : `must be at least ${min} characters`)
  if (value.length > options.max) fail(path, `must be at most ${options.max} characters, got ${value.length}`)
  if (options.pattern !== undefined && !options.pattern.test(value)) {
    fail(path, `must match ${options.pattern.source}, got ${describe(value)}`)
  }
  return value
}

function optStr(value: unknown, path: string, options: { max: number; min?: number; pattern?: RegExp }): string | undefined {
  return value === undefined ? undefined : str(value, path, options)
}

function bool(value: unknown, path: string, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'boolean') fail(path, value === undefined ? 'is required' : `must be a boolean, got ${describe(value)}`)
  return value
}

function num(value: unknown, path: string, options: { min?: number; max?: number; integer?: boolean } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(path, value === undefined ? 'is required' : `must be a finite number, got ${describe(value)}`)
  }
  if (options.integer === true && !Number.isSafeInteger(value)) fail(path, `must be an integer, got ${value}`)
  if (options.min !== undefined && value < options.min) fail(path, `must be >= ${options.min}, got ${value}`)
  if (options.max !== undefined && value > options.max) fail(path, `must be <= ${options.max}, got ${value}`)
  return value
}

function percentage(value: unknown, path: string): number {
  return num(value, path, { min: 0, max: 100 })
}

/** A Date; ISO-8601 strings and epoch milliseconds are accepted on input and become Dates. */
function date(value: unknown, path: string): Date {
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
  return new Date(t)
}

function optDate(value: unknown, path: string): Date | undefined {
  return value === undefined ? undefined : date(value, path)
}

function list(value: unknown, path: string, max: number, fallback?: unknown[]): unknown[] {
  if (value === undefined && fallback !== undefined) return fallback
  if (!Array.isArray(value)) fail(path, value === undefined ? 'is required' : `must be an array, got ${describe(value)}`)
  if (value.length > max) fail(path, `must have at most ${max} items, got ${value.length}`)
  return value
}

function oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    fail(path, `${value === undefined ? 'is required' : `must be one of ${options.join(', ')}, got ${describe(value)}`}`)
  }
  return value as T
}

function noDuplicates(values: readonly (string | number)[], path: string, field: string): void {
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

function jsonObject(value: unknown, path: string, fallback: JsonObject): JsonObject {
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
function booleanAgrees(value: FlagValue | undefined, enabled: boolean, path: string, enabledField: string): void {
  if (value !== undefined && value !== enabled) {
    fail(path, `contradicts ${enabledField} (${enabled}); boolean flags serve ${enabledField}`)
  }
}

// ---- conditions, rules, variants ----

const CONDITION_FIELDS = new Set(['attribute', 'operator', 'value'])

/**
 * A condition. On input (`reject` mode) an unknown operator or a value that does not fit the
 * operator is INVALID_ARGUMENT. On read (`strip` mode) such a condition is kept as it is (its value
 * still checked as bounded JSON) and never matches: a newer writer may know an operator this
 * process does not, and one such condition must not make the whole flag unreadable.
 */
export function validateCondition(input: unknown, path = 'condition', options: ValidateOptions = {}): Condition {
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, path, CONDITION_FIELDS, mode, 'a condition')
  const operator = o.operator
  const known = isOperator(operator)
  if (!known && (mode === 'reject' || typeof operator !== 'string' || operator.length > 64)) {
    fail(
      join(path, 'operator'),
      operator === undefined ? 'is required' : `unknown operator ${describe(operator)} (expected one of ${OPERATORS.join(', ')})`,
    )
  }
  const segmentOperator = operator === 'in_segment' || operator === 'not_in_segment'
  const attribute =
    segmentOperator && o.attribute === undefined
      ? ''
      : str(o.attribute, join(path, 'attribute'), { min: segmentOperator ? 0 : 1, max: LIMITS.nameLength })
  if (FORBIDDEN_KEYS.has(attribute)) fail(join(path, 'attribute'), 'this name is not allowed (prototype pollution)')
  const problem = known ? checkConditionValue(operator, o.value) : undefined
  if (problem !== undefined && mode === 'reject') fail(join(path, 'value'), problem)
  const condition: Condition = { attribute, operator: operator as string }
  if (o.value !== undefined && o.value !== null) {
    const v = o.value
    condition.value = (
      problem === undefined && known
        ? Array.isArray(v)
          ? [...(v as (string | number | boolean)[])]
          : v instanceof Date
            ? new Date(v.getTime())
            : v
        : v instanceof Date
          ? new Date(v.getTime())
          : validateJson(v, join(path, 'value'))
    ) as ConditionValue
  }
  return condition
}

function conditions(value: unknown, path: string, mode: Mode): Condition[] {
  return list(value, path, LIMITS.conditions, []).map((c, i) => validateCondition(c, join(path, i), { unknownFields: mode }))
}

const RULE_FIELDS = new Set([
  'id',
  'name',
  'priority',
  'enabled',
  'conditions',
  'serveEnabled',
  'serveValue',
  'rolloutPercentage',
])

function rule(input: unknown, path: string, type: FlagType | undefined, mode: Mode, index: number): FlagRule {
  const o = record(input, path, RULE_FIELDS, mode, 'a rule')
  const id = str(o.id, join(path, 'id'), { max: 128, pattern: ID_PATTERN })
  const out: FlagRule = {
    id,
    name: o.name === undefined ? id : str(o.name, join(path, 'name'), { max: LIMITS.nameLength }),
    priority: o.priority === undefined ? index : num(o.priority, join(path, 'priority')),
    enabled: bool(o.enabled, join(path, 'enabled'), true),
    conditions: conditions(o.conditions, join(path, 'conditions'), mode),
    serveEnabled: bool(o.serveEnabled, join(path, 'serveEnabled'), true),
  }
  if (o.serveValue !== undefined) {
    out.serveValue = validateFlagValue(o.serveValue, type, join(path, 'serveValue'))
    if (type === 'boolean') booleanAgrees(out.serveValue, out.serveEnabled, join(path, 'serveValue'), 'serveEnabled')
  }
  if (o.rolloutPercentage !== undefined) out.rolloutPercentage = percentage(o.rolloutPercentage, join(path, 'rolloutPercentage'))
  return out
}

function rules(value: unknown, path: string, type: FlagType | undefined, mode: Mode): FlagRule[] {
  const out = list(value, path, LIMITS.rules, []).map((r, i) => rule(r, join(path, i), type, mode, i))
  noDuplicates(
    out.map((r) => r.id),
    path,
    'id',
  )
  return out
}

const VARIANT_FIELDS = new Set(['key', 'name', 'value', 'weight'])

function variant(input: unknown, path: string, type: FlagType | undefined, mode: Mode): FlagVariant {
  const o = record(input, path, VARIANT_FIELDS, mode, 'a variant')
  if (o.value === undefined) fail(join(path, 'value'), 'is required')
  const out: FlagVariant = {
    key: str(o.key, join(path, 'key'), { max: 128, pattern: ID_PATTERN }),
    value: validateFlagValue(o.value, type, join(path, 'value')),
    weight: num(o.weight, join(path, 'weight'), { min: 0 }),
  }
  const name = optStr(o.name, join(path, 'name'), { max: LIMITS.nameLength })
  if (name !== undefined) out.name = name
  return out
}

function variants(value: unknown, path: string, type: FlagType | undefined, mode: Mode): FlagVariant[] {
  const out = list(value, path, LIMITS.variants, []).map((v, i) => variant(v, join(path, i), type, mode))
  noDuplicates(
    out.map((v) => v.key),
    path,
    'key',
  )
  return out
}

// ---- schedules ----

const CHANGE_FIELDS = new Set(['id', 'at', 'change', 'value', 'percentage', 'createdBy'])

function scheduledChange(input: unknown, path: string, type: FlagType, mode: Mode): ScheduledChange {
  const o = record(input, path, CHANGE_FIELDS, mode, 'a scheduled change')
  const out: ScheduledChange = {
    id: str(o.id, join(path, 'id'), { max: 128, pattern: ID_PATTERN }),
    at: date(o.at, join(path, 'at')),
    change: oneOf(o.change, join(path, 'change'), CHANGE_KINDS),
  }
  if (out.change === 'setValue') {
    if (o.value === undefined) fail(join(path, 'value'), 'is required for a setValue change')
    out.value = validateFlagValue(o.value, type, join(path, 'value'))
  } else if (o.value !== undefined) {
    fail(join(path, 'value'), `must be absent for a ${out.change} change`)
  }
  if (out.change === 'setRollout') {
    if (o.percentage === undefined) fail(join(path, 'percentage'), 'is required for a setRollout change')
    out.percentage = percentage(o.percentage, join(path, 'percentage'))
  } else if (o.percentage !== undefined) {
    fail(join(path, 'percentage'), `must be absent for a ${out.change} change`)
  }
  const createdBy = optStr(o.createdBy, join(path, 'createdBy'), { max: LIMITS.nameLength })
  if (createdBy !== undefined) out.createdBy = createdBy
  return out
}

const PHASE_FIELDS = new Set(['at', 'percentage'])

function rolloutPhase(input: unknown, path: string, mode: Mode): RolloutPhase {
  const o = record(input, path, PHASE_FIELDS, mode, 'a rollout phase')
  return { at: date(o.at, join(path, 'at')), percentage: percentage(o.percentage, join(path, 'percentage')) }
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

const SCHEDULE_FIELDS = new Set([
  'id',
  'name',
  'recurrence',
  'start',
  'end',
  'daysOfWeek',
  'daysOfMonth',
  'cron',
  'timezone',
  'validFrom',
  'validUntil',
])

function days(value: unknown, path: string, min: number, max: number): number[] {
  const out = list(value, path, max).map((d, i) => num(d, join(path, i), { min, max, integer: true }))
  if (out.length === 0) fail(path, 'must name at least one day')
  noDuplicates(out, path, '')
  return out
}

/**
 * A time schedule. `cron` schedules may omit `start` / `end` (default `00:00`–`00:00`, the whole
 * day: the cron expression alone says which minutes are open); their expression is checked on
 * input (5 fields, parsed by cron-parser; see `parseCronWindow`), and `cron` on any other
 * recurrence is rejected rather than silently ignored. On read an expression this version cannot
 * parse is kept, and the schedule is closed.
 */
function timeSchedule(input: unknown, path: string, mode: Mode): TimeSchedule {
  const o = record(input, path, SCHEDULE_FIELDS, mode, 'a time schedule')
  const id = str(o.id, join(path, 'id'), { max: 128, pattern: ID_PATTERN })
  const recurrence = oneOf(o.recurrence, join(path, 'recurrence'), RECURRENCES)
  const wholeDay = recurrence === 'cron' ? '00:00' : undefined
  const out: TimeSchedule = {
    id,
    name: o.name === undefined ? id : str(o.name, join(path, 'name'), { max: LIMITS.nameLength }),
    recurrence,
    start:
      o.start === undefined && wholeDay !== undefined
        ? wholeDay
        : str(o.start, join(path, 'start'), { max: 5, pattern: TIME_PATTERN }),
    end:
      o.end === undefined && wholeDay !== undefined ? wholeDay : str(o.end, join(path, 'end'), { max: 5, pattern: TIME_PATTERN }),
    timezone: str(o.timezone, join(path, 'timezone'), { min: 1, max: 64 }),
  }
  if (!isValidTimeZone(out.timezone)) fail(join(path, 'timezone'), `unknown IANA time zone ${describe(out.timezone)}`)
  if (o.daysOfWeek !== undefined) out.daysOfWeek = days(o.daysOfWeek, join(path, 'daysOfWeek'), 1, 7)
  if (o.daysOfMonth !== undefined) out.daysOfMonth = days(o.daysOfMonth, join(path, 'daysOfMonth'), 1, 31)
  if (out.recurrence === 'weekly' && out.daysOfWeek === undefined)
    fail(join(path, 'daysOfWeek'), 'is required for a weekly schedule')
  if (out.recurrence === 'monthly' && out.daysOfMonth === undefined)
    fail(join(path, 'daysOfMonth'), 'is required for a monthly schedule')
  if (o.cron !== undefined || out.recurrence === 'cron') {
    out.cron = str(o.cron, join(path, 'cron'), { min: 1, max: 256 })
    if (mode === 'reject') {
      if (out.recurrence !== 'cron') fail(join(path, 'cron'), `only allowed when recurrence is "cron", not "${out.recurrence}"`)
      const problem = cronProblem(out.cron)
      if (problem !== undefined) fail(join(path, 'cron'), `invalid cron expression ${describe(out.cron)}: ${problem}`)
    }
  }
  const validFrom = optDate(o.validFrom, join(path, 'validFrom'))
  const validUntil = optDate(o.validUntil, join(path, 'validUntil'))
  if (validFrom !== undefined) out.validFrom = validFrom
  if (validUntil !== undefined) out.validUntil = validUntil
  if (validFrom !== undefined && validUntil !== undefined && validUntil.getTime() <= validFrom.getTime()) {
    fail(join(path, 'validUntil'), 'must be after validFrom')
  }
  return out
}

// ---- flags ----

/** The fields a caller writes on a flag (the repository owns `version`, `createdAt`, `updatedAt`). */
export const FLAG_INPUT_FIELDS: readonly string[] = [
  'key',
  'name',
  'description',
  'type',
  'status',
  'defaultEnabled',
  'defaultValue',
  'tags',
  'metadata',
  'rules',
  'variants',
  'scheduledChanges',
  'rolloutPhases',
  'timeSchedules',
]
const FLAG_DOCUMENT_FIELDS = new Set([...FLAG_INPUT_FIELDS, 'version', 'createdAt', 'updatedAt'])

function flagFields(o: Record<string, unknown>, path: string, mode: Mode): FlagInput {
  const key = str(o.key, join(path, 'key'), { max: 128, pattern: FLAG_KEY_PATTERN })
  const type = oneOf(o.type, join(path, 'type'), FLAG_TYPES)
  const out: FlagInput = {
    key,
    name: o.name === undefined ? key : str(o.name, join(path, 'name'), { max: LIMITS.nameLength }),
    type,
    status: o.status === undefined ? 'active' : oneOf(o.status, join(path, 'status'), FLAG_STATUSES),
    defaultEnabled: bool(o.defaultEnabled, join(path, 'defaultEnabled'), false),
    tags: list(o.tags, join(path, 'tags'), LIMITS.tags, []).map((t, i) =>
      str(t, join(join(path, 'tags'), i), { min: 1, max: LIMITS.tagLength }),
    ),
    metadata: jsonObject(o.metadata, join(path, 'metadata'), {}),
    rules: rules(o.rules, join(path, 'rules'), type, mode),
    variants: variants(o.variants, join(path, 'variants'), type, mode),
    scheduledChanges: list(o.scheduledChanges, join(path, 'scheduledChanges'), LIMITS.scheduledChanges, []).map((c, i) =>
      scheduledChange(c, join(join(path, 'scheduledChanges'), i), type, mode),
    ),
    rolloutPhases: list(o.rolloutPhases, join(path, 'rolloutPhases'), LIMITS.rolloutPhases, []).map((p, i) =>
      rolloutPhase(p, join(join(path, 'rolloutPhases'), i), mode),
    ),
    timeSchedules: list(o.timeSchedules, join(path, 'timeSchedules'), LIMITS.timeSchedules, []).map((s, i) =>
      timeSchedule(s, join(join(path, 'timeSchedules'), i), mode),
    ),
  }
  const description = optStr(o.description, join(path, 'description'), { max: LIMITS.descriptionLength })
  if (description !== undefined) out.description = description
  if (o.defaultValue !== undefined) {
    out.defaultValue = validateFlagValue(o.defaultValue, type, join(path, 'defaultValue'))
    if (type === 'boolean') booleanAgrees(out.defaultValue, out.defaultEnabled, join(path, 'defaultValue'), 'defaultEnabled')
  }
  noDuplicates(
    out.scheduledChanges.map((c) => c.id),
    join(path, 'scheduledChanges'),
    'id',
  )
  noDuplicates(
    out.timeSchedules.map((s) => s.id),
    join(path, 'timeSchedules'),
    'id',
  )
  // Two phases at one instant would leave the percentage to document order: say which one is meant.
  if (mode === 'reject') {
    noDuplicates(
      out.rolloutPhases.map((p) => p.at.toISOString()),
      join(path, 'rolloutPhases'),
      'at',
    )
  }
  return out
}

/** A stored flag document (with `version`, `createdAt`, `updatedAt`). */
export function validateFlag(input: unknown, options: ValidateOptions = {}): FeatureFlag {
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', FLAG_DOCUMENT_FIELDS, mode, 'a flag')
  return {
    ...flagFields(o, '', mode),
    version: num(o.version, 'version', { min: 0, integer: true }),
    createdAt: date(o.createdAt, 'createdAt'),
    updatedAt: date(o.updatedAt, 'updatedAt'),
  }
}

/**
 * A flag as a caller supplies it (admin API create / update): `version`, `createdAt` and
 * `updatedAt` belong to the repository and are ignored if present; omitted collections default to
 * empty, `status` to `active`, `name` to the key.
 */
export function validateFlagInput(input: unknown, options: ValidateOptions = {}): FlagInput {
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', FLAG_DOCUMENT_FIELDS, mode, 'a flag')
  return flagFields(o, '', mode)
}

// ---- overrides ----

const OVERRIDE_FIELDS = new Set(['flagKey', 'entityType', 'entityId', 'enabled', 'value', 'expiresAt'])

/**
 * An override. Its `value` is checked against `flag`'s type when the flag (or its type) is given:
 * the repository passes it on write; on decode the type is checked again when the snapshot is
 * compiled.
 */
export function validateOverride(
  input: unknown,
  flag?: Pick<FeatureFlag, 'type' | 'key'> | FlagType,
  options: ValidateOptions = {},
): FlagOverride {
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', OVERRIDE_FIELDS, mode, 'an override')
  const type = typeof flag === 'string' ? flag : flag?.type
  const out: FlagOverride = {
    flagKey: str(o.flagKey, 'flagKey', { max: 128, pattern: FLAG_KEY_PATTERN }),
    entityType: str(o.entityType, 'entityType', { max: 64, pattern: ENTITY_TYPE_PATTERN }),
    entityId: str(o.entityId, 'entityId', { min: 1, max: LIMITS.nameLength }),
    enabled: bool(o.enabled, 'enabled'),
  }
  if (typeof flag === 'object' && flag.key !== out.flagKey) {
    fail('flagKey', `is "${out.flagKey}" but the override is checked against flag "${flag.key}"`)
  }
  if (FORBIDDEN_KEYS.has(out.entityType)) fail('entityType', 'this name is not allowed (prototype pollution)')
  if (o.value !== undefined) {
    out.value = validateFlagValue(o.value, type, 'value')
    if (type === 'boolean') booleanAgrees(out.value, out.enabled, 'value', 'enabled')
  }
  const expiresAt = optDate(o.expiresAt, 'expiresAt')
  if (expiresAt !== undefined) out.expiresAt = expiresAt
  return out
}

// ---- segments ----

const SEGMENT_FIELDS = new Set(['key', 'name', 'description', 'conditions', 'parent'])

export function validateSegment(input: unknown, options: ValidateOptions = {}): Segment {
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', SEGMENT_FIELDS, mode, 'a segment')
  const key = str(o.key, 'key', { max: 128, pattern: FLAG_KEY_PATTERN })
  const out: Segment = {
    key,
    name: o.name === undefined ? key : str(o.name, 'name', { max: LIMITS.nameLength }),
    conditions: conditions(o.conditions, 'conditions', mode),
  }
  const description = optStr(o.description, 'description', { max: LIMITS.descriptionLength })
  if (description !== undefined) out.description = description
  const parent = optStr(o.parent, 'parent', { max: 128, pattern: FLAG_KEY_PATTERN })
  if (parent !== undefined) {
    if (parent === key) fail('parent', 'a segment cannot be its own parent')
    out.parent = parent
  }
  out.conditions.forEach((c, i) => {
    if ((c.operator === 'in_segment' || c.operator === 'not_in_segment') && c.value === key) {
      fail(`conditions[${i}].value`, 'a segment cannot refer to itself')
    }
  })
  return out
}

type Edge = { to: string; field: string }

function findCycle(nodes: readonly string[], edges: (node: string) => Edge[]): { path: string[]; field: string } | undefined {
  const state = new Map<string, 'visiting' | 'done'>()
  const stack: { node: string; field: string }[] = []
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'visiting')
    for (const edge of edges(node)) {
      const s = state.get(edge.to)
      stack.push({ node, field: edge.field })
      if (s === 'visiting') {
        const start = stack.findIndex((entry) => entry.node === edge.to)
        return [...stack.slice(start).map((entry) => entry.node), edge.to]
      }
      if (s === undefined) {
        const found = visit(edge.to)
        if (found !== undefined) return found
      }
      stack.pop()
    }
    state.set(node, 'done')
    return undefined
  }
  for (const node of nodes) {
    if (state.has(node)) continue
    const path = visit(node)
    if (path !== undefined) {
      const first = stack.find((entry) => entry.node === path[0])
      return { path, field: first?.field ?? 'parent' }
    }
  }
  return undefined
}

/**
 * Rejects (INVALID_ARGUMENT) a set of segments in which a segment reaches itself through `parent`
 * links or `in_segment` / `not_in_segment` conditions. Segments are searched from the last one
 * given, so a repository that puts the segment being written last gets the error reported on it.
 * References to segments not in the set are not this function's business.
 */
export function checkSegmentCycles(segments: Iterable<Segment>): void {
  const byKey = new Map<string, Segment>()
  for (const segment of segments) byKey.set(segment.key, segment)
  const found = findCycle([...byKey.keys()].reverse(), (key) => {
    const segment = byKey.get(key)
    if (segment === undefined) return []
    const { parent, referenced } = segmentDependencies(segment)
    const edges: Edge[] = []
    if (parent !== undefined && byKey.has(parent)) edges.push({ to: parent, field: 'parent' })
    ;(segment.conditions ?? []).forEach((c, i) => {
      if (typeof c.value === 'string' && referenced.includes(c.value) && byKey.has(c.value)) {
        edges.push({ to: c.value, field: `conditions[${i}].value` })
      }
    })
    return edges
  })
  if (found !== undefined) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `${found.field}: segment "${found.path[0]}" would be part of a cycle: ${found.path.map((k) => `"${k}"`).join(' -> ')}`,
      { details: { field: found.field, cycle: found.path } },
    )
  }
}

// ---- environments ----

const ENVIRONMENT_FIELDS = new Set(['slug', 'name', 'parent', 'settings'])

export function validateEnvironment(input: unknown, options: ValidateOptions = {}): Environment {
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', ENVIRONMENT_FIELDS, mode, 'an environment')
  const slug = str(o.slug, 'slug', { max: 64, pattern: ENVIRONMENT_SLUG_PATTERN })
  // `resolveChain` reports values no environment sets as coming from 'flag'.
  if (mode === 'reject' && slug === 'flag') fail('slug', '"flag" is reserved (it names the base flag in resolveChain)')
  const settings = jsonObject(o.settings, 'settings', {}) as EnvironmentSettings
  if (settings.protected !== undefined && typeof settings.protected !== 'boolean') {
    fail('settings.protected', `must be a boolean, got ${describe(settings.protected)}`)
  }
  const out: Environment = {
    slug,
    name: o.name === undefined ? slug : str(o.name, 'name', { max: LIMITS.nameLength }),
    settings,
  }
  const parent = optStr(o.parent, 'parent', { max: 64, pattern: ENVIRONMENT_SLUG_PATTERN })
  if (parent !== undefined) {
    if (parent === slug) fail('parent', 'an environment cannot be its own parent')
    out.parent = parent
  }
  return out
}

/** Rejects (INVALID_ARGUMENT) environments whose `parent` links form a cycle; searched from the last one given. */
export function checkEnvironmentCycles(environments: Iterable<Environment>): void {
  const bySlug = new Map<string, Environment>()
  for (const env of environments) bySlug.set(env.slug, env)
  const found = findCycle([...bySlug.keys()].reverse(), (slug) => {
    const parent = bySlug.get(slug)?.parent
    return parent !== undefined && bySlug.has(parent) ? [{ to: parent, field: 'parent' }] : []
  })
  if (found !== undefined) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `parent: environment "${found.path[0]}" would be part of a cycle: ${found.path.map((k) => `"${k}"`).join(' -> ')}`,
      { details: { field: 'parent', cycle: found.path } },
    )
  }
}

const ENVIRONMENT_FLAG_FIELDS = new Set(['environment', 'flagKey', 'enabled', 'percentage', 'rules', 'variants'])

/** Per-environment flag settings; rule and variant values are checked against `flag`'s type when given. */
export function validateEnvironmentFlag(
  input: unknown,
  flag?: Pick<FeatureFlag, 'type' | 'key'> | FlagType,
  options: ValidateOptions = {},
): EnvironmentFlag {
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', ENVIRONMENT_FLAG_FIELDS, mode, 'an environment flag')
  const type = typeof flag === 'string' ? flag : flag?.type
  const out: EnvironmentFlag = {
    environment: str(o.environment, 'environment', { max: 64, pattern: ENVIRONMENT_SLUG_PATTERN }),
    flagKey: str(o.flagKey, 'flagKey', { max: 128, pattern: FLAG_KEY_PATTERN }),
  }
  if (typeof flag === 'object' && flag.key !== out.flagKey) {
    fail('flagKey', `is "${out.flagKey}" but the settings are checked against flag "${flag.key}"`)
  }
  if (o.enabled !== undefined) out.enabled = bool(o.enabled, 'enabled')
  if (o.percentage !== undefined) out.percentage = percentage(o.percentage, 'percentage')
  if (o.rules !== undefined) out.rules = rules(o.rules, 'rules', type, mode)
  if (o.variants !== undefined) out.variants = variants(o.variants, 'variants', type, mode)
  return out
}

// ---- bytes ----

export type DocumentKind = 'flag' | 'override' | 'segment' | 'environment' | 'environmentFlag'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

function toBytes(document: unknown): Uint8Array {
  return encoder.encode(superjson.stringify(document))
}

function decode<T>(kind: DocumentKind, bytes: unknown, key: string, validate: (value: unknown) => T): T {
  try {
    if (!(bytes instanceof Uint8Array)) throw new Error(`expected bytes, got ${describe(bytes)}`)
    const parsed: unknown = superjson.parse(decoder.decode(bytes))
    return validate(parsed)
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unreadable'
    const field = error instanceof FlagstoneError ? error.details?.field : undefined
    throw new FlagstoneError('CORRUPT_VALUE', `stored ${kind} at key "${key}" is corrupt: ${reason}`, {
      cause: error,
      details: field === undefined ? { key, kind } : { key, kind, field },
    })
  }
}

const STRIP: ValidateOptions = { unknownFields: 'strip' }

/** Validates a flag document (INVALID_ARGUMENT naming the field) and returns its bytes. */
export function encodeFlag(flag: FeatureFlag): Uint8Array {
  return toBytes(validateFlag(flag))
}

/** The flag stored under `key`; CORRUPT_VALUE naming `key` when the bytes are not a valid flag. */
export function decodeFlag(bytes: Uint8Array, key: string): FeatureFlag {
  return decode('flag', bytes, key, (v) => validateFlag(v, STRIP))
}

/** Validates an override (its value against `flag`'s type when given) and returns its bytes. */
export function encodeOverride(override: FlagOverride, flag?: Pick<FeatureFlag, 'type' | 'key'> | FlagType): Uint8Array {
  return toBytes(validateOverride(override, flag))
}

export function decodeOverride(bytes: Uint8Array, key: string): FlagOverride {
  return decode('override', bytes, key, (v) => validateOverride(v, undefined, STRIP))
}

export function encodeSegment(segment: Segment): Uint8Array {
  return toBytes(validateSegment(segment))
}

export function decodeSegment(bytes: Uint8Array, key: string): Segment {
  return decode('segment', bytes, key, (v) => validateSegment(v, STRIP))
}

export function encodeEnvironment(environment: Environment): Uint8Array {
  return toBytes(validateEnvironment(environment))
}

export function decodeEnvironment(bytes: Uint8Array, key: string): Environment {
  return decode('environment', bytes, key, (v) => validateEnvironment(v, STRIP))
}

export function encodeEnvironmentFlag(
  environmentFlag: EnvironmentFlag,
  flag?: Pick<FeatureFlag, 'type' | 'key'> | FlagType,
): Uint8Array {
  return toBytes(validateEnvironmentFlag(environmentFlag, flag))
}

export function decodeEnvironmentFlag(bytes: Uint8Array, key: string): EnvironmentFlag {
  return decode('environmentFlag', bytes, key, (v) => validateEnvironmentFlag(v, undefined, STRIP))
}

interface DocumentTypes {
  flag: FeatureFlag
  override: FlagOverride
  segment: Segment
  environment: Environment
  environmentFlag: EnvironmentFlag
}

const VALIDATORS: { [K in DocumentKind]: (value: unknown, options: ValidateOptions) => DocumentTypes[K] } = {
  flag: (v, o) => validateFlag(v, o),
  override: (v, o) => validateOverride(v, undefined, o),
  segment: (v, o) => validateSegment(v, o),
  environment: (v, o) => validateEnvironment(v, o),
  environmentFlag: (v, o) => validateEnvironmentFlag(v, undefined, o),
}

/** Any kind by name: for code that handles documents generically (export / import, migrations). */
export function encodeDocument<K extends DocumentKind>(kind: K, document: DocumentTypes[K]): Uint8Array {
  return toBytes(VALIDATORS[kind](document, {}))
}

export function decodeDocument<K extends DocumentKind>(kind: K, bytes: Uint8Array, key: string): DocumentTypes[K] {
  return decode(kind, bytes, key, (v) => VALIDATORS[kind](v, STRIP))
}
