/**
 * Flag plane at scale (issue 9). On each backend, with N flags (one rule each):
 *   load    full snapshot load (`loadSnapshot`, median of 3) on a second store instance; and, in a
 *           separate follower process, `FlagClient.ready()` and the client's heap per flag
 *   change  one `updateFlag` here until the follower process's client has installed it (p50/p99)
 *   write   `createFlag` and `updateFlag` at 32 in flight (nobody following)
 * The N flags are seeded through the store in bulk (scale-lib.ts `seed`), not through createFlag.
 *
 * Run: `npx tsx benchmarks/scale.ts`. Env:
 *   SCALE_SIZES     default `100,1000,10000`; `100000` alone takes ~15 minutes on the loaded 2-core machine;
 *                   empty (`SCALE_SIZES=`): measure nothing, re-render the table from scale-results.json
 *   SCALE_BACKENDS  default `memory,sqlite,redis,postgres` (also `mysql`)
 *   SCALE_ONLY      any of `load,change,write` (default all): e.g. `SCALE_ONLY=change` re-runs only the change rows
 *   SCALE_CHANGES   changes per cell (default 50), SCALE_CHANGE_BUDGET_MS time per cell for them (default 20000)
 *   SCALE_WRITES    createFlag calls per cell (default 2000); updateFlag calls are min(that, N)
 *   SCALE_POLL_MS   the SQLite follower's poll interval (default 100)
 *   BENCH_NO_WRITE=1  do not touch scale-results.json / BENCHMARKS.md
 * Each run merges the cells it measured into benchmarks/scale-results.json and re-renders the
 * whole table from it, so a partial run (one metric, one backend) keeps the other cells.
 */
import { execSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { FlagClient, type Store, StoreFlagRepository } from '../src/index.js'
import { writeSection } from './report.js'
import {
  type CellResult,
  draft,
  flagKey,
  median,
  openStore,
  percentile,
  pool,
  preciseNow,
  readResults,
  seed,
  storeUrl,
  writeResults,
} from './scale-lib.js'
import { renderTable } from './scale-table.js'

const SIZES = (process.env.SCALE_SIZES ?? '100,1000,10000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0)
const BACKENDS = (process.env.SCALE_BACKENDS ?? 'memory,sqlite,redis,postgres').split(',')
const ONLY = new Set((process.env.SCALE_ONLY ?? 'load,change,write').split(','))
const CHANGES = Number(process.env.SCALE_CHANGES ?? 50)
const CHANGE_BUDGET = Number(process.env.SCALE_CHANGE_BUDGET_MS ?? 20_000)
const WRITES = Number(process.env.SCALE_WRITES ?? 2000)
const SQLITE_POLL = Number(process.env.SCALE_POLL_MS ?? 100)
/** Push backends: polling this rarely, a change seen sooner came by push. */
const PUSH_POLL = 60_000
const WRITE = process.env.BENCH_NO_WRITE !== '1'
const FOLLOWER = fileURLToPath(new URL('./scale-follower.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'flagstone-scale-'))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Line {
  event: 'ready' | 'change'
  revision: number
  at: number
  ready?: number
  heapPerFlag?: number
  watching?: boolean
}

/** The client that follows the changes: a separate process, or (memory) a client in this one. */
class Follower {
  readonly lines: Line[] = []
  #wake = new Set<() => void>()
  #stderr = ''
  #stop: () => Promise<void> = async () => undefined

  push(line: Line): void {
    this.lines.push(line)
    for (const wake of this.#wake) wake()
  }

  static process(url: string, namespace: string, poll: number, n: number): Follower {
    const follower = new Follower()
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', FOLLOWER, url, namespace, String(poll), String(n)], {
      stdio: 'pipe',
    })
    createInterface({ input: child.stdout }).on('line', (text) => follower.push(JSON.parse(text) as Line))
    child.stderr.on('data', (chunk: Buffer) => (follower.#stderr += chunk.toString()))
    const exited = new Promise<void>((resolve) =>
      child.once('exit', (code) => {
        follower.#stderr += `\n(follower exited with ${code})`
        follower.push({ event: 'exit' as 'change', revision: -1, at: preciseNow() })
        resolve()
      }),
    )
    follower.#stop = async () => {
      child.stdin.end()
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    return follower
  }

  static async inProcess(repository: StoreFlagRepository): Promise<Follower> {
    const follower = new Follower()
    const client = new FlagClient({ repository, pollInterval: PUSH_POLL, readyTimeout: Infinity })
    client.on('change', (revision) => follower.push({ event: 'change', revision, at: preciseNow() }))
    const started = performance.now()
    await client.ready()
    follower.push({ event: 'ready', revision: client.revision ?? 0, at: preciseNow(), ready: performance.now() - started })
    follower.#stop = () => client.close()
    return follower
  }

  next(match: (line: Line) => boolean, timeout: number, from = 0): Promise<Line> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const found = this.lines.slice(from).find(match)
        if (found === undefined && this.lines.some((l) => l.revision === -1)) {
          clearTimeout(timer)
          this.#wake.delete(look)
          reject(new Error(`follower exited: ${this.#stderr}`))
          return true
        }
        if (found === undefined) return false
        this.#wake.delete(look)
        clearTimeout(timer)
        resolve(found)
        return true
      }
      const timer = setTimeout(() => {
        this.#wake.delete(look)
        reject(new Error(`follower did not report within ${timeout} ms; stderr: ${this.#stderr}`))
      }, timeout)
      if (!look()) this.#wake.add(look)
    })
  }

  stop(): Promise<void> {
    return this.#stop()
  }
}

const commit = (() => {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
})()
const stamp = `${commit}, ${new Date().toISOString().slice(0, 16)}Z`

async function cell(backend: string, n: number): Promise<CellResult> {
  const result: CellResult = { measured: {} }
  const namespace = `scale${Date.now()}${Math.floor(Math.random() * 1e6)}`
  const url = backend === 'memory' ? '' : storeUrl(backend, join(dir, `${namespace}.sqlite`))
  const a: Store = await openStore(backend, url, namespace)
  const b: Store = backend === 'memory' ? a : await openStore(backend, url, namespace)
  const writer = new StoreFlagRepository(a.withNamespace('flags'))
  const reader = new StoreFlagRepository(b.withNamespace('flags'))
  const log = (what: string) => console.log(`  ${backend} ${n.toLocaleString('en')}: ${what}`)
  try {
    let t = performance.now()
    await seed(a.withNamespace('flags'), n)
    log(`seeded in ${(performance.now() - t).toFixed(0)} ms`)
    if (ONLY.has('load')) {
      const loads: number[] = []
      for (let i = 0; i < 3; i++) {
        t = performance.now()
        const snapshot = await reader.loadSnapshot()
        loads.push(performance.now() - t)
        if (snapshot.flags.length !== n) throw new Error(`snapshot has ${snapshot.flags.length} flags, not ${n}`)
      }
      result.load = median(loads)
      result.measured!.load = stamp
      log(`load ${loads.map((x) => x.toFixed(0)).join(', ')} ms`)
    }
    if (ONLY.has('load') || ONLY.has('change')) {
      // SQLite and MySQL have no push: their follower polls (at a 60 s poll a MySQL change took 30–50 s).
      const poll = backend === 'sqlite' || backend === 'mysql' ? SQLITE_POLL : PUSH_POLL
      const follower = backend === 'memory' ? await Follower.inProcess(reader) : Follower.process(url, namespace, poll, n)
      try {
        const ready = await follower.next((l) => l.event === 'ready', 600_000)
        if (ONLY.has('load')) {
          result.ready = ready.ready
          if (backend !== 'memory') result.heapPerFlag = ready.heapPerFlag
          log(`follower ready in ${ready.ready?.toFixed(0)} ms, ${ready.heapPerFlag?.toFixed(0) ?? '-'} B/flag`)
        }
        if (ONLY.has('change')) {
          result.change = await changes(writer, follower, n, poll, backend === 'memory' || ready.watching === true)
          result.measured!.change = stamp
          log(`change p50 ${result.change.p50.toFixed(1)} ms, p99 ${result.change.p99.toFixed(1)} ms (${result.change.samples})`)
        }
      } finally {
        await follower.stop()
      }
    }
    if (ONLY.has('write')) {
      t = performance.now()
      await pool(WRITES, 32, (i) => writer.createFlag(draft(`new-${i}`)))
      result.create = WRITES / ((performance.now() - t) / 1000)
      const updates = Math.min(WRITES, n)
      const versions = await Promise.all(Array.from({ length: updates }, (_, i) => writer.getFlag(flagKey(i))))
      t = performance.now()
      await pool(updates, 32, (i) => writer.updateFlag(flagKey(i), draft(flagKey(i), 'updated'), versions[i]?.version ?? 1))
      result.update = updates / ((performance.now() - t) / 1000)
      result.measured!.write = stamp
      log(`createFlag ${result.create.toFixed(0)}/s, updateFlag ${result.update.toFixed(0)}/s`)
    }
  } finally {
    await a.withNamespace('flags').deleteAll()
    await a.close()
    if (b !== a) await b.close()
  }
  return result
}

/** One updateFlag at a time, each after the follower installed the previous one. */
async function changes(writer: StoreFlagRepository, follower: Follower, n: number, poll: number, push: boolean) {
  const samples: number[] = []
  const started = performance.now()
  for (let c = 0; c < CHANGES && performance.now() - started < CHANGE_BUDGET; c++) {
    // Writes land at every phase of a polling follower's cycle.
    await sleep(push ? Math.random() * 5 : Math.random() * poll)
    const key = flagKey((c * 7919) % n)
    const current = await writer.getFlag(key)
    const from = follower.lines.length
    const t0 = preciseNow()
    await writer.updateFlag(key, draft(key, `changed-${c}`), current?.version ?? 1)
    const target = await writer.revision()
    const seen = await follower.next((l) => l.event === 'change' && l.revision >= target, 600_000, from)
    samples.push(seen.at - t0)
  }
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
    samples: samples.length,
    poll: push ? PUSH_POLL : poll,
    push,
  }
}

console.log(
  `scale: sizes ${SIZES.join(', ')}; backends ${BACKENDS.join(', ')}; ${[...ONLY].join(', ')}; load ${loadavg()[0]?.toFixed(2)}`,
)
const results = readResults()
for (const backend of BACKENDS) {
  for (const n of SIZES) {
    const measured = await cell(backend, n)
    const key = `${backend}:${n}`
    const previous = results[key] ?? {}
    results[key] = { ...previous, ...measured, measured: { ...previous.measured, ...measured.measured } }
    if (WRITE) writeResults(results)
  }
}
rmSync(dir, { recursive: true, force: true })
const table = renderTable(results, { sqlitePoll: SQLITE_POLL, writes: WRITES })
if (WRITE) writeSection('scale', table)
console.log(table)
console.log(
  `load average at the end: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
)
