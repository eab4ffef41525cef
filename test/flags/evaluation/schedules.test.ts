import { describe, expect, it } from 'vitest'
import { validateFlag, validateFlagInput } from '../../../src/flags/codec/index.js'
import { compileSnapshot, evaluate, type SnapshotInput } from '../../../src/flags/evaluation/evaluate.js'
import { rolloutBucket } from '../../../src/flags/evaluation/hash.js'
import type {
  EvaluationContext,
  FeatureFlag,
  FlagOverride,
  FlagType,
  FlagValue,
  Reason,
  RolloutPhase,
  ScheduledChange,
} from '../../../src/flags/model.js'
import {
  flagAt,
  foldDueChanges,
  nextScheduleInstant,
  rolloutPercentageAt,
  scheduleInstants,
} from '../../../src/flags/evaluation/schedules.js'
import { FlagstoneError } from '../../../src/errors.js'
import { makeFlag, makeRule } from '../fixtures.js'

const T = Date.parse('2026-06-01T12:00:00Z')
const HOUR = 3_600_000
const DAY = 24 * HOUR

const change = (
  id: string,
  at: number,
  kind: ScheduledChange['change'],
  extra: Partial<ScheduledChange> = {},
): ScheduledChange => ({
  id,
  at: new Date(at),
  change: kind,
  ...extra,
})
const phase = (at: number, percentage: number): RolloutPhase => ({ at: new Date(at), percentage })

/** A targeting key whose rollout bucket for `flagKey` satisfies `predicate`. */
function keyWithBucket(flagKey: string, predicate: (bucket: number) => boolean): string {
  for (let i = 0; ; i++) if (predicate(rolloutBucket(flagKey, `user-${i}`))) return `user-${i}`
}

interface Row {
  name: string
  flag: FeatureFlag
  now: number
  type?: FlagType
  defaultValue?: FlagValue
  context?: EvaluationContext
  overrides?: FlagOverride[]
  expected: { value: FlagValue; reason: Reason; variant?: string }
}

const offUntilT = makeFlag({ key: 'launch', status: 'inactive', scheduledChanges: [change('go', T, 'enable')] })
const onUntilT = makeFlag({ key: 'sunset', defaultEnabled: true, scheduledChanges: [change('stop', T, 'disable')] })
const recolour = makeFlag({
  key: 'colour',
  type: 'string',
  defaultValue: 'blue',
  scheduledChanges: [change('red', T, 'setValue', { value: 'red' })],
})
const inside = keyWithBucket('ramp', (b) => b <= 30)
const outside = keyWithBucket('ramp', (b) => b > 30)
const ramp = makeFlag({
  key: 'ramp',
  defaultEnabled: true,
  scheduledChanges: [change('thirty', T, 'setRollout', { percentage: 30 })],
})

const ROWS: Row[] = [
  // enable
  { name: 'enable at T: off at T − 1 ms', flag: offUntilT, now: T - 1, expected: { value: false, reason: 'DISABLED' } },
  { name: 'enable at T: on at T', flag: offUntilT, now: T, expected: { value: true, reason: 'STATIC' } },
  { name: 'enable at T: on long after', flag: offUntilT, now: T + 365 * DAY, expected: { value: true, reason: 'STATIC' } },
  {
    name: 'enable makes an active boolean flag serve true (defaultEnabled)',
    flag: makeFlag({ key: 'f', scheduledChanges: [change('go', T, 'enable')] }),
    now: T,
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'enable keeps rules: a rule serving false still matches',
    flag: makeFlag({
      key: 'f',
      status: 'inactive',
      rules: [
        makeRule('no-bots', {
          serveEnabled: false,
          conditions: [{ attribute: 'userAgent', operator: 'contains', value: 'bot' }],
        }),
      ],
      scheduledChanges: [change('go', T, 'enable')],
    }),
    now: T,
    context: { userAgent: 'googlebot' },
    expected: { value: false, reason: 'TARGETING_MATCH', variant: 'no-bots' },
  },
  {
    name: 'enable on a string flag: active, serving its value',
    flag: makeFlag({
      key: 'f',
      type: 'string',
      defaultValue: 'on-value',
      status: 'inactive',
      scheduledChanges: [change('go', T, 'enable')],
    }),
    now: T,
    expected: { value: 'on-value', reason: 'STATIC' },
  },
  {
    name: 'an archived flag stays archived',
    flag: makeFlag({ key: 'f', status: 'archived', scheduledChanges: [change('go', T, 'enable')] }),
    now: T,
    expected: { value: false, reason: 'DISABLED' },
  },
  // disable
  { name: 'disable at T: on at T − 1 ms', flag: onUntilT, now: T - 1, expected: { value: true, reason: 'STATIC' } },
  { name: 'disable at T: off at T, reason DISABLED', flag: onUntilT, now: T, expected: { value: false, reason: 'DISABLED' } },
  // setValue
  { name: 'setValue at T: old value at T − 1 ms', flag: recolour, now: T - 1, expected: { value: 'blue', reason: 'STATIC' } },
  { name: 'setValue at T: new value at T', flag: recolour, now: T, expected: { value: 'red', reason: 'STATIC' } },
  {
    name: 'setValue on a boolean flag sets defaultEnabled',
    flag: makeFlag({ key: 'f', scheduledChanges: [change('v', T, 'setValue', { value: true })] }),
    now: T,
    expected: { value: true, reason: 'STATIC' },
  },
  // setRollout: a gate
  {
    name: 'setRollout 30: before T everyone is in',
    flag: ramp,
    now: T - 1,
    context: { targetingKey: outside },
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'setRollout 30: at T a key in the first 30 buckets is in',
    flag: ramp,
    now: T,
    context: { targetingKey: inside },
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'setRollout 30: at T a key outside gets the off value, DISABLED',
    flag: ramp,
    now: T,
    context: { targetingKey: outside },
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'setRollout 30: no targeting key is outside a partial rollout',
    flag: ramp,
    now: T,
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'overrides come before the rollout gate',
    flag: ramp,
    now: T,
    context: { targetingKey: outside, userId: 'qa' },
    overrides: [{ flagKey: 'ramp', entityType: 'user', entityId: 'qa', enabled: true }],
    expected: { value: true, reason: 'OVERRIDE' },
  },
  // order and ties
  {
    name: 'changes apply in time order whatever the document order',
    flag: makeFlag({
      key: 'f',
      type: 'string',
      defaultValue: 'a',
      scheduledChanges: [change('late', T + HOUR, 'setValue', { value: 'c' }), change('early', T, 'setValue', { value: 'b' })],
    }),
    now: T + HOUR,
    expected: { value: 'c', reason: 'STATIC' },
  },
  {
    name: 'two changes at one instant: document order, the later wins',
    flag: makeFlag({
      key: 'f',
      type: 'string',
      defaultValue: 'a',
      scheduledChanges: [change('one', T, 'setValue', { value: 'b' }), change('two', T, 'setValue', { value: 'c' })],
    }),
    now: T,
    expected: { value: 'c', reason: 'STATIC' },
  },
  {
    name: 'disable then enable: on again',
    flag: makeFlag({
      key: 'f',
      defaultEnabled: true,
      scheduledChanges: [change('on', T + HOUR, 'enable'), change('off', T, 'disable')],
    }),
    now: T + HOUR,
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'disable then enable, between them: off',
    flag: makeFlag({
      key: 'f',
      defaultEnabled: true,
      scheduledChanges: [change('on', T + HOUR, 'enable'), change('off', T, 'disable')],
    }),
    now: T + HOUR - 1,
    expected: { value: false, reason: 'DISABLED' },
  },
]

describe('scheduled changes at evaluation time (table, now injected)', () => {
  it.each(ROWS.map((r) => ({ ...r, title: r.name })))('$title', (row) => {
    const snapshot = compileSnapshot({ flags: [row.flag], overrides: row.overrides ?? [] })
    const result = evaluate(
      snapshot,
      row.flag.key,
      row.type ?? row.flag.type,
      row.defaultValue ?? 'caller-default',
      row.context ?? {},
      row.now,
    )
    expect({ value: result.value, reason: result.reason, variant: result.variant, errorCode: result.errorCode }).toEqual({
      variant: undefined,
      errorCode: undefined,
      ...row.expected,
    })
  })
})

describe('rollout phases', () => {
  const T1 = T
  const T2 = T + DAY
  const T3 = T + 2 * DAY
  const T4 = T + 3 * DAY
  const plan = makeFlag({
    key: 'new-checkout',
    defaultEnabled: true,
    rolloutPhases: [phase(T3, 50), phase(T1, 5), phase(T4, 100), phase(T2, 25)],
  })
  const KEYS = Array.from({ length: 20_000 }, (_, i) => `user-${i}`)
  const snapshot = compileSnapshot({ flags: [plan] })
  const admitted = (now: number) =>
    KEYS.filter((targetingKey) => snapshot.evaluate<boolean>('new-checkout', 'boolean', false, { targetingKey }, now).value)

  it('step at their instants: 0 before the first phase, then 5 → 25 → 50 → 100 %', () => {
    const share = (now: number) => admitted(now).length / KEYS.length
    expect(share(T1 - 1)).toBe(0)
    expect(share(T1)).toBeCloseTo(0.05, 1)
    expect(share(T2 - 1)).toBeCloseTo(0.05, 1)
    expect(share(T2)).toBeCloseTo(0.25, 1)
    expect(share(T3 - 1)).toBeCloseTo(0.25, 1)
    expect(share(T3)).toBeCloseTo(0.5, 1)
    expect(share(T4 - 1)).toBeCloseTo(0.5, 1)
    expect(share(T4)).toBe(1)
    // Each step equals the rollout bucket rule exactly.
    for (const [now, pct] of [
      [T1, 5],
      [T2, 25],
      [T3, 50],
    ] as const) {
      expect(admitted(now)).toEqual(KEYS.filter((k) => rolloutBucket('new-checkout', k) <= pct))
    }
  })

  it('a raised percentage only adds subjects (5% ⊂ 25% ⊂ 50%)', () => {
    const at5 = new Set(admitted(T1))
    const at25 = new Set(admitted(T2))
    const at50 = admitted(T3)
    expect([...at5].every((k) => at25.has(k))).toBe(true)
    expect([...at25].every((k) => at50.includes(k))).toBe(true)
  })

  it('percentage by instant, and the next instant', () => {
    expect([T1 - 1, T1, T2, T3, T4, T4 + DAY].map((t) => rolloutPercentageAt(plan, t))).toEqual([0, 5, 25, 50, 100, 100])
    expect(rolloutPercentageAt(makeFlag({ key: 'f' }), T)).toBeUndefined()
    expect(scheduleInstants(plan)).toEqual([T1, T2, T3, T4])
    expect(nextScheduleInstant(plan, T1)).toBe(T2)
    expect(nextScheduleInstant(plan, T1 - 1)).toBe(T1)
    expect(nextScheduleInstant(plan, T4)).toBeUndefined()
  })

  it('a setRollout at the instant of a phase wins over it; the latest of both sets the percentage', () => {
    const both = makeFlag({
      key: 'f',
      rolloutPhases: [phase(T, 10), phase(T + 2 * HOUR, 60)],
      scheduledChanges: [
        change('pause', T, 'setRollout', { percentage: 1 }),
        change('bump', T + HOUR, 'setRollout', { percentage: 40 }),
      ],
    })
    expect([T, T + HOUR, T + 2 * HOUR].map((t) => rolloutPercentageAt(both, t))).toEqual([1, 40, 60])
  })

  it('rule rollouts still apply inside the flag-level gate', () => {
    const flag = makeFlag({ key: 'g', rolloutPhases: [phase(T, 50)], rules: [makeRule('r', { rolloutPercentage: 20 })] })
    const snap = compileSnapshot({ flags: [flag] })
    const k10 = keyWithBucket('g', (b) => b <= 20)
    const k30 = keyWithBucket('g', (b) => b > 20 && b <= 50)
    const k70 = keyWithBucket('g', (b) => b > 50)
    expect(snap.evaluate('g', 'boolean', true, { targetingKey: k10 }, T)).toMatchObject({
      value: true,
      reason: 'TARGETING_MATCH',
      variant: 'r',
    })
    expect(snap.evaluate('g', 'boolean', true, { targetingKey: k30 }, T)).toMatchObject({ value: false, reason: 'DEFAULT' })
    expect(snap.evaluate('g', 'boolean', true, { targetingKey: k70 }, T)).toMatchObject({ value: false, reason: 'DISABLED' })
  })
})

describe('foldDueChanges', () => {
  const T1 = T
  const T2 = T + HOUR
  const T3 = T + 2 * HOUR
  const T4 = T + 3 * HOUR
  const T5 = T + 4 * HOUR
  const rich = makeFlag({
    key: 'rich',
    type: 'string',
    defaultValue: 'v0',
    status: 'inactive',
    rules: [
      makeRule('nordics', { serveValue: 'nordic', conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }] }),
    ],
    variants: [
      { key: 'a', value: 'A', weight: 1 },
      { key: 'b', value: 'B', weight: 1 },
    ],
    rolloutPhases: [phase(T2, 10), phase(T4, 60), phase(T3, 30)],
    scheduledChanges: [
      change('value-2', T3, 'setValue', { value: 'v2' }),
      change('on', T1, 'enable'),
      change('value-1', T1, 'setValue', { value: 'v1' }),
      change('rollout-45', T3, 'setRollout', { percentage: 45 }),
      change('off', T5, 'disable'),
    ],
  })
  const INSTANTS = [T1, T2, T3, T4, T5]
  const PROBES = [T1 - DAY, ...INSTANTS.flatMap((t) => [t - 1, t, t + 1]), T5 + DAY]
  const CONTEXTS: EvaluationContext[] = [
    {},
    { country: 'NO', targetingKey: 'user-1' },
    ...Array.from({ length: 60 }, (_, i) => ({ targetingKey: `user-${i}`, country: i % 3 === 0 ? 'SE' : 'DK' })),
  ]

  const resultsAt = (flag: FeatureFlag, t: number) => {
    const snapshot = compileSnapshot({ flags: [flag] })
    return CONTEXTS.map((context) => {
      const r = snapshot.evaluate('rich', 'string', 'caller', context, t)
      return [r.value, r.reason, r.variant, r.errorCode]
    })
  }

  it('evaluating the folded flag equals evaluating the stored one, for every instant at or after the fold', () => {
    for (const foldAt of PROBES) {
      const folded = foldDueChanges(rich, foldAt)?.flag ?? rich
      expect(() => validateFlag(folded)).not.toThrow()
      for (const t of PROBES.filter((p) => p >= foldAt)) {
        expect({ foldAt, t, results: resultsAt(folded, t) }).toEqual({ foldAt, t, results: resultsAt(rich, t) })
      }
    }
  })

  it('folding in steps equals folding once', () => {
    let stepwise = rich
    for (const t of INSTANTS) stepwise = foldDueChanges(stepwise, t)?.flag ?? stepwise
    expect(stepwise).toEqual(foldDueChanges(rich, T5)!.flag)
  })

  it('applies due changes in time order, removes them, and collapses past phases to the one in force', () => {
    const result = foldDueChanges(rich, T3)!
    expect(result.applied.map((c) => c.id)).toEqual(['on', 'value-1', 'value-2', 'rollout-45'])
    expect(result.flag).toMatchObject({ status: 'active', defaultValue: 'v2', version: rich.version })
    expect(result.flag.scheduledChanges.map((c) => c.id)).toEqual(['off'])
    // 45 (setRollout at T3) beats the T3 phase (30): it becomes the one phase left in the past.
    expect(result.flag.rolloutPhases).toEqual([phase(T3, 45), phase(T4, 60)])
    expect(result.removedPhases).toEqual([phase(T2, 10), phase(T3, 30)])
    expect(flagAt(result.flag, T3).rolloutPercentage).toBe(45)
  })

  it('null when nothing is due; folding again at the same instant finds nothing', () => {
    expect(foldDueChanges(rich, T1 - 1)).toBeNull()
    expect(foldDueChanges(makeFlag({ key: 'plain' }), T)).toBeNull()
    expect(foldDueChanges(makeFlag({ key: 'one-phase', rolloutPhases: [phase(T, 5)] }), T + DAY)).toBeNull()
    const once = foldDueChanges(rich, T4)!.flag
    expect(foldDueChanges(once, T4)).toBeNull()
  })

  it('collapses phases alone (nothing applied) when more than one is in the past', () => {
    const result = foldDueChanges(
      makeFlag({ key: 'p', rolloutPhases: [phase(T, 5), phase(T + HOUR, 25), phase(T + DAY, 50)] }),
      T + 2 * HOUR,
    )!
    expect(result.applied).toEqual([])
    expect(result.flag.rolloutPhases).toEqual([phase(T + HOUR, 25), phase(T + DAY, 50)])
  })

  it('does not mutate its input', () => {
    const before = structuredClone(rich)
    foldDueChanges(rich, T5)
    expect(rich).toEqual(before)
  })
})

describe('memoised evaluation across instants', () => {
  it('one compiled snapshot switches exactly at T, going forwards and backwards in time', () => {
    const snapshot = compileSnapshot({ flags: [offUntilT] })
    const at = (t: number) => snapshot.evaluate('launch', 'boolean', false, {}, t).value
    expect([T - 1, T, T - 1, T + 1, T - 2, T].map(at)).toEqual([false, true, false, true, false, true])
  })

  it('two snapshots compiled apart (two processes) switch at the same instant, with no job running', () => {
    const input = (): SnapshotInput => ({ flags: [structuredClone(offUntilT)] })
    const a = compileSnapshot(input())
    const b = compileSnapshot(input())
    for (const t of [T - 1000, T - 1, T, T + 1]) {
      expect(a.evaluate('launch', 'boolean', false, {}, t)).toEqual(b.evaluate('launch', 'boolean', false, {}, t))
    }
    expect(a.evaluate('launch', 'boolean', false, {}, T - 1).value).toBe(false)
    expect(b.evaluate('launch', 'boolean', false, {}, T).value).toBe(true)
  })

  it('within one interval the compiled effective flag is reused (same frozen result object)', () => {
    const snapshot = compileSnapshot({ flags: [offUntilT] })
    const first = snapshot.evaluate('launch', 'boolean', false, { targetingKey: 'a' }, T + 1)
    const second = snapshot.evaluate('launch', 'boolean', false, { targetingKey: 'b' }, T + DAY)
    expect(second).toBe(first)
    expect(Object.isFrozen(first)).toBe(true)
  })

  it('reads the clock when no `now` is given', () => {
    const snapshot = compileSnapshot({
      flags: [makeFlag({ key: 'past', status: 'inactive', scheduledChanges: [change('go', Date.now() - DAY, 'enable')] })],
    })
    expect(snapshot.evaluate('past', 'boolean', false).value).toBe(true)
  })

  it('reports the effective status in the result metadata', () => {
    const snapshot = compileSnapshot({ flags: [offUntilT] })
    expect(snapshot.evaluate('launch', 'boolean', false, {}, T - 1).flagMetadata.status).toBe('inactive')
    expect(snapshot.evaluate('launch', 'boolean', false, {}, T).flagMetadata.status).toBe('active')
  })
})

describe('schedules on write (codec)', () => {
  const reject = (input: Record<string, unknown>): FlagstoneError => {
    try {
      validateFlagInput({ key: 'f', type: 'number', defaultValue: 1, ...input })
    } catch (error) {
      expect(error).toBeInstanceOf(FlagstoneError)
      return error as FlagstoneError
    }
    throw new Error('expected a rejection')
  }

  it.each([
    [
      'a setValue of the wrong type',
      { scheduledChanges: [{ id: 'c', at: T, change: 'setValue', value: 'abc' }] },
      'scheduledChanges[0].value',
    ],
    ['a setValue without a value', { scheduledChanges: [{ id: 'c', at: T, change: 'setValue' }] }, 'scheduledChanges[0].value'],
    [
      'a setRollout above 100',
      { scheduledChanges: [{ id: 'c', at: T, change: 'setRollout', percentage: 101 }] },
      'scheduledChanges[0].percentage',
    ],
    [
      'a percentage on an enable',
      { scheduledChanges: [{ id: 'c', at: T, change: 'enable', percentage: 5 }] },
      'scheduledChanges[0].percentage',
    ],
    ['an unknown change', { scheduledChanges: [{ id: 'c', at: T, change: 'explode' }] }, 'scheduledChanges[0].change'],
    [
      'two changes with one id',
      {
        scheduledChanges: [
          { id: 'c', at: T, change: 'enable' },
          { id: 'c', at: T + 1, change: 'disable' },
        ],
      },
      'scheduledChanges[1].id',
    ],
    [
      'two phases at one instant',
      {
        rolloutPhases: [
          { at: T, percentage: 5 },
          { at: new Date(T).toISOString(), percentage: 25 },
        ],
      },
      'rolloutPhases[1].at',
    ],
  ])('rejects %s', (_name, input, field) => {
    const error = reject(input)
    expect(error.code).toBe('INVALID_ARGUMENT')
    expect(error.details?.field).toBe(field)
  })
})
