/**
 * When a flag changes: scheduled changes and rollout phases on one timeline, and time schedules
 * (recurring windows in their own time zone). Every write sends If-Match.
 */
import { useState } from 'preact/hooks'
import { enc, request } from './api.ts'
import type { FeatureFlag, RolloutPhase, ScheduledChangeKind, TimeSchedule } from './model.ts'
import { ActionError, Field, formatTime, fromLocalInput, toLocalInput, useAction } from './ui.tsx'

const KINDS: ScheduledChangeKind[] = ['enable', 'disable', 'setRollout', 'setValue']

function Timeline(props: { flag: FeatureFlag }) {
  const events = [
    ...props.flag.scheduledChanges.map((c) => ({
      at: c.at,
      text:
        c.change === 'setRollout'
          ? `rollout → ${c.percentage} %`
          : c.change === 'setValue'
            ? `value → ${JSON.stringify(c.value)}`
            : c.change,
    })),
    ...props.flag.rolloutPhases.map((p) => ({ at: p.at, text: `phase: ${p.percentage} %` })),
  ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
  if (events.length === 0) return <p class="muted">Nothing scheduled.</p>
  const now = Date.now()
  return (
    <ol class="timeline" aria-label="Timeline">
      {events.map((e, i) => (
        <li key={i} class={Date.parse(e.at) <= now ? 'past' : undefined}>
          <time dateTime={e.at}>{formatTime(e.at)}</time>
          <span>{e.text}</span>
          {Date.parse(e.at) <= now ? <span class="muted small"> (applied)</span> : null}
        </li>
      ))}
    </ol>
  )
}

function NewChange(props: { flag: FeatureFlag; onChanged: () => void }) {
  const { flag } = props
  const [at, setAt] = useState(toLocalInput(new Date(Date.now() + 3_600_000).toISOString()))
  const [change, setChange] = useState<ScheduledChangeKind>('enable')
  const [amount, setAmount] = useState('50')
  const action = useAction()
  const add = (event: Event) => {
    event.preventDefault()
    const body: Record<string, unknown> = { at: fromLocalInput(at), change }
    if (change === 'setRollout') body.percentage = Number(amount)
    if (change === 'setValue')
      body.value = flag.type === 'number' ? Number(amount) : flag.type === 'boolean' ? amount === 'true' : amount
    void action
      .run(() => request('POST', `flags/${enc(flag.key)}/schedule`, { version: flag.version, body }))
      .then((ok) => ok && props.onChanged())
  }
  return (
    <form class="row" aria-label="New scheduled change" onSubmit={add}>
      <Field label="At (local time)" error={action.error} field="scheduledChanges[0].at">
        {(id, d) => (
          <input
            id={id}
            type="datetime-local"
            required
            value={at}
            aria-describedby={d}
            onInput={(e) => setAt(e.currentTarget.value)}
          />
        )}
      </Field>
      <Field label="Change">
        {(id) => (
          <select id={id} value={change} onChange={(e) => setChange(e.currentTarget.value as ScheduledChangeKind)}>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        )}
      </Field>
      {change === 'setRollout' || change === 'setValue' ? (
        <Field
          label={change === 'setRollout' ? 'Percentage' : `Value (${flag.type})`}
          error={action.error}
          field={['scheduledChanges[0].percentage', 'scheduledChanges[0].value']}
        >
          {(id, d) => <input id={id} value={amount} aria-describedby={d} onInput={(e) => setAmount(e.currentTarget.value)} />}
        </Field>
      ) : null}
      <button type="submit" disabled={action.busy}>
        Schedule
      </button>
      <ActionError error={action.error} fields={['scheduledChanges[0]']} onReload={props.onChanged} />
    </form>
  )
}

function Phases(props: { flag: FeatureFlag; onChanged: () => void }) {
  const [phases, setPhases] = useState<RolloutPhase[]>(props.flag.rolloutPhases)
  const action = useAction()
  const save = () =>
    void action
      .run(() => request('PUT', `flags/${enc(props.flag.key)}/rollout-phases`, { version: props.flag.version, body: phases }))
      .then((ok) => ok && props.onChanged())
  return (
    <fieldset>
      <legend>Rollout phases</legend>
      {phases.map((p, i) => (
        <div class="row" key={i}>
          <input
            type="datetime-local"
            aria-label={`Phase ${i + 1} starts`}
            value={toLocalInput(p.at)}
            onInput={(e) =>
              e.currentTarget.value &&
              setPhases(phases.map((q, j) => (j === i ? { ...q, at: fromLocalInput(e.currentTarget.value) } : q)))
            }
          />
          <input
            type="number"
            min={0}
            max={100}
            aria-label={`Phase ${i + 1} percentage`}
            value={p.percentage}
            onInput={(e) => setPhases(phases.map((q, j) => (j === i ? { ...q, percentage: e.currentTarget.valueAsNumber } : q)))}
          />
          <button type="button" class="secondary small" onClick={() => setPhases(phases.filter((_, j) => j !== i))}>
            Remove<span class="visually-hidden"> phase {i + 1}</span>
          </button>
        </div>
      ))}
      <div class="actions">
        <button
          type="button"
          class="secondary"
          onClick={() =>
            setPhases([...phases, { at: new Date(Date.now() + 86_400_000 * (phases.length + 1)).toISOString(), percentage: 10 }])
          }
        >
          Add phase
        </button>
        <button type="button" disabled={action.busy} onClick={save}>
          Save phases
        </button>
      </div>
      <ActionError error={action.error} onReload={props.onChanged} />
    </fieldset>
  )
}

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']

function TimeSchedules(props: { flag: FeatureFlag; onChanged: () => void }) {
  const { flag } = props
  const [name, setName] = useState('Office hours')
  const [start, setStart] = useState('09:00')
  const [end, setEnd] = useState('17:00')
  const [timezone, setTimezone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone)
  const action = useAction()
  const put = (schedules: TimeSchedule[]) =>
    void action
      .run(() => request('PUT', `flags/${enc(flag.key)}/time-schedules`, { version: flag.version, body: schedules }))
      .then((ok) => ok && props.onChanged())
  const add = (event: Event) => {
    event.preventDefault()
    const id = `window-${Date.now().toString(36)}`
    put([...flag.timeSchedules, { id, name, recurrence: 'weekly', daysOfWeek: [1, 2, 3, 4, 5], start, end, timezone }])
  }
  return (
    <fieldset>
      <legend>Time schedules (the flag is on only inside a window)</legend>
      {flag.timeSchedules.length === 0 ? <p class="muted">None: no time restriction.</p> : null}
      <ul>
        {flag.timeSchedules.map((s) => (
          <li key={s.id}>
            <strong>{s.name}</strong> {s.recurrence} {s.daysOfWeek?.map((d) => DAYS[d - 1]).join(' ') ?? ''} {s.start}–{s.end}{' '}
            <span class="badge">{s.timezone}</span>{' '}
            <button type="button" class="secondary small" onClick={() => put(flag.timeSchedules.filter((t) => t.id !== s.id))}>
              Remove<span class="visually-hidden"> {s.name}</span>
            </button>
          </li>
        ))}
      </ul>
      <form class="row" aria-label="New time schedule (weekdays)" onSubmit={add}>
        <Field label="Window name">
          {(id) => <input id={id} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label="From" error={action.error} field="timeSchedules">
          {(id) => <input id={id} type="time" value={start} onInput={(e) => setStart(e.currentTarget.value)} />}
        </Field>
        <Field label="Until">
          {(id) => <input id={id} type="time" value={end} onInput={(e) => setEnd(e.currentTarget.value)} />}
        </Field>
        <Field label="Time zone" hint="IANA, e.g. Europe/Oslo">
          {(id, d) => <input id={id} value={timezone} aria-describedby={d} onInput={(e) => setTimezone(e.currentTarget.value)} />}
        </Field>
        <button type="submit" disabled={action.busy}>
          Add weekday window
        </button>
      </form>
      <ActionError error={action.error} fields={['timeSchedules']} onReload={props.onChanged} />
    </fieldset>
  )
}

export function SchedulesSection(props: { flag: FeatureFlag; onChanged: () => void }) {
  const { flag } = props
  const remove = useAction()
  return (
    <section class="card" aria-labelledby="schedule-title">
      <h2 id="schedule-title">Schedule</h2>
      <Timeline flag={flag} />
      {flag.scheduledChanges.length === 0 ? null : (
        <ul>
          {flag.scheduledChanges.map((c) => (
            <li key={c.id}>
              {formatTime(c.at)}: {c.change}
              {c.percentage === undefined ? '' : ` ${c.percentage} %`}
              {c.value === undefined ? '' : ` ${JSON.stringify(c.value)}`}{' '}
              {c.createdBy ? <span class="muted">by {c.createdBy}</span> : null}{' '}
              <button
                type="button"
                class="secondary small"
                onClick={() =>
                  void remove
                    .run(() => request('DELETE', `flags/${enc(flag.key)}/schedule/${enc(c.id)}`, { version: flag.version }))
                    .then((ok) => ok && props.onChanged())
                }
              >
                Remove<span class="visually-hidden"> change {c.id}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <ActionError error={remove.error} onReload={props.onChanged} />
      <NewChange flag={flag} onChanged={props.onChanged} />
      <Phases flag={flag} onChanged={props.onChanged} />
      <TimeSchedules flag={flag} onChanged={props.onChanged} />
    </section>
  )
}
