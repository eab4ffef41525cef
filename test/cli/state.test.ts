/** `flagstone export` / `flagstone import`: round trip, dry run, idempotence, and bad files that name the line and field. */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStore, StoreFlagRepository } from '../../src/index.js'
import { flagstone, tempDir } from './helpers.js'

const scratch = tempDir()
afterAll(() => scratch.remove())
const url = (name: string) => `sqlite://${join(scratch.dir, `${name}.sqlite`)}`

/** A source store with every kind of state: flags with rules, variants and a schedule, segments, environments, settings, overrides. */
async function seed(storeUrl: string): Promise<void> {
  const root = await createStore(storeUrl, { namespace: 'flagstone' })
  const repository = new StoreFlagRepository(root.withNamespace('flags'))
  await repository.createSegment({
    key: 'staff',
    name: 'Staff',
    conditions: [{ attribute: 'email', operator: 'ends_with', value: '@example.com' }],
  })
  await repository.createSegment({
    key: 'staff-eu',
    name: 'EU staff',
    parent: 'staff',
    conditions: [{ attribute: 'country', operator: 'in', value: ['DE', 'FR'] }],
  })
  await repository.createEnvironment({ slug: 'staging', name: 'Staging', settings: {} })
  await repository.createEnvironment({ slug: 'production', name: 'Production', parent: 'staging', settings: { protected: true } })
  await repository.createFlag({
    key: 'checkout',
    type: 'boolean',
    defaultEnabled: true,
    rules: [{ id: 'staff', conditions: [{ attribute: 'user', operator: 'in_segment', value: 'staff' }] }],
    scheduledChanges: [{ id: 'off-later', at: new Date('2030-01-01T00:00:00Z'), change: 'disable' }],
  })
  await repository.createFlag({
    key: 'theme',
    type: 'string',
    defaultValue: 'light',
    variants: [
      { key: 'dark', value: 'dark', weight: 50 },
      { key: 'light', value: 'light', weight: 50 },
    ],
  })
  await repository.setEnvironmentFlag({ environment: 'staging', flagKey: 'checkout', percentage: 20 })
  await repository.setOverride({ flagKey: 'checkout', entityType: 'user', entityId: 'u-42', enabled: false })
  await root.close()
}

describe('flagstone export / import', () => {
  const source = url('source')
  beforeAll(() => seed(source), 60_000)

  it('round trip: export → import into an empty store → export gives the same document (JSON and YAML)', async () => {
    const first = await flagstone(['export', '--store', source])
    expect(first.code, first.stderr).toBe(0)
    const document = JSON.parse(first.stdout) as Record<string, unknown[]>
    expect(document).toMatchObject({ format: 'flagstone-state', version: 1 })
    expect(document.flags).toHaveLength(2)
    expect(document.segments).toHaveLength(2)
    expect(document.environments).toHaveLength(2)
    expect(document.environmentFlags).toHaveLength(1)
    expect(document.overrides).toHaveLength(1)
    const file = join(scratch.dir, 'state.json')
    writeFileSync(file, first.stdout)

    const target = url('target')
    const imported = await flagstone(['import', file, '--store', target, '--json'])
    expect(imported.code, imported.stderr).toBe(0)
    expect(JSON.parse(imported.stdout)).toMatchObject({ dryRun: false, unchanged: 0 })
    expect((JSON.parse(imported.stdout) as { changes: unknown[] }).changes).toHaveLength(8)
    const second = await flagstone(['export', '--store', target])
    expect(second.stdout).toBe(first.stdout)

    // Twice = no change.
    const again = await flagstone(['import', file, '--store', target])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('no changes (8 unchanged)')

    // YAML, through a file.
    const yamlFile = join(scratch.dir, 'state.yaml')
    expect((await flagstone(['export', '--store', source, '--format', 'yaml', '--output', yamlFile])).code).toBe(0)
    expect(readFileSync(yamlFile, 'utf8')).toMatch(/^format: flagstone-state\nversion: 1\n/)
    const yamlTarget = url('yaml-target')
    expect((await flagstone(['import', yamlFile, '--store', yamlTarget])).code).toBe(0)
    expect((await flagstone(['export', '--store', yamlTarget])).stdout).toBe(first.stdout)
  }, 300_000)

  it('--dry-run shows the diff and changes nothing; a real import applies it; --prune deletes what the file lacks', async () => {
    const target = url('dry')
    await seed(target)
    const before = (await flagstone(['export', '--store', target])).stdout
    const edited = JSON.parse(before) as { flags: Array<Record<string, unknown>> }
    edited.flags[0]!.defaultEnabled = false
    edited.flags.push({ key: 'brand-new', type: 'boolean' })
    edited.flags.splice(1, 1) // drop 'theme'
    const file = join(scratch.dir, 'edited.json')
    writeFileSync(file, JSON.stringify(edited, null, 2))

    const dry = await flagstone(['import', file, '--store', target, '--dry-run', '--prune'])
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/~\s+flags\s+checkout\s+defaultEnabled/)
    expect(dry.stdout).toMatch(/\+\s+flags\s+brand-new/)
    expect(dry.stdout).toMatch(/-\s+flags\s+theme/)
    expect(dry.stdout).toContain('would change 3')
    expect((await flagstone(['export', '--store', target])).stdout).toBe(before)

    const applied = await flagstone(['import', file, '--store', target, '--prune', '--json'])
    expect(applied.code, applied.stderr).toBe(0)
    const after = JSON.parse((await flagstone(['export', '--store', target])).stdout) as {
      flags: Array<{ key: string; defaultEnabled: boolean }>
    }
    expect(after.flags.map((f) => [f.key, f.defaultEnabled])).toEqual([
      ['brand-new', false],
      ['checkout', false],
    ])
  }, 300_000)

  it('a bad file names the line and the field, exits 2 and changes nothing', async () => {
    const target = url('bad')
    await seed(target)
    const before = (await flagstone(['export', '--store', target])).stdout
    const yaml = [
      'format: flagstone-state',
      'version: 1',
      'flags:',
      '  - key: fine',
      '    type: boolean',
      '  - key: broken',
      '    type: boolean',
      '    rules:',
      '      - id: r1',
      '        conditions:',
      '          - attribute: plan',
      '            operator: is-roughly',
      '            value: pro',
      '',
    ].join('\n')
    const file = join(scratch.dir, 'bad.yaml')
    writeFileSync(file, yaml)
    const result = await flagstone(['import', file, '--store', target, '--json'])
    expect(result.code).toBe(2)
    const error = (
      JSON.parse(result.stdout) as { error: { code: string; message: string; details: { line: number; field: string } } }
    ).error
    expect(error.code).toBe('INVALID_ARGUMENT')
    expect(error.details.line).toBe(12)
    expect(error.details.field).toBe('flags[1].rules[0].conditions[0].operator')
    expect(error.message).toMatch(/bad\.yaml:12: flags\[1\]\.rules\[0\]\.conditions\[0\]\.operator/)

    const syntax = join(scratch.dir, 'syntax.json')
    writeFileSync(syntax, '{\n  "format": "flagstone-state",\n  "version": 1,\n  "flags": [ { "key": "x", }\n')
    const broken = await flagstone(['import', syntax, '--store', target])
    expect(broken.code).toBe(2)
    expect(broken.stderr).toMatch(/syntax\.json:\d+: not valid JSON or YAML/)

    const wrongVersion = join(scratch.dir, 'v2.json')
    writeFileSync(wrongVersion, JSON.stringify({ format: 'flagstone-state', version: 2, flags: [] }, null, 2))
    const versioned = await flagstone(['import', wrongVersion, '--store', target])
    expect(versioned.code).toBe(2)
    expect(versioned.stderr).toContain('v2.json:3: version: must be 1')

    expect((await flagstone(['export', '--store', target])).stdout).toBe(before)
  }, 300_000)
})
