/** A flag's rules: conditions, what they serve, rollout percentage, order (drag, or the up/down buttons); every write sends If-Match. */
import { useState } from 'preact/hooks'
import { enc, request } from './api.ts'
import { ConditionsEditor, conditionBody } from './conditions.tsx'
import type { FeatureFlag, FlagRule, Segment } from './model.ts'
import { ValueEditor } from './value-editor.tsx'
import { ActionError, Field, fieldError, useAction } from './ui.tsx'

interface Draft extends Omit<FlagRule, 'id' | 'priority'> {
  id?: string
}

const blank = (): Draft => ({ name: '', enabled: true, conditions: [], serveEnabled: true, rolloutPercentage: 100 })

function RuleForm(props: {
  flag: FeatureFlag
  rule: Draft
  index: number
  count: number
  segments: Segment[]
  onSaved: () => void
  onCancel?: () => void
  onMove?: (delta: number) => void
  saveError: unknown
}) {
  const { flag } = props
  const [draft, setDraft] = useState<Draft>(props.rule)
  const action = useAction()
  const isNew = props.rule.id === undefined
  const title = isNew ? 'New rule' : `Rule ${props.index + 1}: ${draft.name || props.rule.id}`
  const save = (event: Event) => {
    event.preventDefault()
    const body: Record<string, unknown> = {
      name: draft.name.trim() || undefined,
      enabled: draft.enabled,
      conditions: draft.conditions.map(conditionBody),
      serveEnabled: draft.serveEnabled,
      ...(draft.rolloutPercentage === undefined || Number.isNaN(draft.rolloutPercentage)
        ? {}
        : { rolloutPercentage: draft.rolloutPercentage }),
      ...(flag.type !== 'boolean' && draft.serveValue !== undefined ? { serveValue: draft.serveValue } : {}),
    }
    void action
      .run(() =>
        isNew
          ? request('POST', `flags/${enc(flag.key)}/rules`, { version: flag.version, body })
          : request('PUT', `flags/${enc(flag.key)}/rules/${enc(props.rule.id!)}`, { version: flag.version, body }),
      )
      .then((ok) => ok && props.onSaved())
  }
  const remove = () =>
    void action
      .run(() => request('DELETE', `flags/${enc(flag.key)}/rules/${enc(props.rule.id!)}`, { version: flag.version }))
      .then((ok) => ok && props.onSaved())
  const path = 'rules[0]'
  const error = action.error ?? props.saveError
  return (
    <form class="card rule" aria-label={title} onSubmit={save}>
      <div class="card-head">
        <h3>{title}</h3>
        {props.onMove === undefined ? null : (
          <span class="order">
            <button type="button" class="secondary small" disabled={props.index === 0} onClick={() => props.onMove!(-1)}>
              Move up<span class="visually-hidden"> {title}</span>
            </button>
            <button
              type="button"
              class="secondary small"
              disabled={props.index === props.count - 1}
              onClick={() => props.onMove!(1)}
            >
              Move down<span class="visually-hidden"> {title}</span>
            </button>
          </span>
        )}
      </div>
      <div class="row">
        <Field label="Rule name" error={action.error} field={`${path}.name`}>
          {(id, d) => (
            <input
              id={id}
              value={draft.name}
              aria-describedby={d}
              onInput={(e) => setDraft({ ...draft, name: e.currentTarget.value })}
            />
          )}
        </Field>
        <Field
          label="Rollout %"
          error={action.error}
          field={`${path}.rolloutPercentage`}
          hint="Of the users that match; the rest fall through."
        >
          {(id, d, invalid) => (
            <input
              id={id}
              type="number"
              min={0}
              max={100}
              step="any"
              value={draft.rolloutPercentage ?? 100}
              aria-describedby={d}
              aria-invalid={invalid}
              onInput={(e) => setDraft({ ...draft, rolloutPercentage: e.currentTarget.valueAsNumber })}
            />
          )}
        </Field>
        <label class="check">
          <input
            type="checkbox"
            checked={draft.enabled}
            onChange={(e) => setDraft({ ...draft, enabled: e.currentTarget.checked })}
          />
          Rule enabled
        </label>
        {flag.type === 'boolean' ? (
          <label class="check">
            <input
              type="checkbox"
              checked={draft.serveEnabled}
              onChange={(e) => setDraft({ ...draft, serveEnabled: e.currentTarget.checked })}
            />
            Serve true
          </label>
        ) : (
          <ValueEditor
            label="Serve value"
            type={flag.type}
            value={draft.serveValue}
            error={fieldError(action.error, `${path}.serveValue`)}
            onChange={(serveValue) => setDraft({ ...draft, serveValue })}
          />
        )}
      </div>
      <ConditionsEditor
        label="Conditions"
        conditions={draft.conditions}
        segments={props.segments}
        error={fieldError(action.error, `${path}.conditions`)}
        onChange={(conditions) => setDraft({ ...draft, conditions })}
      />
      <div class="actions">
        <button type="submit" disabled={action.busy}>
          {isNew ? 'Add rule' : 'Save rule'}
        </button>
        {isNew ? (
          <button type="button" class="secondary" onClick={props.onCancel}>
            Cancel
          </button>
        ) : (
          <button type="button" class="danger" disabled={action.busy} onClick={remove}>
            Delete rule
          </button>
        )}
      </div>
      <ActionError
        error={error}
        fields={[`${path}.name`, `${path}.rolloutPercentage`, `${path}.serveValue`, `${path}.conditions`]}
        onReload={props.onSaved}
      />
    </form>
  )
}

/** Lower priority first, ties in document order: the server's order. */
export const byPriority = (rules: readonly FlagRule[]) =>
  rules
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.priority - b.r.priority || a.i - b.i)
    .map(({ r }) => r)

export function RulesSection(props: { flag: FeatureFlag; segments: Segment[]; onChanged: () => void }) {
  const { flag } = props
  const [adding, setAdding] = useState(false)
  const [dragged, setDragged] = useState<number | undefined>(undefined)
  const reorder = useAction()
  const rules = byPriority(flag.rules)
  const move = (from: number, to: number) => {
    if (to < 0 || to >= rules.length || from === to) return
    const ids = rules.map((r) => r.id)
    const [id] = ids.splice(from, 1)
    ids.splice(to, 0, id!)
    void reorder
      .run(() => request('POST', `flags/${enc(flag.key)}/rules/reorder`, { version: flag.version, body: { ids } }))
      .then((ok) => ok && props.onChanged())
  }
  return (
    <section aria-labelledby="rules-title">
      <h2 id="rules-title">Rules</h2>
      <p class="muted">First match serves. Drag a rule, or use Move up / Move down, to change the order.</p>
      <ActionError error={reorder.error} onReload={props.onChanged} />
      <ol class="rules">
        {rules.map((rule, index) => (
          <li
            key={`${rule.id}@${flag.version}`}
            draggable
            class={dragged === index ? 'dragging' : undefined}
            onDragStart={(e) => (setDragged(index), e.dataTransfer?.setData('text/plain', rule.id))}
            onDragOver={(e) => e.preventDefault()}
            onDrop={(e) => (e.preventDefault(), dragged !== undefined && move(dragged, index), setDragged(undefined))}
            onDragEnd={() => setDragged(undefined)}
          >
            <RuleForm
              flag={flag}
              rule={rule}
              index={index}
              count={rules.length}
              segments={props.segments}
              onSaved={props.onChanged}
              onMove={(delta) => move(index, index + delta)}
              saveError={undefined}
            />
          </li>
        ))}
      </ol>
      {adding ? (
        <RuleForm
          flag={flag}
          rule={blank()}
          index={rules.length}
          count={rules.length + 1}
          segments={props.segments}
          onSaved={() => (setAdding(false), props.onChanged())}
          onCancel={() => setAdding(false)}
          saveError={undefined}
        />
      ) : (
        <button type="button" onClick={() => setAdding(true)}>
          New rule
        </button>
      )}
    </section>
  )
}
