import { MemoryStore } from '../../../src/index.js'
import { repositoryConformance } from './repository-conformance.js'

repositoryConformance({ name: 'memory', open: async (namespace) => new MemoryStore({ namespace }), push: true })
