/**
 * The admin UI in a real browser (headless Debian chromium via playwright-core) against a real
 * server on a temp SQLite store: one story, step by step, each step on the screens a person uses.
 * Every step also checks: axe-core finds no serious or critical violation, the page asked no other
 * host for anything and broke no CSP rule. Screenshots go to .tmp/screenshots (not committed).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page, Request } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type RunningServer, startServer } from '../../src/server.js'
import { ensureUiBuilt } from '../../ui/ensure-built.js'
import { axeViolations, type Browser, CHROMIUM, launch, SCREENSHOTS, screenshot } from './browser.js'
import { createLogger } from '../../src/observability/index.js'

const TOKEN = 'ui-test-token-0123456789abcdef'
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium)
  console.warn(`\n*** admin UI browser tests SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium) ***\n`)
const requireBrowser = process.env.FLAGSTONE_REQUIRE_SERVICES === '1' || process.env.CI === 'true'

/** Polls `check` until it returns true (generous bound: a loaded machine is slow, not broken). */
async function eventually(check: () => Promise<boolean>, what: string, within = 60_000): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > within) throw new Error(`${what}: not within ${within} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

describe.skipIf(!haveChromium && !requireBrowser)('admin UI in a browser', { timeout: 240_000 }, () => {
  let dir: string
  let server: RunningServer
  let browser: Browser
  let page: Page
  const writes: { method: string; url: string; ifMatch: string | undefined }[] = []

  const api = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${server.url}/admin/api/${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers },
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }
  const open = async (target: Page, hash: string, heading: string | RegExp) => {
    await target.goto(`${server.url}/admin/${hash}`)
    await target.getByRole('heading', { level: 1, name: heading }).waitFor()
  }
  const accessible = async (target: Page, screen: string) => {
    expect(await axeViolations(target), `axe on ${screen}`).toEqual([])
    await screenshot(target, screen)
  }

  beforeAll(async () => {
    await ensureUiBuilt()
    dir = mkdtempSync(join(tmpdir(), 'flagstone-ui-'))
    server = await startServer({
      storeUrl: `sqlite://${dir}/ui.sqlite`,
      port: 0,
      host: '127.0.0.1',
      adminToken: TOKEN,
      rateLimit: { limit: 100_000 },
      flagClient: { pollInterval: 200 },
      logger: createLogger({ level: 'silent' }),
    })
    browser = await launch(new URL(server.url).origin)
    browser.context.on('request', (request: Request) => {
      const url = new URL(request.url())
      if (request.method() !== 'GET' && url.pathname.startsWith('/admin/api/flags/')) {
        writes.push({ method: request.method(), url: url.pathname, ifMatch: request.headers()['if-match'] })
      }
    })
    browser.context.setDefaultTimeout(45_000)
    page = await browser.newPage()
  }, 180_000)

  afterEach(() => {
    expect(browser.problems, 'foreign requests, CSP violations or page errors').toEqual([])
  })

  afterAll(async () => {
    await browser?.close()
    await server?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('serves the UI under a strict CSP; a wrong token says so; the right one signs in', async () => {
    const index = await fetch(`${server.url}/admin/`)
    expect(index.status).toBe(200)
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect(index.headers.get('content-security-policy')).not.toContain('unsafe-inline')
    await page.goto(`${server.url}/admin`)
    expect(new URL(page.url()).pathname).toBe('/admin/')
    await page.getByLabel('Admin token').fill('not-the-token-at-all-0000')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Wrong token')
    await accessible(page, 'sign-in')
    await page.getByLabel('Admin token').fill(TOKEN)
    await page.getByLabel('Your name (optional)').fill('ui-tester')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { level: 1, name: 'Flags' }).waitFor()
    await page.getByRole('link', { name: 'demo' }).waitFor()
  })

  it('creates a boolean flag with a rule that rolls out to 25 %', async () => {
    const form = page.getByRole('form', { name: 'New flag' })
    await form.getByLabel('Key').fill('checkout')
    await form.getByLabel('Name').fill('New checkout')
    await form.getByRole('button', { name: 'Create flag' }).click()
    await page.getByRole('heading', { level: 1, name: 'checkout' }).waitFor()
    await page.getByRole('button', { name: 'New rule' }).click()
    const rule = page.getByRole('form', { name: 'New rule' })
    await rule.getByLabel('Rule name').fill('Beta users')
    await rule.getByLabel('Rollout %').fill('25')
    await rule.getByRole('button', { name: 'Add condition' }).click()
    await rule.getByLabel('Condition 1 operator').selectOption({ label: 'is one of' })
    await rule.getByLabel('Condition 1 value', { exact: true }).fill('alice, bob')
    await rule.getByLabel('Condition 1 value', { exact: true }).blur()
    await rule.getByRole('button', { name: 'Add rule' }).click()
    await page.getByRole('form', { name: /Rule 1: Beta users/ }).waitFor()
    const flag = (await api('flags/checkout')).body as { type: string; rules: unknown[] }
    expect(flag.type).toBe('boolean')
    expect(flag.rules).toEqual([
      expect.objectContaining({
        name: 'Beta users',
        rolloutPercentage: 25,
        conditions: [{ attribute: 'userId', operator: 'in', value: ['alice', 'bob'] }],
      }),
    ])
    await accessible(page, 'flag')
    await page.screenshot({ path: `${SCREENSHOTS}flag-screen.png` }) // the viewport only: what docs/ shows
  })

  it('toggles the demo flag in the list, and /demo follows', async () => {
    expect((await fetch(`${server.url}/demo`)).status).toBe(404)
    await open(page, '#/flags', 'Flags')
    await page.getByRole('switch', { name: 'demo: flag on' }).click()
    await expect.poll(() => page.getByRole('switch', { name: 'demo: flag on' }).isChecked()).toBe(true)
    await eventually(async () => (await fetch(`${server.url}/demo`)).status === 200, '/demo on')
    await accessible(page, 'flags')
  })

  it('edits one flag in two tabs: the second save shows the conflict, nothing is overwritten', async () => {
    const version = (await api('flags/checkout')).body.version as number
    // A second tab: sessionStorage is per tab, so it signs in on its own.
    const second = await browser.newPage()
    await second.goto(`${server.url}/admin/#/flags/checkout`)
    await second.getByLabel('Admin token').fill(TOKEN)
    await second.getByRole('button', { name: 'Sign in' }).click()
    await second.getByRole('heading', { level: 1, name: 'checkout' }).waitFor()
    await open(page, '#/flags/checkout', 'checkout')
    await page.getByLabel('Name', { exact: true }).fill('Checkout v2')
    await page.getByRole('button', { name: 'Save settings' }).click()
    await page.getByText(`version ${version + 1}`).waitFor()
    await second.getByLabel('Description').fill('edited in the second tab')
    await second.getByRole('button', { name: 'Save settings' }).click()
    const conflict = second.getByRole('alert').filter({ hasText: 'Someone else saved this flag' })
    await conflict.waitFor()
    await screenshot(second, 'conflict')
    expect(await axeViolations(second)).toEqual([])
    const stored = (await api('flags/checkout')).body
    expect(stored).toMatchObject({ name: 'Checkout v2', version: version + 1 })
    expect(stored.description).toBeUndefined()
    await conflict.getByRole('button', { name: 'Reload' }).click()
    await expect.poll(() => second.getByLabel('Name', { exact: true }).inputValue()).toBe('Checkout v2')
    await second.close()
  })

  it('creates a segment and uses it in a rule', async () => {
    await open(page, '#/segments', 'Segments')
    await page.getByRole('button', { name: 'New segment' }).click()
    const form = page.getByRole('form', { name: 'New segment' })
    await form.getByLabel('Segment key').fill('norway')
    await form.getByLabel('Segment name').fill('Users in Norway')
    await form.getByRole('button', { name: 'Add condition' }).click()
    await form.getByLabel('Condition 1 attribute').fill('country')
    await form.getByLabel('Condition 1 value', { exact: true }).fill('NO')
    await form.getByLabel('Condition 1 value', { exact: true }).blur()
    await form.getByRole('button', { name: 'Create segment' }).click()
    await page.getByRole('row', { name: /norway/ }).waitFor()
    await accessible(page, 'segments')

    await open(page, '#/flags/checkout', 'checkout')
    await page.getByRole('button', { name: 'New rule' }).click()
    const rule = page.getByRole('form', { name: 'New rule' })
    await rule.getByLabel('Rule name').fill('Norway')
    await rule.getByRole('button', { name: 'Add condition' }).click()
    await rule.getByLabel('Condition 1 operator').selectOption({ label: 'in segment' })
    await expect.poll(() => rule.getByLabel('Condition 1 value', { exact: true }).inputValue()).toBe('norway')
    await rule.getByRole('button', { name: 'Add rule' }).click()
    await page.getByRole('form', { name: /Rule 2: Norway/ }).waitFor()
    const flag = (await api('flags/checkout')).body as { rules: { name: string; conditions: unknown[] }[] }
    expect(flag.rules.find((r) => r.name === 'Norway')?.conditions).toEqual([
      expect.objectContaining({ operator: 'in_segment', value: 'norway' }),
    ])
    // Order: move the segment rule up, with the buttons (the keyboard way).
    await page.getByRole('button', { name: 'Move up Rule 2: Norway' }).click()
    await page.getByRole('form', { name: /Rule 1: Norway/ }).waitFor()
  })

  it('promotes between environments through the dry-run diff; the protected one asks first', async () => {
    await open(page, '#/environments', 'Environments')
    for (const [slug, name, protect] of [
      ['staging', 'Staging', false],
      ['production', 'Production', true],
    ] as const) {
      const form = page.getByRole('form', { name: 'New environment' })
      await form.getByLabel('Slug').fill(slug)
      await form.getByLabel('Environment name').fill(name)
      if (protect) await form.getByLabel('Protected').check()
      await form.getByRole('button', { name: 'Create environment' }).click()
      await page.locator('.tree').getByText(name, { exact: true }).waitFor()
    }
    await open(page, '#/flags', 'Flags')
    await page.getByRole('switch', { name: 'checkout: on in Staging' }).click()
    await expect.poll(() => page.getByRole('switch', { name: 'checkout: on in Staging' }).isChecked()).toBe(true)

    await open(page, '#/environments', 'Environments')
    await page.getByLabel('From', { exact: true }).selectOption('staging')
    await page.getByLabel('To', { exact: true }).selectOption('production')
    await page.getByLabel('Flag', { exact: true }).selectOption('checkout')
    await page.getByRole('button', { name: 'Preview changes' }).click()
    const row = page.getByRole('row', { name: /checkout enabled/ })
    await row.waitFor()
    expect(await row.textContent()).toContain('inherits')
    expect(await row.textContent()).toContain('true')
    expect((await api('environments/production/flags/checkout')).status).toBe(404) // a dry run writes nothing
    await accessible(page, 'environments')
    await page.getByRole('button', { name: 'Promote 1 flag(s)' }).click()
    await page.getByRole('button', { name: 'Yes, promote into Production' }).click()
    await page.getByRole('status').filter({ hasText: 'Promoted 1 flag(s) from staging to production' }).waitFor()
    expect((await api('environments/production/flags/checkout')).body).toMatchObject({ enabled: true })
  })

  it('asks before changing a flag in a protected environment; dismissed, nothing is written', async () => {
    // The server refuses it without confirm (issue 10 item 6); the UI asks, then sends confirm.
    const direct = await api('environments/production/flags/checkout', {
      method: 'PUT',
      headers: { 'if-match': '*' },
      body: JSON.stringify({ enabled: false }),
    })
    expect(direct.status).toBe(403)
    expect(direct.body).toMatchObject({ error: { code: 'FORBIDDEN' } })
    await open(page, '#/flags', 'Flags')
    const toggle = page.getByRole('switch', { name: 'checkout: on in Production' })
    await expect.poll(() => toggle.isChecked()).toBe(true)
    const asked: string[] = []
    page.once('dialog', (dialog) => {
      asked.push(dialog.message())
      void dialog.dismiss()
    })
    const puts: string[] = []
    const onRequest = (request: Request) => {
      if (request.method() === 'PUT') puts.push(request.postData() ?? '')
    }
    browser.context.on('request', onRequest)
    await toggle.click()
    await expect.poll(() => asked.length).toBe(1)
    expect(asked[0]).toContain('"production" is a protected environment')
    expect(puts).toEqual([]) // dismissed: no write
    expect((await api('environments/production/flags/checkout')).body).toMatchObject({ enabled: true })
    await expect.poll(() => toggle.isChecked()).toBe(true)

    page.once('dialog', (dialog) => {
      asked.push(dialog.message())
      void dialog.accept()
    })
    await toggle.click()
    await expect.poll(() => asked.length).toBe(2)
    await eventually(
      async () => (await api('environments/production/flags/checkout')).body.enabled === false,
      'the confirmed write stored',
    )
    await expect.poll(() => toggle.isChecked()).toBe(false)
    browser.context.off('request', onRequest)
    expect(puts.map((body) => JSON.parse(body) as unknown)).toEqual([expect.objectContaining({ enabled: false, confirm: true })])
    await accessible(page, 'flags-protected')
  })

  it('evaluates a context and explains the answer step by step', async () => {
    await open(page, '#/evaluate/checkout', 'Evaluate')
    await page.getByLabel('userId').fill('alice')
    await page.getByLabel('targetingKey').fill('alice')
    await page.getByLabel('country').fill('NO')
    await page.getByRole('button', { name: 'Evaluate' }).click()
    const result = page.getByRole('region', { name: 'Result' })
    await result.waitFor()
    const expected = await api('evaluate', {
      method: 'POST',
      body: JSON.stringify({ flagKey: 'checkout', context: { userId: 'alice', targetingKey: 'alice', country: 'NO' } }),
    })
    expect(expected.body).toMatchObject({ reason: 'TARGETING_MATCH', value: true })
    const text = (await result.textContent()) ?? ''
    expect(text).toContain('TARGETING_MATCH')
    expect(text).toContain('Rule “Norway”')
    expect(text).toContain('Rule “Beta users”')
    expect(await result.locator('li.decided').textContent()).toContain('Norway')
    await accessible(page, 'evaluate')
  })

  it('finds each change in the audit view, with actor and before/after', async () => {
    await open(page, '#/audit', 'Audit')
    const table = page.locator('table.audit')
    await table.waitFor()
    const text = (await table.textContent()) ?? ''
    for (const action of [
      'flag.create',
      'rule.create',
      'flag.patch',
      'segment.create',
      'environment.create',
      'environmentFlag.set',
      'promote',
    ]) {
      expect(text, action).toContain(action)
    }
    expect(text).toContain('ui-tester')
    const rename = page.getByRole('row').filter({ hasText: 'flag.patch' }).filter({ hasText: 'flag:checkout' }).first()
    await rename
      .getByText(/change/)
      .first()
      .click()
    const diff = rename.locator('.diff-table')
    await diff.waitFor()
    expect(await diff.textContent()).toContain('Checkout v2')
    await accessible(page, 'audit')
  })

  it('sent If-Match on every flag write', () => {
    expect(writes.length).toBeGreaterThan(4)
    expect(writes.filter((w) => !/\/overrides\//.test(w.url) && w.ifMatch === undefined)).toEqual([])
  })
})
