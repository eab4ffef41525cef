/**
 * Writes of the documents a flag owns outside its version: overrides and per-environment flag
 * settings (split out of store-repository.ts to keep it short). Each is one `commitChange`, and a
 * caller's `WriteCondition` (the admin API's `If-Match`) is run in its plan on the document the
 * write found, so the check and the write are one atomic step.
 */
import { FlagstoneError } from '../../errors.js'
import { decodeEnvironmentFlag, decodeOverride, encodeEnvironmentFlag, encodeOverride, validateOverride } from '../codec/index.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagOverride } from '../model.js'
import type { DocumentChange, WritePlan } from './change-log.js'
import type { WriteCondition } from './repository.js'
import { segmentGuard } from './segment-references.js'
import { ENVIRONMENT, FLAG, environmentFlagKey, notFound, overrideKey, SEGMENT } from './store-layout.js'

/** `commitChange` bound to the repository's store and log. */
export type Commit = (
  keys: readonly string[],
  plan: (values: Array<Uint8Array | null>) => WritePlan | null,
) => Promise<number | null>

const put = (key: string): DocumentChange => ({ key, op: 'put' })

/** The validated override, its key, bytes and time to live (INVALID_ARGUMENT when already expired). */
export function overrideDocument(
  input: FlagOverride,
  flagOf: (override: FlagOverride) => Promise<FeatureFlag | null>,
  now: number,
): Promise<{ override: FlagOverride; key: string; bytes: Uint8Array; expiresIn: number | undefined }> {
  const override = validateOverride(input)
  return flagOf(override).then((flag) => {
    if (flag === null) throw notFound('flag', override.flagKey)
    const expiresIn = override.expiresAt === undefined ? undefined : override.expiresAt.getTime() - now
    if (expiresIn !== undefined && expiresIn <= 0) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'expiresAt: the override would already be expired', {
        details: { field: 'expiresAt' },
      })
    }
    const key = overrideKey(override.flagKey, override.entityType, override.entityId)
    return { override, key, bytes: encodeOverride(override, flag), expiresIn }
  })
}

/** Creates or replaces an override; checked against the flag read, so none lands for a flag deleted meanwhile. */
export async function writeOverride(
  commit: Commit,
  input: FlagOverride,
  flagOf: (override: FlagOverride) => Promise<FeatureFlag | null>,
  now: number,
  condition?: WriteCondition<FlagOverride>,
): Promise<FlagOverride> {
  const { override, key, bytes, expiresIn } = await overrideDocument(input, flagOf, now)
  const flagKey = FLAG + override.flagKey
  await commit([flagKey, key], ([flagBytes, current]) => {
    condition?.(current == null ? null : decodeOverride(current, key))
    if (flagBytes == null) throw notFound('flag', override.flagKey)
    return {
      writes: [{ op: 'set', key, value: bytes, expiresIn }],
      // The override's own key too: it can expire without a write (and without a revision bump).
      checks: [
        { key: flagKey, expected: flagBytes },
        { key, expected: current ?? null },
      ],
      changes: [put(key)],
    }
  })
  return override
}

/** Creates or replaces a flag's settings in an environment; both must exist, and every segment its rules name. */
export async function writeEnvironmentFlag(
  commit: Commit,
  settings: EnvironmentFlag,
  flag: FeatureFlag | null,
  environment: Environment | null,
  condition?: WriteCondition<EnvironmentFlag>,
): Promise<EnvironmentFlag> {
  if (flag === null) throw notFound('flag', settings.flagKey)
  if (environment === null) throw notFound('environment', settings.environment)
  const segments = segmentGuard(settings.rules, SEGMENT)
  const key = environmentFlagKey(settings.flagKey, settings.environment)
  const bytes = encodeEnvironmentFlag(settings, flag)
  const flagKey = FLAG + settings.flagKey
  const envKey = ENVIRONMENT + settings.environment
  await commit([flagKey, envKey, key, ...segments.keys], ([flagBytes, envBytes, current, ...found]) => {
    condition?.(current == null ? null : decodeEnvironmentFlag(current, key))
    if (flagBytes == null) throw notFound('flag', settings.flagKey)
    if (envBytes == null) throw notFound('environment', settings.environment)
    return {
      writes: [{ op: 'set', key, value: bytes }],
      checks: [
        { key: flagKey, expected: flagBytes },
        { key: envKey, expected: envBytes },
        { key, expected: current ?? null },
        ...segments.check(found),
      ],
      changes: [put(key)],
    }
  })
  return settings
}

/** Deletes one document (with its change record), `condition` checked on what is there; whether it existed. */
export async function deleteDocument<T>(
  commit: Commit,
  key: string,
  decode: (bytes: Uint8Array, key: string) => T,
  condition?: WriteCondition<T>,
): Promise<boolean> {
  const written = await commit([key], ([bytes]) => {
    condition?.(bytes == null ? null : decode(bytes, key))
    if (bytes == null) return null
    return { writes: [{ op: 'delete', key }], checks: [{ key, expected: bytes }], changes: [{ key, op: 'delete' }] }
  })
  return written !== null
}
