/** A flag's variants: key, value (typed), weight and the share it gets (weight / sum of weights); saved as one list with If-Match. */
import { useState } from 'preact/hooks'
import { enc, request } from './api.ts'
import type { FeatureFlag, FlagValue, FlagVariant } from './model.ts'
import { ActionError, fieldError, useAction } from './ui.tsx'
import { ValueEditor } from './value-editor.tsx'

const initial = (type: FeatureFlag['type']): FlagValue =>
  type === 'boolean' ? true : type === 'number' ? 0 : type === 'json' ? {} : ''

export function VariantsSection(props: { flag: FeatureFlag; onChanged: () => void }) {
  const { flag } = props
  const [variants, setVariants] = useState<FlagVariant[]>(flag.variants)
  const action = useAction()
  const total = variants.reduce((sum, v) => sum + (Number.isFinite(v.weight) && v.weight > 0 ? v.weight : 0), 0)
  const set = (i: number, next: Partial<FlagVariant>) => setVariants(variants.map((v, j) => (j === i ? { ...v, ...next } : v)))
  const save = (event: Event) => {
    event.preventDefault()
    void action
      .run(() => request('PUT', `flags/${enc(flag.key)}/variants`, { version: flag.version, body: variants }))
      .then((ok) => ok && props.onChanged())
  }
  return (
    <form class="card" aria-labelledby="variants-title" onSubmit={save}>
      <h2 id="variants-title">Variants</h2>
      <p class="muted">Users that no rule or override decides are split by weight; shares are normalised to 100 %.</p>
      {variants.length === 0 ? <p class="muted">No variants.</p> : null}
      {variants.map((v, i) => (
        <div class="row variant" key={i}>
          <div class="field">
            <label for={`variant-key-${i}`}>Variant key</label>
            <input id={`variant-key-${i}`} value={v.key} onInput={(e) => set(i, { key: e.currentTarget.value })} />
            {fieldError(action.error, `variants[${i}].key`) === undefined ? null : (
              <span class="field-error" role="alert">
                {fieldError(action.error, `variants[${i}].key`)}
              </span>
            )}
          </div>
          <ValueEditor
            label="Value"
            type={flag.type}
            value={v.value}
            error={fieldError(action.error, `variants[${i}].value`)}
            onChange={(value) => value !== undefined && set(i, { value })}
          />
          <div class="field">
            <label for={`variant-weight-${i}`}>Weight</label>
            <input
              id={`variant-weight-${i}`}
              type="number"
              min={0}
              step="any"
              value={v.weight}
              onInput={(e) => set(i, { weight: e.currentTarget.valueAsNumber })}
            />
          </div>
          <div class="share" aria-label={`Share of ${v.key || 'variant'}`}>
            <meter min={0} max={100} value={total === 0 ? 0 : (Math.max(0, v.weight) / total) * 100} aria-hidden="true" />
            {total === 0 ? '0' : ((Math.max(0, v.weight) / total) * 100).toFixed(1)} %
          </div>
          <button type="button" class="secondary small" onClick={() => setVariants(variants.filter((_, j) => j !== i))}>
            Remove<span class="visually-hidden"> variant {v.key}</span>
          </button>
        </div>
      ))}
      <div class="actions">
        <button
          type="button"
          class="secondary"
          onClick={() => setVariants([...variants, { key: `v${variants.length + 1}`, value: initial(flag.type), weight: 1 }])}
        >
          Add variant
        </button>
        <button type="submit" disabled={action.busy}>
          Save variants
        </button>
      </div>
      <ActionError
        error={action.error}
        fields={variants.flatMap((_, i) => [`variants[${i}].key`, `variants[${i}].value`])}
        onReload={props.onChanged}
      />
    </form>
  )
}
