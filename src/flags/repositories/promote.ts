/**
 * `StoreFlagRepository.promote`: reads through the repository's own interface and writes each
 * flag's settings in the target environment as one key.
 */
import { FlagstoneError } from '../../errors.js'
import { encodeEnvironmentFlag } from '../codec/index.js'
import { planPromotion } from '../evaluation/environments.js'
import type { FeatureFlag } from '../model.js'
import type { FlagRepository, PromoteOptions, PromotionResult } from './repository.js'
import type { WritePlan } from './change-log.js'
import { environmentFlagKey, notFound } from './store-layout.js'

export async function promote(
  repository: FlagRepository,
  commit: (plan: () => WritePlan) => Promise<unknown>,
  flagKey: string,
  from: string,
  to: string,
  options: PromoteOptions,
): Promise<PromotionResult> {
  const { dryRun = false, confirm = false } = options
  if (from === to) {
    throw new FlagstoneError('INVALID_ARGUMENT', `to: cannot promote environment "${from}" into itself`, {
      details: { field: 'to' },
    })
  }
  const [environments, source, target] = await Promise.all([
    repository.listEnvironments(),
    repository.getEnvironment(from),
    repository.getEnvironment(to),
  ])
  if (source === null) throw notFound('environment', from)
  if (target === null) throw notFound('environment', to)
  if (target.settings.protected === true && !confirm && !dryRun) {
    throw new FlagstoneError('FORBIDDEN', `environment "${to}" is protected: promote into it with { confirm: true }`, {
      details: { field: 'confirm', environment: to },
    })
  }
  let flags: FeatureFlag[]
  if (flagKey === 'all') flags = await repository.listFlags()
  else {
    const flag = await repository.getFlag(flagKey)
    if (flag === null) throw notFound('flag', flagKey)
    flags = [flag]
  }
  const settings = await repository.listEnvironmentFlags(flagKey === 'all' ? undefined : flagKey)
  const plans = flags.map((f) => planPromotion(environments, settings, f.key, from, to)).filter((p) => p.changes.length > 0)
  if (!dryRun && plans.length > 0) {
    const byKey = new Map(flags.map((f) => [f.key, f]))
    // Every flag's settings in one atomic write with one change record (in chunks past the
    // largest atomic write: a crash between chunks leaves some flags promoted; promoting again finishes).
    for (let i = 0; i < plans.length; i += 200) {
      const chunk = plans.slice(i, i + 200)
      await commit(() => {
        const keys = chunk.map((plan) => environmentFlagKey(plan.flagKey, to))
        return {
          writes: chunk.map((plan, j) =>
            plan.after === undefined
              ? { op: 'delete', key: keys[j] as string }
              : { op: 'set', key: keys[j] as string, value: encodeEnvironmentFlag(plan.after, byKey.get(plan.flagKey)) },
          ),
          checks: [],
          changes: chunk.map((plan, j) => ({ key: keys[j] as string, op: plan.after === undefined ? 'delete' : 'put' })),
        }
      })
    }
  }
  return { from, to, dryRun, plans }
}
