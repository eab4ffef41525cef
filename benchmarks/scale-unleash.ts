/**
 * The peer's side of issue 9's change cost: the Unleash Node SDK (`unleash-client`, polling in its
 * default full mode) takes a change by re-fetching the whole feature set. A local HTTP stub of
 * `/api/client/features` (real HTTP on loopback, ETag / 304 like Unleash's server) serves the same
 * 10,000 flags as benchmarks/scale.ts (one strategy with one constraint each); after each change
 * (one flag toggled) we measure
 *   refresh  the stub received the SDK's request for the changed set → the SDK's `changed` event
 *            (fetch + parse + install of the whole set; `isEnabled` answers the new value from then)
 *   seen     the stub's change → `isEnabled` reflects it (adds the wait for the next poll)
 * and state flagstone's per-change cost (benchmarks/scale-results.json, Redis and PostgreSQL rows
 * at the same N) as a ratio to it.
 *
 * Run: `npx tsx benchmarks/scale-unleash.ts`. Env: UNLEASH_FLAGS (default 10000), UNLEASH_CHANGES
 * (default 10), UNLEASH_REFRESH_MS (the SDK's refreshInterval, default 1000), BENCH_NO_WRITE=1.
 */
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import unleashPackage from 'unleash-client'
import { writeSection } from './report.js'
import { median, percentile, preciseNow, readResults } from './scale-lib.js'

const { Unleash, InMemStorageProvider } = unleashPackage
const N = Number(process.env.UNLEASH_FLAGS ?? 10_000)
const CHANGES = Number(process.env.UNLEASH_CHANGES ?? 10)
const REFRESH = Number(process.env.UNLEASH_REFRESH_MS ?? 1000)
const WRITE = process.env.BENCH_NO_WRITE !== '1'
const TOGGLED = 'flag-7'

/** The feature set at `version`: flag-7 is enabled at odd versions. Serialised once per version, as a server's cache would. */
function body(version: number): string {
  const features = Array.from({ length: N }, (_, i) => ({
    name: `flag-${i}`,
    description: 'f',
    type: 'release',
    project: 'default',
    enabled: `flag-${i}` === TOGGLED ? version % 2 === 1 : true,
    stale: false,
    impressionData: false,
    strategies: [
      { name: 'default', parameters: {}, constraints: [{ contextName: 'country', operator: 'IN', values: ['NO', 'SE'] }] },
    ],
    variants: [],
  }))
  return JSON.stringify({ version: 2, features, query: { inlineSegmentConstraints: true } })
}

let version = 0
let current = body(version)
/** When the stub first answered a request with the body of each version. */
const served = new Map<number, number>()
const server = createServer((req, res) => {
  if (!req.url?.startsWith('/api/client/features')) {
    res.writeHead(404).end()
    return
  }
  const etag = `"v${version}"`
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { etag }).end()
    return
  }
  if (!served.has(version)) served.set(version, preciseNow())
  res.writeHead(200, { 'content-type': 'application/json', etag }).end(current)
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const port = (server.address() as AddressInfo).port

const unleash = new Unleash({
  appName: 'flagstone-scale-bench',
  url: `http://127.0.0.1:${port}/api/`,
  refreshInterval: REFRESH,
  disableMetrics: true,
  metricsInterval: 0,
  storageProvider: new InMemStorageProvider(),
  skipInstanceCountWarning: true,
})
const problems: string[] = []
unleash.on('error', (error: unknown) => problems.push(String(error)))
let onChanged: (() => void) | undefined
unleash.on('changed', () => onChanged?.())
const started = preciseNow()
await new Promise<void>((resolve) => unleash.once('synchronized', () => resolve()))
const firstLoad = preciseNow() - started
const context = { properties: { country: 'NO' } }
const refresh: number[] = []
const seen: number[] = []
for (let c = 0; c < CHANGES; c++) {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * REFRESH))
  const next = version + 1
  const expected = next % 2 === 1
  const bodyStarted = performance.now()
  current = body(next) // the server's side of the change, before it is visible
  const serialise = performance.now() - bodyStarted
  if (serialise > REFRESH) problems.push(`serialising took ${serialise.toFixed(0)} ms`)
  const changedAt = preciseNow()
  version = next
  const at = await new Promise<number>((resolve) => {
    onChanged = () => {
      if (unleash.isEnabled(TOGGLED, context) === expected) resolve(preciseNow())
    }
  })
  onChanged = undefined
  refresh.push(at - (served.get(next) as number))
  seen.push(at - changedAt)
}
unleash.destroy()
server.close()

const bytes = Buffer.byteLength(current)
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))
const results = readResults()
const ours = ['redis', 'postgres', 'sqlite'].flatMap((backend) => {
  const change = results[`${backend}:${N}`]?.change
  return change === undefined ? [] : [{ backend, ...change }]
})
const refreshP50 = median(refresh)
const rows = [
  `| Unleash Node SDK ${unleashVersion()}: full re-fetch (poll every ${REFRESH} ms) | ${fmt(refreshP50)} / ${fmt(percentile(refresh, 99))} ms ` +
    `| ${fmt(median(seen))} / ${fmt(percentile(seen, 99))} ms | 1× |`,
  ...ours.map(
    (o) =>
      `| flagstone, ${o.backend} (${o.push ? 'push' : `poll ${o.poll} ms`}) | — | ${fmt(o.p50)} / ${fmt(o.p99)} ms | ` +
      `${(o.p50 / refreshP50).toFixed(2)}× <sub>(flagstone p50 seen ÷ Unleash p50 refresh; above 1: flagstone slower)</sub> |`,
  ),
]
const table = [
  '### The peer: how long the Unleash Node SDK takes to take in one change (benchmarks/scale-unleash.ts)',
  '',
  `${N.toLocaleString('en')} flags (one strategy with one \`IN\` constraint each; ${(bytes / 1e6).toFixed(1)} MB of JSON) served by a local ` +
    `HTTP stub of \`/api/client/features\` (loopback, ETag and 304 like Unleash's server). ${refresh.length} changes, one flag toggled ` +
    `each, at a random moment of the SDK's poll cycle. First load: ${fmt(firstLoad)} ms.`,
  '',
  '| client | refresh: request for the changed set → `isEnabled` answers it, p50 / p99 | change → seen, p50 / p99 | per-change cost, flagstone ÷ Unleash |',
  '| --- | ---: | ---: | ---: |',
  ...rows,
  '',
  '- Unleash has no push in this mode: a change waits for the next poll (here every ' +
    `${REFRESH} ms; its default is 15 s), then costs one full fetch + parse + install of every flag, growing with N. ` +
    "flagstone's column is from the scale table at the same N (from the write call until the other process installed it); " +
    'its ratio divides the whole flagstone change latency by only the refresh part of Unleash (waiting for the poll excluded), ' +
    'so it is the fair side for Unleash.',
  ...(problems.length === 0 ? [] : [`- SDK errors during the run: ${problems.slice(0, 3).join('; ')}`]),
].join('\n')
if (WRITE) writeSection('scale-unleash', table)
console.log(table)

function unleashVersion(): string {
  return (createRequire(import.meta.url)('unleash-client/package.json') as { version: string }).version
}
