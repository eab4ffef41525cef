/** `flagstone/openfeature`: the OpenFeature server provider (needs `@openfeature/server-sdk`). */
export { FlagstoneProvider, type FlagstoneProviderOptions } from './provider.js'
export { changedFlagKeys } from './changes.js'
/** The context mapping the provider applies (flagstone's own context also accepts the flat shape). */
export { fromOpenFeatureContext, type EvaluationContext } from '../flags/index.js'
/** `provider.metadata.name`. */
export const PROVIDER_NAME = 'flagstone'
