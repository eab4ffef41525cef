/**
 * Bytes: UTF-8 superjson, so `Date`s survive every backend. Decoding never crashes and never
 * throws a non-Error: garbage, a wrong shape or a document that fails validation is
 * `CORRUPT_VALUE` naming the store key.
 */
import superjson from 'superjson'
import { FlagstoneError } from '../../errors.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagOverride, FlagType, Segment } from '../model.js'
import { validateEnvironment, validateEnvironmentFlag, validateOverride, validateSegment } from './documents.js'
import { describe, type ValidateOptions } from './fields.js'
import { validateFlag } from './flag.js'
import { parseSuperjson } from './superjson-read.js'
import type { ValidFlag } from './valid.js'

// ---- bytes ----

export type DocumentKind = 'flag' | 'override' | 'segment' | 'environment' | 'environmentFlag'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

function toBytes(document: unknown): Uint8Array {
  return encoder.encode(superjson.stringify(document))
}

function decode<T>(kind: DocumentKind, bytes: unknown, key: string, validate: (value: unknown) => T): T {
  try {
    if (!(bytes instanceof Uint8Array)) throw new Error(`expected bytes, got ${describe(bytes)}`)
    const parsed: unknown = parseSuperjson(decoder.decode(bytes))
    return validate(parsed)
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unreadable'
    const field = error instanceof FlagstoneError ? error.details?.field : undefined
    throw new FlagstoneError('CORRUPT_VALUE', `stored ${kind} at key "${key}" is corrupt: ${reason}`, {
      cause: error,
      details: field === undefined ? { key, kind } : { key, kind, field },
    })
  }
}

const STRIP: ValidateOptions = { unknownFields: 'strip' }

/** Validates a flag document (INVALID_ARGUMENT naming the field) and returns its bytes. */
export function encodeFlag(flag: FeatureFlag): Uint8Array {
  return toBytes(validateFlag(flag))
}

/** The bytes of a flag the codec already checked (the write path: validated once, at the boundary). */
export function encodeValidFlag(flag: ValidFlag): Uint8Array {
  return toBytes(flag)
}

/** The flag stored under `key`; CORRUPT_VALUE naming `key` when the bytes are not a valid flag. */
export function decodeFlag(bytes: Uint8Array, key: string): ValidFlag {
  return decode('flag', bytes, key, (v) => validateFlag(v, STRIP))
}

/** Validates an override (its value against `flag`'s type when given) and returns its bytes. */
export function encodeOverride(override: FlagOverride, flag?: Pick<FeatureFlag, 'type' | 'key'> | FlagType): Uint8Array {
  return toBytes(validateOverride(override, flag))
}

export function decodeOverride(bytes: Uint8Array, key: string): FlagOverride {
  return decode('override', bytes, key, (v) => validateOverride(v, undefined, STRIP))
}

export function encodeSegment(segment: Segment): Uint8Array {
  return toBytes(validateSegment(segment))
}

export function decodeSegment(bytes: Uint8Array, key: string): Segment {
  return decode('segment', bytes, key, (v) => validateSegment(v, STRIP))
}

export function encodeEnvironment(environment: Environment): Uint8Array {
  return toBytes(validateEnvironment(environment))
}

export function decodeEnvironment(bytes: Uint8Array, key: string): Environment {
  return decode('environment', bytes, key, (v) => validateEnvironment(v, STRIP))
}

export function encodeEnvironmentFlag(
  environmentFlag: EnvironmentFlag,
  flag?: Pick<FeatureFlag, 'type' | 'key'> | FlagType,
): Uint8Array {
  return toBytes(validateEnvironmentFlag(environmentFlag, flag))
}

export function decodeEnvironmentFlag(bytes: Uint8Array, key: string): EnvironmentFlag {
  return decode('environmentFlag', bytes, key, (v) => validateEnvironmentFlag(v, undefined, STRIP))
}

interface DocumentTypes {
  flag: FeatureFlag
  override: FlagOverride
  segment: Segment
  environment: Environment
  environmentFlag: EnvironmentFlag
}

const VALIDATORS: { [K in DocumentKind]: (value: unknown, options: ValidateOptions) => DocumentTypes[K] } = {
  flag: (v, o) => validateFlag(v, o),
  override: (v, o) => validateOverride(v, undefined, o),
  segment: (v, o) => validateSegment(v, o),
  environment: (v, o) => validateEnvironment(v, o),
  environmentFlag: (v, o) => validateEnvironmentFlag(v, undefined, o),
}

/** Any kind by name: for code that handles documents generically (export / import, migrations). */
export function encodeDocument<K extends DocumentKind>(kind: K, document: DocumentTypes[K]): Uint8Array {
  return toBytes(VALIDATORS[kind](document, {}))
}

export function decodeDocument<K extends DocumentKind>(kind: K, bytes: Uint8Array, key: string): DocumentTypes[K] {
  return decode(kind, bytes, key, (v) => VALIDATORS[kind](v, STRIP))
}
