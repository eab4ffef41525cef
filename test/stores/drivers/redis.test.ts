import { createClient } from '@redis/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisStore, createStore } from '../../../src/index.js'
import { RedisServer } from '../../helpers/redis-server.js'
import { REDIS_URL, serviceAvailable, sleep } from '../../helpers/services.js'
import { CONFORMANCE_TIMEOUT, type RawAccess, testStore } from '../../../src/testing/index.js'

async function raw(): Promise<RawAccess> {
  const client = createClient({ url: REDIS_URL })
  await client.connect()
  return {
    write: async (key, value) => void (await client.set(key, value)),
    read: (key) => client.get(key),
    count: async (prefix) => (await client.keys(`${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`)).length,
    delete: async (key) => void (await client.del(key)),
    close: async () => void (await client.close()),
  }
}

describe.runIf(await serviceAvailable('Redis', REDIS_URL))('redis', () => {
  testStore('redis', (namespace) => createStore(REDIS_URL, { namespace, operationTimeout: CONFORMANCE_TIMEOUT }), {
    url: REDIS_URL,
    raw,
    nativeExpiry: true,
    unreachable: () => createStore('redis://127.0.0.1:1', { namespace: 'down', connectTimeout: 1_000 }),
    expectCapabilities: {
      backend: 'redis',
      shared: true,
      atomic: 'processes',
      renewOnRead: 'atomic',
      listKeys: true,
      push: 'processes',
      atomicWrites: true,
    },
  })
  // Every key of a namespace in one cluster slot: the whole suite on the tagged layout (no raw
  // access or URL: the physical keys differ, and createStore URLs do not carry the option).
  testStore(
    'redis (hashTags)',
    (namespace) => createRedisStore({ url: REDIS_URL, namespace, hashTags: true, operationTimeout: CONFORMANCE_TIMEOUT }),
    {
      nativeExpiry: true,
      expectCapabilities: { backend: 'redis', atomic: 'processes', listKeys: true, atomicWrites: true },
    },
  )
})

describe.runIf(await serviceAvailable('Redis', REDIS_URL))('redis with a caller’s client', () => {
  it("runs on a caller's node-redis client (its type fits RedisClientLike) and leaves it open", async () => {
    const client = createClient({ url: REDIS_URL })
    const store = await createRedisStore({ client, namespace: `given${process.pid}` })
    await store.set('k', new Uint8Array([0, 255]))
    expect([...((await store.get('k')) ?? [])]).toEqual([0, 255])
    await store.deleteAll()
    await store.close()
    expect(client.isOpen).toBe(true)
    await client.close()
  })
})

describe('redis outage and recovery (own redis-server)', () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await RedisServer.start()
  })
  afterAll(async () => {
    await server?.kill()
  })

  it('fails fast while the server is down and recovers by itself, subscriptions included', async () => {
    const store = await createStore(server.url, { namespace: 'outage' })
    const messages: string[] = []
    await store.subscribe('changes', (m) => messages.push(m))
    await store.set('k', 'v')
    await server.kill()
    const t0 = Date.now()
    await expect(store.get('k')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await expect(store.increment('n')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await expect(store.publish('changes', 'lost')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    expect(Date.now() - t0).toBeLessThan(3_000)
    await server.restart()
    const back = Date.now()
    let ok = false
    while (!ok && Date.now() - back < 5_000) {
      ok = await store.set('k', 'again').then(
        () => true,
        () => false,
      )
      if (!ok) await sleep(50)
    }
    expect(ok).toBe(true)
    expect(Date.now() - back).toBeLessThan(2_000)
    // re-subscribed after the reconnect
    while (messages.length === 0 && Date.now() - back < 5_000) {
      await store.publish('changes', 'after restart')
      await sleep(50)
    }
    expect(messages[0]).toBe('after restart')
    await store.close()
  }, 30_000)
})

describe.runIf(await serviceAvailable('Redis', REDIS_URL))('redis hashTags', () => {
  it('puts the namespace path in a hash tag, so one namespace is one cluster slot', async () => {
    const namespace = `t${Date.now()}`
    const root = await createRedisStore({ url: REDIS_URL, namespace, hashTags: true })
    const store = root.withNamespace('flags')
    const direct = await raw()
    await store.set('flag/a', 'v')
    expect(await direct.read(`{${namespace}:flags}/flag/a`)).toBe('v')
    expect(await direct.read(`${namespace}:flags/flag/a`)).toBeNull()
    const keys: string[] = []
    for await (const key of store.keys('flag/')) keys.push(key)
    expect(keys).toEqual(['flag/a'])
    await store.deleteAll()
    expect(await direct.count(`{${namespace}:`)).toBe(0)
    await direct.close()
    await root.close()
  })
})
