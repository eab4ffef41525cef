/**
 * `FlagRepository` on any `Store`. Layout inside the store's namespace:
 *
 *   flag/<key>                               one document per flag (rules, variants, schedules inside)
 *   override/<flagKey>/<entityType>/<entityId>  one per override, with the store's native expiry
 *   segment/<key>
 *   env/<slug>
 *   envflag/<flagKey>/<slug>                  a flag's settings in one environment
 *   revision                                  change counter, bumped with `increment` after every write
 *
 * Every flag write is a single-key `compareAndSet` against the bytes that were read, so two writers
 * can never both win (no lost updates) and no write is half-done. Changes are announced on the
 * store's `changes` channel where it can push.
 */
import { randomInt } from 'node:crypto'
import { FlagstoneError } from '../../errors.js'
import type { Store } from '../../stores/types.js'
import {
  checkSegmentCycles,
  decodeFlag,
  decodeOverride,
  decodeSegment,
  checkEnvironmentCycles,
  decodeEnvironment,
  decodeEnvironmentFlag,
  encodeEnvironment,
  encodeEnvironmentFlag,
  validateEnvironment,
  validateEnvironmentFlag,
  encodeFlag,
  encodeOverride,
  encodeSegment,
  validateFlag,
  validateFlagInput,
  validateOverride,
  validateSegment,
} from '../codec/codec.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagDraft, FlagOverride, FlagStatus, Segment } from '../model.js'
import { planPromotion } from '../evaluation/environments.js'
import type {
  ChangeListener,
  FlagFilter,
  FlagRepository,
  FoldResult,
  PromoteOptions,
  PromotionResult,
  SnapshotData,
} from './repository.js'
import { foldDueChanges, scheduleInstants } from '../evaluation/schedules.js'

const FLAG = 'flag/'
const OVERRIDE = 'override/'
const SEGMENT = 'segment/'
const ENVIRONMENT = 'env/'
const ENVIRONMENT_FLAG = 'envflag/'
const REVISION = 'revision'
const CHANNEL = 'changes'
/** Parallel reads while loading a snapshot: enough to fill a pipeline, few enough for a small pool. */
const READ_CONCURRENCY = 32

const part = (text: string) => encodeURIComponent(text)
const environmentFlagKey = (flagKey: string, slug: string) => `${ENVIRONMENT_FLAG}${flagKey}/${slug}`
const overrideKey = (flagKey: string, entityType: string, entityId: string) =>
  `${OVERRIDE}${part(flagKey)}/${part(entityType)}/${part(entityId)}`

function notFound(what: string, key: string): FlagstoneError {
  return new FlagstoneError('NOT_FOUND', `${what} "${key}" does not exist`, { details: { key } })
}

function conflict(message: string, key: string): FlagstoneError {
  return new FlagstoneError('CONFLICT', message, { details: { key } })
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

export interface StoreFlagRepositoryOptions {
  /** Clock for `createdAt` / `updatedAt` and override expiry (tests inject one). @default Date.now */
  now?: () => number
}

export class StoreFlagRepository implements FlagRepository {
  readonly readOnly = false
  readonly #store: Store
  readonly #now: () => number

  constructor(store: Store, options: StoreFlagRepositoryOptions = {}) {
    this.#store = store
    this.#now = options.now ?? Date.now
  }

  // ---- flags ----

  async listFlags(filter: FlagFilter = {}): Promise<FeatureFlag[]> {
    const { items } = await this.#readAll(FLAG, decodeFlag)
    const search = filter.search?.toLowerCase()
    return items
      .filter((f) => filter.status === undefined || f.status === filter.status)
      .filter((f) => filter.tag === undefined || f.tags.includes(filter.tag))
      .filter(
        (f) =>
          search === undefined ||
          f.key.toLowerCase().includes(search) ||
          f.name.toLowerCase().includes(search) ||
          (f.description ?? '').toLowerCase().includes(search),
      )
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  async getFlag(key: string): Promise<FeatureFlag | null> {
    return (await this.#readFlag(key))?.flag ?? null
  }

  async createFlag(input: FlagDraft): Promise<FeatureFlag> {
    const now = new Date(this.#now())
    const flag = validateFlag({ ...validateFlagInput(input), version: 1, createdAt: now, updatedAt: now })
    const bytes = encodeFlag(flag)
    if (await this.#store.exists(FLAG + flag.key)) throw conflict(`flag "${flag.key}" already exists`, flag.key)
    // Overrides and settings left behind by a deleted flag of the same key (a crash mid-delete)
    // must not come back with the new flag.
    await this.#deleteOverridesOf(flag.key)
    if (!(await this.#store.compareAndSet(FLAG + flag.key, null, bytes))) {
      throw conflict(`flag "${flag.key}" already exists`, flag.key)
    }
    await this.#changed()
    return flag
  }

  async updateFlag(key: string, changed: FlagDraft, expectedVersion: number): Promise<FeatureFlag> {
    const input = validateFlagInput(changed)
    if (input.key !== key) {
      throw new FlagstoneError('INVALID_ARGUMENT', `key: a flag's key cannot change ("${key}" → "${input.key}")`, {
        details: { field: 'key' },
      })
    }
    return this.#rewrite(key, expectedVersion, (current) => ({
      ...input,
      version: current.version,
      createdAt: current.createdAt,
      updatedAt: current.updatedAt,
    }))
  }

  async deleteFlag(key: string, expectedVersion?: number): Promise<void> {
    const current = await this.#readFlag(key)
    if (current === null) throw notFound('flag', key)
    this.#checkVersion(current.flag, expectedVersion)
    // Dependents first: a crash part-way leaves the flag with fewer overrides, never orphans.
    await this.#deleteOverridesOf(key)
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
    const { items } = await this.#readAll(`${OVERRIDE}${part(flagKey)}/`, decodeOverride)
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

  // ---- segments ----

  async listSegments(): Promise<Segment[]> {
    return (await this.#readAll(SEGMENT, decodeSegment)).items.sort((a, b) => (a.key < b.key ? -1 : 1))
  }

  async getSegment(key: string): Promise<Segment | null> {
    const bytes = await this.#store.get(SEGMENT + key)
    return bytes === null ? null : decodeSegment(bytes, SEGMENT + key)
  }

  async createSegment(input: Segment): Promise<Segment> {
    const segment = validateSegment(input)
    const bytes = encodeSegment(segment)
    await this.#checkSegmentGraph(segment)
    if (!(await this.#store.compareAndSet(SEGMENT + segment.key, null, bytes))) {
      throw conflict(`segment "${segment.key}" already exists`, segment.key)
    }
    await this.#changed()
    return segment
  }

  async updateSegment(input: Segment): Promise<Segment> {
    const segment = validateSegment(input)
    const bytes = encodeSegment(segment)
    const current = await this.#store.get(SEGMENT + segment.key)
    if (current === null) throw notFound('segment', segment.key)
    await this.#checkSegmentGraph(segment)
    if (!(await this.#store.compareAndSet(SEGMENT + segment.key, current, bytes))) {
      throw conflict(`segment "${segment.key}" changed while updating it; read it again`, segment.key)
    }
    await this.#changed()
    return segment
  }

  async deleteSegment(key: string): Promise<boolean> {
    const segments = await this.listSegments()
    const child = segments.find((s) => s.parent === key)
    if (child !== undefined) throw conflict(`segment "${key}" is the parent of "${child.key}"`, key)
    const existed = segments.some((s) => s.key === key)
    if (existed) {
      await this.#store.delete(SEGMENT + key)
      await this.#changed()
    }
    return existed
  }

  // ---- environments ----

  async listEnvironments(): Promise<Environment[]> {
    return (await this.#readAll(ENVIRONMENT, decodeEnvironment)).items.sort((a, b) => (a.slug < b.slug ? -1 : 1))
  }

  async getEnvironment(slug: string): Promise<Environment | null> {
    const bytes = await this.#store.get(ENVIRONMENT + slug)
    return bytes === null ? null : decodeEnvironment(bytes, ENVIRONMENT + slug)
  }

  async createEnvironment(input: Environment): Promise<Environment> {
    const environment = validateEnvironment(input)
    await this.#checkEnvironmentGraph(environment)
    if (!(await this.#store.compareAndSet(ENVIRONMENT + environment.slug, null, encodeEnvironment(environment)))) {
      throw conflict(`environment "${environment.slug}" already exists`, environment.slug)
    }
    await this.#changed()
    return environment
  }

  async updateEnvironment(input: Environment): Promise<Environment> {
    const environment = validateEnvironment(input)
    const current = await this.#store.get(ENVIRONMENT + environment.slug)
    if (current === null) throw notFound('environment', environment.slug)
    await this.#checkEnvironmentGraph(environment)
    if (!(await this.#store.compareAndSet(ENVIRONMENT + environment.slug, current, encodeEnvironment(environment)))) {
      throw conflict(`environment "${environment.slug}" changed while updating it; read it again`, environment.slug)
    }
    await this.#changed()
    return environment
  }

  async deleteEnvironment(slug: string): Promise<boolean> {
    const environments = await this.listEnvironments()
    const child = environments.find((e) => e.parent === slug)
    if (child !== undefined) throw conflict(`environment "${slug}" is the parent of "${child.slug}"`, slug)
    if (!environments.some((e) => e.slug === slug)) return false
    await this.#store.delete(ENVIRONMENT + slug)
    const settings = (await this.listEnvironmentFlags()).filter((s) => s.environment === slug)
    await mapLimit(settings, READ_CONCURRENCY, (s) => this.#store.delete(environmentFlagKey(s.flagKey, slug)))
    await this.#changed()
    return true
  }

  async listEnvironmentFlags(flagKey?: string): Promise<EnvironmentFlag[]> {
    const prefix = flagKey === undefined ? ENVIRONMENT_FLAG : `${ENVIRONMENT_FLAG}${flagKey}/`
    return (await this.#readAll(prefix, decodeEnvironmentFlag)).items.sort((a, b) =>
      a.flagKey === b.flagKey ? (a.environment < b.environment ? -1 : 1) : a.flagKey < b.flagKey ? -1 : 1,
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

  async promote(flagKey: string, from: string, to: string, options: PromoteOptions = {}): Promise<PromotionResult> {
    const { dryRun = false, confirm = false } = options
    if (from === to) {
      throw new FlagstoneError('INVALID_ARGUMENT', `to: cannot promote environment "${from}" into itself`, {
        details: { field: 'to' },
      })
    }
    const [environments, source, target] = await Promise.all([
      this.listEnvironments(),
      this.getEnvironment(from),
      this.getEnvironment(to),
    ])
    if (source === null) throw notFound('environment', from)
    if (target === null) throw notFound('environment', to)
    if (target.settings.protected === true && !confirm && !dryRun) {
      throw new FlagstoneError('FORBIDDEN', `environment "${to}" is protected: promote into it with { confirm: true }`, {
        details: { field: 'confirm', environment: to },
      })
    }
    let flags: FeatureFlag[]
    if (flagKey === 'all') flags = await this.listFlags()
    else {
      const flag = await this.getFlag(flagKey)
      if (flag === null) throw notFound('flag', flagKey)
      flags = [flag]
    }
    const settings = await this.listEnvironmentFlags(flagKey === 'all' ? undefined : flagKey)
    const plans = flags.map((f) => planPromotion(environments, settings, f.key, from, to)).filter((p) => p.changes.length > 0)
    if (!dryRun && plans.length > 0) {
      const byKey = new Map(flags.map((f) => [f.key, f]))
      // Each flag's settings are one key, so a crash part-way leaves some flags promoted and the
      // rest as they were; promoting again finishes the job.
      await mapLimit(plans, READ_CONCURRENCY, async (plan) => {
        const key = environmentFlagKey(plan.flagKey, to)
        if (plan.after === undefined) await this.#store.delete(key)
        else await this.#store.set(key, encodeEnvironmentFlag(plan.after, byKey.get(plan.flagKey)))
      })
      await this.#changed()
    }
    return { from, to, dryRun, plans }
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
        if (await this.#store.compareAndSet(FLAG + listed.key, current.bytes, encodeFlag(next))) {
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
    const bytes = await this.#store.get(REVISION)
    return bytes === null ? 0 : Number(Buffer.from(bytes).toString('utf8'))
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

  /** Read, check the version, write the next version with compareAndSet against the bytes read. */
  async #rewrite(
    key: string,
    expectedVersion: number | undefined,
    change: (current: FeatureFlag) => FeatureFlag,
  ): Promise<FeatureFlag> {
    const current = await this.#readFlag(key)
    if (current === null) throw notFound('flag', key)
    this.#checkVersion(current.flag, expectedVersion)
    const next = validateFlag({ ...change(current.flag), version: current.flag.version + 1, updatedAt: new Date(this.#now()) })
    const bytes = encodeFlag(next)
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

  /** Everything that hangs off a flag: its overrides and its environment settings. */
  async #deleteOverridesOf(flagKey: string): Promise<void> {
    const keys: string[] = []
    for (const prefix of [`${OVERRIDE}${part(flagKey)}/`, `${ENVIRONMENT_FLAG}${flagKey}/`]) {
      for await (const key of this.#store.keys(prefix)) keys.push(key)
    }
    await mapLimit(keys, READ_CONCURRENCY, (key) => this.#store.delete(key))
  }

  async #checkEnvironmentGraph(environment: Environment): Promise<void> {
    const others = (await this.listEnvironments()).filter((e) => e.slug !== environment.slug)
    if (environment.parent !== undefined && !others.some((e) => e.slug === environment.parent)) {
      throw new FlagstoneError('INVALID_ARGUMENT', `parent: environment "${environment.parent}" does not exist`, {
        details: { field: 'parent' },
      })
    }
    checkEnvironmentCycles([...others, environment])
  }

  async #checkSegmentGraph(segment: Segment): Promise<void> {
    const others = (await this.listSegments()).filter((s) => s.key !== segment.key)
    if (segment.parent !== undefined && !others.some((s) => s.key === segment.parent)) {
      throw new FlagstoneError('INVALID_ARGUMENT', `parent: segment "${segment.parent}" does not exist`, {
        details: { field: 'parent' },
      })
    }
    checkSegmentCycles([...others, segment])
  }

  async #readAll<T>(
    prefix: string,
    decode: (bytes: Uint8Array, key: string) => T,
  ): Promise<{ items: T[]; corrupt: Array<{ key: string; message: string }> }> {
    const keys: string[] = []
    for await (const key of this.#store.keys(prefix)) keys.push(key)
    const corrupt: Array<{ key: string; message: string }> = []
    const items = await mapLimit(keys, READ_CONCURRENCY, async (key) => {
      const bytes = await this.#store.get(key)
      if (bytes === null) return undefined // deleted since it was listed
      try {
        return decode(bytes, key)
      } catch (error) {
        if (error instanceof FlagstoneError && error.code === 'CORRUPT_VALUE') {
          corrupt.push({ key, message: error.message })
          return undefined
        }
        throw error
      }
    })
    return { items: items.filter((x): x is Awaited<T> => x !== undefined) as T[], corrupt }
  }

  async #changed(): Promise<void> {
    let revision = await this.#store.increment(REVISION)
    if (revision === 1) {
      // The counter was just (re)created — a new repository, or a store that lost its data (a Redis
      // restart without persistence). Jump to a random start so that a client still holding a
      // revision from the counter's previous life cannot mistake new data for what it has.
      const start = randomInt(2, 2 ** 40)
      revision = (await this.#store.compareAndSet(REVISION, Buffer.from('1'), String(start))) ? start : await this.revision()
    }
    // Push is only a wake-up call (and UNSUPPORTED on SQLite): pollers still see the new revision.
    await this.#store.publish(CHANNEL, String(revision)).catch(() => undefined)
  }
}
