import { createClient } from '@redis/client'
import { describe } from 'vitest'
import { createStore } from '../../src/index.js'
import { REDIS_URL, serviceAvailable } from '../helpers/services.js'
import { type RawAccess, storeConformance } from './conformance.js'

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
  storeConformance({
    name: 'redis',
    url: REDIS_URL,
    open: (namespace) => createStore(REDIS_URL, { namespace }),
    raw,
    nativeExpiry: true,
    unreachableUrl: 'redis://127.0.0.1:1',
  })
})
