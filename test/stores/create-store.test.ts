import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { createStore, FlagstoneError } from '../../src/index.js'

describe('createStore', () => {
  it('picks the backend from the URL scheme', async () => {
    const memory = await createStore('memory://')
    await memory.set('k', 'v')
    expect(await memory.exists('k')).toBe(true)
    await memory.close()
    const sqlite = await createStore('sqlite::memory:', { namespace: 'custom' })
    await sqlite.set('k', 'v')
    expect(await sqlite.exists('k')).toBe(true)
    await sqlite.close()
  })

  it('rejects unknown schemes and bad options with INVALID_ARGUMENT naming the problem', async () => {
    await expect(createStore('mongodb://localhost')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('mongodb://'),
    })
    await expect(createStore('not a url')).rejects.toBeInstanceOf(FlagstoneError)
    await expect(createStore('memory://', { namespace: 'a:b' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('namespace'),
    })
    await expect(createStore('memory://', { maxValueBytes: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('maxValueBytes'),
    })
    await expect(createStore('sqlite://')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })

  it('loads a backend only when its scheme is used (no native sqlite3 for memory or Redis users)', async () => {
    const script = `
      const { createStore } = await import('./src/index.ts')
      const store = await createStore('memory://')
      await store.close()
      const loaded = process.report.getReport().sharedObjects.some((f) => f.includes('node_sqlite3'))
      console.log(JSON.stringify({ loaded }))
    `
    const run = promisify(execFile)
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script])
    expect(JSON.parse(stdout)).toEqual({ loaded: false })
  }, 30_000)
})
