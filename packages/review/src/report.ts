import type { Client, estypes } from '@elastic/elasticsearch'
import type { Incident, Problem } from '@opsreview/schemas'
import { serviceTimes } from './availability.ts'
import { defaultDegradedRule, type DegradedRule } from './degraded.ts'
import { recordScopeClauses, type ScopeFilter } from './scope.ts'
import { readAlertIntervals } from './service-time.ts'
import { addDays, localTime, startOfDay } from './zone.ts'
import type { ReviewWindow } from './window.ts'

const DAY = 86_400_000

/**
 * The incident fields the review lists, fetched as `_source`: the list and the type are one. The fields
 * themselves are the correlator's (schemas/incident.v1.json).
 */
export const incidentSummaryFields = [
  'id', 'title', 'status', 'severity', 'services', 'environment', 'openedAt', 'resolvedAt', 'owner', 'acknowledgedAt', 'customerImpact',
  'alertCount', 'problemIds', 'postmortem', 'version',
] as const satisfies readonly (keyof Incident)[]
export type IncidentSummary = Pick<Incident, (typeof incidentSummaryFields)[number]>

/** The problem fields the review lists (schemas/problem.v1.json). */
export const problemSummaryFields = [
  'id', 'kind', 'status', 'title', 'services', 'environment', 'incidentCount', 'firstSeenAt', 'lastSeenAt', 'owner', 'reopenCount', 'version',
] as const satisfies readonly (keyof Problem)[]
export type ProblemSummary = Pick<Problem, (typeof problemSummaryFields)[number]>

export type ListedProblem = ProblemSummary & { reopenCount: number }

/** A problem summary as listed: documents of engines before `reopenCount` have none, and never came back. */
export function listedProblem<P extends ProblemSummary>(p: P): P & ListedProblem {
  return { ...p, reopenCount: p.reopenCount ?? 0 }
}

export interface ServiceLevel {
  service: string
  availabilityPct: number
  downtimeMs: number
  interruptions: number
  longestInterruptionMs: number
  /** Time a degraded-rule alert (latency, slowness) was firing while the service was not down. */
  degradedMs: number
  incidents: number
  /** Mean time to acknowledge and to resolve, of the incidents opened in the window; null when none. */
  mttaMs: number | null
  mttrMs: number | null
}

export interface Review {
  window: ReviewWindow
  newIncidents: { total: number; bySeverity: Record<'critical' | 'warning' | 'info', number>; items: IncidentSummary[] }
  resolvedIncidents: { total: number; items: IncidentSummary[] }
  openIncidents: { total: number; items: IncidentSummary[] }
  problems: { total: number; items: ListedProblem[] }
  postmortems: { total: number; scheduled: number; items: IncidentSummary[] }
  serviceLevels: ServiceLevel[]
  trend: { day: string; total: number; critical: number; warning: number; info: number }[]
}

export interface ReviewIndices {
  alerts: string
  incidents: string
  problems: string
}

const severityOrder = { critical: 0, warning: 1, info: 2 } as Record<string, number>
const LIST_LIMIT = 200

const total = (r: estypes.SearchResponse) => (typeof r.hits.total === 'number' ? r.hits.total : (r.hits.total?.value ?? 0))
const sources = <T>(r: estypes.SearchResponse<T>) => r.hits.hits.map((h) => h._source!)

/**
 * The morning review for a window: what happened (new and resolved incidents), what is still open,
 * the candidate and open problems (recurring first), the post-mortem queue, service levels per service,
 * and the 30-day trend for the look-back.
 */
export interface ReviewOptions {
  /** How far before the window the alert index is read for openings (older ones come from the incidents). */
  availabilityLookBackMs?: number
  /** Which critical alerts count as degraded rather than down. */
  degradedRule?: DegradedRule
  /** Only these environments and services (scope.ts); everything when absent. */
  scope?: ScopeFilter
}

export async function buildReview(es: Client, idx: ReviewIndices, window: ReviewWindow, opts: ReviewOptions = {}): Promise<Review> {
  const from = Date.parse(window.from)
  const to = Date.parse(window.to)
  const zone = window.timeZone
  // The trend: 30 local calendar days in the window's zone, the last one being the day the window ends in.
  const lastDate = localTime(zone, to - 1)
  const firstDayMs = startOfDay(zone, addDays(lastDate, -29))
  const endDayMs = startOfDay(zone, addDays(lastDate, 1))
  const inWindow = (field: string): estypes.QueryDslQueryContainer => ({ range: { [field]: { gte: window.from, lt: window.to } } })
  const scopeClauses = recordScopeClauses(opts.scope)
  const scoped = (query: estypes.QueryDslQueryContainer): estypes.QueryDslQueryContainer => (scopeClauses.length === 0 ? query : { bool: { filter: [query, ...scopeClauses] } })
  const list = (query: estypes.QueryDslQueryContainer, sort: estypes.Sort, aggs?: Record<string, estypes.AggregationsAggregationContainer>) =>
    es.search<IncidentSummary>({ index: idx.incidents, size: LIST_LIMIT, track_total_hits: true, query: scoped(query), sort, _source: [...incidentSummaryFields], ...(aggs ? { aggs } : {}) })

  const [created, resolved, open, problems, postmortems, perService, trend, intervals] = await Promise.all([
    list({ bool: { filter: [inWindow('openedAt')] } }, [{ openedAt: 'desc' }], { severity: { terms: { field: 'severity', size: 3 } } }),
    list({ bool: { filter: [inWindow('resolvedAt'), { term: { status: 'resolved' } }] } }, [{ resolvedAt: 'desc' }]),
    list({ bool: { filter: [{ term: { status: 'open' } }] } }, [{ openedAt: 'desc' }]),
    es.search<ProblemSummary>({
      index: idx.problems, size: LIST_LIMIT, track_total_hits: true,
      query: scoped({ bool: { filter: [{ terms: { status: ['candidate', 'confirmed'] } }] } }),
      sort: [{ lastSeenAt: 'desc' }],
      _source: [...problemSummaryFields],
    }),
    // The queue: incidents the rule says need a post-mortem, and any the meeting scheduled one for anyway.
    list({
      bool: {
        filter: [
          { bool: { should: [{ term: { 'postmortem.required': true } }, { exists: { field: 'postmortem.scheduledFor' } }], minimum_should_match: 1 } },
          { bool: { should: [inWindow('openedAt'), { term: { status: 'open' } }], minimum_should_match: 1 } },
        ],
      },
    }, [{ openedAt: 'desc' }]),
    es.search({
      index: idx.incidents, size: 0, query: scoped({ bool: { filter: [inWindow('openedAt')] } }),
      // An in-scope incident's other services are not in scope.
      aggs: { services: { terms: { field: 'services', size: 1000, ...(opts.scope?.services ? { include: opts.scope.services } : {}) }, aggs: { mtta: { avg: { field: 'timeToAcknowledgeMs' } }, mttr: { avg: { field: 'timeToResolveMs' } } } } },
    }),
    es.search({
      index: idx.incidents, size: 0,
      query: scoped({ range: { openedAt: { gte: firstDayMs, lt: to, format: 'epoch_millis' } } }),
      aggs: {
        days: {
          // Elasticsearch's local days in the zone: 23 or 25 h across a DST change.
          date_histogram: { field: 'openedAt', calendar_interval: 'day', time_zone: zone, min_doc_count: 0, extended_bounds: { min: firstDayMs, max: endDayMs - 1 }, format: 'yyyy-MM-dd' },
          aggs: { severity: { terms: { field: 'severity', size: 3 } } },
        },
      },
    }),
    readAlertIntervals(es, idx, { from, until: to, lookBackMs: opts.availabilityLookBackMs ?? 7 * DAY, rule: opts.degradedRule ?? defaultDegradedRule, ...(opts.scope ? { scope: opts.scope } : {}) }),
  ])

  const bySeverity = { critical: 0, warning: 0, info: 0 }
  for (const b of (created.aggregations?.severity as estypes.AggregationsStringTermsAggregate | undefined)?.buckets as estypes.AggregationsStringTermsBucket[] ?? []) {
    bySeverity[b.key as keyof typeof bySeverity] = b.doc_count
  }

  const incidentsByService = new Map<string, { incidents: number; mttaMs: number | null; mttrMs: number | null }>()
  for (const b of (perService.aggregations?.services as estypes.AggregationsStringTermsAggregate | undefined)?.buckets as (estypes.AggregationsStringTermsBucket & { mtta: { value: number | null }; mttr: { value: number | null } })[] ?? []) {
    incidentsByService.set(String(b.key), { incidents: b.doc_count, mttaMs: b.mtta.value === null ? null : Math.round(b.mtta.value), mttrMs: b.mttr.value === null ? null : Math.round(b.mttr.value) })
  }
  const times = serviceTimes(intervals, from, to)
  const services = [...new Set([...incidentsByService.keys(), ...times.keys()])].sort()
  const serviceLevels = services.map((service) => ({
    service,
    ...(times.get(service) ?? { availabilityPct: 100, downtimeMs: 0, interruptions: 0, longestInterruptionMs: 0, degradedMs: 0 }),
    ...(incidentsByService.get(service) ?? { incidents: 0, mttaMs: null, mttrMs: null }),
  })).sort((a, b) => a.availabilityPct - b.availabilityPct || a.service.localeCompare(b.service))

  const problemItems = sources(problems).map(listedProblem).sort((a, b) => (a.kind === 'recurring' ? 0 : 1) - (b.kind === 'recurring' ? 0 : 1) || b.incidentCount - a.incidentCount)
  const openItems = sources(open).sort((a, b) => (severityOrder[a.severity] ?? 3) - (severityOrder[b.severity] ?? 3) || b.openedAt.localeCompare(a.openedAt))
  const pmItems = sources(postmortems)

  return {
    window,
    newIncidents: { total: total(created), bySeverity, items: sources(created) },
    resolvedIncidents: { total: total(resolved), items: sources(resolved) },
    openIncidents: { total: total(open), items: openItems },
    problems: { total: total(problems), items: problemItems },
    postmortems: { total: total(postmortems), scheduled: pmItems.filter((i) => i.postmortem.scheduledFor).length, items: pmItems },
    serviceLevels,
    trend: ((trend.aggregations?.days as estypes.AggregationsDateHistogramAggregate | undefined)?.buckets as (estypes.AggregationsDateHistogramBucket & { severity: estypes.AggregationsStringTermsAggregate })[] ?? []).map((b) => {
      const sev = Object.fromEntries(((b.severity.buckets as estypes.AggregationsStringTermsBucket[]) ?? []).map((s) => [s.key, s.doc_count]))
      return { day: b.key_as_string ?? '', total: b.doc_count, critical: sev.critical ?? 0, warning: sev.warning ?? 0, info: sev.info ?? 0 }
    }),
  }
}
