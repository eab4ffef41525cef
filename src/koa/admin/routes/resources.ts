/**
 * Admin API: segments, environments and per-environment flag settings, promotion, folding due
 * scheduled changes, and the audit trail.
 */
import type { Router } from '@koa/router'
import { FlagstoneError } from '../../../errors.js'
import {
  validateEnvironment,
  validateEnvironmentFlag,
  validateSegment,
  resolveChain,
  ENVIRONMENT_SLUG_PATTERN,
  FLAG_KEY_PATTERN,
  type EnvironmentFlag,
  type FeatureFlag,
} from '../../../flags/index.js'
import type { AuditLog } from '../audit.js'
import { pageOf, paginate, queryString } from '../http.js'
import { confirmQuery, documentCondition, requireConfirm, sendDocument } from '../preconditions.js'
import {
  type AdminKit,
  type Ctx,
  flagKeyParam,
  locationOf,
  onlyFields,
  requireFlag,
  requireObject,
  slugParam,
  subjectNotFound,
  withPathField,
} from '../kit.js'
import { parseInstant } from './evaluate.js'

export function resourceRoutes(router: Router, kit: AdminKit, auditLog: AuditLog): void {
  const { repository } = kit

  // ---- segments ----

  router.get('/segments', async (ctx: Ctx) => {
    const page = pageOf(ctx)
    ctx.body = paginate(await repository.listSegments(), page)
  })

  router.post('/segments', async (ctx: Ctx) => {
    const segment = await repository.createSegment(validateSegment(await kit.body(ctx)))
    await kit.audit(ctx, { action: 'segment.create', target: `segment:${segment.key}`, before: null, after: segment })
    ctx.status = 201
    ctx.set('Location', locationOf(kit, 'segments', segment.key))
    ctx.body = segment
  })

  router.get('/segments/:key', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx, 'key', 'segment')
    const segment = await repository.getSegment(key)
    if (segment === null) throw subjectNotFound('segment', key)
    sendDocument(ctx, 200, segment)
  })

  router.put('/segments/:key', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx, 'key', 'segment')
    const segment = validateSegment(withPathField(await kit.body(ctx), 'key', key))
    const check = documentCondition(ctx, `segment "${key}"`, false, () => subjectNotFound('segment', key))
    const after = await repository.updateSegment(segment, check.condition)
    await kit.audit(ctx, { action: 'segment.update', target: `segment:${key}`, before: check.before(), after })
    sendDocument(ctx, 200, after)
  })

  router.delete('/segments/:key', async (ctx: Ctx) => {
    const key = flagKeyParam(ctx, 'key', 'segment')
    const check = documentCondition(ctx, `segment "${key}"`, true)
    if (!(await repository.deleteSegment(key, check.condition))) throw subjectNotFound('segment', key)
    await kit.audit(ctx, { action: 'segment.delete', target: `segment:${key}`, before: check.before(), after: null })
    ctx.status = 204
  })

  // ---- environments ----

  router.get('/environments', async (ctx: Ctx) => {
    const page = pageOf(ctx)
    ctx.body = paginate(await repository.listEnvironments(), page)
  })

  router.post('/environments', async (ctx: Ctx) => {
    const environment = await repository.createEnvironment(validateEnvironment(await kit.body(ctx)))
    await kit.audit(ctx, {
      action: 'environment.create',
      target: `environment:${environment.slug}`,
      before: null,
      after: environment,
    })
    ctx.status = 201
    ctx.set('Location', locationOf(kit, 'environments', environment.slug))
    ctx.body = environment
  })

  const requireEnvironment = async (slug: string) => {
    const environment = await repository.getEnvironment(slug)
    if (environment === null) throw subjectNotFound('environment', slug)
    return environment
  }

  router.get('/environments/:slug', async (ctx: Ctx) => {
    sendDocument(ctx, 200, await requireEnvironment(slugParam(ctx)))
  })

  router.put('/environments/:slug', async (ctx: Ctx) => {
    const slug = slugParam(ctx)
    const environment = validateEnvironment(withPathField(await kit.body(ctx), 'slug', slug))
    const check = documentCondition(ctx, `environment "${slug}"`, false, () => subjectNotFound('environment', slug))
    const after = await repository.updateEnvironment(environment, check.condition)
    await kit.audit(ctx, { action: 'environment.update', target: `environment:${slug}`, before: check.before(), after })
    sendDocument(ctx, 200, after)
  })

  router.delete('/environments/:slug', async (ctx: Ctx) => {
    const slug = slugParam(ctx)
    const check = documentCondition(ctx, `environment "${slug}"`, true)
    if (!(await repository.deleteEnvironment(slug, check.condition))) throw subjectNotFound('environment', slug)
    await kit.audit(ctx, { action: 'environment.delete', target: `environment:${slug}`, before: check.before(), after: null })
    ctx.status = 204
  })

  // ---- a flag's settings in an environment ----

  router.get('/environments/:slug/flags', async (ctx: Ctx) => {
    const page = pageOf(ctx)
    const slug = slugParam(ctx)
    await requireEnvironment(slug)
    ctx.body = paginate(
      (await repository.listEnvironmentFlags()).filter((s) => s.environment === slug),
      page,
    )
  })

  const settingsTarget = (slug: string, key: string) => `environmentFlag:${slug}/${key}`

  router.get('/environments/:slug/flags/:key', async (ctx: Ctx) => {
    const slug = slugParam(ctx)
    const key = flagKeyParam(ctx)
    const settings = await repository.getEnvironmentFlag(slug, key)
    if (settings === null) throw subjectNotFound('environment flag', `${slug}/${key}`)
    sendDocument(ctx, 200, settings)
  })

  router.put('/environments/:slug/flags/:key', async (ctx: Ctx) => {
    const slug = slugParam(ctx)
    const key = flagKeyParam(ctx)
    // `confirm` says "yes, this protected environment"; it is not part of the settings.
    const { confirm, ...fields } = requireObject(await kit.body(ctx), "a flag's settings in an environment")
    const draft = withPathField(withPathField(fields, 'environment', slug), 'flagKey', key)
    const [flag, environment] = await Promise.all([requireFlag(kit, key), requireEnvironment(slug)])
    const settings = validateEnvironmentFlag(draft, flag)
    requireConfirm(environment, confirm, 'send the settings')
    const check = documentCondition<EnvironmentFlag>(ctx, `flag "${key}" in environment "${slug}"`, false)
    const after = await repository.setEnvironmentFlag(settings, check.condition)
    const before = check.before()
    await kit.audit(ctx, { action: 'environmentFlag.set', target: settingsTarget(slug, key), flagKey: key, before, after })
    if (before === null) ctx.set('Location', locationOf(kit, 'environments', slug, 'flags', key))
    sendDocument(ctx, before === null ? 201 : 200, after)
  })

  router.delete('/environments/:slug/flags/:key', async (ctx: Ctx) => {
    const slug = slugParam(ctx)
    const key = flagKeyParam(ctx)
    // Whether the environment is protected is read first; the If-Match check is the delete's own.
    if ((await repository.getEnvironmentFlag(slug, key)) !== null) {
      requireConfirm(await requireEnvironment(slug), confirmQuery(ctx), 'delete with ?confirm=true')
    }
    const check = documentCondition<EnvironmentFlag>(ctx, `flag "${key}" in environment "${slug}"`, true)
    if (!(await repository.deleteEnvironmentFlag(slug, key, check.condition)))
      throw subjectNotFound('environment flag', `${slug}/${key}`)
    await kit.audit(ctx, {
      action: 'environmentFlag.delete',
      target: settingsTarget(slug, key),
      flagKey: key,
      before: check.before(),
      after: null,
    })
    ctx.status = 204
  })

  /** Where each of the flag's environment fields comes from in this environment (`?at=` an instant; default now). */
  router.get('/environments/:slug/flags/:key/resolve', async (ctx: Ctx) => {
    const slug = slugParam(ctx)
    const key = flagKeyParam(ctx)
    const at = queryString(ctx, 'at', 64)
    const now = at === undefined ? Date.now() : parseInstant(at, 'at')
    const [flag, , environments, settings] = await Promise.all([
      requireFlag(kit, key),
      requireEnvironment(slug),
      repository.listEnvironments(),
      repository.listEnvironmentFlags(key),
    ])
    ctx.body = { at: new Date(now).toISOString(), ...resolveChain(environments, settings, key, slug, { flag, now }) }
  })

  // ---- promotion ----

  router.post('/promote', async (ctx: Ctx) => {
    const body = requireObject(await kit.body(ctx), 'a promotion')
    onlyFields(body, ['flagKey', 'from', 'to', 'dryRun', 'confirm'])
    const { flagKey, from, to, dryRun = false, confirm = false } = body
    if (typeof flagKey !== 'string' || (flagKey !== 'all' && !FLAG_KEY_PATTERN.test(flagKey))) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'flagKey: must be a flag key or "all"', { details: { field: 'flagKey' } })
    }
    for (const [field, value] of [
      ['from', from],
      ['to', to],
    ] as const) {
      if (typeof value !== 'string' || !ENVIRONMENT_SLUG_PATTERN.test(value)) {
        throw new FlagstoneError('INVALID_ARGUMENT', `${field}: must be an environment slug`, { details: { field } })
      }
    }
    for (const [field, value] of [
      ['dryRun', dryRun],
      ['confirm', confirm],
    ] as const) {
      if (typeof value !== 'boolean')
        throw new FlagstoneError('INVALID_ARGUMENT', `${field}: must be a boolean`, { details: { field } })
    }
    const result = await repository.promote(flagKey, from as string, to as string, {
      dryRun: dryRun as boolean,
      confirm: confirm as boolean,
    })
    if (!result.dryRun) {
      for (const plan of result.plans) {
        await kit.audit(ctx, {
          action: 'promote',
          target: settingsTarget(plan.to, plan.flagKey),
          flagKey: plan.flagKey,
          before: plan.before ?? null,
          after: plan.after ?? null,
          details: { from: plan.from, to: plan.to, changes: plan.changes.map((c) => c.field) },
        })
      }
    }
    ctx.body = result
  })

  // ---- folding due scheduled changes into the stored flags ----

  router.post('/apply-due-changes', async (ctx: Ctx) => {
    const before = new Map<string, FeatureFlag>((await repository.listFlags()).map((f) => [f.key, f]))
    const result = await repository.applyDueChanges()
    for (const key of result.flags) {
      await kit.audit(ctx, {
        action: 'schedule.apply',
        target: `flag:${key}`,
        flagKey: key,
        before: before.get(key) ?? null,
        after: await repository.getFlag(key),
      })
    }
    ctx.body = result
  })

  // ---- the audit trail ----

  router.get('/audit', async (ctx: Ctx) => {
    const page = pageOf(ctx)
    const target = queryString(ctx, 'target', 512)
    const flagKey = queryString(ctx, 'flagKey', 128)
    // Both become parts of store keys, which stores bound in length.
    if (target !== undefined && encodeURIComponent(target).length > 600) {
      throw new FlagstoneError('INVALID_ARGUMENT', 'target: too long', { details: { field: 'target' } })
    }
    if (flagKey !== undefined && !FLAG_KEY_PATTERN.test(flagKey)) {
      throw new FlagstoneError('INVALID_ARGUMENT', `flagKey: must match ${FLAG_KEY_PATTERN.source}`, {
        details: { field: 'flagKey' },
      })
    }
    const { items, total } = await auditLog.list({
      ...page,
      ...(target === undefined ? {} : { target }),
      ...(flagKey === undefined ? {} : { flagKey }),
    })
    ctx.body = { items, total, ...page }
  })
}
