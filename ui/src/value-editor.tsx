/** A flag value input checked against the flag's type before it is sent: text, a finite number, true/false, or JSON. */
import { useState } from 'preact/hooks'
import type { FlagType, FlagValue } from './model.ts'
import { useId } from './ui.tsx'

export function ValueEditor(props: {
  label: string
  type: FlagType
  value: FlagValue | undefined
  onChange: (value: FlagValue | undefined) => void
  error?: string | undefined
}) {
  const id = useId('val')
  const [text, setText] = useState(
    props.type === 'json' ? JSON.stringify(props.value ?? null, null, 2) : String(props.value ?? ''),
  )
  const [problem, setProblem] = useState<string | undefined>(undefined)
  const message = problem ?? props.error
  const update = (raw: string) => {
    setText(raw)
    if (props.type === 'string') return (setProblem(undefined), props.onChange(raw))
    if (props.type === 'number') {
      const n = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(n)) return setProblem('must be a finite number')
      return (setProblem(undefined), props.onChange(n))
    }
    try {
      setProblem(undefined)
      props.onChange(JSON.parse(raw) as FlagValue)
    } catch (error) {
      setProblem(`not valid JSON: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  const common = {
    id,
    value: text,
    'aria-invalid': message !== undefined,
    'aria-describedby': message === undefined ? undefined : `${id}-err`,
  }
  return (
    <div class="field">
      <label for={id}>
        {props.label} ({props.type})
      </label>
      {props.type === 'boolean' ? (
        <select id={id} value={String(props.value ?? false)} onChange={(e) => props.onChange(e.currentTarget.value === 'true')}>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      ) : props.type === 'json' ? (
        <textarea {...common} rows={4} onInput={(e) => update(e.currentTarget.value)} />
      ) : (
        <input
          {...common}
          inputMode={props.type === 'number' ? 'decimal' : undefined}
          onInput={(e) => update(e.currentTarget.value)}
        />
      )}
      {message === undefined ? null : (
        <span id={`${id}-err`} class="field-error" role="alert">
          {message}
        </span>
      )}
    </div>
  )
}

/** Whether `value` fits `type` (what the editor lets through). */
export const fitsType = (type: FlagType, value: unknown): boolean => type === 'json' || typeof value === type
