import { describe, expect, it } from 'vitest'
import { checkSafePattern, compileSafeRegex, MAX_PATTERN_LENGTH, SafeRegex } from '../../../src/flags/matchers/regex.js'

const PATTERNS = [
  'abc',
  '^abc$',
  'a.c',
  '[a-c]+x',
  '^(foo|bar)baz$',
  '\\d{3}-\\d{4}',
  '^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$',
  '\\bcat\\b',
  '\\Bat',
  '(?:ab)*c',
  'colou?r',
  'x{2,3}',
  '[]',
  '[^]',
  'a|b|',
  '^$',
  '.*.*.*x',
  '(a|aa)*b',
  '^\\w+$',
  '[\\d.]+',
  '\\x41\\u0042',
  'a{,5}',
  'a{2}?b',
  '(?<n>ab)c',
  '[a\\-z]',
  '^.{0,3}$',
  '^\\S+\\s\\S+$',
  '[^a-z0-9]',
  '\\.',
  '\\$\\d+(\\.\\d\\d)?',
  '^(?:\\+|-)?\\d+$',
  '[\\w-]+@example\\.com$',
  '(^a|b$)',
]
const INPUTS = [
  'abc',
  'xabcx',
  'a\nc',
  'aabbccx',
  'foobaz',
  'barbaz',
  'foobarbaz',
  '555-1234',
  'x@y.io',
  'a@b',
  'the cat sat',
  'cats',
  'bat',
  'ababc',
  'c',
  'color',
  'colour',
  'xxx',
  'x',
  '',
  'a',
  'aaaa',
  'b',
  'A',
  'AB',
  'a{,5}',
  'aab',
  'a-z',
  '-',
  '12.5',
  'abcd',
  'ab',
  'two words',
  'x y z',
  '$12.50',
  '$3',
  '+42',
  '-7',
  '4 2',
  'me@example.com',
  'ÄÖü',
]

describe('SafeRegex', () => {
  it('agrees with RegExp#test on a corpus of patterns and inputs', () => {
    for (const pattern of PATTERNS) {
      const safe = new SafeRegex(pattern)
      const native = new RegExp(pattern)
      for (const input of INPUTS) expect(safe.test(input), `${pattern} on ${JSON.stringify(input)}`).toBe(native.test(input))
    }
  })

  it('finds empty matches at the end of the input and in the middle', () => {
    for (const pattern of ['(a|)$', 'a?$', 'b*$', 'x*', '^$', '(?:a|)(?:b|)$', 'c?c?$']) {
      for (const input of ['', 'b', 'ab', 'ba', 'cab', 'aaa']) {
        expect(new SafeRegex(pattern).test(input), `${pattern} on ${JSON.stringify(input)}`).toBe(new RegExp(pattern).test(input))
      }
    }
  })

  it('agrees with RegExp#test on seeded random patterns (anchors, alternation, classes, quantifiers) and inputs', () => {
    // Closures are cached per pattern and anchor state (lists, or bit sets for short programs):
    // one SafeRegex answers every input.
    let seed = 0x2545f491
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const atoms = ['a', 'b', '.', '[ab]', '[^a]', '(?:a|bb)', '(a|)', 'ab']
    const quantifiers = ['', '', '*', '+', '?', '{2}', '{1,3}']
    let checked = 0
    for (let p = 0; p < 400; p++) {
      let pattern = rand(3) === 0 ? '^' : ''
      const parts = 1 + rand(4)
      for (let i = 0; i < parts; i++) pattern += atoms[rand(atoms.length)]! + quantifiers[rand(quantifiers.length)]!
      if (rand(4) === 0) pattern += `|${atoms[rand(atoms.length)]!}`
      if (rand(2) === 0) pattern += '$'
      // Three copies: programs past 32 instructions take the list path, shorter ones the bit sets.
      for (const source of [pattern, `(?:${pattern})(?:${pattern})(?:${pattern})`]) {
        let safe: SafeRegex
        try {
          safe = new SafeRegex(source)
        } catch {
          continue // a shape the write-time screen refuses (e.g. a nested quantifier)
        }
        const native = new RegExp(source)
        for (let k = 0; k < 30; k++) {
          const input = Array.from({ length: rand(12) }, () => 'abc'[rand(3)]).join('')
          expect(safe.test(input), `${source} on ${JSON.stringify(input)}`).toBe(native.test(input))
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000)
  })

  it.each([
    ['(a+)+$', 'nested quantifier'],
    ['(a*)*', 'nested quantifier'],
    ['(\\w+\\s?)+$', 'nested quantifier'],
    ['(x+x+)+y', 'nested quantifier'],
    ['(a|b)\\1', 'backreferences'],
    ['(?<x>a)\\k<x>', 'backreferences'],
    ['(?=a)a', 'lookaround'],
    ['(?!a)b', 'lookaround'],
    ['(?<=a)b', 'lookaround'],
    ['(?<!a)b', 'lookaround'],
    ['a**', 'nothing to repeat'],
    ['*a', 'nothing to repeat'],
    ['\\p{L}', 'unsupported escape'],
    ['[z-a]', 'out of order'],
    ['a{5,2}', 'out of order'],
    ['a{1000}', 'repetition count'],
    ['(ab', 'unterminated group'],
    ['ab)', 'unmatched'],
    ['x'.repeat(MAX_PATTERN_LENGTH + 1), 'longer than'],
    ['(abc|def){100}', 'too complex'],
  ])('rejects %s', (pattern, reason) => {
    expect(checkSafePattern(pattern)).toContain(reason)
  })

  it('runs in linear time on inputs that make backtracking engines explode', () => {
    // RegExp needs ~a minute for the first one and 2^n steps for the second on this input.
    const input = 'a'.repeat(1024)
    expect(new SafeRegex('.*.*.*x').test(input)).toBe(false)
    expect(new SafeRegex('(a|aa)*b').test(input)).toBe(false)
    expect(new SafeRegex('(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)(a|a)b').test(input)).toBe(false)
    expect(new SafeRegex('^a{0,50}a{0,50}a{0,50}$').test(input)).toBe(false)
    expect(new SafeRegex('.*.*.*a$').test(input)).toBe(true)
  })

  it('compiles each pattern once', () => {
    expect(compileSafeRegex('^cached$')).toBe(compileSafeRegex('^cached$'))
  })
})
