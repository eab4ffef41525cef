/** The flag core: model, codec, hashing, operators, schedules, environments and the evaluator. */
export * from './model.js'
export * from './codec/codec.js'
export * from './evaluation/hash.js'
export * from './matchers/operators.js'
export * from './evaluation/evaluate.js'
export { SafeRegex, RegexPatternError, compileSafeRegex, checkSafePattern, MAX_PATTERN_LENGTH } from './matchers/regex.js'
export { compileTimeSchedule, isTimeScheduleOpen, isCronScheduleOpen, cronProblem } from './matchers/time-windows.js'
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
} from './evaluation/schedules.js'
export {
  BASE_SOURCE,
  ENVIRONMENT_FIELDS,
  applyEnvironmentOverlay,
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
} from './evaluation/environments.js'
export { parseCidr, parseIp, cidrContains, type CidrBlock } from './matchers/cidr.js'
export type { ChangeListener, FlagFilter, FlagRepository, SnapshotData } from './repositories/index.js'
export {
  StoreFlagRepository,
  StaticFlagRepository,
  type StoreFlagRepositoryOptions,
  type StaticFlagDocument,
} from './repositories/index.js'
export { FlagClient, type FlagClientOptions, type FlagClientStatus, type FlagClientEvents } from './client/index.js'
