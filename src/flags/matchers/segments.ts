/** Segments: membership tests compiled once per snapshot (parents and referenced segments included), and single-condition evaluation. */
import type { Condition, EvaluationContext, Segment } from '../model.js'
import { compileCondition, NO_SEGMENTS, type SegmentResolver } from './operators.js'
import { ALWAYS, allOf, type CompiledCondition, NEVER } from './values.js'

/**
 * Segment membership is computed at most once per evaluation (issue 10 item 4): a flag naming one
 * segment in 990 conditions must cost the segment once, not 990 times. Each evaluation takes a new
 * number (`nextEvaluation`, called by the evaluator before the rules); a segment's test keeps its
 * last answer with the evaluation number, context object and `now` it was computed for, and
 * answers it again only when all three are the same, so a caller that does not take a number
 * (or passes another context) still gets a fresh, correct answer. Evaluation is synchronous, so
 * one number never spans two evaluations.
 */
let evaluation = 0
export function nextEvaluation(): void {
  evaluation = (evaluation + 1) | 0
}

function memoized(condition: CompiledCondition): CompiledCondition {
  if (condition === NEVER || condition === ALWAYS) return condition
  const inner = condition.test
  let at = -1
  let lastContext: EvaluationContext | undefined
  let lastNow = 0
  let answer = false
  return {
    test: (context, now) => {
      if (at === evaluation && lastContext === context && lastNow === now) return answer
      answer = inner(context, now)
      at = evaluation
      lastContext = context
      lastNow = now
      return answer
    },
    usesNow: condition.usesNow,
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
    const result = memoized(allOf(parent === undefined ? own : [...own, parent]))
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
