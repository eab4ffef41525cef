export { FlagstoneError, type FlagstoneErrorCode, isFlagstoneError } from './errors.js'
export * from './stores/index.js'
