/**
 * The "client in another process" of benchmarks/scale.ts: a FlagClient on its own store
 * connection. Prints one JSON line when ready (load time and heap per flag) and one per installed
 * change (revision and a high-resolution wall-clock time). Exits when stdin ends.
 * Run with `node --expose-gc --import tsx`. argv: url namespace pollInterval flags
 */
import { FlagClient, StoreFlagRepository, createStore } from '../src/index.js'
import { preciseNow } from './scale-lib.js'

const [url, namespace, pollInterval, flags] = process.argv.slice(2) as [string, string, string, string]
const gc = (globalThis as { gc?: () => void }).gc
const store = await createStore(url, { namespace })
const repository = new StoreFlagRepository(store.withNamespace('flags'))
await repository.revision() // the connection is open before the heap baseline
const heap = () => {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}
const before = heap()
const started = performance.now()
const client = new FlagClient({
  repository,
  pollInterval: Number(pollInterval),
  readyTimeout: Infinity, // 100,000 flags on a loaded machine take longer than the default 10 s
  onError: (error) => process.stderr.write(`scale-follower: ${error.message}\n`),
})
client.on('change', (revision) => process.stdout.write(`${JSON.stringify({ event: 'change', revision, at: preciseNow() })}\n`))
await client.ready()
const ready = performance.now() - started
const heapPerFlag = (heap() - before) / Number(flags)
process.stdout.write(
  `${JSON.stringify({ event: 'ready', revision: client.revision, ready, heapPerFlag, watching: client.watching, gc: gc !== undefined })}\n`,
)

process.stdin.resume()
process.stdin.on('end', () => {
  void (async () => {
    await client.close()
    await store.close()
    process.exit(0)
  })()
})
