/**
 * OFREP over HTTP: bulk evaluation (`POST /ofrep/v1/evaluate/flags`, 100 flags per answer) versus the
 * single-flag endpoint on the same server, requests/s with 8 in flight, paired rounds.
 * (Evaluation through the OpenFeature SDK is measured in benchmarks/evaluate.ts.)
 * `npx tsx benchmarks/ofrep.ts [--write]`.
 */
import Koa from 'koa'
import { StoreFlagRepository } from '../src/flags/index.js'
import { flags, ofrepRouter, stores } from '../src/koa/index.js'
import { MemoryStore, StoreRegistry } from '../src/stores/index.js'
import { writeSection } from './report.js'

const WRITE = process.argv.includes('--write')
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
// OFREP over HTTP: 100 flags in the store.
for (let i = 0; i < 97; i++) await repository.createFlag({ key: `flag-${i}`, type: 'boolean', defaultEnabled: i % 2 === 0 })
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

const markdown = [
  '## OFREP over HTTP: bulk against single-flag evaluation',
  '',
  '`npx tsx benchmarks/ofrep.ts`: the same server (memory store, 100 flags) answering `POST /ofrep/v1/evaluate/flags` and',
  '`POST /ofrep/v1/evaluate/flags/{key}`, 8 requests in flight, 3 paired rounds of 1.5 s.',
  '',
  '| OFREP over HTTP, 8 in flight | requests/s (last round) | vs single-flag (median of 3) |',
  '|---|---:|---:|',
  `| bulk \`POST /ofrep/v1/evaluate/flags\`, 100 flags per answer | ${Math.round(httpLast.bulk)} | ${httpRatios[1]!.toFixed(2)}x |`,
  `| single \`POST /ofrep/v1/evaluate/flags/{key}\` | ${Math.round(httpLast.single)} | 1.00x |`,
  '',
  `A bulk request answers 100 flags: ${(httpRatios[1]! * 100).toFixed(0)} flag evaluations per single-flag request's cost.`,
].join('\n')
console.log(markdown)
if (WRITE) console.log(`wrote ${writeSection('ofrep', markdown)}`)
process.exit(0)
