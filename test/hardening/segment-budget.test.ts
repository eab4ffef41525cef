/**
 * Issue 10 item 4, segments: `in_segment` inlines the segment's conditions, so a flag naming one
 * costly segment in 989 conditions used to cost 989 × the segment per evaluation, and was
 * accepted. Now a segment's membership is computed at most once per evaluation, and a flag's
 * rules plus every segment they reach (each counted once) must fit one flag's budget: a flag or
 * segment write that would go over is INVALID_ARGUMENT (400) naming the limit, and nothing is stored.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { MAX_FLAG_CONDITIONS, MAX_SEARCH_COST } from '../../src/flags/codec/budget.js'
import { compileSnapshot, evaluate } from '../../src/flags/evaluation/evaluate.js'
import { StaticFlagRepository, validateFlagInput } from '../../src/flags/index.js'
import type { EvaluationContext, FeatureFlag, Segment } from '../../src/flags/model.js'
import { WORST_CONTEXT, worstSegment, worstSegmentFlag } from '../../benchmarks/worst-flag-build.js'
import { type Admin, startAdmin } from '../koa/admin-helpers.js'

const rule = (i: number, conditions: unknown[]) => ({ id: `r${i}`, priority: i, enabled: true, serveEnabled: true, conditions })
/** `units` search units of `matches` on `ua` (plain-text patterns cost 1 each). */
const patterns = (units: number, text = 'x') =>
  Array.from({ length: units }, (_, i) => ({ attribute: 'ua', operator: 'matches', value: `${text}${i}` }))
const seg = (key: string, conditions: unknown[], parent?: string) => ({
  key,
  name: key,
  conditions,
  ...(parent ? { parent } : {}),
})
const inSegment = (key: string) => ({ attribute: 'ua', operator: 'in_segment', value: key })

let admin: Admin | undefined
afterAll(async () => admin?.served.close())
const api = async () => (admin ??= await startAdmin({ maxBodyBytes: 4 * 1024 * 1024 }))

describe('segments in the evaluation budget', () => {
  it('computes a segment once per evaluation however many conditions name it', () => {
    const segment = worstSegment()
    const flag = { ...validateFlagInput(worstSegmentFlag()), version: 1, createdAt: new Date(0), updatedAt: new Date(0) }
    const snapshot = compileSnapshot({ flags: [flag as unknown as FeatureFlag], segments: [segment as Segment], revision: 1 })
    let reads = 0
    const attributes = { b: 'b' } as Record<string, unknown>
    Object.defineProperty(attributes, 'ua', { enumerable: true, get: () => (reads++, WORST_CONTEXT.attributes!.ua) })
    const context: EvaluationContext = { targetingKey: 'u', attributes }
    expect(evaluate(snapshot, 'segments', 'boolean', true, context, 0).value).toBe(false)
    // One read per condition of the segment (its patterns), not per reference (989 references).
    expect(reads).toBeLessThanOrEqual(segment.conditions.length + 1)
    reads = 0
    expect(evaluate(snapshot, 'segments', 'boolean', true, context, 0).value).toBe(false)
    expect(reads).toBeGreaterThan(0) // a new evaluation computes it again
  })

  it('answers every evaluation afresh: the same context object changed, another context, in and not in', () => {
    const segments = [seg('vip', [{ attribute: 'plan', operator: 'eq', value: 'vip' }])] as Segment[]
    const flags = [
      { key: 'in', rules: [rule(0, [inSegment('vip'), inSegment('vip')])] },
      { key: 'out', rules: [rule(0, [{ ...inSegment('vip'), operator: 'not_in_segment' }])] },
    ].map((f) => ({
      ...validateFlagInput({ ...f, type: 'boolean' }),
      version: 1,
      createdAt: new Date(0),
      updatedAt: new Date(0),
    }))
    const snapshot = compileSnapshot({ flags: flags as unknown as FeatureFlag[], segments, revision: 1 })
    const context: EvaluationContext & { attributes: Record<string, unknown> } = {
      targetingKey: 'u',
      attributes: { plan: 'vip' },
    }
    const both = (c: EvaluationContext) => [
      evaluate(snapshot, 'in', 'boolean', false, c, 0).value,
      evaluate(snapshot, 'out', 'boolean', false, c, 0).value,
    ]
    expect(both(context)).toEqual([true, false])
    context.attributes.plan = 'free'
    expect(both(context)).toEqual([false, true])
    expect(both({ targetingKey: 'u', attributes: { plan: 'vip' } })).toEqual([true, false])
    context.attributes.plan = 'vip'
    expect(both(context)).toEqual([true, false])
  })

  it('refuses, over HTTP, a flag whose rules with the segments they reach go over the search budget, and stores nothing', async () => {
    const a = await api()
    expect((await a.api('POST', '/segments', seg('half', patterns(MAX_SEARCH_COST / 2, 'h')))).status).toBe(201)
    expect((await a.api('POST', '/segments', seg('other-half', patterns(MAX_SEARCH_COST / 2, 'o')))).status).toBe(201)
    // Both segments together fit exactly; the flag's own pattern tips it over.
    const fits = await a.api('POST', '/flags', {
      key: 'fits',
      type: 'boolean',
      rules: [rule(0, [inSegment('half'), inSegment('other-half'), inSegment('half')])],
    })
    expect(fits.status, fits.text).toBe(201)
    const over = await a.api('POST', '/flags', {
      key: 'over',
      type: 'boolean',
      rules: [
        rule(0, [{ attribute: 'ua', operator: 'matches', value: 'own' }]),
        rule(1, [inSegment('half')]),
        rule(2, [inSegment('other-half')]),
      ],
    })
    expect(over.status, over.text).toBe(400)
    expect(over.body.error.code).toBe('INVALID_ARGUMENT')
    expect(over.body.error.details).toMatchObject({
      field: 'rules[2].conditions[0].value',
      budget: MAX_SEARCH_COST,
      segment: 'other-half',
    })
    expect(over.body.error.message).toContain(`more than the search budget of ${MAX_SEARCH_COST}`)
    expect((await a.api('GET', '/flags/over')).status).toBe(404)
  })

  it('counts nested segments (parent and segment conditions) once each, and their conditions against the condition budget', async () => {
    const a = await api()
    expect((await a.api('POST', '/segments', seg('base', patterns(20, 'b')))).status).toBe(201)
    expect((await a.api('POST', '/segments', seg('child', [inSegment('base'), ...patterns(5, 'c')], 'base'))).status).toBe(201)
    expect(
      (
        await a.api('POST', '/flags', {
          key: 'nested',
          type: 'boolean',
          rules: [rule(0, [inSegment('child'), inSegment('base')])],
        })
      ).status,
    ).toBe(201)
    const over = await a.api('POST', '/flags', {
      key: 'nested-over',
      type: 'boolean',
      rules: [rule(0, [...patterns(8, 'n'), inSegment('child')])], // 8 + 5 + 20 > 32
    })
    expect(over.status, over.text).toBe(400)
    expect(over.body.error.details).toMatchObject({ budget: MAX_SEARCH_COST, segment: 'base' })

    const eq = { attribute: 'plan', operator: 'eq', value: 'x' }
    expect(
      (
        await a.api(
          'POST',
          '/segments',
          seg(
            'wide',
            Array.from({ length: 100 }, () => eq),
          ),
        )
      ).status,
    ).toBe(201)
    const many = Array.from({ length: 10 }, (_, i) => rule(i, [inSegment('wide'), ...Array.from({ length: 90 }, () => eq)]))
    const tooMany = await a.api('POST', '/flags', { key: 'many', type: 'boolean', rules: many })
    expect(tooMany.status, tooMany.text).toBe(400)
    expect(tooMany.body.error.details).toMatchObject({ budget: MAX_FLAG_CONDITIONS, segment: 'wide' })
  })

  it('refuses a segment update that would put a flag using it over, naming the flag, and a segment over on its own', async () => {
    const a = await api()
    expect((await a.api('POST', '/segments', seg('grows', patterns(1, 'g')))).status).toBe(201)
    expect(
      (
        await a.api('POST', '/flags', {
          key: 'user',
          type: 'boolean',
          rules: [rule(0, [...patterns(20, 'u'), inSegment('grows')])],
        })
      ).status,
    ).toBe(201)
    const before = await a.api('GET', '/segments/grows')
    const grown = await a.api('PUT', '/segments/grows', seg('grows', patterns(20, 'g')), {
      headers: { 'if-match': before.headers.get('etag') ?? '' },
    })
    expect(grown.status, grown.text).toBe(400)
    expect(grown.body.error.code).toBe('INVALID_ARGUMENT')
    expect(grown.body.error.details).toMatchObject({ field: 'conditions', budget: MAX_SEARCH_COST, flags: ['user'] })
    expect(grown.body.error.message).toContain('flag "user"')
    expect((await a.api('GET', '/segments/grows')).body.conditions).toHaveLength(1)
    // Within budget for the flag using it: accepted.
    const ok = await a.api('PUT', '/segments/grows', seg('grows', patterns(12, 'g')), {
      headers: { 'if-match': before.headers.get('etag') ?? '' },
    })
    expect(ok.status, ok.text).toBe(200)

    const alone = await a.api('POST', '/segments', seg('huge', patterns(MAX_SEARCH_COST + 1, 'z')))
    expect(alone.status, alone.text).toBe(400)
    expect(alone.body.error.details).toMatchObject({ field: 'conditions', budget: MAX_SEARCH_COST, flags: [] })
    expect((await a.api('GET', '/segments/huge')).status).toBe(404)
  })

  it('accepts the worst flag with segments the budget allows, and refuses it in a static document when it goes over', () => {
    const segment = worstSegment()
    expect(() => new StaticFlagRepository({ flags: [worstSegmentFlag()], segments: [segment] })).not.toThrow()
    const over = { key: 'over', type: 'boolean', rules: [rule(0, [...patterns(2), inSegment(segment.key)])] }
    expect(() => new StaticFlagRepository({ flags: [over], segments: [segment] })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        details: { field: 'flags[0].rules[0].conditions[2].value', budget: MAX_SEARCH_COST, segment: segment.key },
      }),
    )
  })
})
