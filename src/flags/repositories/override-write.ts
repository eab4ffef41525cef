/** The document an override write stores (split out of store-repository.ts to keep it short). */
import { FlagstoneError } from '../../errors.js'
import { encodeOverride, validateOverride } from '../codec/index.js'
import type { FeatureFlag, FlagOverride } from '../model.js'
import { overrideKey } from './store-layout.js'

/** The validated override, its key, bytes and time to live (INVALID_ARGUMENT when already expired). */
export function overrideDocument(
  input: FlagOverride,
  flagOf: (override: FlagOverride) => Promise<FeatureFlag | null>,
  now: number,
  notFound: (key: string) => Error,
): Promise<{ override: FlagOverride; key: string; bytes: Uint8Array; expiresIn: number | undefined }> {
  const override = validateOverride(input)
  return flagOf(override).then((flag) => {
    if (flag === null) throw notFound(override.flagKey)
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
