/**
 * Issue 10 item 9 over real HTTP: the admin API never reports failure for a change that was stored,
 * and never success for one that was not. The flag store is a real SQLite file behind a wrapper
 * that loses one atomic write's answer (after it applied, or before it reached the store).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createStore, StoreFlagRepository } from '../../src/index.js'
import { wrapStore } from '../helpers/store-wrappers.js'
import { expectJsonError, startAdmin } from './admin-helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'flagstone-admin-outcome-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('admin API: the answer matches what was stored', () => {
  it('answers 201 (with an audit entry) when the write landed but its answer was lost, 503 (without one) when it did not land', async () => {
    const root = await createStore(`sqlite://${join(dir, 'flags.sqlite')}`)
    const wrapped = wrapStore(root.withNamespace('flags'))
    const repository = new StoreFlagRepository(wrapped.store)
    const admin = await startAdmin({ repository, audit: { store: root.withNamespace('audit') } })
    try {
      wrapped.failNextAtomic('after')
      const landed = await admin.api('POST', '/flags', { key: 'landed', type: 'boolean' })
      expect(landed.status, landed.text).toBe(201)
      expect((await admin.api('GET', '/flags/landed')).status).toBe(200)

      wrapped.failNextAtomic('before')
      const lost = await admin.api('POST', '/flags', { key: 'lost', type: 'boolean' })
      expectJsonError(lost, 503)
      expect(lost.headers.get('retry-after')).toBe('1')
      expectJsonError(await admin.api('GET', '/flags/lost'), 404)

      wrapped.failNextAtomic('after')
      const updated = await admin.api(
        'PUT',
        '/flags/landed',
        { type: 'boolean', name: 'renamed' },
        { headers: { 'if-match': '"1"' } },
      )
      expect(updated.status, updated.text).toBe(200)
      expect((await admin.api('GET', '/flags/landed')).body.name).toBe('renamed')

      wrapped.down()
      expectJsonError(await admin.api('POST', '/flags', { key: 'down', type: 'boolean' }), 503)
      wrapped.heal()
      expectJsonError(await admin.api('GET', '/flags/down'), 404)

      const audit = await admin.api('GET', '/audit')
      const actions = audit.body.items.map((e: { action: string; flagKey?: string }) => `${e.action} ${e.flagKey ?? ''}`.trim())
      expect(actions.some((a: string) => a.includes('landed'))).toBe(true)
      expect(actions.some((a: string) => a.includes('lost') || a.includes('down'))).toBe(false)
    } finally {
      await admin.served.close()
      await root.close()
    }
  }, 60_000)
})
