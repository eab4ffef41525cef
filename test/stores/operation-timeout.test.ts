/**
 * Every store operation is bounded by `operationTimeout`, on a connection that is established but
 * never answers: a blackhole TCP server, a SIGSTOPped redis-server of our own, and a TCP proxy to
 * Postgres that we freeze. Each test prints what it saw (operations tried, answered within the
 * bound, codes, recovery time after the fault ends); the assertions are behavioural, with slack a
 * loaded machine always meets.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createStore, type Store } from '../../src/index.js'
import { RedisServer } from '../helpers/redis-server.js'
import { DATABASE_URL, randomNamespace, serviceAvailable, sleep } from '../helpers/services.js'

const BOUND = 2_000
/** What "answered within the bound" allows on top of `operationTimeout` on a loaded 2-core machine. */
const SLACK = 4_000

interface Outcome {
  name: string
  ms: number
  code: string
}

/** Runs each operation, concurrently, and records how long it took to settle and with which code. */
async function attempt(ops: Array<[string, () => Promise<unknown>]>): Promise<Outcome[]> {
  return Promise.all(
    ops.map(async ([name, op]) => {
      const t0 = Date.now()
      const code = await op().then(
        () => 'ok',
        (error: { code?: string }) => error.code ?? 'not a FlagstoneError',
      )
      return { name, ms: Date.now() - t0, code }
    }),
  )
}

function everyOperation(store: Store, push: boolean, nativeExpiry = false): Array<[string, () => Promise<unknown>]> {
  const ops: Array<[string, () => Promise<unknown>]> = [
    ['get', () => store.get('k')],
    ['get renew', () => store.get('k', { renewFor: 10_000 })],
    ['set', () => store.set('probe', 'v')], // not `k`: a write that timed out may still land after the fault
    ['delete', () => store.delete('other')],
    ['deleteAll', () => store.withNamespace('gone').deleteAll()],
    ['exists', () => store.exists('k')],
    ['expiresIn', () => store.expiresIn('k')],
    ['keys', async () => store.keys()[Symbol.asyncIterator]().next()],
    ['increment', () => store.increment('n')],
    ['compareAndSet', () => store.compareAndSet('c', null, 'v')],
  ]
  // Redis expires keys itself: its deleteExpired has nothing to ask the server.
  if (!nativeExpiry) ops.push(['deleteExpired', () => store.deleteExpired()])
  if (push) ops.push(['publish', () => store.publish('ch', 'm')], ['subscribe', () => store.subscribe('ch', () => undefined)])
  return ops
}

function report(label: string, outcomes: Outcome[], recoveryMs?: number): void {
  const codes = [...new Set(outcomes.map((o) => o.code))].join(', ')
  const within = outcomes.filter((o) => o.ms <= BOUND + SLACK).length
  const slowest = Math.max(...outcomes.map((o) => o.ms))
  console.info(
    `fault ${label}: ${outcomes.length} operations tried, ${within} answered within ${BOUND} ms + ${SLACK} ms slack ` +
      `(slowest ${slowest} ms), codes: ${codes}` +
      (recoveryMs === undefined ? '' : `; first success ${recoveryMs} ms after the fault ended`),
  )
}

function expectBounded(outcomes: Outcome[]): void {
  for (const o of outcomes) {
    expect(o.code, o.name).toBe('STORE_UNAVAILABLE')
    expect(o.ms, o.name).toBeLessThanOrEqual(BOUND + SLACK)
  }
}

/** ms until `op` succeeds (tried every 50 ms), or throws after `limit` ms. */
async function recovery(op: () => Promise<unknown>, limit = 20_000): Promise<number> {
  const t0 = Date.now()
  while (Date.now() - t0 < limit) {
    if (
      await op().then(
        () => true,
        () => false,
      )
    )
      return Date.now() - t0
    await sleep(50)
  }
  throw new Error(`no success within ${limit} ms after the fault ended`)
}

/** Set-up before a fault: on a loaded machine one attempt may miss the bound; a few tries always pass. */
async function retried<T>(op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op()
    } catch (error) {
      if (attempt === 5) throw error
    }
  }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

const postgresUp = await serviceAvailable('PostgreSQL', DATABASE_URL)

describe('operationTimeout', () => {
  it('is validated: a whole number of ms from 1 to 2^31-1', async () => {
    for (const operationTimeout of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 31, '5' as unknown as number]) {
      await expect(createStore('memory:', { operationTimeout })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: { field: 'operationTimeout' },
      })
    }
  })

  describe('a blackhole server (accepts, never answers)', () => {
    let server: Server
    let port: number
    const sockets = new Set<Socket>()
    beforeAll(async () => {
      server = createServer((socket) => {
        sockets.add(socket)
        socket.on('error', () => undefined)
        socket.on('close', () => sockets.delete(socket))
      })
      port = await listen(server)
    })
    afterAll(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    })

    for (const [backend, url] of [
      ['redis', () => `redis://127.0.0.1:${port}`],
      ['postgres', () => `postgresql://postgres@127.0.0.1:${port}/test`],
      ['mysql', () => `mysql://root@127.0.0.1:${port}/test`], // no recycle of its own: the shared bound alone
    ] as const) {
      it(`${backend}: every operation rejects with STORE_UNAVAILABLE within the bound, twice in a row`, async () => {
        const store = await createStore(url(), { namespace: randomNamespace(), operationTimeout: BOUND })
        const first = await attempt(everyOperation(store, backend !== 'mysql', backend === 'redis'))
        const second = await attempt(everyOperation(store, backend !== 'mysql', backend === 'redis')) // after the recycle: bounded again
        report(`blackhole ${backend}`, [...first, ...second])
        expectBounded([...first, ...second])
        const message = await store.get('k').catch((error: Error) => error.message)
        expect(message).toContain(backend)
        await store.close()
      }, 60_000)
    }
  })

  describe('a SIGSTOPped redis-server of our own', () => {
    let server: RedisServer
    let store: Store | undefined
    beforeAll(async () => {
      server = await RedisServer.start()
    })
    afterEach(async () => {
      await store?.close()
    })
    afterAll(async () => {
      await server?.kill() // by the pid this test started; SIGKILL also ends a stopped process
    })

    it('answers every operation within the bound while stopped and recovers after SIGCONT, data intact', async () => {
      store = await createStore(server.url, { namespace: randomNamespace(), operationTimeout: BOUND })
      const messages: string[] = []
      const live = store
      await retried(() => live.subscribe('changes', (m) => messages.push(m)))
      await retried(() => live.set('k', 'before'))
      server.pause()
      let resumed = false
      try {
        const outcomes = [
          ...(await attempt(everyOperation(store, true, true))),
          ...(await attempt(
            Array.from({ length: 20 }, (_, i) => [`get ${i}`, () => store!.get('k')] as [string, () => Promise<unknown>]),
          )),
          ...(await attempt(everyOperation(store, true, true))),
        ]
        server.resume()
        resumed = true
        const recoveryMs = await recovery(() => store!.get('k'))
        report('SIGSTOP redis', outcomes, recoveryMs)
        expectBounded(outcomes)
      } finally {
        if (!resumed) server.resume()
      }
      expect(Buffer.from((await store.get('k')) ?? []).toString()).toBe('before')
      await store.set('k', 'after')
      expect(Buffer.from((await store.get('k')) ?? []).toString()).toBe('after')
      // the subscription that existed before the freeze still delivers
      const end = Date.now() + 10_000
      while (messages.length === 0 && Date.now() < end) {
        await store.publish('changes', 'after SIGCONT')
        await sleep(100)
      }
      expect(messages[0]).toBe('after SIGCONT')
    }, 90_000)
  })

  describe.runIf(postgresUp)('a frozen TCP proxy to Postgres', () => {
    /** Forwards to Postgres; `freeze()` stops every byte in both directions (and holds new connections) until `thaw()`. */
    class FreezableProxy {
      readonly #server: Server
      readonly #pairs = new Set<[Socket, Socket]>()
      #frozen = false
      #held: Array<() => void> = []
      port = 0

      constructor(target: URL) {
        this.#server = createServer((downstream) => {
          downstream.on('error', () => undefined)
          const start = () => {
            const upstream = tcpConnect(Number(target.port || 5432), target.hostname)
            upstream.on('error', () => downstream.destroy())
            downstream.on('error', () => upstream.destroy())
            upstream.on('close', () => downstream.destroy())
            downstream.on('close', () => upstream.destroy())
            const pair: [Socket, Socket] = [downstream, upstream]
            this.#pairs.add(pair)
            downstream.on('close', () => this.#pairs.delete(pair))
            downstream.pipe(upstream)
            upstream.pipe(downstream)
          }
          if (this.#frozen) {
            downstream.pause()
            this.#held.push(start)
          } else start()
        })
      }

      async start(): Promise<void> {
        this.port = await listen(this.#server)
      }

      freeze(): void {
        this.#frozen = true
        for (const [down, up] of this.#pairs) {
          down.unpipe(up)
          up.unpipe(down)
          down.pause()
          up.pause()
        }
      }

      thaw(): void {
        this.#frozen = false
        for (const [down, up] of this.#pairs) {
          down.pipe(up)
          up.pipe(down)
        }
        for (const start of this.#held.splice(0)) start()
      }

      async close(): Promise<void> {
        for (const [down, up] of this.#pairs) {
          down.destroy()
          up.destroy()
        }
        await new Promise((resolve) => this.#server.close(resolve))
      }
    }

    let proxy: FreezableProxy
    beforeAll(async () => {
      proxy = new FreezableProxy(new URL(DATABASE_URL))
      await proxy.start()
    })
    afterAll(async () => {
      await proxy?.close()
    })

    it('answers every operation within the bound while frozen and recovers after the thaw, data intact', async () => {
      const url = new URL(DATABASE_URL)
      url.port = String(proxy.port)
      const store = await createStore(url.toString(), { namespace: randomNamespace(), operationTimeout: BOUND, max: 4 })
      try {
        await retried(() => store.subscribe('changes', () => undefined))
        await retried(() => Promise.all(Array.from({ length: 8 }, (_, i) => store.set(`warm${i}`, 'v')))) // every pooled connection open
        await retried(() => store.set('k', 'before'))
        proxy.freeze()
        let thawed = false
        try {
          const outcomes = [
            ...(await attempt(everyOperation(store, true))),
            ...(await attempt(
              Array.from({ length: 20 }, (_, i) => [`get ${i}`, () => store.get('k')] as [string, () => Promise<unknown>]),
            )),
            ...(await attempt(everyOperation(store, true))),
          ]
          proxy.thaw()
          thawed = true
          const recoveryMs = await recovery(() => store.get('k'))
          report('frozen postgres proxy', outcomes, recoveryMs)
          expectBounded(outcomes)
        } finally {
          if (!thawed) proxy.thaw()
        }
        expect(Buffer.from((await store.get('k')) ?? []).toString()).toBe('before')
        await store.set('k', 'after')
        expect(Buffer.from((await store.get('k')) ?? []).toString()).toBe('after')
        await store.deleteAll()
      } finally {
        await store.close()
      }
    }, 90_000)
  })
})
