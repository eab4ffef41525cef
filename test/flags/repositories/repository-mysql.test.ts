import { describe } from 'vitest'
import { createStore } from '../../../src/index.js'
import { MYSQL_URL, serviceAvailable } from '../../helpers/services.js'
import { repositoryConformance } from './repository-conformance.js'

describe.runIf(await serviceAvailable('MySQL/MariaDB', MYSQL_URL))('mysql', () => {
  repositoryConformance({
    name: 'mysql',
    url: MYSQL_URL,
    open: (namespace) => createStore(MYSQL_URL, { namespace }),
    push: false,
  })
})
