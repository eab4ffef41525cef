/**
 * Builds the admin UI into dist/ui when it is missing or older than its sources: what `npm start`
 * (prestart) and the browser tests call, so a fresh clone serves the UI without a separate step.
 * `npm run build:ui` always builds.
 *
 *   node --import tsx ui/ensure-built.ts           build if stale
 *   node --import tsx ui/ensure-built.ts --force   build
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
export const UI_OUT = fileURLToPath(new URL('../dist/ui/', import.meta.url))

function newest(dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/** True when dist/ui/index.html exists and is newer than every file of ui/ (and the model the UI imports). */
export function uiIsFresh(): boolean {
  const index = join(UI_OUT, 'index.html')
  if (!existsSync(index)) return false
  if (!existsSync(join(here, 'src'))) return true // an installed package: the build is all there is
  const sources = Math.max(newest(join(here, 'src')), newest(join(here, 'public')), statSync(join(here, 'index.html')).mtimeMs)
  return statSync(index).mtimeMs >= sources
}

export async function buildUi(): Promise<void> {
  const { build } = await import('vite')
  await build({ configFile: join(here, 'vite.config.ts'), logLevel: 'warn' })
}

/** Builds unless fresh; returns whether it built. */
export async function ensureUiBuilt(): Promise<boolean> {
  if (uiIsFresh()) return false
  await buildUi()
  return true
}

const direct = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]
if (direct) {
  const force = process.argv.includes('--force')
  try {
    if (force) await buildUi()
    const built = force || (await ensureUiBuilt())
    console.log(built ? `flagstone: admin UI built into ${UI_OUT}` : 'flagstone: admin UI is up to date')
  } catch (error) {
    console.error(`flagstone: could not build the admin UI: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
}
