/** Flags and helpers shared by the OpenFeature provider tests. */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { type Client, type EventDetails, OpenFeature, ProviderEvents } from '@openfeature/server-sdk'
import type { FlagRepository } from '../../src/flags/index.js'

/** One flag per type and reason the Must-show list names. */
export async function seed(repository: FlagRepository): Promise<void> {
  await repository.createFlag({ key: 'banner', type: 'boolean', defaultEnabled: true, metadata: { owner: 'growth' } })
  await repository.createFlag({
    key: 'pro-feature',
    type: 'boolean',
    rules: [{ id: 'pro-plan', conditions: [{ attribute: 'plan', operator: 'eq', value: 'pro' }] }],
  })
  await repository.createFlag({
    key: 'checkout',
    type: 'string',
    defaultValue: 'classic',
    variants: [
      { key: 'one-page', value: 'one-page', weight: 50 },
      { key: 'wizard', value: 'wizard', weight: 50 },
    ],
  })
  await repository.createFlag({ key: 'page-size', type: 'number', defaultValue: 25 })
  await repository.createFlag({ key: 'theme', type: 'json', defaultValue: { color: 'teal', dense: false } })
  await repository.createFlag({ key: 'retired', type: 'boolean', status: 'inactive', defaultEnabled: true })
  await repository.setOverride({ flagKey: 'pro-feature', entityType: 'user', entityId: 'vip', enabled: true })
}

/** The next event of `type` on `client`, with its details. */
export function nextProviderEvent(client: Client, type: ProviderEvents, timeout = 10_000): Promise<EventDetails> {
  return new Promise((resolve, reject) => {
    const handler = (details?: EventDetails) => {
      clearTimeout(timer)
      client.removeHandler(type, handler)
      resolve(details as EventDetails)
    }
    const timer = setTimeout(() => {
      client.removeHandler(type, handler)
      reject(new Error(`no ${type} within ${timeout} ms`))
    }, timeout)
    client.addHandler(type, handler)
  })
}

const WRITER = new URL('./fixtures/flag-writer.ts', import.meta.url).pathname

/** Flips `flagKey` from a separate process; resolves with the version it wrote. */
export async function writeFromAnotherProcess(url: string, namespace: string, flagKey: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', WRITER, url, namespace, flagKey], {
    timeout: 80_000, // a tsx child starts slowly on a loaded machine
  })
  return (JSON.parse(stdout) as { version: number }).version
}

export { OpenFeature, ProviderEvents }
