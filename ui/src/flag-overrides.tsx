/** A flag's overrides: one entity (user, organization, tenant, targetingKey or any attribute) gets a fixed answer, maybe until a time. */
import { useState } from 'preact/hooks'
import { enc, listAll, request } from './api.ts'
import type { FeatureFlag, FlagOverride, FlagValue } from './model.ts'
import { ActionError, Field, formatTime, fromLocalInput, Loading, useAction, useLoad } from './ui.tsx'
import { ValueEditor } from './value-editor.tsx'

export function OverridesSection(props: { flag: FeatureFlag }) {
  const { flag } = props
  const list = useLoad(() => listAll<FlagOverride>(`flags/${enc(flag.key)}/overrides`), [flag.key])
  const [entityType, setEntityType] = useState('user')
  const [entityId, setEntityId] = useState('')
  const [enabled, setEnabled] = useState(true)
  const [value, setValue] = useState<FlagValue | undefined>(flag.defaultValue)
  const [expires, setExpires] = useState('')
  const action = useAction()
  const path = (o: { entityType: string; entityId: string }) =>
    `flags/${enc(flag.key)}/overrides/${enc(o.entityType)}/${enc(o.entityId)}`
  const add = (event: Event) => {
    event.preventDefault()
    const body: Record<string, unknown> = { enabled }
    if (flag.type !== 'boolean' && value !== undefined) body.value = value
    if (expires !== '') body.expiresAt = fromLocalInput(expires)
    void action
      .run(() => request('PUT', path({ entityType, entityId }), { body }))
      .then((ok) => void (ok && (setEntityId(''), list.reload())))
  }
  const expire = (o: FlagOverride) =>
    void action
      .run(() =>
        request('PUT', path(o), {
          body: { enabled: o.enabled, ...(o.value === undefined ? {} : { value: o.value }), expiresAt: new Date().toISOString() },
        }),
      )
      .then((ok) => void (ok && list.reload()))
  // The user deletes the override they see by name: If-Match * (the API wants a precondition on every DELETE).
  const remove = (o: FlagOverride) =>
    void action.run(() => request('DELETE', path(o), { ifMatch: '*' })).then((ok) => void (ok && list.reload()))
  const now = Date.now()
  return (
    <section class="card" aria-labelledby="overrides-title">
      <h2 id="overrides-title">Overrides</h2>
      {list.data === undefined ? (
        <Loading what="overrides" />
      ) : list.data.length === 0 ? (
        <p class="muted">No overrides.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Entity</th>
              <th scope="col">Serves</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((o) => {
              const expired = o.expiresAt !== undefined && Date.parse(o.expiresAt) <= now
              return (
                <tr key={`${o.entityType}/${o.entityId}`} class={expired ? 'archived' : undefined}>
                  <td>
                    {o.entityType}: <code>{o.entityId}</code>
                  </td>
                  <td>
                    {flag.type === 'boolean'
                      ? String(o.enabled)
                      : o.enabled
                        ? JSON.stringify(o.value ?? flag.defaultValue)
                        : 'off value'}
                  </td>
                  <td>{o.expiresAt === undefined ? 'never' : `${formatTime(o.expiresAt)}${expired ? ' (expired)' : ''}`}</td>
                  <td>
                    {expired ? null : (
                      <button type="button" class="secondary small" onClick={() => expire(o)}>
                        Expire now<span class="visually-hidden"> {o.entityId}</span>
                      </button>
                    )}{' '}
                    <button type="button" class="danger small" onClick={() => remove(o)}>
                      Remove<span class="visually-hidden"> {o.entityId}</span>
                    </button>
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      )}
      <form class="row" aria-label="New override" onSubmit={add}>
        <Field label="Entity type" error={action.error} field="entityType">
          {(id, d) => (
            <input
              id={id}
              list="entity-types"
              value={entityType}
              aria-describedby={d}
              onInput={(e) => setEntityType(e.currentTarget.value)}
            />
          )}
        </Field>
        <datalist id="entity-types">
          {['user', 'organization', 'tenant', 'targetingKey'].map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
        <Field label="Entity id" error={action.error} field="entityId">
          {(id, d) => (
            <input id={id} required value={entityId} aria-describedby={d} onInput={(e) => setEntityId(e.currentTarget.value)} />
          )}
        </Field>
        <label class="check">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
          {flag.type === 'boolean' ? 'Serve true' : 'On'}
        </label>
        {flag.type === 'boolean' ? null : <ValueEditor label="Value" type={flag.type} value={value} onChange={setValue} />}
        <Field label="Expires (optional)" error={action.error} field="expiresAt">
          {(id, d) => (
            <input
              id={id}
              type="datetime-local"
              value={expires}
              aria-describedby={d}
              onInput={(e) => setExpires(e.currentTarget.value)}
            />
          )}
        </Field>
        <button type="submit" disabled={action.busy}>
          Add override
        </button>
      </form>
      <ActionError error={action.error ?? list.error} fields={['entityType', 'entityId', 'expiresAt']} />
    </section>
  )
}
