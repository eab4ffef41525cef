/**
 * Condition operators: ONE table holding, for every operator, what it accepts on write (`check`)
 * and how it is compiled into a test (`compile`) once per snapshot, so evaluation only runs
 * closures over pre-parsed values (sets, regex programs, semvers, instants, CIDR blocks). The
 * table's type is `{ [K in Operator]: … }`: an operator added to `OPERATORS` without both fails to compile.
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
import { FLAG_KEY_PATTERN, type Condition, type Operator } from '../model.js'
import { cidrContains, parseCidr, parseIp, type CidrBlock } from './cidr.js'
import { compileSafeRegex, RegexPatternError } from './regex.js'
import {
  checkPrimitive,
  checkString,
  compileReader,
  describe,
  isOperator,
  isPrimitive,
  MAX_CONDITION_LIST_LENGTH,
  MAX_MATCH_INPUT_LENGTH,
  NEVER,
  toEpochMs,
  type AttributeReader,
  type CompiledCondition,
  type ConditionTest,
} from './values.js'

/** Resolves a segment key to its compiled membership test; undefined for an unknown or broken segment. */
export type SegmentResolver = (key: string) => CompiledCondition | undefined

export const NO_SEGMENTS: SegmentResolver = () => undefined

interface OperatorSpec {
  /** What is wrong with `value` on write, or undefined when it is acceptable. */
  check(value: unknown): string | undefined
  /**
   * The test for a value `check` accepted, reading the attribute through `read`. A segment
   * operator returns a whole compiled condition (its `usesNow` is the segment's).
   */
  compile(value: unknown, read: AttributeReader, segments: SegmentResolver): ConditionTest | CompiledCondition
}

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

function checkOrdered(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'must be a finite number'
  return checkString(value, 'a number or a string')
}

function checkList(value: unknown): string | undefined {
  if (!Array.isArray(value)) return `must be an array, got ${describe(value)}`
  if (value.length > MAX_CONDITION_LIST_LENGTH) return `must have at most ${MAX_CONDITION_LIST_LENGTH} items`
  for (let i = 0; i < value.length; i++) {
    const problem = checkPrimitive(value[i])
    if (problem !== undefined) return `[${i}] ${problem}`
  }
  return undefined
}

function checkSemver(value: unknown): string | undefined {
  const problem = checkString(value, 'a semantic version string')
  if (problem !== undefined) return problem
  return semver.parse(value as string) === null ? `must be a semantic version (semver.org), got "${value as string}"` : undefined
}

function checkDate(value: unknown): string | undefined {
  return toEpochMs(value) === undefined
    ? `must be an ISO-8601 date string, epoch milliseconds or a Date, got ${describe(value)}`
    : undefined
}

function checkSegmentKey(value: unknown): string | undefined {
  if (typeof value !== 'string' || !FLAG_KEY_PATTERN.test(value)) {
    return `must be a segment key matching ${FLAG_KEY_PATTERN.source}, got ${describe(value)}`
  }
  return undefined
}

const checkAbsent = (value: unknown) =>
  value === undefined || value === null ? undefined : 'must be absent for exists / not_exists'

function ordered(accept: (actual: string | number, expected: string | number) => boolean): OperatorSpec {
  return {
    check: checkOrdered,
    compile: (value, read) => {
      const expected = value as string | number
      const type = typeof expected
      return (c, n) => {
        const actual = read(c, n)
        return typeof actual === type && accept(actual as string | number, expected)
      }
    },
  }
}

function membership(positive: boolean): OperatorSpec {
  return {
    check: checkList,
    compile: (value, read) => {
      const set = new Set(value as (string | number | boolean)[])
      return (c, n) => {
        const actual = read(c, n)
        if (!isPrimitive(actual)) return false
        return set.has(actual) === positive
      }
    },
  }
}

function containment(positive: boolean): OperatorSpec {
  return {
    check: checkPrimitive,
    compile: (value, read) => {
      const expected = value as string | number | boolean
      return (c, n) => {
        const actual = read(c, n)
        if (typeof actual === 'string') return typeof expected === 'string' ? actual.includes(expected) === positive : false
        if (Array.isArray(actual)) return actual.includes(expected) === positive
        return false
      }
    },
  }
}

function affix(test: (actual: string, expected: string) => boolean): OperatorSpec {
  return {
    check: (value) => checkString(value, 'a string'),
    compile: (value, read) => {
      const expected = value as string
      return (c, n) => {
        const actual = read(c, n)
        return typeof actual === 'string' && test(actual, expected)
      }
    },
  }
}

function presence(present: boolean): OperatorSpec {
  return {
    check: checkAbsent,
    compile: (_value, read) => (c, n) => {
      const actual = read(c, n)
      return (actual !== undefined && actual !== null) === present
    },
  }
}

function semverOrder(accept: (comparison: number) => boolean): OperatorSpec {
  return {
    check: checkSemver,
    compile: (value, read) => {
      const expected = semver.parse(value as string)!
      return (c, n) => {
        const actual = read(c, n)
        if (typeof actual !== 'string') return false
        const parsed = parseSemver(actual)
        // compare() ignores build metadata and orders pre-releases below their release (semver.org §11).
        return parsed !== null && accept(parsed.compare(expected))
      }
    },
  }
}

function dateOrder(before: boolean): OperatorSpec {
  return {
    check: checkDate,
    compile: (value, read) => {
      const expected = toEpochMs(value)!
      return (c, n) => {
        const actual = toEpochMs(read(c, n))
        if (actual === undefined) return false
        return before ? actual < expected : actual > expected
      }
    },
  }
}

function segmentMembership(positive: boolean): OperatorSpec {
  return {
    check: checkSegmentKey,
    compile: (value, _read, segments) => {
      const segment = segments(value as string)
      if (segment === undefined) return NEVER
      if (positive) return segment
      const inner = segment.test
      return { test: (context, now) => !inner(context, now), usesNow: segment.usesNow }
    },
  }
}

const OPERATOR_TABLE: { readonly [K in Operator]: OperatorSpec } = {
  eq: {
    check: checkPrimitive,
    compile: (value, read) => {
      const expected = value as string | number | boolean
      return (c, n) => read(c, n) === expected
    },
  },
  ne: {
    check: checkPrimitive,
    compile: (value, read) => {
      const expected = value as string | number | boolean
      const type = typeof expected
      return (c, n) => {
        const actual = read(c, n)
        return typeof actual === type && actual !== expected && !(type === 'number' && Number.isNaN(actual))
      }
    },
  },
  gt: ordered((a, e) => a > e),
  gte: ordered((a, e) => a >= e),
  lt: ordered((a, e) => a < e),
  lte: ordered((a, e) => a <= e),
  in: membership(true),
  not_in: membership(false),
  contains: containment(true),
  not_contains: containment(false),
  starts_with: affix((a, e) => a.startsWith(e)),
  ends_with: affix((a, e) => a.endsWith(e)),
  matches: {
    check: (value) => {
      const problem = checkString(value, 'a regular expression string')
      if (problem !== undefined) return problem
      try {
        compileSafeRegex(value as string)
        return undefined
      } catch (error) {
        if (error instanceof RegexPatternError) return `is not an accepted pattern: ${error.message}`
        throw error
      }
    },
    compile: (value, read) => {
      const re = compileSafeRegex(value as string)
      return (c, n) => {
        const actual = read(c, n)
        return typeof actual === 'string' && actual.length <= MAX_MATCH_INPUT_LENGTH && re.test(actual)
      }
    },
  },
  exists: presence(true),
  not_exists: presence(false),
  semver_eq: semverOrder((r) => r === 0),
  semver_ne: semverOrder((r) => r !== 0),
  semver_gt: semverOrder((r) => r > 0),
  semver_gte: semverOrder((r) => r >= 0),
  semver_lt: semverOrder((r) => r < 0),
  semver_lte: semverOrder((r) => r <= 0),
  date_before: dateOrder(true),
  date_after: dateOrder(false),
  in_cidr: {
    check: (value) => {
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
    },
    compile: (value, read) => {
      const blocks: CidrBlock[] = (Array.isArray(value) ? (value as string[]) : [value as string]).map((b) => parseCidr(b)!)
      let lastText: string | undefined
      let lastAddress: ReturnType<typeof parseIp>
      return (c, n) => {
        const actual = read(c, n)
        if (typeof actual !== 'string') return false
        if (actual !== lastText) {
          lastAddress = parseIp(actual)
          lastText = actual
        }
        const address = lastAddress
        if (address === undefined) return false
        for (const block of blocks) if (cidrContains(block, address)) return true
        return false
      }
    },
  },
  in_segment: segmentMembership(true),
  not_in_segment: segmentMembership(false),
}

/**
 * What is wrong with `value` as the value of a condition with `operator`, or undefined when it is
 * acceptable. The codec turns the answer into an INVALID_ARGUMENT naming the field.
 */
export function checkConditionValue(operator: Operator, value: unknown): string | undefined {
  return OPERATOR_TABLE[operator].check(value)
}

/**
 * Compiles one condition. Never throws: an unknown operator or an invalid value (a snapshot that
 * bypassed the codec) compiles to NEVER.
 */
export function compileCondition(condition: Condition, segments: SegmentResolver = NO_SEGMENTS): CompiledCondition {
  try {
    const operator = condition.operator
    if (!isOperator(operator)) return NEVER
    const value: unknown = condition.value
    const spec = OPERATOR_TABLE[operator]
    if (spec.check(value) !== undefined) return NEVER
    const segmentOperator = operator === 'in_segment' || operator === 'not_in_segment'
    // Segment operators ignore the attribute; every other operator needs one.
    if (!segmentOperator && typeof condition.attribute !== 'string') return NEVER
    const read = segmentOperator ? NO_READ : compileReader(condition.attribute)
    const compiled = spec.compile(value, read, segments)
    return typeof compiled === 'function' ? { test: compiled, usesNow: condition.attribute === 'now' } : compiled
  } catch {
    return NEVER
  }
}

const NO_READ: AttributeReader = () => undefined
