/**
 * Change propagation between processes: this process writes through its repository, a child
 * process (fixtures/client-watcher.ts) runs a FlagClient on the same backend and reports when its
 * client has installed each change. Latency = the child's installation time − the moment the write
 * call returned here (the revision is bumped inside that call, just before it returns). Both sides
 * read `performance.timeOrigin + performance.now()`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import type { FeatureFlag } from '../../../src/flags/model.js'
import { StoreFlagRepository } from '../../../src/flags/repositories/store-repository.js'
import { createStore } from '../../../src/index.js'
import { clusterAvailable, RedisCluster } from '../../helpers/redis-cluster.js'
import { DATABASE_URL, randomNamespace, REDIS_URL, serviceAvailable, sleep } from '../../helpers/services.js'
import { input, preciseNow } from './fixtures/client-helpers.js'

const FIXTURE = new URL('./fixtures/client-watcher.ts', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'flagstone-propagation-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Line {
  event: 'ready' | 'change'
  at: number
  wall: number
  revision: number
  value: number
  watching: boolean
}

class Watcher {
  readonly lines: Line[] = []
  #waiters = new Set<() => void>()
  #stderr = ''
  readonly #exited: Promise<number | null>

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (text) => {
      this.lines.push(JSON.parse(text) as Line)
      for (const wake of this.#waiters) wake()
    })
    child.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()))
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  }

  static start(url: string, namespace: string, pollInterval: number, flagKey: string): Watcher {
    return new Watcher(
      spawn(process.execPath, ['--import', 'tsx', FIXTURE, url, namespace, String(pollInterval), flagKey], { stdio: 'pipe' }),
    )
  }

  /** The first line (from index `from` on) that satisfies `match`. */
  next(match: (line: Line) => boolean, timeout: number, from = 0): Promise<Line> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const found = this.lines.slice(from).find(match)
        if (found === undefined) return false
        this.#waiters.delete(look)
        clearTimeout(timer)
        resolve(found)
        return true
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(look)
        reject(new Error(`child did not report in ${timeout} ms; stderr: ${this.#stderr}`))
      }, timeout)
      if (!look()) this.#waiters.add(look)
    })
  }

  async stop(): Promise<void> {
    this.child.stdin.end()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await this.#exited
    clearTimeout(timer)
  }

  get stderr(): string {
    return this.#stderr
  }
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number
const fmt = (ms: number) => ms.toFixed(1)

interface Round {
  /** Child installed it − the write call returned here. */
  p50: number
  p99: number
  max: number
  /** The same, measured from just before the write call (so including the write itself). */
  fromCall: { p50: number; p99: number; max: number }
}

interface Options {
  pollInterval: number
  /** Changes per round. */
  changes: number
  /** Pause a random part of `pollInterval` before each write, so writes land at every phase of a polling child's cycle. */
  randomPause: boolean
  /** Whether a round's latencies meet the claim. */
  holds: (round: Round) => boolean
  /**
   * Rounds to try before giving up. The claim is about the client, but a 2-core machine shared with
   * other test workers (and other people's test runs) can stall any process for tens of ms; a
   * client that is actually slow (say push broken, so changes wait for the 1 s poll) fails every
   * round.
   */
  maxRounds: number
}

/**
 * Changes the number flag `counter` one change at a time, each after the child saw the previous
 * one, in rounds of `changes`, until a round meets `holds` (or `maxRounds` were made). Every round
 * is printed.
 */
async function propagation(name: string, url: string, options: Options): Promise<{ rounds: Round[]; watching: boolean }> {
  const namespace = randomNamespace()
  const store = await createStore(url, { namespace })
  const repository = new StoreFlagRepository(store)
  let flag: FeatureFlag = await repository.createFlag(input({ key: 'counter', type: 'number', defaultValue: 0 }))
  const child = Watcher.start(url, namespace, options.pollInterval, 'counter')
  const rounds: Round[] = []
  try {
    const ready = await child.next((l) => l.event === 'ready', 20_000)
    expect(ready.value).toBe(0)
    let value = 0
    while (rounds.length < options.maxRounds) {
      const fromReturn: number[] = []
      const fromCall: number[] = []
      for (let i = 0; i < options.changes; i++) {
        if (options.randomPause) await sleep(Math.random() * options.pollInterval)
        const next = ++value
        const from = child.lines.length
        const t0 = preciseNow()
        flag = await repository.updateFlag('counter', { ...input(flag), defaultValue: next }, flag.version)
        const t1 = preciseNow()
        const seen = await child.next((l) => l.value === next, 5_000, from)
        fromReturn.push(seen.at - t1)
        fromCall.push(seen.at - t0)
      }
      const a = [...fromReturn].sort((x, y) => x - y)
      const b = [...fromCall].sort((x, y) => x - y)
      const round: Round = {
        p50: percentile(a, 50),
        p99: percentile(a, 99),
        max: a[a.length - 1] as number,
        fromCall: { p50: percentile(b, 50), p99: percentile(b, 99), max: b[b.length - 1] as number },
      }
      rounds.push(round)
      const slowest = fromReturn
        .map((ms, i) => [i + 1, ms] as const)
        .sort((x, y) => y[1] - x[1])
        .slice(0, 3)
        .map(([i, ms]) => `#${i} ${fmt(ms)}`)
      console.log(
        `propagation ${name}, round ${rounds.length} (${options.changes} changes, ${ready.watching ? 'push + ' : ''}poll ${options.pollInterval} ms): ` +
          `write returned → child saw it: p50 ${fmt(round.p50)} ms, p99 ${fmt(round.p99)} ms, max ${fmt(round.max)} ms; ` +
          `from the write call: p50 ${fmt(round.fromCall.p50)}, p99 ${fmt(round.fromCall.p99)}, max ${fmt(round.fromCall.max)} ms; ` +
          `slowest: ${slowest.join(', ')} ms`,
      )
      if (options.holds(round)) break
    }
    // Every change was seen, in order, once each (coalescing never swallowed the last write).
    const values = child.lines.filter((l) => l.event === 'change').map((l) => l.value)
    expect(values).toEqual(Array.from({ length: value }, (_, k) => k + 1))
    expect(child.stderr).toBe('')
    return { rounds, watching: ready.watching }
  } finally {
    await child.stop()
    await store.deleteAll()
    await store.close()
  }
}

// Behaviour, not speed (benchmarks measure latency): with polling every 10 s, a change seen within
// 2 s can only have come by push. The SQLite client must see each change within one poll interval
// plus a margin a loaded 2-core machine always meets.
const PUSH_POLL_MS = 10_000
const PUSH_BOUND_MS = 2_000

describe.runIf(await serviceAvailable('Redis', REDIS_URL))('change propagation across processes: redis (pub/sub)', () => {
  it(`100 changes, each seen by push within ${PUSH_BOUND_MS} ms`, async () => {
    const holds = (r: Round) => r.max <= PUSH_BOUND_MS
    const { rounds, watching } = await propagation('redis', REDIS_URL, {
      pollInterval: PUSH_POLL_MS,
      changes: 100,
      randomPause: false,
      holds,
      maxRounds: 1,
    })
    expect(watching).toBe(true)
    expect(rounds.every(holds), `max per round: ${rounds.map((r) => fmt(r.max)).join(', ')} ms`).toBe(true)
  }, 60_000)
})

describe.runIf(await clusterAvailable())('change propagation across processes: redis cluster (sharded pub/sub)', () => {
  let cluster: RedisCluster | undefined
  afterAll(async () => {
    await cluster?.stop()
  })
  it(`100 changes, each seen by push within ${PUSH_BOUND_MS} ms`, async () => {
    cluster = await RedisCluster.start()
    const holds = (r: Round) => r.max <= PUSH_BOUND_MS
    const { rounds, watching } = await propagation('redis-cluster', cluster.url, {
      pollInterval: PUSH_POLL_MS,
      changes: 100,
      randomPause: false,
      holds,
      maxRounds: 1,
    })
    expect(watching).toBe(true)
    expect(rounds.every(holds), `max per round: ${rounds.map((r) => fmt(r.max)).join(', ')} ms`).toBe(true)
  }, 90_000)
})

describe.runIf(await serviceAvailable('PostgreSQL', DATABASE_URL))(
  'change propagation across processes: postgres (LISTEN/NOTIFY)',
  () => {
    it(`100 changes, each seen by push within ${PUSH_BOUND_MS} ms`, async () => {
      const holds = (r: Round) => r.max <= PUSH_BOUND_MS
      const { rounds, watching } = await propagation('postgres', DATABASE_URL, {
        pollInterval: PUSH_POLL_MS,
        changes: 100,
        randomPause: false,
        holds,
        maxRounds: 1,
      })
      expect(watching).toBe(true)
      expect(rounds.every(holds), `max per round: ${rounds.map((r) => fmt(r.max)).join(', ')} ms`).toBe(true)
    }, 60_000)
  },
)

describe('change propagation across processes: sqlite file (polling)', () => {
  it('100 changes, every one visible within one poll interval plus a generous margin', async () => {
    const pollInterval = 200
    // The worst case is a write landing just after a revision check: it waits a whole interval,
    // then one check and one load. The margin is for a loaded machine; the benchmark measures it.
    const holds = (r: Round) => r.max <= pollInterval + 2_000
    const url = `sqlite://${join(dir, 'propagation.sqlite')}`
    const { rounds, watching } = await propagation('sqlite', url, {
      pollInterval,
      changes: 100,
      randomPause: true,
      holds,
      maxRounds: 1,
    })
    expect(watching).toBe(false)
    expect(rounds.every(holds), `max per round: ${rounds.map((r) => fmt(r.max)).join(', ')} ms`).toBe(true)
  }, 90_000)
})
