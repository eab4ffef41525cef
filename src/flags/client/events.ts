/** The client's event listeners (`ready`, `change`, `stale`): a throwing listener never breaks the sync loop. */
import { FlagstoneError } from '../../errors.js'
import type { FlagClientEvents } from './options.js'

export class ClientEvents {
  readonly #listeners: { [E in keyof FlagClientEvents]: Set<FlagClientEvents[E]> } = {
    ready: new Set(),
    change: new Set(),
    stale: new Set(),
  }
  readonly #report: (error: Error) => void

  constructor(report: (error: Error) => void) {
    this.#report = report
  }

  on<E extends keyof FlagClientEvents>(event: E, listener: FlagClientEvents[E]): () => void {
    const set = Object.hasOwn(this.#listeners, event) ? (this.#listeners[event] as Set<FlagClientEvents[E]>) : undefined
    if (set === undefined) {
      throw new FlagstoneError('INVALID_ARGUMENT', `unknown event ${JSON.stringify(event)}: use ready, change or stale`, {
        details: { field: 'event' },
      })
    }
    if (typeof listener !== 'function') {
      throw new FlagstoneError('INVALID_ARGUMENT', 'listener must be a function', { details: { field: 'listener' } })
    }
    set.add(listener)
    return () => this.off(event, listener)
  }

  off<E extends keyof FlagClientEvents>(event: E, listener: FlagClientEvents[E]): void {
    ;(this.#listeners[event] as Set<FlagClientEvents[E]> | undefined)?.delete(listener)
  }

  emit<E extends keyof FlagClientEvents>(event: E, ...args: Parameters<FlagClientEvents[E]>): void {
    for (const listener of [...this.#listeners[event]]) {
      try {
        ;(listener as (...a: Parameters<FlagClientEvents[E]>) => void)(...args)
      } catch (error) {
        this.#report(error instanceof Error ? error : new Error(String(error)))
      }
    }
  }
}
