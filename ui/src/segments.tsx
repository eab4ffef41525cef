/** Segments: named condition sets (with an optional parent) that rules use through `in segment`. */
import { useState } from 'preact/hooks'
import { enc, listAll, request } from './api.ts'
import { ConditionsEditor, conditionBody } from './conditions.tsx'
import type { Condition, Segment } from './model.ts'
import { ActionError, Field, fieldError, Loading, useAction, useLoad } from './ui.tsx'

function SegmentForm(props: { segment?: Segment; segments: Segment[]; onSaved: () => void; onCancel: () => void }) {
  const existing = props.segment
  const [key, setKey] = useState(existing?.key ?? '')
  const [name, setName] = useState(existing?.name ?? '')
  const [description, setDescription] = useState(existing?.description ?? '')
  const [parent, setParent] = useState(existing?.parent ?? '')
  const [conditions, setConditions] = useState<Condition[]>(existing?.conditions ?? [])
  const action = useAction()
  const save = (event: Event) => {
    event.preventDefault()
    const body = {
      key: key.trim(),
      name: name.trim() || key.trim(),
      ...(description.trim() === '' ? {} : { description }),
      ...(parent === '' ? {} : { parent }),
      conditions: conditions.map(conditionBody),
    }
    void action
      .run(() =>
        existing === undefined
          ? request('POST', 'segments', { body })
          : request('PUT', `segments/${enc(existing.key)}`, { body }),
      )
      .then((ok) => ok && props.onSaved())
  }
  return (
    <form class="card" aria-label={existing === undefined ? 'New segment' : `Edit segment ${existing.key}`} onSubmit={save}>
      <h2>{existing === undefined ? 'New segment' : `Segment ${existing.key}`}</h2>
      <div class="row">
        <Field label="Segment key" error={action.error} field="key">
          {(id, d, invalid) => (
            <input
              id={id}
              required
              readOnly={existing !== undefined}
              value={key}
              aria-describedby={d}
              aria-invalid={invalid}
              onInput={(e) => setKey(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label="Segment name" error={action.error} field="name">
          {(id, d) => <input id={id} value={name} aria-describedby={d} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label="Parent segment" error={action.error} field="parent" hint="Its conditions must hold too.">
          {(id, d) => (
            <select id={id} value={parent} aria-describedby={d} onChange={(e) => setParent(e.currentTarget.value)}>
              <option value="">none</option>
              {props.segments
                .filter((s) => s.key !== existing?.key)
                .map((s) => (
                  <option key={s.key} value={s.key}>
                    {s.name}
                  </option>
                ))}
            </select>
          )}
        </Field>
      </div>
      <Field label="Description" error={action.error} field="description">
        {(id) => <input id={id} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />}
      </Field>
      <ConditionsEditor
        label="Conditions"
        conditions={conditions}
        segments={props.segments}
        error={fieldError(action.error, 'conditions')}
        onChange={setConditions}
      />
      <div class="actions">
        <button type="submit" disabled={action.busy}>
          {existing === undefined ? 'Create segment' : 'Save segment'}
        </button>
        <button type="button" class="secondary" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
      <ActionError error={action.error} fields={['key', 'name', 'parent', 'description', 'conditions']} />
    </form>
  )
}

const describe = (c: Condition) =>
  `${c.operator.endsWith('segment') ? '' : `${c.attribute} `}${c.operator}${c.value === undefined ? '' : ` ${JSON.stringify(c.value)}`}`

export function SegmentsScreen() {
  const list = useLoad(() => listAll<Segment>('segments'), [])
  const [editing, setEditing] = useState<Segment | 'new' | undefined>(undefined)
  const remove = useAction()
  const segments = list.data ?? []
  const done = () => (setEditing(undefined), void list.reload())
  return (
    <section aria-labelledby="segments-title">
      <h1 id="segments-title" tabIndex={-1}>
        Segments
      </h1>
      {editing === undefined ? (
        <button type="button" onClick={() => setEditing('new')}>
          New segment
        </button>
      ) : (
        <SegmentForm
          key={editing === 'new' ? 'new' : editing.key}
          segment={editing === 'new' ? undefined : editing}
          segments={segments}
          onSaved={done}
          onCancel={() => setEditing(undefined)}
        />
      )}
      <ActionError error={list.error ?? remove.error} />
      {list.data === undefined ? (
        <Loading what="segments" />
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Name</th>
              <th scope="col">Parent</th>
              <th scope="col">Conditions</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {segments.map((s) => (
              <tr key={s.key}>
                <th scope="row">{s.key}</th>
                <td>{s.name}</td>
                <td>{s.parent ?? ''}</td>
                <td>{s.conditions.map(describe).join(' and ') || 'everyone'}</td>
                <td>
                  <button type="button" class="secondary small" onClick={() => setEditing(s)}>
                    Edit<span class="visually-hidden"> {s.key}</span>
                  </button>{' '}
                  <button
                    type="button"
                    class="danger small"
                    onClick={() =>
                      void remove
                        .run(() => request('DELETE', `segments/${enc(s.key)}`, { ifMatch: '*' }))
                        .then((ok) => void (ok && list.reload()))
                    }
                  >
                    Delete<span class="visually-hidden"> {s.key}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}
