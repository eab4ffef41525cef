import type { FeatureFlag, FlagRule } from '../../src/flags/model.js'

export const T0 = new Date('2025-01-01T00:00:00Z')

/** A valid flag document with every collection empty; `overrides` replace fields. */
export function makeFlag(overrides: Partial<FeatureFlag> & Pick<FeatureFlag, 'key'>): FeatureFlag {
  return {
    name: overrides.key,
    type: 'boolean',
    status: 'active',
    defaultEnabled: false,
    tags: [],
    metadata: {},
    rules: [],
    variants: [],
    scheduledChanges: [],
    rolloutPhases: [],
    timeSchedules: [],
    version: 1,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  }
}

/** A rule that matches everyone unless `conditions` are given. */
export function makeRule(id: string, fields: Partial<FlagRule> = {}): FlagRule {
  return { id, name: id, priority: 0, enabled: true, conditions: [], serveEnabled: true, ...fields }
}
