/** The store suite, part 4: publish / subscribe, atomicity across processes and an unreachable server. */
import { describe, expect } from 'vitest'
import type { Store } from '../stores/index.js'
import { claimed, collect, expectCode, type Harness, runWorker, sleep } from './harness.js'

export function processTests(h: Harness): void {
  describe('publish / subscribe', () => {
    const received = (store: Store, channel: string) => {
      const messages: string[] = []
      const subscribed = store.subscribe(channel, (m) => messages.push(m))
      return { messages, subscribed }
    }
    const until = async (check: () => boolean, ms = 5_000) => {
      const end = Date.now() + ms
      while (!check() && Date.now() < end) await sleep(10)
    }

    claimed(
      h,
      (c) => c.push === 'none',
      'says it cannot push, so callers poll',
      async () => {
        const s = h.fresh()
        expect(s.pushAcrossProcesses).toBe(false)
        await expectCode(s.publish('changes', 'x'), 'UNSUPPORTED')
        await expectCode(
          s.subscribe('changes', () => undefined),
          'UNSUPPORTED',
        )
      },
    )

    claimed(
      h,
      (c) => c.push !== 'none',
      'delivers messages to subscribers of the same channel and namespace only',
      async () => {
        const s = h.fresh()
        expect(s.pushAcrossProcesses).toBe(h.root.capabilities.push === 'processes')
        const a = received(s, 'changes')
        const other = received(s, 'other')
        const sibling = received(h.fresh(), 'changes')
        const unsubscribe = await a.subscribed
        await other.subscribed
        await sibling.subscribed
        await s.publish('changes', 'rev 1')
        await s.publish('changes', 'rev 2 ✓')
        await until(() => a.messages.length === 2)
        expect(a.messages).toEqual(['rev 1', 'rev 2 ✓'])
        await unsubscribe()
        await s.publish('changes', 'after unsubscribe')
        await sleep(100)
        expect(a.messages).toEqual(['rev 1', 'rev 2 ✓'])
        expect(other.messages).toEqual([])
        expect(sibling.messages).toEqual([])
        await expectCode(s.subscribe('changes', 'no' as unknown as () => void), 'INVALID_ARGUMENT')
      },
    )

    claimed(
      h,
      (c, o) => c.push === 'processes' && o.url !== undefined,
      'delivers to another process',
      async () => {
        const s = h.root.withNamespace('pubsub')
        const got = received(s, 'changes')
        await got.subscribed
        await runWorker(h, 'publish', 3, 'pubsub', 60_000)
        await until(() => got.messages.length === 3)
        expect(got.messages).toEqual(['0', '1', '2'])
      },
      60_000,
    )
  })

  describe('atomicity across processes', () => {
    const twoWorkers = async (mode: 'increment' | 'cas', count: number, key: string) =>
      Promise.all([runWorker(h, mode, count, key), runWorker(h, mode, count, key)])
    const acrossProcesses = (c: Store['capabilities'], o: { url?: string }) => c.atomic === 'processes' && o.url !== undefined

    claimed(
      h,
      acrossProcesses,
      'two processes doing 1,000 increments each end at exactly 2,000',
      async () => {
        await twoWorkers('increment', 1_000, 'mp-increment')
        expect(Buffer.from((await h.root.get('mp-increment')) ?? []).toString()).toBe('2000')
        await h.root.delete('mp-increment')
      },
      180_000,
    )

    claimed(
      h,
      acrossProcesses,
      'two processes doing 200 read-compareAndSet-retry increments each end at exactly 400',
      async () => {
        const workers = await twoWorkers('cas', 200, 'mp-cas')
        expect(Buffer.from((await h.root.get('mp-cas')) ?? []).toString()).toBe('400')
        await h.root.delete('mp-cas')
        // Not asserted (timing-dependent), but shows the retries really raced.
        console.info(`${h.name}: compareAndSet retries ${workers.map((w) => w.retries).join(' + ')}`)
      },
      180_000,
    )
  })

  describe('an unreachable server', () => {
    claimed(
      h,
      (_, o) => o.unreachable !== undefined,
      'rejects every operation with STORE_UNAVAILABLE within a bounded time (keyv defect 9: no swallowed errors)',
      async () => {
        const down = await h.options.unreachable!()
        const caps = down.capabilities
        const started = Date.now()
        const ops: Array<[string, () => Promise<unknown>]> = [
          ['get', () => down.get('k')],
          ['get renew', () => down.get('k', { renewFor: 1_000 })],
          ['set', () => down.set('k', 'v')],
          ['delete', () => down.delete('k')],
          ['exists', () => down.exists('k')],
          ['expiresIn', () => down.expiresIn('k')],
        ]
        if (caps.listKeys) ops.push(['deleteAll', () => down.deleteAll()], ['keys', () => collect(down.keys())])
        if (caps.atomic !== 'none') {
          ops.push(['increment', () => down.increment('k')], ['compareAndSet', () => down.compareAndSet('k', null, 'v')])
        }
        ops.push(['getMany', () => down.getMany(['k'])])
        if (caps.listKeys) ops.push(['entries', () => down.entries('p')])
        if (caps.atomicWrites) ops.push(['atomic', () => down.atomic([{ op: 'set', key: 'k', value: 'v' }])])
        if (caps.listKeys && h.options.nativeExpiry !== true) ops.push(['deleteExpired', () => down.deleteExpired()])
        if (caps.push !== 'none') {
          ops.push(['publish', () => down.publish('c', 'm')], ['subscribe', () => down.subscribe('c', () => undefined)])
        }
        for (const [name, op] of ops) {
          const t0 = Date.now()
          const message = await expectCode(op(), 'STORE_UNAVAILABLE')
          expect(message, name).toContain(caps.backend)
          expect(Date.now() - t0, name).toBeLessThan(5_000)
        }
        expect(Date.now() - started).toBeLessThan(20_000)
        await down.close()
        await expectCode(down.get('k'), 'STORE_CLOSED')
      },
      30_000,
    )
  })
}
