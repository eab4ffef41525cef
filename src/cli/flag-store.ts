/**
 * A store URL opened the way the server lays it out (`<namespace>:flags`, `<namespace>:audit`),
 * so the CLI reads and writes exactly what a running server serves.
 */
import { StoreFlagRepository } from '../flags/index.js'
import { DEFAULT_STORE_URL, describeStore } from '../server.js'
import { createStore, type Store } from '../stores/index.js'

export interface FlagStoreOptions {
  /** @default FLAGSTONE_STORE_URL, else the server's default (`sqlite://./data/flagstone.sqlite`) */
  store?: string
  /** @default FLAGSTONE_NAMESPACE, else 'flagstone' */
  namespace?: string
}

export class FlagStore {
  private constructor(
    readonly root: Store,
    readonly repository: StoreFlagRepository,
    readonly audit: Store,
    readonly description: string,
  ) {}

  static async open(options: FlagStoreOptions, env: NodeJS.ProcessEnv = process.env): Promise<FlagStore> {
    const url = options.store ?? (env.FLAGSTONE_STORE_URL || DEFAULT_STORE_URL)
    const root = await createStore(url, { namespace: options.namespace ?? (env.FLAGSTONE_NAMESPACE || 'flagstone') })
    return new FlagStore(
      root,
      new StoreFlagRepository(root.withNamespace('flags')),
      root.withNamespace('audit'),
      describeStore(url),
    )
  }

  close(): Promise<void> {
    return this.root.close()
  }
}
