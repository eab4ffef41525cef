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
import type { FlagRule } from '../model.js'

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

export function checkEvaluationBudget(rules: readonly FlagRule[], path: string): void {
  let conditions = 0
  let search = 0
  let affix = 0
  rules.forEach((rule, i) =>
    rule.conditions.forEach((condition, j) => {
      conditions++
      const field = `${path}[${i}].conditions[${j}]`
      if (conditions > MAX_FLAG_CONDITIONS) {
        throw over(field, `more than ${MAX_FLAG_CONDITIONS} conditions in all the rules`, MAX_FLAG_CONDITIONS)
      }
      if (typeof condition.value !== 'string') return
      if (condition.operator === 'matches' || SEARCHES.has(condition.operator)) {
        search += condition.operator === 'matches' ? patternCost(condition.value) : 1
        if (search > MAX_SEARCH_COST) {
          throw over(
            `${field}.value`,
            `the "matches" patterns and "contains" / "not_contains" searches of all the rules cost ${search}, ` +
              `more than the search budget of ${MAX_SEARCH_COST} (a pattern costs its NFA states, a substring search 1: ` +
              'each scans the attribute on every evaluation); use fewer or simpler patterns, or eq / in / starts_with / ends_with',
            MAX_SEARCH_COST,
          )
        }
      } else if (AFFIXES.has(condition.operator)) {
        affix += condition.value.length
        if (affix > MAX_AFFIX_CHARS) {
          throw over(
            `${field}.value`,
            `the "starts_with" / "ends_with" values of all the rules have ${affix} characters, more than the budget of ${MAX_AFFIX_CHARS}`,
            MAX_AFFIX_CHARS,
          )
        }
      }
    }),
  )
}

function over(field: string, problem: string, budget: number): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `${field}: ${problem}`, { details: { field, budget } })
}
