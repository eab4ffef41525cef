/**
 * The repository conformance suite: one set of tests for every `FlagRepository` on every backend
 * (the read-only parts also on `StaticFlagRepository`).
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FlagstoneErrorCode } from '../../../src/errors.js'
import type { FlagInput, FlagOverride } from '../../../src/flags/model.js'
import { compileSnapshot, evaluate } from '../../../src/flags/evaluation/evaluate.js'
import type { FlagRepository } from '../../../src/flags/repositories/repository.js'
import { StoreFlagRepository } from '../../../src/flags/repositories/store-repository.js'
import type { Store } from '../../../src/stores/types.js'
import { randomNamespace, sleep } from '../../helpers/services.js'
import { makeFlag, makeRule } from '../fixtures.js'

const run = promisify(execFile)
const WORKER = fileURLToPath(new URL('./fixtures/repository-worker.ts', import.meta.url))
const SCHEDULE_WORKER = fileURLToPath(new URL('./fixtures/schedule-worker.ts', import.meta.url))

export interface RepositoryBackend {
  name: string
  /** A root store under `namespace` (the repository lives in its `flags` child, like the worker's). */
  open(namespace: string): Promise<Store>
  /** For the multi-process test. */
  url?: string
  /** Whether `watch` pushes (Redis, Postgres, memory). */
  push: boolean
}

export function input(key: string, fields: Partial<FlagInput> = {}): FlagInput {
  const { version: _v, createdAt: _c, updatedAt: _u, ...rest } = makeFlag({ key, ...fields })
  return rest
}

async function expectCode(promise: Promise<unknown>, code: FlagstoneErrorCode): Promise<string> {
  const error = await promise.then(
    () => {
      throw new Error(`expected ${code}`)
    },
    (e: unknown) => e as { code?: string; message: string },
  )
  expect(error.code, error.message).toBe(code)
  return error.message
}

export function repositoryConformance(backend: RepositoryBackend): void {
  describe(`flag repository conformance: ${backend.name}`, () => {
    let rootName: string
    let root: Store
    let n = 0
    /** A repository in a fresh namespace per test. */
    const fresh = (): { repo: FlagRepository; store: Store } => {
      const store = root.withNamespace(`r${++n}`)
      return { repo: new StoreFlagRepository(store), store }
    }

    beforeAll(async () => {
      rootName = randomNamespace()
      root = await backend.open(rootName)
    })
    afterAll(async () => {
      await root?.deleteAll()
      await root?.close()
    })

    it('creates, reads, lists, updates and deletes flags with versions', async () => {
      const { repo } = fresh()
      const created = await repo.createFlag(input('checkout', { tags: ['web'], description: 'New checkout' }))
      expect(created.version).toBe(1)
      expect(created.createdAt).toBeInstanceOf(Date)
      await repo.createFlag(input('search', { type: 'string', defaultValue: 'v1', status: 'inactive' }))
      const read = await repo.getFlag('checkout')
      expect(read).toEqual(created)
      expect(read?.createdAt).toBeInstanceOf(Date) // dates survive storage
      expect((await repo.listFlags()).map((f) => f.key)).toEqual(['checkout', 'search'])
      expect((await repo.listFlags({ status: 'inactive' })).map((f) => f.key)).toEqual(['search'])
      expect((await repo.listFlags({ tag: 'web' })).map((f) => f.key)).toEqual(['checkout'])
      expect((await repo.listFlags({ search: 'CHECKOUT' })).map((f) => f.key)).toEqual(['checkout'])
      const updated = await repo.updateFlag('checkout', { ...input('checkout'), defaultEnabled: true }, 1)
      expect(updated.version).toBe(2)
      expect(updated.createdAt).toEqual(created.createdAt)
      expect((await repo.getFlag('checkout'))?.defaultEnabled).toBe(true)
      await repo.deleteFlag('checkout')
      expect(await repo.getFlag('checkout')).toBeNull()
      await expectCode(repo.deleteFlag('checkout'), 'NOT_FOUND')
      await expectCode(repo.updateFlag('checkout', input('checkout'), 2), 'NOT_FOUND')
    })

    it('answers CONFLICT on a duplicate create and on a stale version, changing nothing', async () => {
      const { repo } = fresh()
      await repo.createFlag(input('f', { defaultEnabled: false }))
      await expectCode(repo.createFlag(input('f', { defaultEnabled: true })), 'CONFLICT')
      await repo.updateFlag('f', input('f', { name: 'second' }), 1)
      const message = await expectCode(repo.updateFlag('f', input('f', { name: 'stale' }), 1), 'CONFLICT')
      expect(message).toContain('version 2')
      await expectCode(repo.deleteFlag('f', 1), 'CONFLICT')
      const flag = await repo.getFlag('f')
      expect(flag?.name).toBe('second')
      expect(flag?.defaultEnabled).toBe(false)
      expect(flag?.version).toBe(2)
    })

    it('rejects invalid documents naming the field and writes nothing', async () => {
      const { repo } = fresh()
      const revision = await repo.revision()
      const bad: Array<[unknown, string]> = [
        [{ ...input('ok'), key: '1bad' }, 'key'],
        [{ ...input('ok'), type: 'number', defaultValue: 'abc' }, 'defaultValue'],
        [
          { ...input('ok'), rules: [makeRule('r', { conditions: [{ attribute: 'x', operator: 'almost', value: 1 }] })] },
          'rules[0].conditions[0].operator',
        ],
        [{ ...input('ok'), rules: [makeRule('r', { rolloutPercentage: 101 })] }, 'rules[0].rolloutPercentage'],
        [{ ...input('ok'), variants: [{ key: 'a', value: true, weight: -1 }] }, 'variants[0].weight'],
      ]
      for (const [doc, field] of bad) {
        const message = await expectCode(repo.createFlag(doc as FlagInput), 'INVALID_ARGUMENT')
        expect(message).toContain(field)
      }
      expect(await repo.listFlags()).toEqual([])
      expect(await repo.revision()).toBe(revision)
      await repo.createFlag(input('ok'))
      await expectCode(
        repo.updateFlag('ok', { ...input('ok'), type: 'number', defaultValue: 'abc' } as FlagInput, 1),
        'INVALID_ARGUMENT',
      )
      await expectCode(repo.updateFlag('ok', input('other'), 1), 'INVALID_ARGUMENT')
      expect((await repo.getFlag('ok'))?.version).toBe(1)
    })

    it('archives and restores', async () => {
      const { repo } = fresh()
      await repo.createFlag(input('old'))
      const archived = await repo.archiveFlag('old')
      expect(archived.status).toBe('archived')
      expect(archived.version).toBe(2)
      expect((await repo.listFlags({ status: 'archived' })).map((f) => f.key)).toEqual(['old'])
      await expectCode(repo.archiveFlag('old', 1), 'CONFLICT')
      const restored = await repo.restoreFlag('old', 2)
      expect(restored.status).toBe('inactive')
      await expectCode(repo.restoreFlag('old'), 'CONFLICT') // not archived
      await expectCode(repo.archiveFlag('missing'), 'NOT_FOUND')
    })

    it('stores overrides under their own keys with native expiry and removes them with the flag', async () => {
      const { repo } = fresh()
      await repo.createFlag(input('beta'))
      await repo.createFlag(input('plan', { type: 'string', defaultValue: 'free' }))
      const forever: FlagOverride = { flagKey: 'beta', entityType: 'user', entityId: 'u/1:ü', enabled: true }
      await repo.setOverride(forever)
      await repo.setOverride({
        flagKey: 'beta',
        entityType: 'organization',
        entityId: 'acme',
        enabled: false,
        expiresAt: new Date(Date.now() + 300),
      })
      // One that outlives the test: what is listed before expiry is asserted on it, not on the 300 ms
      // one, which a loaded machine may already have seen expire.
      await repo.setOverride({
        flagKey: 'beta',
        entityType: 'organization',
        entityId: 'later',
        enabled: false,
        expiresAt: new Date(Date.now() + 600_000),
      })
      await repo.setOverride({ flagKey: 'plan', entityType: 'tenant', entityId: 't1', enabled: true, value: 'pro' })
      expect(await repo.getOverride('beta', 'user', 'u/1:ü')).toEqual(forever)
      expect((await repo.listOverrides('beta')).map((o) => o.entityId)).toEqual(expect.arrayContaining(['later', 'u/1:ü']))
      await expectCode(
        repo.setOverride({ flagKey: 'plan', entityType: 'user', entityId: 'x', enabled: true, value: 42 }),
        'INVALID_ARGUMENT',
      )
      await expectCode(repo.setOverride({ flagKey: 'nope', entityType: 'user', entityId: 'x', enabled: true }), 'NOT_FOUND')
      await expectCode(repo.setOverride({ ...forever, expiresAt: new Date(Date.now() - 1) }), 'INVALID_ARGUMENT')
      await sleep(500)
      expect((await repo.listOverrides('beta')).map((o) => o.entityId).sort()).toEqual(['later', 'u/1:ü'])
      expect(await repo.getOverride('beta', 'organization', 'acme')).toBeNull()
      expect((await repo.loadSnapshot()).overrides.map((o) => o.entityId).sort()).toEqual(['later', 't1', 'u/1:ü'])
      expect(await repo.deleteOverride('plan', 'tenant', 't1')).toBe(true)
      expect(await repo.deleteOverride('plan', 'tenant', 't1')).toBe(false)
      await expectCode(repo.createFlag(input('beta')), 'CONFLICT') // a duplicate create leaves the overrides alone
      expect(await repo.getOverride('beta', 'user', 'u/1:ü')).toEqual(forever)
      await repo.deleteFlag('beta')
      await repo.createFlag(input('beta')) // a new flag of the same key starts without overrides
      expect(await repo.listOverrides('beta')).toEqual([])
    })

    it('keeps segments, nested, and rejects cycles, missing parents and deleting a parent', async () => {
      const { repo } = fresh()
      await repo.createSegment({
        key: 'staff',
        name: 'Staff',
        conditions: [{ attribute: 'email', operator: 'ends_with', value: '@example.com' }],
      })
      await repo.createSegment({
        key: 'staff-eu',
        name: 'Staff EU',
        parent: 'staff',
        conditions: [{ attribute: 'country', operator: 'in', value: ['DE', 'FR'] }],
      })
      await expectCode(repo.createSegment({ key: 'staff', name: 'again', conditions: [] }), 'CONFLICT')
      await expectCode(repo.createSegment({ key: 'orphan', name: 'x', parent: 'nobody', conditions: [] }), 'INVALID_ARGUMENT')
      const cycle = await expectCode(
        repo.updateSegment({ key: 'staff', name: 'Staff', parent: 'staff-eu', conditions: [] }),
        'INVALID_ARGUMENT',
      )
      expect(cycle.toLowerCase()).toContain('cycle')
      await expectCode(repo.deleteSegment('staff'), 'CONFLICT')
      expect((await repo.listSegments()).map((s) => s.key)).toEqual(['staff', 'staff-eu'])
      expect((await repo.getSegment('staff-eu'))?.parent).toBe('staff')
      expect(await repo.deleteSegment('staff-eu')).toBe(true)
      expect(await repo.deleteSegment('staff')).toBe(true)
      expect(await repo.deleteSegment('staff')).toBe(false)
      await expectCode(repo.updateSegment({ key: 'ghost', name: 'x', conditions: [] }), 'NOT_FOUND')
    })

    it('refuses a rule naming a missing segment and deleting a segment a rule uses, in any environment (issue 10 item 11)', async () => {
      const { repo } = fresh()
      const inSegment = (segment: string, operator: 'in_segment' | 'not_in_segment' = 'in_segment') =>
        makeRule('r1', { conditions: [{ attribute: 'userId', operator, value: segment }] })
      const missing = await expectCode(repo.createFlag(input('f', { rules: [inSegment('ghosts')] })), 'INVALID_ARGUMENT')
      expect(missing).toContain('"ghosts"')
      expect(missing).toContain('rules[0].conditions[0].value')
      expect(await repo.getFlag('f')).toBeNull()
      await repo.createSegment({
        key: 'staff',
        name: 'Staff',
        conditions: [{ attribute: 'email', operator: 'ends_with', value: '@x.io' }],
      })
      await repo.createSegment({ key: 'beta', name: 'Beta', conditions: [] })
      await repo.createFlag(input('f', { rules: [inSegment('staff')] }))
      await expectCode(
        repo.updateFlag('f', input('f', { rules: [inSegment('ghosts', 'not_in_segment')] }), 1),
        'INVALID_ARGUMENT',
      )
      expect((await repo.getFlag('f'))?.version).toBe(1)
      await repo.createFlag(input('g'))
      await repo.createEnvironment({ slug: 'production', name: 'Production', settings: {} })
      await expectCode(
        repo.setEnvironmentFlag({ environment: 'production', flagKey: 'g', rules: [inSegment('ghosts')] }),
        'INVALID_ARGUMENT',
      )
      await repo.setEnvironmentFlag({ environment: 'production', flagKey: 'g', rules: [inSegment('beta')] })

      const used = await expectCode(repo.deleteSegment('staff'), 'CONFLICT')
      expect(used).toContain('"f"')
      const usedInEnvironment = await expectCode(repo.deleteSegment('beta'), 'CONFLICT')
      expect(usedInEnvironment).toContain('g')
      expect(usedInEnvironment).toContain('production')
      expect((await repo.listSegments()).map((s) => s.key)).toEqual(['beta', 'staff'])
      // once no rule names it, it goes
      await repo.updateFlag('f', input('f'), 1)
      expect(await repo.deleteSegment('staff')).toBe(true)
      await repo.deleteEnvironmentFlag('production', 'g')
      expect(await repo.deleteSegment('beta')).toBe(true)
    })

    it('keeps environments as a tree and flag settings per environment', async () => {
      const { repo } = fresh()
      await repo.createFlag(input('checkout'))
      await repo.createFlag(input('theme', { type: 'string', defaultValue: 'light' }))
      await repo.createEnvironment({ slug: 'development', name: 'Development', settings: {} })
      await repo.createEnvironment({ slug: 'staging', name: 'Staging', parent: 'development', settings: {} })
      await repo.createEnvironment({
        slug: 'production',
        name: 'Production',
        parent: 'staging',
        settings: { protected: true, region: 'eu' },
      })
      await expectCode(repo.createEnvironment({ slug: 'staging', name: 'again', settings: {} }), 'CONFLICT')
      await expectCode(repo.createEnvironment({ slug: 'qa', name: 'QA', parent: 'nowhere', settings: {} }), 'INVALID_ARGUMENT')
      const cycle = await expectCode(
        repo.updateEnvironment({ slug: 'development', name: 'Dev', parent: 'production', settings: {} }),
        'INVALID_ARGUMENT',
      )
      expect(cycle).toContain('cycle')
      await expectCode(repo.updateEnvironment({ slug: 'ghost', name: 'x', settings: {} }), 'NOT_FOUND')
      expect((await repo.listEnvironments()).map((e) => e.slug)).toEqual(['development', 'production', 'staging'])
      expect((await repo.getEnvironment('production'))?.settings).toEqual({ protected: true, region: 'eu' })

      await repo.setEnvironmentFlag({ environment: 'development', flagKey: 'checkout', enabled: true, percentage: 100 })
      await repo.setEnvironmentFlag({ environment: 'production', flagKey: 'checkout', percentage: 10 })
      await repo.setEnvironmentFlag({
        environment: 'staging',
        flagKey: 'theme',
        variants: [{ key: 'dark', value: 'dark', weight: 1 }],
      })
      await expectCode(
        repo.setEnvironmentFlag({ environment: 'staging', flagKey: 'theme', variants: [{ key: 'n', value: 7, weight: 1 }] }),
        'INVALID_ARGUMENT',
      )
      await expectCode(repo.setEnvironmentFlag({ environment: 'nowhere', flagKey: 'checkout', enabled: true }), 'NOT_FOUND')
      await expectCode(repo.setEnvironmentFlag({ environment: 'staging', flagKey: 'missing', enabled: true }), 'NOT_FOUND')
      expect(await repo.getEnvironmentFlag('production', 'checkout')).toEqual({
        environment: 'production',
        flagKey: 'checkout',
        percentage: 10,
      })
      expect((await repo.listEnvironmentFlags('checkout')).map((s) => s.environment)).toEqual(['development', 'production'])
      expect(await repo.listEnvironmentFlags()).toHaveLength(3)
      const snapshot = await repo.loadSnapshot()
      expect(snapshot.environments).toHaveLength(3)
      expect(snapshot.environmentFlags).toHaveLength(3)

      await expectCode(repo.deleteEnvironment('staging'), 'CONFLICT') // production's parent
      expect(await repo.deleteEnvironment('production')).toBe(true)
      expect(await repo.getEnvironmentFlag('production', 'checkout')).toBeNull() // its settings went with it
      expect(await repo.deleteEnvironment('production')).toBe(false)
      await repo.deleteFlag('theme')
      expect(await repo.listEnvironmentFlags('theme')).toEqual([]) // and a flag's settings go with the flag
      expect(await repo.deleteEnvironmentFlag('development', 'checkout')).toBe(true)
      expect(await repo.deleteEnvironmentFlag('development', 'checkout')).toBe(false)
    })

    it('promotes settings between environments: dry run, protected targets, all flags', async () => {
      const { repo } = fresh()
      await repo.createFlag(input('checkout'))
      await repo.createFlag(input('search'))
      await repo.createEnvironment({ slug: 'development', name: 'Development', settings: {} })
      await repo.createEnvironment({ slug: 'staging', name: 'Staging', parent: 'development', settings: {} })
      await repo.createEnvironment({ slug: 'production', name: 'Production', parent: 'staging', settings: { protected: true } })
      await repo.setEnvironmentFlag({ environment: 'development', flagKey: 'checkout', enabled: true })
      await repo.setEnvironmentFlag({ environment: 'staging', flagKey: 'checkout', percentage: 50 })
      await repo.setEnvironmentFlag({ environment: 'production', flagKey: 'checkout', percentage: 5, enabled: false })
      await repo.setEnvironmentFlag({ environment: 'staging', flagKey: 'search', enabled: true })
      const revision = await repo.revision()

      const dry = await repo.promote('checkout', 'staging', 'production', { dryRun: true })
      expect(dry.dryRun).toBe(true)
      expect(dry.plans).toHaveLength(1)
      expect(dry.plans[0]?.changes).toEqual([
        { field: 'enabled', before: false, after: true }, // staging inherits enabled from development: copied too
        { field: 'percentage', before: 5, after: 50 },
      ])
      expect(await repo.getEnvironmentFlag('production', 'checkout')).toEqual({
        environment: 'production',
        flagKey: 'checkout',
        percentage: 5,
        enabled: false,
      })
      expect(await repo.revision()).toBe(revision)

      const refused = await expectCode(repo.promote('checkout', 'staging', 'production'), 'FORBIDDEN')
      expect(refused).toContain('protected')
      expect((await repo.getEnvironmentFlag('production', 'checkout'))?.percentage).toBe(5)
      expect(await repo.revision()).toBe(revision)

      const done = await repo.promote('all', 'staging', 'production', { confirm: true })
      expect(done.plans.map((p) => p.flagKey)).toEqual(['checkout', 'search'])
      expect(await repo.getEnvironmentFlag('production', 'checkout')).toEqual({
        environment: 'production',
        flagKey: 'checkout',
        enabled: true,
        percentage: 50,
      })
      expect((await repo.getEnvironmentFlag('production', 'search'))?.enabled).toBe(true)
      expect((await repo.promote('all', 'staging', 'production', { confirm: true })).plans).toEqual([]) // idempotent

      // unprotected target, no confirm needed: staging gets development's own `enabled` and loses
      // its `percentage`, which development takes from the base flag
      expect((await repo.promote('checkout', 'development', 'staging')).plans[0]?.changes).toEqual([
        { field: 'enabled', before: undefined, after: true },
        { field: 'percentage', before: 50, after: undefined },
      ])
      expect(await repo.getEnvironmentFlag('staging', 'checkout')).toEqual({
        environment: 'staging',
        flagKey: 'checkout',
        enabled: true,
      })
      await expectCode(repo.promote('checkout', 'nowhere', 'staging'), 'NOT_FOUND')
      await expectCode(repo.promote('missing', 'development', 'staging'), 'NOT_FOUND')
      await expectCode(repo.promote('checkout', 'staging', 'staging'), 'INVALID_ARGUMENT')
    })

    it('folds due scheduled changes into the document, one version per change, without changing evaluation', async () => {
      const { repo } = fresh()
      const t = Date.now() - 60_000
      const created = await repo.createFlag(
        input('launch', {
          scheduledChanges: [
            { id: 'on', at: new Date(t), change: 'enable' },
            { id: 'off', at: new Date(t + 1_000), change: 'disable' },
            { id: 'on-again', at: new Date(t + 2_000), change: 'enable' },
            { id: 'later', at: new Date(Date.now() + 3_600_000), change: 'disable' },
          ],
        }),
      )
      const before = compileSnapshot(await repo.loadSnapshot())
      const result = await repo.applyDueChanges()
      expect(result).toEqual({ applied: 3, flags: ['launch'] })
      const folded = await repo.getFlag('launch')
      expect(folded?.version).toBe(created.version + 3)
      expect(folded?.scheduledChanges.map((c) => c.id)).toEqual(['later'])
      const after = compileSnapshot(await repo.loadSnapshot())
      for (const at of [Date.now(), Date.now() + 3_600_000, Date.now() + 7_200_000]) {
        expect(evaluate(after, 'launch', 'boolean', false, {}, at).value).toBe(
          evaluate(before, 'launch', 'boolean', false, {}, at).value,
        )
      }
      expect(await repo.applyDueChanges()).toEqual({ applied: 0, flags: [] })
    })

    it('schedules, time windows and environments evaluate the same after a round trip through the store', async () => {
      const { repo } = fresh()
      const T = Date.parse('2026-03-29T00:00:00Z')
      const hour = 3_600_000
      const written = await repo.createFlag(
        input('windowed', {
          defaultEnabled: true,
          timeSchedules: [
            // the Berlin spring-forward night: 01:30–03:30 local is one real hour
            { id: 'night', name: 'night', recurrence: 'daily', start: '01:30', end: '03:30', timezone: 'Europe/Berlin' },
            {
              id: 'ny',
              name: 'ny',
              recurrence: 'weekly',
              start: '22:00',
              end: '02:00',
              daysOfWeek: [6],
              timezone: 'America/New_York',
            },
            {
              id: 'cron',
              name: 'cron',
              recurrence: 'cron',
              cron: '*/15 9-10 * * 1-5',
              start: '00:00',
              end: '00:00',
              timezone: 'Asia/Tokyo',
            },
          ],
          rolloutPhases: [
            { at: new Date(T), percentage: 10 },
            { at: new Date(T + 24 * hour), percentage: 60 },
          ],
          scheduledChanges: [{ id: 'stop', at: new Date(T + 48 * hour), change: 'disable' }],
        }),
      )
      await repo.createEnvironment({ slug: 'staging', name: 'Staging', settings: {} })
      await repo.createEnvironment({ slug: 'production', name: 'Production', parent: 'staging', settings: {} })
      await repo.setEnvironmentFlag({ environment: 'staging', flagKey: 'windowed', enabled: true })
      await repo.setEnvironmentFlag({ environment: 'production', flagKey: 'windowed', percentage: 10 })
      const environments = [
        { slug: 'staging', name: 'Staging', settings: {} },
        { slug: 'production', name: 'Production', parent: 'staging', settings: {} },
      ]
      const environmentFlags = [
        { environment: 'staging', flagKey: 'windowed', enabled: true },
        { environment: 'production', flagKey: 'windowed', percentage: 10 },
      ]
      const stored = compileSnapshot(await repo.loadSnapshot())
      const original = compileSnapshot({ flags: [written], environments, environmentFlags })
      let compared = 0
      const seen = new Set<string>()
      for (let t = T - 2 * hour; t < T + 50 * hour; t += 7 * 60_000) {
        for (const environment of [undefined, 'staging', 'production', 'unknown']) {
          for (const targetingKey of ['u1', 'u2', 'u3']) {
            const context = { targetingKey, environment }
            const a = evaluate(stored, 'windowed', 'boolean', false, context, t)
            const b = evaluate(original, 'windowed', 'boolean', false, context, t)
            expect([a.value, a.reason], `${new Date(t).toISOString()} ${environment} ${targetingKey}`).toEqual([
              b.value,
              b.reason,
            ])
            seen.add(`${String(a.value)} ${a.reason}`)
            compared++
          }
        }
      }
      expect(compared).toBeGreaterThan(5_000)
      expect([...seen].sort()).toEqual(['false DISABLED', 'true STATIC']) // the windows really open and close
      // and the production percentage still admits 10% ± 1% of 100,000 keys from the stored snapshot
      let admitted = 0
      const during = Date.parse('2026-03-29T00:45:00Z') // inside the Berlin window (01:45 CET)
      for (let i = 0; i < 100_000; i++) {
        if (evaluate(stored, 'windowed', 'boolean', false, { targetingKey: `key-${i}`, environment: 'production' }, during).value)
          admitted++
      }
      expect(admitted / 100_000).toBeGreaterThan(0.09)
      expect(admitted / 100_000).toBeLessThan(0.11)
    })

    it('bumps the revision on every change and loads a consistent snapshot', async () => {
      const { repo } = fresh()
      expect(await repo.revision()).toBe(0)
      await repo.createFlag(input('a'))
      // A new counter starts at a random point, so a client that saw an earlier life of the store
      // (a Redis restart without persistence) cannot mistake the new data for its own.
      const first = await repo.revision()
      expect(first).toBeGreaterThan(1)
      await repo.createFlag(input('b'))
      await repo.setOverride({ flagKey: 'a', entityType: 'user', entityId: 'u1', enabled: true })
      await repo.createSegment({ key: 's', name: 's', conditions: [] })
      expect(await repo.revision()).toBe(first + 3)
      const snapshot = await repo.loadSnapshot()
      expect(snapshot.revision).toBe(first + 3)
      expect(snapshot.flags.map((f) => f.key).sort()).toEqual(['a', 'b'])
      expect(snapshot.overrides).toHaveLength(1)
      expect(snapshot.segments.map((s) => s.key)).toEqual(['s'])
      expect(snapshot.corrupt).toEqual([])
    })

    it('reports a corrupt stored document as CORRUPT_VALUE naming the key, and the snapshot still loads', async () => {
      const { repo, store } = fresh()
      await repo.createFlag(input('good'))
      await store.set('flag/broken', 'this is { not a flag')
      const message = await expectCode(repo.getFlag('broken'), 'CORRUPT_VALUE')
      expect(message).toContain('flag/broken')
      const snapshot = await repo.loadSnapshot()
      expect(snapshot.flags.map((f) => f.key)).toEqual(['good'])
      expect(snapshot.corrupt.map((c) => c.flagKey)).toEqual(['broken'])
    })

    it(backend.push ? 'pushes changes to watchers' : 'says it cannot push (callers poll)', async () => {
      const { repo } = fresh()
      const seen: number[] = []
      const unwatch = await repo.watch((revision) => seen.push(revision))
      if (!backend.push) {
        expect(unwatch).toBeNull()
        return
      }
      expect(unwatch).not.toBeNull()
      await repo.createFlag(input('w'))
      await repo.archiveFlag('w')
      const end = Date.now() + 5_000
      while (seen.length < 2 && Date.now() < end) await sleep(10)
      const revision = await repo.revision()
      expect(seen).toEqual([revision - 1, revision])
      await unwatch?.()
    })

    if (backend.url !== undefined) {
      const url = backend.url
      const worker = (args: string[]) =>
        run(process.execPath, ['--import', 'tsx', SCHEDULE_WORKER, url, rootName, ...args], { timeout: 60_000 })

      it('two processes switch a scheduled change at the same instant, with no job running', async () => {
        const repo = new StoreFlagRepository(root.withNamespace('flags'))
        const T = Date.now() + 3_600_000
        await repo.createFlag(input('at-t', { scheduledChanges: [{ id: 'go', at: new Date(T), change: 'enable' }] }))
        const instants = [T - 1, T, T + 1].map(String)
        const results = await Promise.all([worker(['evaluate', 'at-t', ...instants]), worker(['evaluate', 'at-t', ...instants])])
        for (const r of results) expect(JSON.parse(r.stdout)).toEqual([false, true, true])
      }, 60_000)

      it('two processes folding at once apply each due change exactly once', async () => {
        const repo = new StoreFlagRepository(root.withNamespace('flags'))
        const t = Date.now() - 60_000
        const created = await repo.createFlag(
          input('contended-fold', {
            scheduledChanges: Array.from(
              { length: 6 },
              (_, i) => ({ id: `c${i}`, at: new Date(t + i * 1_000), change: i % 2 === 0 ? 'enable' : 'disable' }) as const,
            ),
          }),
        )
        const go = String(Date.now() + 4_000) // both workers start folding at this instant
        const results = await Promise.all([worker(['fold', 'contended-fold', go]), worker(['fold', 'contended-fold', go])])
        const applied = results.map((r) => (JSON.parse(r.stdout) as { applied: number }).applied)
        expect(applied[0]! + applied[1]!).toBe(6)
        const flag = await repo.getFlag('contended-fold')
        expect(flag?.version).toBe(created.version + 6)
        expect(flag?.scheduledChanges).toEqual([])
        expect(flag?.status).toBe('inactive') // the last change (c5) disables
        console.info(`${backend.name}: folds split ${applied.join(' + ')}`)
      }, 60_000)

      it('loses no update when two processes each apply 200 read-modify-write updates', async () => {
        const repo = new StoreFlagRepository(root.withNamespace('flags'))
        const start = await repo.createFlag(input('contended'))
        const args = (label: string) => ['--import', 'tsx', WORKER, url, rootName, label, '200', 'contended']
        const results = await Promise.all([
          run(process.execPath, args('a'), { timeout: 170_000 }),
          run(process.execPath, args('b'), { timeout: 170_000 }),
        ])
        const flag = await repo.getFlag('contended')
        expect(flag?.version).toBe(start.version + 400)
        for (const label of ['a', 'b']) {
          for (let i = 0; i < 200; i++) expect(flag?.metadata[`${label}${i}`], `${label}${i}`).toBe(i)
        }
        const conflicts = results.map((r) => (JSON.parse(r.stdout) as { conflicts: number }).conflicts)
        console.info(`${backend.name}: ${conflicts.join(' + ')} CONFLICT retries`)
      }, 180_000)
    }
  })
}

/** A document every read-only check below is about. */
export const READ_DOCUMENT = {
  flags: [
    { ...input('checkout', { tags: ['web'], description: 'New checkout flow' }) },
    { ...input('theme', { type: 'string', defaultValue: 'light', status: 'inactive' }) },
    { ...input('legacy', { status: 'archived' }) },
  ],
  overrides: [
    { flagKey: 'checkout', entityType: 'user', entityId: 'u1', enabled: true },
    { flagKey: 'theme', entityType: 'tenant', entityId: 't1', enabled: true, value: 'dark' },
  ],
  segments: [
    { key: 'staff', name: 'Staff', conditions: [{ attribute: 'email', operator: 'ends_with', value: '@example.com' }] },
    { key: 'staff-eu', name: 'Staff EU', parent: 'staff', conditions: [] },
  ],
  environments: [
    { slug: 'staging', name: 'Staging', settings: {} },
    { slug: 'production', name: 'Production', parent: 'staging', settings: { protected: true } },
  ],
  environmentFlags: [{ environment: 'production', flagKey: 'checkout', percentage: 10 }],
}

/**
 * The read-only half of the contract, for every repository including the static one: `build`
 * returns a repository holding READ_DOCUMENT.
 */
export function repositoryReadConformance(name: string, build: () => Promise<FlagRepository>): void {
  describe(`flag repository reads: ${name}`, () => {
    it('a search matches within one of key, name and description, never across two', async () => {
      const repo = await build()
      expect((await repo.listFlags({ search: 'checkout\n' })).map((f) => f.key)).toEqual([])
      expect((await repo.listFlags({ search: 'CHECKOUT FLOW' })).map((f) => f.key)).toEqual(['checkout'])
    })

    it('reads flags, filters, overrides, segments and a snapshot', async () => {
      const repo = await build()
      expect((await repo.listFlags()).map((f) => f.key)).toEqual(['checkout', 'legacy', 'theme'])
      expect((await repo.listFlags({ status: 'inactive' })).map((f) => f.key)).toEqual(['theme'])
      expect((await repo.listFlags({ tag: 'web' })).map((f) => f.key)).toEqual(['checkout'])
      expect((await repo.listFlags({ search: 'flow' })).map((f) => f.key)).toEqual(['checkout'])
      const theme = await repo.getFlag('theme')
      expect(theme?.defaultValue).toBe('light')
      expect(theme?.createdAt).toBeInstanceOf(Date)
      expect(await repo.getFlag('missing')).toBeNull()
      expect((await repo.listOverrides('theme')).map((o) => o.value)).toEqual(['dark'])
      expect((await repo.getOverride('checkout', 'user', 'u1'))?.enabled).toBe(true)
      expect(await repo.getOverride('checkout', 'user', 'u2')).toBeNull()
      expect((await repo.listSegments()).map((s) => s.key)).toEqual(['staff', 'staff-eu'])
      expect((await repo.getSegment('staff-eu'))?.parent).toBe('staff')
      const snapshot = await repo.loadSnapshot()
      expect(snapshot.flags).toHaveLength(3)
      expect(snapshot.overrides).toHaveLength(2)
      expect(snapshot.segments).toHaveLength(2)
      expect(snapshot.environments.map((e) => e.slug).sort()).toEqual(['production', 'staging'])
      expect(snapshot.environmentFlags).toEqual([{ environment: 'production', flagKey: 'checkout', percentage: 10 }])
      expect((await repo.listEnvironments()).map((e) => e.slug)).toEqual(['production', 'staging'])
      expect((await repo.getEnvironment('production'))?.settings.protected).toBe(true)
      expect(await repo.listEnvironmentFlags('checkout')).toHaveLength(1)
      expect((await repo.getEnvironmentFlag('production', 'checkout'))?.percentage).toBe(10)
      expect(typeof (await repo.revision())).toBe('number')
    })
  })
}
