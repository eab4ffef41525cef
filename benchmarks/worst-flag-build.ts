/**
 * The most expensive flag the write-time budget (src/flags/codec/budget.ts) accepts, and the
 * context that makes every condition run: shared by benchmarks/worst-flag.ts (its cost) and
 * test/hardening/evaluation-budget.test.ts (accepted, and bounded).
 */
import { MAX_FLAG_CONDITIONS, MAX_PATTERN_STATES } from '../src/flags/codec/budget.js'
import { patternCost } from '../src/flags/matchers/index.js'
import type { Condition, EvaluationContext, FlagInput, FlagRule } from '../src/flags/model.js'

const KIB = 1024
/** Every attribute at the 1 KiB the target names. */
export const WORST_CONTEXT: EvaluationContext = {
  targetingKey: 'u'.repeat(KIB),
  attributes: { ua: 'a'.repeat(KIB), b: 'b'.repeat(KIB) },
}

/**
 * Patterns that match only at the end of the 1 KiB input (a full scan each, the NFA's worst), as
 * many as fit the state budget; then `contains`/`ends_with` conditions, true on the 1 KiB
 * attributes, up to the condition budget; each rule's last condition false, so no rule
 * short-circuits early and every rule is tried.
 */
export function worstFlag(key = 'worst'): FlagInput {
  const pattern = '^(?:a|aa)*$'
  const perPattern = patternCost(pattern)
  const patterns = Math.floor(MAX_PATTERN_STATES / perPattern)
  const rules: FlagRule[] = []
  const RULE_SIZE = 100
  let left = MAX_FLAG_CONDITIONS
  let patternsLeft = patterns
  for (let r = 0; left > 0; r++) {
    const size = Math.min(RULE_SIZE, left)
    const conditions: Condition[] = []
    for (let c = 0; c < size - 1; c++) {
      if (patternsLeft > 0) {
        patternsLeft--
        conditions.push({ attribute: 'ua', operator: 'matches', value: pattern })
      } else {
        conditions.push(
          c % 2 === 0
            ? { attribute: 'ua', operator: 'contains', value: 'a'.repeat(512) }
            : { attribute: 'b', operator: 'ends_with', value: 'b'.repeat(512) },
        )
      }
    }
    conditions.push({ attribute: 'b', operator: 'eq', value: 'never' })
    rules.push({ id: `r${r}`, name: `rule ${r}`, priority: r, enabled: true, conditions, serveEnabled: true })
    left -= size
  }
  return { key, name: key, type: 'boolean', status: 'active', defaultEnabled: false, tags: [], rules } as unknown as FlagInput
}
