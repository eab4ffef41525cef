import { describe, expect, it } from 'vitest'
import type { FlagRepository } from '../../../src/flags/repositories/repository.js'
import { StaticFlagRepository } from '../../../src/flags/repositories/static-repository.js'
import { StoreFlagRepository } from '../../../src/flags/repositories/store-repository.js'
import { MemoryStore } from '../../../src/index.js'
import { input, READ_DOCUMENT, repositoryReadConformance } from './repository-conformance.js'

repositoryReadConformance('static (JSON text)', async () => new StaticFlagRepository(JSON.stringify(READ_DOCUMENT)))
repositoryReadConformance('store (memory)', async () => {
  const repo = new StoreFlagRepository(new MemoryStore())
  for (const flag of READ_DOCUMENT.flags) await repo.createFlag(flag)
  for (const override of READ_DOCUMENT.overrides) await repo.setOverride(override)
  for (const segment of READ_DOCUMENT.segments) await repo.createSegment(segment)
  for (const environment of READ_DOCUMENT.environments) await repo.createEnvironment(environment)
  for (const settings of READ_DOCUMENT.environmentFlags) await repo.setEnvironmentFlag(settings)
  return repo
})

describe('StaticFlagRepository', () => {
  it('refuses every write with UNSUPPORTED', async () => {
    const repo: FlagRepository = new StaticFlagRepository(READ_DOCUMENT)
    expect(repo.readOnly).toBe(true)
    for (const write of [
      () => repo.createFlag(input('x')),
      () => repo.updateFlag('checkout', input('checkout'), 1),
      () => repo.deleteFlag('checkout'),
      () => repo.archiveFlag('checkout'),
      () => repo.restoreFlag('legacy'),
      () => repo.setOverride({ flagKey: 'checkout', entityType: 'user', entityId: 'x', enabled: true }),
      () => repo.deleteOverride('checkout', 'user', 'u1'),
      () => repo.createSegment({ key: 's', name: 's', conditions: [] }),
      () => repo.updateSegment({ key: 'staff', name: 's', conditions: [] }),
      () => repo.deleteSegment('staff'),
      () => repo.createEnvironment({ slug: 'dev', name: 'dev', settings: {} }),
      () => repo.updateEnvironment({ slug: 'staging', name: 's', settings: {} }),
      () => repo.deleteEnvironment('staging'),
      () => repo.setEnvironmentFlag({ environment: 'staging', flagKey: 'checkout', enabled: true }),
      () => repo.deleteEnvironmentFlag('production', 'checkout'),
    ]) {
      await expect(write()).rejects.toMatchObject({ code: 'UNSUPPORTED' })
    }
    expect(await repo.watch(() => undefined)).toBeNull()
    expect((await repo.getFlag('checkout'))?.version).toBe(1)
  })

  it('refuses a document whose rules name a missing segment, naming the field and the segment (issue 10 item 11)', () => {
    const rule = (segment: string) => ({
      id: 'r',
      priority: 0,
      enabled: true,
      serveEnabled: true,
      conditions: [{ attribute: 'userId', operator: 'in_segment', value: segment }],
    })
    const build = (doc: unknown) => () => new StaticFlagRepository(doc as never)
    expect(build({ flags: [input('a'), input('b', { rules: [rule('ghosts') as never] })] })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('flags[1].rules[0].conditions[0].value: segment "ghosts"'),
      }),
    )
    expect(
      build({
        flags: [input('a')],
        environments: [{ slug: 'production', name: 'P', settings: {} }],
        environmentFlags: [{ environment: 'production', flagKey: 'a', rules: [rule('ghosts')] }],
      }),
    ).toThrow(expect.objectContaining({ message: expect.stringContaining('environmentFlags[0].rules[0]') }))
    expect(
      build({
        flags: [input('a', { rules: [rule('staff') as never] })],
        segments: [{ key: 'staff', name: 's', conditions: [] }],
      }),
    ).not.toThrow()
  })

  it('validates the whole document up front, naming the field', () => {
    const bad = (doc: unknown) => () => new StaticFlagRepository(doc as never)
    expect(bad({})).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('flags') }))
    expect(bad('{ not json')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('JSON') }),
    )
    expect(bad({ flags: [input('a'), { ...input('b'), type: 'number', defaultValue: 'x' }] })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('flags[1].defaultValue') }),
    )
    expect(bad({ flags: [input('a'), input('a')] })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('twice') }),
    )
    expect(bad({ flags: [input('a')], overrides: [{ flagKey: 'b', entityType: 'user', entityId: 'u', enabled: true }] })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('overrides[0].flagKey') }),
    )
    expect(
      bad({
        flags: [],
        segments: [
          { key: 'a', name: 'a', parent: 'b', conditions: [] },
          { key: 'b', name: 'b', parent: 'a', conditions: [] },
        ],
      }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
  })
})
