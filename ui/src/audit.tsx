/** Audit: who changed what and when, each entry with its before/after diff, filtered by flag or target. */
import { useState } from 'preact/hooks'
import { request } from './api.ts'
import type { AuditEntry } from './model.ts'
import { ActionError, Field, formatTime, Loading, useLoad } from './ui.tsx'

const PAGE = 50
const SKIP = new Set(['version', 'updatedAt', 'createdAt'])

/** Leaf paths whose values differ between `a` and `b` (`rules[0].rolloutPercentage`), bookkeeping fields left out. */
export function diff(a: unknown, b: unknown, path = '', out: { path: string; before: unknown; after: unknown }[] = []) {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object'
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (path === '' && SKIP.has(key)) continue
      diff(a[key], b[key], Array.isArray(a) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`, out)
    }
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push({ path: path || '(whole)', before: a, after: b })
  }
  return out
}

const show = (v: unknown) => (v === undefined ? '—' : JSON.stringify(v))

function Entry(props: { entry: AuditEntry }) {
  const e = props.entry
  const changes = e.before === null ? [] : e.after === null ? [] : diff(e.before, e.after)
  return (
    <tr>
      <td>
        <time dateTime={e.at}>{formatTime(e.at)}</time>
      </td>
      <td>
        {e.actor}
        {e.claimedActor === undefined ? null : <div class="muted small">claims: {e.claimedActor}</div>}
      </td>
      <td>
        <code>{e.action}</code>
      </td>
      <td>{e.flagKey === undefined ? e.target : <a href={`#/flags/${encodeURIComponent(e.flagKey)}`}>{e.target}</a>}</td>
      <td>
        <details>
          <summary>
            {e.before === null
              ? 'created'
              : e.after === null
                ? 'deleted'
                : `${changes.length} change${changes.length === 1 ? '' : 's'}`}
            <span class="visually-hidden">
              {' '}
              in {e.action} of {e.target}
            </span>
          </summary>
          {e.before !== null && e.after !== null ? (
            <table class="diff-table">
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Before</th>
                  <th scope="col">After</th>
                </tr>
              </thead>
              <tbody>
                {changes.map((c) => (
                  <tr key={c.path}>
                    <th scope="row">{c.path}</th>
                    <td class="before">{show(c.before)}</td>
                    <td class="after">{show(c.after)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <pre>{JSON.stringify(e.before ?? e.after, null, 2)}</pre>
          )}
        </details>
      </td>
    </tr>
  )
}

export function AuditScreen(props: { flagKey?: string | undefined }) {
  const [flagKey, setFlagKey] = useState(props.flagKey ?? '')
  const [target, setTarget] = useState('')
  const [offset, setOffset] = useState(0)
  const list = useLoad(
    async () =>
      (
        await request<{ items: AuditEntry[]; total: number }>('GET', 'audit', {
          query: { limit: PAGE, offset, flagKey: flagKey.trim() || undefined, target: target.trim() || undefined },
        })
      ).data,
    [flagKey, target, offset],
  )
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title" tabIndex={-1}>
        Audit
      </h1>
      <form class="filters" role="search" aria-label="Filter the audit trail" onSubmit={(e) => e.preventDefault()}>
        <Field label="Flag key" error={list.error} field="flagKey">
          {(id, d) => (
            <input
              id={id}
              value={flagKey}
              aria-describedby={d}
              onChange={(e) => (setOffset(0), setFlagKey(e.currentTarget.value))}
            />
          )}
        </Field>
        <Field label="Target" error={list.error} field="target" hint="e.g. segment:beta or environment:prod">
          {(id, d) => (
            <input
              id={id}
              value={target}
              aria-describedby={d}
              onChange={(e) => (setOffset(0), setTarget(e.currentTarget.value))}
            />
          )}
        </Field>
      </form>
      <ActionError error={list.error} fields={['flagKey', 'target']} />
      {list.data === undefined ? (
        <Loading what="the audit trail" />
      ) : (
        <>
          <table class="audit">
            <caption class="muted">
              {list.data.total} entr{list.data.total === 1 ? 'y' : 'ies'}
            </caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Before / after</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((e) => (
                <Entry key={e.id} entry={e} />
              ))}
            </tbody>
          </table>
          <div class="actions">
            <button type="button" class="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              Newer
            </button>
            <button
              type="button"
              class="secondary"
              disabled={offset + PAGE >= list.data.total}
              onClick={() => setOffset(offset + PAGE)}
            >
              Older
            </button>
          </div>
        </>
      )}
    </section>
  )
}
