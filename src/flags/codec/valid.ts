/**
 * The one validation boundary, as a type and as a fact: `ValidFlag` / `ValidFlagInput` are what
 * the codec's flag validators return, and the codec remembers the objects it made, so an entry
 * point that takes `unknown` (a repository's `updateFlag`, `compileSnapshot`) can tell a checked
 * document from a caller's and not check it twice. Identity is the mark: a copy is not in the set
 * and is checked again (the safe side); a checked document is not mutated (nothing in flagstone does).
 */
import type { FeatureFlag, FlagInput } from '../model.js'

declare const VALID: unique symbol
/** A flag the codec has checked (`validateFlag`, `completeFlag`, `decodeFlag`): encode and compile take it as it is. */
export type ValidFlag = FeatureFlag & { readonly [VALID]: 'flag' }
/** Flag fields `validateFlagInput` has checked. */
export type ValidFlagInput = FlagInput & { readonly [VALID]: 'input' }

const checkedFlags = new WeakSet<object>()
const checkedInputs = new WeakSet<object>()

/** Records that the codec made `flag` (only the codec's validators call this). */
export function markFlag(flag: FeatureFlag): ValidFlag {
  checkedFlags.add(flag)
  return flag as ValidFlag
}

/** Records that `validateFlagInput` made `fields`. */
export function markInput(fields: FlagInput): ValidFlagInput {
  checkedInputs.add(fields)
  return fields as ValidFlagInput
}

/** Whether `value` is a flag the codec made (so checking it again is waste). */
export function isValidFlag(value: unknown): value is ValidFlag {
  return typeof value === 'object' && value !== null && checkedFlags.has(value)
}

/** Whether `value` is flag fields `validateFlagInput` made. */
export function isValidFlagInput(value: unknown): value is ValidFlagInput {
  return typeof value === 'object' && value !== null && checkedInputs.has(value)
}
