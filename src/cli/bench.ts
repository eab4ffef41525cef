/**
 * `flagstone bench <url>…`: compare your own backends before choosing one. Writes only inside a
 * random namespace (`flagstone-bench-<hex>`) and removes it afterwards, also on Ctrl-C.
 */
import cliProgress from 'cli-progress'
import { Command } from 'commander'
import type { Store } from '../stores/index.js'
import type { BenchCell } from './bench-run.js'
import { CliError, EXIT } from './exit-codes.js'
import { emit, report, table } from './output.js'

interface BenchFlags {
  operations: string
  concurrency: string
  valueSize: string
  json?: boolean
  progress?: boolean
}

function positive(text: string, option: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new CliError(
      `${option}: must be an integer from 1 to ${max}, got ${JSON.stringify(text)}`,
      EXIT.USAGE,
      'INVALID_ARGUMENT',
      {
        field: option,
      },
    )
  }
  return n
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(3))

/** Per store: p50 / p99 / ops/s; then each store's throughput and p99 as a ratio of the first URL's. */
export function benchTables(cells: readonly BenchCell[], urls: readonly string[]): string {
  const results = table([
    ['STORE', 'OPERATION', 'IN FLIGHT', 'P50 MS', 'P99 MS', 'OPS/S'],
    ...cells.map((c) => [c.backend, c.operation, String(c.concurrency), fmt(c.p50Ms), fmt(c.p99Ms), fmt(c.opsPerSecond)]),
  ])
  if (urls.length < 2) return results
  const first = urls[0]
  const baseline = (c: BenchCell) =>
    cells.find((b) => b.url === first && b.operation === c.operation && b.concurrency === c.concurrency)
  const ratios = cells
    .filter((c) => c.url !== first)
    .map((c) => {
      const base = baseline(c)
      const throughput = base === undefined ? NaN : c.opsPerSecond / base.opsPerSecond
      const p99 = base === undefined ? NaN : c.p99Ms / base.p99Ms
      return [c.backend, c.operation, String(c.concurrency), `${throughput.toFixed(2)}x`, `${p99.toFixed(2)}x`]
    })
  const firstName = cells.find((c) => c.url === first)?.backend ?? first
  return `${results}\n\nratios against ${firstName} (throughput: higher is faster; p99: lower is faster)\n${table([
    ['STORE', 'OPERATION', 'IN FLIGHT', 'THROUGHPUT', 'P99'],
    ...ratios,
  ])}`
}

export function benchCommand(): Command {
  return new Command('bench')
    .argument('<url...>', 'store URLs to compare: memory://, sqlite://./bench.sqlite, redis://…, postgresql://…')
    .description('measure get / set / increment / compareAndSet on your stores, at 1 and N in flight, and compare them')
    .option('-n, --operations <count>', 'operations per operation type and level', '2000')
    .option('-c, --concurrency <n>', 'the "N in flight" level', '32')
    .option('--value-size <bytes>', 'size of the values written and read', '128')
    .option('--no-progress', 'no progress bar (there is none when stderr is not a terminal)')
    .option('--json', 'print the results as JSON')
    .action(async (urls: string[], flags: BenchFlags) => {
      let interrupted = false
      const onSignal = () => {
        if (interrupted) process.exit(EXIT.INTERRUPTED) // a second Ctrl-C: give up cleaning
        interrupted = true
        process.stderr.write('\nflagstone bench: interrupted, removing the bench namespace…\n')
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      // Loaded on use: `--help` needs none of the store layer.
      const { benchNamespace, benchStore, cleanUp, OPERATIONS, openBenchStore } = await import('./bench-run.js')
      const { describeStore } = await import('../server.js')
      const namespace = benchNamespace()
      const open: Store[] = []
      let bar: cliProgress.SingleBar | undefined
      try {
        const operations = positive(flags.operations, '--operations', 10_000_000)
        const concurrency = positive(flags.concurrency, '--concurrency', 10_000)
        const valueSize = positive(flags.valueSize, '--value-size', 16 * 1024 * 1024)
        const levels = concurrency === 1 ? 1 : 2
        const total = urls.length * levels * OPERATIONS.length * operations
        process.stderr.write(`flagstone bench: namespace ${namespace} (removed afterwards)\n`)
        if (flags.progress !== false && process.stderr.isTTY === true) {
          bar = new cliProgress.SingleBar(
            { format: '{bar} {percentage}% | {store} | {value}/{total} ops', stream: process.stderr, hideCursor: true },
            cliProgress.Presets.shades_classic,
          )
          bar.start(total, 0, { store: '' })
        }
        const cells: BenchCell[] = []
        let before = 0
        for (const url of urls) {
          if (interrupted) break
          const store = await openBenchStore(url, namespace)
          open.push(store)
          const backend = describeStore(url)
          bar?.update(before, { store: backend })
          const offset = before
          cells.push(
            ...(await benchStore(store, url, backend, {
              operations,
              concurrency,
              valueSize,
              aborted: () => interrupted,
              progress: (done) => bar?.update(offset + done),
            })),
          )
          before += levels * OPERATIONS.length * operations
        }
        bar?.stop()
        bar = undefined
        if (interrupted) throw new CliError('interrupted (the bench namespace was removed)', EXIT.INTERRUPTED, 'INTERRUPTED')
        emit(flags, { namespace, operations, concurrency, valueSize, results: cells }, () => benchTables(cells, urls))
      } catch (error) {
        bar?.stop()
        report(error, flags)
      } finally {
        for (const store of open) await cleanUp(store).catch((error: unknown) => report(error, {}))
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
    })
}
