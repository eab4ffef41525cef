/**
 * `FlagRepository` on any `Store` (key layout in `store-layout.ts`; segments and environments go
 * through one `StoredCollection` each). Every flag write is a single-key `compareAndSet` against the
 * bytes that were read, so two writers never both win (no lost updates) and no write is half-done.
 * Changes are announced on the store's `changes` channel where it can push.
 */
import { FlagstoneError } from '../../errors.js'
import { checkOptions, compareKeys } from '../../internal/objects.js'
import { requireCapabilities } from '../../stores/capabilities.js'
import type { Store } from '../../stores/types.js'
import {
  completeFlag,
  decodeEnvironmentFlag,
  decodeFlag,
  decodeEnvironment,
  decodeOverride,
  decodeSegment,
  encodeEnvironmentFlag,
  encodeValidFlag,
  encodeOverride,
  isValidFlagInput,
  validateEnvironmentFlag,
  validateFlag,
  validateFlagInput,
  validateOverride,
  type ValidFlagInput,
} from '../codec/index.js'
import { foldDueChanges, scheduleInstants } from '../evaluation/schedules.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagDraft, FlagOverride, FlagStatus, Segment } from '../model.js'
import { environmentCollection, segmentCollection, type StoredCollection } from './collection.js'
import { filterFlags } from './flag-filter.js'
import { promote } from './promote.js'
import { refuseIfUsed, requireSegments } from './segment-references.js'
import type {
  ChangeListener,
  FlagFilter,
  FlagRepository,
  FoldResult,
  PromoteOptions,
  PromotionResult,
  SnapshotData,
} from './repository.js'
import {
  CHANNEL,
  ENVIRONMENT,
  ENVIRONMENT_FLAG,
  FLAG,
  OVERRIDE,
  READ_CONCURRENCY,
  SEGMENT,
  conflict,
  deleteDependents,
  environmentFlagKey,
  mapLimit,
  notFound,
  overrideKey,
  overridePrefix,
  readAll,
  readRevision,
  signalChange,
  type ReadAllResult,
} from './store-layout.js'

export interface StoreFlagRepositoryOptions {
  /** Clock for `createdAt` / `updatedAt` and override expiry (tests inject one). @default Date.now */
  now?: () => number
}

export class StoreFlagRepository implements FlagRepository {
  readonly readOnly = false
  readonly #store: Store
  readonly #now: () => number
  readonly #segments: StoredCollection<Segment>
  readonly #environments: StoredCollection<Environment>

  constructor(store: Store, options: StoreFlagRepositoryOptions = {}) {
    checkOptions(options, 'StoreFlagRepository')
    // Optimistic concurrency (versions, no lost updates) is compare-and-set: without it, refuse up front.
    requireCapabilities(store, { atomic: true, listKeys: true }, 'the flag repository')
    this.#store = store
    this.#now = options.now ?? Date.now
    this.#segments = segmentCollection(store)
    this.#environments = environmentCollection(store)
  }

  // ---- flags ----

  async listFlags(filter: FlagFilter = {}): Promise<FeatureFlag[]> {
    checkOptions(filter, 'listFlags()', 'filter')
    return filterFlags((await this.#readAll(FLAG, decodeFlag)).items, filter)
  }

  async getFlag(key: string): Promise<FeatureFlag | null> {
    return (await this.#readFlag(key))?.flag ?? null
  }

  async createFlag(input: FlagDraft): Promise<FeatureFlag> {
    const now = new Date(this.#now())
    const flag = completeFlag(validateFlagInput(input), 1, now, now)
    await requireSegments(this, flag.rules)
    const bytes = encodeValidFlag(flag)
    if (await this.#store.exists(FLAG + flag.key)) throw conflict(`flag "${flag.key}" already exists`, flag.key)
    // Overrides and settings left behind by a deleted flag of the same key (a crash mid-delete)
    // must not come back with the new flag.
    await deleteDependents(this.#store, flag.key)
    if (!(await this.#store.compareAndSet(FLAG + flag.key, null, bytes))) {
      throw conflict(`flag "${flag.key}" already exists`, flag.key)
    }
    await this.#changed()
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
    await requireSegments(this, input.rules)
    return this.#rewrite(key, expectedVersion, () => input)
  }

  async deleteFlag(key: string, expectedVersion?: number): Promise<void> {
    const current = await this.#readFlag(key)
    if (current === null) throw notFound('flag', key)
    this.#checkVersion(current.flag, expectedVersion)
    // Dependents first: a crash part-way leaves the flag with fewer overrides, never orphans.
    await deleteDependents(this.#store, key)
    await this.#store.delete(FLAG + key)
    await this.#changed()
  }

  archiveFlag(key: string, expectedVersion?: number): Promise<FeatureFlag> {
    return this.#setStatus(key, 'archived', expectedVersion)
  }

  restoreFlag(key: string, expectedVersion?: number): Promise<FeatureFlag> {
    return this.#setStatus(key, 'inactive', expectedVersion, 'archived')
  }

  // ---- overrides ----

  async listOverrides(flagKey: string): Promise<FlagOverride[]> {
    const { items } = await this.#readAll(overridePrefix(flagKey), decodeOverride)
    const now = this.#now()
    return items.filter((o) => o.expiresAt === undefined || o.expiresAt.getTime() > now)
  }

  async getOverride(flagKey: string, entityType: string, entityId: string): Promise<FlagOverride | null> {
    const key = overrideKey(flagKey, entityType, entityId)
    const bytes = await this.#store.get(key)
    return bytes === null ? null : decodeOverride(bytes, key)
  }

  async setOverride(input: FlagOverride): Promise<FlagOverride> {
    const override = validateOverride(input)
    const flag = await this.getFlag(override.flagKey)
    if (flag === null) throw notFound('flag', override.flagKey)
    const bytes = encodeOverride(override, flag)
    let expiresIn: number | undefined
    if (override.expiresAt !== undefined) {
      expiresIn = override.expiresAt.getTime() - this.#now()
      if (expiresIn <= 0) {
        throw new FlagstoneError('INVALID_ARGUMENT', 'expiresAt: the override would already be expired', {
          details: { field: 'expiresAt' },
        })
      }
    }
    await this.#store.set(overrideKey(override.flagKey, override.entityType, override.entityId), bytes, { expiresIn })
    await this.#changed()
    return override
  }

  async deleteOverride(flagKey: string, entityType: string, entityId: string): Promise<boolean> {
    const key = overrideKey(flagKey, entityType, entityId)
    const existed = await this.#store.exists(key)
    if (existed) {
      await this.#store.delete(key)
      await this.#changed()
    }
    return existed
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

  updateSegment(input: Segment): Promise<Segment> {
    return this.#segments.update(input)
  }

  async deleteSegment(key: string): Promise<boolean> {
    await refuseIfUsed(this, key)
    return this.#segments.delete(key)
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

  updateEnvironment(input: Environment): Promise<Environment> {
    return this.#environments.update(input)
  }

  deleteEnvironment(slug: string): Promise<boolean> {
    return this.#environments.delete(slug, async () => {
      const settings = (await this.listEnvironmentFlags()).filter((s) => s.environment === slug)
      await mapLimit(settings, READ_CONCURRENCY, (s) => this.#store.delete(environmentFlagKey(s.flagKey, slug)))
    })
  }

  // ---- flag settings per environment ----

  async listEnvironmentFlags(flagKey?: string): Promise<EnvironmentFlag[]> {
    const prefix = flagKey === undefined ? ENVIRONMENT_FLAG : `${ENVIRONMENT_FLAG}${flagKey}/`
    return (await this.#readAll(prefix, decodeEnvironmentFlag)).items.sort(
      (a, b) => compareKeys(a.flagKey, b.flagKey) || compareKeys(a.environment, b.environment),
    )
  }

  async getEnvironmentFlag(environment: string, flagKey: string): Promise<EnvironmentFlag | null> {
    const key = environmentFlagKey(flagKey, environment)
    const bytes = await this.#store.get(key)
    return bytes === null ? null : decodeEnvironmentFlag(bytes, key)
  }

  async setEnvironmentFlag(input: EnvironmentFlag): Promise<EnvironmentFlag> {
    const settings = validateEnvironmentFlag(input)
    const [flag, environment] = await Promise.all([this.getFlag(settings.flagKey), this.getEnvironment(settings.environment)])
    if (flag === null) throw notFound('flag', settings.flagKey)
    if (environment === null) throw notFound('environment', settings.environment)
    await requireSegments(this, settings.rules)
    await this.#store.set(environmentFlagKey(settings.flagKey, settings.environment), encodeEnvironmentFlag(settings, flag))
    await this.#changed()
    return settings
  }

  async deleteEnvironmentFlag(environment: string, flagKey: string): Promise<boolean> {
    const key = environmentFlagKey(flagKey, environment)
    const existed = await this.#store.exists(key)
    if (existed) {
      await this.#store.delete(key)
      await this.#changed()
    }
    return existed
  }

  promote(flagKey: string, from: string, to: string, options: PromoteOptions = {}): Promise<PromotionResult> {
    checkOptions(options, 'promote()')
    return promote(this, this.#store, flagKey, from, to, options)
  }

  async applyDueChanges(now: number = this.#now()): Promise<FoldResult> {
    let applied = 0
    const rewritten = new Set<string>()
    for (const listed of await this.listFlags()) {
      // One write per due instant, oldest first; a lost compareAndSet means another process folded
      // that instant, so read again and carry on from whatever is still due.
      let attempts = 0
      while (attempts++ < 100) {
        const current = await this.#readFlag(listed.key)
        if (current === null) break
        const instant = scheduleInstants(current.flag).find((t) => t <= now && foldDueChanges(current.flag, t) !== null)
        if (instant === undefined) break
        const fold = foldDueChanges(current.flag, instant)
        if (fold === null) break
        const next = validateFlag({ ...fold.flag, version: current.flag.version + 1, updatedAt: new Date(this.#now()) })
        if (await this.#store.compareAndSet(FLAG + listed.key, current.bytes, encodeValidFlag(next))) {
          applied += fold.applied.length
          rewritten.add(listed.key)
          await this.#changed()
        }
      }
    }
    return { applied, flags: [...rewritten] }
  }

  // ---- snapshot and change signal ----

  async loadSnapshot(): Promise<SnapshotData> {
    // Read the revision before and after: if a write landed in between, read again, so the
    // snapshot is consistent at one revision (bounded: a constant stream of writes still loads).
    let snapshot: SnapshotData | undefined
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await this.revision()
      const [flags, overrides, segments, environments, environmentFlags] = await Promise.all([
        this.#readAll(FLAG, decodeFlag),
        this.#readAll(OVERRIDE, decodeOverride),
        this.#readAll(SEGMENT, decodeSegment),
        this.#readAll(ENVIRONMENT, decodeEnvironment),
        this.#readAll(ENVIRONMENT_FLAG, decodeEnvironmentFlag),
      ])
      const slugs = new Set(environments.items.map((e) => e.slug))
      const keys = new Set(flags.items.map((f) => f.key))
      const now = this.#now()
      snapshot = {
        revision: before,
        flags: flags.items,
        overrides: overrides.items.filter(
          (o) => keys.has(o.flagKey) && (o.expiresAt === undefined || o.expiresAt.getTime() > now),
        ),
        segments: segments.items,
        environments: environments.items,
        environmentFlags: environmentFlags.items.filter((s) => keys.has(s.flagKey) && slugs.has(s.environment)),
        corrupt: flags.corrupt.map(({ key, message }) => ({ flagKey: key.slice(FLAG.length), message })),
      }
      if ((await this.revision()) === before) return snapshot
    }
    return snapshot as SnapshotData
  }

  async revision(): Promise<number> {
    return readRevision(this.#store)
  }

  async watch(listener: ChangeListener): Promise<(() => Promise<void>) | null> {
    try {
      return await this.#store.subscribe(CHANNEL, (message) => listener(Number(message)))
    } catch (error) {
      if (error instanceof FlagstoneError && error.code === 'UNSUPPORTED') return null
      throw error
    }
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
    if (!(await this.#store.compareAndSet(FLAG + key, current.bytes, bytes))) {
      throw conflict(`flag "${key}" was changed by someone else; read it again`, key)
    }
    await this.#changed()
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

  #readAll<T>(prefix: string, decode: (bytes: Uint8Array, key: string) => T): Promise<ReadAllResult<T>> {
    return readAll(this.#store, prefix, decode)
  }

  #changed(): Promise<void> {
    return signalChange(this.#store)
  }
}
