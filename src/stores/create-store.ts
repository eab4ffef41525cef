/** `createStore(url)`: the one place that maps URL schemes to backends. */
import { FlagstoneError } from '../errors.js'
import { MemoryStore } from './drivers/memory.js'
import type { BaseStoreOptions, Store } from './types.js'
import { checkOptions } from '../internal/objects.js'

export interface CreateStoreOptions extends BaseStoreOptions {
  /** Passed to the backend: e.g. `table` for SQL backends, `connectTimeout` for Redis. */
  [option: string]: unknown
}

/**
 * A root store for a URL: `memory:`, `sqlite:<path>` (`sqlite://./data/x.sqlite`, `sqlite:///abs/x.sqlite`,
 * `sqlite::memory:`), `redis:` / `rediss:`, `redis+cluster://host:port,host:port` (Redis Cluster), `postgres:` / `postgresql:`, `mysql:` (MySQL or MariaDB). The backend's package is
 * loaded only when its scheme is used.
 */
export async function createStore(url: string, options: CreateStoreOptions = {}): Promise<Store> {
  checkOptions(options, 'createStore()')
  if (typeof url !== 'string') {
    throw new FlagstoneError('INVALID_ARGUMENT', `store URL must be a string, got ${typeof url}`, { details: { field: 'url' } })
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
  switch (scheme) {
    case 'memory':
      return new MemoryStore(options)
    case 'sqlite': {
      const path = sqlitePath(url)
      const { createSqliteStore } = await import('./drivers/sqlite.js')
      return withDriver('sqlite:', '@keyv/sqlite', 'sqlite3', () => createSqliteStore({ ...options, path }))
    }
    case 'redis':
    case 'rediss': {
      const { createRedisStore } = await import('./drivers/redis.js')
      return withDriver(`${scheme}:`, '@keyv/redis', '@keyv/redis', () => createRedisStore({ ...options, url }))
    }
    case 'redis+cluster':
    case 'rediss+cluster': {
      const { createRedisClusterStore } = await import('./drivers/redis-cluster.js')
      return withDriver(`${scheme}:`, '@keyv/redis', '@keyv/redis', () => createRedisClusterStore({ ...options, url }))
    }
    case 'postgres':
    case 'postgresql': {
      const { createPostgresStore } = await import('./drivers/postgres.js')
      return withDriver(`${scheme}:`, '@keyv/postgres', 'pg', () => createPostgresStore({ ...options, url }))
    }
    case 'mysql': {
      const { createMysqlStore } = await import('./drivers/mysql.js')
      return createMysqlStore({ ...options, url })
    }
    default:
      throw new FlagstoneError(
        'INVALID_ARGUMENT',
        `unsupported store URL ${JSON.stringify(url)}: ` +
          'use memory:, sqlite:, redis:, rediss:, redis+cluster:, rediss+cluster:, postgres:, postgresql: or mysql:',
        { details: { field: 'url' } },
      )
  }
}

/**
 * Opens a backend after checking that its driver package loads: the drivers are optional peer
 * dependencies, and a missing one should say what to install instead of Node's
 * ERR_MODULE_NOT_FOUND on the first operation (SQLite opens lazily). `load` is the package the
 * backend imports; `install` the one to install (it brings `load`). The import is the one the
 * backend makes anyway, so it costs nothing extra.
 */
async function withDriver(scheme: string, install: string, load: string, open: () => Promise<Store>): Promise<Store> {
  try {
    await import(load)
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code
    if (code === 'ERR_MODULE_NOT_FOUND' && error instanceof Error && error.message.includes(`'${load}'`)) {
      throw new FlagstoneError(
        'UNSUPPORTED',
        `the ${scheme} backend needs the package ${install}, which is not installed: npm install ${install}`,
        {
          cause: error,
          details: { field: 'url', package: install },
        },
      )
    }
    throw error
  }
  return open()
}

function sqlitePath(url: string): string {
  const rest = url.replace(/^sqlite:(\/\/)?/i, '')
  if (rest === '') {
    throw new FlagstoneError('INVALID_ARGUMENT', `sqlite URL ${JSON.stringify(url)} names no file`, { details: { field: 'url' } })
  }
  return decodeURIComponent(rest)
}
