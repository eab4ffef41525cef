/** The store suite, part 3: namespaces, key listing and deleteAll isolation (the keyv defects 1-4 and 6). */
import { describe, expect, it } from 'vitest'
import { claimed, collect, type Harness, listing, sleep, text } from './harness.js'
import type { TestStoreOptions } from './harness.js'
import type { StoreCapabilities } from '../stores/index.js'

const listingWithRaw = (c: StoreCapabilities, o: TestStoreOptions) => c.listKeys && o.raw !== undefined

export function namespaceTests(h: Harness): void {
  const lists = () => h.root.capabilities.listKeys

  describe('namespaces and keys', () => {
    it('builds namespace paths and rejects invalid names', async () => {
      const s = h.fresh()
      expect(h.root.namespace).toBe('')
      expect(s.withNamespace('b').withNamespace('c').namespace).toBe(`${s.namespace}:b:c`)
      for (const bad of ['', 'a:b', 'a/b', 'a b', 'ä', 'x'.repeat(65), '*', '%']) {
        expect(() => s.withNamespace(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
      }
      expect(s.withNamespace('A-z_0.9').namespace).toContain('A-z_0.9')
    })

    it('keeps keys and namespaces with special characters, case and unicode apart', async () => {
      const s = h.fresh()
      const keys = ['k', 'K', 'a_b', 'aXb', 'a%b', 'a%', 'a*', 'a*b', 'a:b', 'a/b', 'a\\b', 'ä', 'a', 'ａ', '日本', '😀', 'a b']
      keys.push("'; DROP TABLE x; --")
      for (const key of keys) await s.set(key, `v:${key}`)
      for (const key of keys) expect(text(await s.get(key))).toBe(`v:${key}`)
      if (lists()) {
        expect(await collect(s.keys())).toEqual([...keys].sort())
        expect(await collect(s.keys('a%'))).toEqual(['a%', 'a%b'])
        expect(await collect(s.keys('a*'))).toEqual(['a*', 'a*b'])
        expect(await collect(s.keys('a_'))).toEqual(['a_b'])
        expect(await collect(s.keys('K'))).toEqual(['K'])
        expect(await collect(s.keys('😀'))).toEqual(['😀'])
      }
      // namespace a + key b:c is not namespace a:b + key c (collision-free encoding)
      const a = s.withNamespace('a')
      await a.set('b:c', 'in a')
      await a.withNamespace('b').set('c', 'in a:b')
      expect(text(await a.get('b:c'))).toBe('in a')
      expect(text(await a.withNamespace('b').get('c'))).toBe('in a:b')
      // case-distinct namespaces
      await s.withNamespace('App').set('x', 'upper')
      await s.withNamespace('app').set('x', 'lower')
      expect(text(await s.withNamespace('App').get('x'))).toBe('upper')
      expect(text(await s.withNamespace('app').get('x'))).toBe('lower')
      if (!lists()) return
      await s.withNamespace('app').deleteAll()
      expect(text(await s.withNamespace('App').get('x'))).toBe('upper')
    })

    claimed(h, listing, 'lists the keys of its own namespace only, not of children or siblings', async () => {
      const s = h.fresh()
      await s.set('own', '1')
      await s.withNamespace('child').set('nested', '1')
      await s.withNamespace('child').withNamespace('deeper').set('x', '1')
      expect(await collect(s.keys())).toEqual(['own'])
      expect(await collect(s.withNamespace('child').keys())).toEqual(['nested'])
      expect(await collect(s.withNamespace('child').withNamespace('deeper').keys())).toEqual(['x'])
    })

    claimed(h, listing, 'lists every live key when expired ones are interleaved, across pages (keyv defect 6)', async () => {
      const s = h.fresh()
      const live: string[] = []
      await Promise.all(
        Array.from({ length: 1_200 }, (_, i) => {
          const key = `k${String(i).padStart(5, '0')}`
          if (i % 2 === 0) {
            live.push(key)
            return s.set(key, 'v')
          }
          return s.set(key, 'v', { expiresIn: 50 })
        }),
      )
      await sleep(200)
      expect(await collect(s.keys())).toEqual(live.sort())
      expect(await collect(s.keys('k0001'))).toEqual(live.filter((k) => k.startsWith('k0001')).sort())
      await s.deleteAll()
    })
  })

  describe('deleteAll isolation', () => {
    claimed(h, listing, 'removes the namespace and its children and nothing else', async () => {
      const s = h.fresh()
      const app = s.withNamespace('app')
      const apple = s.withNamespace('apple')
      const appChild = app.withNamespace('sessions')
      const otherParentApp = s.withNamespace('other').withNamespace('app')
      const wild = s.withNamespace('a_p')
      const wildMatch = s.withNamespace('aXp')
      const upper = s.withNamespace('APP')
      await app.set('k', '1')
      await app.set('app:k', '1')
      await appChild.set('k', '1')
      await apple.set('k', '1')
      await otherParentApp.set('k', '1')
      await wildMatch.set('k', '1')
      await upper.set('k', '1')
      await s.set('app', 'own key named like the namespace')
      await wild.deleteAll() // `_` is no wildcard (keyv defect 4)
      expect(await wildMatch.exists('k')).toBe(true)
      await app.deleteAll()
      expect(await app.exists('k')).toBe(false)
      expect(await app.exists('app:k')).toBe(false)
      expect(await appChild.exists('k')).toBe(false)
      expect(await apple.exists('k')).toBe(true)
      expect(await otherParentApp.exists('k')).toBe(true)
      expect(await upper.exists('k')).toBe(true) // case matters (keyv defect 4: SQLite LIKE folds case)
      expect(text(await s.get('app'))).toBe('own key named like the namespace')
    })

    claimed(
      h,
      listing,
      'two stores on one connection do not clear each other (keyv defect 1) and prefixes do not collide (defect 2)',
      async () => {
        const s = h.fresh()
        const a = s.withNamespace('a')
        const b = s.withNamespace('b')
        await a.set('x', 'a')
        await b.set('x', 'b')
        await b.set('a:x', 'b with a key that looks namespaced')
        await a.deleteAll()
        expect(text(await b.get('x'))).toBe('b')
        expect(text(await b.get('a:x'))).toBe('b with a key that looks namespaced')
        await a.set('a:foo', '1')
        await a.set('foo', '2')
        expect(text(await a.get('a:foo'))).toBe('1')
        expect(text(await a.get('foo'))).toBe('2')
        expect(await collect(a.keys())).toEqual(['a:foo', 'foo'])
      },
    )

    claimed(
      h,
      listingWithRaw,
      'leaves keys written by other programs into the same storage untouched (keyv defect 3)',
      async () => {
        const raw = h.raw!
        const { rootName } = h
        const s = h.fresh()
        const foreign = [
          'app/x',
          'apple',
          `${rootName}`,
          `${rootName}x/k`,
          `${rootName}-other:${s.namespace}/k`,
          `other:${rootName}:${s.namespace}/k`,
          `${rootName.toUpperCase()}:${s.namespace}/k`,
          `${rootName}_${s.namespace}/k`,
        ]
        for (const key of foreign) await raw.write(key, 'foreign')
        try {
          await s.set('mine', '1')
          await s.deleteAll()
          const other = await h.open(`${rootName}x`)
          await other.deleteAll() // a root whose name extends ours: must not touch `rootName` keys either
          await other.close()
          await h.root.withNamespace('zz').deleteAll()
          for (const key of foreign.filter((k) => !k.startsWith(`${rootName}x/`)))
            expect(await raw.read(key), key).toBe('foreign')
          expect(await collect(h.root.keys())).toEqual([])
        } finally {
          for (const key of foreign) await raw.delete(key)
        }
      },
    )

    claimed(
      h,
      (_, o) => o.raw !== undefined,
      'never reads what other programs wrote outside its root',
      async () => {
        const raw = h.raw!
        const s = h.fresh()
        await raw.write(`${s.namespace}/k`, 'foreign, no root')
        try {
          expect(await s.get('k')).toBeNull()
          if (lists()) expect(await collect(s.keys())).toEqual([])
        } finally {
          await raw.delete(`${s.namespace}/k`)
        }
      },
    )
  })
}
