import { afterAll, describe } from 'vitest'
import { createStore } from '../../../src/index.js'
import { clusterAvailable, RedisCluster } from '../../helpers/redis-cluster.js'
import { repositoryConformance } from './repository-conformance.js'

// Namespaces spread over the slots (the default layout): the repository keeps its own in one slot.
const available = await clusterAvailable()
const cluster = available ? await RedisCluster.start() : undefined
afterAll(async () => {
  await cluster?.stop()
})
const url = cluster?.url ?? 'redis+cluster://127.0.0.1:1'

describe.runIf(available)('redis cluster', () => {
  repositoryConformance({ name: 'redis-cluster', url, open: (namespace) => createStore(url, { namespace }), push: true })
})
