import type { Client } from '@elastic/elasticsearch'
import type { Incident, Problem } from '@opsreview/correlation/types'
import { bulkAction, incidentDocument, problemDocument, type IndexOperation } from '@opsreview/search-index/documents'
import { isAlreadyExists, retriableStatus } from '@opsreview/search-index/errors'
import { FIRST_GENERATION, incidentMappings, indexNames, problemMappings, WHAT_IF_DATASET_NAME, whatIfPrefix } from '@opsreview/search-index/templates'
import { elasticsearchUnavailable, ReplayError } from './errors.ts'

/** The dataset's index prefix (`<live prefix>-whatif-<name>`), refusing a name `?dataset=` could not open. */
export function datasetPrefix(livePrefix: string, dataset: string): string {
  if (!WHAT_IF_DATASET_NAME.test(dataset)) throw new ReplayError('DATASET_INVALID', `dataset name must match ${WHAT_IF_DATASET_NAME}, got ${JSON.stringify(dataset)}`)
  return whatIfPrefix(livePrefix, dataset)
}

export interface WrittenDataset {
  dataset: string
  incidents: { alias: string; count: number }
  problems: { alias: string; count: number }
}

async function bulk(es: Client, ops: IndexOperation[], signal: AbortSignal | undefined): Promise<void> {
  for (let i = 0; i < ops.length; i += 1000) {
    const chunk = ops.slice(i, i + 1000)
    const r = await es.bulk({ operations: chunk.flatMap((op) => [bulkAction(op), JSON.parse(op.document) as unknown]) }, { signal })
    if (r.errors) {
      const failed = r.items.flatMap((it) => (it.index?.error ? [it.index] : []))
      const message = `writing the dataset failed: ${JSON.stringify(failed[0]?.error)}`
      // Every refusal a 429 (es_rejected_execution_exception) or 5xx: Elasticsearch was too busy, run it again.
      throw failed.length > 0 && failed.every((it) => retriableStatus(it.status)) ? new ReplayError('UNAVAILABLE', message) : new Error(message)
    }
  }
}

/** The dataset's two concrete indices and their read aliases. */
function datasetIndices(livePrefix: string, dataset: string) {
  const prefix = datasetPrefix(livePrefix, dataset)
  const n = indexNames(prefix)
  return {
    /**
     * The mark of a write under way: an index, whose create is atomic in the cluster, so a second write of the
     * name is refused instead of dropping the first's indices mid-load (its next bulk request then recreated
     * them with dynamic mappings, or loaded into the second's: one dataset of two runs). Its name ends in
     * neither generation nor `-incidents`/`-problems`: no dataset's index or alias.
     */
    lock: `${prefix}-writing`,
    incidents: { alias: n.incidents.alias, index: n.incidents.first, mappings: incidentMappings },
    problems: { alias: n.problems.alias, index: n.problems.first, mappings: problemMappings },
  }
}

/**
 * Writes replayed incidents and problems to the scratch dataset. One write of a name at a time: its mark
 * (`<prefix>-whatif-<name>-writing`) is made first and deleted at the end, and a write that finds it is
 * refused (DATASET_BUSY) and touches nothing. Until 2026-12-08 a second `--index` of a name dropped the
 * first's indices mid-load, and the first loaded on into the second's (or into indices its bulk request
 * recreated with dynamic mappings), then aliased them: one dataset of two runs, shown as complete. An
 * earlier dataset of that name is then dropped, then its two indices are created with the live mappings (no template: a dataset's
 * pattern would overlap another's whose name extends it) and no alias, the documents are derived as the
 * indexer derives them (MTTA and MTTR inputs included) and loaded, and only then are both read aliases
 * added, in one `updateAliases` call. The review opens a dataset once both aliases exist, so it sees the
 * dataset complete or not at all. If anything fails before the aliases are added, the indices this call
 * created are deleted; so are they when `signal` aborts (the CLI's Ctrl-C), which also cuts short the
 * request under way. Only a run killed outright (SIGKILL, a crash) leaves alias-less indices no one can
 * open, which the next write of that name or `dropDataset` removes; and its mark, which refuses the next write
 * until `dropDataset` removes it.
 */
export async function writeDataset(es: Client, livePrefix: string, dataset: string, incidents: readonly Incident[], problems: readonly Problem[], opts: { signal?: AbortSignal } = {}): Promise<WrittenDataset> {
  const { signal } = opts
  const d = datasetIndices(livePrefix, dataset)
  signal?.throwIfAborted()
  // Counted as this call's before the answer, as the indices below: a create cut short may have made it all the same.
  let own = true
  try {
    try {
      await es.indices.create({ index: d.lock, settings: { number_of_shards: 1, number_of_replicas: 0 } }, { signal })
    } catch (err) {
      if (!isAlreadyExists(err)) throw elasticsearchUnavailable(err)
      own = false
      throw new ReplayError('DATASET_BUSY', `another replay is writing the what-if dataset ${dataset} now: run this one again when it is done (if none is running, one killed outright left its mark ${d.lock}, which opsreview replay --drop ${dataset} removes)`, { cause: err })
    }
    return await writeLocked(es, dataset, d, incidents, problems, signal)
  } finally {
    if (own) await es.indices.delete({ index: d.lock, ignore_unavailable: true }).catch(() => undefined)
  }
}

async function writeLocked(es: Client, dataset: string, d: ReturnType<typeof datasetIndices>, incidents: readonly Incident[], problems: readonly Problem[], signal: AbortSignal | undefined): Promise<WrittenDataset> {
  await dropIndices(es, d, dataset).catch((err: unknown) => { if (!(err instanceof ReplayError && err.code === 'DATASET_NOT_FOUND')) throw err })
  const created: string[] = []
  try {
    for (const { index, mappings } of [d.incidents, d.problems]) {
      signal?.throwIfAborted()
      // Counted before the answer: a create cut short may have made the index all the same. The name was
      // dropped just above, so an index of it is this call's.
      created.push(index)
      await es.indices.create({ index, mappings, settings: { number_of_shards: 1, number_of_replicas: 0 } }, { signal })
    }
    // To the concrete indices: their aliases do not exist yet (a write to one would create an index of its name).
    const toIncident = incidentDocument(d.incidents.index)
    const toProblem = problemDocument(d.problems.index)
    await bulk(es, [...incidents.map((i) => toIncident(JSON.stringify(i))), ...problems.map((p) => toProblem(JSON.stringify(p)))], signal)
    await es.indices.refresh({ index: `${d.incidents.index},${d.problems.index}` }, { signal })
    signal?.throwIfAborted()
    await es.indices.updateAliases({ actions: [d.incidents, d.problems].map(({ alias, index }) => ({ add: { index, alias, is_write_index: true } })) })
  } catch (err) {
    // Also after a failed updateAliases: it may have been applied, and deleting the indices takes the aliases with them.
    if (created.length > 0) await es.indices.delete({ index: created.join(','), ignore_unavailable: true }).catch(() => undefined)
    throw elasticsearchUnavailable(err)
  }
  return { dataset, incidents: { alias: d.incidents.alias, count: incidents.length }, problems: { alias: d.problems.alias, count: problems.length } }
}

/**
 * Deletes a dataset's two indices (their aliases go with them), found by their concrete names, so an
 * alias-less leftover of a write that was killed mid-load goes too, with the mark of its write. Nothing else is touched.
 */
export async function dropDataset(es: Client, livePrefix: string, dataset: string): Promise<{ indices: string[] }> {
  const d = datasetIndices(livePrefix, dataset)
  // The mark a write killed outright left too, so that the name can be written again.
  return dropIndices(es, d, dataset, [d.lock])
}

async function dropIndices(es: Client, d: ReturnType<typeof datasetIndices>, dataset: string, also: string[] = []): Promise<{ indices: string[] }> {
  const found: string[] = []
  try {
    for (const index of [d.incidents.index, d.problems.index, ...also]) if (await es.indices.exists({ index })) found.push(index)
  } catch (err) {
    throw elasticsearchUnavailable(err)
  }
  if (found.length === 0) throw new ReplayError('DATASET_NOT_FOUND', `no what-if dataset ${dataset}`)
  await es.indices.delete({ index: found.join(',') }).catch((err: unknown) => { throw elasticsearchUnavailable(err) })
  return { indices: found }
}

/** A what-if dataset as `--list` shows it. */
export interface DatasetSummary {
  dataset: string
  incidents: number
  problems: number
  /** When its incidents index was made (the replay that wrote it). */
  createdAt: string
  /** Both read aliases exist: the review opens it. False for the leftover of a write killed mid-load. */
  complete: boolean
}

/**
 * The what-if datasets of the live prefix, by name, found by their incidents indices (an alias-less
 * leftover too, marked incomplete: `dropDataset` removes it). Nothing else is read.
 */
export async function listDatasets(es: Client, livePrefix: string): Promise<DatasetSummary[]> {
  const start = whatIfPrefix(livePrefix, '')
  const end = `-incidents-${FIRST_GENERATION}`
  try {
    const [indices, counts] = await Promise.all([
      es.indices.get({ index: `${start}*`, allow_no_indices: true, ignore_unavailable: true, features: ['aliases', 'settings'] }),
      es.cat.indices({ index: `${start}*`, format: 'json', h: ['index', 'docs.count'] }),
    ])
    const docs = new Map(counts.map((c) => [c.index, Number(c['docs.count'] ?? 0)]))
    const out: DatasetSummary[] = []
    for (const [index, info] of Object.entries(indices)) {
      if (!index.endsWith(end)) continue
      const dataset = index.slice(start.length, -end.length)
      if (!WHAT_IF_DATASET_NAME.test(dataset)) continue
      const d = datasetIndices(livePrefix, dataset)
      out.push({
        dataset, incidents: docs.get(d.incidents.index) ?? 0, problems: docs.get(d.problems.index) ?? 0,
        createdAt: new Date(Number(info.settings?.index?.creation_date ?? 0)).toISOString(),
        complete: d.incidents.alias in (info.aliases ?? {}) && d.problems.alias in (indices[d.problems.index]?.aliases ?? {}),
      })
    }
    return out.sort((a, b) => a.dataset.localeCompare(b.dataset))
  } catch (err) {
    throw elasticsearchUnavailable(err)
  }
}
