/**
 * The repository's writes: documents, change record and revision in ONE atomic operation (issue 9),
 * on a real SQLite file behind a wrapper that counts calls or injects failures, and the log's bounds.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createStore, MemoryStore, type Store, StoreFlagRepository } from '../../../src/index.js'
import { readChanges } from '../../../src/flags/repositories/change-log.js'
import { sleep } from '../../helpers/services.js'
import { wrapStore } from '../../helpers/store-wrappers.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-change-log-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const sqlite = () => createStore(`sqlite://${join(dir, `s${++files}.sqlite`)}`)

async function logEntries(store: Store): Promise<string[]> {
  const keys: string[] = []
  let cursor: string | undefined
  do {
    const page = await store.entries('log/', { cursor })
    keys.push(...page.entries.map(([key]) => key))
    cursor = page.cursor ?? undefined
  } while (cursor !== undefined)
  return keys.sort()
}

describe('change log', () => {
  it('appends one change record per write, naming the documents, with the revision bumped by one', async () => {
    const store = (await sqlite()).withNamespace('flags')
    const repo = new StoreFlagRepository(store)
    await repo.createFlag({ key: 'a', type: 'boolean' })
    const r1 = await repo.revision()
    await repo.setOverride({ flagKey: 'a', entityType: 'user', entityId: 'u1', enabled: true })
    await repo.updateFlag('a', { key: 'a', type: 'boolean', name: 'A' }, 1)
    await repo.deleteFlag('a')
    const r4 = await repo.revision()
    expect(r4).toBe(r1 + 3)
    const records = await readChanges(store, r1 - 1, r4)
    expect(records?.map((r) => r.changes)).toEqual([
      [{ key: 'flag/a', op: 'put' }],
      [{ key: 'override/a/user/u1', op: 'put' }],
      [{ key: 'flag/a', op: 'put' }],
      [
        { key: 'flag/a', op: 'delete' },
        { key: 'override/a/user/u1', op: 'delete' },
      ],
    ])
    expect(records?.map((r) => r.revision)).toEqual([r1, r1 + 1, r1 + 2, r4])
    await store.close()
  })

  it('is bounded by count and by age, trimmed as it goes', async () => {
    const store = new MemoryStore()
    const repo = new StoreFlagRepository(store, { changeLog: { maxEntries: 5 } })
    for (let i = 0; i < 12; i++) await repo.createFlag({ key: `f${i}`, type: 'boolean' })
    expect(await logEntries(store)).toHaveLength(5)
    const revision = await repo.revision()
    expect(await readChanges(store, revision - 5, revision)).toHaveLength(5)
    expect(await readChanges(store, revision - 6, revision)).toBeNull() // past the horizon
    const agingStore = new MemoryStore()
    const aging = new StoreFlagRepository(agingStore, { changeLog: { maxAge: 50 } })
    await aging.createFlag({ key: 'x', type: 'boolean' })
    await sleep(120)
    await aging.createFlag({ key: 'y', type: 'boolean' })
    const now = await aging.revision()
    expect(await readChanges(agingStore, now - 2, now)).toBeNull() // the older record expired
    expect(await readChanges(agingStore, now - 1, now)).toHaveLength(1)
    expect(() => new StoreFlagRepository(store, { changeLog: { maxEntries: 0 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'changeLog.maxEntries' } }),
    )
  })

  it('a createFlag is one batch read and one atomic write plus the push; a snapshot of 1,000 flags a few page reads', async () => {
    const wrapped = wrapStore((await sqlite()).withNamespace('flags'))
    const repo = new StoreFlagRepository(wrapped.store)
    await repo.createFlag({ key: 'warm', type: 'boolean' })
    wrapped.reset()
    await repo.createFlag({ key: 'counted', type: 'boolean' })
    expect(Object.fromEntries(wrapped.counts)).toEqual({ getMany: 1, atomic: 1, publish: 1 })
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => repo.createFlag({ key: `bulk-${i}`, type: 'boolean' })))
    wrapped.reset()
    const snapshot = await repo.loadSnapshot()
    expect(snapshot.flags).toHaveLength(1_002)
    // five document prefixes, one page each, plus the revision before and after: no read per flag
    expect(wrapped.total()).toBeLessThanOrEqual(8)
    wrapped.reset()
    expect(await repo.listFlags()).toHaveLength(1_002)
    expect(wrapped.total()).toBe(1)
    await wrapped.store.close()
  }, 60_000)
})

describe('a failed write changes nothing; a stored one is never reported as failed', () => {
  it('store down during the write: rejects with STORE_UNAVAILABLE, state and revision as before', async () => {
    const wrapped = wrapStore((await sqlite()).withNamespace('flags'))
    const repo = new StoreFlagRepository(wrapped.store)
    await repo.createFlag({ key: 'kept', type: 'boolean' })
    const before = { snapshot: await repo.loadSnapshot(), revision: await repo.revision() }
    wrapped.failNextAtomic('before')
    wrapped.down()
    await expect(repo.createFlag({ key: 'lost', type: 'boolean' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await expect(repo.updateFlag('kept', { key: 'kept', type: 'boolean', name: 'n' }, 1)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    })
    wrapped.heal()
    expect(await repo.revision()).toBe(before.revision)
    expect(await repo.loadSnapshot()).toEqual(before.snapshot)
    await wrapped.store.close()
  })

  it('an atomic whose answer is lost after it applied: the write reports success and is in the log', async () => {
    const wrapped = wrapStore((await sqlite()).withNamespace('flags'))
    const repo = new StoreFlagRepository(wrapped.store)
    await repo.createFlag({ key: 'first', type: 'boolean' })
    const revision = await repo.revision()
    wrapped.failNextAtomic('after')
    const created = await repo.createFlag({ key: 'landed', type: 'boolean' })
    expect(created.key).toBe('landed')
    expect(await repo.getFlag('landed')).not.toBeNull()
    expect(await repo.revision()).toBe(revision + 1)
    expect((await readChanges(wrapped.store, revision, revision + 1))?.[0]?.changes).toEqual([{ key: 'flag/landed', op: 'put' }])
    await wrapped.store.close()
  })

  it('an atomic that failed before reaching the store: the write reports failure, nothing is stored, the next write works', async () => {
    const wrapped = wrapStore((await sqlite()).withNamespace('flags'))
    const repo = new StoreFlagRepository(wrapped.store)
    wrapped.failNextAtomic('before')
    await expect(repo.createFlag({ key: 'never', type: 'boolean' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    expect(await repo.getFlag('never')).toBeNull()
    expect((await repo.loadSnapshot()).flags).toEqual([])
    await repo.createFlag({ key: 'never', type: 'boolean' })
    expect(await repo.getFlag('never')).not.toBeNull()
    await wrapped.store.close()
  })
})
