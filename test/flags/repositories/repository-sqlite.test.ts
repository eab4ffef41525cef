import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { createStore } from '../../../src/index.js'
import { repositoryConformance } from './repository-conformance.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-repo-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const url = `sqlite://${join(dir, 'flags.sqlite')}`

repositoryConformance({ name: 'sqlite', url, open: (namespace) => createStore(url, { namespace }), push: false })
