/**
 * One flag: its settings (name, description, tags, default value), rules, variants, schedules and
 * overrides. Every save sends `If-Match: "<version>"` of the flag as loaded: when someone else saved
 * in between the server answers 412 and the screen says so, with a reload, and nothing is overwritten.
 */
import { useState } from 'preact/hooks'
import { enc, getFlag, listAll, request } from './api.ts'
import { OverridesSection } from './flag-overrides.tsx'
import { RulesSection } from './flag-rules.tsx'
import { SchedulesSection } from './flag-schedules.tsx'
import { VariantsSection } from './flag-variants.tsx'
import type { FeatureFlag, FlagValue, Segment } from './model.ts'
import { isOn } from './model.ts'
import { ActionError, Field, fieldError, Loading, Toggle, formatTime, useAction, useLoad } from './ui.tsx'
import { ValueEditor } from './value-editor.tsx'

function Settings(props: { flag: FeatureFlag; onSaved: () => void; onReload: () => void }) {
  const { flag } = props
  const [name, setName] = useState(flag.name)
  const [description, setDescription] = useState(flag.description ?? '')
  const [tags, setTags] = useState(flag.tags.join(', '))
  const [defaultEnabled, setDefaultEnabled] = useState(flag.defaultEnabled)
  const [defaultValue, setDefaultValue] = useState<FlagValue | undefined>(flag.defaultValue)
  const action = useAction()
  const save = (event: Event) => {
    event.preventDefault()
    const body: Record<string, unknown> = {
      name,
      description: description.trim() === '' ? null : description,
      tags: tags
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    }
    if (flag.type === 'boolean') body.defaultEnabled = defaultEnabled
    else if (defaultValue !== undefined) body.defaultValue = defaultValue
    void action
      .run(() => request('PATCH', `flags/${enc(flag.key)}`, { version: flag.version, body }))
      .then((ok) => ok && props.onSaved())
  }
  return (
    <form class="card" aria-labelledby="settings-title" onSubmit={save}>
      <h2 id="settings-title">Settings</h2>
      <div class="row">
        <Field label="Name" error={action.error} field="name">
          {(id, d, invalid) => (
            <input
              id={id}
              value={name}
              aria-describedby={d}
              aria-invalid={invalid}
              onInput={(e) => setName(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label="Tags" error={action.error} field="tags" hint="Comma-separated">
          {(id, d, invalid) => (
            <input
              id={id}
              value={tags}
              aria-describedby={d}
              aria-invalid={invalid}
              onInput={(e) => setTags(e.currentTarget.value)}
            />
          )}
        </Field>
        {flag.type === 'boolean' ? (
          <label class="check">
            <input type="checkbox" checked={defaultEnabled} onChange={(e) => setDefaultEnabled(e.currentTarget.checked)} />
            Default: serve true
          </label>
        ) : (
          <ValueEditor
            label="Default value"
            type={flag.type}
            value={defaultValue}
            error={fieldError(action.error, 'defaultValue')}
            onChange={setDefaultValue}
          />
        )}
      </div>
      <Field label="Description" error={action.error} field="description">
        {(id, d) => (
          <textarea
            id={id}
            rows={2}
            value={description}
            aria-describedby={d}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        )}
      </Field>
      <div class="actions">
        <button type="submit" disabled={action.busy}>
          Save settings
        </button>
      </div>
      <ActionError error={action.error} fields={['name', 'tags', 'description', 'defaultValue']} onReload={props.onReload} />
    </form>
  )
}

export function FlagScreen(props: { flagKey: string }) {
  const key = props.flagKey
  const loaded = useLoad(async () => {
    const [flag, segments] = await Promise.all([getFlag(key), listAll<Segment>('segments')])
    return { flag, segments }
  }, [key])
  const status = useAction()
  if (loaded.data === undefined) {
    return loaded.error === undefined ? <Loading what={`flag ${key}`} /> : <ActionError error={loaded.error} />
  }
  const { flag, segments } = loaded.data
  const reload = () => void loaded.reload()
  const setStatus = (path: string, body?: unknown) =>
    void status
      .run(() => request(body === undefined ? 'POST' : 'PATCH', `flags/${enc(key)}${path}`, { version: flag.version, body }))
      .then((ok) => ok && reload())
  return (
    <section aria-labelledby="flag-title" class="flag-screen">
      <p class="crumbs">
        <a href="#/flags">Flags</a> /
      </p>
      <div class="title-row">
        <h1 id="flag-title" tabIndex={-1}>
          {flag.key}
        </h1>
        <span class={`badge ${flag.status}`}>{flag.status}</span>
        <span class="muted">
          {flag.type} · version {flag.version} · saved {formatTime(flag.updatedAt)}
        </span>
        <Toggle
          label={`${flag.key}: flag on`}
          on={isOn(flag)}
          disabled={flag.status === 'archived' || status.busy}
          onChange={(on) =>
            setStatus('', { status: on ? 'active' : 'inactive', ...(flag.type === 'boolean' ? { defaultEnabled: on } : {}) })
          }
        />
        {flag.status === 'archived' ? (
          <button type="button" class="secondary" onClick={() => setStatus('/restore')}>
            Restore
          </button>
        ) : (
          <button type="button" class="secondary" onClick={() => setStatus('/archive')}>
            Archive
          </button>
        )}
        <a href={`#/evaluate/${enc(key)}`}>Evaluate</a>
        <a href={`#/audit/${enc(key)}`}>History</a>
      </div>
      <ActionError error={status.error} onReload={reload} />
      {/* Keyed by version: a reload after someone else's save starts the forms from their document. */}
      <Settings key={flag.version} flag={flag} onSaved={reload} onReload={reload} />
      <RulesSection flag={flag} segments={segments} onChanged={reload} />
      <VariantsSection key={`v${flag.version}`} flag={flag} onChanged={reload} />
      <SchedulesSection key={`s${flag.version}`} flag={flag} onChanged={reload} />
      <OverridesSection flag={flag} />
    </section>
  )
}
