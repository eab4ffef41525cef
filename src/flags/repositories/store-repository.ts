/**
 * `FlagRepository` on any `Store` (key layout in `store-layout.ts`; segments and environments go
 * through one `StoredCollection` each). Every write is one `atomic` (`change-log.ts`): documents, change
 * record and next revision, checked against what was read: no lost update, no half write, none stored
 * unannounced. Changes are then pushed on the store's `changes` channel where it can push.
 */
import { FlagstoneError } from '../../errors.js'
import { checkOptions, compareKeys } from '../../internal/objects.js'
import { requireCapabilities } from '../../stores/capabilities.js'
import { keepTogether } from '../../stores/together.js'
import type { Store } from '../../stores/types.js'
import {
  completeFlag,
  decodeEnvironmentFlag,
  decodeFlag,
  decodeOverride,
  encodeValidFlag,
  isValidFlagInput,
  validateEnvironmentFlag,
  validateFlag,
  validateFlagInput,
  type ValidFlagInput,
} from '../codec/index.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagDraft, FlagOverride, FlagStatus, Segment } from '../model.js'
import { applyDueChanges } from './fold.js'
import { loadSnapshot } from './snapshot-load.js'
import { environmentCollection, segmentCollection, type StoredCollection } from './collection.js'
import { filterFlags } from './flag-filter.js'
import { deleteDocument, writeEnvironmentFlag, writeOverride } from './document-writes.js'
import { promote } from './promote.js'
import { deleteUnusedSegment, segmentBudget, type SegmentGuard, segmentGuard } from './segment-references.js'
import type * as R from './repository.js'
import { changesSince, readDocuments, watchChanges } from './store-changes.js'
import {
  type ChangeLogOptions,
  REVISION,
  commitChange,
  type DocumentChange,
  type ResolvedLog,
  resolveLog,
  type WritePlan,
} from './change-log.js'
import {
  DELETE_CHUNK,
  dependentsOf,
  ENVIRONMENT_FLAG,
  FLAG,
  conflict,
  environmentFlagKey,
  notFound,
  overrideKey,
  overridePrefix,
  readAll,
  readRevision,
  SEGMENT,
} from './store-layout.js'

export interface StoreFlagRepositoryOptions {
  /** Clock for `createdAt` / `updatedAt` and override expiry (tests inject one). @default Date.now */
  now?: () => number
  /** Bounds of the change log (count and age). */
  changeLog?: ChangeLogOptions
}

const put = (key: string): DocumentChange => ({ key, op: 'put' })
const removed = (key: string): DocumentChange => ({ key, op: 'delete' })

export class StoreFlagRepository implements R.FlagRepository {
  readonly readOnly = false
  readonly #store: Store
  readonly #now: () => number
  readonly #log: ResolvedLog
  readonly #segments: StoredCollection<Segment>
  readonly #environments: StoredCollection<Environment>

  constructor(store: Store, options: StoreFlagRepositoryOptions = {}) {
    checkOptions(options, 'StoreFlagRepository')
    // Every write is one atomic operation with its change record, so every document must be where
    // one atomic reaches it (one Redis Cluster slot): the namespace is kept together, then checked.
    keepTogether(store)
    requireCapabilities(store, { atomic: true, atomicWrites: true, listKeys: true }, 'the flag repository')
    this.#store = store
    this.#now = options.now ?? Date.now
    this.#log = resolveLog(options.changeLog)
    this.#segments = segmentCollection(store, this.#log, (segment) => segmentBudget.segment(this, segment))
    this.#environments = environmentCollection(store, this.#log)
  }

  // ---- flags ----

  async listFlags(filter: R.FlagFilter = {}): Promise<FeatureFlag[]> {
    checkOptions(filter, 'listFlags()', 'filter')
    return filterFlags((await readAll(this.#store, FLAG, decodeFlag)).items, filter)
  }

  async getFlag(key: string): Promise<FeatureFlag | null> {
    return (await this.#readFlag(key))?.flag ?? null
  }

  async createFlag(input: FlagDraft): Promise<FeatureFlag> {
    const now = new Date(this.#now())
    const flag = completeFlag(validateFlagInput(input), 1, now, now)
    await segmentBudget.rules(this, flag.rules)
    const segments = segmentGuard(flag.rules, SEGMENT)
    const bytes = encodeValidFlag(flag)
    const key = FLAG + flag.key
    await this.#commit([key, ...segments.keys], ([current, ...found]) => {
      if (current != null) throw conflict(`flag "${flag.key}" already exists`, flag.key)
      const checks = [{ key, expected: null }, ...segments.check(found)]
      return { writes: [{ op: 'set', key, value: bytes }], checks, changes: [put(key)] }
    })
    return flag
  }

  async updateFlag(key: string, changed: FlagDraft, expectedVersion: number): Promise<FeatureFlag> {
    // The admin API hands over fields it has just checked: they are not checked a second time.
    const input = isValidFlagInput(changed) ? changed : validateFlagInput(changed)
    if (input.key !== key) {
      throw new FlagstoneError('INVALID_ARGUMENT', `key: a flag's key cannot change ("${key}" → "${input.key}")`, {
        details: { field: 'key' },
      })
    }
    await segmentBudget.rules(this, input.rules)
    return this.#rewrite(key, expectedVersion, () => input, segmentGuard(input.rules, SEGMENT))
  }

  async deleteFlag(key: string, expectedVersion?: number): Promise<void> {
    const current = await this.#readFlag(key)
    if (current === null) throw notFound('flag', key)
    this.#checkVersion(current.flag, expectedVersion)
    const dependents = await dependentsOf(this.#store, key)
    // Dependents beyond one write's size go first: a crash part-way leaves the flag with fewer
    // overrides, never orphans. The rest go with the flag in one atomic write.
    while (dependents.length > DELETE_CHUNK) {
      const chunk = dependents.splice(0, DELETE_CHUNK)
      await this.#commit([], () => ({
        writes: chunk.map((k) => ({ op: 'delete', key: k })),
        checks: [],
        changes: chunk.map(removed),
      }))
    }
    await this.#commit([FLAG + key], ([bytes]) => {
      if (bytes == null) throw notFound('flag', key)
      this.#checkVersion(decodeFlag(bytes, FLAG + key), expectedVersion)
      const keys = [FLAG + key, ...dependents]
      return {
        writes: keys.map((k) => ({ op: 'delete', key: k })),
        checks: [{ key: FLAG + key, expected: bytes }],
        changes: keys.map(removed),
      }
    })
  }

  archiveFlag(key: string, expectedVersion?: number): Promise<FeatureFlag> {
    return this.#setStatus(key, 'archived', expectedVersion)
  }

  restoreFlag(key: string, expectedVersion?: number): Promise<FeatureFlag> {
    return this.#setStatus(key, 'inactive', expectedVersion, 'archived')
  }

  // ---- overrides ----

  async listOverrides(flagKey: string): Promise<FlagOverride[]> {
    const { items } = await readAll(this.#store, overridePrefix(flagKey), decodeOverride)
    const now = this.#now()
    return items.filter((o) => o.expiresAt === undefined || o.expiresAt.getTime() > now)
  }

  async getOverride(flagKey: string, entityType: string, entityId: string): Promise<FlagOverride | null> {
    const key = overrideKey(flagKey, entityType, entityId)
    const bytes = await this.#store.get(key)
    return bytes === null ? null : decodeOverride(bytes, key)
  }

  setOverride(input: FlagOverride, condition?: R.WriteCondition<FlagOverride>): Promise<FlagOverride> {
    return writeOverride(
      (k, plan) => this.#commit(k, plan),
      input,
      (o) => this.getFlag(o.flagKey),
      this.#now(),
      condition,
    )
  }

  deleteOverride(
    flagKey: string,
    entityType: string,
    entityId: string,
    condition?: R.WriteCondition<FlagOverride>,
  ): Promise<boolean> {
    return this.#deleteOne(overrideKey(flagKey, entityType, entityId), decodeOverride, condition)
  }

  // ---- segments and environments: one collection helper ----

  listSegments(): Promise<Segment[]> {
    return this.#segments.list()
  }

  getSegment(key: string): Promise<Segment | null> {
    return this.#segments.get(key)
  }

  createSegment(input: Segment): Promise<Segment> {
    return this.#segments.create(input)
  }

  updateSegment(input: Segment, condition?: R.WriteCondition<Segment>): Promise<Segment> {
    return this.#segments.update(input, condition)
  }

  deleteSegment(key: string, condition?: R.WriteCondition<Segment>): Promise<boolean> {
    return deleteUnusedSegment(
      this,
      key,
      () => this.#store.get(REVISION),
      (guard) => this.#segments.delete(key, undefined, guard, condition),
    )
  }

  listEnvironments(): Promise<Environment[]> {
    return this.#environments.list()
  }

  getEnvironment(slug: string): Promise<Environment | null> {
    return this.#environments.get(slug)
  }

  createEnvironment(input: Environment): Promise<Environment> {
    return this.#environments.create(input)
  }

  updateEnvironment(input: Environment, condition?: R.WriteCondition<Environment>): Promise<Environment> {
    return this.#environments.update(input, condition)
  }

  deleteEnvironment(slug: string, condition?: R.WriteCondition<Environment>): Promise<boolean> {
    return this.#environments.delete(
      slug,
      async () =>
        (await this.listEnvironmentFlags()).filter((s) => s.environment === slug).map((s) => environmentFlagKey(s.flagKey, slug)),
      undefined,
      condition,
    )
  }

  // ---- flag settings per environment ----

  async listEnvironmentFlags(flagKey?: string): Promise<EnvironmentFlag[]> {
    const prefix = flagKey === undefined ? ENVIRONMENT_FLAG : `${ENVIRONMENT_FLAG}${flagKey}/`
    return (await readAll(this.#store, prefix, decodeEnvironmentFlag)).items.sort(
      (a, b) => compareKeys(a.flagKey, b.flagKey) || compareKeys(a.environment, b.environment),
    )
  }

  async getEnvironmentFlag(environment: string, flagKey: string): Promise<EnvironmentFlag | null> {
    const key = environmentFlagKey(flagKey, environment)
    const bytes = await this.#store.get(key)
    return bytes === null ? null : decodeEnvironmentFlag(bytes, key)
  }

  async setEnvironmentFlag(input: EnvironmentFlag, condition?: R.WriteCondition<EnvironmentFlag>): Promise<EnvironmentFlag> {
    const settings = validateEnvironmentFlag(input)
    const [flag, environment] = await Promise.all([this.getFlag(settings.flagKey), this.getEnvironment(settings.environment)])
    await segmentBudget.rules(this, settings.rules)
    return writeEnvironmentFlag((k, plan) => this.#commit(k, plan), settings, flag, environment, condition)
  }

  deleteEnvironmentFlag(environment: string, flagKey: string, condition?: R.WriteCondition<EnvironmentFlag>): Promise<boolean> {
    return this.#deleteOne(environmentFlagKey(flagKey, environment), decodeEnvironmentFlag, condition)
  }

  promote(flagKey: string, from: string, to: string, options: R.PromoteOptions = {}): Promise<R.PromotionResult> {
    checkOptions(options, 'promote()')
    return promote(this, (plan) => this.#commit([], plan), flagKey, from, to, options)
  }

  applyDueChanges(now: number = this.#now()): Promise<R.FoldResult> {
    return applyDueChanges(
      this,
      (k) => this.#readFlag(k),
      (k, plan) => this.#commit(k, plan),
      this.#now,
      now,
    )
  }

  // ---- snapshot and change signal ----

  loadSnapshot(): Promise<R.SnapshotData> {
    return loadSnapshot(this.#store, this.#now)
  }

  async revision(): Promise<number> {
    return readRevision(this.#store)
  }

  watch(listener: R.ChangeListener): Promise<(() => Promise<void>) | null> {
    return watchChanges(this.#store, listener)
  }

  changesSince(revision: number): Promise<R.ChangeSet | null> {
    return changesSince(this.#store, revision)
  }

  readDocuments(refs: readonly R.DocumentRef[]): Promise<R.DocumentsRead> {
    return readDocuments(this.#store, refs, this.#now)
  }

  // ---- internals ----

  async #readFlag(key: string): Promise<{ flag: FeatureFlag; bytes: Uint8Array } | null> {
    const bytes = await this.#store.get(FLAG + key)
    return bytes === null ? null : { flag: decodeFlag(bytes, FLAG + key), bytes }
  }

  #checkVersion(flag: FeatureFlag, expectedVersion: number | undefined): void {
    if (expectedVersion !== undefined && flag.version !== expectedVersion) {
      throw conflict(`flag "${flag.key}" is at version ${flag.version}, not ${expectedVersion}; read it again`, flag.key)
    }
  }

  /**
   * Read, check the version, write the next version with compareAndSet against the bytes read. `change`
   * answers the next flag (validated here, once) or fields `validateFlagInput` checked (taken as they are).
   */
  async #rewrite(
    key: string,
    expectedVersion: number | undefined,
    change: (current: FeatureFlag) => FeatureFlag | ValidFlagInput,
    segments: SegmentGuard = segmentGuard(undefined, SEGMENT),
  ): Promise<FeatureFlag> {
    const current = await this.#readFlag(key)
    if (current === null) throw notFound('flag', key)
    this.#checkVersion(current.flag, expectedVersion)
    const changed = change(current.flag)
    const version = current.flag.version + 1
    const updatedAt = new Date(this.#now())
    const next = isValidFlagInput(changed)
      ? completeFlag(changed, version, current.flag.createdAt, updatedAt)
      : validateFlag({ ...changed, version, updatedAt })
    const bytes = encodeValidFlag(next)
    const k = FLAG + key
    await this.#commit([k, ...segments.keys], ([now, ...found]) => {
      if (now == null || Buffer.compare(now, current.bytes) !== 0) {
        throw conflict(`flag "${key}" was changed by someone else; read it again`, key)
      }
      const checks = [{ key: k, expected: now }, ...segments.check(found)]
      return { writes: [{ op: 'set', key: k, value: bytes }], checks, changes: [put(k)] }
    })
    return next
  }

  #setStatus(key: string, status: FlagStatus, expectedVersion: number | undefined, from?: FlagStatus): Promise<FeatureFlag> {
    return this.#rewrite(key, expectedVersion, (current) => {
      if (from !== undefined && current.status !== from) {
        throw conflict(`flag "${key}" is ${current.status}, not ${from}`, key)
      }
      return { ...current, status }
    })
  }

  /** Deletes one document (with its change record); whether it existed. */
  #deleteOne<T>(key: string, decode: (bytes: Uint8Array, key: string) => T, condition?: R.WriteCondition<T>): Promise<boolean> {
    return deleteDocument((k, plan) => this.#commit(k, plan), key, decode, condition)
  }

  #commit(keys: readonly string[], plan: (values: Array<Uint8Array | null>) => WritePlan | null): Promise<number | null> {
    return commitChange(this.#store, this.#log, keys, plan, this.#now)
  }
}
