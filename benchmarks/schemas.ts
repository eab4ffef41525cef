/**
 * Validation speed of a flag document: the codec (`validateFlagInput`, today's hot path) versus
 * TypeBox's compiled check of the same JSON against `FlagInputSchema`, in one run, paired rounds.
 * The check only answers yes/no: the codec's semantic checks and defaults would still run after it.
 * `npx tsx benchmarks/schemas.ts [--write]`.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { DOCUMENT_SCHEMAS, FlagInputSchema, validateFlagInput } from '../src/flags/index.js'
import { writeSection } from './report.js'

const WRITE = process.argv.includes('--write')
const flag = JSON.parse(
  JSON.stringify({
    key: 'checkout-redesign',
    type: 'string',
    defaultValue: 'classic',
    tags: ['growth', 'web'],
    metadata: { owner: 'growth', ticket: 'GRO-1' },
    rules: [
      { id: 'beta', conditions: [{ attribute: 'plan', operator: 'in', value: ['pro', 'team'] }], serveValue: 'one-page' },
      { id: 'nordics', conditions: [{ attribute: 'country', operator: 'in', value: ['NO', 'SE', 'DK'] }], rolloutPercentage: 25 },
    ],
    variants: [
      { key: 'one-page', value: 'one-page', weight: 50 },
      { key: 'wizard', value: 'wizard', weight: 50 },
    ],
    rolloutPhases: [{ at: '2026-01-01T00:00:00Z', percentage: 10 }],
  }),
) as unknown

const check = TypeCompiler.Compile(FlagInputSchema, [...DOCUMENT_SCHEMAS])
if (!check.Check(flag)) throw new Error('benchmark document does not match the schema')

function opsPerSecond(fn: () => unknown, ms: number): number {
  let n = 0
  const start = performance.now()
  let now = start
  while (now - start < ms) {
    for (let i = 0; i < 200; i++) fn()
    n += 200
    now = performance.now()
  }
  return (n / (now - start)) * 1000
}

const rounds = 7
const ratios: number[] = []
let codec = 0
let typebox = 0
for (let r = 0; r < rounds; r++) {
  const a = opsPerSecond(() => validateFlagInput(flag), 300)
  const b = opsPerSecond(() => check.Check(flag), 300)
  codec = a
  typebox = b
  ratios.push(b / a)
}
ratios.sort((x, y) => x - y)
const median = ratios[Math.floor(rounds / 2)]!
const markdown = [
  '## Schemas: validating a flag document',
  '',
  '`npx tsx benchmarks/schemas.ts`: a string flag with two rules, two variants and a rollout phase, as JSON.',
  '',
  '| validator | ops/s (last round) | vs codec (median of 7 paired rounds) |',
  '|---|---:|---:|',
  `| codec \`validateFlagInput\` (errors name the field and the allowed values; defaults; semantic checks) | ${Math.round(codec)} | 1.00x |`,
  `| TypeBox compiled \`Check\` against \`FlagInputSchema\` (yes/no only) | ${Math.round(typebox)} | ${median.toFixed(2)}x |`,
  '',
  'The codec stays the validator: a schema check alone cannot reject a value of the wrong type for the flag, duplicate ids,',
  'unknown time zones or cycles, so it could only run in front of the codec, adding its cost. The TypeBox schemas generate',
  'the JSON Schema of the OpenAPI document and the wire types; a test keeps them in agreement with the codec.',
].join('\n')
console.log(markdown)
if (WRITE) console.log(`wrote ${writeSection('schemas', markdown)}`)
