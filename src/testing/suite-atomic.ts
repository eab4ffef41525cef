/** The store suite, part 2: increment and compareAndSet (or their refusal), and close. */
import { describe, expect, it } from 'vitest'
import { atomic, claimed, collect, expectCode, type Harness, randomNamespace, sleep, text } from './harness.js'

export function atomicTests(h: Harness): void {
  claimed(
    h,
    (c) => c.atomic === 'none',
    'says it has no atomic increment or compareAndSet (UNSUPPORTED), as its capabilities say',
    async () => {
      const s = h.fresh()
      await expectCode(s.increment('n'), 'UNSUPPORTED')
      await expectCode(s.compareAndSet('k', null, 'v'), 'UNSUPPORTED')
      expect(await s.exists('n')).toBe(false)
    },
  )

  claimed(
    h,
    (c) => !c.listKeys,
    'says it cannot list keys (UNSUPPORTED), as its capabilities say',
    async () => {
      const s = h.fresh()
      await s.set('k', 'v')
      await expectCode(collect(s.keys()), 'UNSUPPORTED')
      await expectCode(s.deleteAll(), 'UNSUPPORTED')
      expect(text(await s.get('k'))).toBe('v')
      await s.delete('k')
    },
  )

  describe('increment', () => {
    claimed(h, atomic, 'starts at 0, adds steps, stores the decimal string', async () => {
      const s = h.fresh()
      expect(await s.increment('n')).toBe(1)
      expect(await s.increment('n', 10)).toBe(11)
      expect(await s.increment('n', -20)).toBe(-9)
      expect(text(await s.get('n'))).toBe('-9')
      await s.set('m', '41')
      expect(await s.increment('m')).toBe(42)
      expect(await s.expiresIn('n')).toBe(Infinity)
    })

    claimed(h, atomic, 'applies expiresIn only when it creates the key (a fixed window)', async () => {
      const s = h.fresh()
      expect(await s.increment('w', 1, { expiresIn: 1_000 })).toBe(1)
      await sleep(300)
      expect(await s.increment('w', 1, { expiresIn: 1_000 })).toBe(2)
      const left = await s.expiresIn('w')
      expect(left).not.toBeNull()
      expect(left).toBeLessThanOrEqual(750)
      await s.set('p', '5')
      expect(await s.increment('p', 1, { expiresIn: 1_000 })).toBe(6)
      expect(await s.expiresIn('p')).toBe(Infinity) // existed: keeps "never"
    })

    claimed(
      h,
      atomic,
      'rejects a value that is not an integer and a result outside the safe range, changing nothing',
      async () => {
        const s = h.fresh()
        await s.set('word', 'abc')
        await s.set('float', '1.5')
        await s.set('bytes', new Uint8Array([0, 255]))
        await s.set('max', String(Number.MAX_SAFE_INTEGER - 1))
        for (const key of ['word', 'float', 'bytes']) {
          expect(await expectCode(s.increment(key), 'INVALID_ARGUMENT')).toContain(key)
        }
        await expectCode(s.increment('max', 2), 'INVALID_ARGUMENT')
        expect(text(await s.get('word'))).toBe('abc')
        expect(text(await s.get('max'))).toBe(String(Number.MAX_SAFE_INTEGER - 1))
        expect(await s.increment('max')).toBe(Number.MAX_SAFE_INTEGER)
      },
    )

    claimed(h, atomic, 'increments only the canonical decimal form ("007", "-0", "+1", " 1" are not integers)', async () => {
      const s = h.fresh()
      const odd = ['007', '00', '-0', '-007', '+1', ' 1', '1 ', '1e3', '0x10', '1.0', '', '١']
      for (const [i, value] of odd.entries()) {
        await s.set(`odd${i}`, value)
        const message = await expectCode(s.increment(`odd${i}`), 'INVALID_ARGUMENT')
        expect(message, JSON.stringify(value)).toContain(`odd${i}`)
        expect(text(await s.get(`odd${i}`))).toBe(value)
      }
      await s.set('zero', '0')
      await s.set('negative', '-7')
      expect(await s.increment('zero')).toBe(1)
      expect(await s.increment('negative')).toBe(-6)
      expect(await s.increment('negative', 6)).toBe(0)
      expect(text(await s.get('negative'))).toBe('0')
    })

    claimed(h, atomic, 'is atomic under concurrency in one process', async () => {
      const s = h.fresh()
      const results = await Promise.all(Array.from({ length: 200 }, () => s.increment('c')))
      expect(new Set(results).size).toBe(200)
      expect(text(await s.get('c'))).toBe('200')
    })
  })

  describe('compareAndSet', () => {
    claimed(h, atomic, 'writes only when the current value matches', async () => {
      const s = h.fresh()
      expect(await s.compareAndSet('k', null, 'v1')).toBe(true)
      expect(await s.compareAndSet('k', null, 'v2')).toBe(false)
      expect(await s.compareAndSet('k', Buffer.from('nope'), 'v2')).toBe(false)
      expect(await s.compareAndSet('k', Buffer.from('v1'), 'v2', { expiresIn: 10_000 })).toBe(true)
      expect(text(await s.get('k'))).toBe('v2')
      expect(await s.expiresIn('k')).toBeGreaterThan(9_000)
      expect(await s.compareAndSet('missing', Buffer.from('v1'), 'x')).toBe(false)
      expect(await s.exists('missing')).toBe(false)
      // the empty value is a value, not absence
      await s.set('e', '')
      expect(await s.compareAndSet('e', null, 'x')).toBe(false)
      expect(await s.compareAndSet('e', new Uint8Array(0), 'x')).toBe(true)
      // bytes compare exactly
      await s.set('b', new Uint8Array([0, 255]))
      expect(await s.compareAndSet('b', new Uint8Array([0, 254]), 'x')).toBe(false)
      expect(await s.compareAndSet('b', new Uint8Array([0, 255]), new Uint8Array([1]))).toBe(true)
    })

    claimed(h, atomic, 'lets exactly one of many concurrent writers win', async () => {
      const s = h.fresh()
      await s.set('k', 'start')
      const wins = await Promise.all(Array.from({ length: 50 }, (_, i) => s.compareAndSet('k', Buffer.from('start'), `w${i}`)))
      expect(wins.filter(Boolean)).toHaveLength(1)
      const absent = await Promise.all(Array.from({ length: 50 }, (_, i) => s.compareAndSet('new', null, `w${i}`)))
      expect(absent.filter(Boolean)).toHaveLength(1)
    })
  })

  claimed(h, atomic, 'answers many operations issued at once on a store that has just been opened', async () => {
    const own = await h.open(randomNamespace())
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => own.increment(`k${i % 5}`)))
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    await Promise.all(Array.from({ length: 5 }, (_, i) => own.delete(`k${i}`)))
    await own.close()
  })

  describe('close', () => {
    it('is idempotent and makes every operation reject with STORE_CLOSED', async () => {
      const own = await h.open(randomNamespace())
      const child = own.withNamespace('c')
      await child.set('k', 'v')
      await child.delete('k')
      await own.close()
      await own.close()
      for (const s of [own, child]) {
        await expectCode(s.get('k'), 'STORE_CLOSED')
        await expectCode(s.set('k', 'v'), 'STORE_CLOSED')
        await expectCode(s.delete('k'), 'STORE_CLOSED')
        await expectCode(s.deleteAll(), 'STORE_CLOSED')
        await expectCode(s.exists('k'), 'STORE_CLOSED')
        await expectCode(s.expiresIn('k'), 'STORE_CLOSED')
        await expectCode(s.deleteExpired(), 'STORE_CLOSED')
        await expectCode(collect(s.keys()), 'STORE_CLOSED')
        await expectCode(s.increment('k'), 'STORE_CLOSED')
        await expectCode(s.compareAndSet('k', null, 'v'), 'STORE_CLOSED')
      }
      expect(() => own.withNamespace('x')).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }))
    })

    it('closing a child view leaves the root open', async () => {
      const s = h.fresh()
      const child = s.withNamespace('c')
      await child.close()
      await expectCode(child.get('k'), 'STORE_CLOSED')
      await s.set('k', 'still open')
      expect(text(await s.get('k'))).toBe('still open')
    })
  })
}
