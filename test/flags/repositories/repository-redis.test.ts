import { describe } from 'vitest'
import { createStore } from '../../../src/index.js'
import { REDIS_URL, serviceAvailable } from '../../helpers/services.js'
import { repositoryConformance } from './repository-conformance.js'

describe.runIf(await serviceAvailable('Redis', REDIS_URL))('redis', () => {
  repositoryConformance({ name: 'redis', url: REDIS_URL, open: (namespace) => createStore(REDIS_URL, { namespace }), push: true })
})
