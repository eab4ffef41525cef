/**
 * `ctx.flags`: the client's typed getters with the request's evaluation context filled in, built
 * lazily on first use. Apart from flags.ts (the middleware and the client's lifecycle) so each
 * file reads as one concern.
 */
import type Koa from 'koa'
import type { FlagClient, EvaluationContext, EvaluationDetails, JsonValue } from '../flags/index.js'

/**
 * What a request's context is made of, on top of (or instead of) the defaults. Fields returned as
 * `undefined` remove the default of that name.
 */
export type FlagsContext = (ctx: Koa.Context) => EvaluationContext

/** The flags of one request: the client's getters with the request's context filled in. */
export class RequestFlags {
  readonly #ctx: Koa.Context
  readonly #client: FlagClient
  readonly #extend: FlagsContext | undefined
  #context: EvaluationContext | undefined
  #user: unknown
  #environment: unknown

  /** @internal made by `ctx.flags`, once per request, on first use */
  constructor(ctx: Koa.Context, client: FlagClient, extend: FlagsContext | undefined) {
    this.#ctx = ctx
    this.#client = client
    this.#extend = extend
  }

  /** The app's flag client (shared by every request). */
  get client(): FlagClient {
    return this.#client
  }

  /**
   * The request's evaluation context. Built at the first evaluation of the request and again
   * whenever `ctx.state.user` or `ctx.state.environment` has changed since (e.g. set by a login
   * that ran after an earlier evaluation).
   */
  get context(): EvaluationContext {
    const state = this.#ctx.state as { user?: unknown; environment?: unknown }
    const user = state.user
    const environment = state.environment
    if (this.#context === undefined || user !== this.#user || environment !== this.#environment) {
      this.#user = user
      this.#environment = environment
      this.#context = this.#build(user, environment)
    }
    return this.#context
  }

  #build(user: unknown, environment: unknown): EvaluationContext {
    const ctx = this.#ctx
    const context: EvaluationContext = {}
    const id = typeof user === 'object' && user !== null ? (user as { id?: unknown }).id : undefined
    if ((typeof id === 'string' && id !== '') || typeof id === 'number' || typeof id === 'bigint') {
      context.targetingKey = context.userId = String(id)
    }
    const ip = ctx.ip
    if (ip !== '') context.ipAddress = ip
    const userAgent = ctx.headers['user-agent']
    if (userAgent !== undefined && userAgent !== '') context.userAgent = userAgent
    if (typeof environment === 'string' && environment !== '') context.environment = environment
    if (this.#extend === undefined) return context
    const extra = this.#extend(ctx)
    if (typeof extra !== 'object' || extra === null) return context
    const merged: Record<string, unknown> = { ...context, ...extra }
    for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key]
    return merged as EvaluationContext
  }

  /** Whether a boolean flag is on for this request; `defaultValue` when it is missing, of another type, or not loaded. */
  isEnabled(flagKey: string, defaultValue = false): boolean {
    return this.#client.isEnabled(flagKey, defaultValue, this.context)
  }

  getBoolean(flagKey: string, defaultValue: boolean): boolean {
    return this.#client.getBoolean(flagKey, defaultValue, this.context)
  }

  getBooleanDetails(flagKey: string, defaultValue: boolean): EvaluationDetails<boolean> {
    return this.#client.getBooleanDetails(flagKey, defaultValue, this.context)
  }

  getString(flagKey: string, defaultValue: string): string {
    return this.#client.getString(flagKey, defaultValue, this.context)
  }

  getStringDetails(flagKey: string, defaultValue: string): EvaluationDetails<string> {
    return this.#client.getStringDetails(flagKey, defaultValue, this.context)
  }

  getNumber(flagKey: string, defaultValue: number): number {
    return this.#client.getNumber(flagKey, defaultValue, this.context)
  }

  getNumberDetails(flagKey: string, defaultValue: number): EvaluationDetails<number> {
    return this.#client.getNumberDetails(flagKey, defaultValue, this.context)
  }

  /** A `json` flag's value; `T` is the caller's claim about its shape. */
  getObject<T extends JsonValue>(flagKey: string, defaultValue: T): T {
    return this.#client.getObject(flagKey, defaultValue, this.context)
  }

  getObjectDetails<T extends JsonValue>(flagKey: string, defaultValue: T): EvaluationDetails<T> {
    return this.#client.getObjectDetails(flagKey, defaultValue, this.context)
  }

  /** Every flag evaluated for this request, by key (see `FlagClient.evaluateAll`). */
  evaluateAll(): Record<string, EvaluationDetails> {
    return this.#client.evaluateAll(this.context)
  }
}
