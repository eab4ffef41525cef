/** The codec's public face: validation (`validateX`), bytes (`encodeX` / `decodeX`) and the id patterns. */
export { ID_PATTERN, isValidTimeZone, LIMITS, validateFlagValue, validateJson, type ValidateOptions } from './fields.js'
export { completeFlag, FLAG_INPUT_FIELDS, validateCondition, validateFlag, validateFlagInput } from './flag.js'
export { isValidFlag, isValidFlagInput, type ValidFlag, type ValidFlagInput } from './valid.js'
export {
  checkEnvironmentCycles,
  checkSegmentCycles,
  validateEnvironment,
  validateEnvironmentFlag,
  validateOverride,
  validateSegment,
} from './documents.js'
export {
  decodeDocument,
  decodeEnvironment,
  decodeEnvironmentFlag,
  decodeFlag,
  decodeOverride,
  decodeSegment,
  type DocumentKind,
  encodeDocument,
  encodeEnvironment,
  encodeEnvironmentFlag,
  encodeFlag,
  encodeOverride,
  encodeSegment,
  encodeValidFlag,
} from './bytes.js'
