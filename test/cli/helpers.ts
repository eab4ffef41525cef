/** Runs the real `flagstone` binary (dist/cli/main.js, built by test/global-setup.ts). */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const BIN = join(ROOT, 'dist/cli/main.js')

export interface Result {
  code: number
  stdout: string
  stderr: string
}

/** Our environment minus every FLAGSTONE_ / PORT setting, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('FLAGSTONE_') && name !== 'PORT' && name !== 'HOST' && !name.startsWith('npm_')) env[name] = value
  }
  env.PATH = [dirname(process.execPath), env.PATH ?? ''].join(delimiter)
  return { ...env, ...extra }
}

export function flagstone(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd ?? ROOT, env: cleanEnv(options.env), timeout: options.timeout ?? 120_000 },
      (error, stdout, stderr) => {
        const code =
          error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1
        resolve({ code, stdout, stderr })
      },
    )
  })
}

export function tempDir(prefix = 'flagstone-cli-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Spawns a long-running command in its own process group. */
export function spawnGroup(command: string, args: string[], cwd: string, env: Record<string, string>): ChildProcess {
  return spawn(command, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
}

/** Kills a process group we spawned, if it still runs. */
export function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}
