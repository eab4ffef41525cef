/**
 * Evaluation throughput: flagstone's compiled evaluator against Unleash's Node SDK
 * (`unleash-client`), both evaluating equivalent flags on the same contexts in one process.
 *
 * Scenarios:
 *   (a) a plain boolean flag (Unleash: enabled toggle, `default` strategy);
 *   (b) 3 rules × 2 conditions, each rule a 25% rollout (Unleash: 3 `flexibleRollout` strategies
 *       at 25% with stickiness userId and groupId = flag name, each with 2 constraints);
 *   (c) a 4-variant split (Unleash: enabled toggle, 4 feature variants of equal weight).
 * Unleash runs offline: bootstrapped toggles, no server, refreshInterval 0 (no fetch), metrics
 * disabled, in-memory backup storage, destroyed at the end.
 *
 * Each scenario: warm-up, then ROUNDS rounds of SLICE_MS per contender, contenders alternating
 * which goes first; ops/s are medians, the ratio is the ratio of medians with the per-round range.
 * The table goes to stdout and into BENCHMARKS.md between `<!-- evaluate:start -->` and
 * `<!-- evaluate:end -->` (other sections untouched). BENCH_NO_WRITE=1 skips writing;
 * BENCH_ROUNDS / BENCH_SLICE_MS change the run length.
 *
 * Then the same SDK comparison for OpenFeature (benchmarks/openfeature-sdk.ts): flagstone's provider
 * against flagd's in-process provider, through `@openfeature/server-sdk`.
 *
 * Run: npx tsx benchmarks/evaluate.ts
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import unleashPackage from 'unleash-client'
import { compileSnapshot, evaluate } from '../src/flags/evaluation/evaluate.js'
import type { EvaluationContext, FeatureFlag } from '../src/flags/model.js'
import { openFeatureRows } from './openfeature-sdk.js'
import { writeSection } from './report.js'

const { Unleash, InMemStorageProvider } = unleashPackage

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 1000)
const WRITE = process.env.BENCH_NO_WRITE !== '1'
const CONTEXTS = 4096 // a power of two: the loop indexes with a mask

// ---- the same data for both ----

const T0 = new Date('2025-01-01T00:00:00Z')
const baseFlag = {
  status: 'active' as const,
  defaultEnabled: false,
  tags: [],
  metadata: {},
  rules: [],
  variants: [],
  scheduledChanges: [],
  rolloutPhases: [],
  timeSchedules: [],
  version: 1,
  createdAt: T0,
  updatedAt: T0,
}

const flags: FeatureFlag[] = [
  { ...baseFlag, key: 'bench.plain', name: 'plain', type: 'boolean', defaultEnabled: true },
  {
    ...baseFlag,
    key: 'bench.rules',
    name: 'rules',
    type: 'boolean',
    rules: [
      {
        id: 'nordic-enterprise',
        name: 'nordic enterprise',
        priority: 1,
        enabled: true,
        serveEnabled: true,
        rolloutPercentage: 25,
        conditions: [
          { attribute: 'country', operator: 'in', value: ['NO', 'SE'] },
          { attribute: 'plan', operator: 'in', value: ['enterprise'] },
        ],
      },
      {
        id: 'beta-v2',
        name: 'beta on v2',
        priority: 2,
        enabled: true,
        serveEnabled: true,
        rolloutPercentage: 25,
        conditions: [
          { attribute: 'appVersion', operator: 'semver_gte', value: '2.0.0' },
          { attribute: 'beta', operator: 'in', value: ['yes'] },
        ],
      },
      {
        id: 'example-teams',
        name: 'example.com teams',
        priority: 3,
        enabled: true,
        serveEnabled: true,
        rolloutPercentage: 25,
        conditions: [
          { attribute: 'email', operator: 'ends_with', value: '@example.com' },
          { attribute: 'plan', operator: 'in', value: ['pro', 'team'] },
        ],
      },
    ],
  },
  {
    ...baseFlag,
    key: 'bench.split',
    name: 'split',
    type: 'string',
    defaultValue: 'none',
    variants: ['a', 'b', 'c', 'd'].map((key) => ({ key, value: key.toUpperCase(), weight: 25 })),
  },
]

const unleashToggles = [
  { name: 'bench.plain', enabled: true, strategies: [{ name: 'default', parameters: {}, constraints: [] }] },
  {
    name: 'bench.rules',
    enabled: true,
    strategies: [
      {
        name: 'flexibleRollout',
        parameters: { rollout: '25', stickiness: 'userId', groupId: 'bench.rules' },
        constraints: [
          { contextName: 'country', operator: 'IN', values: ['NO', 'SE'] },
          { contextName: 'plan', operator: 'IN', values: ['enterprise'] },
        ],
      },
      {
        name: 'flexibleRollout',
        parameters: { rollout: '25', stickiness: 'userId', groupId: 'bench.rules' },
        constraints: [
          { contextName: 'appVersion', operator: 'SEMVER_GTE', value: '2.0.0', values: [] },
          { contextName: 'beta', operator: 'IN', values: ['yes'] },
        ],
      },
      {
        name: 'flexibleRollout',
        parameters: { rollout: '25', stickiness: 'userId', groupId: 'bench.rules' },
        constraints: [
          { contextName: 'email', operator: 'STR_ENDS_WITH', values: ['@example.com'] },
          { contextName: 'plan', operator: 'IN', values: ['pro', 'team'] },
        ],
      },
    ],
  },
  {
    name: 'bench.split',
    enabled: true,
    strategies: [{ name: 'default', parameters: {}, constraints: [] }],
    variants: ['a', 'b', 'c', 'd'].map((name) => ({
      name,
      weight: 250,
      weightType: 'variable',
      stickiness: 'default',
      payload: { type: 'string', value: name.toUpperCase() },
    })),
  },
]

interface Subject {
  flagstone: EvaluationContext
  unleash: { userId: string; properties: Record<string, string> }
}

const subjects: Subject[] = Array.from({ length: CONTEXTS }, (_, i) => {
  const targetingKey = `user-${i}-${((i * 2654435761) >>> 0).toString(36)}`
  const country = ['NO', 'SE', 'DK', 'US', 'DE'][i % 5]!
  const plan = ['enterprise', 'pro', 'team', 'free'][(i >> 1) % 4]!
  const appVersion = ['1.9.3', '2.0.0', '2.1.0-beta.1', '3.4.5'][(i >> 2) % 4]!
  const beta = i % 3 === 0 ? 'yes' : 'no'
  const email = i % 7 < 3 ? `u${i}@example.com` : `u${i}@elsewhere.org`
  return {
    flagstone: { targetingKey, country, appVersion, attributes: { plan, beta, email } },
    unleash: { userId: targetingKey, properties: { country, plan, appVersion, beta, email } },
  }
})

// ---- contenders ----

type Loop = (iterations: number) => number

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Runs `loop` for about `ms`, in batches, and returns operations per second. */
function measure(loop: Loop, ms: number): number {
  let iterations = 0
  let batch = 10_000
  const start = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    loop(batch)
    iterations += batch
    elapsed = performance.now() - start
    if (elapsed < ms / 20) batch *= 2
  }
  return (iterations / elapsed) * 1000
}

interface Row {
  scenario: string
  flagstone: number
  unleash: number
  ratio: number
  low: number
  high: number
  target: number
  note: string
}

async function main(): Promise<void> {
  const snapshot = compileSnapshot({ flags, revision: 1 })
  const ctx = subjects.map((s) => s.flagstone)
  const uctx = subjects.map((s) => s.unleash)
  const mask = CONTEXTS - 1

  const warnings: string[] = []
  const unleash = new Unleash({
    url: 'http://127.0.0.1:1/api',
    appName: 'flagstone-bench',
    refreshInterval: 0, // no fetch at all: the repository's fetch() returns at once
    disableMetrics: true,
    metricsInterval: 0,
    disableAutoStart: true,
    skipInstanceCountWarning: true,
    storageProvider: new InMemStorageProvider(),
    bootstrap: { data: unleashToggles as never },
  })
  unleash.on('error', (error: unknown) => warnings.push(`error: ${String(error)}`))
  unleash.on('warn', (message: unknown) => warnings.push(`warn: ${String(message)}`))
  const ready = new Promise<void>((resolve) => unleash.once('ready', () => resolve()))
  await unleash.start()
  await ready

  try {
    // Sanity: both sides must answer the same questions the same way where their algorithms agree.
    // Unleash's flexibleRollout bucket is murmur3(groupId + ':' + userId) % 100 + 1: the same as
    // ours for ASCII keys, so scenario (b) must agree on every subject.
    let agree = 0
    let enabled = 0
    for (let i = 0; i < CONTEXTS; i++) {
      const ours = evaluate<boolean>(snapshot, 'bench.rules', 'boolean', false, ctx[i]).value
      const theirs = unleash.isEnabled('bench.rules', uctx[i])
      if (ours === theirs) agree++
      if (ours) enabled++
    }
    if (agree !== CONTEXTS) throw new Error(`scenario (b) disagrees with Unleash on ${CONTEXTS - agree} of ${CONTEXTS} subjects`)
    const splitShares = new Map<string, number>()
    const unleashShares = new Map<string, number>()
    for (let i = 0; i < CONTEXTS; i++) {
      const v = evaluate(snapshot, 'bench.split', 'string', 'none', ctx[i]).variant ?? 'none'
      splitShares.set(v, (splitShares.get(v) ?? 0) + 1)
      const u = unleash.getVariant('bench.split', uctx[i]).name
      unleashShares.set(u, (unleashShares.get(u) ?? 0) + 1)
    }
    if (
      !evaluate<boolean>(snapshot, 'bench.plain', 'boolean', false, ctx[0]).value ||
      !unleash.isEnabled('bench.plain', uctx[0])
    ) {
      throw new Error('scenario (a) is not enabled on both sides')
    }

    let sink = 0
    const scenarios: { name: string; target: number; flagstone: Loop; unleash: Loop }[] = [
      {
        name: '(a) plain boolean flag',
        target: 0,
        flagstone: (n) => {
          let s = 0
          for (let i = 0; i < n; i++)
            if (evaluate<boolean>(snapshot, 'bench.plain', 'boolean', false, ctx[i & mask]).value === true) s++
          return s
        },
        unleash: (n) => {
          let s = 0
          for (let i = 0; i < n; i++) if (unleash.isEnabled('bench.plain', uctx[i & mask])) s++
          return s
        },
      },
      {
        name: '(b) 3 rules × 2 conditions, 25% rollouts',
        target: 3,
        flagstone: (n) => {
          let s = 0
          for (let i = 0; i < n; i++)
            if (evaluate<boolean>(snapshot, 'bench.rules', 'boolean', false, ctx[i & mask]).value === true) s++
          return s
        },
        unleash: (n) => {
          let s = 0
          for (let i = 0; i < n; i++) if (unleash.isEnabled('bench.rules', uctx[i & mask])) s++
          return s
        },
      },
      {
        name: '(c) 4-variant split',
        target: 3,
        flagstone: (n) => {
          let s = 0
          for (let i = 0; i < n; i++) if (evaluate(snapshot, 'bench.split', 'string', 'none', ctx[i & mask]).variant === 'a') s++
          return s
        },
        unleash: (n) => {
          let s = 0
          for (let i = 0; i < n; i++) if (unleash.getVariant('bench.split', uctx[i & mask]).name === 'a') s++
          return s
        },
      },
    ]

    const rows: Row[] = []
    for (const scenario of scenarios) {
      // Warm-up: let both reach optimised code before measuring.
      sink += scenario.flagstone(200_000) + scenario.unleash(50_000)
      const ours: number[] = []
      const theirs: number[] = []
      const ratios: number[] = []
      for (let round = 0; round < ROUNDS; round++) {
        let f: number
        let u: number
        if (round % 2 === 0) {
          f = measure((n) => (sink += scenario.flagstone(n)), SLICE_MS)
          u = measure((n) => (sink += scenario.unleash(n)), SLICE_MS)
        } else {
          u = measure((n) => (sink += scenario.unleash(n)), SLICE_MS)
          f = measure((n) => (sink += scenario.flagstone(n)), SLICE_MS)
        }
        ours.push(f)
        theirs.push(u)
        ratios.push(f / u)
      }
      const f = median(ours)
      const u = median(theirs)
      rows.push({
        scenario: scenario.name,
        flagstone: f,
        unleash: u,
        ratio: f / u,
        low: Math.min(...ratios),
        high: Math.max(...ratios),
        target: scenario.target,
        note: '',
      })
      console.log(`${scenario.name}: flagstone ${fmt(f)} ops/s, unleash ${fmt(u)} ops/s, ratio ${(f / u).toFixed(1)}`)
    }
    if (sink === -1) console.log('unreachable') // keeps the loops' results alive

    const openFeature = await openFeatureRows(ROUNDS)
    const markdown = [report(rows, { enabled, splitShares, unleashShares, warnings }), '', ...openFeature].join('\n')
    console.log(`\n${markdown}\n`)
    if (WRITE) console.log(`wrote ${writeSection('evaluate', markdown)}`)
  } finally {
    unleash.destroy()
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function pct(n: number): string {
  return `${((n / CONTEXTS) * 100).toFixed(1)}%`
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

function report(
  rows: Row[],
  facts: { enabled: number; splitShares: Map<string, number>; unleashShares: Map<string, number>; warnings: string[] },
): string {
  const unleashVersion = (
    JSON.parse(readFileSync(new URL('../node_modules/unleash-client/package.json', import.meta.url), 'utf8')) as {
      version: string
    }
  ).version
  const lines = [
    '## Evaluation: flagstone vs Unleash’s Node SDK',
    '',
    `Written by \`npx tsx benchmarks/evaluate.ts\` on ${new Date().toISOString().slice(0, 10)}: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ` +
      `Node ${process.version}, unleash-client ${unleashVersion}, flagstone at commit ${commit()}. One process, one run: per scenario a warm-up, then ` +
      `${ROUNDS} rounds of ${(SLICE_MS / 1000).toFixed(1)} s per contender, alternating which goes first. ops/s are medians; the ratio is the ratio of the ` +
      'medians with the range of the per-round ratios in brackets. Absolute numbers on a shared machine are noise; the ratios are the result.',
    '',
    '| scenario | flagstone ops/s | unleash ops/s | ratio | target | met |',
    '|---|---:|---:|---:|---|:---:|',
  ]
  for (const r of rows) {
    const target = r.target > 0 ? `≥ ${r.target}× unleash` : '≥ 5M ops/s'
    const met = r.target > 0 ? r.ratio >= r.target : r.flagstone >= 5_000_000
    lines.push(
      `| ${r.scenario} | ${fmt(r.flagstone)} | ${fmt(r.unleash)} | ${r.ratio.toFixed(1)}× <sub>(${r.low.toFixed(1)}–${r.high.toFixed(1)})</sub> | ${target} | ${met ? '✅' : '❌'} |`,
    )
  }
  const shares = (m: Map<string, number>) =>
    [...m.entries()]
      .sort()
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(', ')
  lines.push(
    '',
    'Notes:',
    '',
    `- ${CONTEXTS.toLocaleString('en-US')} generated subjects (targeting key / userId, country, plan, app version, beta, email), cycled in the same order for both SDKs. ` +
      'Each flagstone call is `evaluate(snapshot, key, type, default, context)` on a snapshot compiled once (as the client does on load) and returns the full ' +
      'details object (value, reason, variant, metadata); each Unleash call is `isEnabled(name, context)` or `getVariant(name, context)`.',
    '- (a) flagstone: an active boolean flag with `defaultEnabled`; Unleash: an enabled toggle with the `default` strategy.',
    '- (b) flagstone: three rules (`in` + `in`, `semver_gte` + `in`, `ends_with` + `in`), each with `rolloutPercentage: 25`; Unleash: three `flexibleRollout` ' +
      'strategies at 25% (stickiness `userId`, groupId = the flag name) with the equivalent constraints (`IN`, `SEMVER_GTE`, `STR_ENDS_WITH`). Both bucket with ' +
      `murmur3(\`<flag>:<id>\`) % 100 + 1, and the run checks that both answer identically for every subject (they did: ${pct(facts.enabled)} enabled).`,
    `- (c) flagstone: four variants of weight 25 (shares seen: ${shares(facts.splitShares)}); Unleash: four feature variants of weight 250, stickiness default ` +
      `(shares seen: ${shares(facts.unleashShares)}). Their hashes differ (Unleash seeds variant hashing), so individual assignments differ; the shares do not.`,
    '- Unleash ran offline from bootstrapped toggles: `refreshInterval: 0` (no fetch), `disableMetrics: true`, `metricsInterval: 0`, `InMemStorageProvider`, ' +
      `destroyed at the end. Events it emitted during the run: ${facts.warnings.length === 0 ? 'none' : facts.warnings.slice(0, 3).join('; ')}.`,
  )
  return lines.join('\n')
}

await main()
