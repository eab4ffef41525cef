/** Small pieces every screen uses: labelled fields with their error, alerts, the conflict notice, loading. */
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, messageOf } from './api.ts'

let ids = 0
export function useId(prefix: string): string {
  const ref = useRef<string | undefined>(undefined)
  ref.current ??= `${prefix}-${++ids}`
  return ref.current
}

/** The error's message when the server named `field` (or a sub-field of it: `rules[0].conditions`). */
export function fieldError(error: unknown, ...fields: string[]): string | undefined {
  if (!(error instanceof ApiError) || error.field === undefined) return undefined
  const named = error.field
  return fields.some((f) => named === f || named.startsWith(`${f}.`) || named.startsWith(`${f}[`)) ? error.message : undefined
}

/** A label, the control (given the id and the error's id), a hint, and the field's error from the API. */
export function Field(props: {
  label: string
  error?: unknown
  field?: string | string[]
  hint?: string
  children: (id: string, describedBy: string | undefined, invalid: boolean) => ComponentChildren
}) {
  const id = useId('f')
  const fields = props.field === undefined ? [] : Array.isArray(props.field) ? props.field : [props.field]
  const message = fieldError(props.error, ...fields)
  const describedBy = [props.hint === undefined ? '' : `${id}-hint`, message === undefined ? '' : `${id}-err`]
    .filter(Boolean)
    .join(' ')
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy === '' ? undefined : describedBy, message !== undefined)}
      {props.hint === undefined ? null : (
        <small id={`${id}-hint`} class="hint">
          {props.hint}
        </small>
      )}
      {message === undefined ? null : (
        <span id={`${id}-err`} class="field-error" role="alert">
          {message}
        </span>
      )}
    </div>
  )
}

/**
 * An API failure shown next to the action that caused it. Field errors are shown by their `Field`,
 * unless `fields` says this form has no such field; conflicts get the reload button.
 */
export function ActionError(props: { error: unknown; fields?: string[]; onReload?: () => void }) {
  const { error } = props
  if (error === undefined || error === null) return null
  if (
    error instanceof ApiError &&
    error.field !== undefined &&
    (props.fields ?? []).some((f) => fieldError(error, f) !== undefined)
  ) {
    return null
  }
  const conflict = error instanceof ApiError && error.conflict
  return (
    <div class={conflict ? 'alert conflict' : 'alert'} role="alert">
      <strong>{conflict ? 'Conflict: ' : error instanceof ApiError && error.status === 503 ? 'Unavailable: ' : 'Error: '}</strong>
      {error instanceof ApiError && error.field !== undefined && !conflict ? `${error.field}: ` : ''}
      {messageOf(error)}
      {conflict && props.onReload !== undefined ? (
        <button type="button" class="secondary" onClick={props.onReload}>
          Reload
        </button>
      ) : null}
    </div>
  )
}

/** Runs `load` on mount and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true })
  const serial = useRef(0)
  const reload = useCallback(async () => {
    const mine = ++serial.current
    setState((s) => ({ ...s, loading: true }))
    try {
      const data = await load()
      if (mine === serial.current) setState({ data, loading: false })
    } catch (error) {
      if (mine === serial.current) setState((s) => ({ ...s, error, loading: false }))
    }
  }, deps)
  useEffect(() => {
    void reload()
  }, [reload])
  return { ...state, reload }
}

/** An async action's state: `run` clears the error, marks busy, and keeps the failure to show next to the button. */
export function useAction() {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(undefined)
  const run = useCallback(async (action: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true)
    setError(undefined)
    try {
      await action()
      return true
    } catch (failure) {
      setError(failure)
      return false
    } finally {
      setBusy(false)
    }
  }, [])
  return { busy, error, setError, run }
}

export function Loading(props: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {props.what}…
    </p>
  )
}

/** An on/off switch (a checkbox with role=switch: keyboard and screen readers for free). */
export function Toggle(props: {
  label: string
  on: boolean
  disabled?: boolean
  onChange: (on: boolean) => void
  hint?: string
}) {
  return (
    <label class="switch" title={props.hint}>
      <input
        type="checkbox"
        role="switch"
        aria-label={props.label}
        checked={props.on}
        disabled={props.disabled}
        onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)}
      />
      <span aria-hidden="true">{props.on ? 'on' : 'off'}</span>
    </label>
  )
}

/** Local `datetime-local` value ↔ ISO instant. */
export const toLocalInput = (iso: string): string => {
  const d = new Date(iso)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}
export const fromLocalInput = (local: string): string => new Date(local).toISOString()
export const formatTime = (iso: string): string => new Date(iso).toLocaleString()
