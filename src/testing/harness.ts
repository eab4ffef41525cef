/** What every part of the store suite shares: the options, the stores under test and the assertion helpers. */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'
import type { FlagstoneErrorCode } from '../errors.js'
import type { Store, StoreCapabilities } from '../stores/index.js'

/**
 * The operationTimeout the project's own backends use under the suite: it checks semantics (16 MiB
 * values, two processes racing) on a 2-core machine that may run at 20x its cores, where the 10 s
 * default can trip. Pass it to your factory if your CI machine is as loaded.
 */
export const CONFORMANCE_TIMEOUT = 60_000

/** Direct access to the backend's storage, as another program sharing the database would have. */
export interface RawAccess {
  /** Writes a physical key (`<root>[:<ns>…]/<key>`) outside flagstone. */
  write(physicalKey: string, value: string): Promise<void>
  read(physicalKey: string): Promise<string | null>
  /** How many physical entries exist whose key starts with `prefix` (expired or not). */
  count(prefix: string): Promise<number>
  delete(physicalKey: string): Promise<void>
  close(): Promise<void>
}

export interface TestStoreOptions {
  /**
   * A `createStore` URL of the same data that a child process can open: enables the
   * cross-process tests (atomic increments and compare-and-set from two processes, push to another
   * process). Only for backends `createStore` knows.
   */
  url?: string
  /** Raw access to the same storage: enables the isolation and physical-removal tests. */
  raw?: () => Promise<RawAccess>
  /** The server expires keys itself (Redis): `deleteExpired` has nothing left to count. */
  nativeExpiry?: boolean
  /** Opens a store of this backend whose server is unreachable: every operation must fail with `STORE_UNAVAILABLE`, bounded. */
  unreachable?: () => Promise<Store>
  /**
   * The capabilities the store must claim. The suite runs only the parts a store's `capabilities`
   * claim, so without this a store that lost a guarantee would just skip more tests; with it, that is a failure.
   */
  expectCapabilities?: Partial<StoreCapabilities>
}

export interface Harness {
  readonly name: string
  readonly options: TestStoreOptions
  /** The root store (opened in `beforeAll`). */
  readonly root: Store
  readonly rootName: string
  readonly raw: RawAccess | undefined
  /** Opens another root store of the backend. */
  open(namespace: string): Promise<Store>
  /** A fresh namespace per test, so tests never see each other's keys. */
  fresh(): Store
}

type Claim = (caps: StoreCapabilities, options: TestStoreOptions) => boolean
type TestBody = () => Promise<void>

/** A test that runs only when the store's capabilities (read at run time, once the store is open) claim what it checks. */
export function claimed(h: Harness, claim: Claim, name: string, body: TestBody, timeout?: number): void {
  it(
    name,
    async (ctx) => {
      if (!claim(h.root.capabilities, h.options)) return ctx.skip()
      await body()
    },
    timeout,
  )
}

export const atomic: Claim = (c) => c.atomic !== 'none'
export const listing: Claim = (c) => c.listKeys

async function rejection(promise: Promise<unknown>): Promise<{ code?: FlagstoneErrorCode; message: string; name: string }> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(Error)
    return error as { code?: FlagstoneErrorCode; message: string; name: string }
  }
  throw new Error('expected a rejection')
}

/** Expects a `FlagstoneError` with `code`; returns its message. */
export async function expectCode(promise: Promise<unknown>, code: FlagstoneErrorCode): Promise<string> {
  const error = await rejection(promise)
  expect(error.name).toBe('FlagstoneError')
  expect(error.code).toBe(code)
  return error.message
}

export async function collect(iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const key of iterable) out.push(key)
  return out.sort()
}

export const text = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes).toString('utf8'))

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function randomNamespace(prefix = 't'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`
}

const run = promisify(execFile)
const WORKER = fileURLToPath(new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url))
/** Run from the sources (this project's tests), the worker needs tsx; from the built package it is plain JavaScript. */
const WORKER_ARGS = WORKER.endsWith('.ts') ? ['--import', 'tsx', WORKER] : [WORKER]

/** Runs worker.ts in a child process against `options.url` (see its header for the modes). */
export async function runWorker(
  h: Harness,
  mode: 'increment' | 'cas' | 'publish' | 'atomic',
  count: number,
  key: string,
  timeout = 120_000,
): Promise<{ retries: number }> {
  const args = [...WORKER_ARGS, h.options.url!, h.rootName, mode, String(count), key]
  const { stdout } = await run(process.execPath, args, { timeout })
  return JSON.parse(stdout) as { retries: number }
}
