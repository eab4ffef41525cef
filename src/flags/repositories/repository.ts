/**
 * `FlagRepository`: what the client and the admin API read and write flags through. One
 * conformance suite (`test/flags/repository-conformance.ts`) runs against every implementation
 * on every backend.
 */
import type { PromotionPlan } from '../evaluation/environments.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagDraft, FlagOverride, FlagStatus, Segment } from '../model.js'

export interface FlagFilter {
  status?: FlagStatus
  /** Flags carrying this tag. */
  tag?: string
  /** Case-insensitive substring of key, name or description. */
  search?: string
}

/** Everything evaluation needs, read at one revision. */
export interface SnapshotData {
  /** The repository's change counter when this was read. */
  readonly revision: number
  readonly flags: readonly FeatureFlag[]
  /** Overrides of existing flags, expired ones left out. */
  readonly overrides: readonly FlagOverride[]
  readonly segments: readonly Segment[]
  readonly environments: readonly Environment[]
  /** Settings of existing flags in existing environments. */
  readonly environmentFlags: readonly EnvironmentFlag[]
  /** Stored documents that could not be read (`CORRUPT_VALUE`): the flag evaluates to a `PARSE_ERROR`. */
  readonly corrupt: ReadonlyArray<{ readonly flagKey: string; readonly message: string }>
}

/** One stored document, named by what it is (the unit a change travels in). */
export type DocumentRef =
  | { readonly kind: 'flag'; readonly key: string }
  | { readonly kind: 'segment'; readonly key: string }
  | { readonly kind: 'environment'; readonly slug: string }
  | { readonly kind: 'override'; readonly flagKey: string; readonly entityType: string; readonly entityId: string }
  | { readonly kind: 'environmentFlag'; readonly flagKey: string; readonly environment: string }

/** What changed after a revision: read the documents again (`readDocuments`) to know how. */
export interface ChangeSet {
  /** The revision these changes bring the repository to. */
  readonly revision: number
  /** Each changed (written or deleted) document once. */
  readonly changed: readonly DocumentRef[]
}

/** A document that is stored but cannot be read (`CORRUPT_VALUE`): a flag then evaluates to `PARSE_ERROR`. */
export interface CorruptDocument {
  readonly corrupt: string
}

export type StoredDocument = FeatureFlag | FlagOverride | Segment | Environment | EnvironmentFlag

export interface DocumentsRead {
  /** The revision, read in the same round trip as the documents. */
  readonly revision: number
  /** One per ref asked for, in order: the document, `null` when there is none (deleted, expired), or the reason it is unreadable. */
  readonly documents: ReadonlyArray<StoredDocument | CorruptDocument | null>
}

/**
 * Called when a change is pushed: its revision (`NaN` for a message that cannot be read) and,
 * when the message carried them, the documents it changed (`undefined`: catch up from the log).
 */
export type ChangeListener = (revision: number, changed?: readonly DocumentRef[]) => void

export interface PromoteOptions {
  /** Compute and return the changes, write nothing. @default false */
  dryRun?: boolean
  /** Required to promote into an environment whose `settings.protected` is true (dry runs excepted). @default false */
  confirm?: boolean
}

export interface PromotionResult {
  readonly from: string
  readonly to: string
  readonly dryRun: boolean
  /** One plan per flag whose settings in `to` change (flags that would not change are left out). */
  readonly plans: readonly PromotionPlan[]
}

export interface FoldResult {
  /** Scheduled changes folded into stored documents by this call (others' folds are not counted). */
  readonly applied: number
  /** Keys of the flags this call rewrote. */
  readonly flags: readonly string[]
}

/**
 * A precondition of a write of an unversioned document (segment, environment, environment flag
 * settings, override): called with the document as the write finds it (`null`: none), inside the
 * write's one atomic step, and throws to stop it (the admin API's `If-Match` check). Checking
 * before the write instead would let two writers both pass and one update be lost. It may be
 * called more than once (a write that loses a race reads again); the last call is what was replaced.
 */
export type WriteCondition<T> = (current: T | null) => void

export interface FlagRepository {
  /** `true` for repositories that reject every write with `UNSUPPORTED` (the static one). */
  readonly readOnly: boolean

  listFlags(filter?: FlagFilter): Promise<FeatureFlag[]>
  /** The flag, or `null`. */
  getFlag(key: string): Promise<FeatureFlag | null>
  /** Creates a flag at version 1; `CONFLICT` if the key exists, `INVALID_ARGUMENT` naming the field if invalid. */
  createFlag(input: FlagDraft): Promise<FeatureFlag>
  /**
   * Replaces the flag's fields. `expectedVersion` is the version the caller read: a different
   * stored version fails with `CONFLICT` and writes nothing. `NOT_FOUND` if the flag is gone.
   */
  updateFlag(key: string, input: FlagDraft, expectedVersion: number): Promise<FeatureFlag>
  /** Deletes the flag and its overrides; `NOT_FOUND` if missing, `CONFLICT` on a stale `expectedVersion`. */
  deleteFlag(key: string, expectedVersion?: number): Promise<void>
  /** Sets status `archived` (archived flags evaluate as disabled). */
  archiveFlag(key: string, expectedVersion?: number): Promise<FeatureFlag>
  /** Brings an archived flag back as `inactive`, so a restore never starts serving by surprise. */
  restoreFlag(key: string, expectedVersion?: number): Promise<FeatureFlag>

  /** Live overrides of a flag. */
  listOverrides(flagKey: string): Promise<FlagOverride[]>
  getOverride(flagKey: string, entityType: string, entityId: string): Promise<FlagOverride | null>
  /** Creates or replaces the override for (flag, entityType, entityId); `NOT_FOUND` if the flag is missing. */
  setOverride(override: FlagOverride, condition?: WriteCondition<FlagOverride>): Promise<FlagOverride>
  /** Whether there was one to delete. */
  deleteOverride(
    flagKey: string,
    entityType: string,
    entityId: string,
    condition?: WriteCondition<FlagOverride>,
  ): Promise<boolean>

  listSegments(): Promise<Segment[]>
  getSegment(key: string): Promise<Segment | null>
  /** `CONFLICT` if the key exists; `INVALID_ARGUMENT` on a parent cycle or a missing parent. */
  createSegment(segment: Segment): Promise<Segment>
  /** `condition` (optional, here and on the other writes of unversioned documents): see `WriteCondition`. */
  updateSegment(segment: Segment, condition?: WriteCondition<Segment>): Promise<Segment>
  /** `CONFLICT` while another segment names it as parent. Whether there was one to delete. */
  deleteSegment(key: string, condition?: WriteCondition<Segment>): Promise<boolean>

  listEnvironments(): Promise<Environment[]>
  getEnvironment(slug: string): Promise<Environment | null>
  /** `CONFLICT` if the slug exists; `INVALID_ARGUMENT` on a parent cycle or a missing parent. */
  createEnvironment(environment: Environment): Promise<Environment>
  /** `NOT_FOUND` if missing; `INVALID_ARGUMENT` on a parent cycle or a missing parent. */
  updateEnvironment(environment: Environment, condition?: WriteCondition<Environment>): Promise<Environment>
  /** Deletes it and its flag settings; `CONFLICT` while it is another's parent. Whether there was one. */
  deleteEnvironment(slug: string, condition?: WriteCondition<Environment>): Promise<boolean>

  /** Flag settings per environment, optionally only of one flag. */
  listEnvironmentFlags(flagKey?: string): Promise<EnvironmentFlag[]>
  getEnvironmentFlag(environment: string, flagKey: string): Promise<EnvironmentFlag | null>
  /** Creates or replaces; `NOT_FOUND` if the environment or the flag is missing. */
  setEnvironmentFlag(settings: EnvironmentFlag, condition?: WriteCondition<EnvironmentFlag>): Promise<EnvironmentFlag>
  deleteEnvironmentFlag(environment: string, flagKey: string, condition?: WriteCondition<EnvironmentFlag>): Promise<boolean>

  /**
   * Copies flag settings from environment `from` to `to` (one flag, or `'all'`): `to` gets what
   * `from` resolves to through its chain, field by field. `NOT_FOUND` for a missing environment or
   * flag; `FORBIDDEN` into a protected environment without `confirm` (nothing is written).
   */
  promote(flagKey: string, from: string, to: string, options?: PromoteOptions): Promise<PromotionResult>

  /**
   * Folds scheduled changes and rollout phases that are due at `now` into the stored flags, one
   * instant per `compareAndSet` write, so processes running this at once apply each change once.
   * Evaluation does not need it (changes apply at evaluation time); it keeps documents short.
   */
  applyDueChanges(now?: number): Promise<FoldResult>

  /** Everything evaluation needs, consistent at one revision. */
  loadSnapshot(): Promise<SnapshotData>
  /** The change counter: it rises on every write. */
  revision(): Promise<number>
  /**
   * Calls `listener` soon after any process changes the repository, where the backend can push
   * (Redis, PostgreSQL, memory in-process). Resolves to the unsubscribe function, or `null` where
   * it cannot (SQLite, static): callers poll `revision()` then.
   */
  watch(listener: ChangeListener): Promise<(() => Promise<void>) | null>

  /**
   * What changed after `revision`, from the change log, up to the current revision (one round
   * trip for the revision, one for the log). `null` when the log cannot say: it no longer reaches
   * back that far, the counter went backwards (a store that lost its data), or there is no log;
   * the caller then loads the whole snapshot. Optional: a repository without it is followed by
   * full reloads.
   */
  changesSince?(revision: number): Promise<ChangeSet | null>
  /** The documents `refs` name as they are now, with the revision, in one round trip. Needed with `changesSince`. */
  readDocuments?(refs: readonly DocumentRef[]): Promise<DocumentsRead>
}
