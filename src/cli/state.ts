/** `flagstone export` and `flagstone import <file>`: the whole flag state as one file (docs/state-file.md). */
import { readFile, writeFile } from 'node:fs/promises'
import { Command } from 'commander'
import { CliError, EXIT } from './exit-codes.js'
import type { FlagStore } from './flag-store.js'
import { emit, type OutputOptions, report, table } from './output.js'
import type { Plan } from './state-apply.js'

interface StoreOptions extends OutputOptions {
  store?: string
  namespace?: string
}

const storeOptions = (command: Command) =>
  command
    .option('--store <url>', 'store URL (default: FLAGSTONE_STORE_URL, else sqlite://./data/flagstone.sqlite)')
    .option('--namespace <name>', 'root namespace, as the server uses it (default: FLAGSTONE_NAMESPACE, else flagstone)')

async function withStore(options: StoreOptions, work: (store: FlagStore) => Promise<void>): Promise<void> {
  let store: FlagStore | undefined
  try {
    const { FlagStore } = await import('./flag-store.js') // loaded on use: `--help` needs none of it
    store = await FlagStore.open(options)
    await work(store)
  } catch (error) {
    report(error, options)
  } finally {
    await store?.close().catch(() => undefined)
  }
}

function describePlan(plan: Plan, dryRun: boolean): string {
  if (plan.changes.length === 0) return `no changes (${plan.unchanged} unchanged)`
  const rows = plan.changes.map((c) => [
    c.kind === 'create' ? '+' : c.kind === 'delete' ? '-' : '~',
    c.collection,
    c.id,
    c.fields?.join(', ') ?? '',
  ])
  const verb = dryRun ? 'would change' : 'changed'
  return `${table([['', 'COLLECTION', 'ID', 'FIELDS'], ...rows])}\n${verb} ${plan.changes.length}, ${plan.unchanged} unchanged`
}

export function exportCommand(): Command {
  return storeOptions(new Command('export'))
    .description('write the whole flag state (flags, segments, environments, environment flags, overrides) as one file')
    .option('--format <format>', 'json or yaml', 'json')
    .option('-o, --output <file>', 'write to this file instead of standard output')
    .action((options: StoreOptions & { format: string; output?: string }) =>
      withStore(options, async (store) => {
        if (options.format !== 'json' && options.format !== 'yaml') {
          throw new CliError(
            `--format: must be json or yaml, got ${JSON.stringify(options.format)}`,
            EXIT.USAGE,
            'INVALID_ARGUMENT',
            {
              field: '--format',
            },
          )
        }
        const { formatDocument, toDocument } = await import('./state-file.js')
        const text = formatDocument(toDocument(await store.repository.loadSnapshot()), options.format)
        if (options.output === undefined) process.stdout.write(text)
        else await writeFile(options.output, text)
      }),
    )
}

export function importCommand(): Command {
  return storeOptions(new Command('import'))
    .argument('<file>', 'a state file written by `flagstone export` (JSON or YAML)')
    .description('make the store hold what the file says: validated first, then applied all together, or not at all')
    .option('--dry-run', 'show the changes, write nothing')
    .option('--prune', 'also delete what the store has and the file does not')
    .option('--json', 'print the plan as JSON')
    .action((file: string, options: StoreOptions & { dryRun?: boolean; prune?: boolean }) =>
      withStore(options, async (store) => {
        let text: string
        try {
          text = await readFile(file, 'utf8')
        } catch (error) {
          throw new CliError(
            `${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
            EXIT.USAGE,
            'INVALID_ARGUMENT',
            {
              file,
            },
          )
        }
        const { readState, stateOf } = await import('./state-file.js')
        const { applyImport, planImport } = await import('./state-apply.js')
        const wanted = await readState(text, file)
        const current = stateOf(await store.repository.loadSnapshot())
        const plan = planImport(current, wanted, options.prune === true)
        const dryRun = options.dryRun === true
        if (!dryRun && plan.changes.length > 0) await applyImport(store.repository, current, wanted, plan)
        emit(options, { dryRun, ...plan }, () => describePlan(plan, dryRun))
      }),
    )
}
