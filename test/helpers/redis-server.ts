/** A throwaway redis-server on a spare port, for outage tests that must kill and restart it. */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { sleep } from './services.js'

/** A free port: any, or one of FLAGSTONE_TEST_REDIS_PORTS (`7300-7349`) where a shared machine hands out ranges. */
async function sparePort(): Promise<number> {
  const range = /^(\d+)-(\d+)$/.exec(process.env.FLAGSTONE_TEST_REDIS_PORTS ?? '')
  const candidates = range === null ? [0] : shuffled(Number(range[1]), Number(range[2]))
  for (const port of candidates) {
    const server = createServer()
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => resolve(true))
    })
    if (!listening) continue
    const address = server.address()
    await new Promise((resolve) => server.close(resolve))
    if (address !== null && typeof address !== 'string') return address.port
  }
  throw new Error('no free port')
}

function shuffled(from: number, to: number): number[] {
  const ports = Array.from({ length: to - from + 1 }, (_, i) => from + i)
  for (let i = ports.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[ports[i], ports[j]] = [ports[j]!, ports[i]!]
  }
  return ports
}

export class RedisServer {
  #process: ChildProcess | undefined
  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await sparePort())
    await server.restart()
    return server
  }

  async restart(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    )
    this.#process = child
    const { createClient } = await import('@redis/client')
    for (let i = 0; i < 100; i++) {
      const probe = createClient({ url: this.url, socket: { reconnectStrategy: false } })
      probe.on('error', () => undefined)
      try {
        await probe.connect()
        await probe.close()
        return
      } catch {
        await sleep(50)
      }
    }
    throw new Error(`redis-server did not start on port ${this.port}`)
  }

  /** SIGSTOP: the server keeps its connections open and answers nothing (a frozen process). */
  pause(): void {
    this.#signal('SIGSTOP')
  }

  /** SIGCONT after `pause()`. */
  resume(): void {
    this.#signal('SIGCONT')
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#process?.pid
    if (pid === undefined || this.#process?.exitCode !== null) throw new Error('redis-server is not running')
    process.kill(pid, signal) // by pid: only the server this helper started
  }

  async kill(): Promise<void> {
    const child = this.#process
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
}
