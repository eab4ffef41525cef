import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../../src/index.js'
import { testStore } from '../../../src/testing/index.js'

testStore('memory', (namespace) => new MemoryStore({ namespace }), {
  expectCapabilities: {
    backend: 'memory',
    shared: false,
    atomic: 'process',
    renewOnRead: 'atomic',
    listKeys: true,
    push: 'process',
    atomicWrites: true,
  },
})

setFlagsFromString('--expose-gc')
const gcOnce = runInNewContext('gc') as () => void
/**
 * ArrayBuffer memory of every Buffer still reachable. V8 frees ArrayBuffer backing stores on a
 * background thread, which a loaded machine starves: collect, wait, collect again before reading.
 */
async function arrayBuffersInUse(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gcOnce()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  gcOnce()
  return process.memoryUsage().arrayBuffers
}
const text = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes).toString('utf8'))

describe('memory specifics', () => {
  it('keeps small values in memory of their own, not in slabs of the shared Buffer pool', async () => {
    const store = new MemoryStore({ sweepInterval: 0 })
    const count = 4_000
    const value = 'v'.repeat(1_100)
    const transient: Buffer[] = []
    const before = await arrayBuffersInUse()
    for (let i = 0; i < count; i++) {
      await store.set(`k${i}`, value)
      await store.set(`b${i}`, new Uint8Array(Buffer.from(value)))
      // What a server does between two writes: short-lived pooled Buffers (request bodies, copies).
      transient.push(Buffer.from('x'.repeat(3_000)))
      if (transient.length > 10) transient.shift()
    }
    transient.length = 0
    const held = (await arrayBuffersInUse()) - before
    const stored = 2 * count * value.length
    console.info(`memory store: ${(held / (2 * count)).toFixed(0)} bytes of ArrayBuffer held per ${value.length}-byte value`)
    // Pool slices would pin about 4 KB per value here; exact copies hold their own bytes (+ slack).
    expect(held).toBeLessThan(stored * 1.5)
    expect(text(await store.get('k1'))).toBe(value)
    await store.close()
  })

  it('maxEntries evicts the least recently used entry and counts it', async () => {
    const store = new MemoryStore({ maxEntries: 3 })
    await store.set('a', '1')
    await store.set('b', '2')
    await store.set('c', '3')
    expect(text(await store.get('a'))).toBe('1') // a is now the most recently used
    await store.set('d', '4') // evicts b
    expect(await store.exists('b')).toBe(false)
    expect(await store.exists('a')).toBe(true)
    await store.increment('n') // evicts c (a was read after it; the exists() calls touched a and d)
    expect(await store.exists('c')).toBe(false)
    expect(store.stats()).toMatchObject({ entries: 3, evictions: 2 })
    // views share the bound: a namespace is part of the same store
    const view = store.withNamespace('v')
    await view.set('x', 'y')
    expect(store.stats()).toMatchObject({ entries: 3, evictions: 3 })
    await store.delete('nope')
    await store.close()
  })

  it('maxBytes evicts least recently used entries until the store fits, and caps maxValueBytes', async () => {
    const store = new MemoryStore({ maxBytes: 1_000, namespace: 'n' })
    const key = (i: number) => `key${i}`
    for (let i = 0; i < 20; i++) await store.set(key(i), 'x'.repeat(100))
    const stats = store.stats()
    expect(stats.bytes).toBeLessThanOrEqual(1_000)
    expect(stats.entries).toBeGreaterThan(5)
    expect(stats.evictions).toBe(20 - stats.entries)
    expect(await store.exists(key(19))).toBe(true)
    expect(await store.exists(key(0))).toBe(false)
    await expect(store.set('big', 'x'.repeat(1_001))).rejects.toMatchObject({ code: 'VALUE_TOO_LARGE' })
    await store.deleteAll()
    expect(store.stats()).toMatchObject({ entries: 0, bytes: 0 })
    await store.close()
  })

  it('rejects bounds that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '10']) {
      expect(() => new MemoryStore({ maxEntries: bad as number })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
      expect(() => new MemoryStore({ maxBytes: bad as number })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
    }
  })
})
