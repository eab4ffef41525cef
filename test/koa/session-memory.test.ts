import { describe, expect, it } from 'vitest'
import { createStore } from '../../src/index.js'
import { type SessionOptions, session } from '../../src/koa/index.js'
import { sessionSuite } from './session-suite.js'

sessionSuite({ name: 'memory', open: (namespace) => createStore('memory://', { namespace }) })

describe('session() options', () => {
  it('rejects bad options up front and leaves the caller\u2019s object alone', () => {
    for (const options of [
      { maxAge: 0 },
      { maxAge: Infinity },
      { maxAge: '1d' },
      { key: 'has space' },
      { key: '' },
      { store: '' },
      { cookie: { sameSite: 'sometimes' } },
    ]) {
      expect(() => session(options as SessionOptions), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      )
    }
    const options = { maxAge: 1000, cookie: { path: '/app' } }
    session(options)
    expect(options).toEqual({ maxAge: 1000, cookie: { path: '/app' } })
  })
})
