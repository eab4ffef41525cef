/**
 * The evaluation budget of one flag (issue 10 item 4), enforced on write: a flag the API accepts
 * evaluates in about a millisecond for any context whose attribute values are at most 1 KiB.
 * `matches` runs on a linear-time NFA whose cost is (states × input length); measured on the
 * shared 2-core machine at roughly 20–30 ns per state and character (benchmarks/worst-flag.ts: the worst
 * accepted flag takes 0.8–1.1 ms there), so a flag may hold at most
 * `MAX_PATTERN_STATES` states over all its `matches` conditions. Every other operator is cheap
 * per condition, so conditions are counted. See benchmarks/worst-flag.ts for the worst flag this
 * accepts and what it costs.
 */
import { FlagstoneError } from '../../errors.js'
import { patternCost } from '../matchers/index.js'
import type { FlagRule } from '../model.js'

/** Conditions over all the rules of a flag (or of its settings in one environment). */
export const MAX_FLAG_CONDITIONS = 1000
/** NFA states over all the `matches` conditions of a flag (or of its settings in one environment). */
export const MAX_PATTERN_STATES = 32

export function checkEvaluationBudget(rules: readonly FlagRule[], path: string): void {
  let conditions = 0
  let states = 0
  rules.forEach((rule, i) =>
    rule.conditions.forEach((condition, j) => {
      conditions++
      const field = `${path}[${i}].conditions[${j}]`
      if (conditions > MAX_FLAG_CONDITIONS) {
        throw over(field, `more than ${MAX_FLAG_CONDITIONS} conditions in all the rules`, MAX_FLAG_CONDITIONS)
      }
      if (condition.operator === 'matches' && typeof condition.value === 'string') {
        states += patternCost(condition.value)
        if (states > MAX_PATTERN_STATES) {
          throw over(
            `${field}.value`,
            `the "matches" patterns of all the rules need ${states} states, more than the budget of ${MAX_PATTERN_STATES} ` +
              '(each costs states × input length on every evaluation); use fewer or simpler patterns, or in / starts_with / ends_with',
            MAX_PATTERN_STATES,
          )
        }
      }
    }),
  )
}

function over(field: string, problem: string, budget: number): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `${field}: ${problem}`, { details: { field, budget } })
}
