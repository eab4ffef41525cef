/**
 * How `flagstone flags …` and `flagstone evaluate` reach flags: through the admin API, either of
 * a running server (`--server URL --token T`) or of an in-process one on loopback, on a store URL
 * (`--store URL`). One path for both, so the CLI validates, audits and explains exactly as the
 * server does.
 */
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Koa from 'koa'
import { FlagStore } from './flag-store.js'
import { CliError, EXIT, exitCodeForStatus } from './exit-codes.js'
import { adminRouter } from '../koa/index.js'

export const ADMIN_PATH = '/admin/api'

export interface TargetOptions {
  server?: string
  token?: string
  store?: string
  namespace?: string
}

export interface AdminClient {
  /** `GET`/`POST`/… a path under the admin API; the parsed JSON body (or `null` for 204). */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<unknown>
  /** Where it talks to, for messages: the server URL or the store's description. */
  readonly target: string
  close(): Promise<void>
}

/** Options shared by the commands that reach flags (added to each of them). */
export function targetFromOptions(options: TargetOptions, env: NodeJS.ProcessEnv = process.env): TargetOptions {
  const server = options.server ?? env.FLAGSTONE_SERVER
  const token = options.token ?? env.FLAGSTONE_ADMIN_TOKEN
  return {
    ...(server ? { server } : {}),
    ...(token ? { token } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.namespace ? { namespace: options.namespace } : {}),
  }
}

export async function connectAdmin(options: TargetOptions): Promise<AdminClient> {
  if (options.server !== undefined && options.store !== undefined) {
    throw new CliError('give either --server or --store, not both', EXIT.USAGE, 'INVALID_ARGUMENT', { field: '--server' })
  }
  if (options.server !== undefined) {
    if (options.token === undefined || options.token === '') {
      throw new CliError('--server needs the admin token: --token or FLAGSTONE_ADMIN_TOKEN', EXIT.USAGE, 'INVALID_ARGUMENT', {
        field: '--token',
      })
    }
    let base: URL
    try {
      base = new URL(options.server)
    } catch {
      throw new CliError(`--server: not a URL: ${JSON.stringify(options.server)}`, EXIT.USAGE, 'INVALID_ARGUMENT', {
        field: '--server',
      })
    }
    const root = base.href.replace(/\/+$/, '')
    return httpClient(root.endsWith(ADMIN_PATH) ? root : `${root}${ADMIN_PATH}`, options.token, root, async () => undefined)
  }
  const flagStore = await FlagStore.open(options)
  const token = randomBytes(24).toString('base64url')
  const app = new Koa()
  const admin = adminRouter({
    repository: flagStore.repository,
    auth: { token, actor: 'cli' },
    audit: { store: flagStore.audit },
    prefix: ADMIN_PATH,
  })
  app.use(admin)
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const port = (server.address() as AddressInfo).port
  return httpClient(`http://127.0.0.1:${port}${ADMIN_PATH}`, token, flagStore.description, async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await flagStore.close()
  })
}

function httpClient(base: string, token: string, target: string, close: () => Promise<void>): AdminClient {
  return {
    target,
    close,
    async request(method, path, body, headers = {}) {
      let response: Response
      try {
        response = await fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...headers,
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(30_000),
        })
      } catch (error) {
        const why = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)
        throw new CliError(`cannot reach ${target}: ${why}`, EXIT.UNAVAILABLE, 'STORE_UNAVAILABLE')
      }
      const text = await response.text()
      let parsed: unknown = null
      if (text !== '') {
        try {
          parsed = JSON.parse(text)
        } catch {
          throw new CliError(`${method} ${path}: ${response.status} with a body that is not JSON`, EXIT.FAILURE)
        }
      }
      if (!response.ok) {
        const error = (parsed as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null)?.error
        throw new CliError(
          error?.message ?? `${method} ${path}: HTTP ${response.status}`,
          exitCodeForStatus(response.status, error?.code),
          error?.code ?? `HTTP_${response.status}`,
          error?.details ?? {},
        )
      }
      return parsed
    },
  }
}
