/**
 * Scheduled changes and rollout phases (evaluation step 4), applied at evaluation time: the
 * effective flag at `now` is the stored flag with every change whose `at <= now` applied in time
 * order. No job, no lock, no missed run: every process switches at the same instant.
 *
 * ## What each change does
 *
 * - `enable`: `status` becomes `active`, and a boolean flag's `defaultEnabled` becomes `true`
 *   ("enable the flag at 12:00" = from 12:00 the flag serves its on value, as litestar-flags and
 *   LaunchDarkly's scheduled "turn on" do). Rules, overrides and variants still apply as usual.
 * - `disable`: `status` becomes `inactive` (everyone gets the off value, reason DISABLED, overrides
 *   included, like a kill switch), and a boolean flag's `defaultEnabled` becomes `false`.
 * - An `archived` flag stays archived: `enable` / `disable` do not bring a retired flag back.
 * - `setValue`: the flag's default value: `defaultValue` for string / number / json flags (which is
 *   also what they serve when off), `defaultEnabled` for boolean flags. The value was checked against
 *   the flag's type on write.
 * - `setRollout`: the flag-level rollout percentage (below).
 *
 * ## The flag-level rollout percentage
 *
 * Rollout phases (`5% → 25% → 50% → 100%`) and `setRollout` changes set one number: the flag's
 * rollout percentage, a gate applied after overrides and time schedules and before rules. A
 * subject outside it gets the flag's off value with reason DISABLED; a subject inside it is
 * evaluated as usual (rules with their own `rolloutPercentage`, variants, default). It buckets
 * with the flag's rollout hash (`murmur3(flagKey + ':' + targetingKey) % 100 + 1 <= percentage`),
 * the same bucket as rule rollouts, so raising the percentage only ever adds subjects, and a
 * subject without a targeting key is outside any partial percentage.
 *
 * Before anything sets it: a flag with rollout phases is at **0%** until its first phase is due (a
 * rollout plan that starts next Monday must not serve the feature to everyone until then); a flag
 * without phases has no gate (100%) until a `setRollout` is due.
 *
 * The percentage at `now` is set by the latest of all phases and `setRollout` changes with
 * `at <= now`. Order of events: by `at`; at one instant phases come before scheduled changes, each
 * in document order (so a `setRollout` beats a phase at the same instant, and of two changes at
 * one instant the later in the document wins).
 *
 * ## Folding
 *
 * `foldDueChanges(flag, now)` writes what is due into the document (the background fold-in task
 * stores it with `compareAndSet`): due changes are applied and removed, and all phases and
 * `setRollout` changes due so far collapse into one phase (the latest; its `at` kept) that carries
 * the current percentage. Evaluating the folded flag at any `t >= now` gives the same result as
 * evaluating the stored one, in every environment (environments override the base flag's fields
 * whether the base was folded or not).
 */
import type { FeatureFlag, FlagValue, RolloutPhase, ScheduledChange } from '../model.js'

/** The flag as it is at an instant, and the interval over which that holds. */
export interface ScheduledState {
  /**
   * The flag with every change due at `now` applied and removed from `scheduledChanges`, and every
   * phase due collapsed into one (the current percentage); what `foldDueChanges` writes.
   * The same object as the input when nothing was due and at most one phase lies in the past.
   */
  readonly flag: FeatureFlag
  /** The flag-level rollout percentage at `now`, 0..100; `undefined` when there is none (no phases, no `setRollout` due: no gate). */
  readonly rolloutPercentage: number | undefined
  /** The state holds for every instant in `[from, until)` (epoch ms; `-Infinity` / `Infinity` when unbounded). */
  readonly from: number
  readonly until: number
  /** The scheduled changes applied, in the order they were applied. */
  readonly applied: readonly ScheduledChange[]
  /** Due phases that were folded away (every due phase but the one kept, which may be a new one standing for a `setRollout`). */
  readonly removedPhases: readonly RolloutPhase[]
}

/** What `foldDueChanges` returns when something is due. */
export interface FoldResult {
  /** The flag to store (its `version` / `updatedAt` untouched: the repository sets them on write). */
  readonly flag: FeatureFlag
  /** The changes applied, in the order they were applied. */
  readonly applied: readonly ScheduledChange[]
  /** The phases replaced by the single collapsed phase. */
  readonly removedPhases: readonly RolloutPhase[]
}

interface PhaseEvent {
  readonly at: number
  readonly phase: RolloutPhase
  readonly change?: undefined
}
interface ChangeEvent {
  readonly at: number
  readonly change: ScheduledChange
  readonly phase?: undefined
}
type ScheduleEvent = PhaseEvent | ChangeEvent

const eventCache = new WeakMap<FeatureFlag, readonly ScheduleEvent[]>()

function timeOf(value: Date | number): number {
  return value instanceof Date ? value.getTime() : value
}

/** Phases and changes in application order: by instant, phases before changes, then document order. */
function eventsOf(flag: FeatureFlag): readonly ScheduleEvent[] {
  let events = eventCache.get(flag)
  if (events === undefined) {
    const list: { event: ScheduleEvent; rank: number }[] = []
    flag.rolloutPhases.forEach((phase, i) => list.push({ event: { at: timeOf(phase.at), phase }, rank: i }))
    const offset = flag.rolloutPhases.length
    flag.scheduledChanges.forEach((change, i) => list.push({ event: { at: timeOf(change.at), change }, rank: offset + i }))
    // An instant that is not a number (a corrupt document) is never due.
    events = list
      .filter(({ event }) => !Number.isNaN(event.at))
      .sort((a, b) => a.event.at - b.event.at || a.rank - b.rank)
      .map(({ event }) => event)
    eventCache.set(flag, events)
  }
  return events
}

/**
 * The distinct instants (epoch ms, ascending) at which the flag's effective state changes: the
 * `at` of every scheduled change and rollout phase.
 */
export function scheduleInstants(flag: FeatureFlag): number[] {
  const out: number[] = []
  for (const event of eventsOf(flag)) if (out[out.length - 1] !== event.at) out.push(event.at)
  return out
}

/** The first instant after `now` at which the effective flag changes, or `undefined` when nothing is left. */
export function nextScheduleInstant(flag: FeatureFlag, now: Date | number): number | undefined {
  const t = timeOf(now)
  for (const event of eventsOf(flag)) if (event.at > t) return event.at
  return undefined
}

/** The flag with one scheduled change applied (a `setRollout` leaves the flag as it is: the percentage lives in the phases). */
export function applyScheduledChange(flag: FeatureFlag, change: ScheduledChange): FeatureFlag {
  switch (change.change) {
    case 'enable':
    case 'disable':
      return withEnabled(flag, change.change === 'enable')
    case 'setValue':
      return change.value === undefined ? flag : withValue(flag, change.value)
    default:
      return flag
  }
}

/**
 * The flag turned on or off: `status` `active` / `inactive` (an archived flag stays archived) and,
 * for a boolean flag, `defaultEnabled` (and `defaultValue` when present) = `on`. What a scheduled
 * `enable` / `disable` and an environment's `enabled` do.
 */
export function withEnabled(flag: FeatureFlag, on: boolean): FeatureFlag {
  const out: FeatureFlag = { ...flag, status: flag.status === 'archived' ? 'archived' : on ? 'active' : 'inactive' }
  if (flag.type === 'boolean') {
    out.defaultEnabled = on
    // A boolean flag's defaultValue, when present, must agree with defaultEnabled.
    if (flag.defaultValue !== undefined) out.defaultValue = on
  }
  return out
}

function withValue(flag: FeatureFlag, value: FlagValue): FeatureFlag {
  if (flag.type === 'boolean') {
    if (typeof value !== 'boolean') return flag
    const out: FeatureFlag = { ...flag, defaultEnabled: value }
    if (flag.defaultValue !== undefined) out.defaultValue = value
    return out
  }
  return { ...flag, defaultValue: value }
}

/**
 * The flag as it is at `now` (evaluation step 4), with the interval over which that holds. Pure;
 * the sorted event list is memoised per flag object.
 */
export function flagAt(flag: FeatureFlag, now: Date | number): ScheduledState {
  const t = timeOf(now)
  const events = eventsOf(flag)
  let state = flag
  let percentage: { at: number; value: number; phase: RolloutPhase | undefined } | undefined
  const applied: ScheduledChange[] = []
  const duePhases: RolloutPhase[] = []
  let from = -Infinity
  let until = Infinity
  for (const event of events) {
    if (event.at > t) {
      until = event.at
      break
    }
    from = event.at
    if (event.phase !== undefined) {
      duePhases.push(event.phase)
      percentage = { at: event.at, value: event.phase.percentage, phase: event.phase }
    } else {
      applied.push(event.change)
      if (event.change.change === 'setRollout') {
        if (event.change.percentage !== undefined) percentage = { at: event.at, value: event.change.percentage, phase: undefined }
      } else {
        state = applyScheduledChange(state, event.change)
      }
    }
  }
  const rolloutPercentage = percentage?.value ?? (flag.rolloutPhases.length > 0 ? 0 : undefined)
  if (applied.length === 0 && duePhases.length <= 1) {
    return { flag, rolloutPercentage, from, until, applied, removedPhases: [] }
  }
  const appliedSet = new Set(applied)
  const dueSet = new Set(duePhases)
  const kept: RolloutPhase | undefined =
    percentage === undefined ? undefined : (percentage.phase ?? { at: new Date(percentage.at), percentage: percentage.value })
  const rolloutPhases = [...(kept === undefined ? [] : [kept]), ...flag.rolloutPhases.filter((p) => !dueSet.has(p))]
  const folded: FeatureFlag = {
    ...state,
    scheduledChanges: flag.scheduledChanges.filter((c) => !appliedSet.has(c)),
    rolloutPhases,
  }
  return { flag: folded, rolloutPercentage, from, until, applied, removedPhases: duePhases.filter((p) => p !== kept) }
}

/**
 * The flag-level rollout percentage at `now`: the latest due phase or `setRollout`; 0 when the flag
 * has phases and none is due yet; `undefined` (no gate) when it has none and no `setRollout` is due.
 */
export function rolloutPercentageAt(flag: FeatureFlag, now: Date | number): number | undefined {
  const t = timeOf(now)
  let value: number | undefined = flag.rolloutPhases.length > 0 ? 0 : undefined
  for (const event of eventsOf(flag)) {
    if (event.at > t) break
    if (event.phase !== undefined) value = event.phase.percentage
    else if (event.change.change === 'setRollout' && event.change.percentage !== undefined) value = event.change.percentage
  }
  return value
}

/**
 * Folds what is due at `now` into the document: changes with `at <= now` applied (in time order,
 * ties in document order) and removed from `scheduledChanges`; phases in the past collapsed to the
 * one that sets the current percentage (a due `setRollout` becomes that phase). `null` when nothing
 * is due (no change due and at most one phase in the past). Evaluating the result at any
 * `t >= now` gives what evaluating `flag` gives. `version` and `updatedAt` are left to the writer.
 */
export function foldDueChanges(flag: FeatureFlag, now: Date | number): FoldResult | null {
  const state = flagAt(flag, now)
  if (state.flag === flag) return null
  return { flag: state.flag, applied: state.applied, removedPhases: state.removedPhases }
}
