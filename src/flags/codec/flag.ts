/**
 * Flag documents: conditions, rules, variants, scheduled changes, rollout phases, time schedules
 * and the flag itself. Validation returns a fresh, normalised copy (defaults filled in), so a
 * caller mutating its object afterwards cannot change what was checked. Unknown fields are
 * rejected on input (typos such as `rolloutPercentag` must not pass silently) and dropped on
 * decode (a newer process may have written a field this one does not know).
 */
import { checkEvaluationBudget } from './budget.js'
import { checkOptions, FORBIDDEN_KEYS } from '../../internal/objects.js'
import { checkConditionValue, isOperator } from '../matchers/index.js'
import { cronProblem } from '../matchers/index.js'
import { markFlag, markInput, type ValidFlag, type ValidFlagInput } from './valid.js'
import {
  FLAG_KEY_PATTERN,
  FLAG_STATUSES,
  FLAG_TYPES,
  OPERATORS,
  RECURRENCES,
  SCHEDULED_CHANGE_KINDS,
  type Condition,
  type ConditionValue,
  type FeatureFlag,
  type FlagInput,
  type FlagRule,
  type FlagType,
  type FlagVariant,
  type RolloutPhase,
  type ScheduledChange,
  type TimeSchedule,
} from '../model.js'
import {
  booleanAgrees,
  bool,
  date,
  describe,
  fail,
  ID_PATTERN,
  isValidTimeZone,
  join,
  jsonObject,
  LIMITS,
  list,
  type Mode,
  noDuplicates,
  num,
  oneOf,
  optDate,
  optStr,
  percentage,
  record,
  str,
  TIME_PATTERN,
  type ValidateOptions,
  validateFlagValue,
  validateJson,
} from './fields.js'

// ---- conditions, rules, variants ----

const CONDITION_FIELDS = new Set(['attribute', 'operator', 'value'])

/**
 * A condition. On input (`reject` mode) an unknown operator or a value that does not fit the
 * operator is INVALID_ARGUMENT. On read (`strip` mode) such a condition is kept as it is (its value
 * still checked as bounded JSON) and never matches: a newer writer may know an operator this
 * process does not, and one such condition must not make the whole flag unreadable.
 */
export function validateCondition(input: unknown, path = 'condition', options: ValidateOptions = {}): Condition {
  checkOptions(options, 'validateCondition()')
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

export function conditions(value: unknown, path: string, mode: Mode): Condition[] {
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

export function rules(value: unknown, path: string, type: FlagType | undefined, mode: Mode): FlagRule[] {
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

export function variants(value: unknown, path: string, type: FlagType | undefined, mode: Mode): FlagVariant[] {
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
    change: oneOf(o.change, join(path, 'change'), SCHEDULED_CHANGE_KINDS),
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
export function validateFlag(input: unknown, options: ValidateOptions = {}): ValidFlag {
  checkOptions(options, 'validateFlag()')
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', FLAG_DOCUMENT_FIELDS, mode, 'a flag')
  const flag = {
    ...flagFields(o, '', mode),
    version: num(o.version, 'version', { min: 0, integer: true }),
    createdAt: date(o.createdAt, 'createdAt'),
    updatedAt: date(o.updatedAt, 'updatedAt'),
  }
  return markFlag(flag)
}

/**
 * A stored flag from fields `validateFlagInput` already checked and the repository's own
 * bookkeeping: no second validation (the one boundary is `validateFlagInput` / `validateFlag`).
 */
export function completeFlag(input: ValidFlagInput, version: number, createdAt: Date, updatedAt: Date): ValidFlag {
  const flag: FeatureFlag = {
    ...input,
    version,
    createdAt: new Date(createdAt.getTime()),
    updatedAt: new Date(updatedAt.getTime()),
  }
  return markFlag(flag)
}

/**
 * A flag as a caller supplies it (admin API create / update): `version`, `createdAt` and
 * `updatedAt` belong to the repository and are ignored if present; omitted collections default to
 * empty, `status` to `active`, `name` to the key.
 */
export function validateFlagInput(input: unknown, options: ValidateOptions = {}): ValidFlagInput {
  checkOptions(options, 'validateFlagInput()')
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', FLAG_DOCUMENT_FIELDS, mode, 'a flag')
  const fields = flagFields(o, '', mode)
  checkEvaluationBudget(fields.rules, 'rules') // on write only: stored flags still load
  return markInput(fields)
}
