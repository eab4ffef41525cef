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
    },
  })
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
