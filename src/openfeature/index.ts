/** `flagstone/openfeature`: the OpenFeature server provider (needs `@openfeature/server-sdk`). */
export { FlagstoneProvider, type FlagstoneProviderOptions } from './provider.js'
export { changedFlagKeys } from './changes.js'
