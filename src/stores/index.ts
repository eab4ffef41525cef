// The public face of the store layer: the contract, `createStore`, the registry, one factory per backend,
// and the `Driver` interface with `createDriverStore` for custom backends. Internals (DriverStore,
// key/expiry/byte helpers, SQL dialects) stay inside.
export type {
  AtomicCheck,
  AtomicWrite,
  BaseStoreOptions,
  EntriesOptions,
  EntriesPage,
  GetOptions,
  MessageListener,
  SetOptions,
  Store,
  StoreCapabilities,
  StoreValue,
} from './types.js'
export { MAX_ATOMIC_KEYS } from './types.js'
export { requireCapabilities, type StoreNeeds } from './capabilities.js'
export {
  type Awaitable,
  createDriverStore,
  type Driver,
  type DriverCheck,
  type DriverEntriesPage,
  type DriverWrite,
} from './driver.js'
export { nextCounter } from './bytes.js'
export type { KeySpace } from './keys.js'
export { createStore, type CreateStoreOptions } from './create-store.js'
export { type RegisterOptions, StoreRegistry, type StoreFactory, type StoreRegistryOptions } from './registry.js'
export { createMemoryStore, MemoryStore, type MemoryStoreOptions, type MemoryStoreStats } from './drivers/memory.js'
export { createSqliteStore, type SqliteStoreOptions } from './drivers/sqlite.js'
export { createPostgresStore, type PostgresStoreOptions } from './drivers/postgres.js'
export { createRedisStore, type RedisClientLike, type RedisStoreOptions } from './drivers/redis.js'
export { createRedisClusterStore, type RedisClusterStoreOptions } from './drivers/redis-cluster.js'
export { keepTogether } from './together.js'
export { createMysqlStore, type MysqlStoreOptions } from './drivers/mysql.js'
export { observeStore } from './observe-store.js'
export type { SqliteAdapter } from './drivers/sqlite.js'
