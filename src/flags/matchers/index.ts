/** The matchers' face: condition operators (write-time checks and compiled tests), regex, CIDR and time windows. */
export { checkConditionValue, compileCondition, type SegmentResolver } from './operators.js'
export { compileSegments, evaluateCondition, segmentDependencies } from './segments.js'
export {
  ALWAYS,
  allOf,
  compileReader,
  isOperator,
  MAX_CONDITION_LIST_LENGTH,
  MAX_CONDITION_STRING_LENGTH,
  MAX_MATCH_INPUT_LENGTH,
  NEVER,
  parseIsoDate,
  readAttribute,
  toEpochMs,
  type AttributeReader,
  type CompiledCondition,
  type ConditionTest,
} from './values.js'
export { checkSafePattern, compileSafeRegex, MAX_PATTERN_LENGTH, patternCost, RegexPatternError, SafeRegex } from './regex.js'
export { compileTimeSchedule, cronProblem, isCronScheduleOpen, isTimeScheduleOpen } from './time-windows.js'
export { cidrContains, parseCidr, parseIp, type CidrBlock } from './cidr.js'
