/**
 * Segments and environments are stored the same way: one document per key, a `parent` that must
 * exist and must not close a cycle, and no delete while another names it as parent. One helper
 * serves both, so the two cannot drift apart.
 */
import { FlagstoneError } from '../../errors.js'
import type { Store } from '../../stores/types.js'
import { compareKeys } from '../../internal/objects.js'
import {
  checkEnvironmentCycles,
  checkSegmentCycles,
  decodeEnvironment,
  decodeSegment,
  encodeEnvironment,
  encodeSegment,
  validateEnvironment,
  validateSegment,
} from '../codec/index.js'
import type { Environment, Segment } from '../model.js'
import { commitChange, type DocumentChange, REVISION, type ResolvedLog } from './change-log.js'
import type { WriteCondition } from './repository.js'
import { ENVIRONMENT, SEGMENT, conflict, notFound, readAll } from './store-layout.js'

export interface CollectionSpec<T extends { readonly parent?: string }> {
  /** The noun in messages: `segment`, `environment`. */
  readonly what: string
  /** The store key prefix, e.g. `segment/`. */
  readonly prefix: string
  readonly keyOf: (item: T) => string
  readonly validate: (input: unknown) => T
  readonly encode: (item: T) => Uint8Array
  readonly decode: (bytes: Uint8Array, key: string) => T
  /** Throws `INVALID_ARGUMENT` naming the cycle. */
  readonly checkCycles: (items: T[]) => void
  /** More checks of a valid item before it is written (segments: the evaluation budget of the flags using them). */
  readonly beforeWrite?: (item: T) => Promise<void>
}

export class StoredCollection<T extends { readonly parent?: string }> {
  readonly #store: Store
  readonly #spec: CollectionSpec<T>
  readonly #log: ResolvedLog

  constructor(store: Store, spec: CollectionSpec<T>, log: ResolvedLog) {
    this.#store = store
    this.#spec = spec
    this.#log = log
  }

  async list(): Promise<T[]> {
    const { keyOf, prefix, decode } = this.#spec
    return (await readAll(this.#store, prefix, decode)).items.sort((a, b) => compareKeys(keyOf(a), keyOf(b)))
  }

  async get(key: string): Promise<T | null> {
    const bytes = await this.#store.get(this.#spec.prefix + key)
    return bytes === null ? null : this.#spec.decode(bytes, this.#spec.prefix + key)
  }

  async create(input: T): Promise<T> {
    const { what, prefix, keyOf } = this.#spec
    const item = this.#spec.validate(input)
    const key = keyOf(item)
    await this.#checkGraph(item)
    await this.#spec.beforeWrite?.(item)
    const bytes = this.#spec.encode(item)
    await commitChange(this.#store, this.#log, [prefix + key], ([current]) => {
      if (current != null) throw conflict(`${what} "${key}" already exists`, key)
      return {
        writes: [{ op: 'set', key: prefix + key, value: bytes }],
        checks: [{ key: prefix + key, expected: null }],
        changes: [{ key: prefix + key, op: 'put' }],
      }
    })
    return item
  }

  /** `condition` is run in the write's plan on the document found there (see `WriteCondition`). */
  async update(input: T, condition?: WriteCondition<T>): Promise<T> {
    const { what, prefix, keyOf } = this.#spec
    const item = this.#spec.validate(input)
    const key = keyOf(item)
    const read = await this.#store.get(prefix + key)
    if (read === null) throw notFound(what, key)
    await this.#checkGraph(item)
    await this.#spec.beforeWrite?.(item)
    const bytes = this.#spec.encode(item)
    await commitChange(this.#store, this.#log, [prefix + key], ([current]) => {
      condition?.(current == null ? null : this.#spec.decode(current, prefix + key))
      if (current == null) throw notFound(what, key)
      // The graph was checked against what was read: a change since then means check again.
      if (Buffer.compare(current, read) !== 0) throw conflict(`${what} "${key}" changed while updating it; read it again`, key)
      return {
        writes: [{ op: 'set', key: prefix + key, value: bytes }],
        checks: [{ key: prefix + key, expected: read }],
        changes: [{ key: prefix + key, op: 'put' }],
      }
    })
    return item
  }

  /**
   * Whether there was one to delete; the keys `dependents` names are deleted in the same atomic
   * write. `guard` (if given) is run in the write's plan on the revision read with the document
   * and may throw to stop it; so may `condition`, given the document found there.
   */
  async delete(
    key: string,
    dependents?: () => Promise<string[]>,
    guard?: (revision: Uint8Array | null) => void,
    condition?: WriteCondition<T>,
  ): Promise<boolean> {
    const { what, keyOf, prefix } = this.#spec
    const items = await this.list()
    const child = items.find((item) => item.parent === key)
    if (child !== undefined) throw conflict(`${what} "${key}" is the parent of "${keyOf(child)}"`, key)
    if (!items.some((item) => keyOf(item) === key)) return false
    const others = (await dependents?.()) ?? []
    const keys = guard === undefined ? [prefix + key] : [prefix + key, REVISION]
    const written = await commitChange(this.#store, this.#log, keys, ([current, revision]) => {
      guard?.(revision ?? null)
      condition?.(current == null ? null : this.#spec.decode(current, prefix + key))
      if (current == null) return null
      const deletes = [prefix + key, ...others]
      return {
        writes: deletes.map((k) => ({ op: 'delete', key: k }) as const),
        checks: [{ key: prefix + key, expected: current }],
        changes: deletes.map((k): DocumentChange => ({ key: k, op: 'delete' })),
      }
    })
    return written !== null
  }

  async #checkGraph(item: T): Promise<void> {
    const { what, keyOf } = this.#spec
    const others = (await this.list()).filter((other) => keyOf(other) !== keyOf(item))
    if (item.parent !== undefined && !others.some((other) => keyOf(other) === item.parent)) {
      throw new FlagstoneError('INVALID_ARGUMENT', `parent: ${what} "${item.parent}" does not exist`, {
        details: { field: 'parent' },
      })
    }
    this.#spec.checkCycles([...others, item])
  }
}

export const segmentCollection = (
  store: Store,
  log: ResolvedLog,
  beforeWrite?: (segment: Segment) => Promise<void>,
): StoredCollection<Segment> =>
  new StoredCollection(
    store,
    {
      what: 'segment',
      prefix: SEGMENT,
      keyOf: (s) => s.key,
      validate: (input) => validateSegment(input),
      encode: encodeSegment,
      decode: decodeSegment,
      checkCycles: checkSegmentCycles,
      beforeWrite,
    },
    log,
  )

export const environmentCollection = (store: Store, log: ResolvedLog): StoredCollection<Environment> =>
  new StoredCollection(
    store,
    {
      what: 'environment',
      prefix: ENVIRONMENT,
      keyOf: (e) => e.slug,
      validate: (input) => validateEnvironment(input),
      encode: encodeEnvironment,
      decode: decodeEnvironment,
      checkCycles: checkEnvironmentCycles,
    },
    log,
  )
