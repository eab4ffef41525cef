/** The TypeBox schemas agree with the codec: what the codec writes validates, and its structural rejections fail here too. */
import { Value } from '@sinclair/typebox/value'
import type { TSchema } from '@sinclair/typebox'
import { describe, expect, it } from 'vitest'
import {
  DOCUMENT_SCHEMAS,
  EnvironmentFlagSchema,
  EnvironmentSchema,
  FlagInputSchema,
  FlagSchema,
  OverrideSchema,
  SegmentSchema,
  StoreFlagRepository,
  validateFlagInput,
} from '../../src/flags/index.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import { seed } from '../openfeature/helpers.js'

const valid = (schema: TSchema, value: unknown) => Value.Check(schema, [...DOCUMENT_SCHEMAS], JSON.parse(JSON.stringify(value)))
const codecAccepts = (value: unknown) => {
  try {
    validateFlagInput(value)
    return true
  } catch {
    return false
  }
}

describe('document schemas', () => {
  it('every document the repository stores, as the API sends it, validates', async () => {
    const repository = new StoreFlagRepository(new MemoryStore())
    await seed(repository)
    await repository.createFlag({
      key: 'everything',
      type: 'number',
      defaultValue: 1,
      rules: [{ id: 'r1', conditions: [{ attribute: 'now', operator: 'date_after', value: new Date('2026-01-01T00:00:00Z') }] }],
      variants: [{ key: 'a', value: 2, weight: 1 }],
      scheduledChanges: [{ id: 'c1', at: new Date('2030-01-01T00:00:00Z'), change: 'setValue', value: 3 }],
      rolloutPhases: [{ at: new Date('2030-01-01T00:00:00Z'), percentage: 50 }],
      timeSchedules: [
        {
          id: 't1',
          name: 'office',
          recurrence: 'weekly',
          start: '09:00',
          end: '17:00',
          daysOfWeek: [1, 2],
          timezone: 'Europe/Oslo',
        },
      ],
    })
    await repository.createSegment({
      key: 'pros',
      name: 'Pros',
      conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }],
    })
    await repository.createEnvironment({ slug: 'production', name: 'Production', settings: { protected: true } })
    await repository.setEnvironmentFlag({ environment: 'production', flagKey: 'banner', enabled: false, percentage: 10 })
    const snapshot = await repository.loadSnapshot()
    expect(snapshot.flags.length).toBeGreaterThan(5)
    for (const flag of snapshot.flags) {
      expect(valid(FlagSchema, flag), flag.key).toBe(true)
      const { version: _v, createdAt: _c, updatedAt: _u, ...input } = flag
      expect(valid(FlagInputSchema, input), flag.key).toBe(true)
    }
    for (const o of snapshot.overrides) expect(valid(OverrideSchema, o)).toBe(true)
    for (const s of snapshot.segments) expect(valid(SegmentSchema, s)).toBe(true)
    for (const e of snapshot.environments) expect(valid(EnvironmentSchema, e)).toBe(true)
    for (const ef of snapshot.environmentFlags) expect(valid(EnvironmentFlagSchema, ef)).toBe(true)
  })

  it.each([
    ['an unknown field', { key: 'a', type: 'boolean', colour: 'red' }],
    ['a missing type', { key: 'a' }],
    ['a type outside the list', { key: 'a', type: 'date' }],
    ['a bad key', { key: '1a', type: 'boolean' }],
    ['a status outside the list', { key: 'a', type: 'boolean', status: 'on' }],
    [
      'an unknown operator',
      { key: 'a', type: 'boolean', rules: [{ id: 'r', conditions: [{ attribute: 'x', operator: 'like' }] }] },
    ],
    ['a rollout over 100', { key: 'a', type: 'boolean', rules: [{ id: 'r', rolloutPercentage: 150 }] }],
    ['a rule without id', { key: 'a', type: 'boolean', rules: [{ name: 'r' }] }],
    ['a negative weight', { key: 'a', type: 'string', variants: [{ key: 'v', value: 'x', weight: -1 }] }],
    [
      'a time that is not HH:MM',
      { key: 'a', type: 'boolean', timeSchedules: [{ id: 't', recurrence: 'daily', start: '9', end: '10:00', timezone: 'UTC' }] },
    ],
  ])('both reject %s', (_what, document) => {
    expect(codecAccepts(document)).toBe(false)
    expect(valid(FlagInputSchema, document)).toBe(false)
  })
})
