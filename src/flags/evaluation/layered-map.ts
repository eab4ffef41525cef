/**
 * A read-only map made of a base map and a small layer of changes on top, so that a snapshot
 * with a few changed flags is built without copying the unchanged ones: `with()` copies only the
 * layer. Once the layer outgrows about √(size) entries it is folded into a new base, which keeps
 * both the copy per change and a lookup's cost (two `get`s at most) bounded.
 */
const GONE: unique symbol = Symbol('gone')

export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  readonly #base: ReadonlyMap<K, V>
  readonly #top: ReadonlyMap<K, V | typeof GONE>
  readonly size: number

  constructor(base: ReadonlyMap<K, V>, top: ReadonlyMap<K, V | typeof GONE> = new Map(), size = base.size) {
    this.#base = base
    this.#top = top
    this.size = size
  }

  /** `map` as a `LayeredMap` (itself when it is one). */
  static of<K, V>(map: ReadonlyMap<K, V>): LayeredMap<K, V> {
    return map instanceof LayeredMap ? (map as LayeredMap<K, V>) : new LayeredMap(map)
  }

  get(key: K): V | undefined {
    if (this.#top.size !== 0) {
      const value = this.#top.get(key)
      if (value !== undefined) return value === GONE ? undefined : value
    }
    return this.#base.get(key)
  }

  has(key: K): boolean {
    return this.get(key) !== undefined
  }

  /** A map with `changes` applied (`undefined`: delete the key); this one stays as it is. */
  with(changes: ReadonlyMap<K, V | undefined>): LayeredMap<K, V> {
    if (changes.size === 0) return this
    const top = new Map(this.#top)
    let size = this.size
    for (const [key, value] of changes) {
      const had = this.has(key) // keys of `changes` are distinct: the layer read is still this map's
      if (value === undefined) {
        if (had) size--
        if (this.#base.has(key)) top.set(key, GONE)
        else top.delete(key)
      } else {
        if (!had) size++
        top.set(key, value)
      }
    }
    const next = new LayeredMap(this.#base, top, size)
    if (top.size <= Math.max(64, 2 * Math.sqrt(this.#base.size))) return next
    return new LayeredMap(new Map(next))
  }

  *entries(): MapIterator<[K, V]> {
    const top = this.#top
    for (const entry of this.#base) if (!top.has(entry[0])) yield entry
    for (const [key, value] of top) if (value !== GONE) yield [key, value]
  }

  *keys(): MapIterator<K> {
    for (const [key] of this.entries()) yield key
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries()
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this)
  }
}
