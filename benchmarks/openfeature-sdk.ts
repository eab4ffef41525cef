/**
 * Evaluation through the OpenFeature server SDK, for benchmarks/evaluate.ts: the flagstone provider
 * versus flagd's in-process provider (`@openfeature/flagd-provider`, `resolverType: 'in-process'`,
 * an offline flag file) on the same three flags (static, one targeting rule, a 50/50 split), the
 * same contexts and the same SDK, in one run, in paired rounds that alternate which goes first.
 *
 * Cost is CPU time per evaluation (`process.cpuUsage`), not wall time: on a shared 2-core machine a
 * process is descheduled for most of a wall-clock slice (seen: 270 µs wall for 31 µs of CPU), which
 * makes wall-clock ratios of two contenders measured seconds apart mostly noise.
 *
 * A third provider that answers a constant measures the SDK's own cost per evaluation (hooks,
 * context merging, promise steps). It bounds every provider's ratio: (sdk + flagd) / (sdk + ours)
 * cannot exceed (sdk + flagd) / sdk however cheap our resolver is, so the rows give both, through
 * the SDK and the resolvers alone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FlagdProvider } from '@openfeature/flagd-provider'
import { type EvaluationContext, type Provider, OpenFeature } from '@openfeature/server-sdk'
import { FlagClient, StoreFlagRepository } from '../src/flags/index.js'
import { FlagstoneProvider } from '../src/openfeature/index.js'
import { MemoryStore } from '../src/stores/index.js'

const FLAGD_FLAGS = {
  flags: {
    banner: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    'pro-feature': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ '===': [{ var: 'plan' }, 'pro'] }, 'on', 'off'] },
    },
    checkout: {
      state: 'ENABLED',
      variants: { a: 'one-page', b: 'wizard' },
      defaultVariant: 'a',
      targeting: {
        fractional: [
          ['a', 50],
          ['b', 50],
        ],
      },
    },
  },
}

type Evaluate = (context: EvaluationContext) => Promise<unknown>
interface Contender {
  sdk: Evaluate
  alone: Evaluate
}

const logger = { error() {}, warn() {}, info() {}, debug() {} }
const constant: Provider = {
  metadata: { name: 'constant' },
  runsOn: 'server',
  hooks: [],
  resolveBooleanEvaluation: (_key, value) => Promise.resolve({ value, reason: 'STATIC' }),
  resolveStringEvaluation: (_key, value) => Promise.resolve({ value, reason: 'STATIC' }),
  resolveNumberEvaluation: (_key, value) => Promise.resolve({ value, reason: 'STATIC' }),
  resolveObjectEvaluation: (_key, value) => Promise.resolve({ value, reason: 'STATIC' }),
}

function contender(domain: string, provider: Provider): Contender {
  const of = OpenFeature.getClient(domain)
  return {
    sdk: async (context) => {
      await of.getBooleanValue('banner', false, context)
      await of.getBooleanValue('pro-feature', false, context)
      return of.getStringValue('checkout', 'x', context)
    },
    alone: async (context) => {
      await provider.resolveBooleanEvaluation('banner', false, context, logger)
      await provider.resolveBooleanEvaluation('pro-feature', false, context, logger)
      return provider.resolveStringEvaluation('checkout', 'x', context, logger)
    },
  }
}

/** CPU µs per evaluation over `n` rounds of the three flags. */
async function cpuMicros(run: Evaluate, contexts: EvaluationContext[], n: number): Promise<number> {
  const before = process.cpuUsage()
  for (let i = 0; i < n; i++) await run(contexts[i % contexts.length]!)
  const used = process.cpuUsage(before)
  return (used.user + used.system) / (n * 3)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Runs the comparison; returns the markdown lines of its table and notes. */
export async function openFeatureRows(rounds: number, perRound = 20_000): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'flagstone-bench-of-'))
  const flagFile = join(dir, 'flags.json')
  writeFileSync(flagFile, JSON.stringify(FLAGD_FLAGS))
  const repository = new StoreFlagRepository(new MemoryStore())
  await repository.createFlag({ key: 'banner', type: 'boolean', defaultEnabled: true })
  await repository.createFlag({
    key: 'pro-feature',
    type: 'boolean',
    rules: [{ id: 'pro', conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }] }],
  })
  await repository.createFlag({
    key: 'checkout',
    type: 'string',
    defaultValue: 'one-page',
    variants: [
      { key: 'a', value: 'one-page', weight: 50 },
      { key: 'b', value: 'wizard', weight: 50 },
    ],
  })
  const client = new FlagClient({ repository })
  const ours = new FlagstoneProvider({ client })
  const flagd = new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: flagFile })
  await OpenFeature.setProviderAndWait('flagstone', ours)
  await OpenFeature.setProviderAndWait('flagd', flagd)
  await OpenFeature.setProviderAndWait('constant', constant)
  try {
    const contexts = Array.from({ length: 1000 }, (_, i) => ({ targetingKey: `user-${i}`, plan: i % 2 === 0 ? 'pro' : 'free' }))
    // Same answers first: a benchmark of two providers that disagree measures nothing.
    for (const context of contexts.slice(0, 50)) {
      for (const domain of ['flagstone', 'flagd']) {
        const value = await OpenFeature.getClient(domain).getBooleanValue('pro-feature', false, context)
        if (value !== (context.plan === 'pro')) throw new Error(`${domain} disagrees on pro-feature`)
      }
    }
    const contenders = {
      flagstone: contender('flagstone', ours),
      flagd: contender('flagd', flagd),
      constant: contender('constant', constant),
    }
    const names = Object.keys(contenders) as (keyof typeof contenders)[]
    const samples = { sdk: new Map(names.map((n) => [n, [] as number[]])), alone: new Map(names.map((n) => [n, [] as number[]])) }
    for (const name of names) await cpuMicros(contenders[name].sdk, contexts, perRound / 4) // warm-up
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? names : [...names].reverse()
      for (const mode of ['sdk', 'alone'] as const) {
        for (const name of order) samples[mode].get(name)!.push(await cpuMicros(contenders[name][mode], contexts, perRound))
      }
    }
    const cost = (mode: 'sdk' | 'alone', name: (typeof names)[number]) => median(samples[mode].get(name)!)
    const ratio = (mode: 'sdk' | 'alone') => cost(mode, 'flagd') / cost(mode, 'flagstone')
    const bound = cost('sdk', 'flagd') / cost('sdk', 'constant')
    const us = (n: number) => `${n.toFixed(2)} µs`
    const met = (r: number) => (r >= 3 ? '✅' : '❌')
    return [
      '### Through OpenFeature: the flagstone provider vs flagd in-process',
      '',
      `\`@openfeature/server-sdk\`, the same three flags (static, one rule, a 50/50 split) and 1,000 contexts for each provider; ${rounds} paired rounds of ` +
        `${perRound.toLocaleString('en-US')} × 3 evaluations, alternating order. Cost is **CPU time per evaluation** (median of rounds): on this shared machine ` +
        'wall time is mostly time descheduled.',
      '',
      '| path | flagstone provider | flagd in-process | constant provider (the SDK alone) | flagstone vs flagd | target | met |',
      '|---|---:|---:|---:|---:|---|:---:|',
      `| through the SDK (\`client.getBooleanValue\`, …) | ${us(cost('sdk', 'flagstone'))} | ${us(cost('sdk', 'flagd'))} | ${us(cost('sdk', 'constant'))} | ` +
        `${ratio('sdk').toFixed(2)}× | ≥ 3× flagd | ${met(ratio('sdk'))} |`,
      `| the provider's resolvers alone | ${us(cost('alone', 'flagstone'))} | ${us(cost('alone', 'flagd'))} | ${us(cost('alone', 'constant'))} | ` +
        `${ratio('alone').toFixed(2)}× | — | |`,
      '',
      `The SDK's own work per evaluation (the constant provider's row) bounds any provider's ratio through it: with flagd's resolver cost, no provider ` +
        `could be more than ${bound.toFixed(2)}× flagd through this SDK.`,
    ]
  } finally {
    await OpenFeature.close()
    await client.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
