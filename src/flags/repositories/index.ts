/** Flag repositories: the interface, the one on any store, and the read-only one from a document. */
export type {
  ChangeListener,
  ChangeSet,
  CorruptDocument,
  DocumentRef,
  DocumentsRead,
  StoredDocument,
  FlagFilter,
  FlagRepository,
  FoldResult,
  PromoteOptions,
  PromotionResult,
  SnapshotData,
  WriteCondition,
} from './repository.js'
export { StoreFlagRepository, type StoreFlagRepositoryOptions } from './store-repository.js'
export { StaticFlagRepository, type StaticFlagDocument } from './static-repository.js'
