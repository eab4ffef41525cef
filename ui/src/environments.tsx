/**
 * Environments: the inheritance tree drawn, new environments, and promotion — a dry run first,
 * its diff shown field by field, then "Promote" (a protected target asks to confirm once more).
 */
import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { listAll, request } from './api.ts'
import type { Environment, EnvironmentFlag, FeatureFlag } from './model.ts'
import { ActionError, Field, Loading, useAction, useLoad } from './ui.tsx'

interface Change {
  field: string
  before: unknown
  after: unknown
}
interface Plan {
  flagKey: string
  from: string
  to: string
  before?: EnvironmentFlag
  after?: EnvironmentFlag
  changes: Change[]
}
interface Promotion {
  from: string
  to: string
  dryRun: boolean
  plans: Plan[]
}

function Tree(props: { environments: Environment[]; parent?: string | undefined }): ComponentChildren {
  const children = props.environments.filter((e) =>
    props.parent === undefined
      ? e.parent === undefined || !props.environments.some((p) => p.slug === e.parent)
      : e.parent === props.parent,
  )
  if (children.length === 0) return null
  return (
    <ul class="tree">
      {children.map((e) => (
        <li key={e.slug}>
          <span class="env">
            <strong>{e.name}</strong> <code>{e.slug}</code>
            {e.settings.protected === true ? <span class="badge protected">protected</span> : null}
          </span>
          <Tree environments={props.environments} parent={e.slug} />
        </li>
      ))}
    </ul>
  )
}

function NewEnvironment(props: { environments: Environment[]; onCreated: () => void }) {
  const [slug, setSlug] = useState('')
  const [name, setName] = useState('')
  const [parent, setParent] = useState('')
  const [protect, setProtect] = useState(false)
  const action = useAction()
  const submit = (event: Event) => {
    event.preventDefault()
    const body = {
      slug: slug.trim(),
      name: name.trim() || slug.trim(),
      ...(parent === '' ? {} : { parent }),
      settings: { protected: protect },
    }
    void action
      .run(() => request('POST', 'environments', { body }))
      .then((ok) => ok && (setSlug(''), setName(''), props.onCreated()))
  }
  return (
    <form class="row card" aria-label="New environment" onSubmit={submit}>
      <Field label="Slug" error={action.error} field="slug" hint="a-z, 0-9, - and _">
        {(id, d, invalid) => (
          <input
            id={id}
            required
            value={slug}
            aria-describedby={d}
            aria-invalid={invalid}
            onInput={(e) => setSlug(e.currentTarget.value)}
          />
        )}
      </Field>
      <Field label="Environment name" error={action.error} field="name">
        {(id, d) => <input id={id} value={name} aria-describedby={d} onInput={(e) => setName(e.currentTarget.value)} />}
      </Field>
      <Field label="Inherits from" error={action.error} field="parent">
        {(id, d) => (
          <select id={id} value={parent} aria-describedby={d} onChange={(e) => setParent(e.currentTarget.value)}>
            <option value="">nothing (the flag itself)</option>
            {props.environments.map((e) => (
              <option key={e.slug} value={e.slug}>
                {e.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <label class="check">
        <input type="checkbox" checked={protect} onChange={(e) => setProtect(e.currentTarget.checked)} />
        Protected
      </label>
      <button type="submit" disabled={action.busy}>
        Create environment
      </button>
      <ActionError error={action.error} fields={['slug', 'name', 'parent']} />
    </form>
  )
}

const show = (v: unknown) => (v === undefined ? 'inherits' : JSON.stringify(v))

function Promote(props: { environments: Environment[]; flags: FeatureFlag[] }) {
  const { environments } = props
  const [from, setFrom] = useState(environments[0]?.slug ?? '')
  const [to, setTo] = useState(environments[1]?.slug ?? '')
  const [flagKey, setFlagKey] = useState('all')
  const [diff, setDiff] = useState<Promotion | undefined>(undefined)
  const [done, setDone] = useState<Promotion | undefined>(undefined)
  const [confirming, setConfirming] = useState(false)
  const action = useAction()
  const target = environments.find((e) => e.slug === to)
  const body = (dryRun: boolean, confirm: boolean) => ({ flagKey, from, to, dryRun, confirm })
  const preview = (event: Event) => {
    event.preventDefault()
    setDone(undefined)
    setConfirming(false)
    void action.run(async () => setDiff((await request<Promotion>('POST', 'promote', { body: body(true, false) })).data))
  }
  const promote = () => {
    if (target?.settings.protected === true && !confirming) return setConfirming(true)
    void action.run(async () => {
      setDone((await request<Promotion>('POST', 'promote', { body: body(false, confirming) })).data)
      setDiff(undefined)
      setConfirming(false)
    })
  }
  const select = (label: string, value: string, set: (v: string) => void) => (
    <Field label={label} error={action.error} field={label === 'From' ? 'from' : 'to'}>
      {(id, d) => (
        <select id={id} value={value} aria-describedby={d} onChange={(e) => (set(e.currentTarget.value), setDiff(undefined))}>
          {environments.map((e) => (
            <option key={e.slug} value={e.slug}>
              {e.name}
            </option>
          ))}
        </select>
      )}
    </Field>
  )
  return (
    <section class="card" aria-labelledby="promote-title">
      <h2 id="promote-title">Promote</h2>
      <form class="row" onSubmit={preview} aria-label="Promotion">
        {select('From', from, setFrom)}
        {select('To', to, setTo)}
        <Field label="Flag" error={action.error} field="flagKey">
          {(id) => (
            <select id={id} value={flagKey} onChange={(e) => (setFlagKey(e.currentTarget.value), setDiff(undefined))}>
              <option value="all">all flags</option>
              {props.flags.map((f) => (
                <option key={f.key}>{f.key}</option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" disabled={action.busy || environments.length < 2}>
          Preview changes
        </button>
      </form>
      {diff === undefined ? null : (
        <div class="diff" aria-live="polite">
          <h3>
            Dry run: {diff.from} → {diff.to}
          </h3>
          {diff.plans.length === 0 ? (
            <p>Nothing to promote: {diff.to} already matches.</p>
          ) : (
            <table>
              <caption class="visually-hidden">Changes promotion would make</caption>
              <thead>
                <tr>
                  <th scope="col">Flag</th>
                  <th scope="col">Field</th>
                  <th scope="col">Now in {diff.to}</th>
                  <th scope="col">After</th>
                </tr>
              </thead>
              <tbody>
                {diff.plans.flatMap((p) =>
                  p.changes.map((c) => (
                    <tr key={`${p.flagKey}.${c.field}`}>
                      <th scope="row">{p.flagKey}</th>
                      <td>{c.field}</td>
                      <td class="before">{show(c.before)}</td>
                      <td class="after">{show(c.after)}</td>
                    </tr>
                  )),
                )}
              </tbody>
            </table>
          )}
          {diff.plans.length === 0 ? null : confirming ? (
            <div class="alert conflict" role="alert">
              {target?.name} is protected. Promote {diff.plans.length} flag(s) into it?{' '}
              <button type="button" class="danger" onClick={promote} disabled={action.busy}>
                Yes, promote into {target?.name}
              </button>{' '}
              <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          ) : (
            <button type="button" onClick={promote} disabled={action.busy}>
              Promote {diff.plans.length} flag(s)
            </button>
          )}
        </div>
      )}
      {done === undefined ? null : (
        <p class="ok" role="status">
          Promoted {done.plans.length} flag(s) from {done.from} to {done.to}.
        </p>
      )}
      <ActionError error={action.error} fields={['from', 'to', 'flagKey']} />
    </section>
  )
}

export function EnvironmentsScreen() {
  const data = useLoad(async () => {
    const [environments, flags] = await Promise.all([listAll<Environment>('environments'), listAll<FeatureFlag>('flags')])
    return { environments, flags }
  }, [])
  return (
    <section aria-labelledby="envs-title">
      <h1 id="envs-title" tabIndex={-1}>
        Environments
      </h1>
      <ActionError error={data.error} />
      {data.data === undefined ? (
        <Loading what="environments" />
      ) : (
        <>
          <section class="card" aria-labelledby="chain-title">
            <h2 id="chain-title">Inheritance</h2>
            <p class="muted">
              Each environment takes every setting it does not set itself from the one above it, then from the flag.
            </p>
            {data.data.environments.length === 0 ? (
              <p class="muted">No environments yet.</p>
            ) : (
              <Tree environments={data.data.environments} />
            )}
          </section>
          <NewEnvironment environments={data.data.environments} onCreated={() => void data.reload()} />
          <Promote key={data.data.environments.length} environments={data.data.environments} flags={data.data.flags} />
        </>
      )}
    </section>
  )
}
