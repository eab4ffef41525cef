import { MemoryStore } from '../../../src/index.js'
import { storeConformance } from '../conformance.js'

storeConformance({ name: 'memory', open: async (namespace) => new MemoryStore({ namespace }), push: 'process' })
