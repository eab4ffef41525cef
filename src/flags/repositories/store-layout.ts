/**
 * How `StoreFlagRepository` lays its documents out in a store's namespace, and the reads and the
 * change signal every part of it shares:
 *
 *   flag/<key>                               one document per flag (rules, variants, schedules inside)
 *   override/<flagKey>/<entityType>/<entityId>  one per override, with the store's native expiry
 *   segment/<key>
 *   env/<slug>
 *   envflag/<flagKey>/<slug>                  a flag's settings in one environment
 *   revision                                  change counter, bumped in the same atomic write as the documents
 *   log/<revision>                            change records (change-log.ts)
 */
import { FlagstoneError } from '../../errors.js'
import type { Store } from '../../stores/types.js'
import type { DocumentRef } from './repository.js'

export const FLAG = 'flag/'
export const OVERRIDE = 'override/'
export const SEGMENT = 'segment/'
export const ENVIRONMENT = 'env/'
export const ENVIRONMENT_FLAG = 'envflag/'
import { parseRevision, REVISION } from './change-log.js'

/** Entries per page when listing documents: one round trip per page. */
const PAGE = 5000

const part = (text: string) => encodeURIComponent(text)
export const overridePrefix = (flagKey: string) => `${OVERRIDE}${part(flagKey)}/`
export const environmentFlagKey = (flagKey: string, slug: string) => `${ENVIRONMENT_FLAG}${flagKey}/${slug}`
export const overrideKey = (flagKey: string, entityType: string, entityId: string) =>
  `${overridePrefix(flagKey)}${part(entityType)}/${part(entityId)}`

/** The store key of a document. */
export function keyOfRef(ref: DocumentRef): string {
  switch (ref.kind) {
    case 'flag':
      return FLAG + ref.key
    case 'segment':
      return SEGMENT + ref.key
    case 'environment':
      return ENVIRONMENT + ref.slug
    case 'override':
      return overrideKey(ref.flagKey, ref.entityType, ref.entityId)
    case 'environmentFlag':
      return environmentFlagKey(ref.flagKey, ref.environment)
  }
}

/** The document a store key holds; `undefined` for a key outside the layout (written by a newer version). */
export function refOfKey(key: string): DocumentRef | undefined {
  // Keys, slugs and segment keys never contain '/' (their patterns say so); override parts are URI-encoded.
  const [prefix, ...rest] = key.split('/')
  const parts = rest.length
  if (prefix === 'flag' && parts === 1) return { kind: 'flag', key: rest[0]! }
  if (prefix === 'segment' && parts === 1) return { kind: 'segment', key: rest[0]! }
  if (prefix === 'env' && parts === 1) return { kind: 'environment', slug: rest[0]! }
  if (prefix === 'envflag' && parts === 2) return { kind: 'environmentFlag', flagKey: rest[0]!, environment: rest[1]! }
  if (prefix === 'override' && parts === 3) {
    try {
      const [flagKey, entityType, entityId] = rest.map((p) => decodeURIComponent(p)) as [string, string, string]
      return { kind: 'override', flagKey, entityType, entityId }
    } catch {
      return undefined
    }
  }
  return undefined
}

export function notFound(what: string, key: string): FlagstoneError {
  return new FlagstoneError('NOT_FOUND', `${what} "${key}" does not exist`, { details: { key } })
}

export function conflict(message: string, key: string): FlagstoneError {
  return new FlagstoneError('CONFLICT', message, { details: { key } })
}

export interface ReadAllResult<T> {
  items: T[]
  corrupt: Array<{ key: string; message: string }>
}

/** Every document under `prefix`, read in pages of keys with values; unreadable ones (`CORRUPT_VALUE`) are set aside in `corrupt`. */
export async function readAll<T>(
  store: Store,
  prefix: string,
  decode: (bytes: Uint8Array, key: string) => T,
): Promise<ReadAllResult<T>> {
  // A map: Redis SCAN may list a key in two pages.
  const found = new Map<string, Uint8Array>()
  let cursor: string | undefined
  do {
    const page = await store.entries(prefix, { limit: PAGE, cursor })
    for (const [key, value] of page.entries) found.set(key, value)
    cursor = page.cursor ?? undefined
  } while (cursor !== undefined)
  const corrupt: Array<{ key: string; message: string }> = []
  const items: T[] = []
  for (const [key, bytes] of found) {
    try {
      items.push(decode(bytes, key))
    } catch (error) {
      if (error instanceof FlagstoneError && error.code === 'CORRUPT_VALUE') corrupt.push({ key, message: error.message })
      else throw error
    }
  }
  return { items, corrupt }
}

export async function readRevision(store: Store): Promise<number> {
  return parseRevision(await store.get(REVISION))
}

/** Every key under any of `prefixes` (each once), read in pages. */
export async function keysUnder(store: Store, prefixes: readonly string[]): Promise<string[]> {
  const keys = new Set<string>()
  for (const prefix of prefixes) {
    let cursor: string | undefined
    do {
      const page = await store.entries(prefix, { limit: PAGE, cursor })
      for (const [key] of page.entries) keys.add(key)
      cursor = page.cursor ?? undefined
    } while (cursor !== undefined)
  }
  return [...keys]
}

/** Most documents one atomic write deletes with a flag; more dependents go first, in chunks of this size. */
export const DELETE_CHUNK = 200

/** Everything that hangs off a flag: its overrides and its environment settings. */
export function dependentsOf(store: Store, flagKey: string): Promise<string[]> {
  return keysUnder(store, [overridePrefix(flagKey), `${ENVIRONMENT_FLAG}${flagKey}/`])
}
