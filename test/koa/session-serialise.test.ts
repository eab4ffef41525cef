import superjson from 'superjson'
import { describe, expect, it } from 'vitest'
import { serialiseSession } from '../../src/koa/session.js'

describe('session serialisation', () => {
  it('writes exactly what superjson writes, plain JSON or not', () => {
    const cases: Array<Record<string, unknown>> = [
      {},
      { user: 'u1', count: 3, ok: true, nothing: null, list: [1, 'two', { three: 3 }], nested: { a: { b: [] } } },
      { unicode: 'grüße ✓ 😀', quote: '"\\\n' },
      { at: new Date('2026-11-21T10:00:00Z') },
      { tags: new Set(['a']), map: new Map([['k', 1]]), big: 10n ** 20n },
      { missing: undefined, nan: Number.NaN, inf: Infinity, negZero: -0 },
      { sparse: [1, , 3] }, // eslint-disable-line no-sparse-arrays
      { proto: Object.assign(Object.create(null) as object, { a: 1 }) },
    ]
    for (const value of cases) {
      expect(serialiseSession(value)).toBe(superjson.stringify(value))
      expect(superjson.parse(serialiseSession(value))).toEqual(superjson.parse(superjson.stringify(value)))
    }
  })
})
