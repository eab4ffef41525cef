/**
 * What every operator builds on: the condition types, attribute readers (a standard context field,
 * else `attributes[name]`, `now` = the evaluation instant), ISO-8601 dates, and the value checks
 * shared by several operators.
 */
import { CONTEXT_STRING_FIELDS, OPERATORS, type EvaluationContext, type Operator } from '../model.js'

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
const STANDARD_FIELDS: ReadonlySet<string> = new Set(CONTEXT_STRING_FIELDS)

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

function attributesValue(context: EvaluationContext, name: string): unknown {
  const attributes = context.attributes
  // Own properties only: `attributes.toString` must not read Object.prototype.
  if (attributes !== undefined && attributes !== null && typeof attributes === 'object' && Object.hasOwn(attributes, name)) {
    return attributes[name]
  }
  // The flat (OpenFeature) shape: a top-level field of that name. `attributes` itself is not one.
  return name !== 'attributes' && Object.hasOwn(context, name) ? context[name] : undefined
}

/** A reader for attribute `name`, built once so evaluation does not re-dispatch on the name. */
export function compileReader(name: string): AttributeReader {
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

export function isPrimitive(value: unknown): value is string | number | boolean {
  const t = typeof value
  return t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(value as number))
}

export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Date) return 'a Date'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 64)}`
}

export function checkString(value: unknown, what: string): string | undefined {
  if (typeof value !== 'string') return `must be ${what}, got ${describe(value)}`
  if (value.length > MAX_CONDITION_STRING_LENGTH) return `must be at most ${MAX_CONDITION_STRING_LENGTH} characters`
  return undefined
}

export function checkPrimitive(value: unknown): string | undefined {
  if (!isPrimitive(value)) return `must be a string, a finite number or a boolean, got ${describe(value)}`
  if (typeof value === 'string' && value.length > MAX_CONDITION_STRING_LENGTH) {
    return `must be at most ${MAX_CONDITION_STRING_LENGTH} characters`
  }
  return undefined
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
