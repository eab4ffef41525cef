/** The exports map points at files the build really produces, and each subpath loads. */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>
  engines: { node: string }
  type: string
}

describe('package', () => {
  // dist/ is built by test/global-setup.ts.
  it('is an ESM package for Node >= 20', () => {
    expect(pkg.type).toBe('module')
    expect(pkg.engines.node).toBe('>=20')
  })

  it('every export target exists in the build and every subpath imports', async () => {
    const subpaths = Object.keys(pkg.exports).filter((p) => p !== './package.json')
    expect(subpaths).toEqual(expect.arrayContaining(['.', './stores', './flags', './testing']))
    for (const subpath of subpaths) {
      const target = pkg.exports[subpath]
      if (typeof target === 'string') continue
      for (const condition of ['types', 'import', 'flagstone-source'] as const) {
        expect(existsSync(join(root, target?.[condition] ?? 'missing')), `${subpath} ${condition}`).toBe(true)
      }
      const specifier = subpath === '.' ? 'flagstone' : `flagstone/${subpath.slice(2)}`
      const { stdout } = await run(
        process.execPath,
        ['--input-type=module', '-e', `const m = await import('${specifier}'); console.log(Object.keys(m).length)`],
        {
          cwd: root,
        },
      )
      expect(Number(stdout), specifier).toBeGreaterThan(0)
    }
  }, 60_000)
})
