/**
 * Byte encoding — the only place that turns values into bytes and compares them. Every backend
 * stores raw bytes (Redis strings, SQLite BLOB, Postgres bytea, Buffers in memory), so there is no
 * serializer in the way (keyv's JSON serializer turns a Uint8Array into `{ '0': 9, … }`).
 */
import { FlagstoneError } from '../errors.js'

export const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024

/**
 * The value as a Buffer the store may keep: strings become UTF-8, byte arrays are copied so the
 * caller mutating its array later cannot change what was stored — unless `copy` is false (for a
 * driver that copies synchronously itself, `Driver.copiesValues`), when they are only viewed.
 */
export function toBytes(value: unknown, maxBytes: number, what = 'value', copy = true): Buffer {
  let bytes: Buffer
  if (typeof value === 'string') {
    bytes = Buffer.from(value, 'utf8')
  } else if (value instanceof Uint8Array) {
    if (copy) {
      bytes = Buffer.allocUnsafe(value.byteLength)
      bytes.set(value)
    } else {
      bytes = asBuffer(value)
    }
  } else {
    throw new FlagstoneError(
      'INVALID_ARGUMENT',
      `${what} must be a Uint8Array or a string, got ${value === null ? 'null' : typeof value}`,
      { details: { field: what } },
    )
  }
  if (bytes.byteLength > maxBytes) {
    throw new FlagstoneError('VALUE_TOO_LARGE', `${what} has ${bytes.byteLength} bytes, the limit is ${maxBytes}`, {
      details: { field: what, size: bytes.byteLength, limit: maxBytes },
    })
  }
  return bytes
}

/** Byte-for-byte equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

/** A fresh Buffer with the same bytes (what the memory store hands out, so callers cannot mutate it). */
export function copyBytes(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafe(bytes.byteLength)
  copy.set(bytes)
  return copy
}

/** A Buffer view of bytes a driver returned, without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

// The canonical decimal form only (no "007", "-0", "+1" or spaces): the one every backend's
// atomic increment can check, so a value increments on all of them or on none.
const INTEGER = /^(0|-?[1-9][0-9]*)$/

/** Validates an `increment` step: a safe integer. */
export function checkStep(by: unknown): number {
  if (typeof by !== 'number' || !Number.isSafeInteger(by)) {
    throw new FlagstoneError('INVALID_ARGUMENT', `increment step must be a safe integer, got ${String(by)}`, {
      details: { field: 'by' },
    })
  }
  return by
}

/** The error for an increment whose stored value is not a decimal integer or whose result would not be a safe integer. */
export function counterError(key: string): FlagstoneError {
  return new FlagstoneError(
    'INVALID_ARGUMENT',
    `cannot increment key ${JSON.stringify(key)}: its value is not a decimal integer, or the result would leave the safe integer range`,
    { details: { field: 'key', key } },
  )
}

/** Parses a stored counter; throws `counterError` when it is not a decimal safe integer. */
export function parseCounter(bytes: Uint8Array, key: string): number {
  return parseCounterText(asBuffer(bytes).toString('utf8'), key)
}

/** `parseCounter` of text already decoded (a canonical counter is ASCII: its latin1 and UTF-8 text agree). */
export function parseCounterText(text: string, key: string): number {
  const n = Number(text)
  if (!INTEGER.test(text) || !Number.isSafeInteger(n)) throw counterError(key)
  return n
}

/** The bytes a counter is stored as. */
export function counterBytes(n: number): Buffer {
  return Buffer.from(String(n), 'utf8')
}

/** Throws `counterError` if an increment would leave the safe-integer range. */
export function checkCounterResult(n: number, key: string): number {
  if (!Number.isSafeInteger(n)) throw counterError(key)
  return n
}

/**
 * The value an increment stores: `current` (a live value, or `null` for missing) plus `by`. Throws
 * `INVALID_ARGUMENT` naming `key` when `current` is not a canonical decimal safe integer or the sum
 * leaves the safe range — what every driver's `increment` must check, so a custom driver calls this.
 */
export function nextCounter(current: Uint8Array | null, by: number, key: string): number {
  return checkCounterResult((current === null ? 0 : parseCounter(current, key)) + by, key)
}
