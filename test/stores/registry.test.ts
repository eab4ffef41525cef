import { describe, expect, it } from 'vitest'
import { MemoryStore, type Store, StoreRegistry } from '../../src/index.js'

describe('StoreRegistry', () => {
  it('hands out registered stores by name and creates the rest with the default factory, once', async () => {
    const sessions = new MemoryStore()
    const registry = new StoreRegistry({ stores: { sessions } })
    expect(registry.get('sessions')).toBe(sessions)
    const limits = registry.get('rate_limit')
    expect(limits).toBeInstanceOf(MemoryStore)
    expect(registry.get('rate_limit')).toBe(limits)
    expect(registry.get('flags')).not.toBe(limits)
    expect(registry.has('flags')).toBe(true)
    expect(registry.has('response_cache')).toBe(false)
    expect(registry.names().sort()).toEqual(['flags', 'rate_limit', 'sessions'])
    await registry.close()
  })

  it('uses a custom default factory, e.g. namespaces of one root', async () => {
    const root = new MemoryStore()
    const registry = new StoreRegistry({ defaultFactory: (name) => root.withNamespace(name) })
    await registry.get('sessions').set('k', 'v')
    expect(registry.get('sessions').namespace).toBe('sessions')
    expect(await root.withNamespace('sessions').exists('k')).toBe(true)
    await registry.close()
    await root.close()
  })

  it('refuses to register a taken name unless allowOverride', async () => {
    const registry = new StoreRegistry()
    const a = new MemoryStore()
    const b = new MemoryStore()
    registry.register('flags', a)
    expect(() => registry.register('flags', b)).toThrow(expect.objectContaining({ code: 'DUPLICATE_STORE' }))
    expect(registry.get('flags')).toBe(a)
    registry.register('flags', b, { allowOverride: true })
    expect(registry.get('flags')).toBe(b)
    expect(() => registry.get('')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
    await registry.close()
    await a.close()
  })

  it('closes every store it created or was given, once', async () => {
    const given = new MemoryStore()
    const registry = new StoreRegistry({ stores: { given } })
    const created: Store = registry.get('created')
    await registry.close()
    await registry.close()
    await expect(given.get('k')).rejects.toMatchObject({ code: 'STORE_CLOSED' })
    await expect(created.get('k')).rejects.toMatchObject({ code: 'STORE_CLOSED' })
    expect(() => registry.get('x')).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }))
  })
})
