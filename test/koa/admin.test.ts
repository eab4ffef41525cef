/** The admin API over real HTTP on a memory-backed StoreFlagRepository: every route, versions, errors, audit. */
import { get } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { FlagstoneError } from '../../src/errors.js'
import type { FlagRepository } from '../../src/flags/repositories/repository.js'
import { StaticFlagRepository } from '../../src/flags/repositories/static-repository.js'
import { StoreFlagRepository } from '../../src/flags/repositories/store-repository.js'
import { MemoryStore } from '../../src/stores/drivers/memory.js'
import type { Store } from '../../src/stores/types.js'
import { type Admin, expectJsonError, normalise, PREFIX, startAdmin, TOKEN } from './admin-helpers.js'

/** `If-Match: *`: every DELETE needs a precondition (issue 10 item 6); these tests are about something else. */
const ANY = { headers: { 'if-match': '*' } }

const running: Admin[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.served.close()))
})

async function start(...args: Parameters<typeof startAdmin>) {
  const admin = await startAdmin(...args)
  running.push(admin)
  return admin
}

interface Entry {
  action: string
  target: string
  actor: string
  flagKey?: string
  before: { version?: number } | null
  after: { version?: number } | null
  details?: Record<string, unknown>
}

async function auditOf(admin: Admin, query = ''): Promise<Entry[]> {
  const response = await admin.api('GET', `/audit${query}`)
  expect(response.status).toBe(200)
  return response.body.items as Entry[]
}

describe('admin API: flags', () => {
  it('creates (201, Location, ETag), refuses duplicates (409), reads with ETag and 304', async () => {
    const admin = await start()
    const created = await admin.api('POST', '/flags', {
      key: 'checkout',
      type: 'boolean',
      tags: ['web'],
      description: 'New checkout',
    })
    expect(created.status).toBe(201)
    expect(created.headers.get('location')).toBe(`${PREFIX}/flags/checkout`)
    expect(created.headers.get('etag')).toBe('"1"')
    expect(created.body).toMatchObject({
      key: 'checkout',
      name: 'checkout',
      type: 'boolean',
      status: 'active',
      version: 1,
      tags: ['web'],
    })
    expect(created.headers.get('cache-control')).toBe('no-store')

    // A duplicate is a 409 and must not disturb the existing flag's overrides.
    await admin.repository.setOverride({ flagKey: 'checkout', entityType: 'user', entityId: 'u1', enabled: true })
    const before = normalise(await admin.repository.loadSnapshot())
    const duplicate = await admin.api('POST', '/flags', { key: 'checkout', type: 'boolean' })
    expectJsonError(duplicate, 409, 'CONFLICT')
    expect(normalise(await admin.repository.loadSnapshot())).toEqual(before)

    const read = await admin.api('GET', '/flags/checkout')
    expect(read.status).toBe(200)
    expect(read.headers.get('etag')).toBe('"1"')
    expect(read.body.description).toBe('New checkout')
    // (fetch would add Cache-Control: no-cache to a conditional request, which turns freshness off.)
    const cached = await new Promise<number>((resolve, reject) => {
      get(
        `${admin.url}${PREFIX}/flags/checkout`,
        { headers: { authorization: `Bearer ${TOKEN}`, 'if-none-match': '"1"' } },
        (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        },
      ).on('error', reject)
    })
    expect(cached).toBe(304)

    expectJsonError(await admin.api('GET', '/flags/missing'), 404, 'NOT_FOUND')
    expectJsonError(await admin.api('GET', '/flags/not%20a%20key'), 404, 'NOT_FOUND')
    const invalid = await admin.api('POST', '/flags', { key: 'bad key', type: 'boolean' })
    expectJsonError(invalid, 400, 'INVALID_ARGUMENT')
    expect(invalid.body.error.details.field).toBe('key')
  })

  it('lists with status / tag / search filters and limit / offset pagination', async () => {
    const admin = await start()
    for (let i = 0; i < 12; i++) {
      await admin.repository.createFlag({
        key: `f${String(i).padStart(2, '0')}`,
        type: 'boolean',
        tags: i % 2 === 0 ? ['even'] : [],
        status: i < 3 ? 'inactive' : 'active',
        description: i === 7 ? 'The Seventh' : undefined,
      })
    }
    const all = await admin.api('GET', '/flags')
    expect(all.body).toMatchObject({ total: 12, limit: 50, offset: 0 })
    const page = await admin.api('GET', '/flags?limit=5&offset=10')
    expect(page.body.items.map((f: { key: string }) => f.key)).toEqual(['f10', 'f11'])
    expect(page.body).toMatchObject({ total: 12, limit: 5, offset: 10 })
    expect((await admin.api('GET', '/flags?status=inactive')).body.total).toBe(3)
    expect((await admin.api('GET', '/flags?tag=even')).body.total).toBe(6)
    expect((await admin.api('GET', '/flags?search=seventh')).body.items.map((f: { key: string }) => f.key)).toEqual(['f07'])
    expect((await admin.api('GET', '/flags?limit=500')).status).toBe(200)
    for (const query of ['limit=501', 'limit=0', 'limit=-1', 'limit=abc', 'offset=1.5', 'status=on', 'limit=1&limit=2']) {
      const bad = await admin.api('GET', `/flags?${query}`)
      expectJsonError(bad, 400, 'INVALID_ARGUMENT')
    }
  })

  it('PUT replaces with a precondition: 428 without one, 412 on a stale If-Match, 409 on a stale body version', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'banner', type: 'string', defaultValue: 'blue' })
    const put = (body: object, headers: Record<string, string> = {}) => admin.api('PUT', '/flags/banner', body, { headers })
    expectJsonError(await put({ type: 'string', defaultValue: 'red' }), 428, 'PRECONDITION_REQUIRED')
    const ok = await put({ type: 'string', defaultValue: 'red' }, { 'if-match': '"1"' })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('etag')).toBe('"2"')
    expect(ok.body).toMatchObject({ key: 'banner', defaultValue: 'red', version: 2 })
    const stale = await put({ type: 'string', defaultValue: 'green' }, { 'if-match': '"1"' })
    expectJsonError(stale, 412, 'PRECONDITION_FAILED')
    expect(stale.body.error.details).toMatchObject({ field: 'If-Match', version: 2 })
    // The document as read, sent back with its version: stale → 409.
    const read = (await admin.api('GET', '/flags/banner')).body
    expectJsonError(await put({ ...read, defaultValue: 'green', version: 1 }), 409, 'CONFLICT')
    const roundTrip = await put({ ...read, defaultValue: 'green' })
    expect(roundTrip.status).toBe(200)
    expect(roundTrip.body.version).toBe(3)
    expect((await put({ type: 'string', defaultValue: 'any' }, { 'if-match': '*' })).status).toBe(200)
    expect((await put({ type: 'string' }, { 'if-match': '"3", "4"' })).status).toBe(200)
    expectJsonError(await put({ type: 'string' }, { 'if-match': 'W/"5"' }), 412)
    expectJsonError(await put({ type: 'string' }, { 'if-match': '5' }), 400)
    expectJsonError(await put({ key: 'other', type: 'string' }, { 'if-match': '*' }), 400)
    expectJsonError(await put({ type: 'number', defaultValue: 'x' }, { 'if-match': '*' }), 400)
    expectJsonError(await admin.api('PUT', '/flags/missing', { type: 'string' }, { headers: { 'if-match': '*' } }), 404)
    expect((await admin.repository.getFlag('banner'))?.version).toBe(5)
  })

  it('PATCH merges (RFC 7396), honours If-Match, and names the bad field', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'f', type: 'boolean', description: 'old', metadata: { team: 'web', owner: 'ann' } })
    const patched = await admin.api('PATCH', '/flags/f', {
      description: null,
      metadata: { owner: null, ticket: 'FS-1' },
      defaultEnabled: true,
    })
    expect(patched.status).toBe(200)
    expect(patched.body.description).toBeUndefined()
    expect(patched.body.metadata).toEqual({ team: 'web', ticket: 'FS-1' })
    expect(patched.body.defaultEnabled).toBe(true)
    expect(patched.headers.get('etag')).toBe('"2"')
    expectJsonError(await admin.api('PATCH', '/flags/f', { name: 'x' }, { headers: { 'if-match': '"1"' } }), 412)
    expectJsonError(await admin.api('PATCH', '/flags/f', { name: 'x', version: 1 }), 409)
    const bad = await admin.api('PATCH', '/flags/f', {
      rules: [{ id: 'r', conditions: [{ attribute: 'a', operator: 'almost', value: 1 }] }],
    })
    expectJsonError(bad, 400, 'INVALID_ARGUMENT')
    expect(bad.body.error.details.field).toBe('rules[0].conditions[0].operator')
    expectJsonError(await admin.api('PATCH', '/flags/f', [{ op: 'replace' }]), 400)
    expectJsonError(await admin.api('PATCH', '/flags/f', { key: 'g' }), 400)
    // A typo is not "remove a field that does not exist".
    const typo = await admin.api('PATCH', '/flags/f', { rolloutPercentag: null })
    expectJsonError(typo, 400)
    expect(typo.body.error.details.field).toBe('rolloutPercentag')
    const merge = await admin.api('PATCH', '/flags/f', undefined, {
      raw: '{"name":"Merged"}',
      headers: { 'content-type': 'application/merge-patch+json' },
    })
    expect(merge.body.name).toBe('Merged')
  })

  it('archives, restores (409 unless archived) and deletes (204, If-Match honoured)', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'f', type: 'boolean' })
    await admin.repository.setOverride({ flagKey: 'f', entityType: 'user', entityId: 'u1', enabled: true })
    expectJsonError(await admin.api('POST', '/flags/f/restore'), 409, 'CONFLICT')
    const archived = await admin.api('POST', '/flags/f/archive')
    expect(archived.body.status).toBe('archived')
    expect(archived.headers.get('etag')).toBe('"2"')
    const restored = await admin.api('POST', '/flags/f/restore', undefined, { headers: { 'if-match': '"2"' } })
    expect(restored.body.status).toBe('inactive')
    expectJsonError(await admin.api('DELETE', '/flags/f', undefined, { headers: { 'if-match': '"1"' } }), 412)
    const deleted = await admin.api('DELETE', '/flags/f', undefined, { headers: { 'if-match': '"3"' } })
    expect(deleted.status).toBe(204)
    expect(deleted.text).toBe('')
    expectJsonError(await admin.api('GET', '/flags/f'), 404)
    expectJsonError(await admin.api('DELETE', '/flags/f', undefined, ANY), 404)
    expect(await admin.repository.listOverrides('f')).toEqual([])
    const actions = (await auditOf(admin, '?flagKey=f')).map((e) => e.action)
    expect(actions).toEqual(['flag.delete', 'flag.restore', 'flag.archive', 'flag.create'])
  })
})

describe('admin API: the parts of a flag', () => {
  it('rules: add (201, appended), replace, reorder, delete; duplicates 409; fields named relative to the body', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'f', type: 'string', defaultValue: 'off' })
    const first = await admin.api('POST', '/flags/f/rules', {
      id: 'nordics',
      conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }],
      serveValue: 'nordic',
    })
    expect(first.status).toBe(201)
    expect(first.headers.get('location')).toBe(`${PREFIX}/flags/f/rules/nordics`)
    expect(first.headers.get('etag')).toBe('"2"')
    expect(first.body).toMatchObject({ id: 'nordics', priority: 0, enabled: true })
    const second = await admin.api('POST', '/flags/f/rules', {
      conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }],
      serveValue: 'pro',
    })
    expect(second.body.id).toMatch(/^rule-[0-9a-f]{12}$/)
    expect(second.body.priority).toBe(1)
    expectJsonError(await admin.api('POST', '/flags/f/rules', { id: 'nordics' }), 409, 'CONFLICT')
    const bad = await admin.api('POST', '/flags/f/rules', {
      id: 'x',
      conditions: [{ attribute: 'a', operator: 'matches', value: '(a+)+$' }],
    })
    expectJsonError(bad, 400, 'INVALID_ARGUMENT')
    expect(bad.body.error.details.field).toBe('conditions[0].value')
    expect(bad.body.error.message).toMatch(/^conditions\[0\]\.value: /)
    const wrongType = await admin.api('POST', '/flags/f/rules', { id: 'y', serveValue: 42 })
    expect(wrongType.body.error.details.field).toBe('serveValue')
    expectJsonError(await admin.api('POST', '/flags/f/rules', [{ id: 'z' }]), 400)

    const replaced = await admin.api('PUT', '/flags/f/rules/nordics', {
      conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }],
      serveValue: 'norway',
    })
    expect(replaced.status).toBe(200)
    expect(replaced.body).toMatchObject({ id: 'nordics', priority: 0, serveValue: 'norway' })
    expectJsonError(await admin.api('PUT', '/flags/f/rules/nope', { serveValue: 'x' }), 404)
    expectJsonError(await admin.api('PUT', '/flags/f/rules/nordics', { id: 'other' }), 400)

    const reordered = await admin.api('POST', '/flags/f/rules/reorder', { ids: [second.body.id, 'nordics'] })
    expect(reordered.status).toBe(200)
    const rules = (await admin.api('GET', '/flags/f/rules')).body.items
    expect(rules.map((r: { id: string; priority: number }) => [r.id, r.priority])).toEqual([
      [second.body.id, 0],
      ['nordics', 1],
    ])
    expectJsonError(await admin.api('POST', '/flags/f/rules/reorder', { ids: ['nordics'] }), 400)
    expectJsonError(await admin.api('POST', '/flags/f/rules/reorder', { ids: ['nordics', 'nordics'] }), 400)
    expect((await admin.api('GET', '/flags/f/rules/nordics')).body.serveValue).toBe('norway')

    // A pinned version fails even though this rule was not what changed.
    expectJsonError(await admin.api('DELETE', '/flags/f/rules/nordics', undefined, { headers: { 'if-match': '"2"' } }), 412)
    const version = (await admin.repository.getFlag('f'))!.version
    const deleted = await admin.api('DELETE', '/flags/f/rules/nordics', undefined, { headers: { 'if-match': `"${version}"` } })
    expect(deleted.status).toBe(204)
    expect(deleted.headers.get('etag')).toBe(`"${version + 1}"`)
    expectJsonError(await admin.api('DELETE', '/flags/f/rules/nordics', undefined, ANY), 404)
    const actions = (await auditOf(admin)).map((e) => e.action)
    expect(actions).toEqual(['rule.delete', 'rules.reorder', 'rule.update', 'rule.create', 'rule.create', 'flag.create'])
  })

  it('edits without If-Match are re-applied when they race: 12 concurrent rule additions all land', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'f', type: 'boolean' })
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => admin.api('POST', '/flags/f/rules', { id: `r${i}` })),
    )
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(201))
    const flag = await admin.repository.getFlag('f')
    expect(flag!.rules.map((r) => r.id).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `r${i}`).sort())
    expect(flag!.version).toBe(13)
    expect(new Set(flag!.rules.map((r) => r.priority)).size).toBeGreaterThan(1)
  })

  it('variants: replace all, add (409 on a duplicate), upsert one, delete', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'f', type: 'string', defaultValue: 'a' })
    const all = await admin.api('PUT', '/flags/f/variants', [
      { key: 'a', value: 'A', weight: 50 },
      { key: 'b', value: 'B', weight: 50 },
    ])
    expect(all.status).toBe(200)
    expect(all.body.items).toHaveLength(2)
    const wrong = await admin.api('PUT', '/flags/f/variants', [{ key: 'a', value: 1, weight: 1 }])
    expect(wrong.body.error.details.field).toBe('[0].value')
    expectJsonError(await admin.api('PUT', '/flags/f/variants', { key: 'a' }), 400)
    expectJsonError(await admin.api('POST', '/flags/f/variants', { key: 'a', value: 'A2', weight: 1 }), 409)
    const added = await admin.api('POST', '/flags/f/variants', { key: 'c', value: 'C', weight: 0 })
    expect(added.status).toBe(201)
    expect(added.headers.get('location')).toBe(`${PREFIX}/flags/f/variants/c`)
    expect((await admin.api('PUT', '/flags/f/variants/d', { value: 'D', weight: 5 })).status).toBe(201)
    expect((await admin.api('PUT', '/flags/f/variants/d', { value: 'D!', weight: 5 })).status).toBe(200)
    expect((await admin.api('DELETE', '/flags/f/variants/a', undefined, ANY)).status).toBe(204)
    expectJsonError(await admin.api('DELETE', '/flags/f/variants/a', undefined, ANY), 404)
    expect(
      (await admin.api('GET', '/flags/f/variants')).body.items.map((v: { key: string; value: string }) => `${v.key}=${v.value}`),
    ).toEqual(['b=B', 'c=C', 'd=D!'])
  })

  it('scheduled changes, rollout phases and time schedules', async () => {
    const admin = await start({ auth: { token: 'test-admin-token-0123456789abcdef', actor: 'release-bot' } })
    await admin.api('POST', '/flags', { key: 'f', type: 'boolean', status: 'inactive' })
    const at = new Date(Date.now() + 86_400_000).toISOString()
    const change = await admin.api('POST', '/flags/f/schedule', { at, change: 'enable' })
    expect(change.status).toBe(201)
    expect(change.body).toMatchObject({ change: 'enable', at, createdBy: 'release-bot' })
    expect(change.headers.get('location')).toBe(`${PREFIX}/flags/f/schedule/${change.body.id}`)
    expectJsonError(await admin.api('POST', '/flags/f/schedule', { id: change.body.id, at, change: 'disable' }), 409)
    const missing = await admin.api('POST', '/flags/f/schedule', { at, change: 'setRollout' })
    expect(missing.body.error.details.field).toBe('percentage')
    expect((await admin.api('GET', '/flags/f/schedule')).body.items).toHaveLength(1)
    expect((await admin.api('DELETE', `/flags/f/schedule/${change.body.id}`, undefined, ANY)).status).toBe(204)
    expectJsonError(await admin.api('DELETE', `/flags/f/schedule/${change.body.id}`, undefined, ANY), 404)

    const phases = await admin.api('PUT', '/flags/f/rollout-phases', [
      { at: '2030-01-01T00:00:00Z', percentage: 10 },
      { at: '2030-02-01T00:00:00Z', percentage: 50 },
    ])
    expect(phases.body.items).toHaveLength(2)
    expectJsonError(await admin.api('PUT', '/flags/f/rollout-phases', [{ at: '2030-01-01T00:00:00Z', percentage: 101 }]), 400)

    const windows = await admin.api('PUT', '/flags/f/time-schedules', [
      { id: 'office', recurrence: 'weekly', start: '09:00', end: '17:00', daysOfWeek: [1, 2, 3, 4, 5], timezone: 'Europe/Oslo' },
    ])
    expect(windows.status).toBe(200)
    const zone = await admin.api('PUT', '/flags/f/time-schedules', [
      { id: 'x', recurrence: 'daily', start: '09:00', end: '17:00', timezone: 'Mars/Olympus_Mons' },
    ])
    expectJsonError(zone, 400)
    expect(zone.body.error.details.field).toBe('[0].timezone')
    expect((await admin.api('GET', '/flags/f/time-schedules')).body.items[0].timezone).toBe('Europe/Oslo')
  })

  it('overrides: set (201 then 200), read, list, delete; values checked against the flag type', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'f', type: 'string', defaultValue: 'x' })
    const set = await admin.api('PUT', '/flags/f/overrides/user/u-1', { enabled: true, value: 'vip' })
    expect(set.status).toBe(201)
    expect(set.body).toEqual({ flagKey: 'f', entityType: 'user', entityId: 'u-1', enabled: true, value: 'vip' })
    expect((await admin.api('PUT', '/flags/f/overrides/user/u-1', { enabled: true, value: 'vvip' })).status).toBe(200)
    const odd = encodeURIComponent('ü/ser 1')
    expect((await admin.api('PUT', `/flags/f/overrides/organization/${odd}`, { enabled: false })).status).toBe(201)
    expect((await admin.api('GET', `/flags/f/overrides/organization/${odd}`)).body.entityId).toBe('ü/ser 1')
    expect((await admin.api('GET', '/flags/f/overrides')).body.total).toBe(2)
    const wrongType = await admin.api('PUT', '/flags/f/overrides/user/u-2', { enabled: true, value: 3 })
    expect(wrongType.body.error.details.field).toBe('value')
    expectJsonError(await admin.api('PUT', '/flags/f/overrides/user/u-2', { enabled: true, entityId: 'u-3' }), 400)
    expectJsonError(
      await admin.api('PUT', '/flags/f/overrides/user/u-2', { enabled: true, expiresAt: '2000-01-01T00:00:00Z' }),
      400,
    )
    expectJsonError(await admin.api('PUT', `/flags/f/overrides/user/${'%F0%9F%98%80'.repeat(100)}`, { enabled: true }), 400)
    expectJsonError(await admin.api('PUT', '/flags/missing/overrides/user/u-1', { enabled: true }), 404)
    const evaluated = await admin.api('POST', '/evaluate', { flagKey: 'f', context: { userId: 'u-1' } })
    expect(evaluated.body).toMatchObject({ value: 'vvip', reason: 'OVERRIDE' })
    expect(evaluated.body.explanation.override).toMatchObject({ entityType: 'user', entityId: 'u-1' })
    expect((await admin.api('DELETE', '/flags/f/overrides/user/u-1', undefined, ANY)).status).toBe(204)
    expectJsonError(await admin.api('GET', '/flags/f/overrides/user/u-1'), 404)
    expectJsonError(await admin.api('DELETE', '/flags/f/overrides/user/u-1', undefined, ANY), 404)
    const entries = await auditOf(admin, `?target=${encodeURIComponent('override:f/user/u-1')}`)
    expect(entries.map((e) => [e.action, e.before === null, e.after === null])).toEqual([
      ['override.delete', false, true],
      ['override.set', false, false],
      ['override.set', true, false],
    ])
  })
})

describe('admin API: segments, environments, promotion', () => {
  it('segments: CRUD, duplicates 409, cycles 400, a parent cannot be deleted (409)', async () => {
    const admin = await start()
    const base = await admin.api('POST', '/segments', {
      key: 'staff',
      conditions: [{ attribute: 'email', operator: 'ends_with', value: '@example.com' }],
    })
    expect(base.status).toBe(201)
    expect(base.headers.get('location')).toBe(`${PREFIX}/segments/staff`)
    expectJsonError(await admin.api('POST', '/segments', { key: 'staff' }), 409)
    expect((await admin.api('POST', '/segments', { key: 'beta', parent: 'staff' })).status).toBe(201)
    const cycle = await admin.api('PUT', '/segments/staff', { parent: 'beta' })
    expectJsonError(cycle, 400)
    expect(cycle.body.error.details.field).toBe('parent')
    expect((await admin.api('PUT', '/segments/staff', { name: 'Staff', conditions: [] })).body.name).toBe('Staff')
    expect((await admin.api('GET', '/segments')).body.total).toBe(2)
    expectJsonError(await admin.api('DELETE', '/segments/staff', undefined, ANY), 409)
    expect((await admin.api('DELETE', '/segments/beta', undefined, ANY)).status).toBe(204)
    expect((await admin.api('DELETE', '/segments/staff', undefined, ANY)).status).toBe(204)
    expectJsonError(await admin.api('GET', '/segments/staff'), 404)
    expectJsonError(await admin.api('PUT', '/segments/staff', { name: 'x' }), 404)
  })

  it('environments and their flag settings, resolve, promote (dry run changes nothing; protected needs confirm: 403)', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'f', type: 'boolean' })
    expect((await admin.api('POST', '/environments', { slug: 'production', settings: { protected: true } })).status).toBe(201)
    expect((await admin.api('POST', '/environments', { slug: 'staging', parent: 'production' })).status).toBe(201)
    expectJsonError(await admin.api('POST', '/environments', { slug: 'staging' }), 409)
    expectJsonError(await admin.api('PUT', '/environments/production', { parent: 'staging' }), 400)
    expect((await admin.api('PUT', '/environments/staging', { name: 'Staging', parent: 'production' })).body.name).toBe('Staging')
    expect((await admin.api('GET', '/environments')).body.items.map((e: { slug: string }) => e.slug)).toEqual([
      'production',
      'staging',
    ])

    const settings = await admin.api('PUT', '/environments/staging/flags/f', { enabled: true, percentage: 25 })
    expect(settings.status).toBe(201)
    expect(settings.body).toEqual({ environment: 'staging', flagKey: 'f', enabled: true, percentage: 25 })
    expectJsonError(await admin.api('PUT', '/environments/staging/flags/f', { percentage: 101 }), 400)
    expectJsonError(await admin.api('PUT', '/environments/nowhere/flags/f', { enabled: true }), 404)
    expect((await admin.api('GET', '/environments/staging/flags')).body.total).toBe(1)
    const resolved = await admin.api('GET', '/environments/staging/flags/f/resolve')
    expect(resolved.body).toMatchObject({
      chain: ['staging', 'production'],
      enabled: { value: true, source: 'staging' },
      rules: { source: 'flag' },
    })

    const revision = await admin.repository.revision()
    const dry = await admin.api('POST', '/promote', { flagKey: 'f', from: 'staging', to: 'production', dryRun: true })
    expect(dry.status).toBe(200)
    expect(dry.body.dryRun).toBe(true)
    expect(dry.body.plans[0].changes.map((c: { field: string }) => c.field).sort()).toEqual(['enabled', 'percentage'])
    expect(await admin.repository.revision()).toBe(revision)
    const refused = await admin.api('POST', '/promote', { flagKey: 'f', from: 'staging', to: 'production' })
    expectJsonError(refused, 403, 'FORBIDDEN')
    expect(refused.body.error.details.field).toBe('confirm')
    expect(await admin.repository.getEnvironmentFlag('production', 'f')).toBeNull()
    const promoted = await admin.api('POST', '/promote', { flagKey: 'all', from: 'staging', to: 'production', confirm: true })
    expect(promoted.status).toBe(200)
    expect(await admin.repository.getEnvironmentFlag('production', 'f')).toEqual({
      environment: 'production',
      flagKey: 'f',
      enabled: true,
      percentage: 25,
    })
    const promoteEntry = (await auditOf(admin))[0]!
    expect(promoteEntry).toMatchObject({
      action: 'promote',
      target: 'environmentFlag:production/f',
      before: null,
      details: { from: 'staging', to: 'production' },
    })
    expectJsonError(await admin.api('POST', '/promote', { flagKey: 'f', from: 'staging', to: 'staging', confirm: true }), 400)
    expectJsonError(await admin.api('POST', '/promote', { flagKey: 'f', from: 'staging', to: 'nowhere' }), 404)
    expectJsonError(await admin.api('POST', '/promote', { flagKey: 'f', from: 'staging', to: 'production', force: true }), 400)

    expect((await admin.api('DELETE', '/environments/staging/flags/f', undefined, ANY)).status).toBe(204)
    expectJsonError(await admin.api('GET', '/environments/staging/flags/f'), 404)
    expectJsonError(await admin.api('DELETE', '/environments/production', undefined, ANY), 409)
    expect((await admin.api('DELETE', '/environments/staging', undefined, ANY)).status).toBe(204)
    expect((await admin.api('DELETE', '/environments/production', undefined, ANY)).status).toBe(204)
    expectJsonError(await admin.api('GET', '/environments/production'), 404)
  })

  it('apply-due-changes folds due scheduled changes and audits each flag it rewrote', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', {
      key: 'f',
      type: 'boolean',
      status: 'inactive',
      scheduledChanges: [{ id: 'go', at: '2020-01-01T00:00:00Z', change: 'enable' }],
    })
    const folded = await admin.api('POST', '/apply-due-changes')
    expect(folded.body).toEqual({ applied: 1, flags: ['f'] })
    const entry = (await auditOf(admin))[0]!
    expect(entry).toMatchObject({ action: 'schedule.apply', target: 'flag:f', before: { version: 1 }, after: { version: 2 } })
  })
})

describe('admin API: POST /evaluate explains decisions', () => {
  it('rule match with condition results, split with the variant, disabled, missing flag, environment chain', async () => {
    const admin = await start()
    await admin.api('POST', '/segments', {
      key: 'staff',
      conditions: [{ attribute: 'email', operator: 'ends_with', value: '@example.com' }],
    })
    await admin.api('POST', '/flags', {
      key: 'checkout',
      type: 'string',
      defaultValue: 'old',
      rules: [
        { id: 'staff', priority: 0, conditions: [{ attribute: '', operator: 'in_segment', value: 'staff' }], serveValue: 'new' },
        {
          id: 'norway',
          priority: 1,
          conditions: [
            { attribute: 'country', operator: 'eq', value: 'NO' },
            { attribute: 'appVersion', operator: 'semver_gte', value: '2.0.0' },
          ],
          serveValue: 'norway',
        },
      ],
      variants: [
        { key: 'a', value: 'A', weight: 1 },
        { key: 'b', value: 'B', weight: 1 },
      ],
    })
    const staff = await admin.api('POST', '/evaluate', {
      flagKey: 'checkout',
      type: 'string',
      context: { userId: 'u', attributes: { email: 'ann@example.com' } },
    })
    expect(staff.body).toMatchObject({ value: 'new', reason: 'TARGETING_MATCH', variant: 'staff' })
    expect(staff.body.explanation.rule.id).toBe('staff')

    const almost = await admin.api('POST', '/evaluate', {
      flagKey: 'checkout',
      context: { targetingKey: 'user-7', country: 'NO', appVersion: '1.9.0' },
    })
    expect(almost.body.reason).toBe('SPLIT')
    expect(['a', 'b']).toContain(almost.body.variant)
    expect(almost.body.explanation.variant.key).toBe(almost.body.variant)
    const norway = almost.body.explanation.rules.find((r: { id: string }) => r.id === 'norway')
    expect(norway.conditions.map((c: { result: boolean }) => c.result)).toEqual([true, false])
    expect(norway.conditionsHold).toBe(false)

    const mismatch = await admin.api('POST', '/evaluate', { flagKey: 'checkout', type: 'boolean', defaultValue: true })
    expect(mismatch.body).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'TYPE_MISMATCH' })
    const missing = await admin.api('POST', '/evaluate', { flagKey: 'nope' })
    expect(missing.body).toMatchObject({ value: null, reason: 'DEFAULT', errorCode: 'FLAG_NOT_FOUND', explanation: null })

    await admin.api('POST', '/environments', { slug: 'production' })
    await admin.api('PUT', '/environments/production/flags/checkout', { enabled: false })
    const off = await admin.api('POST', '/evaluate', {
      flagKey: 'checkout',
      context: { environment: 'production', attributes: { email: 'ann@example.com' } },
    })
    expect(off.body).toMatchObject({ value: 'old', reason: 'DISABLED' })
    expect(off.body.explanation.environment).toMatchObject({
      slug: 'production',
      known: true,
      sources: { enabled: 'production', rules: 'flag' },
    })
    expect(off.body.explanation.status).toBe('inactive')

    // Evaluation at a given instant, and a changed flag is seen at once (the cache follows the revision).
    await admin.api('PATCH', '/flags/checkout', { defaultValue: 'newer', variants: [] })
    const later = await admin.api('POST', '/evaluate', { flagKey: 'checkout', context: { now: '2031-01-01T00:00:00Z' } })
    expect(later.body).toMatchObject({ value: 'newer', reason: 'DEFAULT' })
    expect(later.body.explanation.now).toBe('2031-01-01T00:00:00.000Z')

    for (const body of [
      {},
      { flagKey: 'x', context: { userID: 'u' } },
      { flagKey: 'x', context: { now: 'tomorrow' } },
      { flagKey: 'x', type: 'bool' },
      { flagKey: 'x', type: 'number', defaultValue: 'x' },
      { flagKey: 'x', extra: 1 },
    ]) {
      expectJsonError(await admin.api('POST', '/evaluate', body), 400, 'INVALID_ARGUMENT')
    }
  })
})

describe('admin API: the audit trail', () => {
  it('records every change with before / after and actor, newest first, filterable and paginated', async () => {
    const admin = await start()
    await admin.api('POST', '/flags', { key: 'a', type: 'boolean' })
    await admin.api('PATCH', '/flags/a', { defaultEnabled: true })
    await admin.api('POST', '/flags', { key: 'b', type: 'boolean' })
    await admin.api('POST', '/segments', { key: 's' })
    await admin.api('DELETE', '/flags/a', undefined, ANY)
    const entries = await auditOf(admin)
    expect(entries.map((e) => [e.action, e.target])).toEqual([
      ['flag.delete', 'flag:a'],
      ['segment.create', 'segment:s'],
      ['flag.create', 'flag:b'],
      ['flag.patch', 'flag:a'],
      ['flag.create', 'flag:a'],
    ])
    const patch = entries[3]!
    expect(patch.actor).toBe('admin')
    expect(patch.before).toMatchObject({ defaultEnabled: false, version: 1 })
    expect(patch.after).toMatchObject({ defaultEnabled: true, version: 2 })
    expect(entries[0]!.after).toBeNull()
    expect(entries[4]!.before).toBeNull()
    expect((await auditOf(admin, '?flagKey=a')).map((e) => e.action)).toEqual(['flag.delete', 'flag.patch', 'flag.create'])
    expect((await auditOf(admin, '?target=segment%3As')).map((e) => e.action)).toEqual(['segment.create'])
    const page = await admin.api('GET', '/audit?limit=2&offset=1')
    expect(page.body).toMatchObject({ total: 5, limit: 2, offset: 1 })
    expect(page.body.items.map((e: Entry) => e.action)).toEqual(['segment.create', 'flag.create'])
    // Reads and failed writes are not changes.
    await admin.api('GET', '/flags/b')
    await admin.api('POST', '/flags', { key: 'b', type: 'boolean' })
    expect((await admin.api('GET', '/audit')).body.total).toBe(5)
  })

  it('an audit store that fails does not fail the change: Flagstone-Audit: failed, and an app error', async () => {
    const good = new MemoryStore()
    const failing = new Proxy(good, {
      get(target, property) {
        if (property === 'set') return () => Promise.reject(new FlagstoneError('STORE_UNAVAILABLE', 'audit store down'))
        const value: unknown = Reflect.get(target, property)
        return typeof value === 'function' ? value.bind(target) : value
      },
    }) as Store
    const admin = await start({ audit: { store: failing } })
    const created = await admin.api('POST', '/flags', { key: 'a', type: 'boolean' })
    expect(created.status).toBe(201)
    expect(created.headers.get('flagstone-audit')).toBe('failed')
    expect(await admin.repository.getFlag('a')).not.toBeNull()
    expect(admin.errors).toHaveLength(1)
    expect(String((admin.errors[0] as Error).message)).toMatch(/audit entry for flag.create flag:a/)
  })

  it('keeps the trail in the given store, shared by two routers (two processes would share it the same way)', async () => {
    const auditStore = new MemoryStore()
    const repository = new StoreFlagRepository(new MemoryStore())
    const one = await start({ repository, audit: { store: auditStore } })
    const two = await start({ repository, audit: { store: auditStore } })
    await one.api('POST', '/flags', { key: 'a', type: 'boolean' })
    await two.api('POST', '/flags/a/archive')
    expect((await one.api('GET', '/audit')).body.items.map((e: Entry) => e.action)).toEqual(['flag.archive', 'flag.create'])
  })
})

describe('admin API: HTTP errors', () => {
  it('unknown routes 404, wrong methods 405 with Allow, wrong content types 415, large bodies 413 — JSON everywhere', async () => {
    const admin = await start({ maxBodyBytes: 4096 })
    expectJsonError(await admin.api('GET', '/nope'), 404, 'NOT_FOUND')
    expectJsonError(await admin.api('GET', '/flags/a/b/c/d'), 404, 'NOT_FOUND')
    expectJsonError(await admin.api('GET', PREFIX), 404, 'NOT_FOUND')
    expectJsonError(await admin.api('GET', `${PREFIX}/`), 404, 'NOT_FOUND')
    const wrong = await admin.api('DELETE', '/flags')
    expectJsonError(wrong, 405, 'METHOD_NOT_ALLOWED')
    expect(wrong.headers.get('allow')).toBe('HEAD, GET, POST')
    expectJsonError(await admin.api('PATCH', '/promote', {}), 405)
    expectJsonError(await admin.api('GET', '/evaluate'), 405)
    const options = await admin.api('OPTIONS', '/flags/x')
    expect(options.status).toBe(200)
    expect(options.headers.get('allow')).toBe('HEAD, GET, PUT, PATCH, DELETE')
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
      'application/xml',
    ]) {
      expectJsonError(
        await admin.api('POST', '/flags', undefined, { raw: '{"key":"a","type":"boolean"}', headers: { 'content-type': type } }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      )
    }
    expectJsonError(
      await admin.api('POST', '/flags', undefined, { raw: '{"key":"a","type":"boolean"}', headers: { 'content-type': '' } }),
      415,
    )
    expect(
      (
        await admin.api('POST', '/flags', undefined, {
          raw: '{"key":"a","type":"boolean"}',
          headers: { 'content-type': 'application/json; charset=UTF-8' },
        })
      ).status,
    ).toBe(201)
    // Media types are case-insensitive, parameters included (issue 10 item 15).
    for (const [i, type] of ['Application/JSON', 'APPLICATION/JSON; Charset="UTF-8"', 'application/Merge-Patch+JSON'].entries()) {
      const created = await admin.api('POST', '/flags', undefined, {
        raw: JSON.stringify({ key: `cased-${i}`, type: 'boolean' }),
        headers: { 'content-type': type },
      })
      expect(created.status, `${type}: ${created.text}`).toBe(201)
    }
    expectJsonError(
      await admin.api('POST', '/flags', undefined, {
        raw: '{"key":"a","type":"boolean"}',
        headers: { 'content-type': 'Text/Plain' },
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    )
    const large = await admin.api('POST', '/flags', { key: 'b', type: 'string', description: 'x'.repeat(5000) })
    expectJsonError(large, 413, 'PAYLOAD_TOO_LARGE')
    expectJsonError(await admin.api('POST', '/flags', undefined, { raw: '' }), 400)
    expectJsonError(await admin.api('POST', '/flags', undefined, { raw: new Uint8Array([0x7b, 0xff, 0x7d]) }), 400)
    expect(await admin.repository.getFlag('b')).toBeNull()
  })

  it('never leaks storage errors: 503 / 500 with a generic message, the real error to app.emit("error")', async () => {
    const repository = new StoreFlagRepository(new MemoryStore())
    let failure: Error | undefined
    const flaky = new Proxy(repository, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) =>
          failure === undefined ? (value as (...a: unknown[]) => unknown).apply(target, args) : Promise.reject(failure)
      },
    }) as FlagRepository
    const admin = await start({ repository: flaky })
    const secrets = 'redis://:hunter2@10.0.0.7:6379 ECONNREFUSED at Socket.connect (/srv/app/node_modules/x.js:1:1)'
    failure = new FlagstoneError('STORE_UNAVAILABLE', secrets)
    const unavailable = await admin.api('GET', '/flags')
    expectJsonError(unavailable, 503, 'STORE_UNAVAILABLE')
    expect(unavailable.headers.get('retry-after')).toBe('1')
    failure = new FlagstoneError('CORRUPT_VALUE', `stored flag at key "flag/x" is corrupt: ${secrets}`)
    expectJsonError(await admin.api('GET', '/flags/x'), 500, 'CORRUPT_VALUE')
    failure = new TypeError(secrets)
    const crash = await admin.api('POST', '/flags', { key: 'a', type: 'boolean' })
    expectJsonError(crash, 500, 'INTERNAL')
    for (const response of [unavailable, crash]) {
      expect(response.text).not.toMatch(/hunter2|10\.0\.0\.7|node_modules|Socket|stack/)
    }
    expect(admin.errors).toHaveLength(3)
  })

  it('a read-only repository answers writes with 405 UNSUPPORTED and still reads and evaluates', async () => {
    const admin = await start({
      repository: new StaticFlagRepository({ flags: [{ key: 'a', type: 'boolean', defaultEnabled: true }] }),
    })
    expect((await admin.api('GET', '/flags/a')).status).toBe(200)
    const write = await admin.api('PATCH', '/flags/a', { defaultEnabled: false })
    expectJsonError(write, 405, 'UNSUPPORTED')
    expect(write.headers.get('allow')).toBe('HEAD, GET')
    expectJsonError(await admin.api('POST', '/flags', { key: 'b', type: 'boolean' }), 405, 'UNSUPPORTED')
    expect((await admin.api('POST', '/evaluate', { flagKey: 'a' })).body).toMatchObject({ value: true, reason: 'STATIC' })
  })
})
