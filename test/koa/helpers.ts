/** Real HTTP for the Koa tests: an app on an ephemeral port, fetch, and a tiny cookie jar. */
import type { AddressInfo } from 'node:net'
import type Koa from 'koa'
import type { Store } from '../../src/stores/types.js'

export interface Served {
  url: string
  close(): Promise<void>
}

/** `app.listen(0)`; `close()` also drops idle keep-alive connections. */
export async function serve(app: Koa): Promise<Served> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}

/** Errors the app reported with `app.emit('error')`, instead of printing them. */
export function collectErrors(app: Koa): unknown[] {
  const errors: unknown[] = []
  app.on('error', (error: unknown) => errors.push(error))
  return errors
}

export interface SetCookie {
  name: string
  value: string
  /** Attribute names lower-cased, with their values (`''` for flags like `httponly`). */
  attributes: Map<string, string>
}

export function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...attrs] = header.split(';').map((part) => part.trim())
  const eq = pair.indexOf('=')
  const attributes = new Map<string, string>()
  for (const attr of attrs) {
    const i = attr.indexOf('=')
    if (i === -1) attributes.set(attr.toLowerCase(), '')
    else attributes.set(attr.slice(0, i).toLowerCase(), attr.slice(i + 1))
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes }
}

export function setCookies(response: Response): SetCookie[] {
  return response.headers.getSetCookie().map(parseSetCookie)
}

/** Whether a Set-Cookie removes its cookie (an expiry in the past or an empty value). */
export function isDeletion(cookie: SetCookie): boolean {
  const expires = cookie.attributes.get('expires')
  return cookie.value === '' || (expires !== undefined && Date.parse(expires) <= Date.now())
}

/** A cookie jar for one client: remembers what the server set and sends it back. */
export class Jar {
  readonly cookies = new Map<string, string>()

  update(response: Response): SetCookie[] {
    const set = setCookies(response)
    for (const cookie of set) {
      if (isDeletion(cookie)) this.cookies.delete(cookie.name)
      else this.cookies.set(cookie.name, cookie.value)
    }
    return set
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  clone(): Jar {
    const copy = new Jar()
    for (const [name, value] of this.cookies) copy.cookies.set(name, value)
    return copy
  }
}

/** A client that carries a jar: `request('/path', { method })` → Response. */
export function client(base: string, jar = new Jar()) {
  return {
    jar,
    async request(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
      const headers: Record<string, string> = { ...init.headers }
      const cookie = jar.header()
      if (cookie !== '') headers.cookie = cookie
      const response = await fetch(base + path, { ...init, headers })
      jar.update(response)
      return response
    },
  }
}

/**
 * `store` with a count of the writes made through it — the real store underneath, not a mock.
 * Calls are forwarded to the target so its private fields keep working.
 */
export function countingStore(store: Store): { store: Store; writes: () => number; reset(): void } {
  let writes = 0
  const counted = new Set(['set', 'delete', 'compareAndSet', 'increment'])
  const proxy = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (typeof property === 'string' && counted.has(property)) writes++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return {
    store: proxy,
    writes: () => writes,
    reset: () => {
      writes = 0
    },
  }
}
