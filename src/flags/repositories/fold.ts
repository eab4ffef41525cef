/** `StoreFlagRepository.applyDueChanges`: folds every due scheduled change into its flag, one atomic write per instant. */
import { encodeValidFlag, validateFlag } from '../codec/index.js'
import { foldDueChanges, scheduleInstants } from '../evaluation/schedules.js'
import type { FeatureFlag } from '../model.js'
import type { WritePlan } from './change-log.js'
import type { FlagRepository, FoldResult } from './repository.js'
import { FLAG } from './store-layout.js'

export async function applyDueChanges(
  repository: Pick<FlagRepository, 'listFlags'>,
  readFlag: (key: string) => Promise<{ flag: FeatureFlag; bytes: Uint8Array } | null>,
  commit: (keys: readonly string[], plan: (values: Array<Uint8Array | null>) => WritePlan | null) => Promise<number | null>,
  clock: () => number,
  now: number,
): Promise<FoldResult> {
  let applied = 0
  const rewritten = new Set<string>()
  for (const listed of await repository.listFlags()) {
    // One write per due instant, oldest first; a lost compareAndSet means another process folded
    // that instant, so read again and carry on from whatever is still due.
    let attempts = 0
    while (attempts++ < 100) {
      const current = await readFlag(listed.key)
      if (current === null) break
      const instant = scheduleInstants(current.flag).find((t) => t <= now && foldDueChanges(current.flag, t) !== null)
      if (instant === undefined) break
      const fold = foldDueChanges(current.flag, instant)
      if (fold === null) break
      const next = validateFlag({ ...fold.flag, version: current.flag.version + 1, updatedAt: new Date(clock()) })
      const key = FLAG + listed.key
      const written = await commit([key], ([bytes]) =>
        bytes == null || Buffer.compare(bytes, current.bytes) !== 0
          ? null
          : {
              writes: [{ op: 'set', key, value: encodeValidFlag(next) }],
              checks: [{ key, expected: bytes }],
              changes: [{ key, op: 'put' }],
            },
      )
      if (written !== null) {
        applied += fold.applied.length
        rewritten.add(listed.key)
      }
    }
  }
  return { applied, flags: [...rewritten] }
}
