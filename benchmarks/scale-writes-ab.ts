/**
 * The write path before and after group commit, in one run (ratios are the result on a shared
 * machine): `createFlag` then `updateFlag` at 32 in flight through main's repository
 * (`FLAGSTONE_MAIN`, default /work/main: a checkout of the commit before) and this tree's, on
 * the same store, alternating which goes first, 3 rounds of SCALE_WRITES (default 2000) each.
 * Run: `npx tsx benchmarks/scale-writes-ab.ts`. Env: SCALE_BACKENDS (default `sqlite,redis,postgres`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createStore, StoreFlagRepository } from '../src/index.js'
import { draft, median, pool, storeUrl } from './scale-lib.js'

const MAIN = process.env.FLAGSTONE_MAIN ?? '/work/main'
const BACKENDS = (process.env.SCALE_BACKENDS ?? 'sqlite,redis,postgres').split(',')
const WRITES = Number(process.env.SCALE_WRITES ?? 2000)
const before = (await import(pathToFileURL(join(MAIN, 'src/index.ts')).href)) as {
  StoreFlagRepository: typeof StoreFlagRepository
}
const dir = mkdtempSync(join(tmpdir(), 'flagstone-ab-'))
type Repo = Pick<StoreFlagRepository, 'createFlag' | 'updateFlag'>

async function rates(repo: Repo, tag: string): Promise<[number, number]> {
  let t = performance.now()
  await pool(WRITES, 32, (i) => repo.createFlag(draft(`${tag}-${i}`)))
  const create = WRITES / ((performance.now() - t) / 1000)
  t = performance.now()
  await pool(WRITES, 32, (i) => repo.updateFlag(`${tag}-${i}`, draft(`${tag}-${i}`, 'u'), 1))
  return [create, WRITES / ((performance.now() - t) / 1000)]
}

const rows: string[] = []
for (const backend of BACKENDS) {
  const url = storeUrl(backend, join(dir, 'ab.sqlite'))
  const results = { before: [] as Array<[number, number]>, after: [] as Array<[number, number]> }
  for (let round = 0; round < 3; round++) {
    for (const side of round % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
      const store = await createStore(url, { namespace: `ab${Date.now()}${side}` })
      // main's repository class on this tree's store: the store layer is the same code but for the Postgres batching
      const Repository = side === 'before' ? before.StoreFlagRepository : StoreFlagRepository
      const repo = new Repository(store.withNamespace('flags') as never) as Repo
      await rates(repo, `warm${round}`)
      results[side].push(await rates(repo, `r${round}`))
      await store.deleteAll()
      await store.close()
    }
  }
  const m = (side: 'before' | 'after', i: 0 | 1) => median(results[side].map((r) => r[i]))
  const row = (name: string, i: 0 | 1) =>
    `| ${backend} | ${name} | ${Math.round(m('before', i)).toLocaleString('en')}/s | ${Math.round(m('after', i)).toLocaleString('en')}/s | ${(m('after', i) / m('before', i)).toFixed(2)}× |`
  rows.push(row('createFlag', 0), row('updateFlag', 1))
  console.log(rows.slice(-2).join('\n'))
}
rmSync(dir, { recursive: true, force: true })
console.log(
  ['', '| backend | write | before (main) | after (group commit) | ratio |', '| --- | --- | ---: | ---: | ---: |', ...rows].join(
    '\n',
  ),
)
