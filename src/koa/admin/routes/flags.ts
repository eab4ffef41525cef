/** Admin API: the flag collection and flag documents (`/flags`, `/flags/:key`, archive, restore). */
import type { Router } from '@koa/router'
import { FlagstoneError } from '../../../errors.js'
import { FLAG_INPUT_FIELDS, validateFlagInput, type FeatureFlag, type FlagStatus } from '../../../flags/index.js'
import { requireIfMatch } from '../preconditions.js'
import { HttpProblem, ifMatchOf, pageOf, paginate, preconditionOf, queryString } from '../http.js'
import {
  type AdminKit,
  type Ctx,
  editFlag,
  flagKeyParam,
  isObject,
  locationOf,
  onlyFields,
  requireFlag,
  sendWithEtag,
  toInput,
  withPathField,
} from '../kit.js'

const STATUSES: readonly FlagStatus[] = ['active', 'inactive', 'archived']
/**
 * Fields of a flag document the repository owns: accepted in PUT / PATCH bodies (so a GET can be
 * sent back) and ignored, `version` excepted.
 */
const OWNED = ['version', 'createdAt', 'updatedAt']
/** What a PATCH may name: a typo must not pass as "remove a field that does not exist" (`{ "rolloutPercentag": null }`). */
const PATCHABLE = [...FLAG_INPUT_FIELDS, ...OWNED]

/**
 * RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else (arrays
 * included) replaces. Keys were screened for prototype pollution when the body was read.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch
  const out: Record<string, unknown> = isObject(target) && !(target instanceof Date) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else out[key] = mergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value)
  }
  return out
}

export function flagRoutes(router: Router, kit: AdminKit): void {
  const { repository } = kit
  const target = (key: string) => `flag:${key}`

  router.get('/flags', async (ctx: Ctx) => {
    const page = pageOf(ctx)
    const status = queryString(ctx, 'status', 16)
    if (status !== undefined && !(STATUSES as readonly string[]).includes(status)) {
      throw new FlagstoneError('INVALID_ARGUMENT', `status: must be one of ${STATUSES.join(', ')}`, {
        details: { field: 'status' },
      })
    }
    const tag = queryString(ctx, 'tag', 128)
    const search = queryString(ctx, 'search', 256)
    const flags = await repository.listFlags({
      ...(status === undefined ? {} : { status: status as FlagStatus }),
      ...(tag === undefined ? {} : { tag }),
      ...(search === undefined ? {} : { search }),
    })
    ctx.body = paginate(flags, page)
  })

  router.post('/flags', async (ctx: Ctx) => {
    const input = validateFlagInput(await kit.body(ctx))
    // Checked here as well as by the repository: StoreFlagRepository.createFlag clears the key's
    // overrides and environment settings before it finds out that the key is taken.
    if ((await repository.getFlag(input.key)) !== null) {
      throw new FlagstoneError('CONFLICT', `flag "${input.key}" already exists`, { details: { key: input.key } })
    }
    const flag = await repository.createFlag(input)
    await kit.audit(ctx, { action: 'flag.create', target: target(flag.key), flagKey: flag.key, before: null, after: flag })
    ctx.set('Location', locationOf(kit, 'flags', flag.key))
    sendWithEtag(ctx, 201, flag, flag.version)
  })

  router.get('/flags/:key', async (ctx: Ctx) => {
    const flag = await requireFlag(kit, flagKeyParam(ctx))
    sendWithEtag(ctx, 200, flag, flag.version)
    if (ctx.fresh) ctx.status = 304
  })

  router.put('/flags/:key', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx)
    const body = await kit.body(ctx)
    const precondition = preconditionOf(ctx, body)
    if (precondition.source === 'none') {
      throw new HttpProblem(
        428,
        'PRECONDITION_REQUIRED',
        'PUT replaces the whole flag: send If-Match: "<version>" (or * to replace whatever is there), or the version you read in the body',
        { field: 'If-Match' },
      )
    }
    const input = validateFlagInput(withPathField(body, 'key', key))
    const { before, after } = await editFlag(kit, key, precondition, (current) =>
      repository.updateFlag(key, input, current.version),
    )
    await kit.audit(ctx, { action: 'flag.update', target: target(key), flagKey: key, before, after })
    sendWithEtag(ctx, 200, after, after.version)
  })

  router.patch('/flags/:key', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx)
    const body = await kit.body(ctx)
    if (!isObject(body)) {
      throw new FlagstoneError('INVALID_ARGUMENT', '(body): must be a JSON merge patch object of flag fields', {
        details: { field: '(body)' },
      })
    }
    onlyFields(body, PATCHABLE)
    const precondition = preconditionOf(ctx, body)
    const patch = Object.fromEntries(Object.entries(body).filter(([field]) => !OWNED.includes(field)))
    const { before, after } = await editFlag(kit, key, precondition, (current) =>
      repository.updateFlag(key, validateFlagInput(mergePatch(toInput(current), patch)), current.version),
    )
    await kit.audit(ctx, {
      action: 'flag.patch',
      target: target(key),
      flagKey: key,
      before,
      after,
      details: { fields: Object.keys(patch) },
    })
    sendWithEtag(ctx, 200, after, after.version)
  })

  router.delete('/flags/:key', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx)
    const { before } = await editFlag(kit, key, requireIfMatch(ctx, `flag "${key}"`), async (current) => {
      await repository.deleteFlag(key, current.version)
      return null
    })
    await kit.audit(ctx, { action: 'flag.delete', target: target(key), flagKey: key, before, after: null })
    ctx.status = 204
  })

  const setStatus =
    (action: 'archive' | 'restore', write: (key: string, version: number) => Promise<FeatureFlag>) => async (ctx: Ctx) => {
      const key = flagKeyParam(ctx)
      const { before, after } = await editFlag(kit, key, ifMatchOf(ctx), (current) => write(key, current.version))
      await kit.audit(ctx, { action: `flag.${action}`, target: target(key), flagKey: key, before, after })
      sendWithEtag(ctx, 200, after, after.version)
    }
  router.post(
    '/flags/:key/archive',
    setStatus('archive', (key, version) => repository.archiveFlag(key, version)),
  )
  router.post(
    '/flags/:key/restore',
    setStatus('restore', (key, version) => repository.restoreFlag(key, version)),
  )
}
