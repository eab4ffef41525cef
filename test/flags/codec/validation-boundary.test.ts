/**
 * The one validation boundary: a flag is validated once per load and once per write. The codec's
 * validators are wrapped (still the real ones) to count calls; everything else is real — a
 * `StoreFlagRepository` on a real store, the `FlagClient`'s load and compile, the admin API over HTTP.
 */
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest'
import type * as FlagCodec from '../../../src/flags/codec/flag.js'

vi.mock('../../../src/flags/codec/flag.js', async (importOriginal) => {
  const real = await importOriginal<typeof FlagCodec>()
  return { ...real, validateFlag: vi.fn(real.validateFlag), validateFlagInput: vi.fn(real.validateFlagInput) }
})

const { validateFlag, validateFlagInput } = await import('../../../src/flags/codec/flag.js')
const { FlagClient, StoreFlagRepository } = await import('../../../src/flags/index.js')
const { createStore } = await import('../../../src/stores/index.js')
const { startAdmin } = await import('../../koa/admin-helpers.js')

const store = await createStore('memory://')
const repository = new StoreFlagRepository(store.withNamespace('flags'))
afterAll(() => store.close())

const counts = () => ({
  validateFlag: vi.mocked(validateFlag).mock.calls.length,
  validateFlagInput: vi.mocked(validateFlagInput).mock.calls.length,
})

describe('the validation boundary', () => {
  beforeEach(() => vi.clearAllMocks())

  it('a load validates each flag once: decoding checks it, compiling the snapshot does not check it again', async () => {
    for (const key of ['a', 'b', 'c']) {
      await repository.createFlag({
        key,
        type: 'boolean',
        rules: [{ id: 'r', conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }] }],
      })
    }
    vi.clearAllMocks()
    const client = new FlagClient({ repository, pollInterval: Infinity })
    try {
      await client.ready() // loadSnapshot (decodes every flag) + compileSnapshot
      expect(counts()).toEqual({ validateFlag: 3, validateFlagInput: 0 })
      expect(client.isEnabled('a', false, { targetingKey: 'u', attributes: { plan: 'pro' } })).toBe(true)
    } finally {
      await client.close()
    }
  })

  it('an admin PATCH validates the new flag once; the only other checks are the two reads of the stored one', async () => {
    const admin = await startAdmin({ repository })
    try {
      vi.clearAllMocks()
      const patched = await admin.api('PATCH', '/flags/a', { name: 'renamed' })
      expect(patched.status).toBe(200)
      // validateFlagInput: the merged fields, once (the repository takes them as checked; encoding does not
      // check again). validateFlag: decoding the stored flag for the precondition read and for the
      // compareAndSet read.
      expect(counts()).toEqual({ validateFlag: 2, validateFlagInput: 1 })
      expect((await repository.getFlag('a'))?.name).toBe('renamed')
    } finally {
      await admin.served.close()
    }
  })

  it('fields that did not come from the codec are still checked (a copy is not "already valid")', async () => {
    const current = (await repository.getFlag('b'))!
    vi.clearAllMocks()
    await repository.updateFlag('b', { ...current, name: 'copied' }, current.version)
    expect(counts().validateFlagInput).toBe(1)
    await expect(
      repository.updateFlag('b', { ...current, type: 'nope' as 'boolean' }, current.version + 1),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { field: 'type' },
    })
  })
})
