/**
 * The session's stored form: superjson text, with a plain-JSON fast path. Apart from session.ts so
 * the middleware reads as cookie and store logic; this is the only place that knows the format.
 * Typed on plain records, not `Session`, so it does not import session.ts back (the import-cycle
 * check counts type imports).
 */
import superjson from 'superjson'
import { isPlainObject } from '../internal/objects.js'

/** The session stored as `text`, or undefined when it is unreadable or no plain object. */
export function decodeSession(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text)
    // Without `meta`, superjson's document is `{ json }` as it stands: no walk needed.
    const value: unknown =
      isPlainObject(parsed) && parsed.meta === undefined
        ? parsed.json
        : superjson.deserialize(parsed as Parameters<typeof superjson.deserialize>[0])
    return isPlainObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

/** Whether superjson would annotate nothing in `value` (only JSON's own types, finite numbers, no -0, no holes). */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0)
    case 'object': {
      if (value === null) return true
      if (depth > 100) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false
        return true
      }
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const key of Object.keys(value)) if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false
      return true
    }
    default:
      return false
  }
}

/**
 * The session's superjson text. Most sessions hold plain JSON, for which superjson writes exactly
 * `{"json":…}`: producing that with JSON.stringify is several times cheaper than superjson's walk,
 * and the same text, so "did it change?" still compares like with like.
 */
export function serialiseSession(data: Record<string, unknown>): string {
  return isPlainJson(data, 0) ? `{"json":${JSON.stringify(data)}}` : superjson.stringify(data)
}
