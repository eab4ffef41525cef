/**
 * The most expensive flags the write-time budget (src/flags/codec/budget.ts) accepts, and the
 * context that makes every condition run: shared by benchmarks/worst-flag.ts (their cost) and
 * test/hardening/evaluation-budget.test.ts (accepted, and bounded).
 */
import { MAX_AFFIX_CHARS, MAX_FLAG_CONDITIONS, MAX_SEARCH_COST } from '../src/flags/codec/budget.js'
import { patternCost } from '../src/flags/matchers/index.js'
import type { Condition, EvaluationContext, FlagInput, FlagRule } from '../src/flags/model.js'

const KIB = 1024
/** Every attribute at the 1 KiB the target names. */
export const WORST_CONTEXT: EvaluationContext = {
  targetingKey: 'u'.repeat(KIB),
  attributes: { ua: 'a'.repeat(KIB), b: 'b'.repeat(KIB) },
}

/**
 * The costliest pattern per NFA state found (`a?` chains keep every state alive on every
 * character: about 2-4x `^(?:a|aa)*$` per state, measured), 31 states, and the costliest substring
 * search (`ab` in 1 KiB of `a`: V8 tries every position).
 */
export const WORST_PATTERN = `${'a?'.repeat(14)}a$`
const WORST_SEARCH: Condition = { attribute: 'ua', operator: 'not_contains', value: 'ab' }
const AFFIX_LENGTH = 512

/**
 * The search budget spent on `kind` (one pattern of `a?`s, true only at the input's end, or one
 * substring search per unit, true as it finds nothing: both scan the whole 1 KiB, and nothing
 * short-circuits), then `ends_with` conditions
 * of 512 characters, true on the 1 KiB attribute, up to the affix budget, then `eq` conditions
 * comparing 1 KiB strings that are equal, up to the condition budget; each rule's last condition
 * false, so every rule is tried.
 */
export function worstFlag(key = 'worst', kind: 'patterns' | 'searches' = 'patterns'): FlagInput {
  const searches: Condition[] = []
  if (kind === 'patterns') {
    for (let cost = 0; cost + patternCost(WORST_PATTERN) <= MAX_SEARCH_COST; cost += patternCost(WORST_PATTERN)) {
      searches.push({ attribute: 'ua', operator: 'matches', value: WORST_PATTERN })
    }
  } else {
    for (let i = 0; i < MAX_SEARCH_COST; i++) searches.push(WORST_SEARCH)
  }
  const affixes = Math.floor(MAX_AFFIX_CHARS / AFFIX_LENGTH)
  const rules: FlagRule[] = []
  const RULE_SIZE = 100
  let left = MAX_FLAG_CONDITIONS
  let made = 0
  for (let r = 0; left > 0; r++) {
    const size = Math.min(RULE_SIZE, left)
    const conditions: Condition[] = []
    for (let c = 0; c < size - 1; c++, made++) {
      if (made < searches.length) conditions.push(searches[made]!)
      else if (made < searches.length + affixes) {
        conditions.push({ attribute: 'b', operator: 'ends_with', value: 'b'.repeat(AFFIX_LENGTH) })
      } else conditions.push({ attribute: 'b', operator: 'eq', value: 'b'.repeat(KIB) })
    }
    conditions.push({ attribute: 'b', operator: 'eq', value: 'never' })
    rules.push({ id: `r${r}`, name: `rule ${r}`, priority: r, enabled: true, conditions, serveEnabled: true })
    left -= size
  }
  return { key, name: key, type: 'boolean', status: 'active', defaultEnabled: false, tags: [], rules } as unknown as FlagInput
}

/**
 * The segment case: segment `key` spends the whole search budget on `WORST_PATTERN` (true on the
 * 1 KiB attribute), and the flag names it in every condition but each rule's last (false), so
 * every rule is tried: 989 references in all. Before segment membership was memoized per
 * evaluation, each `in_segment` ran the segment again: 989 × its cost.
 */
export function worstSegment(key = 'worst-segment'): { key: string; name: string; conditions: Condition[] } {
  const conditions: Condition[] = []
  for (let cost = 0; cost + patternCost(WORST_PATTERN) <= MAX_SEARCH_COST; cost += patternCost(WORST_PATTERN)) {
    conditions.push({ attribute: 'ua', operator: 'matches', value: WORST_PATTERN })
  }
  return { key, name: key, conditions }
}

export function worstSegmentFlag(key = 'segments', segment = worstSegment()): FlagInput {
  const rules: FlagRule[] = []
  const RULE_SIZE = 100
  // The segment's conditions count against the flag's condition budget too (once).
  let left = MAX_FLAG_CONDITIONS - segment.conditions.length
  for (let r = 0; left > 0; r++) {
    const size = Math.min(RULE_SIZE, left)
    const conditions: Condition[] = []
    for (let c = 0; c < size - 1; c++) conditions.push({ attribute: 'ua', operator: 'in_segment', value: segment.key })
    conditions.push({ attribute: 'b', operator: 'eq', value: 'never' })
    rules.push({ id: `r${r}`, name: `rule ${r}`, priority: r, enabled: true, conditions, serveEnabled: true })
    left -= size
  }
  return { key, name: key, type: 'boolean', status: 'active', defaultEnabled: false, tags: [], rules } as unknown as FlagInput
}
