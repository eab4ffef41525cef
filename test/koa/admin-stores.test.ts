/** The admin API on real stores (SQLite, and Redis when reachable): the same HTTP answers as on memory, the audit trail in the store. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { StoreFlagRepository } from '../../src/flags/repositories/store-repository.js'
import { createStore } from '../../src/index.js'
import type { Store } from '../../src/stores/types.js'
import { randomNamespace, REDIS_URL, serviceAvailable } from '../helpers/services.js'
import { expectJsonError, normalise, startAdmin } from './admin-helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-admin-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function smoke(name: string, open: () => Promise<Store>) {
  it(`${name}: flags, rules, overrides, environments, promotion, evaluation and the audit trail over HTTP`, async () => {
    const root = await open()
    const repository = new StoreFlagRepository(root.withNamespace('flags'))
    const admin = await startAdmin({ repository, audit: { store: root.withNamespace('audit') } })
    try {
      expectJsonError(await admin.api('GET', '/flags', undefined, { token: null }), 401)
      const created = await admin.api('POST', '/flags', { key: 'checkout', type: 'string', defaultValue: 'old' })
      expect(created.status).toBe(201)
      expectJsonError(await admin.api('POST', '/flags', { key: 'checkout', type: 'string' }), 409)
      const rule = await admin.api('POST', '/flags/checkout/rules', {
        id: 'nordics',
        conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE'] }],
        serveValue: 'new',
      })
      expect(rule.headers.get('etag')).toBe('"2"')
      expectJsonError(await admin.api('PUT', '/flags/checkout', { type: 'string' }, { headers: { 'if-match': '"1"' } }), 412)
      expect((await admin.api('PUT', '/flags/checkout/overrides/user/u-9', { enabled: true, value: 'vip' })).status).toBe(201)
      expect((await admin.api('POST', '/environments', { slug: 'production', settings: { protected: true } })).status).toBe(201)
      expect((await admin.api('POST', '/environments', { slug: 'staging' })).status).toBe(201)
      expect((await admin.api('PUT', '/environments/staging/flags/checkout', { enabled: false })).status).toBe(201)
      expectJsonError(await admin.api('POST', '/promote', { flagKey: 'checkout', from: 'staging', to: 'production' }), 403)
      const dry = await admin.api('POST', '/promote', { flagKey: 'checkout', from: 'staging', to: 'production', dryRun: true })
      expect(dry.body.plans).toHaveLength(1)

      // Hostile bodies change nothing on this store either.
      const before = normalise(await repository.loadSnapshot())
      for (const raw of [
        '{"key":"x","type":"boolean","__proto__":{"polluted":1}}',
        '['.repeat(5000) + ']'.repeat(5000),
        '{"key":"x","type":"boolean","rules":[{"id":"r","conditions":[{"attribute":"a","operator":"sometimes","value":1}]}]}',
      ]) {
        expectJsonError(await admin.api('POST', '/flags', undefined, { raw }), 400)
      }
      expectJsonError(
        await admin.api('PUT', '/flags/checkout/time-schedules', [
          { id: 't', recurrence: 'daily', start: '09:00', end: '10:00', timezone: 'Nowhere/Special' },
        ]),
        400,
      )
      expect(normalise(await repository.loadSnapshot())).toEqual(before)

      const nordic = await admin.api('POST', '/evaluate', { flagKey: 'checkout', context: { userId: 'u-1', country: 'SE' } })
      expect(nordic.body).toMatchObject({ value: 'new', reason: 'TARGETING_MATCH', variant: 'nordics' })
      const vip = await admin.api('POST', '/evaluate', { flagKey: 'checkout', context: { userId: 'u-9', country: 'SE' } })
      expect(vip.body).toMatchObject({ value: 'vip', reason: 'OVERRIDE' })
      const staging = await admin.api('POST', '/evaluate', {
        flagKey: 'checkout',
        context: { environment: 'staging', country: 'SE' },
      })
      expect(staging.body).toMatchObject({ value: 'old', reason: 'DISABLED' })

      const audit = await admin.api('GET', '/audit?flagKey=checkout')
      expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual([
        'environmentFlag.set',
        'override.set',
        'rule.create',
        'flag.create',
      ])
      expect(audit.body.items[2]).toMatchObject({
        actor: 'admin',
        target: 'flag:checkout',
        before: { version: 1 },
        after: { version: 2 },
      })
      expect((await admin.api('DELETE', '/flags/checkout', undefined, { headers: { 'if-match': '*' } })).status).toBe(204)
      expect(await repository.listOverrides('checkout')).toEqual([])
      expect(admin.errors).toEqual([])
    } finally {
      await admin.served.close()
      await root.deleteAll()
      await root.close()
    }
  })
}

describe('admin API on real stores', () => {
  smoke('sqlite', () => createStore(`sqlite://${join(dir, 'admin.sqlite')}`, { namespace: randomNamespace('admin') }))
})

describe.runIf(await serviceAvailable('Redis', REDIS_URL))('admin API on Redis', () => {
  smoke('redis', () => createStore(REDIS_URL, { namespace: randomNamespace('admin') }))
})
