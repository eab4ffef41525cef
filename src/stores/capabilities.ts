/** The check the parts built on a store run before they trust it with what they need. */
import { FlagstoneError } from '../errors.js'
import type { Store } from './types.js'

export interface StoreNeeds {
  /** `increment` / `compareAndSet` atomic wherever the data is visible (across processes if it is shared). */
  atomic?: boolean
  /** `atomic`: several writes under compare-and-set checks, all or nothing. */
  atomicWrites?: boolean
  /** `keys` / `deleteAll` / `deleteExpired`. */
  listKeys?: boolean
}

/** Throws `UNSUPPORTED`, naming `who`, the backend and the missing guarantee, unless `store` gives what `needs` lists. */
export function requireCapabilities(store: Store, needs: StoreNeeds, who: string): void {
  const caps = store.capabilities
  const missing: string[] = []
  if (needs.atomic === true) {
    if (caps.atomic === 'none') missing.push('atomic increment and compareAndSet (this store has neither)')
    else if (caps.shared && caps.atomic !== 'processes') {
      missing.push(
        'increment and compareAndSet atomic across processes (this store shares its data but is atomic in one process only)',
      )
    }
  }
  if (needs.atomicWrites === true && !caps.atomicWrites) missing.push('atomic multi-key writes (atomic)')
  if (needs.listKeys === true && !caps.listKeys) missing.push('listing keys (keys, deleteAll)')
  if (missing.length > 0) {
    throw new FlagstoneError('UNSUPPORTED', `${who} needs ${missing.join(' and ')}; the ${caps.backend} store does not give it`, {
      details: { field: 'store', backend: caps.backend },
    })
  }
}
