/**
 * `listFlags` filtering, shared by every repository so they answer a filter alike.
 *
 * `search` matches each of key, name and description on its own (case-insensitively): the static
 * repository used to search the three joined by newlines, so a search containing a newline could
 * match across two fields there and nowhere else.
 */
import { compareKeys } from '../../internal/objects.js'
import type { FeatureFlag } from '../model.js'
import type { FlagFilter } from './repository.js'

/** The flags that pass `filter`, sorted by key. */
export function filterFlags(flags: Iterable<FeatureFlag>, filter: FlagFilter = {}): FeatureFlag[] {
  const search = filter.search?.toLowerCase()
  const found = (text: string | undefined) => search !== undefined && (text ?? '').toLowerCase().includes(search)
  return [...flags]
    .filter((f) => filter.status === undefined || f.status === filter.status)
    .filter((f) => filter.tag === undefined || f.tags.includes(filter.tag))
    .filter((f) => search === undefined || found(f.key) || found(f.name) || found(f.description))
    .sort((a, b) => compareKeys(a.key, b.key))
}
