/**
 * Crash safety of the repository's write path (issue 9), on SQLite, Redis and PostgreSQL:
 * - a child process writing a sequence (fixtures/crash-sequence.ts) is SIGKILLed at every step of
 *   every write in turn (its read, its atomic, its push: with the call on its way), and after random delays; each time, a
 *   client that followed from before must reach the stored revision by polling and then hold
 *   exactly what is stored: no change is stored without being announced.
 * - a failed atomic write at any step leaves the previous documents and revision as they were.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { FlagClient } from '../../../src/flags/client/client.js'
import { type CompiledSnapshot, compileSnapshot, evaluate } from '../../../src/flags/evaluation/evaluate.js'
import { StoreFlagRepository } from '../../../src/flags/repositories/store-repository.js'
import { createStore } from '../../../src/index.js'
import { DATABASE_URL, randomNamespace, REDIS_URL, serviceAvailable, sleep } from '../../helpers/services.js'
import { wrapStore } from '../../helpers/store-wrappers.js'
import { SEQUENCE } from './fixtures/crash-sequence.js'

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'flagstone-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
/** The follower's poll interval; push (Redis, Postgres) may come sooner, a killed writer may never push. */
const POLL = 200

/** What a client serves, in comparable form: documents by key and version, and each flag's answer for an overridden subject. */
function view(snapshot: CompiledSnapshot | undefined) {
  if (snapshot === undefined) return undefined
  const flags = [...snapshot.flags.values()].map((f) => `${f.key}@${f.version}:${f.status}:${f.name}`).sort()
  const answers = [...snapshot.flags.keys()].sort().map((key) => {
    const result = evaluate(snapshot, key, 'boolean', false, { userId: 'u1' })
    return `${key}=${String(result.value)}/${result.reason}`
  })
  return {
    flags,
    answers,
    segments: [...snapshot.segments.keys()].sort(),
    environments: [...snapshot.environments.keys()].sort(),
    environmentFlags: [...snapshot.environmentFlags.entries()].flatMap(([k, m]) => [...m.keys()].map((e) => `${k}/${e}`)).sort(),
  }
}

interface Run {
  child: ChildProcessWithoutNullStreams
  lines: Array<Record<string, unknown>>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stderr: () => string
}

function writer(url: string, root: string, mode: 'sent' | 'run', n = 0): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, url, root, mode, String(n)], { stdio: 'pipe' })
  const lines: Array<Record<string, unknown>> = []
  let stderr = ''
  createInterface({ input: child.stdout }).on('line', (text) => lines.push(JSON.parse(text) as Record<string, unknown>))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  return { child, lines, exited, stderr: () => stderr }
}

/**
 * One crash: a client follows an empty repository, `start` runs (and kills) a writer; then the
 * client must reach the stored revision and serve exactly the stored documents. Returns the revision.
 */
async function crashOnce(url: string, start: (root: string) => Promise<void>): Promise<number> {
  const root = randomNamespace('crash')
  const store = await createStore(url, { namespace: root })
  const repo = new StoreFlagRepository(store.withNamespace('flags'))
  const client = new FlagClient({ repository: repo, pollInterval: POLL, onError: () => undefined })
  try {
    await client.ready()
    await start(root)
    const stored = await repo.revision()
    // Reached by polling the revision (the full refresh is 300 s away): bounded generously for a loaded machine.
    const deadline = Date.now() + POLL + 10_000
    while ((client.revision ?? 0) !== stored && Date.now() < deadline) await sleep(10)
    expect(client.revision ?? 0, 'the client did not reach the stored revision').toBe(stored)
    expect(view(client.snapshot), `at revision ${stored}`).toEqual(view(compileSnapshot(await repo.loadSnapshot())))
    return stored
  } finally {
    await client.close()
    await store.deleteAll()
    await store.close()
  }
}

function crashSuite(name: string, url: string, available: boolean): void {
  describe.runIf(available)(`crash safety: ${name}`, () => {
    it('a writer SIGKILLed at each step of each write, and after random delays, never leaves a change unannounced', async () => {
      // A clean run first: how many store calls the sequence makes, and that it runs at all.
      let calls = 0
      await crashOnce(url, async (root) => {
        const run = writer(url, root, 'run')
        const { code } = await run.exited
        expect(code, run.stderr()).toBe(0)
        calls = Number(run.lines.find((l) => 'calls' in l)?.calls)
      })
      expect(calls).toBeGreaterThan(SEQUENCE.length)
      const revisions = new Set<number>()
      // Every step in turn, three children at a time (each its own namespace and client).
      const points = Array.from({ length: calls }, (_, i) => i + 1)
      const kill = async (n: number) => {
        const revision = await crashOnce(url, async (root) => {
          const run = writer(url, root, 'sent', n)
          const { signal, code } = await run.exited
          expect(signal ?? code, run.stderr()).toBe('SIGKILL')
        })
        revisions.add(revision)
      }
      for (let i = 0; i < points.length; i += 3) await Promise.all(points.slice(i, i + 3).map(kill))
      // And at random moments of the run (not tied to a call: inside a transaction, mid-reply).
      for (let i = 0; i < 4; i++) {
        await crashOnce(url, async (root) => {
          const run = writer(url, root, 'run')
          while (!run.lines.some((l) => l.started === true) && run.child.exitCode === null) await sleep(2)
          await sleep(Math.random() * 150)
          run.child.kill('SIGKILL')
          await run.exited
        })
      }
      // The kills landed at different points of the sequence, not all before (or after) it.
      expect(revisions.size).toBeGreaterThan(3)
    }, 600_000)

    it('a failed atomic write at any step leaves the documents and the revision as they were', async () => {
      const root = randomNamespace('fail')
      const store = await createStore(url, { namespace: root })
      const wrapped = wrapStore(store.withNamespace('flags'))
      const repo = new StoreFlagRepository(wrapped.store)
      try {
        for (const step of SEQUENCE) {
          const before = { revision: await repo.revision(), snapshot: await repo.loadSnapshot() }
          // Every atomic of the step fails (a step of concurrent writes may commit in more than one group).
          wrapped.failAtomics(true)
          await expect(step(repo)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
          wrapped.failAtomics(false)
          expect(await repo.revision()).toBe(before.revision)
          expect(await repo.loadSnapshot()).toEqual(before.snapshot)
          await step(repo) // and then it works, from the state it left
        }
        expect((await repo.listFlags()).map((f) => f.key)).toEqual(['b', 'c'])
      } finally {
        await store.deleteAll()
        await store.close()
      }
    }, 120_000)
  })
}

crashSuite('sqlite', `sqlite://${join(dir, 'crash.sqlite')}`, true)
crashSuite('redis', REDIS_URL, await serviceAvailable('Redis', REDIS_URL))
crashSuite('postgres', DATABASE_URL, await serviceAvailable('PostgreSQL', DATABASE_URL))
