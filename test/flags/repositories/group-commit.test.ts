/**
 * Group commit (group-commit.ts): concurrent writes of one process share one read and one atomic,
 * yet each keeps its own revision and change record, and a group behaves exactly like its writes
 * run one after the other. On a real SQLite file and on memory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readChanges } from '../../../src/flags/repositories/change-log.js'
import { createStore, MemoryStore, type Store, StoreFlagRepository } from '../../../src/index.js'
import { wrapStore } from '../../helpers/store-wrappers.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-group-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const backends: Array<[string, () => Promise<Store>]> = [
  ['memory', async () => new MemoryStore()],
  ['sqlite', () => createStore(`sqlite://${join(dir, `g${Date.now()}${Math.random()}.sqlite`)}`)],
]

describe.each(backends)('group commit: %s', (_name, open) => {
  it('32 concurrent creates: fewer atomics than writes, one revision and one change record each, in order', async () => {
    const wrapped = wrapStore((await open()).withNamespace('flags'))
    const repo = new StoreFlagRepository(wrapped.store)
    await repo.createFlag({ key: 'first', type: 'boolean' })
    const start = await repo.revision()
    wrapped.reset()
    await Promise.all(Array.from({ length: 32 }, (_, i) => repo.createFlag({ key: `g${i}`, type: 'boolean' })))
    expect(wrapped.counts.get('atomic')).toBeLessThan(32)
    expect(wrapped.counts.get('publish')).toBe(32) // one push per revision
    expect(await repo.revision()).toBe(start + 32)
    const records = (await readChanges(wrapped.store, start, start + 32)) ?? []
    expect(records.map((r) => r.revision)).toEqual(Array.from({ length: 32 }, (_, i) => start + 1 + i))
    expect(records.every((r) => r.changes.length === 1)).toBe(true)
    expect(new Set(records.map((r) => r.changes[0]?.key)).size).toBe(32)
    expect(await repo.listFlags()).toHaveLength(33)
    await wrapped.store.close()
  })

  it('writes on one key in one group: as if one after the other (one wins a version race, dependents wait)', async () => {
    const repo = new StoreFlagRepository((await open()).withNamespace('flags'))
    const flag = await repo.createFlag({ key: 'x', type: 'boolean' })
    const results = await Promise.allSettled([
      repo.updateFlag('x', { key: 'x', type: 'boolean', name: 'one' }, flag.version),
      repo.updateFlag('x', { key: 'x', type: 'boolean', name: 'two' }, flag.version),
      repo.createFlag({ key: 'y', type: 'boolean' }),
    ])
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'fulfilled', 'rejected'])
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(rejected?.reason).toMatchObject({ code: 'CONFLICT' })
    expect((await repo.getFlag('x'))?.version).toBe(flag.version + 1)
    // a create and a delete of the same key issued together: the delete runs after the create
    await Promise.all([repo.createFlag({ key: 'z', type: 'boolean' }), repo.deleteFlag('y')])
    const [created, deleted] = await Promise.allSettled([
      repo.createFlag({ key: 'w', type: 'boolean' }),
      repo.deleteOverride('w', 'user', 'u1'),
    ])
    expect(created.status).toBe('fulfilled')
    expect(deleted).toEqual({ status: 'fulfilled', value: false })
    expect((await repo.listFlags()).map((f) => f.key).sort()).toEqual(['w', 'x', 'z'])
  })
})
