/** The flag client: local evaluation from a snapshot that its sync loop keeps current. */
export { FlagClient, type FlagClientStatus } from './client.js'
export type { FlagClientEvents, FlagClientOptions } from './options.js'
