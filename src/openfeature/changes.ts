/**
 * Which flags a full reload touched, for OpenFeature's `flagsChanged` (a change applied as a delta
 * names its flags itself: the client's `change` event carries them, and this is not run). The two
 * snapshots are compared: a key added, removed, or at another flag version, or whose environment
 * settings differ. Its cost grows with the flag count, which is acceptable for a full reload (that
 * re-read every flag anyway). Overrides are not visible in a compiled snapshot and a segment or
 * environment change may touch any flag: when the comparison finds nothing (or segments or
 * environments differ) every key is reported, since a listener that re-reads too much is safe and
 * one that misses a change is not.
 */
import type { CompiledSnapshot } from '../flags/index.js'

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b)
}

function entries<V>(map: ReadonlyMap<string, V> | undefined): [string, V][] {
  return map === undefined ? [] : [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

export function changedFlagKeys(previous: CompiledSnapshot | undefined, next: CompiledSnapshot): string[] {
  const all = new Set<string>([...next.keys(), ...(previous?.keys() ?? [])])
  if (previous === undefined) return [...all].sort()
  const wide =
    !same(entries(previous.segments), entries(next.segments)) || !same(entries(previous.environments), entries(next.environments))
  if (wide) return [...all].sort()
  const changed: string[] = []
  for (const key of all) {
    const before = previous.flags.get(key)
    const after = next.flags.get(key)
    const moved =
      before === undefined || after === undefined
        ? before !== after || previous.environmentFlags.has(key) !== next.environmentFlags.has(key)
        : before.version !== after.version ||
          !same(entries(previous.environmentFlags.get(key)), entries(next.environmentFlags.get(key)))
    if (moved) changed.push(key)
  }
  return changed.length > 0 ? changed.sort() : [...all].sort()
}
