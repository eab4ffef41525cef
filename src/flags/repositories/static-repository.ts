/**
 * A read-only `FlagRepository` from a JSON document — for tests, offline mode and bootstrapping:
 *
 *   { "flags": [ { "key": "new-checkout", "type": "boolean", "defaultEnabled": true, … } ],
 *     "overrides": [ … ], "segments": [ … ], "environments": [ … ], "environmentFlags": [ … ] }
 *
 * Flags may omit `version` (1), `createdAt` / `updatedAt` (the epoch) and every collection. The
 * whole document is validated up front: an invalid one throws `INVALID_ARGUMENT` naming the field.
 */
import { FlagstoneError } from '../../errors.js'
import { checkOptions, compareKeys } from '../../internal/objects.js'
import {
  checkEnvironmentCycles,
  checkSegmentCycles,
  validateEnvironment,
  validateEnvironmentFlag,
  validateFlag,
  validateFlagInput,
  validateOverride,
  validateSegment,
} from '../codec/index.js'
import { checkSegmentBudget } from '../codec/budget.js'
import { checkRuleSegments } from './segment-references.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagOverride, Segment } from '../model.js'
import { filterFlags } from './flag-filter.js'
import type {
  ChangeSet,
  DocumentRef,
  DocumentsRead,
  FlagFilter,
  FlagRepository,
  SnapshotData,
  StoredDocument,
} from './repository.js'

export interface StaticFlagDocument {
  flags: unknown[]
  overrides?: unknown[]
  segments?: unknown[]
  environments?: unknown[]
  environmentFlags?: unknown[]
}

function prefixed<T>(path: string, validate: () => T): T {
  try {
    return validate()
  } catch (error) {
    if (error instanceof FlagstoneError && error.code === 'INVALID_ARGUMENT') {
      const field = `${path}.${String(error.details?.field ?? '')}`
      throw new FlagstoneError('INVALID_ARGUMENT', `${path}.${error.message}`, { cause: error, details: { field } })
    }
    throw error
  }
}

function readOnly(): never {
  throw new FlagstoneError('UNSUPPORTED', 'this flag repository is read-only (StaticFlagRepository)')
}

export class StaticFlagRepository implements FlagRepository {
  readonly readOnly = true
  readonly #flags: ReadonlyMap<string, FeatureFlag>
  readonly #overrides: readonly FlagOverride[]
  readonly #segments: ReadonlyMap<string, Segment>
  readonly #environments: ReadonlyMap<string, Environment>
  readonly #environmentFlags: readonly EnvironmentFlag[]

  constructor(document: StaticFlagDocument | string) {
    const doc: unknown = typeof document === 'string' ? parseJson(document) : document
    if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as StaticFlagDocument).flags)) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'flags: the document needs a "flags" array', { details: { field: 'flags' } })
    }
    const { flags = [], overrides = [], segments = [], environments = [], environmentFlags = [] } = doc as StaticFlagDocument
    const epoch = new Date(0)
    const flagMap = new Map<string, FeatureFlag>()
    flags.forEach((input, i) => {
      const flag = prefixed(`flags[${i}]`, () => {
        const fields = validateFlagInput(input)
        const o = input as Partial<FeatureFlag>
        return validateFlag({
          ...fields,
          version: o.version ?? 1,
          createdAt: o.createdAt ?? epoch,
          updatedAt: o.updatedAt ?? epoch,
        })
      })
      if (flagMap.has(flag.key)) {
        throw new FlagstoneError('INVALID_ARGUMENT', `flags[${i}].key: "${flag.key}" appears twice`, {
          details: { field: `flags[${i}].key` },
        })
      }
      flagMap.set(flag.key, flag)
    })
    this.#flags = flagMap
    this.#overrides = overrides.map((input, i) =>
      prefixed(`overrides[${i}]`, () => {
        const flagKey = (input as { flagKey?: unknown } | null)?.flagKey
        const flag = typeof flagKey === 'string' ? flagMap.get(flagKey) : undefined
        if (flag === undefined) {
          throw new FlagstoneError('INVALID_ARGUMENT', `flagKey: no flag "${String(flagKey)}" in the document`, {
            details: { field: 'flagKey' },
          })
        }
        return validateOverride(input, flag)
      }),
    )
    const segmentList = segments.map((input, i) => prefixed(`segments[${i}]`, () => validateSegment(input)))
    checkSegmentCycles(segmentList)
    this.#segments = new Map(segmentList.map((s) => [s.key, s]))
    const environmentList = environments.map((input, i) => prefixed(`environments[${i}]`, () => validateEnvironment(input)))
    checkEnvironmentCycles(environmentList)
    this.#environments = new Map(environmentList.map((e) => [e.slug, e]))
    this.#environmentFlags = environmentFlags.map((input, i) =>
      prefixed(`environmentFlags[${i}]`, () => {
        const settings = validateEnvironmentFlag(input)
        const flag = flagMap.get(settings.flagKey)
        if (flag === undefined) {
          throw new FlagstoneError('INVALID_ARGUMENT', `flagKey: no flag "${settings.flagKey}" in the document`, {
            details: { field: 'flagKey' },
          })
        }
        if (!this.#environments.has(settings.environment)) {
          throw new FlagstoneError('INVALID_ARGUMENT', `environment: no environment "${settings.environment}" in the document`, {
            details: { field: 'environment' },
          })
        }
        return validateEnvironmentFlag(settings, flag)
      }),
    )
    // Every segment a rule names must be in the document (issue 10 item 11).
    const hasSegment = (key: string) => this.#segments.has(key)
    ;[...flagMap.values()].forEach((flag, i) => checkRuleSegments(flag.rules, hasSegment, `flags[${i}].rules`))
    this.#environmentFlags.forEach((settings, i) => checkRuleSegments(settings.rules, hasSegment, `environmentFlags[${i}].rules`))
    // And fit the evaluation budget with the segments they reach, each counted once (issue 10 item 4).
    const segmentOf = (key: string) => this.#segments.get(key)
    ;[...flagMap.values()].forEach((flag, i) => checkSegmentBudget(flag.rules, segmentOf, `flags[${i}].rules`))
    this.#environmentFlags.forEach((settings, i) => checkSegmentBudget(settings.rules, segmentOf, `environmentFlags[${i}].rules`))
  }

  async listFlags(filter: FlagFilter = {}): Promise<FeatureFlag[]> {
    checkOptions(filter, 'listFlags()', 'filter')
    return filterFlags(this.#flags.values(), filter)
  }

  async getFlag(key: string): Promise<FeatureFlag | null> {
    return this.#flags.get(key) ?? null
  }

  async listOverrides(flagKey: string): Promise<FlagOverride[]> {
    const now = Date.now()
    return this.#overrides.filter((o) => o.flagKey === flagKey && (o.expiresAt === undefined || o.expiresAt.getTime() > now))
  }

  async getOverride(flagKey: string, entityType: string, entityId: string): Promise<FlagOverride | null> {
    return this.#overrides.find((o) => o.flagKey === flagKey && o.entityType === entityType && o.entityId === entityId) ?? null
  }

  async listSegments(): Promise<Segment[]> {
    return [...this.#segments.values()].sort((a, b) => compareKeys(a.key, b.key))
  }

  async getSegment(key: string): Promise<Segment | null> {
    return this.#segments.get(key) ?? null
  }

  async listEnvironments(): Promise<Environment[]> {
    return [...this.#environments.values()].sort((a, b) => compareKeys(a.slug, b.slug))
  }

  async getEnvironment(slug: string): Promise<Environment | null> {
    return this.#environments.get(slug) ?? null
  }

  async listEnvironmentFlags(flagKey?: string): Promise<EnvironmentFlag[]> {
    return this.#environmentFlags.filter((s) => flagKey === undefined || s.flagKey === flagKey)
  }

  async getEnvironmentFlag(environment: string, flagKey: string): Promise<EnvironmentFlag | null> {
    return this.#environmentFlags.find((s) => s.environment === environment && s.flagKey === flagKey) ?? null
  }

  async loadSnapshot(): Promise<SnapshotData> {
    const now = Date.now()
    return {
      revision: 0,
      flags: [...this.#flags.values()],
      overrides: this.#overrides.filter((o) => o.expiresAt === undefined || o.expiresAt.getTime() > now),
      segments: [...this.#segments.values()],
      environments: [...this.#environments.values()],
      environmentFlags: this.#environmentFlags,
      corrupt: [],
    }
  }

  async revision(): Promise<number> {
    return 0
  }

  async watch(): Promise<null> {
    return null
  }

  /** Nothing ever changes here: nothing after revision 0, and no log to bridge any other revision. */
  async changesSince(revision: number): Promise<ChangeSet | null> {
    return revision === 0 ? { revision: 0, changed: [] } : null
  }

  async readDocuments(refs: readonly DocumentRef[]): Promise<DocumentsRead> {
    const { overrides } = await this.loadSnapshot()
    const documents = refs.map((ref): StoredDocument | null => {
      switch (ref.kind) {
        case 'flag':
          return this.#flags.get(ref.key) ?? null
        case 'segment':
          return this.#segments.get(ref.key) ?? null
        case 'environment':
          return this.#environments.get(ref.slug) ?? null
        case 'override':
          return (
            overrides.find((o) => o.flagKey === ref.flagKey && o.entityType === ref.entityType && o.entityId === ref.entityId) ??
            null
          )
        case 'environmentFlag':
          return this.#environmentFlags.find((s) => s.flagKey === ref.flagKey && s.environment === ref.environment) ?? null
      }
    })
    return { revision: 0, documents }
  }

  createFlag = async (): Promise<never> => readOnly()
  updateFlag = async (): Promise<never> => readOnly()
  deleteFlag = async (): Promise<never> => readOnly()
  archiveFlag = async (): Promise<never> => readOnly()
  restoreFlag = async (): Promise<never> => readOnly()
  setOverride = async (): Promise<never> => readOnly()
  deleteOverride = async (): Promise<never> => readOnly()
  createSegment = async (): Promise<never> => readOnly()
  updateSegment = async (): Promise<never> => readOnly()
  deleteSegment = async (): Promise<never> => readOnly()
  createEnvironment = async (): Promise<never> => readOnly()
  updateEnvironment = async (): Promise<never> => readOnly()
  deleteEnvironment = async (): Promise<never> => readOnly()
  setEnvironmentFlag = async (): Promise<never> => readOnly()
  deleteEnvironmentFlag = async (): Promise<never> => readOnly()
  promote = async (): Promise<never> => readOnly()
  applyDueChanges = async (): Promise<never> => readOnly()
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new FlagstoneError('INVALID_ARGUMENT', `the flag document is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      details: { field: '(document)' },
    })
  }
}
