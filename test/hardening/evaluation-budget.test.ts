/**
 * Issue 10 item 4: evaluation cost is bounded on write. A flag over the budget (the issue's
 * 88 rules × 100 `matches` on `(a|a)*…$`, or too many conditions) is INVALID_ARGUMENT naming the
 * field and the budget, over HTTP a 400; the worst flag the budget accepts evaluates, over real
 * HTTP, well within a generous bound. Its speed is measured by benchmarks/worst-flag.ts.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { MAX_AFFIX_CHARS, MAX_FLAG_CONDITIONS, MAX_PATTERN_STATES, MAX_SEARCH_COST } from '../../src/flags/codec/budget.js'
import { compileSnapshot, evaluate } from '../../src/flags/evaluation/evaluate.js'
import { validateFlagInput } from '../../src/flags/index.js'
import type { FeatureFlag } from '../../src/flags/model.js'
import { worstFlag, WORST_CONTEXT } from '../../benchmarks/worst-flag-build.js'
import { type Admin, startAdmin } from '../koa/admin-helpers.js'

const rule = (i: number, conditions: unknown[]) => ({ id: `r${i}`, priority: i, enabled: true, serveEnabled: true, conditions })

let admin: Admin | undefined
afterAll(async () => admin?.served.close())

describe('the evaluation budget of a flag', () => {
  it('rejects the issue’s flag (88 rules × 100 matches on (a|a)*…$) naming the field and the budget, over HTTP', async () => {
    admin = await startAdmin({ maxBodyBytes: 4 * 1024 * 1024 })
    const matches = { attribute: 'ua', operator: 'matches', value: '(a|a)*(a|a)*(a|a)*b$' }
    const rules = Array.from({ length: 88 }, (_, i) =>
      rule(
        i,
        Array.from({ length: 100 }, () => matches),
      ),
    )
    const response = await admin.api('POST', '/flags', { key: 'evil', type: 'boolean', rules })
    expect(response.status, response.text).toBe(400)
    expect(response.body.error.code).toBe('INVALID_ARGUMENT')
    expect(response.body.error.details).toMatchObject({ budget: MAX_PATTERN_STATES })
    expect(response.body.error.details.field).toMatch(/^rules\[\d+\]\.conditions\[\d+\]\.value$/)
    expect((await admin.api('GET', '/flags/evil')).status).toBe(404)
  })

  it('rejects more conditions than the budget, and the same in an environment’s rules', () => {
    const eq = { attribute: 'country', operator: 'eq', value: 'NO' }
    const many = Array.from({ length: 11 }, (_, i) =>
      rule(
        i,
        Array.from({ length: 100 }, () => eq),
      ),
    )
    expect(() => validateFlagInput({ key: 'many', type: 'boolean', rules: many })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        details: { field: 'rules[10].conditions[0]', budget: MAX_FLAG_CONDITIONS },
      }),
    )
  })

  it('counts substring searches with the patterns (V8 scans 1 KiB of `a` for `ab` at every position), and affix characters', () => {
    const search = { attribute: 'ua', operator: 'not_contains', value: 'ab' }
    const searches = Array.from({ length: MAX_SEARCH_COST + 1 }, () => search)
    expect(() => validateFlagInput({ key: 'searches', type: 'boolean', rules: [rule(0, searches)] })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining(`more than the search budget of ${MAX_SEARCH_COST}`),
        details: { field: `rules[0].conditions[${MAX_SEARCH_COST}].value`, budget: MAX_SEARCH_COST },
      }),
    )
    const affix = { attribute: 'email', operator: 'ends_with', value: 'x'.repeat(4096) }
    const affixes = Array.from({ length: MAX_AFFIX_CHARS / 4096 + 1 }, () => affix)
    expect(() => validateFlagInput({ key: 'affixes', type: 'boolean', rules: [rule(0, affixes)] })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: expect.objectContaining({ budget: MAX_AFFIX_CHARS }) }),
    )
  })

  it('accepts a large real-world flag: a user-agent pattern, a few searches, hundreds of eq / in / ends_with', () => {
    const conditions = [
      { attribute: 'userAgent', operator: 'matches', value: '^Mozilla/5\\.0 .*(iPhone|iPad)' },
      { attribute: 'email', operator: 'not_contains', value: '+test' },
      { attribute: 'plan', operator: 'in', value: Array.from({ length: 5000 }, (_, i) => `plan-${i}`) },
      ...Array.from({ length: 300 }, (_, i) => ({
        attribute: 'email',
        operator: 'ends_with',
        value: `@customer-${i}.example.com`,
      })),
      ...Array.from({ length: 600 }, (_, i) => ({ attribute: 'country', operator: 'ne', value: `C${i}` })),
    ]
    // At most 100 conditions per rule: ten rules.
    const rules = Array.from({ length: 10 }, (_, i) => rule(i, conditions.slice(i * 91, (i + 1) * 91)))
    expect(() => validateFlagInput({ key: 'real', type: 'boolean', rules })).not.toThrow()
    expect(() => validateFlagInput(worstFlag('worst-searches', 'searches'))).not.toThrow()
  })

  it('accepts the worst flag the budget allows, and it evaluates over HTTP within a generous bound', async () => {
    admin ??= await startAdmin({ maxBodyBytes: 4 * 1024 * 1024 })
    const flag = worstFlag()
    expect(() => validateFlagInput(flag)).not.toThrow()
    const created = await admin.api('POST', '/flags', flag)
    expect(created.status, created.text).toBe(201)
    const started = performance.now()
    const evaluated = await admin.api('POST', '/evaluate', { flagKey: 'worst', context: WORST_CONTEXT })
    expect(evaluated.status, evaluated.text).toBe(200)
    expect(evaluated.body).toMatchObject({ value: false })
    expect(performance.now() - started).toBeLessThan(2000) // the issue saw 11.2 s; the benchmark measures it

    const snapshot = compileSnapshot({ flags: [created.body as FeatureFlag], revision: 1 })
    const t = performance.now()
    for (let i = 0; i < 10; i++) evaluate(snapshot, 'worst', 'boolean', false, WORST_CONTEXT, Date.now())
    expect((performance.now() - t) / 10).toBeLessThan(50)
  })
})
