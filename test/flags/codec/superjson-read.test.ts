import superjson from 'superjson'
import { describe, expect, it } from 'vitest'
import { parseSuperjson } from '../../../src/flags/codec/superjson-read.js'

const at = new Date('2026-01-02T03:04:05.678Z')

// Every shape below must read exactly as superjson.parse reads it, whichever path takes it.
const values: unknown[] = [
  { key: 'a', createdAt: at, updatedAt: at, rules: [] },
  {
    key: 'a',
    scheduledChanges: [
      { id: 's', at },
      { id: 't', at: new Date(0) },
    ],
    nested: { deeper: { when: at } },
  },
  { key: 'a', 'dotted.key': at, 'back\\slash': at },
  { key: 'a', map: new Map([['x', at]]), set: new Set([1, 2]), big: 10n, nothing: undefined, re: /x/g },
  { key: 'a', shared: { same: 1 } },
  { '0': at, '00': [at, at] },
  [at, { at }],
  { plain: 1, list: [1, 'two', null] },
  at,
  'text',
  42,
  null,
]

describe('parseSuperjson', () => {
  it.each(values.map((v) => [superjson.stringify(v)]))('reads %s as superjson.parse does', (text) => {
    expect(parseSuperjson(text)).toStrictEqual(superjson.parse(text))
  })

  it('reads hand-written and odd payloads as superjson.parse does', () => {
    const shared = { same: 1 }
    const odd = [
      superjson.stringify({ a: shared, b: shared }),
      '{"json":{"a":"2026-01-02T03:04:05.678Z"},"meta":{"values":{"a":["Date"]}}}', // v0 paths
      '{"json":{"a":5},"meta":{"values":{"a":["Date"]},"v":1}}', // a number where a Date string is
      '{"json":{"a":{"b":"x"}},"meta":{"values":{"a.b":["Date"],"a":["map"]},"v":1}}',
      '{"json":{"__proto__":"2026-01-02T03:04:05.678Z"},"meta":{"values":{"__proto__":["Date"]},"v":1}}',
      '{"json":{"a":"2026-01-02T03:04:05.678Z"}}',
      '{"json":[1,2]}',
      '{"json":"x","meta":{"v":1}}',
      '{"other":1}',
      '[]',
    ]
    for (const text of odd) {
      let expected: unknown
      let failure: unknown
      try {
        expected = superjson.parse(text)
      } catch (error) {
        failure = error
      }
      if (failure !== undefined) expect(() => parseSuperjson(text)).toThrow()
      else expect(parseSuperjson(text)).toStrictEqual(expected)
    }
  })
})
