/** Every ```ts block of README.md runs, as a user would run it (importing 'flagstone'). */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { REDIS_URL, serviceAvailable } from './helpers/services.js'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '')
const redis = await serviceAvailable('Redis', REDIS_URL)
const cwd = mkdtempSync(join(tmpdir(), 'flagstone-readme-'))
mkdirSync(join(root, '.tmp'), { recursive: true }) // gitignored: absent on a fresh clone
afterAll(() => rmSync(cwd, { recursive: true, force: true }))

describe('README examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThan(2))

  blocks.forEach((code, i) => {
    const title = `block ${i + 1}: ${code.split('\n').find((l) => l.trim() && !l.startsWith('import'))?.trim()}`
    it.runIf(redis || !code.includes('redis://'))(title, async () => {
      // Written inside the package so that `import … from 'flagstone'` resolves through its exports map
      // (to the sources, via the 'flagstone-source' condition); run from a scratch directory.
      const file = join(root, '.tmp', `readme-${i}.ts`)
      writeFileSync(file, code)
      const { stdout } = await run(process.execPath, ['--conditions=flagstone-source', '--import', import.meta.resolve('tsx'), file], {
        cwd,
        env: { ...process.env, REDIS_URL },
        timeout: 60_000,
      })
      expect(stdout.length).toBeGreaterThan(0)
    }, 90_000)
  })
})
