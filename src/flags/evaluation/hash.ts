/**
 * Bucketing: MurmurHash3 x86 32-bit, seed 0, over the UTF-8 bytes of the input, so buckets match
 * litestar-flags (Python hashes `str.encode()`); JS murmur packages that hash UTF-16 code units
 * disagree on any non-ASCII key.
 *
 * Strings are encoded into one reused scratch buffer instead of a fresh Uint8Array per call: this
 * runs on every rollout and variant evaluation. Hashing never calls user code, so the buffer cannot
 * be re-entered.
 */
import type { FlagVariant } from '../model.js'

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

let scratch = new Uint8Array(1024)

function ensureCapacity(bytes: number): void {
  if (bytes > scratch.length) {
    let size = scratch.length
    while (size < bytes) size *= 2
    scratch = new Uint8Array(size)
  }
}

/** Writes `text` as UTF-8 into `scratch` at `offset` (capacity already ensured); returns the end. */
function writeUtf8(text: string, offset: number): number {
  const buf = scratch
  let pos = offset
  const n = text.length
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i)
    if (c < 0x80) {
      buf[pos++] = c
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6)
      buf[pos++] = 0x80 | (c & 0x3f)
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? text.charCodeAt(i + 1) : 0
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
          i++
          buf[pos++] = 0xf0 | (cp >> 18)
          buf[pos++] = 0x80 | ((cp >> 12) & 0x3f)
          buf[pos++] = 0x80 | ((cp >> 6) & 0x3f)
          buf[pos++] = 0x80 | (cp & 0x3f)
          continue
        }
        // A lone surrogate is not encodable; U+FFFD is what TextEncoder and Buffer write for it.
        c = 0xfffd
      }
      buf[pos++] = 0xe0 | (c >> 12)
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f)
      buf[pos++] = 0x80 | (c & 0x3f)
    }
  }
  return pos
}

function hashScratch(length: number, seed: number): number {
  const buf = scratch
  let h = seed | 0
  const blocks = length & ~3
  let i = 0
  for (; i < blocks; i += 4) {
    let k = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  const tail = length & 3
  if (tail !== 0) {
    let k = buf[i]!
    if (tail > 1) k |= buf[i + 1]! << 8
    if (tail > 2) k |= buf[i + 2]! << 16
    k = Math.imul(k, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    h ^= k
  }
  h ^= length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The UTF-8 bytes of `text`, for `hashWithPrefix` (precompute once per flag). */
const encoder = new TextEncoder() // one for the process: a snapshot load encodes a prefix per flag

export function utf8(text: string): Uint8Array {
  return encoder.encode(text)
}

/**
 * murmur3(prefix bytes ++ UTF-8(text)) without building the concatenated string: what the
 * evaluator calls with `flagKey + ':'` or `flagKey + ':variant:'` encoded once per flag.
 */
export function hashWithPrefix(prefix: Uint8Array, text: string, seed = 0): number {
  const p = prefix.length
  ensureCapacity(p + text.length * 3)
  const buf = scratch
  for (let i = 0; i < p; i++) buf[i] = prefix[i]!
  return hashScratch(writeUtf8(text, p), seed)
}

/** MurmurHash3 x86 32-bit of the UTF-8 bytes of a string (or of raw bytes), as an unsigned integer. */
export function murmur3(input: string | Uint8Array, seed = 0): number {
  if (typeof input === 'string') {
    ensureCapacity(input.length * 3)
    return hashScratch(writeUtf8(input, 0), seed)
  }
  ensureCapacity(input.length)
  scratch.set(input)
  return hashScratch(input.length, seed)
}

/** The rollout bucket 1..100 of a subject for a flag: `murmur3(flagKey + ':' + targetingKey) % 100 + 1`. */
export function rolloutBucket(flagKey: string, targetingKey: string): number {
  ensureCapacity((flagKey.length + 1 + targetingKey.length) * 3)
  let end = writeUtf8(flagKey, 0)
  scratch[end++] = 0x3a // ':'
  end = writeUtf8(targetingKey, end)
  return (hashScratch(end, 0) % 100) + 1
}

/**
 * Whether a subject is inside a percentage rollout. `percentage >= 100` admits everyone and
 * `<= 0` no one; in between, a missing (or empty) targeting key is outside, so anonymous traffic
 * never lands in a partial rollout by accident.
 */
export function inRollout(flagKey: string, targetingKey: string | undefined, percentage: number): boolean {
  if (percentage >= 100) return true
  if (!(percentage > 0)) return false
  if (targetingKey === undefined || targetingKey === '') return false
  return rolloutBucket(flagKey, targetingKey) <= percentage
}

/** Rollout check with a precomputed `UTF-8(flagKey + ':')` prefix; same rules as `inRollout`. */
export function inRolloutPrefixed(prefix: Uint8Array, targetingKey: string | undefined, percentage: number): boolean {
  if (percentage >= 100) return true
  if (!(percentage > 0)) return false
  if (targetingKey === undefined || targetingKey === '') return false
  return (hashWithPrefix(prefix, targetingKey) % 100) + 1 <= percentage
}

// Variant keys are ordered by UTF-16 code unit, which equals Python's order for the ASCII keys the codec allows.
export { compareKeys } from '../../internal/objects.js'
import { compareKeys } from '../../internal/objects.js'

/**
 * Picks a variant: variants with weight > 0 sorted by key, `h = murmur3(flagKey + ':variant:' +
 * (targetingKey ?? ''))`, `bucket = h % totalWeight`, the first variant whose cumulative weight
 * exceeds the bucket. With weights summing to 100 this is litestar-flags' choice; other sums are
 * normalised (litestar-flags used `% 100` whatever the sum, skewing the shares). Returns undefined
 * when no variant has a positive weight.
 */
export function pickVariant<V extends Pick<FlagVariant, 'key' | 'weight'>>(
  flagKey: string,
  targetingKey: string | undefined,
  variants: readonly V[],
): V | undefined {
  const weighted = variants.filter((v) => v.weight > 0 && Number.isFinite(v.weight))
  if (weighted.length === 0) return undefined
  weighted.sort((a, b) => compareKeys(a.key, b.key))
  let total = 0
  for (const v of weighted) total += v.weight
  const h = murmur3(`${flagKey}:variant:${targetingKey ?? ''}`)
  const bucket = h % total
  let cumulative = 0
  for (const v of weighted) {
    cumulative += v.weight
    if (bucket < cumulative) return v
  }
  // Only reachable through floating-point rounding of fractional weights.
  return weighted[weighted.length - 1]
}
