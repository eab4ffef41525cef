/** Flags: search and filters, the on/off state per environment with a toggle each, archive/restore, and a new-flag form. */
import { useMemo, useState } from 'preact/hooks'
import { enc, listAll, request, staleError } from './api.ts'
import type { Environment, EnvironmentFlag, FeatureFlag, FlagStatus, FlagType } from './model.ts'
import { isOn, stateIn } from './model.ts'
import { ActionError, Field, Loading, Toggle, useAction, useLoad } from './ui.tsx'

const TYPES: FlagType[] = ['boolean', 'string', 'number', 'json']
const STATUSES: FlagStatus[] = ['active', 'inactive', 'archived']

/** JSON with object keys sorted: the list and a single read may order fields differently. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v,
  )
}

interface Data {
  flags: FeatureFlag[]
  environments: Environment[]
  settings: Map<string, EnvironmentFlag>
}

async function loadAll(search: string, status: string, tag: string): Promise<Data> {
  const query = { search: search.trim() || undefined, status: status || undefined, tag: tag || undefined }
  const [flags, environments] = await Promise.all([listAll<FeatureFlag>('flags', query), listAll<Environment>('environments')])
  const settings = new Map<string, EnvironmentFlag>()
  const lists = await Promise.all(environments.map((e) => listAll<EnvironmentFlag>(`environments/${enc(e.slug)}/flags`)))
  for (const s of lists.flat()) settings.set(`${s.environment}/${s.flagKey}`, s)
  return { flags, environments, settings }
}

function NewFlag(props: { onCreated: (key: string) => void }) {
  const [key, setKey] = useState('')
  const [name, setName] = useState('')
  const [type, setType] = useState<FlagType>('boolean')
  const action = useAction()
  const submit = (event: Event) => {
    event.preventDefault()
    void action.run(async () => {
      const body: Record<string, unknown> = { key: key.trim(), type, name: name.trim() || key.trim() }
      if (type === 'string') body.defaultValue = ''
      if (type === 'number') body.defaultValue = 0
      await request('POST', 'flags', { body })
      props.onCreated(key.trim())
    })
  }
  return (
    <form class="inline-form" onSubmit={submit} aria-label="New flag">
      <Field label="Key" error={action.error} field="key">
        {(id, d, invalid) => (
          <input
            id={id}
            required
            value={key}
            aria-describedby={d}
            aria-invalid={invalid}
            onInput={(e) => setKey(e.currentTarget.value)}
          />
        )}
      </Field>
      <Field label="Name" error={action.error} field="name">
        {(id, d) => <input id={id} value={name} aria-describedby={d} onInput={(e) => setName(e.currentTarget.value)} />}
      </Field>
      <Field label="Type" error={action.error} field="type">
        {(id) => (
          <select id={id} value={type} onChange={(e) => setType(e.currentTarget.value as FlagType)}>
            {TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        )}
      </Field>
      <button type="submit" disabled={action.busy}>
        Create flag
      </button>
      <ActionError error={action.error} fields={['key', 'name', 'type']} />
    </form>
  )
}

export function FlagsScreen() {
  const [search, setSearch] = useState('')
  const [status, setStatus] = useState('')
  const [tag, setTag] = useState('')
  const [type, setType] = useState('')
  const data = useLoad(() => loadAll(search, status, tag), [search, status, tag])
  const action = useAction()
  const [actionOn, setActionOn] = useState('')
  const tags = useMemo(() => [...new Set((data.data?.flags ?? []).flatMap((f) => f.tags))].sort(), [data.data])
  const environments = useMemo(() => new Map((data.data?.environments ?? []).map((e) => [e.slug, e])), [data.data])
  const flags = (data.data?.flags ?? []).filter((f) => type === '' || f.type === type)

  const act = (what: string, change: () => Promise<unknown>) => {
    setActionOn(what)
    void action.run(change).then((ok) => void (ok && data.reload()))
  }
  const toggleBase = (flag: FeatureFlag, on: boolean) =>
    act(`${flag.key}`, () =>
      request('PATCH', `flags/${enc(flag.key)}`, {
        version: flag.version,
        body: { status: on ? 'active' : 'inactive', ...(flag.type === 'boolean' ? { defaultEnabled: on } : {}) },
      }),
    )
  // The settings as this list shows them must still be the stored ones (If-Match with their ETag,
  // after checking the document read is the one shown); a protected environment asks first.
  const toggleIn = (flag: FeatureFlag, slug: string, on: boolean) =>
    act(`${flag.key}`, async () => {
      const path = `environments/${enc(slug)}/flags/${enc(flag.key)}`
      const current = data.data?.settings.get(`${slug}/${flag.key}`)
      let ifMatch: string | undefined
      if (current !== undefined) {
        const read = await request<EnvironmentFlag>('GET', path)
        if (canonical(read.data) !== canonical(current)) throw staleError()
        ifMatch = read.etag
      }
      const isProtected = environments.get(slug)?.settings.protected === true
      if (isProtected && !window.confirm(`"${slug}" is a protected environment. Turn ${flag.key} ${on ? 'on' : 'off'} there?`)) {
        return
      }
      const { environment: _e, flagKey: _k, ...fields } = current ?? { environment: slug, flagKey: flag.key }
      return request('PUT', path, { ifMatch, body: { ...fields, enabled: on, ...(isProtected ? { confirm: true } : {}) } })
    })

  return (
    <section aria-labelledby="flags-title">
      <h1 id="flags-title" tabIndex={-1}>
        Flags
      </h1>
      <NewFlag onCreated={(key) => (location.hash = `#/flags/${enc(key)}`)} />
      <form class="filters" role="search" aria-label="Filter flags" onSubmit={(e) => e.preventDefault()}>
        <Field label="Search">
          {(id) => <input id={id} type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />}
        </Field>
        <Field label="Status">
          {(id) => (
            <select id={id} value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
              <option value="">any</option>
              {STATUSES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Tag">
          {(id) => (
            <select id={id} value={tag} onChange={(e) => setTag(e.currentTarget.value)}>
              <option value="">any</option>
              {[...new Set([...tags, tag].filter(Boolean))].map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Type">
          {(id) => (
            <select id={id} value={type} onChange={(e) => setType(e.currentTarget.value)}>
              <option value="">any</option>
              {TYPES.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          )}
        </Field>
      </form>
      <ActionError error={data.error} />
      {data.data === undefined ? (
        <Loading what="flags" />
      ) : (
        <table class="flags">
          <caption class="muted">
            {flags.length} flag{flags.length === 1 ? '' : 's'}. “Flag” is the flag itself (what a request without an environment
            gets); each environment inherits it unless it sets its own.
          </caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Tags</th>
              <th scope="col">Flag</th>
              {data.data.environments.map((e) => (
                <th scope="col" key={e.slug}>
                  {e.name}
                </th>
              ))}
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {flags.map((flag) => (
              <tr key={flag.key} class={flag.status === 'archived' ? 'archived' : undefined}>
                <th scope="row">
                  <a href={`#/flags/${enc(flag.key)}`}>{flag.key}</a>
                  {flag.name !== flag.key ? <div class="muted small">{flag.name}</div> : null}
                </th>
                <td>{flag.type}</td>
                <td>
                  <span class={`badge ${flag.status}`}>{flag.status}</span>
                </td>
                <td>{flag.tags.join(', ')}</td>
                <td>
                  <Toggle
                    label={`${flag.key}: flag on`}
                    on={isOn(flag)}
                    disabled={flag.status === 'archived' || action.busy}
                    onChange={(on) => toggleBase(flag, on)}
                  />
                </td>
                {data.data!.environments.map((e) => {
                  const state = stateIn(flag, e.slug, environments, data.data!.settings)
                  return (
                    <td key={e.slug}>
                      <Toggle
                        label={`${flag.key}: on in ${e.name}`}
                        on={state.on}
                        disabled={flag.status === 'archived' || action.busy}
                        hint={state.source === e.slug ? `set in ${e.slug}` : `inherited from ${state.source}`}
                        onChange={(on) => toggleIn(flag, e.slug, on)}
                      />
                      {state.source === e.slug ? null : <span class="muted small"> inherited</span>}
                    </td>
                  )
                })}
                <td>
                  {flag.status === 'archived' ? (
                    <button type="button" class="secondary" onClick={() => act(flag.key, () => post(flag, 'restore'))}>
                      Restore<span class="visually-hidden"> {flag.key}</span>
                    </button>
                  ) : (
                    <button type="button" class="secondary" onClick={() => act(flag.key, () => post(flag, 'archive'))}>
                      Archive<span class="visually-hidden"> {flag.key}</span>
                    </button>
                  )}
                  {actionOn === flag.key ? <ActionError error={action.error} onReload={() => void data.reload()} /> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

const post = (flag: FeatureFlag, what: 'archive' | 'restore') =>
  request('POST', `flags/${enc(flag.key)}/${what}`, { version: flag.version })
