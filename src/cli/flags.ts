/** `flagstone flags list|get|create|enable|disable|archive|delete`, through the admin API (see admin-client.ts). */
import { Command } from 'commander'
import type { AdminClient, TargetOptions } from './admin-client.js'
import { emit, type OutputOptions, parseJsonOption, report, table } from './output.js'

interface FlagSummary {
  key: string
  type: string
  status: string
  defaultEnabled: boolean
  name: string
  version: number
}

type Options = TargetOptions & OutputOptions

/** Adds the options every command that reaches flags takes. */
export function withTarget(command: Command): Command {
  return command
    .option(
      '--store <url>',
      'store URL to work on directly (default: FLAGSTONE_STORE_URL, else sqlite://./data/flagstone.sqlite)',
    )
    .option('--namespace <name>', 'root namespace, as the server uses it (default: FLAGSTONE_NAMESPACE, else flagstone)')
    .option('--server <url>', "a running server's URL, to go through its admin API (or FLAGSTONE_SERVER)")
    .option('--token <token>', 'admin token for --server (or FLAGSTONE_ADMIN_TOKEN)')
    .option('--json', 'print JSON for programs')
}

/** Runs `work` on an admin client, reports errors, always closes. */
export async function withAdmin(options: Options, work: (admin: AdminClient) => Promise<void>): Promise<void> {
  let admin: AdminClient | undefined
  try {
    // Loaded on use: the admin client brings Koa and the admin API, which `--help` does not need.
    const { connectAdmin, targetFromOptions } = await import('./admin-client.js')
    admin = await connectAdmin(targetFromOptions(options))
    await work(admin)
  } catch (error) {
    report(error, options)
  } finally {
    await admin?.close().catch(() => undefined)
  }
}

const path = (key: string) => `/flags/${encodeURIComponent(key)}`
const line = (flag: FlagSummary) =>
  `${flag.key}: ${flag.status}, ${flag.defaultEnabled ? 'on' : 'off'} by default (${flag.type}, version ${flag.version})`

export function flagsCommand(): Command {
  const flags = new Command('flags').description('list, read and change flags (on a store URL or a running server)')

  withTarget(flags.command('list').description('list flags'))
    .option('--status <status>', 'only flags with this status: active, inactive or archived')
    .option('--tag <tag>', 'only flags with this tag')
    .option('--search <text>', 'case-insensitive substring of key, name or description')
    .action((options: Options & { status?: string; tag?: string; search?: string }) =>
      withAdmin(options, async (admin) => {
        const query = new URLSearchParams({ limit: '500' })
        for (const name of ['status', 'tag', 'search'] as const) if (options[name] !== undefined) query.set(name, options[name])
        const page = (await admin.request('GET', `/flags?${query}`)) as { items: FlagSummary[] }
        emit(options, page.items, () =>
          page.items.length === 0
            ? '(no flags)'
            : table([
                ['KEY', 'TYPE', 'STATUS', 'DEFAULT', 'NAME'],
                ...page.items.map((f) => [f.key, f.type, f.status, f.defaultEnabled ? 'on' : 'off', f.name]),
              ]),
        )
      }),
    )

  withTarget(flags.command('get').argument('<key>', 'flag key').description('print one flag (the whole document)')).action(
    (key: string, options: Options) =>
      withAdmin(options, async (admin) => {
        const flag = await admin.request('GET', path(key))
        emit(options, flag, () => JSON.stringify(flag, null, 2))
      }),
  )

  withTarget(
    flags
      .command('create')
      .argument('<key>', 'flag key')
      .description('create a flag (off by default unless --enabled)')
      .option('--type <type>', 'boolean, string, number or json', 'boolean')
      .option('--name <name>', 'display name (default: the key)')
      .option('--description <text>', 'description')
      .option('--enabled', 'switched on by default')
      .option('--default-value <json>', 'the value it serves by default (JSON), for non-boolean flags')
      .option('--tag <tag...>', 'tags')
      .option('--data <json>', 'any other flag fields, as a JSON object (rules, variants, …)'),
  ).action(
    (
      key: string,
      options: Options & {
        type: string
        name?: string
        description?: string
        enabled?: boolean
        defaultValue?: string
        tag?: string[]
        data?: string
      },
    ) =>
      withAdmin(options, async (admin) => {
        const extra = options.data === undefined ? {} : (parseJsonOption(options.data, '--data') as Record<string, unknown>)
        const body = {
          ...extra,
          key,
          type: options.type,
          ...(options.name === undefined ? {} : { name: options.name }),
          ...(options.description === undefined ? {} : { description: options.description }),
          ...(options.enabled === undefined ? {} : { defaultEnabled: true }),
          ...(options.defaultValue === undefined
            ? {}
            : { defaultValue: parseJsonOption(options.defaultValue, '--default-value') }),
          ...(options.tag === undefined ? {} : { tags: options.tag }),
        }
        const flag = (await admin.request('POST', '/flags', body)) as FlagSummary
        emit(options, flag, () => `created ${line(flag)}`)
      }),
  )

  const switchTo = (on: boolean) => (key: string, options: Options) =>
    withAdmin(options, async (admin) => {
      const current = (await admin.request('GET', path(key))) as FlagSummary
      // An inactive flag serves nothing: enabling one makes it active as well. Archived flags need a restore first.
      const patch = on && current.status === 'inactive' ? { defaultEnabled: true, status: 'active' } : { defaultEnabled: on }
      const flag = (await admin.request('PATCH', path(key), patch, { 'if-match': `"${current.version}"` })) as FlagSummary
      emit(options, flag, () => line(flag))
    })
  withTarget(
    flags
      .command('enable')
      .argument('<key>', 'flag key')
      .description('switch a flag on by default (and make an inactive one active)'),
  ).action(switchTo(true))
  withTarget(flags.command('disable').argument('<key>', 'flag key').description('switch a flag off by default')).action(
    switchTo(false),
  )

  withTarget(
    flags.command('archive').argument('<key>', 'flag key').description('archive a flag (it then evaluates as disabled)'),
  ).action((key: string, options: Options) =>
    withAdmin(options, async (admin) => {
      const flag = (await admin.request('POST', `${path(key)}/archive`)) as FlagSummary
      emit(options, flag, () => line(flag))
    }),
  )

  withTarget(
    flags
      .command('delete')
      .argument('<key>', 'flag key')
      .description('delete a flag, its overrides and its environment settings'),
  ).action((key: string, options: Options) =>
    withAdmin(options, async (admin) => {
      // The command names the flag to delete: that is the intent If-Match asks for (the API answers 428 without).
      await admin.request('DELETE', path(key), undefined, { 'if-match': '*' })
      emit(options, { deleted: key }, () => `deleted ${key}`)
    }),
  )
  return flags
}
