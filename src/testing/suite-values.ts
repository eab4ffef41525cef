/** The store suite, part 1: bytes, arguments, key rules, expiry and renew-on-read. */
import { describe, expect, it } from 'vitest'
import { claimed, collect, expectCode, type Harness, listing, sleep, text } from './harness.js'

export function valueTests(h: Harness): void {
  const lists = () => h.root.capabilities.listKeys

  describe('bytes', () => {
    it('round-trips every byte value, the empty value and a string as UTF-8', async () => {
      const s = h.fresh()
      const all = new Uint8Array(256).map((_, i) => i)
      await s.set('all', all)
      await s.set('empty', new Uint8Array(0))
      await s.set('pair', new Uint8Array([0, 255]))
      await s.set('text', 'grüße ✓')
      const got = await s.get('all')
      expect(got).toBeInstanceOf(Uint8Array)
      expect([...(got ?? [])]).toEqual([...all])
      expect([...((await s.get('pair')) ?? [])]).toEqual([0, 255])
      const empty = await s.get('empty')
      expect(empty).toBeInstanceOf(Uint8Array)
      expect(empty?.byteLength).toBe(0)
      const utf8 = await s.get('text')
      expect(utf8).toBeInstanceOf(Uint8Array)
      expect([...(utf8 ?? [])]).toEqual([...Buffer.from('grüße ✓', 'utf8')])
    })

    it('keeps what was stored when the caller mutates its array afterwards', async () => {
      const s = h.fresh()
      const value = new Uint8Array([1, 2, 3])
      await s.set('k', value)
      value[0] = 9
      const got = await s.get('k')
      expect([...(got ?? [])]).toEqual([1, 2, 3])
      if (got !== null) got[1] = 9
      expect([...((await s.get('k')) ?? [])]).toEqual([1, 2, 3])
    })

    it('stores a 16 MiB value and refuses a larger one before writing anything', async () => {
      const s = h.fresh()
      const big = Buffer.alloc(16 * 1024 * 1024)
      for (let i = 0; i < big.length; i += 4096) big[i] = i % 251
      await s.set('big', big)
      const got = await s.get('big')
      expect(got?.byteLength).toBe(big.length)
      expect(Buffer.compare(Buffer.from(got ?? []), big)).toBe(0)
      await s.set('k', 'before')
      await expectCode(s.set('k', Buffer.alloc(16 * 1024 * 1024 + 1)), 'VALUE_TOO_LARGE')
      expect(text(await s.get('k'))).toBe('before')
      await s.delete('big')
    }, 60_000)
  })

  describe('basic operations', () => {
    it('get of a missing key is null, delete of a missing key is a no-op, set replaces', async () => {
      const s = h.fresh()
      expect(await s.get('nope')).toBeNull()
      await s.delete('nope')
      await s.set('k', 'one', { expiresIn: 60_000 })
      await s.set('k', 'two')
      expect(text(await s.get('k'))).toBe('two')
      expect(await s.expiresIn('k')).toBe(Infinity) // set replaces the expiry too
      await s.delete('k')
      expect(await s.get('k')).toBeNull()
      expect(await s.exists('k')).toBe(false)
    })

    it('rejects invalid arguments with INVALID_ARGUMENT and writes nothing', async () => {
      const s = h.fresh()
      await s.set('k', 'kept')
      for (const expiresIn of [0, -1, Number.NaN, Infinity, -Infinity, '10' as unknown as number, 1e20]) {
        const message = await expectCode(s.set('k', 'changed', { expiresIn }), 'INVALID_ARGUMENT')
        expect(message).toContain('expiresIn')
        await expectCode(s.increment('k2', 1, { expiresIn }), 'INVALID_ARGUMENT')
        await expectCode(s.compareAndSet('k', null, 'x', { expiresIn }), 'INVALID_ARGUMENT')
        await expectCode(s.get('k', { renewFor: expiresIn }), 'INVALID_ARGUMENT')
      }
      await expectCode(s.set('', 'x'), 'INVALID_ARGUMENT')
      await expectCode(s.set(42 as unknown as string, 'x'), 'INVALID_ARGUMENT')
      await expectCode(s.set('k', 42 as unknown as string), 'INVALID_ARGUMENT')
      await expectCode(s.set('k', null as unknown as string), 'INVALID_ARGUMENT')
      await expectCode(s.set('k', { a: 1 } as unknown as string), 'INVALID_ARGUMENT')
      await expectCode(s.set('x'.repeat(1025), 'x'), 'INVALID_ARGUMENT')
      await expectCode(s.set('é'.repeat(513), 'x'), 'INVALID_ARGUMENT') // 1026 UTF-8 bytes
      await expectCode(s.increment('k2', 1.5), 'INVALID_ARGUMENT')
      await expectCode(s.increment('k2', 2 ** 60), 'INVALID_ARGUMENT')
      await expectCode(s.increment('k2', Number.NaN), 'INVALID_ARGUMENT')
      expect(text(await s.get('k'))).toBe('kept')
      expect(await s.exists('k2')).toBe(false)
      if (lists()) expect(await collect(s.keys())).toEqual(['k'])
      // the longest key allowed: 1024 UTF-8 bytes
      await s.set('é'.repeat(512), 'x')
      expect(text(await s.get('é'.repeat(512)))).toBe('x')
    })
  })

  describe('one behaviour for ill-formed keys on every backend', () => {
    const illFormed = ['\uD800', 'a\uDC00b', 'x\uD83D', '\uDE00\uD83D', 'a\0b', '\0']

    it('rejects a key with a lone surrogate or a NUL with INVALID_ARGUMENT on every operation, writing nothing', async () => {
      const s = h.fresh()
      for (const key of illFormed) {
        const message = await expectCode(s.set(key, 'v'), 'INVALID_ARGUMENT')
        expect(message).toContain('key')
        await expectCode(s.get(key), 'INVALID_ARGUMENT')
        await expectCode(s.get(key, { renewFor: 1_000 }), 'INVALID_ARGUMENT')
        await expectCode(s.delete(key), 'INVALID_ARGUMENT')
        await expectCode(s.exists(key), 'INVALID_ARGUMENT')
        await expectCode(s.expiresIn(key), 'INVALID_ARGUMENT')
        await expectCode(s.increment(key), 'INVALID_ARGUMENT')
        await expectCode(s.compareAndSet(key, null, 'v'), 'INVALID_ARGUMENT')
        if (lists()) await expectCode(collect(s.keys(key)), 'INVALID_ARGUMENT')
      }
      if (lists()) expect(await collect(s.keys())).toEqual([])
    })

    it('keeps U+FFFD, a surrogate pair and every other well-formed key apart', async () => {
      const s = h.fresh()
      const keys = ['\uFFFD', '\uD83D\uDE00', '\uD83D\uDE01', 'é', 'e\u0301', '\u0001', '\uFFFF']
      for (const key of keys) await s.set(key, `v ${key}`)
      for (const key of keys) expect(text(await s.get(key)), JSON.stringify(key)).toBe(`v ${key}`)
      if (lists()) expect(await collect(s.keys())).toEqual([...keys].sort())
    })

    claimed(
      h,
      (c) => c.push !== 'none',
      'rejects a channel or a message with a lone surrogate or a NUL with INVALID_ARGUMENT',
      async () => {
        const s = h.fresh()
        for (const bad of illFormed) {
          await expectCode(s.publish(bad, 'm'), 'INVALID_ARGUMENT')
          await expectCode(
            s.subscribe(bad, () => undefined),
            'INVALID_ARGUMENT',
          )
          expect(await expectCode(s.publish('c', bad), 'INVALID_ARGUMENT')).toContain('message')
        }
      },
    )
  })

  describe('expiry', () => {
    it('reports remaining ms, Infinity without expiry, null when missing', async () => {
      const s = h.fresh()
      await s.set('ttl', 'v', { expiresIn: 10_000 })
      await s.set('forever', 'v')
      const left = await s.expiresIn('ttl')
      expect(left).toBeGreaterThan(9_000)
      expect(left).toBeLessThanOrEqual(10_000)
      expect(await s.expiresIn('forever')).toBe(Infinity)
      expect(await s.expiresIn('missing')).toBeNull()
      await s.set('frac', 'v', { expiresIn: 0.5 }) // fractions round up, never to "no expiry"
      const frac = await s.expiresIn('frac')
      expect(frac === null || (frac >= 1 && frac <= 1)).toBe(true)
    })

    it('makes an expired key invisible to every read at once', async () => {
      const s = h.fresh()
      await s.set('gone', 'old', { expiresIn: 100 })
      await s.set('counter', '41', { expiresIn: 100 })
      await s.set('cas', 'old', { expiresIn: 100 })
      await s.set('live', 'v')
      await sleep(250)
      expect(await s.get('gone')).toBeNull()
      expect(await s.get('gone', { renewFor: 10_000 })).toBeNull()
      expect(await s.exists('gone')).toBe(false)
      expect(await s.expiresIn('gone')).toBeNull()
      if (lists()) expect(await collect(s.keys())).toEqual(['live'])
      if (h.root.capabilities.atomic === 'none') return
      expect(await s.increment('counter')).toBe(1) // starts again from 0
      expect(await s.compareAndSet('cas', Buffer.from('old'), 'new')).toBe(false)
      expect(await s.compareAndSet('cas', null, 'new')).toBe(true)
      expect(text(await s.get('cas'))).toBe('new')
    })

    claimed(h, listing, 'deleteExpired removes expired entries of the namespace and its children and counts them', async () => {
      const s = h.fresh()
      const child = s.withNamespace('child')
      const other = h.fresh()
      await s.set('a', '1', { expiresIn: 100 })
      await s.set('b', '1', { expiresIn: 100 })
      await child.set('c', '1', { expiresIn: 100 })
      await s.set('live', '1', { expiresIn: 60_000 })
      await s.set('forever', '1')
      await other.set('o', '1', { expiresIn: 100 })
      await sleep(250)
      const removed = await s.deleteExpired()
      if (h.options.nativeExpiry === true) {
        expect(removed).toBe(0) // the server already removed them
      } else {
        expect(removed).toBe(3)
        expect(await s.deleteExpired()).toBe(0)
        expect(await other.deleteExpired()).toBe(1)
      }
      expect(await collect(s.keys())).toEqual(['forever', 'live'])
      if (h.raw !== undefined) {
        // physically gone, not just invisible (keyv defect 5)
        expect(await h.raw.count(`${h.rootName}:${s.namespace}/a`)).toBe(0)
        expect(await h.raw.count(`${h.rootName}:${s.namespace}:child/c`)).toBe(0)
        expect(await h.raw.count(`${h.rootName}:${s.namespace}/live`)).toBe(1)
      }
    })
  })

  describe('renew on read', () => {
    it('resets an existing expiry and leaves a key without expiry alone', async () => {
      const s = h.fresh()
      await s.set('session', 'v', { expiresIn: 300 })
      await s.set('forever', 'v')
      await sleep(150)
      expect(text(await s.get('session', { renewFor: 2_000 }))).toBe('v')
      expect(await s.expiresIn('session')).toBeGreaterThan(1_500)
      await sleep(300) // past the original expiry (keyv defect 8: the envelope must be renewed too)
      expect(text(await s.get('session'))).toBe('v')
      expect(text(await s.get('forever', { renewFor: 1_000 }))).toBe('v')
      expect(await s.expiresIn('forever')).toBe(Infinity)
      expect(await s.get('missing', { renewFor: 1_000 })).toBeNull()
      expect(await s.exists('missing')).toBe(false)
    })

    claimed(
      h,
      (c) => c.renewOnRead === 'atomic',
      'never resurrects a key deleted concurrently (many rounds)',
      async () => {
        const s = h.fresh()
        for (let round = 0; round < 150; round++) {
          const key = `race${round % 5}`
          await s.set(key, `v${round}`, { expiresIn: 60_000 })
          const renews = Array.from({ length: 4 }, () => s.get(key, { renewFor: 60_000 }))
          const deleted = s.delete(key)
          await Promise.all([...renews, deleted])
          const after = await s.get(key)
          expect(after, `round ${round}`).toBeNull()
          expect(await s.exists(key)).toBe(false)
        }
      },
    )
  })
}
