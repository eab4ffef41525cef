/**
 * Issue 10 item 6 over real HTTP: every destructive admin write needs the version it destroys
 * (`If-Match`; 428 without, 412 when stale, `*` for whatever is there), as `PUT /flags/:key`
 * does; unversioned documents carry a content `ETag`; writing a protected environment's flag
 * settings needs `confirm`, as promotion does.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Admin, expectJsonError, startAdmin } from './admin-helpers.js'

const running: Admin[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.served.close()))
})

async function seeded(): Promise<Admin> {
  const admin = await startAdmin()
  running.push(admin)
  const ok = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await admin.api(method, path, body, { headers })
    expect(response.status, `${method} ${path}: ${response.text}`).toBeLessThan(300)
    return response
  }
  await ok('POST', '/segments', { key: 'staff', conditions: [{ attribute: 'email', operator: 'ends_with', value: '@x.io' }] })
  await ok('POST', '/flags', {
    key: 'f',
    type: 'string',
    defaultValue: 'a',
    variants: [
      { key: 'a', value: 'a', weight: 1 },
      { key: 'b', value: 'b', weight: 1 },
    ],
    rules: [{ id: 'r1', priority: 1, conditions: [{ attribute: 'country', operator: 'eq', value: 'NO' }], serveValue: 'b' }],
  })
  await ok('POST', '/flags/f/schedule', { id: 'c1', at: '2999-01-01T00:00:00Z', change: 'enable' }, { 'if-match': '"1"' })
  await ok('PUT', '/flags/f/overrides/user/u1', { enabled: true, value: 'b' })
  await ok('POST', '/environments', { slug: 'staging', name: 'Staging', settings: {} })
  await ok('POST', '/environments', { slug: 'production', name: 'Production', settings: { protected: true } })
  await ok('PUT', '/environments/staging/flags/f', { enabled: true })
  await ok('PUT', '/environments/production/flags/f', { enabled: false, confirm: true })
  return admin
}

describe('destructive admin writes need If-Match', () => {
  const DELETES = [
    '/flags/f/rules/r1',
    '/flags/f/variants/b',
    '/flags/f/schedule/c1',
    '/flags/f/overrides/user/u1',
    '/environments/staging/flags/f',
    '/segments/staff',
    '/environments/staging',
    '/flags/f',
  ]

  it('every DELETE without If-Match answers 428 naming If-Match and changes nothing', async () => {
    const admin = await seeded()
    const before = await admin.repository.loadSnapshot()
    for (const path of DELETES) {
      const response = await admin.api('DELETE', path)
      expectJsonError(response, 428, 'PRECONDITION_REQUIRED')
      expect(response.body.error.details.field, path).toBe('If-Match')
    }
    expect(await admin.repository.loadSnapshot()).toEqual(before)
    expect((await admin.api('GET', '/audit')).body.items.filter((e: { action: string }) => e.action.endsWith('delete'))).toEqual(
      [],
    )
  })

  it('a stale If-Match answers 412; the ETag read (or *) deletes', async () => {
    const admin = await seeded()
    for (const path of DELETES) {
      expectJsonError(
        await admin.api('DELETE', path, undefined, { headers: { 'if-match': '"c-0"' } }),
        412,
        'PRECONDITION_FAILED',
      )
    }
    // unversioned documents: GET answers a content ETag, which changes with the document
    const override = await admin.api('GET', '/flags/f/overrides/user/u1')
    const tag = override.headers.get('etag')!
    expect(tag).toMatch(/^"c-[0-9a-f]+"$/)
    expect(
      (await admin.api('PUT', '/flags/f/overrides/user/u1', { enabled: true, value: 'a' }, { headers: { 'if-match': tag } }))
        .status,
    ).toBe(200)
    expectJsonError(await admin.api('DELETE', '/flags/f/overrides/user/u1', undefined, { headers: { 'if-match': tag } }), 412)
    const fresh = (await admin.api('GET', '/flags/f/overrides/user/u1')).headers.get('etag')!
    expect(fresh).not.toBe(tag)
    expect((await admin.api('DELETE', '/flags/f/overrides/user/u1', undefined, { headers: { 'if-match': fresh } })).status).toBe(
      204,
    )
    for (const path of ['/segments/staff', '/environments/staging/flags/f', '/environments/staging']) {
      const etag = (await admin.api('GET', path)).headers.get('etag')!
      expect((await admin.api('DELETE', path, undefined, { headers: { 'if-match': etag } })).status, path).toBe(204)
    }
    // flag parts: the flag's version
    const version = (await admin.api('GET', '/flags/f')).body.version as number
    expectJsonError(
      await admin.api('DELETE', '/flags/f/rules/r1', undefined, { headers: { 'if-match': `"${version - 1}"` } }),
      412,
    )
    const rule = await admin.api('DELETE', '/flags/f/rules/r1', undefined, { headers: { 'if-match': `"${version}"` } })
    expect(rule.status).toBe(204)
    expect(rule.headers.get('etag')).toBe(`"${version + 1}"`)
    expect((await admin.api('DELETE', '/flags/f', undefined, { headers: { 'if-match': '*' } })).status).toBe(204)
  })
})

describe('a protected environment’s flag settings need confirm', () => {
  it('PUT without confirm is 403 naming confirm; DELETE needs ?confirm=true; unprotected ones need none', async () => {
    const admin = await seeded()
    const refused = await admin.api('PUT', '/environments/production/flags/f', { enabled: true })
    expectJsonError(refused, 403, 'FORBIDDEN')
    expect(refused.body.error.details).toMatchObject({ field: 'confirm', environment: 'production' })
    expect((await admin.repository.getEnvironmentFlag('production', 'f'))?.enabled).toBe(false)
    expectJsonError(await admin.api('PUT', '/environments/production/flags/f', { enabled: true, confirm: 'yes' }), 400)
    const confirmed = await admin.api('PUT', '/environments/production/flags/f', { enabled: true, confirm: true })
    expect(confirmed.status).toBe(200)
    expect(confirmed.body).toEqual({ environment: 'production', flagKey: 'f', enabled: true }) // confirm is not stored

    const tag = confirmed.headers.get('etag')!
    expectJsonError(
      await admin.api('DELETE', '/environments/production/flags/f', undefined, { headers: { 'if-match': tag } }),
      403,
    )
    const deleted = await admin.api('DELETE', '/environments/production/flags/f?confirm=true', undefined, {
      headers: { 'if-match': tag },
    })
    expect(deleted.status).toBe(204)
    expect((await admin.api('PUT', '/environments/staging/flags/f', { enabled: false })).status).toBe(200)
  })
})

describe('referential integrity over HTTP (issue 10 item 11)', () => {
  it('a rule naming a missing segment is 400 naming it; deleting a segment a rule uses is 409 naming the flags', async () => {
    const admin = await seeded()
    const rule = { priority: 2, conditions: [{ attribute: 'userId', operator: 'in_segment', value: 'ghosts' }], serveValue: 'b' }
    const missing = await admin.api('POST', '/flags/f/rules', rule)
    expectJsonError(missing, 400, 'INVALID_ARGUMENT')
    expect(missing.body.error.details).toMatchObject({ segment: 'ghosts' })
    const used = { ...rule, conditions: [{ attribute: 'userId', operator: 'in_segment', value: 'staff' }] }
    expect((await admin.api('POST', '/flags/f/rules', used)).status).toBe(201)
    const refused = await admin.api('DELETE', '/segments/staff', undefined, { headers: { 'if-match': '*' } })
    expectJsonError(refused, 409, 'CONFLICT')
    expect(refused.body.error.details.flags).toEqual(['f'])
    expect((await admin.api('GET', '/segments/staff')).status).toBe(200)
  })
})
