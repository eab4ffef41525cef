/**
 * OpenFeature's evaluation context is flat: `targetingKey` plus any custom fields at the top level.
 * flagstone's has named fields and `attributes` for the rest. The mapping:
 * - `targetingKey` and flagstone's standard fields (`userId`, `organizationId`, `tenantId`,
 *   `environment`, `appVersion`, `ipAddress`, `userAgent`, `country`, `now`) keep their names;
 * - every other top-level field becomes `attributes[field]`;
 * - an object under `attributes` (a flagstone-shaped context passed through OpenFeature) is merged
 *   into `attributes` first, so a top-level field of the same name wins.
 * Values are not converted: a standard id field that is not a string evaluates to `INVALID_CONTEXT`.
 */
import { CONTEXT_STRING_FIELDS, type EvaluationContext } from './model.js'

/** The named fields (the model's one list) and `now`; `attributes` is handled on its own below. */
const STANDARD: ReadonlySet<string> = new Set([...CONTEXT_STRING_FIELDS, 'now'])

/** A flat (OpenFeature / OFREP) context as flagstone's `EvaluationContext`. Never throws. */
export function fromOpenFeatureContext(context: Readonly<Record<string, unknown>> | undefined): EvaluationContext {
  if (context === undefined || context === null || typeof context !== 'object') return {}
  const out: Record<string, unknown> = {}
  let attributes: Record<string, unknown> | undefined
  for (const field of Object.keys(context)) {
    const value = context[field]
    if (value === undefined) continue
    if (STANDARD.has(field)) {
      out[field] = value
    } else if (field === 'attributes' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      attributes = { ...(value as Record<string, unknown>), ...attributes }
    } else {
      ;(attributes ??= {})[field] = value
    }
  }
  if (attributes !== undefined) out.attributes = attributes
  return out as EvaluationContext
}
