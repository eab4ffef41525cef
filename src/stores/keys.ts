/**
 * Key encoding for namespaces — the only place that knows how a (root, namespace path, key)
 * triple becomes a physical key.
 *
 * Physical key = `<root>[:<ns>...]/<key>`. Namespace names may not contain `:` or `/`, so the first
 * `/` ends the namespace path: namespace `a` key `b:c` (`r:a/b:c`) never meets namespace `a:b`
 * key `c` (`r:a:b/c`). A namespace's own keys share the prefix `<path>/`, its children the prefix
 * `<path>:`; `apple` matches neither of `app`'s, so range deletes are prefix-safe without `LIKE`.
 */
import { FlagstoneError } from '../errors.js'

const NAME = /^[A-Za-z0-9_.-]{1,64}$/
export const MAX_KEY_BYTES = 1024
export const DEFAULT_ROOT = 'flagstone'

/** Throws `INVALID_ARGUMENT` unless `name` is a valid namespace name. */
export function checkNamespaceName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `invalid namespace name ${JSON.stringify(name)}: use 1..64 characters of [A-Za-z0-9_.-]`,
      { details: { field: 'namespace' } },
    )
  }
  return name
}

/**
 * Throws `INVALID_ARGUMENT` unless `text` is well-formed Unicode without U+0000. SQLite, Redis and
 * Postgres store keys as UTF-8, where a lone surrogate becomes U+FFFD (two keys would become one),
 * and a Postgres TEXT cannot hold NUL at all: refusing both here is what makes every backend agree.
 */
export function checkWellFormed(text: string, field: string): string {
  if (!(text as unknown as WellFormedString).isWellFormed() || text.includes('\0')) {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `invalid ${field} ${JSON.stringify(text.slice(0, 40))}: it must be well-formed Unicode (no lone surrogate) without NUL`,
      { details: { field } },
    )
  }
  return text
}

/** `String.prototype.isWellFormed` is in Node 20 but in TypeScript's ES2024 lib, not ES2023. */
interface WellFormedString {
  isWellFormed(): boolean
}

/** Throws `INVALID_ARGUMENT` unless `key` is a non-empty, well-formed string of at most 1024 UTF-8 bytes without NUL. */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new FlagstoneError('INVALID_ARGUMENT', `invalid key ${JSON.stringify(key)}: keys are non-empty strings`, {
      details: { field: 'key' },
    })
  }
  checkWellFormed(key, 'key')
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short keys skip the byte count.
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new FlagstoneError('INVALID_ARGUMENT', `key is longer than ${MAX_KEY_BYTES} UTF-8 bytes: ${key.slice(0, 40)}…`, {
      details: { field: 'key' },
    })
  }
  return key
}

/** A namespace's place in the physical key space. */
export interface KeySpace {
  /** Namespace path relative to the root: `''` for the root store, else `a:b`. */
  readonly path: string
  /** Prefix of this namespace's own keys. */
  readonly own: string
  /** Prefix of every key of this namespace's child namespaces. */
  readonly children: string
}

export function rootKeySpace(root: string): KeySpace {
  checkNamespaceName(root)
  return { path: '', own: `${root}/`, children: `${root}:` }
}

export function childKeySpace(parent: KeySpace, name: string): KeySpace {
  checkNamespaceName(name)
  const base = parent.children + name
  return { path: parent.path === '' ? name : `${parent.path}:${name}`, own: `${base}/`, children: `${base}:` }
}

/** The smallest string greater than every string that starts with `prefix` (for `key >= p AND key < end`). */
export function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1)
  return prefix.slice(0, -1) + String.fromCharCode(last + 1)
}
