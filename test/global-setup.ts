/**
 * Builds dist/ once before any test file runs: the CLI tests run the real binary (dist/cli/main.js)
 * and the package test imports the built subpaths. Built here, not per file, so no file rebuilds
 * dist/ while another one runs it.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

export default function setup(): void {
  const root = new URL('..', import.meta.url).pathname
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
    timeout: 300_000,
  })
}
