/**
 * The Redis Cluster part of benchmarks/stores.ts: its contenders (the cluster store, the same
 * store on one Redis, the cluster store with `waitReplicas: 1`), its table, and a measurement of
 * push on the cluster: sharded pub/sub (SSUBSCRIBE / SPUBLISH) against classic (SUBSCRIBE / PUBLISH).
 * The cluster is a throwaway one (test/helpers/redis-cluster.ts, ports from FLAGSTONE_CLUSTER_PORTS).
 */
import { performance } from 'node:perf_hooks'
import { createStore, type Store } from '../src/stores/index.js'
import { RedisCluster } from '../test/helpers/redis-cluster.js'

/** Messages per pub/sub round, published with 64 in flight; a round ends when the subscriber in another store has them all. */
const MESSAGES = 5000
const PUBSUB_ROUNDS = 5

export async function startCluster(): Promise<RedisCluster> {
  return RedisCluster.start()
}

async function pubsubRound(publisher: Store, subscriber: Store, channel: string): Promise<number> {
  let seen = 0
  let done: () => void = () => undefined
  const all = new Promise<void>((resolve) => (done = resolve))
  const unsubscribe = await subscriber.subscribe(channel, () => {
    if (++seen === MESSAGES) done()
  })
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < MESSAGES) {
        next++
        await publisher.publish(channel, 'change')
      }
    }),
  )
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 30_000))])
  const perSecond = (seen / (performance.now() - started)) * 1000
  await unsubscribe()
  return perSecond
}

/** Messages per second delivered, sharded vs classic, alternating rounds; markdown lines. */
export async function measurePubsub(cluster: RedisCluster, namespace: string): Promise<string[]> {
  const rates: Record<'sharded' | 'classic', number[]> = { sharded: [], classic: [] }
  for (const mode of ['sharded', 'classic'] as const) {
    const url = `${cluster.url}?pubsub=${mode}`
    const publisher = await createStore(url, { namespace })
    const subscriber = await createStore(url, { namespace })
    await pubsubRound(publisher, subscriber, 'warmup')
    for (let round = 0; round < PUBSUB_ROUNDS; round++) rates[mode].push(await pubsubRound(publisher, subscriber, `c${round}`))
    await publisher.close()
    await subscriber.close()
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
  const [s, c] = [median(rates.sharded), median(rates.classic)]
  console.log(`pubsub sharded ${fmt(s)}/s classic ${fmt(c)}/s`)
  return [
    '',
    `Push on the cluster: ${MESSAGES.toLocaleString('en-US')} messages published with 64 in flight from one store, received by ` +
      `another store's subscriber; messages per second delivered, median of ${PUBSUB_ROUNDS} rounds each.`,
    '',
    '| pub/sub | delivered msg/s | vs classic |',
    '|---|---:|---:|',
    `| sharded (SSUBSCRIBE / SPUBLISH, the default) | ${fmt(s)} | ${(s / c).toFixed(2)} |`,
    `| classic (SUBSCRIBE / PUBLISH) | ${fmt(c)} | 1.00 |`,
  ]
}
