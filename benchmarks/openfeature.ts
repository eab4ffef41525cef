/**
 * Evaluation through the OpenFeature server SDK: the flagstone provider versus flagd's in-process
 * provider (`@openfeature/flagd-provider`, `resolverType: 'in-process'`, an offline flag file) on the
 * same three flags (static, one targeting rule, a 50/50 split), the same contexts and the same SDK,
 * in one run, paired rounds. Then OFREP over HTTP: bulk evaluation (100 flags per request) versus
 * the single-flag endpoint, requests/s with 8 in flight. `npx tsx benchmarks/openfeature.ts [--write]`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FlagdProvider } from '@openfeature/flagd-provider'
import { OpenFeature } from '@openfeature/server-sdk'
import Koa from 'koa'
import { FlagClient, StoreFlagRepository } from '../src/flags/index.js'
import { flags, ofrepRouter, stores } from '../src/koa/index.js'
import { FlagstoneProvider } from '../src/openfeature/index.js'
import { MemoryStore } from '../src/stores/drivers/memory.js'
import { StoreRegistry } from '../src/stores/registry.js'
import { writeSection } from './report.js'

const WRITE = process.argv.includes('--write')
const dir = mkdtempSync(join(tmpdir(), 'flagstone-bench-of-'))
const flagFile = join(dir, 'flags.json')
writeFileSync(
  flagFile,
  JSON.stringify({
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
  }),
)

const store = new MemoryStore()
const repository = new StoreFlagRepository(store)
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
await OpenFeature.setProviderAndWait('flagstone', new FlagstoneProvider({ client }))
await OpenFeature.setProviderAndWait('flagd', new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: flagFile }))

const contexts = Array.from({ length: 1000 }, (_, i) => ({ targetingKey: `user-${i}`, plan: i % 2 === 0 ? 'pro' : 'free' }))

async function evaluationsPerSecond(domain: string, ms: number): Promise<number> {
  const of = OpenFeature.getClient(domain)
  let n = 0
  const start = performance.now()
  while (performance.now() - start < ms) {
    for (let i = 0; i < 100; i++) {
      const context = contexts[(n + i) % contexts.length]!
      await of.getBooleanValue('banner', false, context)
      await of.getBooleanValue('pro-feature', false, context)
      await of.getStringValue('checkout', 'x', context)
    }
    n += 100
  }
  return (n * 3 * 1000) / (performance.now() - start)
}

// Same answers first: a benchmark of two providers that disagree measures nothing.
for (const context of contexts.slice(0, 50)) {
  for (const domain of ['flagstone', 'flagd']) {
    const of = OpenFeature.getClient(domain)
    if ((await of.getBooleanValue('pro-feature', false, context)) !== (context.plan === 'pro'))
      throw new Error(`${domain} disagrees`)
  }
}

const rounds = 5
const ratios: number[] = []
let last = { flagstone: 0, flagd: 0 }
for (let r = 0; r < rounds; r++) {
  const a = await evaluationsPerSecond('flagstone', 500)
  const b = await evaluationsPerSecond('flagd', 500)
  last = { flagstone: a, flagd: b }
  ratios.push(a / b)
}
ratios.sort((x, y) => x - y)
const median = ratios[Math.floor(rounds / 2)]!

// OFREP over HTTP: 100 flags in the store.
for (let i = 0; i < 97; i++) await repository.createFlag({ key: `flag-${i}`, type: 'boolean', defaultEnabled: i % 2 === 0 })
await client.refresh()
const app = new Koa()
app.use(stores(new StoreRegistry({ stores: { flags: store, rate_limit: new MemoryStore() } })))
app.use(flags())
const token = 'benchmark-ofrep-token-0001'
app.use(ofrepRouter({ tokens: [{ token, environment: 'production' }], rateLimit: false }).routes())
const server = app.listen(0, '127.0.0.1')
await new Promise((resolve) => server.once('listening', resolve))
const { port } = server.address() as { port: number }

async function requestsPerSecond(path: string, ms: number): Promise<number> {
  let n = 0
  const start = performance.now()
  const worker = async () => {
    while (performance.now() - start < ms) {
      const response = await fetch(`http://127.0.0.1:${port}/ofrep/v1/evaluate/flags${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{"context":{"targetingKey":"user-1","plan":"pro"}}',
      })
      await response.arrayBuffer()
      n++
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  return (n * 1000) / (performance.now() - start)
}
const httpRatios: number[] = []
let httpLast = { bulk: 0, single: 0 }
for (let r = 0; r < 3; r++) {
  const bulk = await requestsPerSecond('', 1500)
  const single = await requestsPerSecond('/pro-feature', 1500)
  httpLast = { bulk, single }
  httpRatios.push(bulk / single)
}
httpRatios.sort((x, y) => x - y)
server.close()
server.closeAllConnections()
await OpenFeature.close()
await client.close()
rmSync(dir, { recursive: true, force: true })

const markdown = [
  '## OpenFeature: evaluation through the SDK, and OFREP over HTTP',
  '',
  "`npx tsx benchmarks/openfeature.ts`: `@openfeature/server-sdk` with the flagstone provider and with flagd's in-process",
  'provider (offline flag file), the same three flags (static, one rule, a 50/50 split) and 1000 contexts; 5 paired rounds.',
  '',
  '| provider (through the SDK) | evaluations/s (last round) | vs flagd in-process (median) |',
  '|---|---:|---:|',
  `| flagstone provider | ${Math.round(last.flagstone)} | ${median.toFixed(2)}x |`,
  `| flagd in-process | ${Math.round(last.flagd)} | 1.00x |`,
  '',
  '| OFREP over HTTP, 8 in flight | requests/s (last round) | vs single-flag (median of 3) |',
  '|---|---:|---:|',
  `| bulk \`POST /ofrep/v1/evaluate/flags\`, 100 flags per answer | ${Math.round(httpLast.bulk)} | ${httpRatios[1]!.toFixed(2)}x |`,
  `| single \`POST /ofrep/v1/evaluate/flags/{key}\` | ${Math.round(httpLast.single)} | 1.00x |`,
  '',
  `A bulk request answers 100 flags: ${(httpRatios[1]! * 100).toFixed(0)} flag evaluations per single-flag request's cost.`,
].join('\n')
console.log(markdown)
if (WRITE) console.log(`wrote ${writeSection('openfeature', markdown)}`)
process.exit(0)
