/**
 * The evaluation budget of one flag (issue 10 item 4), enforced on write: a flag the API accepts
 * evaluates in well under a millisecond for any context whose attribute values are at most 1 KiB.
 *
 * What costs time is scanning the attribute: `matches` runs on a linear-time NFA whose cost is
 * (states × input length), and a substring search (`contains` / `not_contains` of a string) costs
 * about as much as one NFA state on 1 KiB: V8's `includes` is slow on repetitive input (`ab` in
 * 1 KiB of `a`: 4–15 µs, measured in benchmarks/worst-flag.ts's conditions), so before it was
 * counted, 1,000 such conditions took about 5 ms while the budget said "cheap". Both draw on one
 * budget, `MAX_SEARCH_COST`. `starts_with` / `ends_with` compare at most their value's length, so
 * their values' characters are counted; every other operator (`eq`, `in` on a Set, numbers, dates,
 * versions) is cheap per condition, so conditions are counted. benchmarks/worst-flag.ts builds the
 * worst flag this accepts and measures it.
 */
import { FlagstoneError } from '../../errors.js'
import { patternCost } from '../matchers/index.js'
import type { Condition, FlagRule, Segment } from '../model.js'

/** Conditions over all the rules of a flag (or of its settings in one environment). */
export const MAX_FLAG_CONDITIONS = 1000
/**
 * Scans of the attribute over all the rules: each NFA state of a `matches` pattern costs 1 (a plain
 * text pattern 1), each `contains` / `not_contains` of a string costs 1. A user-agent pattern such
 * as `^Mozilla/5\.0 .*(iPhone|iPad)` needs 29.
 */
export const MAX_SEARCH_COST = 32
/** @deprecated the `matches` states now share `MAX_SEARCH_COST` with substring searches. */
export const MAX_PATTERN_STATES = MAX_SEARCH_COST
/** Characters over all the `starts_with` / `ends_with` values (each compares at most its value's length). */
export const MAX_AFFIX_CHARS = 64 * 1024

const SEARCHES = new Set(['contains', 'not_contains'])
const AFFIXES = new Set(['starts_with', 'ends_with'])

/**
 * What one evaluation spends, counted condition by condition; `add` throws INVALID_ARGUMENT naming
 * `field` and the limit as soon as one budget is exceeded. `via` names the segment a condition
 * comes from (its cost is the flag's: the evaluator inlines segments).
 */
class Tally {
  conditions = 0
  search = 0
  affix = 0

  add(condition: Condition, field: string, via?: string): void {
    const from = via === undefined ? '' : ` (counting segment "${via}", which this condition reaches)`
    this.conditions++
    if (this.conditions > MAX_FLAG_CONDITIONS) {
      throw over(field, `more than ${MAX_FLAG_CONDITIONS} conditions in all the rules${from}`, MAX_FLAG_CONDITIONS, via)
    }
    if (typeof condition.value !== 'string') return
    if (condition.operator === 'matches' || SEARCHES.has(condition.operator)) {
      this.search += condition.operator === 'matches' ? patternCost(condition.value) : 1
      if (this.search > MAX_SEARCH_COST) {
        throw over(
          via === undefined ? `${field}.value` : field,
          `the "matches" patterns and "contains" / "not_contains" searches of all the rules${from} cost ${this.search}, ` +
            `more than the search budget of ${MAX_SEARCH_COST} (a pattern costs its NFA states, a substring search 1: ` +
            'each scans the attribute on every evaluation); use fewer or simpler patterns, or eq / in / starts_with / ends_with',
          MAX_SEARCH_COST,
          via,
        )
      }
    } else if (AFFIXES.has(condition.operator)) {
      this.affix += condition.value.length
      if (this.affix > MAX_AFFIX_CHARS) {
        throw over(
          via === undefined ? `${field}.value` : field,
          `the "starts_with" / "ends_with" values of all the rules${from} have ${this.affix} characters, ` +
            `more than the budget of ${MAX_AFFIX_CHARS}`,
          MAX_AFFIX_CHARS,
          via,
        )
      }
    }
  }
}

export function checkEvaluationBudget(rules: readonly FlagRule[], path: string): void {
  const tally = new Tally()
  rules.forEach((rule, i) => rule.conditions.forEach((condition, j) => tally.add(condition, `${path}[${i}].conditions[${j}]`)))
}

const isSegmentCondition = (c: Condition): c is Condition & { value: string } =>
  (c.operator === 'in_segment' || c.operator === 'not_in_segment') && typeof c.value === 'string'

/**
 * The budget with segments (issue 10 item 4): `rules` plus every segment they reach (named by a
 * segment condition, or a parent or segment condition of a segment reached), each counted ONCE,
 * since the evaluator computes a segment's membership at most once per evaluation
 * (matchers/segments.ts) — must fit the one flag budget. A missing segment costs nothing (its
 * reference is refused elsewhere). INVALID_ARGUMENT names the condition that reaches the segment
 * which went over, the limit (`details.budget`) and the segment (`details.segment`).
 */
export function checkSegmentBudget(
  rules: readonly FlagRule[] | undefined,
  segments: (key: string) => Segment | undefined,
  path = 'rules',
): void {
  if (rules === undefined || !rules.some((rule) => rule.conditions.some(isSegmentCondition))) return
  const tally = new Tally()
  rules.forEach((rule, i) => rule.conditions.forEach((condition, j) => tally.add(condition, `${path}[${i}].conditions[${j}]`)))
  const seen = new Set<string>()
  rules.forEach((rule, i) =>
    rule.conditions.forEach((condition, j) => {
      if (!isSegmentCondition(condition)) return
      const field = `${path}[${i}].conditions[${j}].value`
      const stack = [condition.value]
      while (stack.length > 0) {
        const key = stack.pop()!
        if (seen.has(key)) continue
        seen.add(key)
        const segment = segments(key)
        if (segment === undefined) continue
        for (const c of segment.conditions ?? []) {
          tally.add(c, field, key)
          if (isSegmentCondition(c)) stack.push(c.value)
        }
        if (segment.parent !== undefined) stack.push(segment.parent)
      }
    }),
  )
}

/** The segments a segment condition in `rules` reaches, `key` among them? (Whether a write of `key` can change their cost.) */
export function reachesSegment(
  rules: readonly FlagRule[] | undefined,
  key: string,
  segments: (key: string) => Segment | undefined,
): boolean {
  const stack = (rules ?? []).flatMap((rule) => rule.conditions.filter(isSegmentCondition).map((c) => c.value))
  const seen = new Set<string>()
  while (stack.length > 0) {
    const next = stack.pop()!
    if (next === key) return true
    if (seen.has(next)) continue
    seen.add(next)
    const segment = segments(next)
    if (segment === undefined) continue
    for (const c of segment.conditions ?? []) if (isSegmentCondition(c)) stack.push(c.value)
    if (segment.parent !== undefined) stack.push(segment.parent)
  }
  return false
}

function over(field: string, problem: string, budget: number, segment?: string): FlagstoneError {
  const details = segment === undefined ? { field, budget } : { field, budget, segment }
  return new FlagstoneError('INVALID_ARGUMENT', `${field}: ${problem}`, { details })
}
