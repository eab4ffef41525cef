import { describe } from 'vitest'
import { createStore } from '../../../src/index.js'
import { DATABASE_URL, serviceAvailable } from '../../helpers/services.js'
import { repositoryConformance } from './repository-conformance.js'

describe.runIf(await serviceAvailable('PostgreSQL', DATABASE_URL))('postgres', () => {
  repositoryConformance({
    name: 'postgres',
    url: DATABASE_URL,
    open: (namespace) => createStore(DATABASE_URL, { namespace }),
    push: true,
  })
})
