import { describe, expect, it } from 'vitest'
import { inRollout, murmur3, pickVariant, rolloutBucket } from '../../../src/flags/evaluation/hash.js'

/** Byte-at-a-time reference implementation over Buffer bytes: independent of the optimised one. */
function referenceMurmur3(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0
  const rounds = Math.floor(bytes.length / 4)
  const mul = (a: number, b: number) => Number((BigInt(a) * BigInt(b)) & 0xffffffffn)
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0
  for (let i = 0; i < rounds; i++) {
    let k = (bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)) >>> 0
    k = mul(rotl(mul(k, 0xcc9e2d51), 15), 0x1b873593)
    h = (mul(rotl((h ^ k) >>> 0, 13), 5) + 0xe6546b64) >>> 0
  }
  let k = 0
  for (let j = bytes.length - 1; j >= rounds * 4; j--) k = ((k << 8) | bytes[j]!) >>> 0
  if (bytes.length % 4 !== 0) h = (h ^ mul(rotl(mul(k, 0xcc9e2d51), 15), 0x1b873593)) >>> 0
  h = (h ^ bytes.length) >>> 0
  h = mul((h ^ (h >>> 16)) >>> 0, 0x85ebca6b)
  h = mul((h ^ (h >>> 13)) >>> 0, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

describe('murmur3', () => {
  it('gives the check values of flags.md', () => {
    expect(murmur3('new_checkout:user-123')).toBe(2880407401)
    expect(rolloutBucket('new_checkout', 'user-123')).toBe(2)
    expect(murmur3('café:ü-1')).toBe(2504146954)
    expect(rolloutBucket('café', 'ü-1')).toBe(55)
  })

  it('matches published vectors', () => {
    expect(murmur3('')).toBe(0)
    expect(murmur3('', 1)).toBe(0x514e28b7)
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723)
  })

  it('hashes the UTF-8 bytes of non-ASCII strings (not UTF-16 code units)', () => {
    const samples = ['café', 'ü', '日本語のキー', 'emoji 😀 key', '𝄞', 'mixed-Ω-≈-ç-🚀-end', 'a'.repeat(3000) + 'é']
    for (const text of samples) {
      const bytes = Buffer.from(text, 'utf8')
      expect(murmur3(text), text).toBe(referenceMurmur3(bytes))
      expect(murmur3(bytes), text).toBe(referenceMurmur3(bytes))
    }
  })

  it('encodes a lone surrogate as U+FFFD, like TextEncoder', () => {
    const text = 'x\ud800y'
    expect(murmur3(text)).toBe(referenceMurmur3(new TextEncoder().encode(text)))
  })

  it('agrees with the reference on every length 0..64 (block and tail handling)', () => {
    for (let n = 0; n <= 64; n++) {
      const text = Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7) % 90))).join('')
      expect(murmur3(text)).toBe(referenceMurmur3(Buffer.from(text)))
    }
  })
})

describe('rollouts', () => {
  const keys = Array.from({ length: 100_000 }, (_, i) => `user-${i}-${(i * 2654435761) >>> 0}`)

  it('admits 30% ± 1% of 100,000 targeting keys to a 30% rollout', () => {
    const admitted = keys.filter((k) => inRollout('new_checkout', k, 30)).length
    expect(admitted / keys.length).toBeGreaterThan(0.29)
    expect(admitted / keys.length).toBeLessThan(0.31)
  })

  it('gives the same answer for the same key every time, and nests rollouts', () => {
    for (const k of keys.slice(0, 1000)) {
      const first = inRollout('flag.a', k, 40)
      expect(inRollout('flag.a', k, 40)).toBe(first)
      // Raising the percentage never removes anyone.
      if (first) expect(inRollout('flag.a', k, 60)).toBe(true)
    }
  })

  it('handles the edges: no key, empty key, 0 and 100', () => {
    expect(inRollout('f', undefined, 100)).toBe(true)
    expect(inRollout('f', undefined, 99.9)).toBe(false)
    expect(inRollout('f', '', 50)).toBe(false)
    expect(inRollout('f', 'someone', 0)).toBe(false)
    expect(inRollout('f', 'someone', -5)).toBe(false)
    expect(inRollout('f', 'someone', 150)).toBe(true)
    expect(inRollout('new_checkout', 'user-123', 2)).toBe(true) // bucket 2
    expect(inRollout('new_checkout', 'user-123', 1)).toBe(false)
  })

  it('buckets non-ASCII keys by their UTF-8 bytes', () => {
    expect(inRollout('café', 'ü-1', 55)).toBe(true)
    expect(inRollout('café', 'ü-1', 54)).toBe(false)
  })
})

describe('pickVariant', () => {
  const variants = [
    { key: 'control', weight: 50 },
    { key: 'treatment-a', weight: 30 },
    { key: 'treatment-b', weight: 20 },
  ]

  it('splits 50/30/20 within ± 1% over 100,000 keys', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 100_000; i++) {
      const v = pickVariant('checkout.experiment', `visitor-${i}`, variants)!
      counts.set(v.key, (counts.get(v.key) ?? 0) + 1)
    }
    expect(Math.abs(counts.get('control')! / 100_000 - 0.5)).toBeLessThan(0.01)
    expect(Math.abs(counts.get('treatment-a')! / 100_000 - 0.3)).toBeLessThan(0.01)
    expect(Math.abs(counts.get('treatment-b')! / 100_000 - 0.2)).toBeLessThan(0.01)
  })

  it('follows the formula of flags.md exactly', () => {
    for (let i = 0; i < 500; i++) {
      const key = `k${i}`
      const h = murmur3(`exp:variant:${key}`)
      const bucket = h % 100
      const expected = bucket < 50 ? 'control' : bucket < 80 ? 'treatment-a' : 'treatment-b'
      expect(pickVariant('exp', key, variants)!.key).toBe(expected)
    }
  })

  it('sorts by key, so the order given does not matter', () => {
    const reversed = [...variants].reverse()
    for (let i = 0; i < 200; i++) {
      expect(pickVariant('exp', `u${i}`, reversed)!.key).toBe(pickVariant('exp', `u${i}`, variants)!.key)
    }
  })

  it('normalises weights that do not sum to 100 and skips zero weights', () => {
    const odd = [
      { key: 'a', weight: 1 },
      { key: 'b', weight: 0 },
      { key: 'c', weight: 3 },
    ]
    let a = 0
    for (let i = 0; i < 20_000; i++) {
      const v = pickVariant('odd', `u${i}`, odd)!
      expect(v.key).not.toBe('b')
      if (v.key === 'a') a++
    }
    expect(Math.abs(a / 20_000 - 0.25)).toBeLessThan(0.015)
    expect(pickVariant('odd', 'u', [{ key: 'z', weight: 0 }])).toBeUndefined()
    expect(pickVariant('odd', 'u', [])).toBeUndefined()
  })

  it('hashes an absent targeting key as the empty string', () => {
    expect(pickVariant('exp', undefined, variants)!.key).toBe(pickVariant('exp', '', variants)!.key)
  })
})
