export { FlagstoneError, type FlagstoneErrorCode, isFlagstoneError } from './errors.js'
export * from './stores/index.js'
export * from './flags/index.js'
