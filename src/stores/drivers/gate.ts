/**
 * A readers-writer gate for a single database connection: plain statements share it, a
 * transaction has it alone. SQLite runs every statement of a connection inside an open
 * transaction, so without the gate another caller's `set` could land in an `atomic` and be rolled
 * back with it. First come, first served: a waiting transaction holds back later statements.
 */
export class Gate {
  #shared = 0
  #exclusive = false
  readonly #queue: Array<{ exclusive: boolean; go: () => void }> = []

  shared<T>(work: () => Promise<T>): Promise<T> {
    return this.#run(false, work)
  }

  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.#run(true, work)
  }

  async #run<T>(exclusive: boolean, work: () => Promise<T>): Promise<T> {
    if (this.#queue.length > 0 || !this.#free(exclusive)) {
      await new Promise<void>((go) => this.#queue.push({ exclusive, go }))
    } else {
      this.#take(exclusive)
    }
    try {
      return await work()
    } finally {
      if (exclusive) this.#exclusive = false
      else this.#shared--
      this.#pump()
    }
  }

  #free(exclusive: boolean): boolean {
    return !this.#exclusive && (!exclusive || this.#shared === 0)
  }

  #take(exclusive: boolean): void {
    if (exclusive) this.#exclusive = true
    else this.#shared++
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const next = this.#queue[0] as { exclusive: boolean; go: () => void }
      if (!this.#free(next.exclusive)) return
      this.#queue.shift()
      this.#take(next.exclusive)
      next.go()
    }
  }
}
