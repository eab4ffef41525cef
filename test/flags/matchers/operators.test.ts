import { describe, expect, it } from 'vitest'
import { OPERATORS, type Condition, type EvaluationContext, type Segment } from '../../../src/flags/model.js'
import { checkConditionValue, compileCondition, evaluateCondition, parseIsoDate } from '../../../src/flags/matchers/index.js'

const NOW = Date.parse('2025-06-15T12:00:00Z')

type Row = [operator: string, value: Condition['value'], actual: unknown, expected: boolean]

/** Each row: a condition on attribute `x` (read from `attributes`) against `actual`. */
const ROWS: Row[] = [
  ['eq', 'NO', 'NO', true],
  ['eq', 'NO', 'SE', false],
  ['eq', 5, 5, true],
  ['eq', 5, '5', false], // type mismatch
  ['eq', true, true, true],
  ['eq', 'x', undefined, false],
  ['ne', 'NO', 'SE', true],
  ['ne', 'NO', 'NO', false],
  ['ne', 'NO', undefined, false], // missing attribute: false, also for negative operators
  ['ne', 5, '6', false], // type mismatch
  ['gt', 10, 11, true],
  ['gt', 10, 10, false],
  ['gte', 10, 10, true],
  ['lt', 10, 9.5, true],
  ['lte', 10, 10, true],
  ['lte', 10, 11, false],
  ['gt', 10, '11', false], // type mismatch
  ['gt', 'b', 'c', true],
  ['lt', 'b', 'a', true],
  ['lt', 'b', 1, false],
  ['in', ['NO', 'SE'], 'SE', true],
  ['in', ['NO', 'SE'], 'DK', false],
  ['in', [1, 2], 2, true],
  ['in', [1, 2], '2', false],
  ['in', ['NO'], ['NO'], false], // an array is not a member
  ['not_in', ['NO', 'SE'], 'DK', true],
  ['not_in', ['NO', 'SE'], 'NO', false],
  ['not_in', ['NO'], undefined, false],
  ['not_in', ['NO'], { a: 1 }, false],
  ['contains', 'pro', 'enterprise-pro', true],
  ['contains', 'pro', 'basic', false],
  ['contains', 'beta', ['alpha', 'beta'], true],
  ['contains', 3, [1, 2, 3], true],
  ['contains', 3, 'abc3', false], // number in string: mismatch
  ['not_contains', 'pro', 'basic', true],
  ['not_contains', 'beta', ['beta'], false],
  ['not_contains', 'x', 42, false],
  ['starts_with', 'http', 'https://x', true],
  ['starts_with', 'http', 'ftp://x', false],
  ['starts_with', 'http', 42, false],
  ['ends_with', '@example.com', 'me@example.com', true],
  ['ends_with', '@example.com', 'me@example.org', false],
  ['matches', '^[a-z]+-\\d+$', 'user-42', true],
  ['matches', '^[a-z]+-\\d+$', 'User-42', false],
  ['matches', 'x', 'x'.repeat(1025), false], // input longer than 1024
  ['matches', 'x', 42, false],
  ['exists', undefined, 'anything', true],
  ['exists', undefined, 0, true],
  ['exists', undefined, null, false],
  ['exists', undefined, undefined, false],
  ['not_exists', undefined, undefined, true],
  ['not_exists', undefined, null, true],
  ['not_exists', undefined, '', false],
  ['semver_eq', '1.2.3', '1.2.3', true],
  ['semver_eq', '1.2.3', 'v1.2.3', true],
  ['semver_eq', '1.2.3', '1.2.3+build.7', true], // build metadata has no precedence
  ['semver_eq', '1.2.3', '1.2', false], // not a semver
  ['semver_ne', '1.2.3', '1.2.4', true],
  ['semver_ne', '1.2.3', 'garbage', false],
  ['semver_gt', '1.9.0', '1.10.0', true], // numeric, not lexicographic
  ['semver_gt', '1.0.0', '1.0.0-rc.1', false], // pre-release is below its release
  ['semver_lt', '1.0.0', '1.0.0-rc.1', true],
  ['semver_lt', '1.0.0-beta', '1.0.0-alpha.1', true],
  ['semver_lt', '1.0.0-alpha.1', '1.0.0-alpha', true],
  ['semver_gt', '1.0.0-beta.2', '1.0.0-beta.11', true], // numeric identifiers compare as numbers
  ['semver_gte', '2.0.0', '2.0.0', true],
  ['semver_gte', '2.0.0', '2.0.0-rc.9', false],
  ['semver_lte', '2.0.0', '1.99.99', true],
  ['semver_gt', '1.0.0', 2, false],
  ['date_before', '2025-06-01T00:00:00Z', '2025-05-31T23:59:59Z', true],
  ['date_before', '2025-06-01T00:00:00Z', '2025-06-01T02:00:00+03:00', true], // 23:00 UTC the day before
  ['date_before', '2025-06-01', '2025-06-01T00:00:00.001Z', false],
  ['date_after', '2025-06-01', Date.parse('2025-06-02T00:00:00Z'), true], // epoch ms
  ['date_after', '2025-06-01', new Date('2025-05-01T00:00:00Z'), false], // Date object
  ['date_after', Date.parse('2025-06-01T00:00:00Z'), '2025-06-01T00:00:01Z', true],
  ['date_after', '2025-06-01', 'not a date', false],
  ['date_after', '2025-06-01', '2025-02-30', false], // no such day
  ['in_cidr', '10.0.0.0/8', '10.20.30.40', true],
  ['in_cidr', '10.0.0.0/8', '11.0.0.1', false],
  ['in_cidr', '192.168.1.0/24', '192.168.1.255', true],
  ['in_cidr', '192.168.1.0/24', '192.168.2.0', false],
  ['in_cidr', '10.0.0.0/8', '::ffff:10.1.2.3', true], // IPv4-mapped IPv6
  ['in_cidr', '2001:db8::/32', '2001:db8:abcd::1', true],
  ['in_cidr', '2001:db8::/32', '2001:db9::1', false],
  ['in_cidr', 'fe80::/10', 'fe80::1', true],
  ['in_cidr', '::1/128', '::1', true],
  ['in_cidr', ['10.0.0.0/8', '172.16.0.0/12'], '172.20.1.1', true],
  ['in_cidr', '10.0.0.0/8', '10.0.0.256', false],
  ['in_cidr', '10.0.0.0/8', 'localhost', false],
  ['in_cidr', '0.0.0.0/0', '2001:db8::1', false], // IPv4 block never holds a native IPv6 address
  ['bogus_operator', 'x', 'x', false], // unknown operators never match
]

describe('operators', () => {
  it('covers every operator of flags.md in the table', () => {
    const used = new Set(ROWS.map((r) => r[0]))
    for (const op of OPERATORS) if (op !== 'in_segment' && op !== 'not_in_segment') expect(used, op).toContain(op)
  })

  it.each(ROWS)('%s %j on %j → %s', (operator, value, actual, expected) => {
    const context: EvaluationContext = { attributes: actual === undefined ? {} : { x: actual } }
    expect(evaluateCondition({ attribute: 'x', operator, value }, context, { now: NOW })).toBe(expected)
  })

  it('reads standard context fields first, then attributes', () => {
    const condition: Condition = { attribute: 'country', operator: 'eq', value: 'NO' }
    expect(evaluateCondition(condition, { country: 'NO', attributes: { country: 'SE' } })).toBe(true)
    expect(evaluateCondition(condition, { attributes: { country: 'NO' } })).toBe(true)
    expect(evaluateCondition(condition, { country: 'SE', attributes: { country: 'NO' } })).toBe(false)
    expect(evaluateCondition({ attribute: 'appVersion', operator: 'semver_gte', value: '2.0.0' }, { appVersion: '2.1.0' })).toBe(
      true,
    )
    expect(
      evaluateCondition({ attribute: 'ipAddress', operator: 'in_cidr', value: '10.0.0.0/8' }, { ipAddress: '10.9.9.9' }),
    ).toBe(true)
  })

  it('reads own attributes only, never the prototype chain', () => {
    expect(evaluateCondition({ attribute: 'toString', operator: 'exists' }, { attributes: {} })).toBe(false)
    expect(evaluateCondition({ attribute: 'hasOwnProperty', operator: 'not_exists' }, { attributes: {} })).toBe(true)
  })

  it('compares the attribute `now` with the evaluation instant', () => {
    const condition: Condition = { attribute: 'now', operator: 'date_after', value: '2025-06-01T00:00:00Z' }
    expect(evaluateCondition(condition, {}, { now: NOW })).toBe(true)
    expect(evaluateCondition(condition, {}, { now: Date.parse('2025-05-01T00:00:00Z') })).toBe(false)
  })

  it('compiles a condition with an unknown operator or an invalid value to one that never matches', () => {
    const context = { attributes: { x: 'x' } }
    for (const condition of [
      { attribute: 'x', operator: 'regex', value: 'x' },
      { attribute: 'x', operator: 'eq', value: { nested: true } as unknown as string },
      { attribute: 'x', operator: 'matches', value: '(a+)+$' },
      { attribute: 'x', operator: 'semver_eq', value: 'not-semver' },
      { attribute: 'x', operator: 'not_in', value: 'not-a-list' },
    ]) {
      expect(compileCondition(condition).test(context, NOW), JSON.stringify(condition)).toBe(false)
    }
  })

  it('describes what is wrong with a value for each operator', () => {
    expect(checkConditionValue('in', 'NO')).toMatch(/array/)
    expect(checkConditionValue('matches', '(a+)+$')).toMatch(/nested quantifier/)
    expect(checkConditionValue('semver_gt', '1.2')).toMatch(/semantic version/)
    expect(checkConditionValue('date_after', 'yesterday')).toMatch(/ISO-8601/)
    expect(checkConditionValue('in_cidr', '10.0.0.0/33')).toMatch(/CIDR/)
    expect(checkConditionValue('in_segment', 'bad key!')).toMatch(/segment key/)
    expect(checkConditionValue('exists', 'x')).toMatch(/absent/)
    expect(checkConditionValue('eq', 'ok')).toBeUndefined()
  })

  it('parses ISO-8601 strictly and reads offset-less times as UTC', () => {
    expect(parseIsoDate('2025-06-15')).toBe(Date.UTC(2025, 5, 15))
    expect(parseIsoDate('2025-06-15T10:30')).toBe(Date.UTC(2025, 5, 15, 10, 30))
    expect(parseIsoDate('2025-06-15T10:30:00.123456Z')).toBe(Date.UTC(2025, 5, 15, 10, 30, 0, 123))
    expect(parseIsoDate('2025-06-15T10:30:00+0200')).toBe(Date.UTC(2025, 5, 15, 8, 30))
    expect(parseIsoDate('2025-06-15T10:30:00-05:30')).toBe(Date.UTC(2025, 5, 15, 16, 0))
    expect(parseIsoDate('June 15, 2025')).toBeUndefined()
    expect(parseIsoDate('2025-13-01')).toBeUndefined()
    expect(parseIsoDate('2024-02-29')).toBe(Date.UTC(2024, 1, 29))
    expect(parseIsoDate('2025-02-29')).toBeUndefined()
  })
})

describe('segment operators', () => {
  const segments = new Map<string, Segment>([
    [
      'employees',
      { key: 'employees', name: 'Employees', conditions: [{ attribute: 'email', operator: 'ends_with', value: '@acme.com' }] },
    ],
    [
      'nordic-employees',
      {
        key: 'nordic-employees',
        name: 'Nordic',
        parent: 'employees',
        conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }],
      },
    ],
    [
      'beta-or-staff',
      { key: 'beta-or-staff', name: 'x', conditions: [{ attribute: '', operator: 'not_in_segment', value: 'nordic-employees' }] },
    ],
    ['cycle-a', { key: 'cycle-a', name: 'a', parent: 'cycle-b', conditions: [] }],
    ['cycle-b', { key: 'cycle-b', name: 'b', conditions: [{ attribute: '', operator: 'in_segment', value: 'cycle-a' }] }],
    ['orphan', { key: 'orphan', name: 'o', parent: 'missing', conditions: [] }],
  ])
  const inSeg = (key: string, context: EvaluationContext) =>
    evaluateCondition({ attribute: '', operator: 'in_segment', value: key }, context, { segments })
  const notInSeg = (key: string, context: EvaluationContext) =>
    evaluateCondition({ attribute: '', operator: 'not_in_segment', value: key }, context, { segments })

  const nordicStaff = { country: 'NO', attributes: { email: 'kari@acme.com' } }
  const danishStaff = { country: 'DK', attributes: { email: 'mette@acme.com' } }
  const nordicGuest = { country: 'SE', attributes: { email: 'sven@example.com' } }

  it('requires a nested segment’s conditions AND its parent’s', () => {
    expect(inSeg('nordic-employees', nordicStaff)).toBe(true)
    expect(inSeg('nordic-employees', danishStaff)).toBe(false)
    expect(inSeg('nordic-employees', nordicGuest)).toBe(false)
    expect(notInSeg('nordic-employees', nordicGuest)).toBe(true)
    expect(inSeg('employees', danishStaff)).toBe(true)
  })

  it('follows segments that refer to other segments', () => {
    expect(inSeg('beta-or-staff', nordicStaff)).toBe(false)
    expect(inSeg('beta-or-staff', danishStaff)).toBe(true)
  })

  it('never matches an unknown segment, a cyclic one or one whose parent is missing, in either direction', () => {
    for (const key of ['nope', 'cycle-a', 'cycle-b', 'orphan']) {
      expect(inSeg(key, nordicStaff), key).toBe(false)
      expect(notInSeg(key, nordicStaff), key).toBe(false)
    }
  })
})
