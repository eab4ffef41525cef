/**
 * Wrappers around a real store (not mocks: every call reaches the real backend) for tests that
 * count round trips or inject a failure at one operation.
 */
import { FlagstoneError, type Store } from '../../src/index.js'

export interface Wrapped {
  store: Store
  /** Calls per operation name since the last `reset()`. */
  counts: Map<string, number>
  total(): number
  reset(): void
  /**
   * The next `atomic` call fails with STORE_UNAVAILABLE: `'before'` without reaching the store,
   * `'after'` after the store applied it (its answer lost), `'down'` and every call until `heal()`.
   */
  failNextAtomic(mode: 'before' | 'after'): void
  /** Every `atomic` call fails with STORE_UNAVAILABLE without reaching the store while `on` (other operations work). */
  failAtomics(on: boolean): void
  down(): void
  heal(): void
}

const unavailable = (op: string) => new FlagstoneError('STORE_UNAVAILABLE', `injected: ${op} got no answer (test wrapper)`)

export function wrapStore(inner: Store): Wrapped {
  const counts = new Map<string, number>()
  let nextAtomic: 'before' | 'after' | undefined
  let isDown = false
  let atomicsFail = false
  const wrap = (target: Store): Store =>
    new Proxy(target, {
      get(t, prop) {
        const value = Reflect.get(t, prop, t) as unknown // getters read private fields of the real store
        if (typeof value !== 'function' || typeof prop !== 'string') return value
        const fn = (value as (...args: unknown[]) => unknown).bind(t)
        if (prop === 'withNamespace') return (name: string) => wrap(fn(name) as Store)
        return (...args: unknown[]) => {
          counts.set(prop, (counts.get(prop) ?? 0) + 1)
          if (isDown && prop !== 'close' && prop !== 'subscribe') return Promise.reject(unavailable(prop))
          if (prop === 'atomic' && atomicsFail) return Promise.reject(unavailable(prop))
          if (prop === 'atomic' && nextAtomic !== undefined) {
            const mode = nextAtomic
            nextAtomic = undefined
            if (mode === 'before') return Promise.reject(unavailable(prop))
            return (fn(...args) as Promise<unknown>).then(() => Promise.reject(unavailable(prop)))
          }
          return fn(...args)
        }
      },
    })
  return {
    store: wrap(inner),
    counts,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    reset: () => counts.clear(),
    failNextAtomic: (mode) => (nextAtomic = mode),
    failAtomics: (on) => (atomicsFail = on),
    down: () => (isDown = true),
    heal: () => (isDown = false),
  }
}
