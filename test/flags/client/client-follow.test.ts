/**
 * The parts of following by deltas that the backend suites (client-deltas.test.ts) do not reach:
 * push messages of other forms, a counter that goes backwards, the layered maps, and
 * repositories that cannot be followed by deltas.
 */
import { describe, expect, it } from 'vitest'
import { FlagClient } from '../../../src/flags/client/client.js'
import { planPushes } from '../../../src/flags/client/follow.js'
import { LayeredMap } from '../../../src/flags/evaluation/layered-map.js'
import type { FeatureFlag } from '../../../src/flags/model.js'
import type { ChangeListener, FlagRepository } from '../../../src/flags/repositories/repository.js'
import { StaticFlagRepository } from '../../../src/flags/repositories/static-repository.js'
import { changeMessage } from '../../../src/flags/repositories/change-log.js'
import { parseChangeMessage } from '../../../src/flags/repositories/store-changes.js'
import { StoreFlagRepository } from '../../../src/flags/repositories/store-repository.js'
import { MemoryStore } from '../../../src/index.js'
import { makeFlag } from '../fixtures.js'
import { sleep } from '../../helpers/services.js'
import { input, waitFor } from './fixtures/client-helpers.js'
import { expectSameAs, followed } from './fixtures/follow-helpers.js'

/** The repository, with every push rewritten by `rewrite` (as another writer version or a lossy channel would send it). */
function rewritten(repository: FlagRepository, rewrite: (revision: number) => number): FlagRepository {
  return new Proxy(repository, {
    get(target, property) {
      if (property === 'watch') return (listener: ChangeListener) => target.watch((revision) => listener(rewrite(revision)))
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

async function setUp(rewrite?: (revision: number) => number) {
  const store = new MemoryStore()
  const writer = new StoreFlagRepository(store)
  await writer.createFlag(input({ key: 'n', type: 'number', defaultValue: 0 }))
  await sleep(50) // the memory store delivers pushes on a later tick: not this creation's to a client made now
  const follow = followed(rewrite === undefined ? writer : rewritten(writer, rewrite))
  const client = new FlagClient({ repository: follow.repository, pollInterval: Infinity, fullRefreshInterval: Infinity })
  await client.ready()
  const bump = async (value: number) => {
    const flag = (await writer.getFlag('n')) as FeatureFlag
    await writer.updateFlag('n', { ...input(flag), defaultValue: value }, flag.version)
    const revision = await writer.revision()
    await waitFor(() => client.revision === revision && client.getNumber('n', -1) === value)
  }
  return { store, writer, follow, client, bump }
}

describe('following by deltas', () => {
  it('push messages: JSON with the changes, the bare revision when long; both parse', () => {
    const message = changeMessage(12, [
      { key: 'flag/a', op: 'put' },
      { key: 'override/a/user/u%201', op: 'delete' },
    ])
    expect(parseChangeMessage(message)).toEqual({
      revision: 12,
      changed: [
        { kind: 'flag', key: 'a' },
        { kind: 'override', flagKey: 'a', entityType: 'user', entityId: 'u 1' },
      ],
    })
    const many = Array.from({ length: 500 }, (_, i) => ({ key: `envflag/flag-${i}/production`, op: 'delete' as const }))
    expect(changeMessage(13, many)).toBe('13')
    expect(parseChangeMessage('13')).toEqual({ revision: 13 }) // changes not said: catch up from the log
    expect(parseChangeMessage('{"revision":14,"changes":[{"key":"future/x","op":"put"}]}')).toEqual({
      revision: 14,
      changed: undefined,
    })
    expect(parseChangeMessage('{broken').revision).toBeNaN()
  })

  it('plans pushes: one delta when contiguous, a catch-up on a gap or a bare revision, a check when behind', () => {
    const a = { kind: 'flag', key: 'a' } as const
    expect(
      planPushes(
        [
          { revision: 11, changed: [a] },
          { revision: 12, changed: [] },
        ],
        10,
        true,
      ),
    ).toEqual({ revision: 12, changed: [a] })
    expect(planPushes([{ revision: 12, changed: [a] }], 10, true)).toBe('catch-up')
    expect(planPushes([{ revision: 11, changed: undefined }], 10, true)).toBe('catch-up')
    expect(planPushes([{ revision: 9, changed: [a] }], 10, true)).toBe('check')
    expect(planPushes([{ revision: 10, changed: [a] }], 10, true)).toBe('none')
    expect(planPushes([{ revision: Number.NaN, changed: undefined }], 10, true)).toBe('load')
    expect(planPushes([{ revision: 11, changed: [a] }], 10, false)).toBe('load')
    expect(planPushes([{ revision: 10, changed: [a] }], 10, false)).toBe('none')
  })

  it('a bare-revision push (an older writer, a long change) is caught up from the log, no full reload', async () => {
    const { follow, client, bump, writer, store } = await setUp((revision) => revision)
    for (let i = 1; i <= 5; i++) await bump(i)
    expect(follow.loads()).toBe(1)
    await expectSameAs(client.snapshot, writer, [{}])
    await client.close()
    await store.close()
  })

  it('an unreadable push reloads in full', async () => {
    const { follow, client, bump, store } = await setUp(() => Number.NaN)
    await bump(1)
    expect(follow.loads()).toBe(2)
    await client.close()
    await store.close()
  })

  it('a counter that went backwards (a store that lost its data) reloads in full', async () => {
    const { follow, client, writer, store } = await setUp()
    const held = client.revision as number
    await store.deleteAll()
    await store.set('revision', String(held - 10))
    await writer.createFlag(input({ key: 'n', type: 'number', defaultValue: 7 }))
    await waitFor(() => client.getNumber('n', -1) === 7)
    expect(client.revision).toBe(held - 9)
    expect(follow.loads()).toBe(2)
    await expectSameAs(client.snapshot, writer, [{}])
    await client.close()
    await store.close()
  })

  it('a repository without changesSince / readDocuments is followed by full reloads, as before', async () => {
    const store = new MemoryStore()
    const writer = new StoreFlagRepository(store)
    await writer.createFlag(input({ key: 'f' }))
    const plain = new Proxy(writer, {
      get(target, property) {
        if (property === 'changesSince' || property === 'readDocuments') return undefined
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const follow = followed(plain)
    const client = new FlagClient({ repository: follow.repository, pollInterval: 50 })
    await client.ready()
    await writer.archiveFlag('f')
    await waitFor(() => client.getBooleanDetails('f', true).reason === 'DISABLED')
    expect(follow.loads()).toBe(2)
    await client.close()
    await store.close()
  })

  it('the static repository answers changesSince for its one revision and reads its documents', async () => {
    const repository = new StaticFlagRepository({ flags: [makeFlag({ key: 'f' })] })
    expect(await repository.changesSince(0)).toEqual({ revision: 0, changed: [] })
    expect(await repository.changesSince(3)).toBeNull()
    const read = await repository.readDocuments([
      { kind: 'flag', key: 'f' },
      { kind: 'segment', key: 'none' },
    ])
    expect(read.revision).toBe(0)
    expect(read.documents).toMatchObject([{ key: 'f' }, null])
  })

  it('layered maps: changes on top of a base, folded when the layer grows; the base is never changed', () => {
    const base = new Map(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))
    let map = LayeredMap.of(base)
    const first = map.with(
      new Map([
        ['k1', -1],
        ['k2', undefined],
        ['new', 1000],
      ]),
    )
    expect([first.get('k1'), first.get('k2'), first.get('new'), first.has('k2'), first.size]).toEqual([
      -1,
      undefined,
      1000,
      false,
      100,
    ])
    expect(map.get('k1')).toBe(1)
    expect(map.size).toBe(100)
    expect([...first.keys()].sort()).toEqual(
      [...base.keys()]
        .filter((k) => k !== 'k2')
        .concat('new')
        .sort(),
    )
    for (let i = 0; i < 100; i++) map = map.with(new Map([[`k${i}`, i * 2]]))
    expect(map.size).toBe(100)
    expect([...map.values()].reduce((a, b) => a + b, 0)).toBe(2 * 4950)
    expect(base.get('k99')).toBe(99)
  })
})
