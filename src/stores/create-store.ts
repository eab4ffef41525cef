/** `createStore(url)`: the one place that maps URL schemes to backends. */
import { FlagstoneError } from '../errors.js'
import { MemoryStore } from './drivers/memory.js'
import type { BaseStoreOptions, Store } from './types.js'

export interface CreateStoreOptions extends BaseStoreOptions {
  /** Passed to the backend: e.g. `table` for SQL backends, `connectTimeout` for Redis. */
  [option: string]: unknown
}

/**
 * A root store for a URL: `memory:`, `sqlite:<path>` (`sqlite://./data/x.sqlite`, `sqlite:///abs/x.sqlite`,
 * `sqlite::memory:`), `redis:` / `rediss:`, `postgres:` / `postgresql:`, `mysql:` (MySQL or MariaDB). The backend's package is
 * loaded only when its scheme is used.
 */
export async function createStore(url: string, options: CreateStoreOptions = {}): Promise<Store> {
  if (typeof url !== 'string') {
    throw new FlagstoneError('INVALID_ARGUMENT', `store URL must be a string, got ${typeof url}`, { details: { field: 'url' } })
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
  switch (scheme) {
    case 'memory':
      return new MemoryStore(options)
    case 'sqlite': {
      const { createSqliteStore } = await import('./drivers/sqlite.js')
      return createSqliteStore({ ...options, path: sqlitePath(url) })
    }
    case 'redis':
    case 'rediss': {
      const { createRedisStore } = await import('./drivers/redis.js')
      return createRedisStore({ ...options, url })
    }
    case 'postgres':
    case 'postgresql': {
      const { createPostgresStore } = await import('./drivers/postgres.js')
      return createPostgresStore({ ...options, url })
    }
    case 'mysql': {
      const { createMysqlStore } = await import('./drivers/mysql.js')
      return createMysqlStore({ ...options, url })
    }
    default:
      throw new FlagstoneError(
        'INVALID_ARGUMENT',
        `unsupported store URL ${JSON.stringify(url)}: use memory:, sqlite:, redis:, rediss:, postgres:, postgresql: or mysql:`,
        { details: { field: 'url' } },
      )
  }
}

function sqlitePath(url: string): string {
  const rest = url.replace(/^sqlite:(\/\/)?/i, '')
  if (rest === '') {
    throw new FlagstoneError('INVALID_ARGUMENT', `sqlite URL ${JSON.stringify(url)} names no file`, { details: { field: 'url' } })
  }
  return decodeURIComponent(rest)
}
