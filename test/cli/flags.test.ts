/** `flagstone flags …`, `flagstone evaluate` and `--help`: the real binary, on a store URL and against a running server. */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/index.js'
import { type RunningServer, startServer } from '../../src/server.js'
import { flagstone, tempDir } from './helpers.js'

const scratch = tempDir()
afterAll(() => scratch.remove())

describe('flagstone --help', () => {
  it.each([
    [[]],
    [['serve']],
    [['flags']],
    [['flags', 'list']],
    [['flags', 'get']],
    [['flags', 'create']],
    [['flags', 'enable']],
    [['flags', 'disable']],
    [['flags', 'archive']],
    [['flags', 'delete']],
    [['evaluate']],
    [['export']],
    [['import']],
    [['bench']],
  ])(
    '%j --help prints usage and exits 0',
    async (args) => {
      const result = await flagstone([...args, '--help'])
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`Usage: flagstone${args.length > 0 ? ` ${args.join(' ')}` : ''}`)
    },
    120_000,
  )

  it('an unknown command or option exits 2 (usage)', async () => {
    expect((await flagstone(['nope'])).code).toBe(2)
    expect((await flagstone(['flags', 'list', '--no-such-option'])).code).toBe(2)
    expect((await flagstone(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  }, 120_000)
})

describe('flagstone flags on a store URL', () => {
  const store = ['--store', `sqlite://${join(scratch.dir, 'flags.sqlite')}`]

  it('create, list, get, enable, disable, archive, delete — with exit codes and --json', async () => {
    const created = await flagstone(['flags', 'create', 'checkout', '--name', 'New checkout', '--tag', 'web', ...store])
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toContain('created checkout: active, off by default')

    const again = await flagstone(['flags', 'create', 'checkout', ...store, '--json'])
    expect(again.code).toBe(4) // CONFLICT
    expect(JSON.parse(again.stdout)).toMatchObject({ error: { code: 'CONFLICT' } })

    const invalid = await flagstone(['flags', 'create', 'bad key', ...store])
    expect(invalid.code).toBe(2)
    expect(invalid.stderr).toContain('key')

    const listed = await flagstone(['flags', 'list', ...store, '--json'])
    expect(listed.code).toBe(0)
    expect((JSON.parse(listed.stdout) as Array<{ key: string }>).map((f) => f.key)).toEqual(['checkout'])
    expect((await flagstone(['flags', 'list', ...store])).stdout).toMatch(
      /KEY\s+TYPE\s+STATUS\s+DEFAULT\s+NAME\ncheckout\s+boolean\s+active\s+off\s+New checkout/,
    )

    const enabled = await flagstone(['flags', 'enable', 'checkout', ...store, '--json'])
    expect(JSON.parse(enabled.stdout)).toMatchObject({ key: 'checkout', defaultEnabled: true, version: 2 })
    const got = await flagstone(['flags', 'get', 'checkout', ...store, '--json'])
    expect(JSON.parse(got.stdout)).toMatchObject({ key: 'checkout', defaultEnabled: true, tags: ['web'] })

    const on = await flagstone(['evaluate', 'checkout', ...store, '--context', '{"targetingKey":"u1"}', '--json'])
    expect(on.code, on.stderr).toBe(0)
    expect(JSON.parse(on.stdout)).toMatchObject({ value: true, reason: 'STATIC', explanation: { status: 'active' } })

    const disabled = await flagstone(['flags', 'disable', 'checkout', ...store])
    expect(disabled.stdout).toContain('checkout: active, off by default')
    const off = await flagstone(['evaluate', 'checkout', ...store, '--context', '{"targetingKey":"u1"}'])
    expect(off.stdout).toMatch(/^value: false\nreason: /)

    const archived = await flagstone(['flags', 'archive', 'checkout', ...store, '--json'])
    expect(JSON.parse(archived.stdout)).toMatchObject({ status: 'archived' })

    expect((await flagstone(['flags', 'delete', 'checkout', ...store])).stdout).toContain('deleted checkout')
    const gone = await flagstone(['flags', 'get', 'checkout', ...store])
    expect(gone.code).toBe(3) // NOT_FOUND
    expect(gone.stderr).toContain('flag "checkout" does not exist')
  }, 300_000)

  it('evaluate explains a rule match; a context that is not JSON exits 2 naming --context', async () => {
    const rules = JSON.stringify({ rules: [{ id: 'beta', conditions: [{ attribute: 'plan', operator: 'eq', value: 'beta' }] }] })
    expect((await flagstone(['flags', 'create', 'beta-ui', '--data', rules, ...store])).code).toBe(0)
    const result = await flagstone([
      'evaluate',
      'beta-ui',
      ...store,
      '--context',
      '{"targetingKey":"u1","attributes":{"plan":"beta"}}',
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('reason: TARGETING_MATCH (beta)')
    expect(result.stdout).toContain('rule beta: conditions hold')
    const bad = await flagstone(['evaluate', 'beta-ui', ...store, '--context', '{nope'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--context: not JSON')
  }, 300_000)
})

describe('flagstone flags against a running server', () => {
  let running: RunningServer
  const token = 'server-token-0123456789abcdef'
  beforeAll(async () => {
    running = await startServer({
      storeUrl: 'memory://',
      port: 0,
      host: '127.0.0.1',
      adminToken: token,
      logger: createLogger({ level: 'silent' }),
    })
  })
  afterAll(() => running.close())

  it('lists the seeded demo flag, enables it (the server serves /demo), refuses a wrong token with exit 6', async () => {
    const server = ['--server', `http://127.0.0.1:${running.port}`]
    const listed = await flagstone(['flags', 'list', ...server, '--json'], { env: { FLAGSTONE_ADMIN_TOKEN: token } })
    expect(listed.code, listed.stderr).toBe(0)
    expect((JSON.parse(listed.stdout) as Array<{ key: string }>).map((f) => f.key)).toContain('demo')
    const enabled = await flagstone(['flags', 'enable', 'demo', ...server, '--token', token])
    expect(enabled.code, enabled.stderr).toBe(0)
    expect((await running.repository.getFlag('demo'))?.defaultEnabled).toBe(true)
    const evaluated = await flagstone(['evaluate', 'demo', ...server, '--token', token, '--json'])
    expect(JSON.parse(evaluated.stdout)).toMatchObject({ value: true })

    const wrong = await flagstone(['flags', 'list', ...server, '--token', 'wrong-token-wrong-token'])
    expect(wrong.code).toBe(6)
    const missing = await flagstone(['flags', 'list', ...server])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('--token')
    const unreachable = await flagstone(['flags', 'list', '--server', 'http://127.0.0.1:1', '--token', token])
    expect(unreachable.code).toBe(5)
  }, 300_000)
})
