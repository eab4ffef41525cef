/**
 * The condition editor (rules and segments): the operator list is the server's `Operator` union
 * (a `Record` over it, so the build fails when the server gains one), and each operator gets the
 * value input that fits it: none, a list, a semver, a date, a CIDR block, a segment, or a typed primitive.
 */
import type { Condition, Operator, Segment } from './model.ts'
import { fromLocalInput, toLocalInput, useId } from './ui.tsx'

type Kind = 'none' | 'primitive' | 'ordered' | 'list' | 'text' | 'regex' | 'semver' | 'date' | 'cidr' | 'segment'

const OPERATORS: Record<Operator, { label: string; kind: Kind }> = {
  eq: { label: 'equals', kind: 'primitive' },
  ne: { label: 'does not equal', kind: 'primitive' },
  gt: { label: '>', kind: 'ordered' },
  gte: { label: '≥', kind: 'ordered' },
  lt: { label: '<', kind: 'ordered' },
  lte: { label: '≤', kind: 'ordered' },
  in: { label: 'is one of', kind: 'list' },
  not_in: { label: 'is none of', kind: 'list' },
  contains: { label: 'contains', kind: 'primitive' },
  not_contains: { label: 'does not contain', kind: 'primitive' },
  starts_with: { label: 'starts with', kind: 'text' },
  ends_with: { label: 'ends with', kind: 'text' },
  matches: { label: 'matches regex', kind: 'regex' },
  exists: { label: 'exists', kind: 'none' },
  not_exists: { label: 'does not exist', kind: 'none' },
  semver_eq: { label: 'version =', kind: 'semver' },
  semver_ne: { label: 'version ≠', kind: 'semver' },
  semver_gt: { label: 'version >', kind: 'semver' },
  semver_gte: { label: 'version ≥', kind: 'semver' },
  semver_lt: { label: 'version <', kind: 'semver' },
  semver_lte: { label: 'version ≤', kind: 'semver' },
  date_before: { label: 'date before', kind: 'date' },
  date_after: { label: 'date after', kind: 'date' },
  in_cidr: { label: 'IP in CIDR', kind: 'cidr' },
  in_segment: { label: 'in segment', kind: 'segment' },
  not_in_segment: { label: 'not in segment', kind: 'segment' },
}
const OPERATOR_NAMES = Object.keys(OPERATORS) as Operator[]

export const ATTRIBUTES = [
  'targetingKey',
  'userId',
  'organizationId',
  'tenantId',
  'environment',
  'appVersion',
  'ipAddress',
  'country',
  'now',
]

type Primitive = string | number | boolean
const typeOf = (v: unknown): 'string' | 'number' | 'boolean' =>
  typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'string'
/** Text typed into a value box as the chosen type; a number that does not parse stays text, so the server names it. */
function cast(text: string, type: 'string' | 'number' | 'boolean'): Primitive {
  if (type === 'number' && text.trim() !== '' && Number.isFinite(Number(text))) return Number(text)
  if (type === 'boolean') return text === 'true'
  return text
}

/** A condition's value kept fitting its operator when the operator changes. */
function valueFor(operator: Operator, previous: Condition['value'], segments: Segment[]): Condition['value'] {
  const kind = OPERATORS[operator].kind
  if (kind === 'none') return undefined
  if (kind === 'list')
    return Array.isArray(previous) ? previous : previous === undefined || previous === null ? [] : [previous as Primitive]
  if (kind === 'segment')
    return typeof previous === 'string' && segments.some((s) => s.key === previous) ? previous : (segments[0]?.key ?? '')
  if (kind === 'date')
    return typeof previous === 'string' && !Number.isNaN(Date.parse(previous)) ? previous : new Date().toISOString()
  if (Array.isArray(previous)) return previous[0] ?? ''
  return previous ?? ''
}

function ValueInput(props: {
  condition: Condition
  segments: Segment[]
  label: string
  onChange: (v: Condition['value']) => void
}) {
  const { condition, onChange, label } = props
  const id = useId('v')
  const kind = OPERATORS[condition.operator]?.kind ?? 'text'
  const value = condition.value
  if (kind === 'none') return <span class="muted">(no value)</span>
  if (kind === 'segment') {
    return (
      <select aria-label={label} value={String(value ?? '')} onChange={(e) => onChange(e.currentTarget.value)}>
        {props.segments.length === 0 ? <option value="">no segments yet</option> : null}
        {props.segments.map((s) => (
          <option key={s.key} value={s.key}>
            {s.name} ({s.key})
          </option>
        ))}
      </select>
    )
  }
  if (kind === 'date') {
    return (
      <input
        type="datetime-local"
        aria-label={label}
        value={typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? toLocalInput(value) : ''}
        onInput={(e) => e.currentTarget.value !== '' && onChange(fromLocalInput(e.currentTarget.value))}
      />
    )
  }
  const listValue = Array.isArray(value) ? value : []
  const scalarType = typeOf(kind === 'list' ? listValue[0] : value)
  const typed = kind === 'primitive' || kind === 'list' || kind === 'ordered'
  const text = kind === 'list' ? listValue.join(', ') : String(value ?? '')
  const placeholder = { semver: '1.2.3', cidr: '10.0.0.0/8', regex: '^beta-', list: 'a, b, c' }[kind as string] ?? ''
  const parse = (raw: string, type: 'string' | 'number' | 'boolean') =>
    kind === 'list'
      ? raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map((s) => cast(s, type))
      : typed
        ? cast(raw, type)
        : raw
  return (
    <span class="value-input">
      <input
        id={id}
        aria-label={label}
        value={text}
        placeholder={placeholder}
        onChange={(e) => onChange(parse(e.currentTarget.value, scalarType))}
      />
      {typed ? (
        <select
          aria-label={`${label} type`}
          value={scalarType}
          onChange={(e) => onChange(parse(text, e.currentTarget.value as 'string'))}
        >
          <option value="string">text</option>
          <option value="number">number</option>
          {kind === 'ordered' ? null : <option value="boolean">true/false</option>}
        </select>
      ) : null}
    </span>
  )
}

/** The conditions of a rule or segment: all must hold. */
export function ConditionsEditor(props: {
  conditions: Condition[]
  segments: Segment[]
  onChange: (conditions: Condition[]) => void
  label: string
  error?: string | undefined
}) {
  const { conditions, onChange } = props
  const set = (i: number, next: Condition) => onChange(conditions.map((c, j) => (j === i ? next : c)))
  return (
    <fieldset class="conditions">
      <legend>{props.label} — all must hold</legend>
      {conditions.length === 0 ? <p class="muted">No conditions: matches everyone.</p> : null}
      {conditions.map((c, i) => {
        const n = `Condition ${i + 1}`
        const segmentOp = OPERATORS[c.operator]?.kind === 'segment'
        return (
          <div class="condition" key={i}>
            {segmentOp ? (
              <span class="muted">(segment)</span>
            ) : (
              <input
                aria-label={`${n} attribute`}
                list="attributes"
                value={c.attribute}
                onChange={(e) => set(i, { ...c, attribute: e.currentTarget.value })}
              />
            )}
            <select
              aria-label={`${n} operator`}
              value={c.operator}
              onChange={(e) => {
                const operator = e.currentTarget.value as Operator
                set(i, { ...c, operator, value: valueFor(operator, c.value, props.segments) })
              }}
            >
              {OPERATOR_NAMES.map((o) => (
                <option key={o} value={o}>
                  {OPERATORS[o].label}
                </option>
              ))}
            </select>
            <ValueInput
              condition={c}
              segments={props.segments}
              label={`${n} value`}
              onChange={(value) => set(i, { ...c, value })}
            />
            <button type="button" class="secondary small" onClick={() => onChange(conditions.filter((_, j) => j !== i))}>
              Remove<span class="visually-hidden"> {n.toLowerCase()}</span>
            </button>
          </div>
        )
      })}
      <datalist id="attributes">
        {ATTRIBUTES.map((a) => (
          <option key={a} value={a} />
        ))}
      </datalist>
      <button
        type="button"
        class="secondary small"
        onClick={() => onChange([...conditions, { attribute: 'userId', operator: 'eq', value: '' }])}
      >
        Add condition
      </button>
      {props.error === undefined ? null : (
        <span class="field-error" role="alert">
          {props.error}
        </span>
      )}
    </fieldset>
  )
}

/** A condition as the body the API expects: no value for exists / not_exists, no attribute for the segment operators. */
export function conditionBody(c: Condition): Condition {
  const attribute = OPERATORS[c.operator]?.kind === 'segment' ? '' : c.attribute
  return c.value === undefined ? { attribute, operator: c.operator } : { ...c, attribute }
}
