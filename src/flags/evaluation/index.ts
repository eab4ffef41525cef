/** The evaluation folder's face: compile and evaluate a snapshot, explain a result, schedules, environments, hashing. */
export { compileSnapshot, CompiledSnapshot, errorDetails, evaluate, type Snapshot, type SnapshotInput } from './evaluate.js'
export { explain, matchingOverrides, type ExplainedRule, type Explanation } from './explain.js'
export { compareKeys, hashWithPrefix, inRollout, inRolloutPrefixed, murmur3, pickVariant, rolloutBucket, utf8 } from './hash.js'
export {
  applyScheduledChange,
  flagAt,
  foldDueChanges,
  nextScheduleInstant,
  rolloutPercentageAt,
  scheduleInstants,
  withEnabled,
  type FoldResult,
  type ScheduledState,
} from './schedules.js'
export {
  BASE_SOURCE,
  ENVIRONMENT_FIELDS,
  applyEnvironmentOverlay,
  applyOverlayToState,
  diffEnvironmentFlags,
  effectiveFlag,
  environmentChain,
  environmentOverlay,
  planPromotion,
  resolveChain,
  type ChainResolution,
  type EffectiveFlag,
  type EffectiveFlagOptions,
  type EnvironmentField,
  type EnvironmentFlagChange,
  type EnvironmentFlagsInput,
  type EnvironmentOverlay,
  type EnvironmentsInput,
  type PromotionPlan,
  type ResolveChainOptions,
  type ResolvedField,
} from './environments.js'
