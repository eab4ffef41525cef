/**
 * `testStore`: the store conformance suite, the one every built-in backend passes, for a store of
 * your own (a custom `Driver`, a wrapped keyv adapter) in your own vitest run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Store } from '../stores/index.js'
import { type Harness, randomNamespace, type RawAccess, type TestStoreOptions } from './harness.js'
import { atomicTests } from './suite-atomic.js'
import { batchTests } from './suite-batch.js'
import { namespaceTests } from './suite-namespaces.js'
import { processTests } from './suite-processes.js'
import { valueTests } from './suite-values.js'

/**
 * Registers the store conformance suite as `describe('store conformance: <name>')`. `open(namespace)`
 * opens a root store under that namespace (called once for the suite and a few times more; each
 * store it returns is closed by the suite). Only the parts the store's `capabilities` claim run:
 * the rest are reported as skipped, and the refusals (`UNSUPPORTED`) of what it does not claim are
 * checked. Call it at the top level of a test file.
 */
export function testStore(
  name: string,
  open: (namespace: string) => Promise<Store> | Store,
  options: TestStoreOptions = {},
): void {
  const frozen = Object.freeze({ ...options })
  describe(`store conformance: ${name}`, () => {
    let root: Store | undefined
    let raw: RawAccess | undefined
    let n = 0
    const rootName = randomNamespace()
    const must = <T>(value: T | undefined): T => {
      if (value === undefined) throw new Error(`testStore(${JSON.stringify(name)}): the store did not open`)
      return value
    }
    const h: Harness = {
      name,
      options: frozen,
      rootName,
      get root() {
        return must(root)
      },
      get raw() {
        return raw
      },
      open: async (namespace) => open(namespace),
      fresh: () => must(root).withNamespace(`c${++n}`),
    }

    beforeAll(async () => {
      root = await open(rootName)
      raw = frozen.raw === undefined ? undefined : await frozen.raw()
    })
    afterAll(async () => {
      if (root?.capabilities.listKeys === true) await root.deleteAll()
      await root?.close()
      await raw?.close()
    })

    it('states its capabilities', () => {
      const caps = h.root.capabilities
      expect(Object.isFrozen(caps)).toBe(true)
      expect(['processes', 'process', 'none']).toContain(caps.atomic)
      expect(['processes', 'process', 'none']).toContain(caps.push)
      expect(['atomic', 'rewrite']).toContain(caps.renewOnRead)
      expect(typeof caps.atomicWrites).toBe('boolean')
      expect(h.root.withNamespace('x').capabilities).toBe(caps)
      if (frozen.expectCapabilities !== undefined) expect(caps).toMatchObject(frozen.expectCapabilities)
    })

    valueTests(h)
    atomicTests(h)
    namespaceTests(h)
    processTests(h)
    batchTests(h)
  })
}
