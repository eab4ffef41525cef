import { describe, expect, it } from 'vitest'
import { checkEnvironmentCycles, validateEnvironment } from '../../../src/flags/codec/index.js'
import {
  diffEnvironmentFlags,
  effectiveFlag,
  environmentChain,
  planPromotion,
  resolveChain,
} from '../../../src/flags/evaluation/environments.js'
import { compileSnapshot, type SnapshotInput } from '../../../src/flags/evaluation/evaluate.js'
import { rolloutBucket } from '../../../src/flags/evaluation/hash.js'
import type { Environment, EnvironmentFlag, EvaluationContext, FlagValue, Reason } from '../../../src/flags/model.js'
import { foldDueChanges } from '../../../src/flags/evaluation/schedules.js'
import { FlagstoneError } from '../../../src/errors.js'
import { makeFlag, makeRule } from '../fixtures.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const HOUR = 3_600_000

const env = (slug: string, parent?: string, settings: Environment['settings'] = {}): Environment => ({
  slug,
  name: slug,
  settings,
  ...(parent === undefined ? {} : { parent }),
})

// The pipeline: development is the root, staging inherits from it, production from staging.
const ENVIRONMENTS: Environment[] = [
  env('development'),
  env('staging', 'development'),
  env('production', 'staging', { protected: true }),
  env('preview', 'development'),
]

const nordics = makeRule('nordics', { conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }] })
const staff = makeRule('staff', { conditions: [{ attribute: 'email', operator: 'ends_with', value: '@acme.com' }] })

// The base flag is off everywhere and has a rule for staff.
const checkout = makeFlag({ key: 'checkout', status: 'inactive', defaultEnabled: false, rules: [staff] })

const SETTINGS: EnvironmentFlag[] = [
  {
    environment: 'development',
    flagKey: 'checkout',
    enabled: true,
    rules: [staff, nordics],
    variants: [{ key: 'on', value: true, weight: 1 }],
  },
  { environment: 'staging', flagKey: 'checkout', percentage: 50, rules: [nordics] },
  { environment: 'production', flagKey: 'checkout', percentage: 10 },
]

const snapshotInput = (extra: Partial<SnapshotInput> = {}): SnapshotInput => ({
  flags: [checkout],
  environments: ENVIRONMENTS,
  environmentFlags: SETTINGS,
  ...extra,
})

/** A targeting key whose rollout bucket for `checkout` satisfies `predicate`. */
function keyWithBucket(predicate: (bucket: number) => boolean, flagKey = 'checkout'): string {
  for (let i = 0; ; i++) if (predicate(rolloutBucket(flagKey, `user-${i}`))) return `user-${i}`
}
const in10 = keyWithBucket((b) => b <= 10)
const in50not10 = keyWithBucket((b) => b > 10 && b <= 50)
const out50 = keyWithBucket((b) => b > 50)

describe('resolveChain: where each value comes from', () => {
  it('production ← staging ← development: each field from the nearest environment that sets it', () => {
    const r = resolveChain(ENVIRONMENTS, SETTINGS, 'checkout', 'production')
    expect(r.known).toBe(true)
    expect(r.chain).toEqual(['production', 'staging', 'development'])
    expect(r.enabled).toEqual({ value: true, source: 'development' })
    expect(r.percentage).toEqual({ value: 10, source: 'production' })
    expect(r.rules).toEqual({ value: [nordics], source: 'staging' })
    expect(r.variants).toEqual({ value: [{ key: 'on', value: true, weight: 1 }], source: 'development' })
  })

  it('staging and development', () => {
    const staging = resolveChain(ENVIRONMENTS, SETTINGS, 'checkout', 'staging')
    expect([staging.enabled.source, staging.percentage.source, staging.rules.source, staging.variants.source]).toEqual([
      'development',
      'staging',
      'staging',
      'development',
    ])
    const development = resolveChain(ENVIRONMENTS, SETTINGS, 'checkout', 'development')
    expect(development.chain).toEqual(['development'])
    expect(development.percentage).toEqual({ value: undefined, source: 'flag' })
  })

  it("fields nobody sets come from 'flag', with the base values when the flag is given", () => {
    const r = resolveChain(ENVIRONMENTS, [], 'checkout', 'production', { flag: checkout, now: NOW })
    expect(r.enabled).toEqual({ value: false, source: 'flag' })
    expect(r.rules).toEqual({ value: [staff], source: 'flag' })
    expect(r.variants).toEqual({ value: [], source: 'flag' })
    expect(r.percentage).toEqual({ value: undefined, source: 'flag' })
    // The base values are the flag's at `now`, schedules applied.
    const scheduled = makeFlag({
      key: 'checkout',
      status: 'inactive',
      scheduledChanges: [{ id: 'go', at: new Date(NOW), change: 'enable' }],
      rolloutPhases: [{ at: new Date(NOW), percentage: 25 }],
    })
    expect(resolveChain(ENVIRONMENTS, [], 'checkout', 'production', { flag: scheduled, now: NOW - 1 })).toMatchObject({
      enabled: { value: false },
      percentage: { value: 0 },
    })
    expect(resolveChain(ENVIRONMENTS, [], 'checkout', 'production', { flag: scheduled, now: NOW })).toMatchObject({
      enabled: { value: true },
      percentage: { value: 25 },
    })
  })

  it('an unknown environment resolves everything from the flag; settings for unknown environments are ignored', () => {
    const r = resolveChain(
      ENVIRONMENTS,
      [...SETTINGS, { environment: 'ghost', flagKey: 'checkout', enabled: true }],
      'checkout',
      'ghost',
    )
    expect(r).toMatchObject({
      known: false,
      chain: [],
      enabled: { source: 'flag' },
      percentage: { source: 'flag' },
      rules: { source: 'flag' },
      variants: { source: 'flag' },
    })
  })

  it('accepts maps as the snapshot holds them', () => {
    const snapshot = compileSnapshot(snapshotInput())
    expect(resolveChain(snapshot.environments, snapshot.environmentFlags, 'checkout', 'production')).toEqual(
      resolveChain(ENVIRONMENTS, SETTINGS, 'checkout', 'production'),
    )
  })

  it('a cycle or a dangling parent that reached a snapshot ends the walk instead of looping', () => {
    expect(environmentChain([env('a', 'b'), env('b', 'a')], 'a')).toEqual(['a', 'b'])
    expect(environmentChain([env('a', 'gone')], 'a')).toEqual(['a'])
  })
})

describe('evaluation for context.environment (step 3)', () => {
  const snapshot = compileSnapshot(snapshotInput())
  type Row = [name: string, context: EvaluationContext, expected: { value: FlagValue; reason: Reason; variant?: string }]
  const rows: Row[] = [
    ['no environment: the base flag (inactive)', { country: 'NO', targetingKey: in10 }, { value: false, reason: 'DISABLED' }],
    [
      'an unknown environment: the base flag',
      { environment: 'qa-7', country: 'NO', targetingKey: in10 },
      { value: false, reason: 'DISABLED' },
    ],
    [
      'development: enabled, its own rules (staff + nordics)',
      { environment: 'development', attributes: { email: 'a@acme.com' } },
      { value: true, reason: 'TARGETING_MATCH', variant: 'staff' },
    ],
    [
      'development: no rule matches → its variants',
      { environment: 'development', country: 'DK', targetingKey: 'x' },
      { value: true, reason: 'SPLIT', variant: 'on' },
    ],
    [
      'staging: enabled from development, rules from staging (no staff rule)',
      { environment: 'staging', attributes: { email: 'a@acme.com' }, targetingKey: in10 },
      { value: true, reason: 'SPLIT', variant: 'on' },
    ],
    [
      'staging: the nordics rule, inside its 50%',
      { environment: 'staging', country: 'NO', targetingKey: in50not10 },
      { value: true, reason: 'TARGETING_MATCH', variant: 'nordics' },
    ],
    [
      'staging: outside its 50% → off, DISABLED',
      { environment: 'staging', country: 'NO', targetingKey: out50 },
      { value: false, reason: 'DISABLED' },
    ],
    [
      'production: inside its 10%, rules from staging',
      { environment: 'production', country: 'SE', targetingKey: in10 },
      { value: true, reason: 'TARGETING_MATCH', variant: 'nordics' },
    ],
    [
      'production: in staging’s 50% but not production’s 10% → DISABLED',
      { environment: 'production', country: 'SE', targetingKey: in50not10 },
      { value: false, reason: 'DISABLED' },
    ],
    [
      'production: no targeting key is outside a partial percentage',
      { environment: 'production', country: 'SE' },
      { value: false, reason: 'DISABLED' },
    ],
    [
      'preview (child of development, sets nothing): development’s values',
      { environment: 'preview', attributes: { email: 'a@acme.com' } },
      { value: true, reason: 'TARGETING_MATCH', variant: 'staff' },
    ],
  ]
  it.each(rows)('%s', (_name, context, expected) => {
    const r = snapshot.evaluate('checkout', 'boolean', false, context, NOW)
    expect({ value: r.value, reason: r.reason, variant: r.variant, errorCode: r.errorCode }).toEqual({
      variant: undefined,
      errorCode: undefined,
      ...expected,
    })
  })

  it('a 10% production percentage admits 10% ± 1% of 100,000 keys', () => {
    const flag = makeFlag({ key: 'rollout', defaultEnabled: true })
    const snap = compileSnapshot({
      flags: [flag],
      environments: ENVIRONMENTS,
      environmentFlags: [{ environment: 'production', flagKey: 'rollout', percentage: 10 }],
    })
    let production = 0
    let staging = 0
    for (let i = 0; i < 100_000; i++) {
      const context = { environment: 'production', targetingKey: `key-${i}` }
      if (snap.evaluate<boolean>('rollout', 'boolean', false, context, NOW).value) production++
      if (snap.evaluate<boolean>('rollout', 'boolean', false, { ...context, environment: 'staging' }, NOW).value) staging++
    }
    expect(production / 100_000).toBeGreaterThanOrEqual(0.09)
    expect(production / 100_000).toBeLessThanOrEqual(0.11)
    expect(staging).toBe(100_000)
  })

  it('percentage buckets deterministically with the flag’s rollout hash (same subjects in every environment and process)', () => {
    const flag = makeFlag({ key: 'rollout', defaultEnabled: true })
    const input = (): SnapshotInput => ({
      flags: [structuredClone(flag)],
      environments: ENVIRONMENTS,
      environmentFlags: [
        { environment: 'production', flagKey: 'rollout', percentage: 10 },
        { environment: 'preview', flagKey: 'rollout', percentage: 10 },
      ],
    })
    const a = compileSnapshot(input())
    const b = compileSnapshot(input())
    for (let i = 0; i < 2_000; i++) {
      const targetingKey = `key-${i}`
      const expected = rolloutBucket('rollout', targetingKey) <= 10
      expect(a.evaluate('rollout', 'boolean', false, { environment: 'production', targetingKey }, NOW).value).toBe(expected)
      expect(b.evaluate('rollout', 'boolean', false, { environment: 'production', targetingKey }, NOW).value).toBe(expected)
      expect(a.evaluate('rollout', 'boolean', false, { environment: 'preview', targetingKey }, NOW).value).toBe(expected)
    }
  })

  it('enabled: false turns the flag off in that environment, overrides included; its children inherit it', () => {
    const flag = makeFlag({ key: 'f', defaultEnabled: true })
    const snap = compileSnapshot({
      flags: [flag],
      overrides: [{ flagKey: 'f', entityType: 'user', entityId: 'qa', enabled: true }],
      environments: ENVIRONMENTS,
      environmentFlags: [{ environment: 'staging', flagKey: 'f', enabled: false }],
    })
    expect(snap.evaluate('f', 'boolean', true, { environment: 'staging', userId: 'qa' }, NOW)).toMatchObject({
      value: false,
      reason: 'DISABLED',
    })
    expect(snap.evaluate('f', 'boolean', true, { environment: 'production' }, NOW)).toMatchObject({
      value: false,
      reason: 'DISABLED',
    })
    expect(snap.evaluate('f', 'boolean', false, { environment: 'development' }, NOW)).toMatchObject({
      value: true,
      reason: 'STATIC',
    })
    expect(snap.evaluate('f', 'boolean', false, {}, NOW)).toMatchObject({ value: true, reason: 'STATIC' })
  })

  it('an archived flag stays archived in an environment that says enabled: true', () => {
    const snap = compileSnapshot({
      flags: [makeFlag({ key: 'f', status: 'archived', defaultEnabled: true })],
      environments: ENVIRONMENTS,
      environmentFlags: [{ environment: 'development', flagKey: 'f', enabled: true }],
    })
    expect(snap.evaluate('f', 'boolean', true, { environment: 'development' }, NOW)).toMatchObject({
      value: false,
      reason: 'DISABLED',
    })
  })

  it('environment rules are checked against the flag’s type: a bad one is a PARSE_ERROR in that environment only', () => {
    const flag = makeFlag({ key: 'n', type: 'number', defaultValue: 1 })
    const snap = compileSnapshot({
      flags: [flag],
      environments: ENVIRONMENTS,
      environmentFlags: [{ environment: 'staging', flagKey: 'n', rules: [makeRule('r', { serveValue: 'abc' })] }],
    })
    expect(snap.evaluate('n', 'number', 0, { environment: 'production' }, NOW)).toMatchObject({
      value: 0,
      reason: 'ERROR',
      errorCode: 'PARSE_ERROR',
    })
    expect(snap.evaluate('n', 'number', 0, { environment: 'development' }, NOW)).toMatchObject({ value: 1, reason: 'STATIC' })
  })

  it('unreadable settings are a PARSE_ERROR where they apply, never silently ignored', () => {
    const snap = compileSnapshot({
      flags: [makeFlag({ key: 'f', defaultEnabled: true })],
      environments: ENVIRONMENTS,
      environmentFlags: [{ environment: 'staging', flagKey: 'f', enabled: 'nope' } as unknown as EnvironmentFlag],
    })
    expect(snap.evaluate('f', 'boolean', false, { environment: 'production' }, NOW)).toMatchObject({
      reason: 'ERROR',
      errorCode: 'PARSE_ERROR',
    })
    expect(snap.evaluate('f', 'boolean', false, { environment: 'production' }, NOW).errorMessage).toContain('staging')
    expect(snap.evaluate('f', 'boolean', false, { environment: 'development' }, NOW)).toMatchObject({
      value: true,
      reason: 'STATIC',
    })
    expect(snap.evaluate('f', 'boolean', false, {}, NOW)).toMatchObject({ value: true, reason: 'STATIC' })
  })

  it('a non-string environment in the context is INVALID_CONTEXT, never a throw', () => {
    const snap = compileSnapshot(snapshotInput())
    expect(snap.evaluate('checkout', 'boolean', false, { environment: 42 as unknown as string }, NOW)).toMatchObject({
      reason: 'ERROR',
      errorCode: 'INVALID_CONTEXT',
    })
  })

  it('memoised per (flag, environment): repeated evaluations share the compiled result', () => {
    const snap = compileSnapshot({
      flags: [makeFlag({ key: 'f', defaultEnabled: true })],
      environments: ENVIRONMENTS,
      environmentFlags: [{ environment: 'staging', flagKey: 'f', enabled: false }],
    })
    const a = snap.evaluate('f', 'boolean', true, { environment: 'staging', targetingKey: 'a' }, NOW)
    expect(snap.evaluate('f', 'boolean', true, { environment: 'staging', targetingKey: 'b' }, NOW + HOUR)).toBe(a)
  })
})

describe('environments and schedules together', () => {
  const flag = makeFlag({
    key: 'launch',
    status: 'inactive',
    scheduledChanges: [{ id: 'go', at: new Date(NOW), change: 'enable' }],
    rolloutPhases: [
      { at: new Date(NOW), percentage: 20 },
      { at: new Date(NOW + HOUR), percentage: 60 },
    ],
  })
  const settings: EnvironmentFlag[] = [
    { environment: 'staging', flagKey: 'launch', enabled: false },
    { environment: 'production', flagKey: 'launch', enabled: true, percentage: 10 },
  ]
  const contexts = (environment?: string): EvaluationContext[] =>
    Array.from({ length: 200 }, (_, i) => ({ targetingKey: `user-${i}`, ...(environment === undefined ? {} : { environment }) }))
  const results = (f: typeof flag, now: number, environment?: string) => {
    const snap = compileSnapshot({ flags: [f], environments: ENVIRONMENTS, environmentFlags: settings })
    return contexts(environment).map((c) => {
      const r = snap.evaluate('launch', 'boolean', false, c, now)
      return `${String(r.value)}/${r.reason}`
    })
  }
  const share = (f: typeof flag, now: number, environment?: string) =>
    results(f, now, environment).filter((r) => r.startsWith('true')).length / 200

  it('an environment’s explicit setting wins over the scheduled base; the rest follow the schedule', () => {
    // Base (and development, which sets nothing): off before, 20 % at NOW, 60 % an hour later.
    expect(share(flag, NOW - 1)).toBe(0)
    expect(share(flag, NOW, 'development')).toBeCloseTo(0.2, 1)
    expect(share(flag, NOW + HOUR, 'development')).toBeCloseTo(0.6, 1)
    // Staging says enabled: false: the scheduled enable does not turn it on there.
    expect(share(flag, NOW + HOUR, 'staging')).toBe(0)
    // Production says enabled: true and 10 %: on before the schedule, and its percentage replaces the phases.
    expect(share(flag, NOW - 1, 'production')).toBeCloseTo(0.1, 1)
    expect(share(flag, NOW + HOUR, 'production')).toBeCloseTo(0.1, 1)
  })

  it('folding the schedules changes no result in any environment', () => {
    for (const foldAt of [NOW - 1, NOW, NOW + HOUR]) {
      const folded = foldDueChanges(flag, foldAt)?.flag ?? flag
      for (const t of [foldAt, NOW, NOW + HOUR - 1, NOW + HOUR, NOW + 2 * HOUR].filter((x) => x >= foldAt)) {
        for (const environment of [undefined, 'development', 'staging', 'production', 'unknown']) {
          expect({ foldAt, t, environment, r: results(folded, t, environment) }).toEqual({
            foldAt,
            t,
            environment,
            r: results(flag, t, environment),
          })
        }
      }
    }
  })

  it('effectiveFlag: the flag as evaluated in one environment at one instant, and how long that holds', () => {
    const options = { environments: ENVIRONMENTS, environmentFlags: settings }
    const base = effectiveFlag(flag, NOW + 1)
    expect(base).toMatchObject({ rolloutPercentage: 20, from: NOW, until: NOW + HOUR })
    expect(base.flag.status).toBe('active')
    const production = effectiveFlag(flag, NOW + 1, { ...options, environment: 'production' })
    expect(production.rolloutPercentage).toBe(10)
    expect(effectiveFlag(flag, NOW + 1, { ...options, environment: 'staging' }).flag.status).toBe('inactive')
  })
})

describe('environments on write (codec)', () => {
  it('rejects a parent cycle', () => {
    expect(() => checkEnvironmentCycles(ENVIRONMENTS)).not.toThrow()
    let error: unknown
    try {
      checkEnvironmentCycles([...ENVIRONMENTS.filter((e) => e.slug !== 'development'), env('development', 'production')])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(FlagstoneError)
    expect((error as FlagstoneError).code).toBe('INVALID_ARGUMENT')
    expect((error as FlagstoneError).message).toMatch(/cycle: "development" -> "production" -> "staging" -> "development"/)
  })

  it("rejects an environment that is its own parent, and the reserved slug 'flag'", () => {
    expect(() => validateEnvironment(env('a', 'a'))).toThrow(/own parent/)
    expect(() => validateEnvironment(env('flag'))).toThrow(/reserved/)
  })
})

describe('promotion plans (pure)', () => {
  it('diffs two settings field by field', () => {
    expect(diffEnvironmentFlags(undefined, undefined)).toEqual([])
    expect(
      diffEnvironmentFlags(
        { environment: 'a', flagKey: 'f', percentage: 10, rules: [nordics] },
        { environment: 'b', flagKey: 'f', percentage: 10, rules: [structuredClone(nordics)] },
      ),
    ).toEqual([])
    expect(
      diffEnvironmentFlags(
        { environment: 'a', flagKey: 'f', percentage: 10 },
        { environment: 'b', flagKey: 'f', enabled: true, percentage: 25 },
      ),
    ).toEqual([
      { field: 'enabled', before: undefined, after: true },
      { field: 'percentage', before: 10, after: 25 },
    ])
  })

  it('promoting staging to production copies what staging resolves to, and production then evaluates as staging did', () => {
    const plan = planPromotion(ENVIRONMENTS, SETTINGS, 'checkout', 'staging', 'production')
    expect(plan.before).toEqual(SETTINGS[2])
    expect(plan.after).toEqual({
      environment: 'production',
      flagKey: 'checkout',
      enabled: true,
      percentage: 50,
      rules: [nordics],
      variants: [{ key: 'on', value: true, weight: 1 }],
    })
    expect(plan.changes.map((c) => c.field)).toEqual(['enabled', 'percentage', 'rules', 'variants'])
    const promoted = [...SETTINGS.slice(0, 2), plan.after!]
    const before = compileSnapshot(snapshotInput())
    const after = compileSnapshot(snapshotInput({ environmentFlags: promoted }))
    for (let i = 0; i < 300; i++) {
      const context = { targetingKey: `user-${i}`, country: i % 2 === 0 ? 'NO' : 'DK' }
      expect(after.evaluate('checkout', 'boolean', false, { ...context, environment: 'production' }, NOW)).toEqual(
        before.evaluate('checkout', 'boolean', false, { ...context, environment: 'staging' }, NOW),
      )
    }
    // Promoting again changes nothing.
    expect(planPromotion(ENVIRONMENTS, promoted, 'checkout', 'staging', 'production').changes).toEqual([])
  })
})
