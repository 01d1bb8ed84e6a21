/**
 * Retention of what the indexer writes to Elasticsearch (docs/retention.md): alert months are deleted
 * whole, resolved incidents and closed problems one by one, each kind after its own number of months.
 * The pure part decides what is old; the rest asks Elasticsearch and deletes. Every delete is idempotent,
 * so a run that fails half-way is simply run again; retention-scheduler.ts keeps two indexers from running
 * at once.
 */
import type { Client, estypes } from '@elastic/elasticsearch'
import { classifyRequestError } from './errors.ts'
import { indexNames } from './templates.ts'

export interface RetentionSettings {
  /** Alert months kept before the current one. */
  alertsMonths: number
  /** Months a resolved incident is kept after the month it resolved in. */
  incidentsMonths: number
  /** Months a closed problem is kept after the month its latest incident opened in. */
  problemsMonths: number
}

/** The defaults: a year of alerts; two years of incidents and problems, so a year-over-year look-back has both years. */
export const DEFAULT_RETENTION: RetentionSettings = { alertsMonths: 13, incidentsMonths: 25, problemsMonths: 25 }

/** Problem statuses the review has closed: they collect no more incidents. Candidates and confirmed ones are open. */
export const CLOSED_PROBLEM_STATUSES = ['resolved', 'dismissed'] as const
export const OPEN_PROBLEM_STATUSES = ['candidate', 'confirmed'] as const

/**
 * The first instant that is kept: 00:00 UTC on the first day of the month `months` months before the
 * current UTC month. Anything before it is older than `months` months. With `months` = 13 on any day of
 * December 2026, that is 2025-11-01T00:00:00.000Z: the current month and the 13 whole months before it
 * are kept.
 */
export function retentionCutoff(now: number, months: number): Date {
  const today = new Date(now)
  const cutoff = new Date(0)
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  cutoff.setUTCFullYear(today.getUTCFullYear(), today.getUTCMonth() - months, 1)
  return cutoff
}

/** A month as alert indices name it, `2026.11`. */
export function monthName(at: Date): string {
  return `${String(at.getUTCFullYear()).padStart(4, '0')}.${String(at.getUTCMonth() + 1).padStart(2, '0')}`
}

/** The oldest alert month that is kept. */
export const oldestKeptMonth = (now: number, months: number): string => monthName(retentionCutoff(now, months))

export interface AlertMonthsToDelete {
  /** Months older than the retention, oldest first. */
  months: string[]
  /** Every concrete index of those months, sorted. */
  indices: string[]
}

/**
 * Which of `names` (concrete index names) are alert months to delete: those of the live alerts of
 * `prefix` (`<prefix>-alerts-YYYY.MM` and `<prefix>-alerts-YYYY.MM-<generation>`) whose month is older
 * than the oldest kept one. Every other name, a what-if dataset's or another prefix's included, is never
 * chosen. A month goes with all its generations, or not at all.
 */
export function alertMonthsToDelete(names: readonly string[], prefix: string, now: number, months: number): AlertMonthsToDelete {
  const alerts = indexNames(prefix).alerts
  const oldest = oldestKeptMonth(now, months)
  const indices = names.filter((name) => {
    const month = alerts.monthOf(name)
    return month !== undefined && month < oldest
  }).sort()
  const monthsOut = [...new Set(indices.map((i) => alerts.monthOf(i)!))].sort()
  return { months: monthsOut, indices }
}

/** Terms queries are limited to 65,536 terms per query (`index.max_terms_count`): longer lists are cut. */
const TERMS_CHUNK = 10_000
const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * An incident in the review's post-mortem queue: required, not scheduled yet, and still the correlator's to
 * schedule (the report's query). One it forgot (`postmortem.forgottenAt`: pushed out of those it keeps for
 * their post-mortems by newer ones) no decision can schedule: kept in the queue, it was an item nothing
 * could take off it, and this retention kept it for ever.
 */
export const POSTMORTEM_AWAITED: estypes.QueryDslQueryContainer = Object.freeze({
  bool: { filter: [{ term: { 'postmortem.required': true } }], must_not: [{ exists: { field: 'postmortem.scheduledFor' } }, { exists: { field: 'postmortem.forgottenAt' } }] },
})

/** What open problems refer to: their ids (incidents name them) and the incidents they name. */
export interface OpenReferences {
  problemIds: readonly string[]
  incidentIds: readonly string[]
}

/**
 * Incidents to delete: resolved before the cutoff, and referred to by no open problem (neither naming an
 * open problem in `problemIds`, nor named in an open problem's `incidentIds`). An open incident is never
 * deleted, whatever its age, nor one whose post-mortem is required and not scheduled: the review's queue
 * lists it until it is, however long ago it resolved.
 */
export function incidentsToDeleteQuery(cutoff: Date, open: OpenReferences): estypes.QueryDslQueryContainer {
  return {
    bool: {
      filter: [{ term: { status: 'resolved' } }, { range: { resolvedAt: { lt: cutoff.toISOString() } } }],
      must_not: [
        POSTMORTEM_AWAITED,
        ...chunks(open.problemIds, TERMS_CHUNK).map((ids) => ({ terms: { problemIds: ids } })),
        ...chunks(open.incidentIds, TERMS_CHUNK).map((ids) => ({ ids: { values: ids } })),
      ],
    },
  }
}

/**
 * Problems that may be deleted once no kept incident refers to them: closed (resolved or dismissed), with
 * their latest incident opened before the cutoff, and resolved before it (`resolvedAt`, when the document
 * has one). A candidate or confirmed problem is never deleted.
 */
export function closedProblemsBeforeQuery(cutoff: Date): estypes.QueryDslQueryContainer {
  const before = cutoff.toISOString()
  return {
    bool: {
      filter: [{ terms: { status: [...CLOSED_PROBLEM_STATUSES] } }, { range: { lastSeenAt: { lt: before } } }],
      must_not: [{ range: { resolvedAt: { gte: before } } }],
    },
  }
}

/** Incidents that refer to a problem: they name it, or it names them. */
function incidentsOf(problem: { id: string; incidentIds: readonly string[] }): estypes.QueryDslQueryContainer {
  return {
    bool: {
      should: [{ term: { problemIds: problem.id } }, ...(problem.incidentIds.length > 0 ? [{ ids: { values: [...problem.incidentIds] } }] : [])],
      minimum_should_match: 1,
    },
  }
}

export interface RetentionPlan {
  now: string
  alerts: AlertMonthsToDelete & { oldestKept: string }
  incidents: { cutoff: string; count: number; query: estypes.QueryDslQueryContainer }
  problems: { cutoff: string; ids: string[] }
}

export interface RetentionResult {
  now: string
  dryRun: boolean
  /** `blocked`: old alert indices a block refuses to delete (an operator made them read-only), kept; only when there are some. */
  alerts: { oldestKept: string; months: string[]; indices: string[]; blocked?: string[] }
  incidents: { cutoff: string; deleted: number }
  problems: { cutoff: string; deleted: number }
}

const PAGE = 1000

/** Every document of `index` matching `query`, in pages sorted by id; only `fields` of each. */
async function* scan<T>(es: Client, index: string, query: estypes.QueryDslQueryContainer, fields: string[], signal?: AbortSignal): AsyncGenerator<T> {
  let after: estypes.SortResults | undefined
  for (;;) {
    const r = await es.search<T>({ index, query, size: PAGE, sort: [{ id: 'asc' }], _source: fields, track_total_hits: false, ...(after ? { search_after: after } : {}) }, { signal })
    for (const hit of r.hits.hits) if (hit._source) yield hit._source
    if (r.hits.hits.length < PAGE) return
    after = r.hits.hits.at(-1)!.sort
  }
}

/** What open problems refer to, read from the problems alias. */
async function openReferences(es: Client, problemsAlias: string, signal?: AbortSignal): Promise<OpenReferences> {
  const problemIds: string[] = []
  const incidentIds = new Set<string>()
  const open = { terms: { status: [...OPEN_PROBLEM_STATUSES] } }
  for await (const p of scan<{ id: string; incidentIds?: string[] }>(es, problemsAlias, open, ['id', 'incidentIds'], signal)) {
    problemIds.push(p.id)
    for (const i of p.incidentIds ?? []) incidentIds.add(i)
  }
  return { problemIds, incidentIds: [...incidentIds] }
}

/** Closed problems before the cutoff that no kept incident (one matching `keptIncidents`) refers to. */
async function problemsToDelete(es: Client, n: ReturnType<typeof indexNames>, cutoff: Date, keptIncidents: estypes.QueryDslQueryContainer, signal?: AbortSignal): Promise<string[]> {
  const out: string[] = []
  const candidates = scan<{ id: string; incidentIds?: string[] }>(es, n.problems.alias, closedProblemsBeforeQuery(cutoff), ['id', 'incidentIds'], signal)
  let batch: { id: string; incidentIds: string[] }[] = []
  const flush = async () => {
    if (batch.length === 0) return
    // Over the kept incidents, one filter per problem: a bucket with documents is a problem some kept
    // incident still refers to.
    const filters = Object.fromEntries(batch.map((p, i) => [String(i), incidentsOf(p)]))
    const r = await es.search({ index: n.incidents.alias, size: 0, query: keptIncidents, aggs: { referred: { filters: { filters } } } }, { signal })
    const buckets = (r.aggregations?.referred as estypes.AggregationsFiltersAggregate | undefined)?.buckets as Record<string, { doc_count: number }> | undefined
    batch.forEach((p, i) => { if ((buckets?.[String(i)]?.doc_count ?? 1) === 0) out.push(p.id) })
    batch = []
  }
  for await (const p of candidates) {
    batch.push({ id: p.id, incidentIds: p.incidentIds ?? [] })
    if (batch.length >= 100) await flush()
  }
  await flush()
  return out
}

type PlanBeforeProblems = Omit<RetentionPlan, 'problems'> & { problems: { cutoff: string } }

/** The alert months and the incidents to delete now. Reads only. */
async function planAlertsAndIncidents(es: Client, prefix: string, settings: RetentionSettings, now: number, signal?: AbortSignal): Promise<PlanBeforeProblems> {
  const n = indexNames(prefix)
  const names = await es.cat.indices({ index: n.alerts.pattern, h: 'index', format: 'json', expand_wildcards: ['open', 'closed'] }, { signal })
  const alerts = alertMonthsToDelete(names.map((r) => r.index ?? ''), prefix, now, settings.alertsMonths)
  const incidentsCutoff = retentionCutoff(now, settings.incidentsMonths)
  const problemsCutoff = retentionCutoff(now, settings.problemsMonths)
  await es.indices.refresh({ index: `${n.incidents.alias},${n.problems.alias}` }, { signal })
  const query = incidentsToDeleteQuery(incidentsCutoff, await openReferences(es, n.problems.alias, signal))
  const { count } = await es.count({ index: n.incidents.alias, query }, { signal })
  return {
    now: new Date(now).toISOString(),
    alerts: { ...alerts, oldestKept: oldestKeptMonth(now, settings.alertsMonths) },
    incidents: { cutoff: incidentsCutoff.toISOString(), count, query },
    problems: { cutoff: problemsCutoff.toISOString() },
  }
}

/**
 * What a run would delete now. Reads only. The kept incidents are those not planned for deletion; a run
 * decides its problems again after its incident deletes, as some of those may be refused.
 */
export async function planRetention(es: Client, prefix: string, settings: RetentionSettings, now: number, signal?: AbortSignal): Promise<RetentionPlan> {
  const plan = await planAlertsAndIncidents(es, prefix, settings, now, signal)
  const ids = await problemsToDelete(es, indexNames(prefix), new Date(plan.problems.cutoff), { bool: { must_not: [plan.incidents.query] } }, signal)
  return { ...plan, problems: { ...plan.problems, ids } }
}

/**
 * Deletes every document of `index` that matches `query`, as `_delete_by_query` does but from the client
 * (that API is in the `reindex` module, which not every distribution carries): pages sorted by id, each
 * document deleted only at the version it was read at. A document changed meanwhile (409) is left for the
 * next run, which looks at it again; one already gone (404) is done. Any other failure throws.
 *
 * The version, not `if_seq_no`: incidents and problems are written with external versions, and a delete
 * by sequence number raises the deleted document's version from V to V+1, so for `index.gc_deletes` (60 s)
 * the correlator's next version, V+1, would be refused as a conflict, which the indexer takes for "a newer
 * version is there" and drops. `external_gte` at V leaves the deletion at V: V+1 is written, and a version
 * newer than the one read still makes the delete a 409.
 */
async function deleteMatching(es: Client, index: string, query: estypes.QueryDslQueryContainer, signal?: AbortSignal): Promise<number> {
  let deleted = 0
  let after: estypes.SortResults | undefined
  for (;;) {
    const r = await es.search({ index, query, size: PAGE, sort: [{ id: 'asc' }], _source: false, version: true, track_total_hits: false, ...(after ? { search_after: after } : {}) }, { signal })
    const hits = r.hits.hits
    if (hits.length > 0) {
      const b = await es.bulk({ operations: hits.map((h) => ({ delete: { _index: h._index, _id: h._id!, version: h._version!, version_type: 'external_gte' as const } })) }, { signal })
      for (const item of b.items) {
        const d = item.delete!
        if (d.result === 'deleted') deleted += 1
        else if (d.status !== 409 && d.status !== 404) throw new Error(`deleting ${d._id} from ${d._index} failed (${d.status}): ${JSON.stringify(d.error)}`)
      }
    }
    if (hits.length < PAGE) break
    after = hits.at(-1)!.sort
  }
  await es.indices.refresh({ index }, { signal })
  return deleted
}

export interface RunRetentionOptions {
  dryRun?: boolean
  /**
   * Stops the run: every request carries it, so the one in flight is aborted and any later one fails at
   * once (it throws). A shutdown need not wait for a long run; what is not deleted yet is for the next run.
   */
  signal?: AbortSignal
}

/**
 * One retention run: incidents first, then the problems no incident left refers to, then the alert
 * months. With `dryRun`, what would be deleted, and nothing is.
 */
export async function runRetention(es: Client, prefix: string, settings: RetentionSettings, now: number, options: RunRetentionOptions = {}): Promise<RetentionResult> {
  const n = indexNames(prefix)
  const resultOf = (plan: PlanBeforeProblems, dryRun: boolean, problems: number): RetentionResult => ({
    now: plan.now,
    dryRun,
    alerts: { oldestKept: plan.alerts.oldestKept, months: plan.alerts.months, indices: plan.alerts.indices },
    incidents: { cutoff: plan.incidents.cutoff, deleted: plan.incidents.count },
    problems: { cutoff: plan.problems.cutoff, deleted: problems },
  })
  const { signal } = options
  if (options.dryRun) {
    const plan = await planRetention(es, prefix, settings, now, signal)
    return resultOf(plan, true, plan.problems.ids.length)
  }
  const plan = await planAlertsAndIncidents(es, prefix, settings, now, signal)
  const result = resultOf(plan, false, 0)
  result.incidents.deleted = plan.incidents.count === 0 ? 0 : await deleteMatching(es, n.incidents.alias, plan.incidents.query, signal)
  // Only now: an incident whose delete was refused (it changed since it was read) is still there and still
  // names its problem, which must stay with it. Every incident left counts as kept.
  const problemsCutoff = new Date(plan.problems.cutoff)
  const problemIds = await problemsToDelete(es, n, problemsCutoff, { match_all: {} }, signal)
  for (const ids of chunks(problemIds, TERMS_CHUNK)) {
    // The conditions again: a problem that changed since it was chosen is left for the next run.
    const query = { bool: { filter: [closedProblemsBeforeQuery(problemsCutoff), { ids: { values: ids } }] } }
    result.problems.deleted += await deleteMatching(es, n.problems.alias, query, signal)
  }
  // Explicit names (never a wildcard): `action.destructive_requires_name` is on by default.
  const blocked: string[] = []
  for (const names of chunks(plan.alerts.indices, 50)) {
    // One missing name fails the whole request (ignore_unavailable does not cover concrete names), and so does
    // one a block keeps (an old month an operator made read-only): then one by one, the blocked ones kept and
    // named. Until 2026-12-08 such a month failed every run, and the other months of its request stayed.
    await es.indices.delete({ index: names.join(',') }, { signal }).catch(async (err: unknown) => {
      if (!missingOrBlocked(err)) throw err
      for (const index of names) {
        await es.indices.delete({ index }, { ignore: [404], signal }).catch((e: unknown) => {
          if (!missingOrBlocked(e)) throw e
          blocked.push(index)
        })
      }
    })
  }
  if (blocked.length > 0) {
    const deleted = plan.alerts.indices.filter((i) => !blocked.includes(i))
    const monthsDeleted = new Set(deleted.map((i) => n.alerts.monthOf(i)))
    result.alerts = { ...result.alerts, months: result.alerts.months.filter((m) => monthsDeleted.has(m)), indices: deleted, blocked }
  }
  return result
}

/** A delete refused because the index is gone already (404) or a block keeps it (`cluster_block_exception`). */
function missingOrBlocked(err: unknown): boolean {
  return (err as { meta?: { statusCode?: number } }).meta?.statusCode === 404 || classifyRequestError(err).code === 'es-blocked'
}

/** A run's result in words, for the operator's terminal. */
export function describeRetention(r: RetentionResult): string {
  const would = r.dryRun ? 'would delete' : 'deleted'
  const months = r.alerts.months.length === 0 ? 'no alert month' : `alert months ${r.alerts.months.join(', ')} (${r.alerts.indices.length === 1 ? '1 index' : `${r.alerts.indices.length} indices`})`
  return [
    `retention at ${r.now}${r.dryRun ? ' (dry run: nothing deleted)' : ''}:`,
    `  ${would} ${months}; alert months from ${r.alerts.oldestKept} are kept`,
    ...(r.alerts.blocked ? [`  kept ${r.alerts.blocked.length} alert ${r.alerts.blocked.length === 1 ? 'index' : 'indices'} a block refuses to delete (index.blocks.*): ${r.alerts.blocked.join(', ')}; lift the block to have them deleted`] : []),
    `  ${would} ${r.incidents.deleted} resolved incident(s) resolved before ${r.incidents.cutoff}`,
    `  ${would} ${r.problems.deleted} resolved or dismissed problem(s) last seen before ${r.problems.cutoff}`,
    '',
  ].join('\n')
}
