/**
 * `keepTogether(store)`: asks the backend to keep every key of the store's namespace where one
 * atomic operation can reach them all (one Redis Cluster hash slot). The flag repository calls it
 * on its namespace, so its `atomic` writes work on a cluster whose other namespaces spread over
 * every slot. A no-op on backends where every key is reachable anyway (one server, SQL, memory).
 */
import type { Store } from './types.js'

/** The method a store implements to honour `keepTogether` (a symbol: not part of the public `Store` contract). */
export const KEEP_TOGETHER: unique symbol = Symbol.for('flagstone.keepTogether')

interface Together {
  readonly [KEEP_TOGETHER]?: () => void
}

/**
 * Marks the namespace of `store` as kept together, for every view of it in this process, from now
 * on: call it before the namespace holds data (the repository does in its constructor). Its
 * `capabilities` may change (a Redis Cluster store gains `atomicWrites`).
 */
export function keepTogether(store: Store): void {
  const mark = (store as Store & Together)[KEEP_TOGETHER]
  if (typeof mark === 'function') mark()
}
