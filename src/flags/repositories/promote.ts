/**
 * `StoreFlagRepository.promote`: reads through the repository's own interface and writes each
 * flag's settings in the target environment as one key.
 */
import { FlagstoneError } from '../../errors.js'
import type { Store } from '../../stores/types.js'
import { encodeEnvironmentFlag } from '../codec/index.js'
import { planPromotion } from '../evaluation/environments.js'
import type { FeatureFlag } from '../model.js'
import type { FlagRepository, PromoteOptions, PromotionResult } from './repository.js'
import { READ_CONCURRENCY, environmentFlagKey, mapLimit, notFound, signalChange } from './store-layout.js'

export async function promote(
  repository: FlagRepository,
  store: Store,
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
    // Each flag's settings are one key, so a crash part-way leaves some flags promoted and the
    // rest as they were; promoting again finishes the job.
    await mapLimit(plans, READ_CONCURRENCY, async (plan) => {
      const key = environmentFlagKey(plan.flagKey, to)
      if (plan.after === undefined) await store.delete(key)
      else await store.set(key, encodeEnvironmentFlag(plan.after, byKey.get(plan.flagKey)))
    })
    await signalChange(store)
  }
  return { from, to, dryRun, plans }
}
