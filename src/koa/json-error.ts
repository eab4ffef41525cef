/** The one JSON error shape every flagstone HTTP answer uses: `{ error: { code, message, details } }`. */
import type { Context, ParameterizedContext } from 'koa'

export interface JsonErrorBody {
  error: {
    /** Stable, for programs: `INVALID_ARGUMENT`, `RATE_LIMITED`, `STORE_UNAVAILABLE`, … */
    code: string
    /** For people; never carries storage error text. */
    message: string
    details: Readonly<Record<string, unknown>>
  }
}

/** Answers `status` with the JSON error body (`Content-Type: application/json`). */
export function sendJsonError(
  ctx: Context | ParameterizedContext,
  status: number,
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>> = {},
): void {
  ctx.status = status
  const body: JsonErrorBody = { error: { code, message, details } }
  ctx.body = body
}
