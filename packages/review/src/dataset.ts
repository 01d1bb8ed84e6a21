import type { Client } from '@elastic/elasticsearch'
import { WHAT_IF_DATASET_NAME, whatIfPrefix } from '@opsreview/search-index/templates'
import { ReviewProblem } from './errors.ts'
import type { ReviewIndices } from './report.ts'
import type { FieldError } from '@opsreview/schemas'


/**
 * The indices a request reads: the live aliases, or a what-if dataset's. A dataset holds the incidents and
 * problems of a replay (`<prefix>-whatif-<name>-incidents`, `-problems`, the rule @opsreview/replay writes
 * with); alert events are the same input in both, so the live alert indices serve timelines and service
 * levels.
 */
export interface ResolvedIndices extends ReviewIndices {
  /** The dataset's name, or null for the live indices. */
  dataset: string | null
}

/** The read aliases under an index prefix (the service derives them with @opsreview/search-index's `indexNames`). */
export type AliasesOf = (prefix: string) => ReviewIndices

export function datasetIndices(aliasesOf: AliasesOf, prefix: string, dataset: string | null): ResolvedIndices {
  const live = aliasesOf(prefix)
  if (dataset === null) return { dataset: null, ...live }
  const d = aliasesOf(whatIfPrefix(prefix, dataset))
  return { dataset, alerts: live.alerts, incidents: d.incidents, problems: d.problems }
}

/** `?dataset=`: absent or empty is live; otherwise a name, given once. */
export function parseDataset(raw: unknown): { ok: true; value: string | null } | { ok: false; errors: FieldError[] } {
  if (raw === undefined || raw === '') return { ok: true, value: null }
  if (typeof raw !== 'string') return { ok: false, errors: [{ path: '/dataset', message: 'must be given once' }] }
  if (!WHAT_IF_DATASET_NAME.test(raw)) return { ok: false, errors: [{ path: '/dataset', message: 'must be a what-if dataset name: 1 to 40 characters a-z, 0-9 and -' }] }
  return { ok: true, value: raw }
}

/**
 * The indices of a request's `?dataset=`: the live ones without it; a dataset's when both its indices exist
 * (`DATASET_NOT_FOUND` otherwise). A malformed name is the caller's 400 (`parseDataset`).
 */
export async function resolveDataset(es: Client, aliasesOf: AliasesOf, prefix: string, dataset: string | null): Promise<ResolvedIndices> {
  const d = datasetIndices(aliasesOf, prefix, dataset)
  if (dataset === null) return d
  const [incidents, problems] = await Promise.all([es.indices.existsAlias({ name: d.incidents }), es.indices.existsAlias({ name: d.problems })])
  if (!incidents || !problems) {
    throw new ReviewProblem('DATASET_NOT_FOUND', `There is no what-if dataset ${dataset}: write one with opsreview replay --index ${dataset}`, {
      errors: [{ path: '/dataset', message: 'names no what-if dataset' }],
    })
  }
  return d
}
