import superjson from 'superjson'
import { describe, expect, it } from 'vitest'
import { FlagstoneError } from '../../../src/errors.js'
import {
  checkEnvironmentCycles,
  checkSegmentCycles,
  decodeDocument,
  decodeEnvironment,
  decodeEnvironmentFlag,
  decodeFlag,
  decodeOverride,
  decodeSegment,
  encodeDocument,
  encodeEnvironment,
  encodeEnvironmentFlag,
  encodeFlag,
  encodeOverride,
  encodeSegment,
  validateFlag,
  validateFlagInput,
  validateOverride,
  validateSegment,
} from '../../../src/flags/codec/index.js'
import type { FeatureFlag, FlagOverride, Segment } from '../../../src/flags/model.js'
import { makeFlag, makeRule, T0 } from '../fixtures.js'

function fullFlag(): FeatureFlag {
  return makeFlag({
    key: 'checkout.v2',
    name: 'New checkout',
    description: 'Second checkout',
    type: 'string',
    defaultValue: 'classic',
    tags: ['checkout', 'q3'],
    metadata: { owner: 'payments', ticket: 42, nested: { list: [1, 'two', null, true] } },
    rules: [
      makeRule('nordics', {
        priority: 1,
        serveValue: 'modern',
        rolloutPercentage: 25,
        conditions: [
          { attribute: 'country', operator: 'in', value: ['NO', 'SE'] },
          { attribute: 'appVersion', operator: 'semver_gte', value: '2.0.0' },
        ],
      }),
      makeRule('staff', {
        priority: 2,
        serveValue: 'modern',
        conditions: [{ attribute: 'email', operator: 'matches', value: '@acme\\.com$' }],
      }),
    ],
    variants: [
      { key: 'a', name: 'A', value: 'classic', weight: 50 },
      { key: 'b', value: 'modern', weight: 50 },
    ],
    scheduledChanges: [
      { id: 'launch', at: new Date('2025-07-01T10:00:00Z'), change: 'setValue', value: 'modern', createdBy: 'ops' },
      { id: 'ramp', at: new Date('2025-07-02T10:00:00Z'), change: 'setRollout', percentage: 50 },
      { id: 'off', at: new Date('2025-09-01T00:00:00Z'), change: 'disable' },
    ],
    rolloutPhases: [{ at: new Date('2025-07-03T00:00:00Z'), percentage: 75 }],
    timeSchedules: [
      {
        id: 'office',
        name: 'Office hours',
        recurrence: 'weekly',
        start: '08:00',
        end: '17:30',
        daysOfWeek: [1, 2, 3, 4, 5],
        timezone: 'Europe/Oslo',
        validFrom: new Date('2025-01-01T00:00:00Z'),
        validUntil: new Date('2026-01-01T00:00:00Z'),
      },
    ],
    version: 7,
    createdAt: T0,
    updatedAt: new Date('2025-06-30T08:15:00.123Z'),
  })
}

function invalid(fn: () => unknown): FlagstoneError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(FlagstoneError)
    return error as FlagstoneError
  }
  throw new Error('expected a rejection')
}

describe('codec round trips', () => {
  it('round-trips a flag with every part, Dates included', () => {
    const flag = fullFlag()
    const decoded = decodeFlag(encodeFlag(flag), 'flag/checkout.v2')
    expect(decoded).toEqual(flag)
    expect(decoded.updatedAt).toBeInstanceOf(Date)
    expect(decoded.updatedAt.getTime()).toBe(flag.updatedAt.getTime())
    expect(decoded.scheduledChanges[0]!.at).toBeInstanceOf(Date)
    expect(decoded.timeSchedules[0]!.validUntil).toBeInstanceOf(Date)
  })

  it('round-trips overrides, segments, environments and environment flags', () => {
    const override: FlagOverride = {
      flagKey: 'f',
      entityType: 'user',
      entityId: 'u-1',
      enabled: true,
      expiresAt: new Date('2030-01-01T00:00:00Z'),
    }
    expect(decodeOverride(encodeOverride(override, makeFlag({ key: 'f' })), 'k')).toEqual(override)
    const segment: Segment = {
      key: 'staff',
      name: 'Staff',
      parent: 'everyone',
      conditions: [{ attribute: 'email', operator: 'ends_with', value: '@acme.com' }],
    }
    expect(decodeSegment(encodeSegment(segment), 'k')).toEqual(segment)
    const environment = { slug: 'staging', name: 'Staging', parent: 'production', settings: { protected: false, region: 'eu' } }
    expect(decodeEnvironment(encodeEnvironment(environment), 'k')).toEqual(environment)
    const environmentFlag = {
      environment: 'staging',
      flagKey: 'f',
      enabled: true,
      percentage: 10,
      rules: [makeRule('r', { priority: 0 })],
    }
    expect(decodeEnvironmentFlag(encodeEnvironmentFlag(environmentFlag, 'boolean'), 'k')).toEqual(environmentFlag)
    expect(decodeDocument('flag', encodeDocument('flag', fullFlag()), 'k')).toEqual(fullFlag())
  })

  it('returns a copy: mutating the input afterwards changes nothing', () => {
    const flag = fullFlag()
    const validated = validateFlag(flag)
    flag.rules[0]!.conditions[0]!.value = ['DK']
    flag.metadata.owner = 'someone else'
    expect(validated.rules[0]!.conditions[0]!.value).toEqual(['NO', 'SE'])
    expect(validated.metadata.owner).toBe('payments')
  })

  it('fills defaults on input and accepts ISO strings for dates', () => {
    const input = validateFlagInput({ key: 'minimal', type: 'boolean' })
    expect(input).toMatchObject({ name: 'minimal', status: 'active', defaultEnabled: false, rules: [], variants: [], tags: [] })
    const flag = validateFlag({ ...makeFlag({ key: 'f' }), createdAt: '2025-01-01T00:00:00Z', updatedAt: 1735689600000 })
    expect(flag.createdAt).toEqual(T0)
    expect(flag.updatedAt).toEqual(T0)
  })
})

type Mutation = [description: string, mutate: (f: Record<string, unknown>) => void, field: string]

const set = (path: (string | number)[], value: unknown) => (f: Record<string, unknown>) => {
  let target: Record<string | number, unknown> = f
  for (const p of path.slice(0, -1)) target = target[p] as Record<string | number, unknown>
  target[path[path.length - 1]!] = value
}

const MUTATIONS: Mutation[] = [
  ['key with a space', set(['key'], 'bad key'), 'key'],
  ['key starting with a digit', set(['key'], '1flag'), 'key'],
  ['key too long', set(['key'], 'k'.repeat(129)), 'key'],
  ['unknown type', set(['type'], 'float'), 'type'],
  ['unknown status', set(['status'], 'paused'), 'status'],
  ['defaultValue of the wrong type', set(['defaultValue'], 42), 'defaultValue'],
  ['serveValue of the wrong type', set(['rules', 0, 'serveValue'], true), 'rules[0].serveValue'],
  ['variant value of the wrong type', set(['variants', 1, 'value'], { modern: true }), 'variants[1].value'],
  ['rollout above 100', set(['rules', 0, 'rolloutPercentage'], 100.5), 'rules[0].rolloutPercentage'],
  ['rollout below 0', set(['rules', 0, 'rolloutPercentage'], -1), 'rules[0].rolloutPercentage'],
  ['negative weight', set(['variants', 0, 'weight'], -1), 'variants[0].weight'],
  ['infinite weight', set(['variants', 0, 'weight'], Infinity), 'variants[0].weight'],
  ['NaN weight', set(['variants', 0, 'weight'], NaN), 'variants[0].weight'],
  ['unknown operator', set(['rules', 0, 'conditions', 1, 'operator'], 'semver_approx'), 'rules[0].conditions[1].operator'],
  ['hostile regex', set(['rules', 1, 'conditions', 0, 'value'], '^(a+)+$'), 'rules[1].conditions[0].value'],
  ['regex with a backreference', set(['rules', 1, 'conditions', 0, 'value'], '(a)\\1'), 'rules[1].conditions[0].value'],
  ['regex too long', set(['rules', 1, 'conditions', 0, 'value'], 'a'.repeat(300)), 'rules[1].conditions[0].value'],
  ['in with a non-list', set(['rules', 0, 'conditions', 0, 'value'], 'NO'), 'rules[0].conditions[0].value'],
  ['invalid semver', set(['rules', 0, 'conditions', 1, 'value'], '2.0'), 'rules[0].conditions[1].value'],
  ['empty attribute', set(['rules', 0, 'conditions', 0, 'attribute'], ''), 'rules[0].conditions[0].attribute'],
  ['unknown time zone', set(['timeSchedules', 0, 'timezone'], 'Mars/Olympus_Mons'), 'timeSchedules[0].timezone'],
  ['hour 25', set(['timeSchedules', 0, 'start'], '25:00'), 'timeSchedules[0].start'],
  ['time without a colon', set(['timeSchedules', 0, 'end'], '1730'), 'timeSchedules[0].end'],
  ['weekday 0', set(['timeSchedules', 0, 'daysOfWeek'], [0, 1]), 'timeSchedules[0].daysOfWeek[0]'],
  ['weekday 8', set(['timeSchedules', 0, 'daysOfWeek'], [1, 8]), 'timeSchedules[0].daysOfWeek[1]'],
  ['duplicate weekday', set(['timeSchedules', 0, 'daysOfWeek'], [1, 1]), 'timeSchedules[0].daysOfWeek[1]'],
  ['day of month 32', set(['timeSchedules', 0, 'daysOfMonth'], [32]), 'timeSchedules[0].daysOfMonth[0]'],
  [
    'validUntil before validFrom',
    set(['timeSchedules', 0, 'validUntil'], new Date('2024-01-01T00:00:00Z')),
    'timeSchedules[0].validUntil',
  ],
  ['duplicate rule id', set(['rules', 1, 'id'], 'nordics'), 'rules[1].id'],
  ['duplicate variant key', set(['variants', 1, 'key'], 'a'), 'variants[1].key'],
  ['setValue of the wrong type', set(['scheduledChanges', 0, 'value'], 3), 'scheduledChanges[0].value'],
  ['setRollout without percentage', set(['scheduledChanges', 1, 'percentage'], undefined), 'scheduledChanges[1].percentage'],
  ['scheduled change at no date', set(['scheduledChanges', 2, 'at'], 'tomorrow'), 'scheduledChanges[2].at'],
  ['phase above 100', set(['rolloutPhases', 0, 'percentage'], 101), 'rolloutPhases[0].percentage'],
  ['name too long', set(['name'], 'n'.repeat(257)), 'name'],
  ['description too long', set(['description'], 'd'.repeat(4097)), 'description'],
  [
    'too many rules',
    set(
      ['rules'],
      Array.from({ length: 1001 }, (_, i) => makeRule(`r${i}`)),
    ),
    'rules',
  ],
  [
    'metadata nested too deep',
    set(['metadata'], JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40))),
    `metadata${'.a'.repeat(32)}`,
  ],
  [
    'constructor key in metadata',
    set(['metadata'], JSON.parse('{"constructor":{"prototype":{"polluted":true}}}')),
    'metadata.constructor',
  ],
  ['__proto__ key in metadata', set(['metadata'], JSON.parse('{"ok":1,"__proto__":{"polluted":true}}')), 'metadata.__proto__'],
  [
    'prototype key deep in a json value',
    set(['metadata'], { a: [{ b: JSON.parse('{"prototype":1}') }] }),
    'metadata.a[0].b.prototype',
  ],
  ['a Map in metadata', set(['metadata'], { m: new Map() }), 'metadata.m'],
  ['a misspelt field', set(['rolloutPercentag'], 5), 'rolloutPercentag'],
  ['a misspelt rule field', set(['rules', 0, 'rolloutPercentag'], 5), 'rules[0].rolloutPercentag'],
  ['version not an integer', set(['version'], 1.5), 'version'],
  ['missing updatedAt', set(['updatedAt'], undefined), 'updatedAt'],
]

describe('validation rejects invalid flags, naming the field', () => {
  it.each(MUTATIONS.map(([description, mutate, field]) => ({ description, mutate, field })))(
    '$description → $field',
    ({ mutate, field }) => {
      const flag = structuredClone(fullFlag()) as unknown as Record<string, unknown>
      mutate(flag)
      const error = invalid(() => encodeFlag(flag as unknown as FeatureFlag))
      expect(error.code).toBe('INVALID_ARGUMENT')
      expect(error.details?.field).toBe(field)
      expect(error.message.startsWith(`${field}:`)).toBe(true)
    },
  )

  it('rejects a __proto__ key on the document itself', () => {
    // JSON.parse makes "__proto__" an own key, as a request body would.
    const raw: unknown = JSON.parse(`{"__proto__":{"isAdmin":true},${JSON.stringify(fullFlag()).slice(1)}`)
    const error = invalid(() => validateFlag(raw))
    expect(error.details?.field).toBe('__proto__')
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  })

  it('checks boolean flags: value fields may only repeat the enabled field', () => {
    const flag = makeFlag({ key: 'b', defaultEnabled: true, defaultValue: false })
    expect(invalid(() => encodeFlag(flag)).details?.field).toBe('defaultValue')
    const ok = makeFlag({
      key: 'b',
      defaultEnabled: true,
      defaultValue: true,
      rules: [makeRule('r', { serveEnabled: false, serveValue: false })],
    })
    expect(() => encodeFlag(ok)).not.toThrow()
    const bad = makeFlag({ key: 'b', rules: [makeRule('r', { serveEnabled: true, serveValue: 'yes' })] })
    expect(invalid(() => encodeFlag(bad)).details?.field).toBe('rules[0].serveValue')
  })

  it('checks an override’s value against its flag’s type', () => {
    const numberFlag = makeFlag({ key: 'limit', type: 'number', defaultValue: 10 })
    const override = { flagKey: 'limit', entityType: 'user', entityId: 'u1', enabled: true, value: 'abc' } as FlagOverride
    expect(invalid(() => encodeOverride(override, numberFlag)).details?.field).toBe('value')
    expect(() => encodeOverride({ ...override, value: 99 }, numberFlag)).not.toThrow()
    expect(invalid(() => encodeOverride({ ...override, flagKey: 'other', value: 99 }, numberFlag)).details?.field).toBe('flagKey')
    expect(invalid(() => validateOverride({ ...override, entityType: 'bad type' })).details?.field).toBe('entityType')
    expect(invalid(() => validateOverride({ ...override, entityId: '' })).details?.field).toBe('entityId')
  })

  it('rejects a segment that is its own parent or refers to itself', () => {
    expect(invalid(() => validateSegment({ key: 's', name: 's', conditions: [], parent: 's' })).details?.field).toBe('parent')
    const selfRef = { key: 's', name: 's', conditions: [{ attribute: '', operator: 'in_segment', value: 's' }] }
    expect(invalid(() => validateSegment(selfRef)).details?.field).toBe('conditions[0].value')
  })
})

describe('cycle checks', () => {
  const seg = (key: string, parent?: string, refs: string[] = []): Segment => ({
    key,
    name: key,
    conditions: refs.map((r) => ({ attribute: '', operator: 'in_segment', value: r })),
    ...(parent === undefined ? {} : { parent }),
  })

  it('accepts a forest of segments', () => {
    expect(() => checkSegmentCycles([seg('a'), seg('b', 'a'), seg('c', 'b', ['a']), seg('d', 'missing')])).not.toThrow()
  })

  it('rejects cycles through parents and through segment conditions, reported on the last segment given', () => {
    const parents = invalid(() => checkSegmentCycles([seg('a', 'c'), seg('b', 'a'), seg('c', 'b')]))
    expect(parents.code).toBe('INVALID_ARGUMENT')
    expect(parents.details?.field).toBe('parent')
    expect(parents.message).toContain('"c" -> "b" -> "a" -> "c"')
    const viaCondition = invalid(() => checkSegmentCycles([seg('a', 'b'), seg('b', undefined, ['a'])]))
    expect(viaCondition.details?.field).toBe('conditions[0].value')
  })

  it('rejects environment parent cycles', () => {
    const env = (slug: string, parent?: string) => ({
      slug,
      name: slug,
      settings: {},
      ...(parent === undefined ? {} : { parent }),
    })
    expect(() => checkEnvironmentCycles([env('production'), env('staging', 'production'), env('dev', 'staging')])).not.toThrow()
    expect(invalid(() => checkEnvironmentCycles([env('a', 'b'), env('b', 'a')])).message).toContain('cycle')
  })
})

describe('decoding corrupt bytes', () => {
  const KEY = 'flags:flag/checkout'
  const cases: [string, unknown][] = [
    ['random bytes', Uint8Array.from([0, 159, 146, 150, 255, 1, 2])],
    ['invalid UTF-8', Uint8Array.from([0x7b, 0xc3, 0x28, 0x7d])],
    ['empty', new Uint8Array()],
    ['truncated JSON', new TextEncoder().encode('{"json":{"key":"a"')],
    ['plain JSON, not superjson', new TextEncoder().encode(JSON.stringify({ key: 'checkout' }))],
    ['a number', new TextEncoder().encode('42')],
    ['null', new TextEncoder().encode('null')],
    ['a valid superjson of the wrong shape', new TextEncoder().encode(superjson.stringify({ key: 'checkout', type: 'boolean' }))],
    ['an invalid flag', new TextEncoder().encode(superjson.stringify({ ...fullFlag(), type: 'float' }))],
    [
      'a superjson meta path through __proto__',
      new TextEncoder().encode('{"json":{"a":"2020-01-01T00:00:00.000Z"},"meta":{"values":{"__proto__.x":["Date"]}}}'),
    ],
    ['not bytes at all', 'a string'],
  ]

  it.each(cases)('%s → CORRUPT_VALUE naming the key', (_name, bytes) => {
    let caught: unknown
    try {
      decodeFlag(bytes as Uint8Array, KEY)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(FlagstoneError)
    const error = caught as FlagstoneError
    expect(error.code).toBe('CORRUPT_VALUE')
    expect(error.message).toContain(KEY)
    expect(error.details?.key).toBe(KEY)
  })

  it('names the bad field of a stored document that fails validation', () => {
    const bytes = new TextEncoder().encode(
      superjson.stringify({ ...fullFlag(), rules: [{ ...fullFlag().rules[0], rolloutPercentage: 400 }] }),
    )
    const error = invalid(() => decodeFlag(bytes, KEY))
    expect(error.code).toBe('CORRUPT_VALUE')
    expect(error.message).toContain('rules[0].rolloutPercentage')
    expect(error.details?.field).toBe('rules[0].rolloutPercentage')
  })

  it('drops unknown fields and keeps unknown operators (never matching) when reading', () => {
    const stored = {
      ...fullFlag(),
      addedInV9: { whatever: true },
      rules: [{ ...fullFlag().rules[0], conditions: [{ attribute: 'x', operator: 'geo_within', value: [1, 2] }] }],
    }
    const flag = decodeFlag(new TextEncoder().encode(superjson.stringify(stored)), KEY)
    expect(flag).not.toHaveProperty('addedInV9')
    expect(flag.rules[0]!.conditions[0]!.operator).toBe('geo_within')
    expect(invalid(() => encodeFlag(flag)).details?.field).toBe('rules[0].conditions[0].operator')
  })

  it('decodes other kinds with the same guarantees', () => {
    for (const decode of [decodeOverride, decodeSegment, decodeEnvironment, decodeEnvironmentFlag]) {
      const error = invalid(() => decode(Uint8Array.from([1, 2, 3]), 'some/key'))
      expect(error.code).toBe('CORRUPT_VALUE')
      expect(error.message).toContain('some/key')
    }
  })
})
