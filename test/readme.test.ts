/** Every ```ts block of README.md runs, as a user would run it (importing 'flagstone'). */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { startServer } from '../src/server.js'
import { clusterAvailable, RedisCluster } from './helpers/redis-cluster.js'
import { REDIS_URL, serviceAvailable } from './helpers/services.js'
import { createLogger } from '../src/observability/index.js'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname
const readme = readFileSync(join(root, 'README.md'), 'utf8')
// A block that imports flagstone/testing is a vitest test file: test/readme-driver.test.ts runs it.
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
  .map((m) => m[1] ?? '')
  .filter((code) => !code.includes("'flagstone/testing'"))
const redis = await serviceAvailable('Redis', REDIS_URL)
// The Redis Cluster example runs on a throwaway cluster, started for it only.
const clusterExample = (code: string) => code.includes('redis+cluster://')
const withCluster = blocks.some(clusterExample) && (await clusterAvailable())
let cluster: RedisCluster | undefined
afterAll(async () => {
  await cluster?.stop()
})
const cwd = mkdtempSync(join(tmpdir(), 'flagstone-readme-'))
mkdirSync(join(root, '.tmp'), { recursive: true }) // gitignored: absent on a fresh clone
afterAll(() => rmSync(cwd, { recursive: true, force: true }))

/**
 * What each example must print, found by a line of its code: the README's comments promise these
 * outputs, so a drifting API or a wrong comment fails here.
 */
const PRINTS: Array<[marker: string, expected: Array<string | RegExp>]> = [
  // Before 'new FlagClient(': the first marker a block holds wins.
  ["key: 'banner', type: 'string'", ['[ \'banner\' ]\ngreen\n{"revision":', ',"changed":[{"kind":"flag","key":"banner"}]}\n']],
  ["sessions.set('abc'", ['{ user: 42 }']],
  ["sessions.set('s1'", ['<Buffer 00 ff>', /\n(hits\nleader|leader\nhits)\n/, '1 true false']],
  ['registry.names()', ["[ 'sessions', 'rate_limit' ]"]],
  ['new FlagClient(', [/^true\n/, /\ntrue\n$/]],
  ["key: 'search-v2'", [/^0% [45]\.\d+% 2[4-6]\.\d+% 100% 0%\n$/]],
  [
    "key: 'dark-mode'",
    [
      "{ value: true, source: 'development' } { value: 50, source: 'staging' }",
      "field: 'percentage', before: undefined, after: 50",
    ],
  ],
  ['new FlagstoneProvider(', [/^true\nDEFAULT\n$/]],
  ['sessions.capabilities.atomicWrites', [/^false\n\[ 'checkout' \]\n$/]],
  ['observeStore(', ["'memory set ok' => 1", "'memory get ok' => 2"]],
  ['app.use(adminUi(', [/^default-src 'self'\n401\n$/]],
  ["requireFlag('new-checkout')", [/^404\n201 "1"\n200 \{ checkout: 'new', visits: 1, plan: 'free' \} 9\d\n$/]],
]

describe('README examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThan(2))

  blocks.forEach((code, i) => {
    const title = `block ${i + 1}: ${code
      .split('\n')
      .find((l) => l.trim() && !l.startsWith('import'))
      ?.trim()}`
    it.runIf(clusterExample(code) ? withCluster : redis || !code.includes('redis://'))(
      title,
      async () => {
        if (clusterExample(code)) cluster ??= await RedisCluster.start()
        // Written inside the package so that `import … from 'flagstone'` resolves through its exports map
        // (to the sources, via the 'flagstone-source' condition); run from a scratch directory.
        const file = join(root, '.tmp', `readme-${i}.ts`)
        writeFileSync(file, code)
        const { stdout } = await run(
          process.execPath,
          ['--conditions=flagstone-source', '--import', import.meta.resolve('tsx'), file],
          {
            cwd,
            env: { ...process.env, REDIS_URL, ...(cluster === undefined ? {} : { REDIS_CLUSTER_URL: cluster.url }) },
            timeout: 60_000,
          },
        )
        const expectations = PRINTS.find(([marker]) => code.includes(marker))
        expect(expectations, 'every README example has its expected output listed in PRINTS').toBeDefined()
        for (const expected of expectations?.[1] ?? []) {
          if (typeof expected === 'string') expect(stdout).toContain(expected)
          else expect(stdout).toMatch(expected)
        }
      },
      90_000,
    )
  })
})

describe('README curl calls', () => {
  it('the OFREP call answers as its comment says', async () => {
    const token = 'readme-ofrep-token-0001'
    const server = await startServer({
      storeUrl: 'memory:',
      port: 0,
      host: '127.0.0.1',
      adminToken: 'readme-admin-token-0001',
      ofrepTokens: [{ token, environment: 'production' }],
      logger: createLogger({ level: 'silent' }),
    })
    try {
      const command = /curl [^\n]*OFREP_TOKEN[^\n]*\\\n[^\n]*/.exec(readme)?.[0]
      expect(command).toBeDefined()
      const { stdout } = await run('sh', ['-c', command!.replace('http://localhost:3000', server.url)], {
        env: { ...process.env, OFREP_TOKEN: token },
        timeout: 30_000,
      })
      expect(JSON.parse(stdout)).toMatchObject({ key: 'demo', value: false, reason: 'STATIC', metadata: { flagType: 'boolean' } })
    } finally {
      await server.close()
    }
  }, 60_000)
})
