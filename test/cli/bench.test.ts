/** `flagstone bench`: the real binary on real stores; its namespace is gone afterwards, also after Ctrl-C. */
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createStore } from '../../src/index.js'
import { REDIS_URL, serviceAvailable } from '../helpers/services.js'
import { BIN, flagstone, killGroup, spawnGroup, tempDir } from './helpers.js'
import type { ChildProcess } from 'node:child_process'

const scratch = tempDir()
afterAll(() => scratch.remove())
const redis = await serviceAvailable('Redis', REDIS_URL)
const children: ChildProcess[] = []
afterEach(() => children.splice(0).forEach(killGroup))

async function keysIn(url: string, namespace: string): Promise<string[]> {
  const store = await createStore(url, { namespace })
  const keys: string[] = []
  for await (const key of store.keys()) keys.push(key)
  await store.close()
  return keys
}

interface BenchJson {
  namespace: string
  results: Array<{
    url: string
    operation: string
    concurrency: number
    operations: number
    p50Ms: number
    p99Ms: number
    opsPerSecond: number
  }>
}

describe('flagstone bench', () => {
  it('measures every operation at 1 and N in flight on each URL, prints JSON, and removes its namespace', async () => {
    const sqlite = `sqlite://${join(scratch.dir, 'bench.sqlite')}`
    const urls = ['memory://', sqlite, ...(redis ? [REDIS_URL] : [])]
    const result = await flagstone(['bench', ...urls, '-n', '50', '-c', '4', '--value-size', '64', '--json'], {
      timeout: 120_000,
    })
    expect(result.code, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout) as BenchJson
    expect(report.namespace).toMatch(/^flagstone-bench-[0-9a-f]{12}$/)
    expect(report.results).toHaveLength(urls.length * 2 * 4)
    for (const cell of report.results) {
      expect(cell.operations).toBe(50)
      expect(cell.p99Ms).toBeGreaterThanOrEqual(cell.p50Ms)
      expect(cell.opsPerSecond).toBeGreaterThan(0)
    }
    expect(new Set(report.results.map((c) => `${c.operation}@${c.concurrency}`))).toEqual(
      new Set(['get@1', 'set@1', 'increment@1', 'compareAndSet@1', 'get@4', 'set@4', 'increment@4', 'compareAndSet@4']),
    )
    expect(await keysIn(sqlite, report.namespace)).toEqual([])
    if (redis) expect(await keysIn(REDIS_URL, report.namespace)).toEqual([])

    const human = await flagstone(['bench', 'memory://', sqlite, '-n', '20', '-c', '2'], { timeout: 120_000 })
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(/STORE\s+OPERATION\s+IN FLIGHT\s+P50 MS\s+P99 MS\s+OPS\/S/)
    expect(human.stdout).toMatch(/ratios against memory/)
  }, 300_000)

  it('a bad option exits 2 naming it', async () => {
    const result = await flagstone(['bench', 'memory://', '--value-size', '0'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--value-size')
  }, 120_000)

  it('Ctrl-C (SIGINT) stops the run, removes the namespace and exits 130', async () => {
    const sqlite = `sqlite://${join(scratch.dir, 'interrupted.sqlite')}`
    const child = spawnGroup(process.execPath, [BIN, 'bench', sqlite, '-n', '10000000', '-c', '4'], scratch.dir, {})
    children.push(child)
    let stderr = ''
    const namespace = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no namespace line: ${stderr}`)), 120_000)
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        const match = /namespace (flagstone-bench-[0-9a-f]+)/.exec(stderr)
        if (match?.[1] !== undefined) {
          clearTimeout(timer)
          resolve(match[1])
        }
      })
    })
    // Let it write for a moment, so there is something to remove.
    const deadline = Date.now() + 30_000
    while ((await keysIn(sqlite, namespace)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect((await keysIn(sqlite, namespace)).length).toBeGreaterThan(0)
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    process.kill(child.pid!, 'SIGINT')
    expect(await exited).toBe(130)
    expect(stderr).toContain('interrupted')
    expect(await keysIn(sqlite, namespace)).toEqual([])
  }, 300_000)
})
