/**
 * Issue 10 item 11 across processes: a rule naming a segment and the segment's deletion race on
 * two store instances (two connections, as two servers would have). The segment check and the
 * in-use check are part of each write's one atomic operation, so no interleaving can end with a
 * flag that names a missing segment; exactly one of the two writes wins each round.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { createStore, type Store } from '../../../src/index.js'
import { StoreFlagRepository } from '../../../src/flags/index.js'
import { DATABASE_URL, randomNamespace, REDIS_URL, serviceAvailable } from '../../helpers/services.js'

// Each round is a handful of round trips; the bound is generous for a loaded 2-core machine.
const ROUNDS = 40
const redis = await serviceAvailable('Redis', REDIS_URL)
const postgres = await serviceAvailable('PostgreSQL', DATABASE_URL)
const opened: Store[] = []
afterAll(async () => {
  for (const store of opened) await store.close()
})

const flagNaming = (key: string, segment: string) => ({
  key,
  type: 'boolean' as const,
  rules: [
    {
      id: 'r',
      priority: 0,
      enabled: true,
      serveEnabled: true,
      conditions: [{ attribute: 'user', operator: 'in_segment' as const, value: segment }],
    },
  ],
})

async function race(url: string): Promise<void> {
  const namespace = randomNamespace('segrace')
  const [a, b] = await Promise.all([createStore(url, { namespace }), createStore(url, { namespace })])
  opened.push(a!, b!)
  const deleter = new StoreFlagRepository(a!)
  const creator = new StoreFlagRepository(b!)
  const outcomes = { deleted: 0, created: 0 }
  for (let i = 0; i < ROUNDS; i++) {
    const segment = `seg-${i}`
    await deleter.createSegment({ key: segment, conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }] } as never)
    // Start both at once; vary which goes first so both interleavings are tried.
    const del = () => deleter.deleteSegment(segment)
    const make = () => creator.createFlag(flagNaming(`flag-${i}`, segment))
    let deleting: Promise<boolean>
    let creating: Promise<unknown>
    if (i % 2 === 0) {
      deleting = del()
      creating = make()
    } else {
      creating = make()
      deleting = del()
    }
    const [deleted, created] = await Promise.allSettled([deleting, creating] as const)
    const flag = await deleter.getFlag(`flag-${i}`)
    const stillThere = (await creator.getSegment(segment)) !== null
    // The invariant: a stored flag's segment exists.
    if (flag !== null) expect(stillThere, `round ${i}: flag-${i} names a deleted segment`).toBe(true)
    // Exactly one wins: the delete (and the create is refused) or the create (and the delete is refused).
    if (deleted.status === 'fulfilled' && deleted.value) {
      outcomes.deleted++
      expect(created.status).toBe('rejected')
      expect((created as PromiseRejectedResult).reason).toMatchObject({ code: 'INVALID_ARGUMENT' })
    } else {
      outcomes.created++
      expect(created.status).toBe('fulfilled')
      expect((deleted as PromiseRejectedResult).reason).toMatchObject({ code: 'CONFLICT' })
    }
  }
  expect(outcomes.deleted + outcomes.created).toBe(ROUNDS)
  await a!.deleteAll()
}

describe('a segment deleted while another store instance creates a flag naming it', () => {
  it.runIf(redis)(
    'never leaves a flag naming a missing segment (Redis)',
    async () => {
      await race(REDIS_URL)
    },
    240_000,
  )
  it.runIf(postgres)(
    'never leaves a flag naming a missing segment (PostgreSQL)',
    async () => {
      await race(DATABASE_URL)
    },
    240_000,
  )
})
