import { afterEach, describe, expect, it, vi } from 'vitest'
import { compileSnapshot, errorDetails, evaluate, type SnapshotInput } from '../../../src/flags/evaluation/evaluate.js'
import { pickVariant, rolloutBucket } from '../../../src/flags/evaluation/hash.js'
import type {
  Condition,
  ErrorCode,
  EvaluationContext,
  FeatureFlag,
  FlagOverride,
  FlagType,
  FlagValue,
  Reason,
  Segment,
  TimeSchedule,
} from '../../../src/flags/model.js'
import { makeFlag, makeRule } from '../fixtures.js'

const NOW = Date.parse('2025-06-18T10:00:00Z') // a Wednesday; 12:00 in Oslo (CEST)
const HOUR = 3_600_000

interface Case {
  name: string
  flag?: FeatureFlag
  /** Extra flags in the snapshot. */
  flags?: FeatureFlag[]
  overrides?: FlagOverride[]
  segments?: Segment[]
  key?: string
  type?: FlagType | null
  defaultValue?: FlagValue
  context?: EvaluationContext
  now?: number
  expected: { value: FlagValue; reason: Reason; variant?: string; errorCode?: ErrorCode }
}

function run(c: Case) {
  const flags = [...(c.flag === undefined ? [] : [c.flag]), ...(c.flags ?? [])]
  const snapshot = compileSnapshot({ flags, overrides: c.overrides ?? [], segments: c.segments ?? [], revision: 3 })
  const key = c.key ?? c.flag?.key ?? 'missing'
  const type = c.type === null ? undefined : (c.type ?? c.flag?.type ?? 'boolean')
  return evaluate(snapshot, key, type, c.defaultValue ?? 'caller-default', 'context' in c ? c.context : {}, c.now ?? NOW)
}

function check(c: Case) {
  const result = run(c)
  expect({ value: result.value, reason: result.reason, variant: result.variant, errorCode: result.errorCode }).toEqual({
    variant: undefined,
    errorCode: undefined,
    ...c.expected,
  })
  return result
}

const bool = (key: string, fields: Partial<FeatureFlag> = {}) => makeFlag({ key, type: 'boolean', ...fields })
const str = (key: string, fields: Partial<FeatureFlag> = {}) => makeFlag({ key, type: 'string', defaultValue: 'blue', ...fields })
const everyone = (id: string, fields: Parameters<typeof makeRule>[1] = {}) => makeRule(id, fields)
const override = (entityType: string, entityId: string, fields: Partial<FlagOverride> = {}): FlagOverride => ({
  flagKey: 'f',
  entityType,
  entityId,
  enabled: true,
  ...fields,
})

/** A targeting key whose rollout bucket for `flagKey` satisfies `predicate`. */
function keyWithBucket(flagKey: string, predicate: (bucket: number) => boolean): string {
  for (let i = 0; ; i++) if (predicate(rolloutBucket(flagKey, `user-${i}`))) return `user-${i}`
}
const outOfHalf = keyWithBucket('f', (b) => b > 50)
const inHalf = keyWithBucket('f', (b) => b <= 50)

const schedule = (fields: Partial<TimeSchedule>): TimeSchedule => ({
  id: 'window',
  name: 'window',
  recurrence: 'daily',
  start: '09:00',
  end: '17:00',
  timezone: 'Europe/Oslo',
  ...fields,
})

const CASES: Case[] = [
  // 1–2: missing flag, type mismatch
  {
    name: 'missing flag → caller default, DEFAULT, FLAG_NOT_FOUND',
    key: 'nope',
    expected: { value: 'caller-default', reason: 'DEFAULT', errorCode: 'FLAG_NOT_FOUND' },
  },
  {
    name: 'asked as string, flag is boolean → TYPE_MISMATCH',
    flag: bool('f', { defaultEnabled: true }),
    type: 'string',
    expected: { value: 'caller-default', reason: 'ERROR', errorCode: 'TYPE_MISMATCH' },
  },
  { name: 'no expected type → any type is served', flag: str('f'), type: null, expected: { value: 'blue', reason: 'STATIC' } },
  // 5: status
  {
    name: 'inactive boolean flag → false, DISABLED (even with defaultEnabled)',
    flag: bool('f', { status: 'inactive', defaultEnabled: true, rules: [everyone('r')] }),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'archived string flag → its defaultValue, DISABLED',
    flag: str('f', { status: 'archived', rules: [everyone('r', { serveValue: 'red' })] }),
    expected: { value: 'blue', reason: 'DISABLED' },
  },
  {
    name: 'inactive string flag without defaultValue → caller default, DISABLED',
    flag: makeFlag({ key: 'f', type: 'string', status: 'inactive' }),
    expected: { value: 'caller-default', reason: 'DISABLED' },
  },
  {
    name: 'status is checked before overrides',
    flag: bool('f', { status: 'inactive' }),
    overrides: [override('user', 'u1')],
    context: { userId: 'u1' },
    expected: { value: false, reason: 'DISABLED' },
  },
  // 10: static
  {
    name: 'plain boolean flag → defaultEnabled, STATIC',
    flag: bool('f', { defaultEnabled: true }),
    expected: { value: true, reason: 'STATIC' },
  },
  { name: 'plain string flag → defaultValue, STATIC', flag: str('f'), expected: { value: 'blue', reason: 'STATIC' } },
  {
    name: 'string flag without defaultValue → caller default, STATIC',
    flag: makeFlag({ key: 'f', type: 'string' }),
    expected: { value: 'caller-default', reason: 'STATIC' },
  },
  {
    name: 'number flag',
    flag: makeFlag({ key: 'f', type: 'number', defaultValue: 3 }),
    defaultValue: 0,
    expected: { value: 3, reason: 'STATIC' },
  },
  {
    name: 'json flag',
    flag: makeFlag({ key: 'f', type: 'json', defaultValue: { theme: 'dark', sizes: [1, 2] } }),
    defaultValue: {},
    expected: { value: { theme: 'dark', sizes: [1, 2] }, reason: 'STATIC' },
  },
  {
    name: 'only disabled rules → STATIC',
    flag: bool('f', { rules: [everyone('r', { enabled: false })] }),
    expected: { value: false, reason: 'STATIC' },
  },
  // 6: overrides
  {
    name: 'user override',
    flag: bool('f'),
    overrides: [override('user', 'u1')],
    context: { userId: 'u1' },
    expected: { value: true, reason: 'OVERRIDE' },
  },
  {
    name: 'organization override',
    flag: bool('f'),
    overrides: [override('organization', 'acme')],
    context: { userId: 'u1', organizationId: 'acme' },
    expected: { value: true, reason: 'OVERRIDE' },
  },
  {
    name: 'tenant override',
    flag: bool('f', { defaultEnabled: true }),
    overrides: [override('tenant', 't9', { enabled: false })],
    context: { tenantId: 't9' },
    expected: { value: false, reason: 'OVERRIDE' },
  },
  {
    name: 'targetingKey override',
    flag: bool('f'),
    overrides: [override('targetingKey', 'tk-1')],
    context: { targetingKey: 'tk-1' },
    expected: { value: true, reason: 'OVERRIDE' },
  },
  {
    name: 'user override beats organization override',
    flag: bool('f'),
    overrides: [override('organization', 'acme', { enabled: true }), override('user', 'u1', { enabled: false })],
    context: { userId: 'u1', organizationId: 'acme' },
    expected: { value: false, reason: 'OVERRIDE' },
  },
  {
    name: 'override for someone else does nothing',
    flag: bool('f'),
    overrides: [override('user', 'u2')],
    context: { userId: 'u1' },
    expected: { value: false, reason: 'STATIC' },
  },
  {
    name: 'expired override is ignored',
    flag: bool('f'),
    overrides: [override('user', 'u1', { expiresAt: new Date(NOW - 1) })],
    context: { userId: 'u1' },
    expected: { value: false, reason: 'STATIC' },
  },
  {
    name: 'override expiring exactly now is expired',
    flag: bool('f'),
    overrides: [override('user', 'u1', { expiresAt: new Date(NOW) })],
    context: { userId: 'u1' },
    expected: { value: false, reason: 'STATIC' },
  },
  {
    name: 'override expiring later applies',
    flag: bool('f'),
    overrides: [override('user', 'u1', { expiresAt: new Date(NOW + 1) })],
    context: { userId: 'u1' },
    expected: { value: true, reason: 'OVERRIDE' },
  },
  {
    name: 'expired user override falls through to a live organization override',
    flag: bool('f'),
    overrides: [override('user', 'u1', { enabled: false, expiresAt: new Date(NOW - HOUR) }), override('organization', 'acme')],
    context: { userId: 'u1', organizationId: 'acme' },
    expected: { value: true, reason: 'OVERRIDE' },
  },
  {
    name: 'override value on a string flag',
    flag: str('f'),
    overrides: [override('user', 'u1', { value: 'green' })],
    context: { userId: 'u1' },
    expected: { value: 'green', reason: 'OVERRIDE' },
  },
  {
    name: 'disabling override on a string flag → defaultValue',
    flag: str('f', { rules: [everyone('r', { serveValue: 'red' })] }),
    overrides: [override('user', 'u1', { enabled: false, value: 'green' })],
    context: { userId: 'u1' },
    expected: { value: 'blue', reason: 'OVERRIDE' },
  },
  {
    name: 'custom entity type matches the attribute of that name',
    flag: bool('f'),
    overrides: [override('team', 'payments')],
    context: { attributes: { team: 'payments' } },
    expected: { value: true, reason: 'OVERRIDE' },
  },
  {
    name: 'override whose value does not fit the flag type is ignored',
    flag: makeFlag({ key: 'f', type: 'number', defaultValue: 1 }),
    defaultValue: 0,
    overrides: [override('user', 'u1', { value: 'abc' })],
    context: { userId: 'u1' },
    expected: { value: 1, reason: 'STATIC' },
  },
  // 7: time schedules
  {
    name: 'open daily window (12:00 Oslo) → continues to STATIC',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({})] }),
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'closed window → DISABLED',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({ start: '13:00', end: '14:00' })] }),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'window read in its own zone (10:00Z is 06:00 in New York)',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({ timezone: 'America/New_York' })] }),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'any open schedule is enough',
    flag: bool('f', {
      defaultEnabled: true,
      timeSchedules: [schedule({ id: 'a', start: '13:00', end: '14:00' }), schedule({ id: 'b' })],
    }),
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'weekly: Wednesday is ISO day 3',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({ recurrence: 'weekly', daysOfWeek: [3] })] }),
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'weekly: not on weekends',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({ recurrence: 'weekly', daysOfWeek: [6, 7] })] }),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'monthly: the 18th',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({ recurrence: 'monthly', daysOfMonth: [18] })] }),
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'monthly: not the 1st',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({ recurrence: 'monthly', daysOfMonth: [1] })] }),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'overnight window: Saturday 01:00 belongs to Friday’s 22:00–02:00',
    flag: bool('f', {
      defaultEnabled: true,
      timeSchedules: [schedule({ recurrence: 'weekly', daysOfWeek: [5], start: '22:00', end: '02:00' })],
    }),
    now: Date.parse('2025-06-20T23:00:00Z'), // Saturday 01:00 CEST
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'overnight window: Saturday 22:30 is not Friday’s',
    flag: bool('f', {
      defaultEnabled: true,
      timeSchedules: [schedule({ recurrence: 'weekly', daysOfWeek: [5], start: '22:00', end: '02:00' })],
    }),
    now: Date.parse('2025-06-21T20:30:00Z'),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'expired validity → DISABLED',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({ validUntil: new Date(NOW - 1) })] }),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'not yet valid → DISABLED',
    flag: bool('f', { defaultEnabled: true, timeSchedules: [schedule({ validFrom: new Date(NOW + 1) })] }),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'cron: the expression marks the open minutes (Wednesday 12:00 Oslo is in `* 9-17 * * 1-5`)',
    flag: bool('f', {
      defaultEnabled: true,
      timeSchedules: [schedule({ recurrence: 'cron', cron: '* 9-17 * * 1-5', start: '00:00', end: '00:00' })],
    }),
    expected: { value: true, reason: 'STATIC' },
  },
  {
    name: 'cron: outside its minutes → DISABLED',
    flag: bool('f', {
      defaultEnabled: true,
      timeSchedules: [schedule({ recurrence: 'cron', cron: '* 9-17 * * 6,7', start: '00:00', end: '00:00' })],
    }),
    expected: { value: false, reason: 'DISABLED' },
  },
  {
    name: 'overrides come before time schedules',
    flag: bool('f', { timeSchedules: [schedule({ start: '13:00', end: '14:00' })] }),
    overrides: [override('user', 'u1')],
    context: { userId: 'u1' },
    expected: { value: true, reason: 'OVERRIDE' },
  },
  // 8: rules
  {
    name: 'matching rule → TARGETING_MATCH, variant = rule id',
    flag: bool('f', {
      rules: [makeRule('nordics', { conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }] })],
    }),
    context: { country: 'NO' },
    expected: { value: true, reason: 'TARGETING_MATCH', variant: 'nordics' },
  },
  {
    name: 'no rule matches → DEFAULT',
    flag: bool('f', {
      defaultEnabled: true,
      rules: [
        makeRule('nordics', { serveEnabled: false, conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }] }),
      ],
    }),
    context: { country: 'DK' },
    expected: { value: true, reason: 'DEFAULT' },
  },
  {
    name: 'lower priority first, whatever the array order',
    flag: bool('f', {
      rules: [makeRule('second', { priority: 20, serveEnabled: true }), makeRule('first', { priority: 10, serveEnabled: false })],
    }),
    expected: { value: false, reason: 'TARGETING_MATCH', variant: 'first' },
  },
  {
    name: 'equal priorities keep document order',
    flag: bool('f', { rules: [makeRule('a', { priority: 1 }), makeRule('b', { priority: 1, serveEnabled: false })] }),
    expected: { value: true, reason: 'TARGETING_MATCH', variant: 'a' },
  },
  {
    name: 'disabled rule is skipped',
    flag: bool('f', { rules: [makeRule('off', { enabled: false, serveEnabled: false }), makeRule('on', { priority: 5 })] }),
    expected: { value: true, reason: 'TARGETING_MATCH', variant: 'on' },
  },
  {
    name: 'all conditions must hold',
    flag: bool('f', {
      rules: [
        makeRule('r', {
          conditions: [
            { attribute: 'country', operator: 'eq', value: 'NO' },
            { attribute: 'plan', operator: 'eq', value: 'pro' },
          ],
        }),
      ],
    }),
    context: { country: 'NO', attributes: { plan: 'free' } },
    expected: { value: false, reason: 'DEFAULT' },
  },
  {
    name: 'a rule whose rollout excludes the user falls through to the next rule',
    flag: bool('f', {
      rules: [makeRule('half', { priority: 1, rolloutPercentage: 50 }), makeRule('rest', { priority: 2, serveEnabled: false })],
    }),
    context: { targetingKey: outOfHalf },
    expected: { value: false, reason: 'TARGETING_MATCH', variant: 'rest' },
  },
  {
    name: 'a rule whose rollout includes the user matches',
    flag: bool('f', {
      rules: [makeRule('half', { priority: 1, rolloutPercentage: 50 }), makeRule('rest', { priority: 2, serveEnabled: false })],
    }),
    context: { targetingKey: inHalf },
    expected: { value: true, reason: 'TARGETING_MATCH', variant: 'half' },
  },
  {
    name: 'partial rollout without a targeting key falls through',
    flag: bool('f', { rules: [makeRule('half', { rolloutPercentage: 99 })] }),
    expected: { value: false, reason: 'DEFAULT' },
  },
  {
    name: 'rollout 100 admits callers without a targeting key',
    flag: bool('f', { rules: [makeRule('all', { rolloutPercentage: 100 })] }),
    expected: { value: true, reason: 'TARGETING_MATCH', variant: 'all' },
  },
  {
    name: 'rollout 0 admits no one',
    flag: bool('f', { rules: [makeRule('none', { rolloutPercentage: 0 })] }),
    context: { targetingKey: inHalf },
    expected: { value: false, reason: 'DEFAULT' },
  },
  {
    name: 'a type mismatch inside a condition makes that condition false (not an error)',
    flag: bool('f', {
      rules: [
        makeRule('adults', { priority: 1, conditions: [{ attribute: 'age', operator: 'gte', value: 18 }] }),
        makeRule('fallback', { priority: 2, serveEnabled: false }),
      ],
    }),
    context: { attributes: { age: '21' } },
    expected: { value: false, reason: 'TARGETING_MATCH', variant: 'fallback' },
  },
  {
    name: 'an unknown operator that reached the snapshot never matches',
    flag: bool('f', {
      rules: [makeRule('weird', { conditions: [{ attribute: 'country', operator: 'sounds_like', value: 'NO' }] })],
    }),
    context: { country: 'NO' },
    expected: { value: false, reason: 'DEFAULT' },
  },
  {
    name: 'string rule serves serveValue',
    flag: str('f', { rules: [everyone('r', { serveValue: 'red' })] }),
    expected: { value: 'red', reason: 'TARGETING_MATCH', variant: 'r' },
  },
  {
    name: 'string rule with serveEnabled false serves the defaultValue',
    flag: str('f', { rules: [everyone('r', { serveEnabled: false, serveValue: 'red' })] }),
    expected: { value: 'blue', reason: 'TARGETING_MATCH', variant: 'r' },
  },
  {
    name: 'string rule without serveValue or flag default → caller default',
    flag: makeFlag({ key: 'f', type: 'string', rules: [everyone('r')] }),
    expected: { value: 'caller-default', reason: 'TARGETING_MATCH', variant: 'r' },
  },
  {
    name: 'in_segment through a nested segment',
    flag: bool('f', {
      rules: [makeRule('staff', { conditions: [{ attribute: '', operator: 'in_segment', value: 'nordic-staff' }] })],
    }),
    segments: [
      { key: 'staff', name: 'staff', conditions: [{ attribute: 'email', operator: 'ends_with', value: '@acme.com' }] },
      {
        key: 'nordic-staff',
        name: 'nordic staff',
        parent: 'staff',
        conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }],
      },
    ],
    context: { country: 'SE', attributes: { email: 'a@acme.com' } },
    expected: { value: true, reason: 'TARGETING_MATCH', variant: 'staff' },
  },
  {
    name: 'condition on the attribute `now`',
    flag: bool('f', {
      rules: [
        makeRule('after-launch', { conditions: [{ attribute: 'now', operator: 'date_after', value: '2025-06-01T00:00:00Z' }] }),
      ],
    }),
    expected: { value: true, reason: 'TARGETING_MATCH', variant: 'after-launch' },
  },
  // 9: variants
  {
    name: 'variants → SPLIT with the variant key',
    flag: str('f', {
      variants: [
        { key: 'a', value: 'A', weight: 50 },
        { key: 'b', value: 'B', weight: 50 },
      ],
    }),
    context: { targetingKey: 'user-1' },
    expected: (() => {
      const v = pickVariant('f', 'user-1', [
        { key: 'a', weight: 50 },
        { key: 'b', weight: 50 },
      ])!.key
      return { value: v.toUpperCase(), reason: 'SPLIT' as const, variant: v }
    })(),
  },
  {
    name: 'rules come before variants',
    flag: str('f', { rules: [everyone('r', { serveValue: 'red' })], variants: [{ key: 'a', value: 'A', weight: 1 }] }),
    expected: { value: 'red', reason: 'TARGETING_MATCH', variant: 'r' },
  },
  {
    name: 'a rule that does not match leaves variants in play',
    flag: str('f', {
      rules: [makeRule('r', { conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }] })],
      variants: [{ key: 'only', value: 'X', weight: 1 }],
    }),
    expected: { value: 'X', reason: 'SPLIT', variant: 'only' },
  },
  {
    name: 'zero weights only → STATIC',
    flag: str('f', { variants: [{ key: 'a', value: 'A', weight: 0 }] }),
    expected: { value: 'blue', reason: 'STATIC' },
  },
  {
    name: 'boolean variants',
    flag: bool('f', {
      variants: [
        { key: 'on', value: true, weight: 1 },
        { key: 'off', value: false, weight: 0 },
      ],
    }),
    expected: { value: true, reason: 'SPLIT', variant: 'on' },
  },
  // errors
  {
    name: 'invalid flag in the snapshot → PARSE_ERROR',
    flag: bool('f', { rules: [makeRule('r', { rolloutPercentage: 150 })] }),
    expected: { value: 'caller-default', reason: 'ERROR', errorCode: 'PARSE_ERROR' },
  },
  {
    name: 'context that is not an object → INVALID_CONTEXT',
    flag: bool('f'),
    context: null as unknown as EvaluationContext,
    expected: { value: 'caller-default', reason: 'ERROR', errorCode: 'INVALID_CONTEXT' },
  },
  {
    name: 'non-string targeting key → INVALID_CONTEXT',
    flag: bool('f', { rules: [everyone('r', { rolloutPercentage: 50 })] }),
    context: { targetingKey: 42 as unknown as string },
    expected: { value: 'caller-default', reason: 'ERROR', errorCode: 'INVALID_CONTEXT' },
  },
]

describe('evaluate: table', () => {
  it.each(CASES.map((c) => ({ ...c, title: c.name })))('$title', (c) => {
    check(c)
  })
})

/** One rule per operator: a context that satisfies it and one that does not. */
const OPERATOR_ROWS: [Condition, EvaluationContext, EvaluationContext][] = [
  [{ attribute: 'country', operator: 'eq', value: 'NO' }, { country: 'NO' }, { country: 'SE' }],
  [{ attribute: 'country', operator: 'ne', value: 'NO' }, { country: 'SE' }, { country: 'NO' }],
  [{ attribute: 'age', operator: 'gt', value: 17 }, { attributes: { age: 18 } }, { attributes: { age: 17 } }],
  [{ attribute: 'age', operator: 'gte', value: 18 }, { attributes: { age: 18 } }, { attributes: { age: 17 } }],
  [{ attribute: 'age', operator: 'lt', value: 18 }, { attributes: { age: 17 } }, { attributes: { age: 18 } }],
  [{ attribute: 'age', operator: 'lte', value: 18 }, { attributes: { age: 18 } }, { attributes: { age: 19 } }],
  [
    { attribute: 'plan', operator: 'in', value: ['pro', 'team'] },
    { attributes: { plan: 'team' } },
    { attributes: { plan: 'free' } },
  ],
  [
    { attribute: 'plan', operator: 'not_in', value: ['free'] },
    { attributes: { plan: 'team' } },
    { attributes: { plan: 'free' } },
  ],
  [
    { attribute: 'roles', operator: 'contains', value: 'admin' },
    { attributes: { roles: ['dev', 'admin'] } },
    { attributes: { roles: ['dev'] } },
  ],
  [{ attribute: 'userAgent', operator: 'not_contains', value: 'bot' }, { userAgent: 'Firefox' }, { userAgent: 'googlebot' }],
  [
    { attribute: 'email', operator: 'starts_with', value: 'admin@' },
    { attributes: { email: 'admin@x.io' } },
    { attributes: { email: 'me@x.io' } },
  ],
  [
    { attribute: 'email', operator: 'ends_with', value: '@acme.com' },
    { attributes: { email: 'a@acme.com' } },
    { attributes: { email: 'a@acme.co' } },
  ],
  [{ attribute: 'userId', operator: 'matches', value: '^u-\\d{3}$' }, { userId: 'u-123' }, { userId: 'u-12' }],
  [{ attribute: 'beta', operator: 'exists' }, { attributes: { beta: false } }, { attributes: {} }],
  [{ attribute: 'beta', operator: 'not_exists' }, { attributes: {} }, { attributes: { beta: true } }],
  [{ attribute: 'appVersion', operator: 'semver_eq', value: '2.0.0' }, { appVersion: '2.0.0' }, { appVersion: '2.0.0-rc.1' }],
  [{ attribute: 'appVersion', operator: 'semver_ne', value: '2.0.0' }, { appVersion: '2.0.1' }, { appVersion: '2.0.0' }],
  [{ attribute: 'appVersion', operator: 'semver_gt', value: '2.0.0' }, { appVersion: '2.0.1' }, { appVersion: '2.0.0' }],
  [{ attribute: 'appVersion', operator: 'semver_gte', value: '2.0.0' }, { appVersion: '2.0.0' }, { appVersion: '2.0.0-beta' }],
  [{ attribute: 'appVersion', operator: 'semver_lt', value: '2.0.0' }, { appVersion: '2.0.0-beta' }, { appVersion: '2.0.0' }],
  [{ attribute: 'appVersion', operator: 'semver_lte', value: '2.0.0' }, { appVersion: '2.0.0' }, { appVersion: '10.0.0' }],
  [
    { attribute: 'signup', operator: 'date_before', value: '2025-01-01' },
    { attributes: { signup: '2024-12-31T23:59:59Z' } },
    { attributes: { signup: new Date('2025-01-02') } },
  ],
  [
    { attribute: 'signup', operator: 'date_after', value: '2025-01-01' },
    { attributes: { signup: Date.parse('2025-03-01') } },
    { attributes: { signup: '2024-01-01' } },
  ],
  [
    { attribute: 'ipAddress', operator: 'in_cidr', value: ['10.0.0.0/8', '2001:db8::/32'] },
    { ipAddress: '2001:db8::7' },
    { ipAddress: '192.168.0.1' },
  ],
  [{ attribute: '', operator: 'in_segment', value: 'vip' }, { attributes: { tier: 'gold' } }, { attributes: { tier: 'bronze' } }],
  [
    { attribute: '', operator: 'not_in_segment', value: 'vip' },
    { attributes: { tier: 'bronze' } },
    { attributes: { tier: 'gold' } },
  ],
]

describe('evaluate: every operator inside a rule', () => {
  const segments: Segment[] = [{ key: 'vip', name: 'VIP', conditions: [{ attribute: 'tier', operator: 'eq', value: 'gold' }] }]
  it.each(OPERATOR_ROWS.map(([condition, yes, no]) => ({ op: condition.operator, condition, yes, no })))(
    '$op',
    ({ condition, yes, no }) => {
      const flag = bool('f', { rules: [makeRule('r', { conditions: [condition] })] })
      check({ name: 'match', flag, segments, context: yes, expected: { value: true, reason: 'TARGETING_MATCH', variant: 'r' } })
      check({ name: 'no match', flag, segments, context: no, expected: { value: false, reason: 'DEFAULT' } })
    },
  )
})

describe('evaluate: errors and result shape', () => {
  it('reports a corrupt stored flag as PARSE_ERROR and names the field of an invalid one', () => {
    const snapshot = compileSnapshot({
      flags: [bool('ok'), bool('bad', { rules: [makeRule('r', { rolloutPercentage: 150 })] })],
      corrupt: [{ flagKey: 'broken', message: 'stored flag at key "flag/broken" is corrupt: Unexpected token' }],
    })
    const broken = snapshot.evaluate('broken', 'boolean', true)
    expect(broken).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'PARSE_ERROR' })
    expect(broken.errorMessage).toContain('Unexpected token')
    expect(snapshot.evaluate('bad', 'boolean', true).errorMessage).toContain('rules[0].rolloutPercentage')
    expect(snapshot.evaluate('ok', 'boolean', true)).toMatchObject({ value: false, reason: 'STATIC' })
    expect([...snapshot.keys()].sort()).toEqual(['bad', 'broken', 'ok'])
  })

  it('never throws: a context whose getters throw gives GENERAL', () => {
    const snapshot = compileSnapshot({
      flags: [bool('f', { rules: [makeRule('r', { conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }] })] })],
    })
    const hostile = {} as EvaluationContext
    Object.defineProperty(hostile, 'country', {
      get() {
        throw new Error('boom')
      },
    })
    const result = evaluate(snapshot, 'f', 'boolean', true, hostile)
    expect(result).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'GENERAL' })
    expect(result.errorMessage).toContain('boom')
    const proxy = {
      attributes: new Proxy(
        {},
        {
          getOwnPropertyDescriptor: () => {
            throw new Error('trap')
          },
        },
      ),
    }
    const ruleOnAttribute = compileSnapshot({
      flags: [bool('g', { rules: [makeRule('r', { conditions: [{ attribute: 'plan', operator: 'exists' }] })] })],
    })
    expect(evaluate(ruleOnAttribute, 'g', 'boolean', false, proxy)).toMatchObject({ reason: 'ERROR', errorCode: 'GENERAL' })
    // Not even a snapshot that is not one.
    expect(evaluate(null as unknown as SnapshotInput, 'f', 'boolean', true)).toMatchObject({
      value: true,
      reason: 'ERROR',
      errorCode: 'GENERAL',
    })
  })

  it('rejects an unusable `now` as INVALID_CONTEXT', () => {
    const snapshot = compileSnapshot({ flags: [bool('f', { timeSchedules: [schedule({})] })] })
    expect(snapshot.evaluate('f', 'boolean', true, { now: 'yesterday' as unknown as number })).toMatchObject({
      errorCode: 'INVALID_CONTEXT',
    })
    expect(snapshot.evaluate('f', 'boolean', true, { now: new Date('nope') })).toMatchObject({ errorCode: 'INVALID_CONTEXT' })
  })

  it('builds error results for the codes the client reports (not ready, stale, cached, targeting key missing)', () => {
    expect(errorDetails('f', 5, 'PROVIDER_NOT_READY', 'not loaded')).toMatchObject({
      flagKey: 'f',
      value: 5,
      reason: 'ERROR',
      errorCode: 'PROVIDER_NOT_READY',
    })
    expect(errorDetails('f', 'x', 'TARGETING_KEY_MISSING', 'no key')).toMatchObject({
      value: 'x',
      errorCode: 'TARGETING_KEY_MISSING',
    })
    expect(errorDetails('f', true, 'GENERAL', 'store down', 'STALE')).toMatchObject({ reason: 'STALE' })
    expect(errorDetails('f', true, 'GENERAL', 'cached', 'CACHED')).toMatchObject({ reason: 'CACHED' })
  })

  it('carries flag metadata (type, status, version, revision and primitive metadata)', () => {
    const result = run({
      name: '',
      flag: bool('f', { version: 4, metadata: { owner: 'payments', nested: { no: true } } }),
      expected: { value: false, reason: 'STATIC' },
    })
    expect(result.flagMetadata).toEqual({ owner: 'payments', flagType: 'boolean', status: 'active', version: 4, revision: 3 })
  })

  it('shares one frozen result for constant outcomes (no allocation per evaluation)', () => {
    const snapshot = compileSnapshot({ flags: [bool('f', { defaultEnabled: true })] })
    const a = snapshot.evaluate('f', 'boolean', false, { targetingKey: 'a' })
    const b = snapshot.evaluate('f', 'boolean', false, { targetingKey: 'b' })
    expect(a).toBe(b)
    expect(Object.isFrozen(a)).toBe(true)
  })

  it('accepts raw snapshot input (maps or arrays) and compiles it once', () => {
    const input: SnapshotInput = {
      flags: new Map([['f', bool('f')]]),
      overrides: new Map([['f', [override('user', 'u1')]]]),
      segments: new Map(),
    }
    expect(evaluate(input, 'f', 'boolean', false, { userId: 'u1' })).toMatchObject({ value: true, reason: 'OVERRIDE' })
    expect(evaluate(input, 'f', 'boolean', false, {})).toBe(evaluate(input, 'f', 'boolean', false, {}))
  })
})

describe('evaluate: the clock', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('reads the clock at each evaluation, not when the snapshot was compiled', () => {
    vi.useFakeTimers()
    vi.setSystemTime(NOW)
    const snapshot = compileSnapshot({
      flags: [bool('f')],
      overrides: [override('user', 'u1', { expiresAt: new Date(NOW + HOUR) })],
    })
    expect(snapshot.evaluate('f', 'boolean', false, { userId: 'u1' }).reason).toBe('OVERRIDE')
    vi.setSystemTime(NOW + 2 * HOUR)
    expect(snapshot.evaluate('f', 'boolean', false, { userId: 'u1' })).toMatchObject({ value: false, reason: 'STATIC' })
  })

  it('opens and closes time windows as the clock moves', () => {
    vi.useFakeTimers()
    const snapshot = compileSnapshot({
      flags: [bool('f', { defaultEnabled: true, timeSchedules: [schedule({ start: '12:00', end: '12:30' })] })],
    })
    vi.setSystemTime(Date.parse('2025-06-18T10:10:00Z')) // 12:10 Oslo
    expect(snapshot.evaluate('f', 'boolean', false).value).toBe(true)
    vi.setSystemTime(Date.parse('2025-06-18T10:40:00Z')) // 12:40 Oslo
    expect(snapshot.evaluate('f', 'boolean', false).value).toBe(false)
  })

  it('follows DST: a 09:00–10:00 New York window is 13:00Z in summer and 14:00Z in winter', () => {
    const snapshot = compileSnapshot({
      flags: [
        bool('f', {
          defaultEnabled: true,
          timeSchedules: [schedule({ timezone: 'America/New_York', start: '09:00', end: '10:00' })],
        }),
      ],
    })
    expect(snapshot.evaluate('f', 'boolean', false, {}, Date.parse('2025-07-01T13:30:00Z')).value).toBe(true)
    expect(snapshot.evaluate('f', 'boolean', false, {}, Date.parse('2025-01-15T13:30:00Z')).value).toBe(false)
    expect(snapshot.evaluate('f', 'boolean', false, {}, Date.parse('2025-01-15T14:30:00Z')).value).toBe(true)
  })

  it('prefers the `now` argument, then context.now, then the clock', () => {
    const snapshot = compileSnapshot({ flags: [bool('f')], overrides: [override('user', 'u1', { expiresAt: new Date(NOW) })] })
    expect(snapshot.evaluate('f', 'boolean', false, { userId: 'u1', now: NOW - 1 }).reason).toBe('OVERRIDE')
    expect(snapshot.evaluate('f', 'boolean', false, { userId: 'u1', now: new Date(NOW - 1) }).reason).toBe('OVERRIDE')
    expect(snapshot.evaluate('f', 'boolean', false, { userId: 'u1', now: NOW - 1 }, NOW + 1).reason).toBe('STATIC')
  })
})
