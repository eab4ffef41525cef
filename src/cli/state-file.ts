/**
 * The flag state file (`flagstone export` / `flagstone import`), documented in docs/state-file.md:
 *
 *   format: flagstone-state      version: 1
 *   flags, segments, environments, environmentFlags, overrides   (each sorted by its key)
 *
 * Flags are written as their input fields (no `version`, `createdAt`, `updatedAt`: the store owns
 * those), so export → import → export gives the same document. Reading validates everything
 * first (with the same codec the store uses) and names the line and the field that is wrong.
 */
import { LineCounter, parseDocument, stringify, isNode, type Document } from 'yaml'
import { FlagstoneError } from '../errors.js'
import { FLAG_INPUT_FIELDS, StaticFlagRepository, type SnapshotData } from '../flags/index.js'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagOverride, Segment } from '../flags/index.js'
import { CliError, EXIT } from './exit-codes.js'

export const STATE_FORMAT = 'flagstone-state'
export const STATE_VERSION = 1

/** Plain JSON (dates as ISO-8601 strings). */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export interface StateDocument {
  format: typeof STATE_FORMAT
  version: typeof STATE_VERSION
  flags: Json[]
  segments: Json[]
  environments: Json[]
  environmentFlags: Json[]
  overrides: Json[]
}

/** The validated content of a state file (or of a store), as the repository types. */
export interface State {
  flags: FeatureFlag[]
  segments: Segment[]
  environments: Environment[]
  environmentFlags: EnvironmentFlag[]
  overrides: FlagOverride[]
}

const toJson = (value: unknown): Json => JSON.parse(JSON.stringify(value)) as Json
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The identity of each item: what the diff matches on. */
export const identity = {
  flags: (f: { key: string }) => f.key,
  segments: (s: { key: string }) => s.key,
  environments: (e: { slug: string }) => e.slug,
  environmentFlags: (e: { environment: string; flagKey: string }) => `${e.flagKey}@${e.environment}`,
  overrides: (o: { flagKey: string; entityType: string; entityId: string }) => `${o.flagKey}/${o.entityType}/${o.entityId}`,
} as const

export type Collection = keyof typeof identity
export const COLLECTIONS: readonly Collection[] = ['segments', 'environments', 'flags', 'environmentFlags', 'overrides']

/** A flag's input fields only, in a fixed order. */
export function flagInput(flag: FeatureFlag): Json {
  const out: Record<string, unknown> = {}
  for (const field of FLAG_INPUT_FIELDS) {
    const value = (flag as unknown as Record<string, unknown>)[field]
    if (value !== undefined) out[field] = value
  }
  return toJson(out)
}

/** One item as the file writes it (and as the diff compares it). */
export function itemJson(collection: Collection, item: unknown): Json {
  return collection === 'flags' ? flagInput(item as FeatureFlag) : toJson(item)
}

/** The document for a state (a store's snapshot or a validated file). */
export function toDocument(state: State | SnapshotData): StateDocument {
  const sorted = <C extends Collection>(collection: C) => {
    const key = identity[collection] as (item: unknown) => string
    return [...(state[collection] as readonly unknown[])]
      .sort((a, b) => byString(key(a), key(b)))
      .map((item) => itemJson(collection, item))
  }
  return {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    flags: sorted('flags'),
    segments: sorted('segments'),
    environments: sorted('environments'),
    environmentFlags: sorted('environmentFlags'),
    overrides: sorted('overrides'),
  }
}

export function formatDocument(document: StateDocument, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : stringify(document, { lineWidth: 0 })
}

/** `flags[2].rules[0].operator` → ['flags', 2, 'rules', 0, 'operator']. */
function fieldPath(field: string): Array<string | number> {
  const out: Array<string | number> = []
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) out.push(Number(match[2]))
    else if (match[1] !== undefined) out.push(/^\d+$/.test(match[1]) ? Number(match[1]) : match[1])
  }
  return out
}

/** The 1-based line of the deepest node on `path` that exists in the file. */
function lineOf(document: Document, lines: LineCounter, path: Array<string | number>): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = document.getIn(path.slice(0, depth), true)
    if (isNode(node) && node.range !== undefined && node.range !== null) return lines.linePos(node.range[0]).line
  }
  return undefined
}

function invalid(file: string, line: number | undefined, field: string, message: string): CliError {
  const where = line === undefined ? file : `${file}:${line}`
  return new CliError(`${where}: ${message}`, EXIT.USAGE, 'INVALID_ARGUMENT', {
    file,
    field,
    ...(line === undefined ? {} : { line }),
  })
}

/**
 * Parses and validates a state file (JSON or YAML: YAML's parser reads both, with positions).
 * Throws a `CliError` (exit 2) naming `file:line` and the field.
 */
export async function readState(text: string, file: string): Promise<State> {
  const lines = new LineCounter()
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const syntax = document.errors[0]
  if (syntax !== undefined) {
    const line = lines.linePos(syntax.pos[0]).line
    throw invalid(file, line, '(syntax)', `not valid JSON or YAML: ${syntax.message.split('\n')[0]}`)
  }
  const raw = document.toJS({ maxAliasCount: 100 }) as unknown
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(file, 1, '(document)', 'must be an object')
  const data = raw as Record<string, unknown>
  if (data.format !== STATE_FORMAT) {
    throw invalid(file, lineOf(document, lines, ['format']), 'format', `format: must be "${STATE_FORMAT}"`)
  }
  if (data.version !== STATE_VERSION) {
    throw invalid(
      file,
      lineOf(document, lines, ['version']),
      'version',
      `version: must be ${STATE_VERSION} (this flagstone reads version 1)`,
    )
  }
  for (const field of Object.keys(data)) {
    if (field !== 'format' && field !== 'version' && !(COLLECTIONS as readonly string[]).includes(field)) {
      throw invalid(file, lineOf(document, lines, [field]), field, `${field}: unknown field (expected ${COLLECTIONS.join(', ')})`)
    }
  }
  for (const collection of COLLECTIONS) {
    if (data[collection] !== undefined && !Array.isArray(data[collection])) {
      throw invalid(file, lineOf(document, lines, [collection]), collection, `${collection}: must be a list`)
    }
  }
  let repository: StaticFlagRepository
  try {
    repository = new StaticFlagRepository({
      flags: (data.flags as unknown[] | undefined) ?? [],
      segments: (data.segments as unknown[] | undefined) ?? [],
      environments: (data.environments as unknown[] | undefined) ?? [],
      environmentFlags: (data.environmentFlags as unknown[] | undefined) ?? [],
      overrides: (data.overrides as unknown[] | undefined) ?? [],
    })
  } catch (error) {
    if (error instanceof FlagstoneError && error.code === 'INVALID_ARGUMENT') {
      const field = typeof error.details?.field === 'string' ? error.details.field : ''
      throw invalid(file, lineOf(document, lines, fieldPath(field)), field, error.message)
    }
    throw error
  }
  return stateOf(await repository.loadSnapshot())
}

/** A state from snapshot data (what the store holds). */
export function stateOf(snapshot: Pick<SnapshotData, Collection>): State {
  return {
    flags: [...snapshot.flags],
    segments: [...snapshot.segments],
    environments: [...snapshot.environments],
    environmentFlags: [...snapshot.environmentFlags],
    overrides: [...snapshot.overrides],
  }
}
