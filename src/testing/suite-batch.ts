/**
 * The store suite, part 5: `atomic` (several writes under compare-and-set checks, all or nothing),
 * `getMany` and paged `entries`, including two processes racing atomic writes on overlapping keys.
 */
import { describe, expect } from 'vitest'
import { MAX_ATOMIC_KEYS, type Store, type StoreCapabilities } from '../stores/index.js'
import { claimed, expectCode, type Harness, listing, runWorker, sleep, text } from './harness.js'

async function allEntries(store: Store, prefix: string, limit: number): Promise<{ map: Map<string, string>; pages: number }> {
  const map = new Map<string, string>()
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await store.entries(prefix, { limit, cursor })
    pages++
    expect(page.entries.length).toBeLessThanOrEqual(limit * 2) // Redis SCAN may return a few more than COUNT
    for (const [key, value] of page.entries) map.set(key, text(value) as string)
    cursor = page.cursor ?? undefined
  } while (cursor !== undefined && pages < 10_000)
  return { map, pages }
}

const atomicWrites = (c: StoreCapabilities) => c.atomicWrites
const always = () => true

export function batchTests(h: Harness): void {
  describe('getMany', () => {
    claimed(h, always, 'reads values in order, null for missing and expired keys, repeated keys included', async () => {
      const s = h.fresh()
      await s.set('a', 'A')
      await s.set('b', new Uint8Array([0, 255]))
      await s.set('gone', 'x', { expiresIn: 30 })
      await h.root.set('a', 'root a') // another namespace's key of the same name
      await sleep(80)
      const got = await s.getMany(['b', 'missing', 'a', 'gone', 'a'])
      expect(got.map((v) => (v === null ? null : [...v]))).toEqual([
        [0, 255],
        null,
        [...Buffer.from('A')],
        null,
        [...Buffer.from('A')],
      ])
      expect(got[0]).toBeInstanceOf(Uint8Array)
      expect(await s.getMany([])).toEqual([])
      await h.root.delete('a')
    })

    claimed(h, always, 'rejects an invalid key or a non-array with INVALID_ARGUMENT', async () => {
      const s = h.fresh()
      await expectCode(s.getMany(['ok', '']), 'INVALID_ARGUMENT')
      await expectCode(s.getMany('a' as unknown as string[]), 'INVALID_ARGUMENT')
      await expectCode(s.getMany(Array.from({ length: 10_001 }, (_, i) => `k${i}`)), 'INVALID_ARGUMENT')
    })
  })

  describe('entries', () => {
    claimed(
      h,
      listing,
      'lists every live key under a prefix with its value, in pages, and nothing of children or siblings',
      async () => {
        const s = h.fresh()
        const writes: Array<Promise<void>> = []
        for (let i = 0; i < 2_500; i++) writes.push(s.set(`item/${String(i).padStart(4, '0')}`, `v${i}`))
        writes.push(s.set('other/1', 'no'), s.set('item/expired', 'x', { expiresIn: 30 }))
        writes.push(s.withNamespace('child').set('item/9999', 'no'), h.root.set('item/0001', 'no'))
        await Promise.all(writes)
        await sleep(80)
        const { map, pages } = await allEntries(s, 'item/', 1_000)
        expect(map.size).toBe(2_500)
        expect(map.get('item/0042')).toBe('v42')
        expect(map.has('item/expired')).toBe(false)
        expect(map.has('item/9999')).toBe(false)
        expect(pages).toBeGreaterThanOrEqual(2)
        const whole = await allEntries(s, '', 10_000)
        expect(whole.map.size).toBe(2_501)
        expect(whole.map.get('other/1')).toBe('no')
        expect((await allEntries(s, 'none/', 10)).map.size).toBe(0)
        await h.root.delete('item/0001')
      },
      60_000,
    )

    claimed(h, listing, 'rejects a bad limit, cursor or prefix with INVALID_ARGUMENT', async () => {
      const s = h.fresh()
      await expectCode(s.entries('p', { limit: 0 }), 'INVALID_ARGUMENT')
      await expectCode(s.entries('p', { limit: 10_001 }), 'INVALID_ARGUMENT')
      await expectCode(s.entries('p', { limit: 1.5 }), 'INVALID_ARGUMENT')
      await expectCode(s.entries('p', { cursor: '' }), 'INVALID_ARGUMENT')
      await expectCode(s.entries(7 as unknown as string), 'INVALID_ARGUMENT')
    })
  })

  describe('atomic', () => {
    claimed(
      h,
      (c) => !c.atomicWrites,
      'says it has no atomic multi-key write (UNSUPPORTED), as its capabilities say, and writes nothing',
      async () => {
        const s = h.fresh()
        await expectCode(s.atomic([{ op: 'set', key: 'k', value: 'v' }]), 'UNSUPPORTED')
        expect(await s.get('k')).toBeNull()
      },
    )

    claimed(h, atomicWrites, 'applies sets, deletes and increments together when every check holds', async () => {
      const s = h.fresh()
      await s.set('old', 'x')
      await s.set('version', '3')
      await s.set('count', '10')
      const ok = await s.atomic(
        [
          { op: 'set', key: 'doc', value: 'new doc' },
          { op: 'set', key: 'short', value: 's', expiresIn: 60_000 },
          { op: 'delete', key: 'old' },
          { op: 'increment', key: 'count', by: 5 },
          { op: 'increment', key: 'fresh-counter', expiresIn: 60_000 },
          { op: 'set', key: 'version', value: '4' },
        ],
        [
          { key: 'version', expected: Buffer.from('3') },
          { key: 'doc', expected: null },
        ],
      )
      expect(ok).toBe(true)
      expect((await s.getMany(['doc', 'old', 'count', 'fresh-counter', 'version'])).map(text)).toEqual([
        'new doc',
        null,
        '15',
        '1',
        '4',
      ])
      expect(await s.expiresIn('doc')).toBe(Infinity)
      const left = await s.expiresIn('short')
      expect(left).toBeGreaterThan(0)
      expect(left).toBeLessThanOrEqual(60_000)
      expect(await s.expiresIn('fresh-counter')).toBeLessThanOrEqual(60_000)
      // an increment of an existing counter keeps its window
      expect(await s.atomic([{ op: 'increment', key: 'fresh-counter', expiresIn: 1 }])).toBe(true)
      expect(await s.expiresIn('fresh-counter')).toBeGreaterThan(1_000)
      // an empty check list applies unconditionally; the empty value can be expected
      await s.set('empty', new Uint8Array(0))
      expect(await s.atomic([{ op: 'set', key: 'e2', value: 'y' }], [{ key: 'empty', expected: new Uint8Array(0) }])).toBe(true)
    })

    claimed(
      h,
      atomicWrites,
      'changes nothing when a check fails: a different value, a present key expected absent, a missing one expected',
      async () => {
        const s = h.fresh()
        await s.set('a', '1')
        await s.set('b', '2')
        const writes = [
          { op: 'set', key: 'a', value: 'changed' },
          { op: 'delete', key: 'b' },
          { op: 'increment', key: 'n' },
        ] as const
        expect(await s.atomic(writes, [{ key: 'a', expected: Buffer.from('other') }])).toBe(false)
        expect(await s.atomic(writes, [{ key: 'b', expected: null }])).toBe(false)
        expect(await s.atomic(writes, [{ key: 'missing', expected: Buffer.from('1') }])).toBe(false)
        expect(
          await s.atomic(writes, [
            { key: 'a', expected: Buffer.from('1') },
            { key: 'b', expected: Buffer.from('x') },
          ]),
        ).toBe(false)
        expect((await s.getMany(['a', 'b', 'n'])).map(text)).toEqual(['1', '2', null])
      },
    )

    claimed(h, atomicWrites, 'treats an expired key as absent in a check', async () => {
      const s = h.fresh()
      await s.set('lease', 'holder', { expiresIn: 30 })
      await sleep(80)
      expect(await s.atomic([{ op: 'set', key: 'lease', value: 'me' }], [{ key: 'lease', expected: null }])).toBe(true)
      expect(text(await s.get('lease'))).toBe('me')
      expect(await s.expiresIn('lease')).toBe(Infinity)
    })

    claimed(
      h,
      atomicWrites,
      'rejects an increment of a value that is no integer with INVALID_ARGUMENT, applying none of the writes',
      async () => {
        const s = h.fresh()
        await s.set('text', 'abc')
        await s.set('zeros', '007')
        await s.set('big', String(Number.MAX_SAFE_INTEGER))
        for (const key of ['text', 'zeros', 'big']) {
          await expectCode(
            s.atomic([
              { op: 'set', key: 'first', value: 'should not land' },
              { op: 'increment', key },
            ]),
            'INVALID_ARGUMENT',
          )
        }
        expect((await s.getMany(['first', 'text', 'zeros', 'big'])).map(text)).toEqual([
          null,
          'abc',
          '007',
          String(Number.MAX_SAFE_INTEGER),
        ])
      },
    )

    claimed(h, atomicWrites, 'rejects malformed calls with INVALID_ARGUMENT before writing anything', async () => {
      const s = h.fresh()
      const set = { op: 'set', key: 'a', value: 'v' }
      const bad: Array<[unknown, unknown]> = [
        [[set, { op: 'delete', key: 'a' }], []], // a key written twice
        [
          [set],
          [
            { key: 'b', expected: null },
            { key: 'b', expected: null },
          ],
        ],
        [[{ op: 'rename', key: 'a' }], []],
        [[{ op: 'set', key: '', value: 'v' }], []],
        [[{ op: 'set', key: 'a', value: 7 }], []],
        [[{ op: 'set', key: 'a', value: 'v', expiresIn: -1 }], []],
        [[{ op: 'increment', key: 'a', by: 0.5 }], []],
        [Array.from({ length: MAX_ATOMIC_KEYS + 1 }, (_, i) => ({ op: 'delete', key: `k${i}` })), []],
        ['not an array', []],
      ]
      for (const [writes, checks] of bad) {
        await expectCode(s.atomic(writes as never, checks as never), 'INVALID_ARGUMENT')
      }
      expect(await s.get('a')).toBeNull()
    })

    claimed(
      h,
      atomicWrites,
      'lets exactly one of many concurrent writers win each round on overlapping keys',
      async () => {
        const s = h.fresh()
        // 20 writers each move one unit from "pool" to their own key, 5 times, read-check-retry.
        const writer = async (id: number) => {
          for (let done = 0; done < 5;) {
            const [pool, mine] = await s.getMany(['pool', `w${id}`])
            const p = pool == null ? 100 : Number(text(pool))
            const m = mine == null ? 0 : Number(text(mine))
            const ok = await s.atomic(
              [
                { op: 'set', key: 'pool', value: String(p - 1) },
                { op: 'set', key: `w${id}`, value: String(m + 1) },
              ],
              [
                { key: 'pool', expected: pool ?? null },
                { key: `w${id}`, expected: mine ?? null },
              ],
            )
            if (ok) done++
          }
        }
        await Promise.all(Array.from({ length: 20 }, (_, i) => writer(i)))
        const values = (await s.getMany(['pool', ...Array.from({ length: 20 }, (_, i) => `w${i}`)])).map((v) => Number(text(v)))
        expect(values[0]).toBe(0)
        expect(values.slice(1)).toEqual(Array.from({ length: 20 }, () => 5))
      },
      60_000,
    )

    claimed(
      h,
      (c, o) => c.atomicWrites && c.atomic === 'processes' && o.url !== undefined,
      'two processes doing 200 atomic transfers each on overlapping keys lose none and never half-apply one',
      async () => {
        const ns = h.root.withNamespace('race')
        const results = await Promise.all([runWorker(h, 'atomic', 200, 'p1'), runWorker(h, 'atomic', 200, 'p2')])
        const [shared, p1, p2, total] = (await ns.getMany(['shared', 'own:p1', 'own:p2', 'total'])).map((v) => Number(text(v)))
        expect(shared).toBe(400)
        expect([p1, p2]).toEqual([200, 200])
        expect(total).toBe(400) // incremented inside the same atomics
        // Not asserted (timing-dependent), but shows the atomics really raced.
        console.info(`${h.name}: atomic retries ${results.map((r) => r.retries).join(' + ')}`)
      },
      180_000,
    )
  })
}
