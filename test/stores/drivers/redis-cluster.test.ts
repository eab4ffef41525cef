/**
 * The store conformance suite on a real 3-master, 3-replica Redis Cluster (test/helpers/redis-cluster.ts),
 * once with namespaces spread over the slots (the default: `atomic` refused, as the capabilities say)
 * and once with every namespace in one slot (`?hashTags=true`: the whole suite, cross-process atomics
 * included); plus what is specific to the cluster: spread, keepTogether, waitReplicas.
 */
import { createCluster } from '@redis/client'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedisClusterStore, createStore, keepTogether } from '../../../src/index.js'
import { CONFORMANCE_TIMEOUT, type RawAccess, testStore } from '../../../src/testing/index.js'
import { clusterAvailable, RedisCluster } from '../../helpers/redis-cluster.js'
import { randomNamespace } from '../../helpers/services.js'

const available = await clusterAvailable()
const cluster = available ? await RedisCluster.start() : undefined
afterAll(async () => {
  await cluster?.stop()
})
const url = cluster?.url ?? 'redis+cluster://127.0.0.1:1'
const seeds = () => (cluster?.ports ?? []).map((port) => ({ url: `redis://127.0.0.1:${port}` }))

async function raw(): Promise<RawAccess> {
  const client = createCluster({ rootNodes: seeds() })
  await client.connect()
  const glob = (prefix: string) => `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`
  return {
    write: async (key, value) => void (await client.set(key, value)),
    read: (key) => client.get(key),
    async count(prefix) {
      let n = 0
      for (const master of client.masters) {
        const node = await client.nodeClient(master)
        n += (await node.keys(glob(prefix))).length
      }
      return n
    },
    delete: async (key) => void (await client.del(key)),
    close: async () => void (await client.close()),
  }
}

describe.runIf(available)('redis cluster', () => {
  testStore('redis-cluster', (namespace) => createStore(url, { namespace, operationTimeout: CONFORMANCE_TIMEOUT }), {
    url,
    raw,
    nativeExpiry: true,
    unreachable: () => createStore('redis+cluster://127.0.0.1:1', { namespace: 'down', connectTimeout: 1_000 }),
    expectCapabilities: {
      backend: 'redis-cluster',
      shared: true,
      atomic: 'processes',
      renewOnRead: 'atomic',
      listKeys: true,
      push: 'processes',
      atomicWrites: false,
    },
  })
  const tagged = `${url}?hashTags=true`
  testStore(
    'redis-cluster (hashTags)',
    (namespace) => createStore(tagged, { namespace, operationTimeout: CONFORMANCE_TIMEOUT }),
    {
      url: tagged,
      nativeExpiry: true,
      expectCapabilities: {
        backend: 'redis-cluster',
        atomic: 'processes',
        listKeys: true,
        push: 'processes',
        atomicWrites: true,
      },
    },
  )

  it('spreads the keys of one ordinary namespace over every master: 10,000 session keys', async () => {
    const namespace = randomNamespace('spread')
    const store = (await createStore(url, { namespace })).withNamespace('sessions')
    const masters = await cluster!.masters()
    const before = await Promise.all(masters.map((m) => cluster!.dbsize(m.port)))
    for (let i = 0; i < 10_000; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => store.set(`s${i + j}`, 'session', { expiresIn: 600_000 })))
    }
    const counts = (await Promise.all(masters.map((m) => cluster!.dbsize(m.port)))).map((n, i) => n - (before[i] ?? 0))
    console.info(`10,000 session keys per master: ${masters.map((m, i) => `${m.port}: ${counts[i]}`).join(', ')}`)
    expect(counts).toHaveLength(3)
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000)
    // CRC16 over 16384 slots split in three: each master gets about a third; 2,500 is a wide margin.
    for (const n of counts) expect(n).toBeGreaterThan(2_500)
    let listed = 0
    for await (const _ of store.keys()) listed++
    expect(listed).toBe(10_000) // keys() covers every master
    await store.deleteAll()
    expect(await collectCount(store)).toBe(0)
    await store.close()
  }, 120_000)

  it('keeps a namespace together on request (one slot, atomic works there), and deleteAll of the root removes it', async () => {
    const namespace = randomNamespace('together')
    const root = await createStore(url, { namespace })
    const flags = root.withNamespace('flags')
    await expect(flags.atomic([{ op: 'set', key: 'a', value: '1' }])).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    keepTogether(flags)
    expect(flags.capabilities.atomicWrites).toBe(true)
    expect(root.capabilities.atomicWrites).toBe(false)
    expect(root.withNamespace('other').capabilities.atomicWrites).toBe(false)
    const writes = Array.from({ length: 50 }, (_, i) => ({ op: 'set' as const, key: `doc/${i}`, value: String(i) }))
    expect(await flags.atomic(writes, [{ key: 'revision', expected: null }])).toBe(true)
    // every key of the namespace in one slot: on one master, under the tag
    const direct = await raw()
    expect(await direct.read(`{${namespace}:flags}/doc/7`)).toBe('7')
    expect(await direct.count(`{${namespace}:flags}/`)).toBe(50)
    expect((await flags.getMany(['doc/1', 'doc/49'])).map((v) => (v === null ? null : Buffer.from(v).toString()))).toEqual([
      '1',
      '49',
    ])
    await root.deleteAll()
    expect(await direct.count(`{${namespace}:`)).toBe(0)
    await direct.close()
    await root.close()
  })

  it('waitReplicas: writes resolve once a replica acknowledged them', async () => {
    const store = await createRedisClusterStore({ url, namespace: randomNamespace('wait'), waitReplicas: 1 })
    await store.set('k', 'v')
    expect(await store.increment('n')).toBe(1)
    expect(await store.increment('w', 1, { expiresIn: 60_000 })).toBe(1)
    expect(await store.compareAndSet('k', Buffer.from('v'), 'w')).toBe(true)
    await store.delete('k')
    // more replicas than a shard has: the write lands on the master, then rejects as not durable
    const greedy = await createRedisClusterStore({ url, namespace: randomNamespace('wait'), waitReplicas: 2, waitTimeout: 100 })
    await expect(greedy.set('k', 'v')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await greedy.deleteAll()
    await greedy.close()
    await store.deleteAll()
    await store.close()
  })

  it('refuses malformed cluster URLs and unknown URL parameters with INVALID_ARGUMENT', async () => {
    for (const bad of [
      'redis+cluster://',
      'redis+cluster://host',
      'redis+cluster://a:1,b',
      `${url}?nope=1`,
      `${url}?hashTags=yes`,
    ]) {
      await expect(createStore(bad), bad).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    }
  })
})

async function collectCount(store: { keys(): AsyncIterable<string> }): Promise<number> {
  let n = 0
  for await (const _ of store.keys()) n++
  return n
}
