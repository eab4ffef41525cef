/**
 * Condition operators: what each accepts on write (`checkConditionValue`) and how it is compiled
 * into a test (`compileCondition`) once per snapshot, so evaluation only runs closures over
 * pre-parsed values (sets, regex programs, semvers, instants, CIDR blocks).
 *
 * Rules every operator follows:
 * - An unknown operator, or a value of the wrong shape, compiles to a test that never matches
 *   (litestar-flags treated an unknown operator as a match).
 * - When the attribute is missing or of the wrong type the condition is false, for the negative
 *   operators too (`ne`, `not_in`, `not_contains`, `semver_ne`): only `not_exists` holds for a
 *   missing attribute. Conditions fail closed.
 * - Segment operators that name an unknown segment, or a segment caught in a cycle, are false
 *   (both `in_segment` and `not_in_segment`): a broken reference must not widen a rule.
 */
import semver from 'semver'
import { cidrContains, parseCidr, parseIp, type CidrBlock } from './cidr.js'
import { FLAG_KEY_PATTERN, type Condition, type EvaluationContext, type Operator, type Segment } from '../model.js'
import { compileSafeRegex, RegexPatternError } from './regex.js'

export const OPERATORS: readonly Operator[] = Object.freeze([
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'not_in',
  'contains',
  'not_contains',
  'starts_with',
  'ends_with',
  'matches',
  'exists',
  'not_exists',
  'semver_eq',
  'semver_ne',
  'semver_gt',
  'semver_gte',
  'semver_lt',
  'semver_lte',
  'date_before',
  'date_after',
  'in_cidr',
  'in_segment',
  'not_in_segment',
] as const)

const OPERATOR_SET: ReadonlySet<string> = new Set(OPERATORS)

export function isOperator(value: unknown): value is Operator {
  return typeof value === 'string' && OPERATOR_SET.has(value)
}

/** Longest input `matches` looks at; a longer attribute makes the condition false. */
export const MAX_MATCH_INPUT_LENGTH = 1024
/** Bounds on condition values, so one stored rule cannot make evaluation slow or huge. */
export const MAX_CONDITION_STRING_LENGTH = 4096
export const MAX_CONDITION_LIST_LENGTH = 10_000

/** The context fields a condition reads directly; anything else comes from `attributes`. */
const STANDARD_FIELDS: ReadonlySet<string> = new Set([
  'targetingKey',
  'userId',
  'organizationId',
  'tenantId',
  'environment',
  'appVersion',
  'ipAddress',
  'userAgent',
  'country',
])

/** A compiled condition: `now` is the evaluation instant in epoch ms. */
export type ConditionTest = (context: EvaluationContext, now: number) => boolean

export interface CompiledCondition {
  readonly test: ConditionTest
  /** Whether `test` reads `now`, so the evaluator knows to read the clock. */
  readonly usesNow: boolean
}

const NEVER_TEST: ConditionTest = () => false
const ALWAYS_TEST: ConditionTest = () => true
export const NEVER: CompiledCondition = Object.freeze({ test: NEVER_TEST, usesNow: false })
export const ALWAYS: CompiledCondition = Object.freeze({ test: ALWAYS_TEST, usesNow: false })

/** Reads one attribute from a context (see `readAttribute`). */
export type AttributeReader = (context: EvaluationContext, now: number) => unknown
type Reader = AttributeReader

function attributesValue(context: EvaluationContext, name: string): unknown {
  const attributes = context.attributes
  // Own properties only: `attributes.toString` must not read Object.prototype.
  if (attributes === undefined || attributes === null || typeof attributes !== 'object') return undefined
  return Object.hasOwn(attributes, name) ? attributes[name] : undefined
}

/** A reader for attribute `name`, built once so evaluation does not re-dispatch on the name. */
export function compileReader(name: string): Reader {
  if (name === 'now') return (_context, now) => now
  if (STANDARD_FIELDS.has(name)) {
    const field = name as keyof EvaluationContext
    return (context) => {
      const value = context[field]
      return value !== undefined ? value : attributesValue(context, name)
    }
  }
  return (context) => attributesValue(context, name)
}

/**
 * The value a condition on `name` reads: the standard context field when set, else
 * `attributes[name]`; `now` reads the evaluation instant.
 */
export function readAttribute(context: EvaluationContext, name: string, now: number): unknown {
  return compileReader(name)(context, now)
}

/** An instant as epoch ms from a Date, epoch-ms number or ISO-8601 string; undefined otherwise. */
export function toEpochMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (value instanceof Date) {
    const t = value.getTime()
    return Number.isNaN(t) ? undefined : t
  }
  if (typeof value === 'string') return parseIsoDate(value)
  return undefined
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/

/**
 * ISO-8601 calendar dates and date-times. A date-time without an offset is read as UTC (not as the
 * process's local time, which would make the answer depend on the machine).
 */
export function parseIsoDate(text: string): number | undefined {
  if (text.length > 40) return undefined
  const m = ISO_DATE.exec(text)
  if (m === null) return undefined
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = m[4] === undefined ? 0 : Number(m[4])
  const minute = m[5] === undefined ? 0 : Number(m[5])
  const second = m[6] === undefined ? 0 : Number(m[6])
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000)
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms)
  // Date.UTC rolls 2024-02-30 over into March: refuse days the month does not have.
  if (new Date(utc).getUTCDate() !== day) return undefined
  let offset = 0
  const zone = m[8]
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    const oh = Number(digits.slice(0, 2))
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0
    if (oh > 23 || om > 59) return undefined
    offset = sign * (oh * 60 + om) * 60_000
  }
  return utc - offset
}

function isPrimitive(value: unknown): value is string | number | boolean {
  const t = typeof value
  return t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(value as number))
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Date) return 'a Date'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 64)}`
}

function checkString(value: unknown, what: string): string | undefined {
  if (typeof value !== 'string') return `must be ${what}, got ${describe(value)}`
  if (value.length > MAX_CONDITION_STRING_LENGTH) return `must be at most ${MAX_CONDITION_STRING_LENGTH} characters`
  return undefined
}

function checkPrimitive(value: unknown): string | undefined {
  if (!isPrimitive(value)) return `must be a string, a finite number or a boolean, got ${describe(value)}`
  if (typeof value === 'string' && value.length > MAX_CONDITION_STRING_LENGTH) {
    return `must be at most ${MAX_CONDITION_STRING_LENGTH} characters`
  }
  return undefined
}

/**
 * What is wrong with `value` as the value of a condition with `operator`, or undefined when it is
 * acceptable. The codec turns the answer into an INVALID_ARGUMENT naming the field.
 */
export function checkConditionValue(operator: Operator, value: unknown): string | undefined {
  switch (operator) {
    case 'eq':
    case 'ne':
    case 'contains':
    case 'not_contains':
      return checkPrimitive(value)
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'must be a finite number'
      return checkString(value, 'a number or a string')
    case 'in':
    case 'not_in': {
      if (!Array.isArray(value)) return `must be an array, got ${describe(value)}`
      if (value.length > MAX_CONDITION_LIST_LENGTH) return `must have at most ${MAX_CONDITION_LIST_LENGTH} items`
      for (let i = 0; i < value.length; i++) {
        const problem = checkPrimitive(value[i])
        if (problem !== undefined) return `[${i}] ${problem}`
      }
      return undefined
    }
    case 'starts_with':
    case 'ends_with':
      return checkString(value, 'a string')
    case 'matches': {
      const problem = checkString(value, 'a regular expression string')
      if (problem !== undefined) return problem
      try {
        compileSafeRegex(value as string)
        return undefined
      } catch (error) {
        if (error instanceof RegexPatternError) return `is not an accepted pattern: ${error.message}`
        throw error
      }
    }
    case 'exists':
    case 'not_exists':
      return value === undefined || value === null ? undefined : 'must be absent for exists / not_exists'
    case 'semver_eq':
    case 'semver_ne':
    case 'semver_gt':
    case 'semver_gte':
    case 'semver_lt':
    case 'semver_lte': {
      const problem = checkString(value, 'a semantic version string')
      if (problem !== undefined) return problem
      return semver.parse(value as string) === null
        ? `must be a semantic version (semver.org), got "${value as string}"`
        : undefined
    }
    case 'date_before':
    case 'date_after':
      return toEpochMs(value) === undefined
        ? `must be an ISO-8601 date string, epoch milliseconds or a Date, got ${describe(value)}`
        : undefined
    case 'in_cidr': {
      const list = Array.isArray(value) ? (value as unknown[]) : [value]
      if (list.length === 0) return 'must name at least one CIDR block'
      if (list.length > MAX_CONDITION_LIST_LENGTH) return `must have at most ${MAX_CONDITION_LIST_LENGTH} items`
      for (let i = 0; i < list.length; i++) {
        const item = list[i]
        const where = Array.isArray(value) ? `[${i}] ` : ''
        if (typeof item !== 'string' || parseCidr(item) === undefined) {
          return `${where}must be an IPv4 or IPv6 CIDR block such as 10.0.0.0/8, got ${describe(item)}`
        }
      }
      return undefined
    }
    case 'in_segment':
    case 'not_in_segment':
      if (typeof value !== 'string' || !FLAG_KEY_PATTERN.test(value)) {
        return `must be a segment key matching ${FLAG_KEY_PATTERN.source}, got ${describe(value)}`
      }
      return undefined
  }
}

/** Resolves a segment key to its compiled membership test; undefined for an unknown or broken segment. */
export type SegmentResolver = (key: string) => CompiledCondition | undefined

const NO_SEGMENTS: SegmentResolver = () => undefined

// App versions repeat across evaluations: parse each distinct string once. Bounded so hostile
// input cannot grow it without limit (cleared when full, cheaper than LRU bookkeeping).
const semverCache = new Map<string, semver.SemVer | null>()
const SEMVER_CACHE_LIMIT = 1024

function parseSemver(text: string): semver.SemVer | null {
  let parsed = semverCache.get(text)
  if (parsed === undefined) {
    parsed = text.length <= 256 ? semver.parse(text) : null
    if (semverCache.size >= SEMVER_CACHE_LIMIT) semverCache.clear()
    semverCache.set(text, parsed)
  }
  return parsed
}

/**
 * Compiles one condition. Never throws: an unknown operator or an invalid value (a snapshot that
 * bypassed the codec) compiles to NEVER.
 */
export function compileCondition(condition: Condition, segments: SegmentResolver = NO_SEGMENTS): CompiledCondition {
  try {
    return compileUnsafe(condition, segments)
  } catch {
    return NEVER
  }
}

function compileUnsafe(condition: Condition, segments: SegmentResolver): CompiledCondition {
  const operator = condition.operator
  if (!isOperator(operator)) return NEVER
  const value: unknown = condition.value
  if (checkConditionValue(operator, value) !== undefined) return NEVER

  if (operator === 'in_segment' || operator === 'not_in_segment') {
    const segment = segments(value as string)
    if (segment === undefined) return NEVER
    if (operator === 'in_segment') return segment
    const inner = segment.test
    return { test: (context, now) => !inner(context, now), usesNow: segment.usesNow }
  }

  if (typeof condition.attribute !== 'string') return NEVER
  const read = compileReader(condition.attribute)
  const usesNow = condition.attribute === 'now'
  const make = (test: ConditionTest): CompiledCondition => ({ test, usesNow })

  switch (operator) {
    case 'eq': {
      const expected = value as string | number | boolean
      return make((c, n) => read(c, n) === expected)
    }
    case 'ne': {
      const expected = value as string | number | boolean
      const type = typeof expected
      return make((c, n) => {
        const actual = read(c, n)
        return typeof actual === type && actual !== expected && !(type === 'number' && Number.isNaN(actual))
      })
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const expected = value as string | number
      const type = typeof expected
      const cmp =
        operator === 'gt'
          ? (a: string | number) => a > expected
          : operator === 'gte'
            ? (a: string | number) => a >= expected
            : operator === 'lt'
              ? (a: string | number) => a < expected
              : (a: string | number) => a <= expected
      return make((c, n) => {
        const actual = read(c, n)
        return typeof actual === type && cmp(actual as string | number)
      })
    }
    case 'in':
    case 'not_in': {
      const set = new Set(value as (string | number | boolean)[])
      const positive = operator === 'in'
      return make((c, n) => {
        const actual = read(c, n)
        if (!isPrimitive(actual)) return false
        return set.has(actual) === positive
      })
    }
    case 'contains':
    case 'not_contains': {
      const expected = value as string | number | boolean
      const positive = operator === 'contains'
      return make((c, n) => {
        const actual = read(c, n)
        if (typeof actual === 'string') {
          return typeof expected === 'string' ? actual.includes(expected) === positive : false
        }
        if (Array.isArray(actual)) return actual.includes(expected) === positive
        return false
      })
    }
    case 'starts_with': {
      const expected = value as string
      return make((c, n) => {
        const actual = read(c, n)
        return typeof actual === 'string' && actual.startsWith(expected)
      })
    }
    case 'ends_with': {
      const expected = value as string
      return make((c, n) => {
        const actual = read(c, n)
        return typeof actual === 'string' && actual.endsWith(expected)
      })
    }
    case 'matches': {
      const re = compileSafeRegex(value as string)
      return make((c, n) => {
        const actual = read(c, n)
        return typeof actual === 'string' && actual.length <= MAX_MATCH_INPUT_LENGTH && re.test(actual)
      })
    }
    case 'exists':
      return make((c, n) => {
        const actual = read(c, n)
        return actual !== undefined && actual !== null
      })
    case 'not_exists':
      return make((c, n) => {
        const actual = read(c, n)
        return actual === undefined || actual === null
      })
    case 'semver_eq':
    case 'semver_ne':
    case 'semver_gt':
    case 'semver_gte':
    case 'semver_lt':
    case 'semver_lte': {
      const expected = semver.parse(value as string)!
      const accept =
        operator === 'semver_eq'
          ? (r: number) => r === 0
          : operator === 'semver_ne'
            ? (r: number) => r !== 0
            : operator === 'semver_gt'
              ? (r: number) => r > 0
              : operator === 'semver_gte'
                ? (r: number) => r >= 0
                : operator === 'semver_lt'
                  ? (r: number) => r < 0
                  : (r: number) => r <= 0
      return make((c, n) => {
        const actual = read(c, n)
        if (typeof actual !== 'string') return false
        const parsed = parseSemver(actual)
        // compare() ignores build metadata and orders pre-releases below their release (semver.org §11).
        return parsed !== null && accept(parsed.compare(expected))
      })
    }
    case 'date_before':
    case 'date_after': {
      const expected = toEpochMs(value)!
      const before = operator === 'date_before'
      return make((c, n) => {
        const actual = toEpochMs(read(c, n))
        if (actual === undefined) return false
        return before ? actual < expected : actual > expected
      })
    }
    case 'in_cidr': {
      const blocks: CidrBlock[] = (Array.isArray(value) ? (value as string[]) : [value as string]).map((b) => parseCidr(b)!)
      let lastText: string | undefined
      let lastWords: number[] | undefined
      return make((c, n) => {
        const actual = read(c, n)
        if (typeof actual !== 'string') return false
        if (actual !== lastText) {
          lastWords = parseIp(actual)
          lastText = actual
        }
        const words = lastWords
        if (words === undefined) return false
        for (const block of blocks) if (cidrContains(block, words)) return true
        return false
      })
    }
  }
}

/** All of `conditions` (an empty list is always true). */
export function allOf(conditions: readonly CompiledCondition[]): CompiledCondition {
  const usesNow = conditions.some((c) => c.usesNow)
  if (conditions.some((c) => c === NEVER)) return NEVER
  const tests = conditions.map((c) => c.test)
  switch (tests.length) {
    case 0:
      return ALWAYS
    case 1:
      return { test: tests[0]!, usesNow }
    case 2: {
      const [a, b] = tests as [ConditionTest, ConditionTest]
      return { test: (c, n) => a(c, n) && b(c, n), usesNow }
    }
    default:
      return {
        test: (c, n) => {
          for (let i = 0; i < tests.length; i++) if (!tests[i]!(c, n)) return false
          return true
        },
        usesNow,
      }
  }
}

/** The segment keys a segment depends on: its parent and the segments its conditions name. */
export function segmentDependencies(segment: Segment): { parent: string | undefined; referenced: string[] } {
  const referenced: string[] = []
  for (const condition of segment.conditions ?? []) {
    if ((condition.operator === 'in_segment' || condition.operator === 'not_in_segment') && typeof condition.value === 'string') {
      referenced.push(condition.value)
    }
  }
  return { parent: segment.parent, referenced }
}

/**
 * Compiles every segment's membership test: its own conditions AND its parent's membership.
 * A segment is broken (never a member, and `not_in_segment` of it is false too) when its parent is
 * missing or it takes part in a cycle through `parent` or segment conditions; such documents are
 * rejected on write, this keeps evaluation total when one slips through.
 */
export function compileSegments(segments: ReadonlyMap<string, Segment>): ReadonlyMap<string, CompiledCondition> {
  const broken = new Map<string, boolean>()
  const visiting = new Set<string>()
  const isBroken = (key: string): boolean => {
    const known = broken.get(key)
    if (known !== undefined) return known
    // Reaching a key still on the stack means a cycle through every key in between.
    if (visiting.has(key)) return true
    const segment = segments.get(key)
    if (segment === undefined) return true
    visiting.add(key)
    const { parent, referenced } = segmentDependencies(segment)
    let result = parent !== undefined && isBroken(parent)
    for (const ref of referenced) {
      if (segments.has(ref) && isBroken(ref)) result = true
    }
    visiting.delete(key)
    broken.set(key, result)
    return result
  }

  const compiled = new Map<string, CompiledCondition>()
  const resolve: SegmentResolver = (key) => {
    const done = compiled.get(key)
    if (done !== undefined) return done
    const segment = segments.get(key)
    if (segment === undefined || isBroken(key)) return undefined
    const own = (segment.conditions ?? []).map((c) => compileCondition(c, resolve))
    const parent = segment.parent === undefined ? undefined : resolve(segment.parent)
    const result = allOf(parent === undefined ? own : [...own, parent])
    compiled.set(key, result)
    return result
  }
  for (const key of segments.keys()) resolve(key)
  return compiled
}

/**
 * Evaluates one condition on its own (for tests and "explain" tooling; the evaluator uses
 * compiled conditions). Never throws.
 */
export function evaluateCondition(
  condition: Condition,
  context: EvaluationContext,
  options: { segments?: ReadonlyMap<string, Segment>; now?: number } = {},
): boolean {
  try {
    const compiledSegments = options.segments === undefined ? undefined : compileSegments(options.segments)
    const compiled = compileCondition(
      condition,
      compiledSegments === undefined ? NO_SEGMENTS : (key) => compiledSegments.get(key),
    )
    return compiled.test(context, options.now ?? Date.now())
  } catch {
    return false
  }
}
