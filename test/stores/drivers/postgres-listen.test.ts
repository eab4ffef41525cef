/**
 * LISTEN/UNLISTEN run one at a time on the one listening connection. Its own file: pg warns about
 * concurrent queries on one client through util.deprecate, once per process, so an earlier test in
 * the same process would hide the warning.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStore, type Store } from '../../../src/index.js'
import { DATABASE_URL, randomNamespace, serviceAvailable, sleep } from '../../helpers/services.js'

describe.runIf(await serviceAvailable('PostgreSQL', DATABASE_URL))('postgres LISTEN connection', () => {
  const warnings: string[] = []
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`)
  let store: Store
  beforeAll(async () => {
    process.on('warning', onWarning)
    store = await createStore(DATABASE_URL, { namespace: randomNamespace() })
  })
  afterAll(async () => {
    process.off('warning', onWarning)
    await store?.close()
  })

  it('subscribes and unsubscribes 20 channels at once without overlapping queries on the connection', async () => {
    const received = new Map<string, string[]>()
    const channels = Array.from({ length: 20 }, (_, i) => `c${i}`)
    const unsubscribes = await Promise.all(
      channels.map((channel) => {
        received.set(channel, [])
        return store.subscribe(channel, (m) => received.get(channel)?.push(m))
      }),
    )
    await Promise.all(channels.map((channel) => store.publish(channel, `to ${channel}`)))
    const end = Date.now() + 10_000
    while ([...received.values()].some((m) => m.length === 0) && Date.now() < end) await sleep(20)
    for (const channel of channels) expect(received.get(channel), channel).toEqual([`to ${channel}`])
    await Promise.all(unsubscribes.map((unsubscribe) => unsubscribe()))
    await Promise.all(channels.map((channel) => store.publish(channel, 'after unsubscribe')))
    await sleep(200)
    for (const channel of channels) expect(received.get(channel), channel).toEqual([`to ${channel}`])
    await sleep(50) // warnings are emitted on a later tick
    expect(warnings.filter((w) => w.includes('already executing a query'))).toEqual([])
  }, 30_000)
})
