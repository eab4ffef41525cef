/**
 * The admin API's documents as JSON (dates are ISO strings on the wire). The names and unions come
 * from the server's model, so a new operator or flag type fails this build until the UI knows it.
 */
import type {
  ConditionValue,
  FlagStatus,
  FlagType,
  FlagValue,
  JsonObject,
  Operator,
  Reason,
  Recurrence,
  ScheduledChangeKind,
} from '../../src/flags/model.ts'

export type { FlagStatus, FlagType, FlagValue, Operator, Reason, ScheduledChangeKind }

export interface Condition {
  attribute: string
  operator: Operator
  value?: Exclude<ConditionValue, Date> | undefined
}

export interface FlagRule {
  id: string
  name: string
  priority: number
  enabled: boolean
  conditions: Condition[]
  serveEnabled: boolean
  serveValue?: FlagValue
  rolloutPercentage?: number
}

export interface FlagVariant {
  key: string
  name?: string
  value: FlagValue
  weight: number
}

export interface ScheduledChange {
  id: string
  at: string
  change: ScheduledChangeKind
  value?: FlagValue
  percentage?: number
  createdBy?: string
}

export interface RolloutPhase {
  at: string
  percentage: number
}

export interface TimeSchedule {
  id: string
  name: string
  recurrence: Recurrence
  start: string
  end: string
  daysOfWeek?: number[]
  daysOfMonth?: number[]
  cron?: string
  timezone: string
}

export interface FeatureFlag {
  key: string
  name: string
  description?: string
  type: FlagType
  status: FlagStatus
  defaultEnabled: boolean
  defaultValue?: FlagValue
  tags: string[]
  metadata: JsonObject
  rules: FlagRule[]
  variants: FlagVariant[]
  scheduledChanges: ScheduledChange[]
  rolloutPhases: RolloutPhase[]
  timeSchedules: TimeSchedule[]
  version: number
  createdAt: string
  updatedAt: string
}

export interface FlagOverride {
  flagKey: string
  entityType: string
  entityId: string
  enabled: boolean
  value?: FlagValue
  expiresAt?: string
}

export interface Segment {
  key: string
  name: string
  description?: string
  conditions: Condition[]
  parent?: string
}

export interface Environment {
  slug: string
  name: string
  parent?: string
  settings: { protected?: boolean; [key: string]: unknown }
}

export interface EnvironmentFlag {
  environment: string
  flagKey: string
  enabled?: boolean
  percentage?: number
  rules?: FlagRule[]
  variants?: FlagVariant[]
}

export interface AuditEntry {
  id: string
  at: string
  actor: string
  claimedActor?: string
  action: string
  target: string
  flagKey?: string
  before: unknown
  after: unknown
  details?: Record<string, unknown>
}

/** What the base flag serves when nothing else decides: on = active and (boolean) defaultEnabled. */
export function isOn(flag: FeatureFlag): boolean {
  return flag.status === 'active' && (flag.type !== 'boolean' || flag.defaultEnabled)
}

/**
 * A flag's on/off state in an environment: the first environment up the chain that sets `enabled`,
 * else the base flag (what the server's resolveChain does for `enabled`).
 */
export function stateIn(
  flag: FeatureFlag,
  slug: string,
  environments: ReadonlyMap<string, Environment>,
  settings: ReadonlyMap<string, EnvironmentFlag>,
): { on: boolean; source: string } {
  const seen = new Set<string>()
  for (let at: string | undefined = slug; at !== undefined && !seen.has(at); at = environments.get(at)?.parent) {
    seen.add(at)
    const enabled = settings.get(`${at}/${flag.key}`)?.enabled
    if (enabled !== undefined) return { on: enabled && flag.status !== 'archived', source: at }
  }
  return { on: isOn(flag), source: 'flag' }
}
