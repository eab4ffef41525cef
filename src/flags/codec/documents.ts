/** The other stored documents: overrides, segments (with cycle checks), environments and environment flags. */
import { checkEvaluationBudget } from './budget.js'
import { FlagstoneError } from '../../errors.js'
import { checkOptions, FORBIDDEN_KEYS } from '../../internal/objects.js'
import { segmentDependencies } from '../matchers/index.js'
import {
  ENVIRONMENT_SLUG_PATTERN,
  FLAG_KEY_PATTERN,
  type Environment,
  type EnvironmentFlag,
  type EnvironmentSettings,
  type FeatureFlag,
  type FlagOverride,
  type FlagType,
  type Segment,
} from '../model.js'
import {
  booleanAgrees,
  bool,
  describe,
  ENTITY_TYPE_PATTERN,
  fail,
  jsonObject,
  LIMITS,
  optDate,
  optStr,
  percentage,
  record,
  str,
  type ValidateOptions,
  validateFlagValue,
} from './fields.js'
import { conditions, rules, variants } from './flag.js'

// ---- overrides ----

const OVERRIDE_FIELDS = new Set(['flagKey', 'entityType', 'entityId', 'enabled', 'value', 'expiresAt'])

/**
 * An override. Its `value` is checked against `flag`'s type when the flag (or its type) is given:
 * the repository passes it on write; on decode the type is checked again when the snapshot is
 * compiled.
 */
export function validateOverride(
  input: unknown,
  flag?: Pick<FeatureFlag, 'type' | 'key'> | FlagType,
  options: ValidateOptions = {},
): FlagOverride {
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', OVERRIDE_FIELDS, mode, 'an override')
  const type = typeof flag === 'string' ? flag : flag?.type
  const out: FlagOverride = {
    flagKey: str(o.flagKey, 'flagKey', { max: 128, pattern: FLAG_KEY_PATTERN }),
    entityType: str(o.entityType, 'entityType', { max: 64, pattern: ENTITY_TYPE_PATTERN }),
    entityId: str(o.entityId, 'entityId', { min: 1, max: LIMITS.nameLength }),
    enabled: bool(o.enabled, 'enabled'),
  }
  if (typeof flag === 'object' && flag.key !== out.flagKey) {
    fail('flagKey', `is "${out.flagKey}" but the override is checked against flag "${flag.key}"`)
  }
  if (FORBIDDEN_KEYS.has(out.entityType)) fail('entityType', 'this name is not allowed (prototype pollution)')
  if (o.value !== undefined) {
    out.value = validateFlagValue(o.value, type, 'value')
    if (type === 'boolean') booleanAgrees(out.value, out.enabled, 'value', 'enabled')
  }
  const expiresAt = optDate(o.expiresAt, 'expiresAt')
  if (expiresAt !== undefined) out.expiresAt = expiresAt
  return out
}

// ---- segments ----

const SEGMENT_FIELDS = new Set(['key', 'name', 'description', 'conditions', 'parent'])

export function validateSegment(input: unknown, options: ValidateOptions = {}): Segment {
  checkOptions(options, 'validateSegment()')
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', SEGMENT_FIELDS, mode, 'a segment')
  const key = str(o.key, 'key', { max: 128, pattern: FLAG_KEY_PATTERN })
  const out: Segment = {
    key,
    name: o.name === undefined ? key : str(o.name, 'name', { max: LIMITS.nameLength }),
    conditions: conditions(o.conditions, 'conditions', mode),
  }
  const description = optStr(o.description, 'description', { max: LIMITS.descriptionLength })
  if (description !== undefined) out.description = description
  const parent = optStr(o.parent, 'parent', { max: 128, pattern: FLAG_KEY_PATTERN })
  if (parent !== undefined) {
    if (parent === key) fail('parent', 'a segment cannot be its own parent')
    out.parent = parent
  }
  out.conditions.forEach((c, i) => {
    if ((c.operator === 'in_segment' || c.operator === 'not_in_segment') && c.value === key) {
      fail(`conditions[${i}].value`, 'a segment cannot refer to itself')
    }
  })
  return out
}

type Edge = { to: string; field: string }

function findCycle(nodes: readonly string[], edges: (node: string) => Edge[]): { path: string[]; field: string } | undefined {
  const state = new Map<string, 'visiting' | 'done'>()
  const stack: { node: string; field: string }[] = []
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'visiting')
    for (const edge of edges(node)) {
      const s = state.get(edge.to)
      stack.push({ node, field: edge.field })
      if (s === 'visiting') {
        const start = stack.findIndex((entry) => entry.node === edge.to)
        return [...stack.slice(start).map((entry) => entry.node), edge.to]
      }
      if (s === undefined) {
        const found = visit(edge.to)
        if (found !== undefined) return found
      }
      stack.pop()
    }
    state.set(node, 'done')
    return undefined
  }
  for (const node of nodes) {
    if (state.has(node)) continue
    const path = visit(node)
    if (path !== undefined) {
      const first = stack.find((entry) => entry.node === path[0])
      return { path, field: first?.field ?? 'parent' }
    }
  }
  return undefined
}

/**
 * Rejects (INVALID_ARGUMENT) a set of segments in which a segment reaches itself through `parent`
 * links or `in_segment` / `not_in_segment` conditions. Segments are searched from the last one
 * given, so a repository that puts the segment being written last gets the error reported on it.
 * References to segments not in the set are not this function's business.
 */
export function checkSegmentCycles(segments: Iterable<Segment>): void {
  const byKey = new Map<string, Segment>()
  for (const segment of segments) byKey.set(segment.key, segment)
  const found = findCycle([...byKey.keys()].reverse(), (key) => {
    const segment = byKey.get(key)
    if (segment === undefined) return []
    const { parent, referenced } = segmentDependencies(segment)
    const edges: Edge[] = []
    if (parent !== undefined && byKey.has(parent)) edges.push({ to: parent, field: 'parent' })
    ;(segment.conditions ?? []).forEach((c, i) => {
      if (typeof c.value === 'string' && referenced.includes(c.value) && byKey.has(c.value)) {
        edges.push({ to: c.value, field: `conditions[${i}].value` })
      }
    })
    return edges
  })
  if (found !== undefined) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `${found.field}: segment "${found.path[0]}" would be part of a cycle: ${found.path.map((k) => `"${k}"`).join(' -> ')}`,
      { details: { field: found.field, cycle: found.path } },
    )
  }
}

// ---- environments ----

const ENVIRONMENT_FIELDS = new Set(['slug', 'name', 'parent', 'settings'])

export function validateEnvironment(input: unknown, options: ValidateOptions = {}): Environment {
  checkOptions(options, 'validateEnvironment()')
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', ENVIRONMENT_FIELDS, mode, 'an environment')
  const slug = str(o.slug, 'slug', { max: 64, pattern: ENVIRONMENT_SLUG_PATTERN })
  // `resolveChain` reports values no environment sets as coming from 'flag'.
  if (mode === 'reject' && slug === 'flag') fail('slug', '"flag" is reserved (it names the base flag in resolveChain)')
  const settings = jsonObject(o.settings, 'settings', {}) as EnvironmentSettings
  if (settings.protected !== undefined && typeof settings.protected !== 'boolean') {
    fail('settings.protected', `must be a boolean, got ${describe(settings.protected)}`)
  }
  const out: Environment = {
    slug,
    name: o.name === undefined ? slug : str(o.name, 'name', { max: LIMITS.nameLength }),
    settings,
  }
  const parent = optStr(o.parent, 'parent', { max: 64, pattern: ENVIRONMENT_SLUG_PATTERN })
  if (parent !== undefined) {
    if (parent === slug) fail('parent', 'an environment cannot be its own parent')
    out.parent = parent
  }
  return out
}

/** Rejects (INVALID_ARGUMENT) environments whose `parent` links form a cycle; searched from the last one given. */
export function checkEnvironmentCycles(environments: Iterable<Environment>): void {
  const bySlug = new Map<string, Environment>()
  for (const env of environments) bySlug.set(env.slug, env)
  const found = findCycle([...bySlug.keys()].reverse(), (slug) => {
    const parent = bySlug.get(slug)?.parent
    return parent !== undefined && bySlug.has(parent) ? [{ to: parent, field: 'parent' }] : []
  })
  if (found !== undefined) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `parent: environment "${found.path[0]}" would be part of a cycle: ${found.path.map((k) => `"${k}"`).join(' -> ')}`,
      { details: { field: 'parent', cycle: found.path } },
    )
  }
}

const ENVIRONMENT_FLAG_FIELDS = new Set(['environment', 'flagKey', 'enabled', 'percentage', 'rules', 'variants'])

/** Per-environment flag settings; rule and variant values are checked against `flag`'s type when given. */
export function validateEnvironmentFlag(
  input: unknown,
  flag?: Pick<FeatureFlag, 'type' | 'key'> | FlagType,
  options: ValidateOptions = {},
): EnvironmentFlag {
  checkOptions(options, 'validateEnvironmentFlag()')
  const mode = options.unknownFields ?? 'reject'
  const o = record(input, '', ENVIRONMENT_FLAG_FIELDS, mode, 'an environment flag')
  const type = typeof flag === 'string' ? flag : flag?.type
  const out: EnvironmentFlag = {
    environment: str(o.environment, 'environment', { max: 64, pattern: ENVIRONMENT_SLUG_PATTERN }),
    flagKey: str(o.flagKey, 'flagKey', { max: 128, pattern: FLAG_KEY_PATTERN }),
  }
  if (typeof flag === 'object' && flag.key !== out.flagKey) {
    fail('flagKey', `is "${out.flagKey}" but the settings are checked against flag "${flag.key}"`)
  }
  if (o.enabled !== undefined) out.enabled = bool(o.enabled, 'enabled')
  if (o.percentage !== undefined) out.percentage = percentage(o.percentage, 'percentage')
  if (o.rules !== undefined) out.rules = rules(o.rules, 'rules', type, mode)
  if (out.rules !== undefined && mode === 'reject') checkEvaluationBudget(out.rules, 'rules') // writes, not stored documents
  if (o.variants !== undefined) out.variants = variants(o.variants, 'variants', type, mode)
  return out
}
