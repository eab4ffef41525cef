/**
 * Two processes × 200 concurrent read-modify-write updates (issue 9), on SQLite, Redis and
 * PostgreSQL: every one of the 400 changes is stored, each as its own revision, and every client
 * (one in each writer process, one here) converges on exactly what is stored.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { FlagClient } from '../../../src/flags/client/client.js'
import { compileSnapshot } from '../../../src/flags/evaluation/evaluate.js'
import { StoreFlagRepository } from '../../../src/flags/repositories/store-repository.js'
import { createStore } from '../../../src/index.js'
import { DATABASE_URL, randomNamespace, REDIS_URL, serviceAvailable, sleep } from '../../helpers/services.js'
import { clientView } from './fixtures/client-view.js'

const WRITER = fileURLToPath(new URL('./fixtures/concurrent-writer.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'flagstone-writers-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const UPDATES = 200
const FLAGS = 20

class Writer {
  readonly lines: Array<Record<string, unknown>> = []
  #stderr = ''
  #wake = new Set<() => void>()
  readonly exited: Promise<number | null>

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (text) => {
      this.lines.push(JSON.parse(text) as Record<string, unknown>)
      for (const wake of this.#wake) wake()
    })
    child.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()))
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  }

  line(field: string, timeout: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const found = this.lines.find((l) => field in l)
        if (found === undefined) return false
        clearTimeout(timer)
        this.#wake.delete(look)
        resolve(found)
        return true
      }
      const timer = setTimeout(() => {
        this.#wake.delete(look)
        reject(new Error(`writer printed no "${field}" within ${timeout} ms; stderr: ${this.#stderr}`))
      }, timeout)
      void this.exited.then((code) => {
        if (!look()) reject(new Error(`writer exited (${code}) without "${field}"; stderr: ${this.#stderr}`))
      })
      if (!look()) this.#wake.add(look)
    })
  }
}

function writersSuite(name: string, url: string, available: boolean): void {
  describe.runIf(available)(`two writer processes: ${name}`, () => {
    it(`2 × ${UPDATES} concurrent updates: all ${2 * UPDATES} changes stored, one revision each, every client converged`, async () => {
      const root = randomNamespace('writers')
      const store = await createStore(url, { namespace: root })
      const repo = new StoreFlagRepository(store.withNamespace('flags'))
      const client = new FlagClient({ repository: repo, pollInterval: 200, onError: () => undefined })
      const writers: Writer[] = []
      try {
        for (let j = 0; j < FLAGS; j++) await repo.createFlag({ key: `f${j}`, type: 'boolean' })
        await client.ready()
        const start = await repo.revision()
        for (const label of ['a', 'b']) {
          const args = ['--import', 'tsx', WRITER, url, root, label, String(UPDATES), String(FLAGS)]
          writers.push(new Writer(spawn(process.execPath, args, { stdio: 'pipe' })))
        }
        const done = await Promise.all(writers.map((w) => w.line('done', 240_000)))
        console.info(`${name}: ${done.map((d) => String(d.conflicts)).join(' + ')} CONFLICT retries`)

        // Every update stored: each flag has all of its updates, each one a version and a revision.
        const flags = await repo.listFlags()
        for (let j = 0; j < FLAGS; j++) {
          const flag = flags.find((f) => f.key === `f${j}`)
          const expected = ['a', 'b'].flatMap((label) =>
            Array.from({ length: UPDATES }, (_, i) => i).flatMap((i) => (i % FLAGS === j ? [`${label}${i}`] : [])),
          )
          expect(Object.keys(flag?.metadata ?? {}).sort()).toEqual(expected.sort())
          expect(flag?.version).toBe(1 + expected.length)
        }
        const stored = await repo.revision()
        expect(stored - start).toBe(2 * UPDATES)

        // Every client converged on exactly that.
        const expected = clientView(compileSnapshot(await repo.loadSnapshot()))
        for (const w of writers) w.child.stdin.write('converge\n')
        const reports = await Promise.all(writers.map((w) => w.line('view', 60_000)))
        for (const report of reports) {
          expect(report.revision).toBe(stored)
          expect(report.view).toEqual(expected)
        }
        const deadline = Date.now() + 30_000
        while (client.revision !== stored && Date.now() < deadline) await sleep(10)
        expect(client.revision).toBe(stored)
        expect(clientView(client.snapshot)).toEqual(expected)
        expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0])
      } finally {
        for (const w of writers) if (w.child.exitCode === null) w.child.kill('SIGKILL')
        await client.close()
        await store.deleteAll()
        await store.close()
      }
    }, 300_000)
  })
}

writersSuite('sqlite', `sqlite://${join(dir, 'writers.sqlite')}`, true)
writersSuite('redis', REDIS_URL, await serviceAvailable('Redis', REDIS_URL))
writersSuite('postgres', DATABASE_URL, await serviceAvailable('PostgreSQL', DATABASE_URL))
