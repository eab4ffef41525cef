/**
 * Headless Chromium (Debian's `chromium`, driven by playwright-core) for the admin UI tests, with
 * two guards: any request to another origin fails the test (and is aborted), and so does any
 * Content-Security-Policy violation or page error; axe-core runs inside the page.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SCREENSHOTS = new URL('../../.tmp/screenshots/', import.meta.url).pathname

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export interface Browser {
  context: BrowserContext
  /** Everything that went wrong in any page: foreign requests, CSP violations, page errors. */
  problems: string[]
  newPage(): Promise<Page>
  close(): Promise<void>
}

/** A persistent context on a fresh profile directory, removed again by `close()`. */
export async function launch(origin: string): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'flagstone-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1366, height: 900 },
  })
  const problems: string[] = []
  await context.route('**/*', (route) => {
    const url = route.request().url()
    if (url.startsWith('data:') || url.startsWith('blob:') || new URL(url).origin === origin) return route.continue()
    problems.push(`request to another host: ${url}`)
    return route.abort('blockedbyclient')
  })
  const watch = (page: Page) => {
    page.on('console', (message) => {
      const text = message.text()
      if (/Content.Security.Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`)
    })
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  }
  context.pages().forEach(watch)
  context.on('page', watch)
  return {
    context,
    problems,
    async newPage() {
      const page = await context.newPage()
      return page
    },
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: { target: string[] }[]
}

/**
 * Serious and critical axe-core violations on the page as it is now. axe is evaluated through the
 * DevTools protocol (not a <script> tag), so the page's CSP stays as strict as it is in production.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  const loaded = await page.evaluate('typeof window.axe')
  if (loaded === 'undefined') await page.evaluate(axeSource)
  const violations = (await page.evaluate(
    `window.axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`,
  )) as AxeViolation[]
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const path = join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}
