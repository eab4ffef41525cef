/** Renders the scale table (benchmarks/scale.ts) from the merged results, with the issue's targets marked. */
import type { CellResult, Results } from './scale-lib.js'

const ORDER = ['memory', 'sqlite', 'redis', 'postgres', 'mysql']
const ok = (met: boolean) => (met ? ' ✅' : ' ❌')
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))
const rate = (x: number) => Math.round(x).toLocaleString('en')

/** Which targets a cell has, and whether it meets them (`undefined`: no target for that cell). */
function marks(backend: string, n: number, cell: CellResult, results: Results, sqlitePoll: number) {
  const sql = backend === 'sqlite' || backend === 'postgres' || backend === 'mysql'
  const durable = sql || backend === 'redis'
  const load = cell.load === undefined || !durable || n < 10_000 ? undefined : cell.load <= (n >= 100_000 ? 3_000 : 250)
  let change: boolean | undefined
  if (cell.change !== undefined) {
    if (backend === 'sqlite') change = cell.change.p99 <= sqlitePoll + 20
    else if ((backend === 'redis' || backend === 'postgres') && n >= 10_000) {
      const base = results[`${backend}:100`]?.change?.p99
      change = cell.change.p99 <= 15 && (n < 100_000 || base === undefined || cell.change.p99 <= 2 * base)
    }
  }
  const writeTarget = backend === 'redis' ? 2000 : backend === 'postgres' || backend === 'sqlite' ? 1000 : undefined
  const write = (x: number | undefined) => (x === undefined || writeTarget === undefined ? undefined : x >= writeTarget)
  // Below 10,000 flags the client's fixed cost dominates the quotient: marked from 10,000 on.
  const heap = cell.heapPerFlag === undefined || n < 10_000 ? undefined : cell.heapPerFlag <= 2048
  return { load, change, create: write(cell.create), update: write(cell.update), heap }
}

export function renderTable(results: Results, options: { sqlitePoll: number; writes: number }): string {
  const rows: string[] = []
  const missed: string[] = []
  let met = 0
  const keys = Object.keys(results).sort((x, y) => {
    const [bx = '', nx = '0'] = x.split(':')
    const [by = '', ny = '0'] = y.split(':')
    return ORDER.indexOf(bx) - ORDER.indexOf(by) || Number(nx) - Number(ny)
  })
  const stamps = new Set<string>()
  for (const key of keys) {
    const [backend = '', size = '0'] = key.split(':')
    const n = Number(size)
    const cell = results[key] as CellResult
    for (const s of Object.values(cell.measured ?? {})) stamps.add(s)
    const m = marks(backend, n, cell, results, options.sqlitePoll)
    const mark = (name: string, value: boolean | undefined) => {
      if (value === undefined) return ''
      if (value) met++
      else missed.push(`${backend} ${n.toLocaleString('en')} ${name}`)
      return ok(value)
    }
    const change = cell.change
    rows.push(
      [
        backend,
        n.toLocaleString('en'),
        cell.load === undefined ? '—' : `${ms(cell.load)} ms${mark('load', m.load)}`,
        cell.ready === undefined ? '—' : `${ms(cell.ready)} ms`,
        change === undefined
          ? '—'
          : `${ms(change.p50)} / ${ms(change.p99)} ms${mark('change p99', m.change)} <sub>(${change.samples}, ${
              change.push ? 'push' : `poll ${change.poll} ms`
            })</sub>`,
        cell.create === undefined ? '—' : `${rate(cell.create)}/s${mark('createFlag', m.create)}`,
        cell.update === undefined ? '—' : `${rate(cell.update)}/s${mark('updateFlag', m.update)}`,
        cell.heapPerFlag === undefined ? '—' : `${(cell.heapPerFlag / 1024).toFixed(2)} KB${mark('heap', m.heap)}`,
      ].join(' | '),
    )
  }
  return [
    '## Flag plane at scale (benchmarks/scale.ts)',
    '',
    `Written by \`npx tsx benchmarks/scale.ts\` (cells from runs at ${[...stamps].sort().join('; ')}). ` +
      'Flags have one rule with one condition each and are seeded through the store in bulk (atomic chunks of 250 documents ' +
      'encoded by the repository codec), not through createFlag. The machine has 2 shared cores: absolute times are noise.',
    '',
    '| backend | flags | full snapshot load (median of 3) | client ready in another process (load + compile) | ' +
      'one change seen by a client in another process, p50 / p99 <sub>(changes, how)</sub> | createFlag at 32 in flight | ' +
      'updateFlag at 32 in flight | client heap per flag |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r} |`),
    '',
    `**${met} of ${met + missed.length} targets met.**${missed.length === 0 ? '' : ` Missed: ${missed.join(', ')}.`}`,
    '',
    '- Change: from just before `updateFlag` is called in this process until the follower (a separate process with its own ' +
      'store connection; memory: a client in this process on the same store) has installed a snapshot at that revision. ' +
      `Push backends poll every 60 s, so what they see came by push; SQLite polls every ${options.sqlitePoll} ms and each ` +
      'write waits a random part of an interval first. Changes per cell: up to 50 within 20 s.',
    `- Writes: ${options.writes.toLocaleString('en')} createFlag calls on top of the N flags, then updateFlag on min(N, ` +
      `${options.writes.toLocaleString('en')}) distinct flags, 32 in flight from one process, nobody following.`,
    '- Heap: the follower process, `heapUsed` after `ready()` minus before creating the client (both after `gc()`), ÷ N.',
    '- Targets (issue 9): change p99 ≤ 15 ms on Redis and PostgreSQL at 10,000 and 100,000 flags and 100,000 within 2× ' +
      `of 100; SQLite ≤ poll interval + 20 ms (${options.sqlitePoll + 20} ms); full load ≤ 250 ms at 10,000 and ≤ 3 s at ` +
      '100,000 (SQLite, Redis, PostgreSQL); createFlag/updateFlag ≥ 2,000/s Redis, ≥ 1,000/s PostgreSQL and SQLite; ' +
      "heap ≤ 2 KB per flag (marked from 10,000 flags: below, the client's fixed cost dominates the quotient).",
  ].join('\n')
}
