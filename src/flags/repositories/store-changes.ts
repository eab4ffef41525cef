/**
 * How `StoreFlagRepository` is followed: push messages (`watch`), the change log read from a
 * revision on (`changesSince`) and the changed documents read back in one round trip
 * (`readDocuments`). The client applies what these return as a delta (client/delta.ts).
 */
import { FlagstoneError } from '../../errors.js'
import type { Store } from '../../stores/types.js'
import { decodeDocument } from '../codec/index.js'
import type { FlagOverride } from '../model.js'
import { CHANNEL, type DocumentChange, parseRevision, readChanges, REVISION } from './change-log.js'
import type { ChangeListener, ChangeSet, DocumentRef, DocumentsRead } from './repository.js'
import { keyOfRef, readRevision, refOfKey } from './store-layout.js'

/** The refs of `changes`, each once; `undefined` when one names a key outside the layout. */
function refsOf(changes: readonly DocumentChange[]): DocumentRef[] | undefined {
  const byKey = new Map<string, DocumentRef>()
  for (const { key } of changes) {
    const ref = refOfKey(key)
    if (ref === undefined) return undefined
    byKey.set(key, ref)
  }
  return [...byKey.values()]
}

/** A push message (change-log.ts `changeMessage`): its revision and, in the JSON form, the changed documents. */
export function parseChangeMessage(message: string): { revision: number; changed?: DocumentRef[] } {
  if (!message.startsWith('{')) return { revision: Number(message) }
  try {
    const parsed = JSON.parse(message) as { revision?: unknown; changes?: unknown }
    const revision = typeof parsed.revision === 'number' ? parsed.revision : Number.NaN
    const changes = Array.isArray(parsed.changes) ? (parsed.changes as DocumentChange[]) : undefined
    const valid = changes?.every((c) => c !== null && typeof c === 'object' && typeof c.key === 'string')
    return { revision, changed: valid === true ? refsOf(changes as DocumentChange[]) : undefined }
  } catch {
    return { revision: Number.NaN }
  }
}

export async function watchChanges(store: Store, listener: ChangeListener): Promise<(() => Promise<void>) | null> {
  try {
    return await store.subscribe(CHANNEL, (message) => {
      const { revision, changed } = parseChangeMessage(message)
      listener(revision, changed)
    })
  } catch (error) {
    if (error instanceof FlagstoneError && error.code === 'UNSUPPORTED') return null
    throw error
  }
}

export async function changesSince(store: Store, since: number): Promise<ChangeSet | null> {
  if (!Number.isSafeInteger(since)) return null
  const revision = await readRevision(store)
  // Backwards: the counter restarted (a store that lost its data); the log cannot bridge that.
  if (revision < since) return null
  const records = await readChanges(store, since, revision)
  if (records === null) return null
  const changed = refsOf(records.flatMap((r) => r.changes))
  return changed === undefined ? null : { revision, changed }
}

export async function readDocuments(store: Store, refs: readonly DocumentRef[], now: () => number): Promise<DocumentsRead> {
  const keys = refs.map(keyOfRef)
  const [revision, ...values] = await store.getMany([REVISION, ...keys])
  const at = now()
  const documents = refs.map((ref, i) => {
    const bytes = values[i]
    if (bytes == null) return null
    try {
      const document = decodeDocument(ref.kind, bytes, keys[i]!)
      // Stores expire natively, some lazily: an override past its expiry is gone already.
      const expiresAt = ref.kind === 'override' ? (document as FlagOverride).expiresAt : undefined
      return expiresAt !== undefined && expiresAt.getTime() <= at ? null : document
    } catch (error) {
      if (error instanceof FlagstoneError && error.code === 'CORRUPT_VALUE') return { corrupt: error.message }
      throw error
    }
  })
  return { revision: parseRevision(revision), documents }
}
