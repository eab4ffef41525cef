/**
 * Real services for tests. When one is unreachable its suites are skipped with a loud line —
 * unless FLAGSTONE_REQUIRE_SERVICES=1 (CI), where the suite fails instead.
 */
import { randomBytes } from 'node:crypto'
import { createConnection } from 'node:net'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
export const REQUIRE_SERVICES = process.env.FLAGSTONE_REQUIRE_SERVICES === '1'

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Whether the suites for `url` should run; logs loudly when they will be skipped. */
export async function serviceAvailable(name: string, url: string): Promise<boolean> {
  if (await reachable(url)) return true
  if (REQUIRE_SERVICES) return true // let the suite run and fail on the connection
  console.warn(
    `\n!!! ${name} at ${url} is unreachable: its tests are SKIPPED (set FLAGSTONE_REQUIRE_SERVICES=1 to fail instead)\n`,
  )
  return false
}

/** A fresh namespace name for one test file or test. */
export function randomNamespace(prefix = 't'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
