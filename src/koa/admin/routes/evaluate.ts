/**
 * `POST /evaluate`: "why does this user see that?" Parses the request, evaluates the flag exactly as
 * the client does (same compiled snapshot, same evaluator) and serialises the result with the
 * explanation `flags/evaluation/explain.ts` builds from the evaluator's own ordering.
 */
import type { Router } from '@koa/router'
import { FlagstoneError } from '../../../errors.js'
import {
  CONTEXT_FIELDS,
  CONTEXT_STRING_FIELDS,
  compileSnapshot,
  type CompiledSnapshot,
  evaluate,
  explain,
  FLAG_KEY_PATTERN,
  FLAG_TYPES,
  type EvaluationContext,
  type FlagRepository,
  type FlagType,
  type FlagValue,
  type JsonObject,
  parseIsoDate,
  type SnapshotData,
  validateFlagValue,
  validateJson,
} from '../../../flags/index.js'
import { type AdminKit, type Ctx, onlyFields, requireObject } from '../kit.js'

function invalid(field: string, problem: string): FlagstoneError {
  return new FlagstoneError('INVALID_ARGUMENT', `${field}: ${problem}`, { details: { field } })
}

/** An instant from an ISO-8601 string or epoch milliseconds. */
export function parseInstant(value: unknown, field: string): number {
  const t = typeof value === 'number' ? value : typeof value === 'string' ? parseIsoDate(value) : undefined
  if (t === undefined || !Number.isFinite(t) || Math.abs(t) > 8.64e15)
    throw invalid(field, 'must be an ISO-8601 date-time or epoch milliseconds')
  return t
}

/** An evaluation context from JSON: known fields only, strings bounded, `attributes` a bounded JSON object. */
export function parseContext(value: unknown): EvaluationContext {
  if (value === undefined) return {}
  const o = requireObject(value, 'an evaluation context')
  const out: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(o)) {
    const path = `context.${key}`
    if ((CONTEXT_STRING_FIELDS as readonly string[]).includes(key)) {
      if (typeof field !== 'string' || field.length > 1024) throw invalid(path, 'must be a string of at most 1024 characters')
      out[key] = field
    } else if (key === 'now') {
      out.now = new Date(parseInstant(field, path))
    } else if (key === 'attributes') {
      if (field === null || typeof field !== 'object' || Array.isArray(field)) throw invalid(path, 'must be an object')
      out.attributes = validateJson(field, path) as JsonObject
    } else {
      throw invalid(path, `unknown field (expected one of ${CONTEXT_FIELDS.join(', ')})`)
    }
  }
  return out as EvaluationContext
}

const DEFAULTS: Readonly<Record<FlagType, FlagValue>> = { boolean: false, string: '', number: 0, json: null }

export function evaluateRoutes(router: Router, kit: AdminKit): void {
  const repository: FlagRepository = kit.repository
  // One compiled snapshot, reloaded when the repository's revision moves on.
  let cached: { revision: number; data: SnapshotData; compiled: CompiledSnapshot } | undefined
  const snapshot = async () => {
    const revision = await repository.revision()
    if (cached === undefined || cached.revision !== revision) {
      const data = await repository.loadSnapshot()
      cached = { revision: data.revision, data, compiled: compileSnapshot(data) }
    }
    return cached
  }

  router.post('/evaluate', async (ctx: Ctx) => {
    const body = requireObject(await kit.body(ctx), 'an evaluation request')
    onlyFields(body, ['flagKey', 'context', 'type', 'defaultValue'])
    const { flagKey, type } = body
    if (typeof flagKey !== 'string' || !FLAG_KEY_PATTERN.test(flagKey))
      throw invalid('flagKey', `must be a flag key matching ${FLAG_KEY_PATTERN.source}`)
    if (type !== undefined && !(FLAG_TYPES as readonly unknown[]).includes(type))
      throw invalid('type', `must be one of ${FLAG_TYPES.join(', ')}`)
    const flagType = type as FlagType | undefined
    const defaultValue =
      body.defaultValue === undefined
        ? DEFAULTS[flagType ?? 'json']
        : validateFlagValue(body.defaultValue, flagType, 'defaultValue')
    const context = parseContext(body.context)
    const now = context.now === undefined ? Date.now() : new Date(context.now).getTime()
    const { data, compiled } = await snapshot()
    const result = evaluate(compiled, flagKey, flagType, defaultValue, context, now)
    const flag = compiled.flags.get(flagKey)
    ctx.body = {
      ...result,
      revision: data.revision,
      explanation: flag === undefined ? null : explain(compiled, data.overrides, flag, context, now, result),
    }
  })
}
