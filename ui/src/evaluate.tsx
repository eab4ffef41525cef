/** Evaluate / explain: a flag and a context in, the value, reason and variant out, and why, step by step. */
import { useState } from 'preact/hooks'
import { listAll, request } from './api.ts'
import type { Condition, FeatureFlag, FlagRule, FlagValue, Reason } from './model.ts'
import { ActionError, Field, useAction, useLoad } from './ui.tsx'

interface Explanation {
  now: string
  status: string
  rolloutPercentage: number | null
  scheduledChangesApplied: string[]
  environment: null | { slug: string; known: boolean; chain: string[]; sources: Record<string, string> }
  timeSchedules: { id: string; open: boolean }[]
  overrides: { entityType: string; entityId: string }[]
  override: { entityType: string; entityId: string } | null
  rules: (Omit<FlagRule, 'conditions'> & { conditions: (Condition & { result: boolean })[]; conditionsHold: boolean })[]
  rule: FlagRule | null
  variant: { key: string } | null
}
interface Result {
  flagKey: string
  value: FlagValue
  reason: Reason
  variant?: string
  errorCode?: string
  errorMessage?: string
  explanation: Explanation | null
}

const FIELDS = [
  'targetingKey',
  'userId',
  'organizationId',
  'tenantId',
  'environment',
  'appVersion',
  'ipAddress',
  'country',
] as const

function Steps(props: { result: Result }) {
  const x = props.result.explanation
  if (x === null) return <p>The flag does not exist: the default value was served.</p>
  const steps: { text: string; decided?: boolean }[] = [
    {
      text: `Evaluated at ${new Date(x.now).toLocaleString()}; the flag is ${x.status}.`,
      decided: props.result.reason === 'DISABLED' && x.status !== 'active',
    },
  ]
  if (x.scheduledChangesApplied.length > 0)
    steps.push({ text: `Scheduled changes applied: ${x.scheduledChangesApplied.join(', ')}.` })
  if (x.environment !== null) {
    const sources = Object.entries(x.environment.sources)
      .map(([field, source]) => `${field} from ${source}`)
      .join(', ')
    steps.push({
      text: x.environment.known
        ? `Environment ${x.environment.slug} (chain ${x.environment.chain.join(' → ')} → flag): ${sources}.`
        : `Environment ${x.environment.slug} is unknown: the flag itself was evaluated.`,
    })
  }
  steps.push({
    text:
      x.override === null
        ? `No override for this context${x.overrides.length > 0 ? ` (${x.overrides.length} matching but not deciding)` : ''}.`
        : `Override for ${x.override.entityType} ${x.override.entityId} decided.`,
    decided: x.override !== null,
  })
  for (const s of x.timeSchedules) steps.push({ text: `Time window ${s.id} is ${s.open ? 'open' : 'closed'}.` })
  if (x.rolloutPercentage !== null) steps.push({ text: `Rollout gate: ${x.rolloutPercentage} % of subjects.` })
  for (const rule of x.rules) {
    const conditions = rule.conditions.map(
      (c) => `${c.attribute} ${c.operator} ${JSON.stringify(c.value ?? null)} → ${c.result ? 'yes' : 'no'}`,
    )
    const tested = conditions.length === 0 ? 'no conditions' : conditions.join('; ')
    const rollout = rule.rolloutPercentage === undefined ? '' : `, rollout ${rule.rolloutPercentage} %`
    const outcome = rule.conditionsHold ? `conditions hold${rollout}` : 'does not match'
    steps.push({
      text: `Rule “${rule.name}”${rule.enabled ? '' : ' (disabled)'}: ${tested} — ${outcome}.`,
      decided: x.rule?.id === rule.id,
    })
  }
  if (x.variant !== null) steps.push({ text: `Split: variant ${x.variant.key} was picked by weight.`, decided: true })
  if (!steps.some((s) => s.decided)) steps.push({ text: `Nothing above decided: ${props.result.reason}.`, decided: true })
  return (
    <ol class="steps">
      {steps.map((s, i) => (
        <li key={i} class={s.decided ? 'decided' : undefined}>
          {s.text}
          {s.decided ? <strong> ← decided</strong> : null}
        </li>
      ))}
    </ol>
  )
}

export function EvaluateScreen(props: { initialFlag?: string | undefined }) {
  const flags = useLoad(() => listAll<FeatureFlag>('flags'), [])
  const [flagKey, setFlagKey] = useState(props.initialFlag ?? '')
  const [context, setContext] = useState<Record<string, string>>({})
  const [attributes, setAttributes] = useState('{}')
  const [result, setResult] = useState<Result | undefined>(undefined)
  const action = useAction()
  const key = flagKey || flags.data?.[0]?.key || ''
  const submit = (event: Event) => {
    event.preventDefault()
    void action.run(async () => {
      let attrs: unknown
      try {
        attrs = JSON.parse(attributes || '{}')
      } catch {
        throw new Error('context.attributes: not valid JSON')
      }
      const ctx = Object.fromEntries(Object.entries(context).filter(([, v]) => v !== ''))
      const body = { flagKey: key, context: { ...ctx, ...(attrs && Object.keys(attrs).length > 0 ? { attributes: attrs } : {}) } }
      setResult((await request<Result>('POST', 'evaluate', { body })).data)
    })
  }
  return (
    <section aria-labelledby="eval-title">
      <h1 id="eval-title" tabIndex={-1}>
        Evaluate
      </h1>
      <p class="muted">Why does this user see that? Enter a context; the server evaluates it exactly as the flag client does.</p>
      <form class="card" onSubmit={submit} aria-label="Evaluation context">
        <div class="row">
          <Field label="Flag" error={action.error} field="flagKey">
            {(id, d) => (
              <select id={id} value={key} aria-describedby={d} onChange={(e) => setFlagKey(e.currentTarget.value)}>
                {(flags.data ?? []).map((f) => (
                  <option key={f.key}>{f.key}</option>
                ))}
              </select>
            )}
          </Field>
          {FIELDS.map((f) => (
            <Field key={f} label={f} error={action.error} field={`context.${f}`}>
              {(id, d) => (
                <input
                  id={id}
                  value={context[f] ?? ''}
                  aria-describedby={d}
                  onInput={(e) => setContext({ ...context, [f]: e.currentTarget.value })}
                />
              )}
            </Field>
          ))}
        </div>
        <Field label="Attributes (JSON object)" error={action.error} field="context.attributes">
          {(id, d) => (
            <textarea
              id={id}
              rows={2}
              value={attributes}
              aria-describedby={d}
              onInput={(e) => setAttributes(e.currentTarget.value)}
            />
          )}
        </Field>
        <button type="submit" disabled={action.busy || key === ''}>
          Evaluate
        </button>
        <ActionError error={action.error ?? flags.error} fields={['flagKey', 'context']} />
      </form>
      {result === undefined ? null : (
        <section class="card result" aria-labelledby="result-title" aria-live="polite">
          <h2 id="result-title">Result</h2>
          <dl class="facts">
            <dt>Value</dt>
            <dd>
              <code>{JSON.stringify(result.value)}</code>
            </dd>
            <dt>Reason</dt>
            <dd>{result.reason}</dd>
            <dt>Variant</dt>
            <dd>{result.variant ?? '—'}</dd>
            {result.errorCode === undefined ? null : (
              <>
                <dt>Error</dt>
                <dd>
                  {result.errorCode}: {result.errorMessage}
                </dd>
              </>
            )}
          </dl>
          <h3>Explanation</h3>
          <Steps result={result} />
        </section>
      )}
    </section>
  )
}
