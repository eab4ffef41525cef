import { describe } from 'vitest'
import { createStore } from '../../src/index.js'
import { REDIS_URL, serviceAvailable } from '../helpers/services.js'
import { sessionSuite } from './session-suite.js'

describe.runIf(await serviceAvailable('Redis', REDIS_URL))('redis', () => {
  sessionSuite({ name: 'redis', open: (namespace) => createStore(REDIS_URL, { namespace }) })
})
