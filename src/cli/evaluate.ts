/** `flagstone evaluate <key> --context '{…}'`: the value, the reason and why (the admin API's `POST /evaluate`). */
import { Command } from 'commander'
import { type TargetOptions } from './admin-client.js'
import { withAdmin, withTarget } from './flags.js'
import { emit, type OutputOptions, parseJsonOption } from './output.js'

interface Evaluation {
  value: unknown
  reason: string
  variant?: string
  errorCode?: string
  errorMessage?: string
  revision: number
  explanation: null | {
    status: string
    rolloutPercentage: number | null
    override: unknown
    rules: Array<{ id: string; conditionsHold: boolean }>
    rule: { id: string } | null
    variant: { key: string } | null
    environment: null | { slug: string; chain: string[] }
  }
}

function describe(result: Evaluation): string {
  const lines = [
    `value: ${JSON.stringify(result.value)}`,
    `reason: ${result.reason}${result.variant ? ` (${result.variant})` : ''}`,
  ]
  if (result.errorCode !== undefined)
    lines.push(`error: ${result.errorCode}${result.errorMessage ? `: ${result.errorMessage}` : ''}`)
  const why = result.explanation
  if (why !== null) {
    lines.push(`status: ${why.status}`)
    if (why.environment !== null) lines.push(`environment: ${why.environment.slug} (chain ${why.environment.chain.join(' → ')})`)
    if (why.override !== null) lines.push(`override: ${JSON.stringify(why.override)}`)
    for (const rule of why.rules)
      lines.push(`rule ${rule.id}: ${rule.conditionsHold ? 'conditions hold' : 'conditions do not hold'}`)
    if (why.rolloutPercentage !== null) lines.push(`rollout: ${why.rolloutPercentage}%`)
  }
  lines.push(`revision: ${result.revision}`)
  return lines.join('\n')
}

export function evaluateCommand(): Command {
  return withTarget(
    new Command('evaluate')
      .argument('<key>', 'flag key')
      .description('evaluate a flag for a context and explain the result')
      .option('--context <json>', 'evaluation context, e.g. {"targetingKey":"u1","attributes":{"plan":"pro"}}', '{}')
      .option('--type <type>', 'the type the caller expects: boolean, string, number or json')
      .option('--default <json>', 'the default value the caller passes (JSON)'),
  ).action((key: string, options: TargetOptions & OutputOptions & { context: string; type?: string; default?: string }) =>
    withAdmin(options, async (admin) => {
      const body = {
        flagKey: key,
        context: parseJsonOption(options.context, '--context'),
        ...(options.type === undefined ? {} : { type: options.type }),
        ...(options.default === undefined ? {} : { defaultValue: parseJsonOption(options.default, '--default') }),
      }
      const result = (await admin.request('POST', '/evaluate', body)) as Evaluation
      emit(options, result, () => describe(result))
    }),
  )
}
