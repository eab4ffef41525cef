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
 * Memory of everything still reachable: the V8 heap (where the store holds values, as strings)
 * plus ArrayBuffer memory (where pooled Buffers pin their slabs) plus external strings. Counting
 * the heap too keeps this honest: moving values out of ArrayBuffers cannot hide their cost. V8
 * frees ArrayBuffer backing stores on a background thread, which a loaded machine starves:
 * collect, wait, collect again before reading.
 */
async function memoryInUse(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gcOnce()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  gcOnce()
  const usage = process.memoryUsage()
  // `external` includes `arrayBuffers`, plus external strings (values of 1 MB and more).
  return usage.heapUsed + usage.external
}
const text = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes).toString('utf8'))

describe('memory specifics', () => {
  it('keeps small values in memory of their own, not in slabs of the shared Buffer pool', async () => {
    const store = new MemoryStore({ sweepInterval: 0 })
    const count = 4_000
    const value = 'v'.repeat(1_100)
    const transient: Buffer[] = []
    const before = await memoryInUse()
    for (let i = 0; i < count; i++) {
      await store.set(`k${i}`, value)
      await store.set(`b${i}`, new Uint8Array(Buffer.from(value)))
      // What a server does between two writes: short-lived pooled Buffers (request bodies, copies).
      transient.push(Buffer.from('x'.repeat(3_000)))
      if (transient.length > 10) transient.shift()
    }
    transient.length = 0
    const held = (await memoryInUse()) - before
    const stored = 2 * count * value.length
    console.info(`memory store: ${(held / (2 * count)).toFixed(0)} bytes (heap + external) held per ${value.length}-byte value`)
    // Pool slices would pin about 4 KB per value here; exact copies hold their own bytes plus the
    // key, the entry and the Map slot (about 100 bytes each).
    expect(held).toBeLessThan(stored * 1.5)
    expect(text(await store.get('k1'))).toBe(value)
    await store.close()
  })

  it('holds every byte value 0–255 exactly, and compares them byte for byte', async () => {
    const store = new MemoryStore({ sweepInterval: 0 })
    const all = Uint8Array.from({ length: 512 }, (_, i) => i % 256)
    await store.set('all', all)
    expect(Buffer.from((await store.get('all'))!).equals(Buffer.from(all))).toBe(true)
    // UTF-8 text comes back as the same bytes, whatever the store holds it as.
    await store.set('text', 'é\u{1F600}\u0000')
    expect(text(await store.get('text'))).toBe('é\u{1F600}\u0000')
    expect(await store.compareAndSet('all', all.slice(0, 511), 'x')).toBe(false)
    expect(await store.compareAndSet('all', all, 'x')).toBe(true)
    const got = (await store.get('text'))!
    got[0] = 0 // the caller's copy, not the stored value
    expect(text(await store.get('text'))).toBe('é\u{1F600}\u0000')
    // maxBytes counts bytes, not string characters: a 7-byte UTF-8 value counts 7.
    const before = store.stats().bytes
    await store.set('all', 'é\u{1F600}\u0000')
    expect(store.stats().bytes - before).toBe(Buffer.byteLength('é\u{1F600}\u0000') - 1)
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
