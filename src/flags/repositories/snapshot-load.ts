/** `StoreFlagRepository.loadSnapshot`: every document in pages of keys with values, consistent at one revision. */
import type { Store } from '../../stores/types.js'
import { decodeEnvironment, decodeEnvironmentFlag, decodeFlag, decodeOverride, decodeSegment } from '../codec/index.js'
import type { SnapshotData } from './repository.js'
import { ENVIRONMENT, ENVIRONMENT_FLAG, FLAG, OVERRIDE, SEGMENT, readAll, readRevision } from './store-layout.js'

export async function loadSnapshot(store: Store, clock: () => number): Promise<SnapshotData> {
  // Read the revision before and after: if a write landed in between, read again, so the
  // snapshot is consistent at one revision (bounded: a constant stream of writes still loads).
  let snapshot: SnapshotData | undefined
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await readRevision(store)
    const [flags, overrides, segments, environments, environmentFlags] = await Promise.all([
      readAll(store, FLAG, decodeFlag),
      readAll(store, OVERRIDE, decodeOverride),
      readAll(store, SEGMENT, decodeSegment),
      readAll(store, ENVIRONMENT, decodeEnvironment),
      readAll(store, ENVIRONMENT_FLAG, decodeEnvironmentFlag),
    ])
    const slugs = new Set(environments.items.map((e) => e.slug))
    const keys = new Set(flags.items.map((f) => f.key))
    const now = clock()
    snapshot = {
      revision: before,
      flags: flags.items,
      overrides: overrides.items.filter((o) => keys.has(o.flagKey) && (o.expiresAt === undefined || o.expiresAt.getTime() > now)),
      segments: segments.items,
      environments: environments.items,
      environmentFlags: environmentFlags.items.filter((s) => keys.has(s.flagKey) && slugs.has(s.environment)),
      corrupt: flags.corrupt.map(({ key, message }) => ({ flagKey: key.slice(FLAG.length), message })),
    }
    if ((await readRevision(store)) === before) return snapshot
  }
  return snapshot as SnapshotData
}
