/** The flag core: model, codec, hashing, operators, schedules, environments and the evaluator. */
export * from './model.js'
export * from './codec.js'
export * from './hash.js'
export * from './operators.js'
export * from './evaluate.js'
export { SafeRegex, RegexPatternError, compileSafeRegex, checkSafePattern, MAX_PATTERN_LENGTH } from './regex.js'
export { compileTimeSchedule, isTimeScheduleOpen, isCronScheduleOpen, cronProblem } from './time-windows.js'
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
export { parseCidr, parseIp, cidrContains, type CidrBlock } from './cidr.js'
export type { ChangeListener, FlagFilter, FlagRepository, SnapshotData } from './repository.js'
export { StoreFlagRepository, type StoreFlagRepositoryOptions } from './store-repository.js'
export { StaticFlagRepository, type StaticFlagDocument } from './static-repository.js'
export { FlagClient, type FlagClientOptions, type FlagClientStatus, type FlagClientEvents } from './client.js'
