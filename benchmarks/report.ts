/** Shared by the benchmark scripts: each owns one marked section of BENCHMARKS.md and rewrites only that. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

/** Replaces the section between `<!-- name:start -->` and `<!-- name:end -->` (appending it if missing); returns the file's path. */
export function writeSection(name: string, markdown: string): string {
  const file = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url))
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const section = `${start}\n${markdown}\n${end}`
  let text: string
  if (!existsSync(file)) {
    text =
      '# Benchmarks\n\n' +
      'Written by `npm run bench`: one script per question under `benchmarks/`, each owning its section below. ' +
      'The machine is shared, so absolute numbers are noise; the **ratios** measured in the same run are the result.\n\n' +
      `- machine: ${os.availableParallelism()} cores (\`nproc\`), ${os.cpus()[0]?.model ?? 'unknown CPU'}\n` +
      `- Node: ${process.version}\n` +
      `- date: ${new Date().toISOString().slice(0, 10)}\n\n` +
      `${section}\n`
  } else {
    const current = readFileSync(file, 'utf8')
    const from = current.indexOf(start)
    const to = current.indexOf(end)
    text =
      from >= 0 && to > from
        ? current.slice(0, from) + section + current.slice(to + end.length)
        : `${current.replace(/\n*$/, '\n\n')}${section}\n`
  }
  writeFileSync(file, text)
  return file
}
