/**
 * `environment()` without `allowed` lets any client choose its environment: it warns, once per
 * process (issue 10 item 1). Its own file: the warning is once per process, and vitest gives each
 * file its own.
 */
import Koa from 'koa'
import { describe, expect, it } from 'vitest'
import { environment } from '../../src/koa/index.js'
import { serve } from './helpers.js'

describe('environment() without an allow-list', () => {
  it('warns once (FLAGSTONE_ENVIRONMENT_UNRESTRICTED), not when detection is off or allow-listed, and still works', async () => {
    const warnings: Error[] = []
    const listen = (warning: Error) => warnings.push(warning)
    process.on('warning', listen)
    try {
      environment({ header: false, query: false, fallback: 'production' })
      environment({ allowed: ['production', 'staging'] })
      await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
      expect(warnings).toHaveLength(0)

      const app = new Koa()
      app.use(environment())
      app.use(environment({ query: false }))
      app.use((ctx) => {
        ctx.body = { environment: ctx.state.environment ?? null }
      })
      const served = await serve(app)
      try {
        const response = await fetch(served.url, { headers: { 'x-environment': 'staging' } })
        expect(await response.json()).toEqual({ environment: 'staging' })
      } finally {
        await served.close()
      }
      environment({ header: 'x-stage' })
      await new Promise((resolve) => setImmediate(resolve))
      const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'FLAGSTONE_ENVIRONMENT_UNRESTRICTED')
      expect(ours).toHaveLength(1)
      expect(ours[0]?.message).toMatch(/allowed/)
    } finally {
      process.off('warning', listen)
    }
  })
})
