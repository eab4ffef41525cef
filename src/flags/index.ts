/** The flag core: model, codec, hashing, operators and the evaluator. */
export * from './model.js'
export * from './codec.js'
export * from './hash.js'
export * from './operators.js'
export * from './evaluate.js'
export { SafeRegex, RegexPatternError, compileSafeRegex, checkSafePattern, MAX_PATTERN_LENGTH } from './regex.js'
export { compileTimeSchedule, isTimeScheduleOpen, isCronScheduleOpen } from './time-windows.js'
export { parseCidr, parseIp, cidrContains, type CidrBlock } from './cidr.js'
