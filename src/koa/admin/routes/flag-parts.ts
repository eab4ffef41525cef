/**
 * Admin API: the parts of a flag document — rules, variants, scheduled changes, rollout phases,
 * time schedules — and the flag's overrides.
 *
 * Every part edit is a flag update through `editFlag`: `If-Match: "<version>"` pins the flag version
 * (412 when stale); without it the edit is re-applied to the latest version if another writer got
 * there first. Answers carry the flag's new `ETag`.
 */
import type { Router } from '@koa/router'
import { FlagstoneError } from '../../../errors.js'
import {
  validateOverride,
  type FeatureFlag,
  type FlagInput,
  type FlagOverride,
  type FlagRule,
  type FlagVariant,
} from '../../../flags/index.js'
import { ifMatchOf, pageOf, paginate } from '../http.js'
import { documentCondition, requireIfMatch, sendDocument } from '../preconditions.js'
import {
  type AdminKit,
  type Ctx,
  editFlag,
  entityParams,
  flagKeyParam,
  idParam,
  locationOf,
  newId,
  onlyFields,
  type PartField,
  requireFlag,
  requireObject,
  sendWithEtag,
  subjectNotFound,
  toInput,
  validatePart,
  withPathField,
} from '../kit.js'

const byPriority = (rules: readonly FlagRule[]) =>
  rules
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.priority - b.r.priority || a.i - b.i)
    .map(({ r }) => r)

export function flagPartRoutes(router: Router, kit: AdminKit): void {
  const { repository } = kit

  /** One flag edit: `change` gets a copy of the flag's fields to modify and returns what to answer. */
  async function edit<R>(
    ctx: Ctx,
    action: string,
    change: (input: FlagInput, current: FeatureFlag) => R,
    details?: (result: R) => Record<string, unknown>,
  ): Promise<{ flag: FeatureFlag; result: R }> {
    const key = flagKeyParam(ctx)
    let result!: R
    // A DELETE (of a rule, variant or scheduled change) must name the version it removes from.
    const precondition = ctx.method === 'DELETE' ? requireIfMatch(ctx, `flag "${key}"`) : ifMatchOf(ctx)
    const { before, after } = await editFlag(kit, key, precondition, (current) => {
      const input = toInput(current)
      result = change(input, current)
      return repository.updateFlag(key, input, current.version)
    })
    await kit.audit(ctx, {
      action,
      target: `flag:${key}`,
      flagKey: key,
      before,
      after,
      ...(details === undefined ? {} : { details: details(result) }),
    })
    return { flag: after, result }
  }

  const list = (field: PartField, sort?: (flag: FeatureFlag) => readonly unknown[]) => async (ctx: Ctx) => {
    const page = pageOf(ctx)
    const flag = await requireFlag(kit, flagKeyParam(ctx))
    sendWithEtag(ctx, 200, paginate(sort === undefined ? flag[field] : sort(flag), page), flag.version)
  }

  // ---- rules ----

  router.get(
    '/flags/:key/rules',
    list('rules', (flag) => byPriority(flag.rules)),
  )

  router.get('/flags/:key/rules/:id', async (ctx: Ctx) => {
    const flag = await requireFlag(kit, flagKeyParam(ctx))
    const id = idParam(ctx, 'id', 'rule')
    const rule = flag.rules.find((r) => r.id === id)
    if (rule === undefined) throw subjectNotFound('rule', id)
    sendWithEtag(ctx, 200, rule, flag.version)
  })

  router.post('/flags/:key/rules', async (ctx: Ctx) => {
    const body = requireObject(await kit.body(ctx), 'a rule')
    const { flag, result } = await edit(
      ctx,
      'rule.create',
      (input, current) => {
        const draft: Record<string, unknown> = { ...body, id: body.id === undefined ? newId('rule') : body.id }
        // Appended after the last rule unless the body says where.
        if (draft.priority === undefined) draft.priority = current.rules.reduce((max, r) => Math.max(max, r.priority + 1), 0)
        const [rule] = validatePart(current, 'rules', [draft], 'rules[0]') as [FlagRule]
        if (current.rules.some((r) => r.id === rule.id)) {
          throw new FlagstoneError('CONFLICT', `rule "${rule.id}" already exists in flag "${current.key}"`, {
            details: { field: 'id' },
          })
        }
        input.rules.push(rule)
        return rule
      },
      (rule) => ({ ruleId: rule.id }),
    )
    ctx.set('Location', locationOf(kit, 'flags', flag.key, 'rules', result.id))
    sendWithEtag(ctx, 201, result, flag.version)
  })

  router.put('/flags/:key/rules/:id', async (ctx: Ctx) => {
    const id = idParam(ctx, 'id', 'rule')
    const body = requireObject(withPathField(await kit.body(ctx), 'id', id), 'a rule')
    const { flag, result } = await edit(
      ctx,
      'rule.update',
      (input) => {
        const index = input.rules.findIndex((r) => r.id === id)
        if (index === -1) throw subjectNotFound('rule', id)
        // A replaced rule keeps its place unless the body gives a priority.
        const draft = { ...body, priority: body.priority === undefined ? input.rules[index]!.priority : body.priority }
        const [rule] = validatePart(input, 'rules', [draft], 'rules[0]') as [FlagRule]
        input.rules[index] = rule
        return rule
      },
      () => ({ ruleId: id }),
    )
    sendWithEtag(ctx, 200, result, flag.version)
  })

  router.delete('/flags/:key/rules/:id', async (ctx: Ctx) => {
    const id = idParam(ctx, 'id', 'rule')
    const { flag } = await edit(
      ctx,
      'rule.delete',
      (input) => {
        const index = input.rules.findIndex((r) => r.id === id)
        if (index === -1) throw subjectNotFound('rule', id)
        input.rules.splice(index, 1)
      },
      () => ({ ruleId: id }),
    )
    sendWithEtag(ctx, 204, null, flag.version)
  })

  router.post('/flags/:key/rules/reorder', async (ctx: Ctx) => {
    const body = requireObject(await kit.body(ctx), 'a { "ids": [...] }')
    onlyFields(body, ['ids'])
    const ids = body.ids
    if (!Array.isArray(ids) || !ids.every((id): id is string => typeof id === 'string')) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'ids: must be an array of rule ids, first served first', {
        details: { field: 'ids' },
      })
    }
    const { flag } = await edit(
      ctx,
      'rules.reorder',
      (input) => {
        const have = new Set(input.rules.map((r) => r.id))
        const named = new Set(ids)
        if (named.size !== ids.length || ids.length !== have.size || !ids.every((id) => have.has(id))) {
          throw new FlagstoneError(
            'INVALID_ARGUMENT',
            `ids: must name every rule of the flag exactly once (${[...have].join(', ')})`,
            {
              details: { field: 'ids' },
            },
          )
        }
        const byId = new Map(input.rules.map((r) => [r.id, r]))
        input.rules = ids.map((id, priority) => ({ ...byId.get(id)!, priority }))
      },
      () => ({ ids }),
    )
    sendWithEtag(ctx, 200, { items: flag.rules }, flag.version)
  })

  // ---- variants ----

  router.get('/flags/:key/variants', list('variants'))

  router.put('/flags/:key/variants', async (ctx: Ctx) => {
    const body = await kit.body(ctx)
    const { flag } = await edit(ctx, 'variants.replace', (input, current) => {
      input.variants = validatePart(current, 'variants', body, 'variants')
    })
    sendWithEtag(ctx, 200, { items: flag.variants }, flag.version)
  })

  const upsertVariant = (create: boolean) => async (ctx: Ctx) => {
    const raw = await kit.body(ctx)
    const body = requireObject(create ? raw : withPathField(raw, 'key', idParam(ctx, 'variantKey', 'variant')), 'a variant')
    let created = false
    const { flag, result } = await edit(
      ctx,
      create ? 'variant.create' : 'variant.update',
      (input, current) => {
        const [variant] = validatePart(current, 'variants', [body], 'variants[0]') as [FlagVariant]
        const index = input.variants.findIndex((v) => v.key === variant.key)
        if (index !== -1 && create) {
          throw new FlagstoneError('CONFLICT', `variant "${variant.key}" already exists in flag "${current.key}"`, {
            details: { field: 'key' },
          })
        }
        created = index === -1
        if (created) input.variants.push(variant)
        else input.variants[index] = variant
        return variant
      },
      (variant) => ({ variantKey: variant.key }),
    )
    if (created) ctx.set('Location', locationOf(kit, 'flags', flag.key, 'variants', result.key))
    sendWithEtag(ctx, created ? 201 : 200, result, flag.version)
  }
  router.post('/flags/:key/variants', upsertVariant(true))
  router.put('/flags/:key/variants/:variantKey', upsertVariant(false))

  router.delete('/flags/:key/variants/:variantKey', async (ctx: Ctx) => {
    const variantKey = idParam(ctx, 'variantKey', 'variant')
    const { flag } = await edit(
      ctx,
      'variant.delete',
      (input) => {
        const index = input.variants.findIndex((v) => v.key === variantKey)
        if (index === -1) throw subjectNotFound('variant', variantKey)
        input.variants.splice(index, 1)
      },
      () => ({ variantKey }),
    )
    sendWithEtag(ctx, 204, null, flag.version)
  })

  // ---- scheduled changes, rollout phases, time schedules ----

  router.get(
    '/flags/:key/schedule',
    list('scheduledChanges', (flag) => [...flag.scheduledChanges].sort((a, b) => a.at.getTime() - b.at.getTime())),
  )

  router.post('/flags/:key/schedule', async (ctx: Ctx) => {
    const body = requireObject(await kit.body(ctx), 'a scheduled change')
    const actor = kit.principal(ctx).actor
    const { flag, result } = await edit(
      ctx,
      'schedule.create',
      (input, current) => {
        const draft = {
          ...body,
          id: body.id === undefined ? newId('change') : body.id,
          createdBy: body.createdBy === undefined ? actor : body.createdBy,
        }
        const [change] = validatePart(current, 'scheduledChanges', [draft], 'scheduledChanges[0]')
        if (change === undefined) throw new Error('unreachable: one scheduled change validated')
        if (current.scheduledChanges.some((c) => c.id === change.id)) {
          throw new FlagstoneError('CONFLICT', `scheduled change "${change.id}" already exists in flag "${current.key}"`, {
            details: { field: 'id' },
          })
        }
        input.scheduledChanges.push(change)
        return change
      },
      (change) => ({ changeId: change.id }),
    )
    ctx.set('Location', locationOf(kit, 'flags', flag.key, 'schedule', result.id))
    sendWithEtag(ctx, 201, result, flag.version)
  })

  router.delete('/flags/:key/schedule/:id', async (ctx: Ctx) => {
    const id = idParam(ctx, 'id', 'scheduled change')
    const { flag } = await edit(
      ctx,
      'schedule.delete',
      (input) => {
        const index = input.scheduledChanges.findIndex((c) => c.id === id)
        if (index === -1) throw subjectNotFound('scheduled change', id)
        input.scheduledChanges.splice(index, 1)
      },
      () => ({ changeId: id }),
    )
    sendWithEtag(ctx, 204, null, flag.version)
  })

  const replaceAll = (field: 'rolloutPhases' | 'timeSchedules', action: string) => async (ctx: Ctx) => {
    const body = await kit.body(ctx)
    const { flag } = await edit(ctx, action, (input, current) => {
      ;(input as Record<typeof field, unknown>)[field] = validatePart(current, field, body, field)
    })
    sendWithEtag(ctx, 200, { items: flag[field] }, flag.version)
  }
  router.get(
    '/flags/:key/rollout-phases',
    list('rolloutPhases', (flag) => [...flag.rolloutPhases].sort((a, b) => a.at.getTime() - b.at.getTime())),
  )
  router.put('/flags/:key/rollout-phases', replaceAll('rolloutPhases', 'rolloutPhases.replace'))
  router.get('/flags/:key/time-schedules', list('timeSchedules'))
  router.put('/flags/:key/time-schedules', replaceAll('timeSchedules', 'timeSchedules.replace'))

  // ---- overrides (their own documents, outside the flag's version) ----

  router.get('/flags/:key/overrides', async (ctx: Ctx) => {
    const page = pageOf(ctx)
    const key = flagKeyParam(ctx)
    await requireFlag(kit, key)
    ctx.body = paginate(await repository.listOverrides(key), page)
  })

  const overrideTarget = (key: string, type: string, id: string) => `override:${key}/${type}/${id}`

  router.get('/flags/:key/overrides/:entityType/:entityId', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx)
    const { entityType, entityId } = entityParams(ctx)
    await requireFlag(kit, key)
    const override = await repository.getOverride(key, entityType, entityId)
    if (override === null) throw subjectNotFound('override', `${entityType}/${entityId}`)
    sendDocument(ctx, 200, override)
  })

  router.put('/flags/:key/overrides/:entityType/:entityId', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx)
    const { entityType, entityId } = entityParams(ctx)
    let draft = await kit.body(ctx)
    draft = withPathField(draft, 'flagKey', key)
    draft = withPathField(draft, 'entityType', entityType)
    draft = withPathField(draft, 'entityId', entityId)
    const flag = await requireFlag(kit, key)
    const override = validateOverride(draft, flag)
    const check = documentCondition<FlagOverride>(ctx, `override ${entityType}/${entityId}`, false)
    const after = await repository.setOverride(override, check.condition)
    const before = check.before()
    await kit.audit(ctx, {
      action: 'override.set',
      target: overrideTarget(key, entityType, entityId),
      flagKey: key,
      before,
      after,
    })
    if (before === null) ctx.set('Location', locationOf(kit, 'flags', key, 'overrides', entityType, entityId))
    sendDocument(ctx, before === null ? 201 : 200, after)
  })

  router.delete('/flags/:key/overrides/:entityType/:entityId', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx)
    const { entityType, entityId } = entityParams(ctx)
    const check = documentCondition<FlagOverride>(ctx, `override ${entityType}/${entityId}`, true)
    if (!(await repository.deleteOverride(key, entityType, entityId, check.condition))) {
      throw subjectNotFound('override', `${entityType}/${entityId}`)
    }
    await kit.audit(ctx, {
      action: 'override.delete',
      target: overrideTarget(key, entityType, entityId),
      flagKey: key,
      before: check.before(),
      after: null,
    })
    ctx.status = 204
  })
}
