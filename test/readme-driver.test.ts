/**
 * The README's custom driver example, exactly as printed, run as the test file it is: written into
 * the package (so 'flagstone/stores' and 'flagstone/testing' resolve through the exports map to the
 * sources) and imported here, where its `testStore(...)` call registers the conformance suite.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'

const root = new URL('..', import.meta.url).pathname
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
  .map((m) => m[1] ?? '')
  .filter((c) => c.includes("'flagstone/testing'"))

it('the README has exactly one testStore example, a driver written against the public contract only', () => {
  expect(examples).toHaveLength(1)
  const imports = [...(examples[0] ?? '').matchAll(/from '([^']+)'/g)].map((m) => m[1])
  expect(imports).toEqual(['flagstone/stores', 'flagstone/testing'])
})

mkdirSync(join(root, '.tmp'), { recursive: true }) // gitignored: absent on a fresh clone
const file = join(root, '.tmp', 'readme-map-driver.ts')
writeFileSync(file, examples[0] ?? '')
await import(file)
