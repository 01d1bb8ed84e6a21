import type { Client, estypes } from '@elastic/elasticsearch'
import { SEVERITIES, type Incident, type Problem } from '@opsreview/schemas'
import { POSTMORTEM_AWAITED } from '@opsreview/search-index/retention'
import { fullyAvailable, hadServiceTime, serviceTimes, worstFirst, type ServiceTime } from './availability.ts'
import { termBuckets } from './buckets.ts'
import { defaultDegradedRule, type DegradedRule } from './degraded.ts'
import { rankedBy, rankedBySeverity } from './ranking.ts'
import { readResponseTimes, type ResponseTimes, type ResponseTimeSource } from './response-times.ts'
import { recordScopeClauses, serviceInScope, type ScopeFilter } from './scope.ts'
import { hitsTotal } from './search.ts'
import { measuredUntil, readAlertIntervals } from './service-time.ts'
import { addDays, dateText, localTime, startOfDay } from './zone.ts'
import type { ReviewWindow, ReviewWindowAt } from './window.ts'

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
  /** Incidents opened in the window. */
  incidents: number
  /**
   * Mean time to acknowledge of the incidents acknowledged in the window, and to resolve of those resolved in
   * it (as `resolvedIncidents`, wherever they opened); null when none.
   */
  mttaMs: number | null
  mttrMs: number | null
}

/**
 * The window reviewed. Service levels are over [from, until): the window, or while it runs (a `to` after now)
 * its part so far, which the meeting is told (`complete` false), as the look-back tells of a running period.
 */
export interface ReviewedWindow extends ReviewWindow {
  until: string
  complete: boolean
}

export interface Review {
  window: ReviewedWindow
  /**
   * A digest's also (absent elsewhere): `late`, of them, those opened before the window; `carried`, those
   * past the most a digest records (of the window, or late ones the window's more severe outranked), which
   * the next one lists (`DigestNew`).
   */
  newIncidents: { total: number; bySeverity: BySeverity; items: IncidentSummary[]; late?: number; carried?: number }
  resolvedIncidents: { total: number; items: IncidentSummary[] }
  openIncidents: { total: number; items: IncidentSummary[] }
  problems: { total: number; items: ListedProblem[] }
  /**
   * The queue (`POSTMORTEM_AWAITED`, and those scheduled) and, apart, `forgotten`: those whose post-mortem the
   * correlator forgot in the window (`postmortem.forgottenAt`), never scheduled: no decision can schedule
   * them any more, and the meeting is told so instead of seeing them in the queue for ever.
   */
  postmortems: { total: number; scheduled: number; items: IncidentSummary[]; forgotten: { total: number; items: IncidentSummary[] } }
  serviceLevels: ServiceLevel[]
  /** Per service, over the same [from, until) as the service levels, from Prometheus (response-times.ts). */
  responseTimes: ResponseTimes
  trend: { day: string; total: number; critical: number; warning: number; info: number }[]
}

export interface ReviewIndices {
  alerts: string
  incidents: string
  problems: string
}

const LIST_LIMIT = 200

type IncidentFigures = Pick<ServiceLevel, 'incidents' | 'mttaMs' | 'mttrMs'>

const noIncidents: IncidentFigures = { incidents: 0, mttaMs: null, mttrMs: null }

/**
 * The services with something in the window, worst first (`worstFirst`): an incident opened, acknowledged or
 * resolved in it, downtime or degraded time. A service whose alerts fired only before the window (read for
 * the look-back) and that had none of these is left out.
 */
export function serviceLevelsOf(times: ReadonlyMap<string, ServiceTime>, incidents: ReadonlyMap<string, IncidentFigures>): ServiceLevel[] {
  return [...new Set([...incidents.keys(), ...times.keys()])]
    .map((service): ServiceLevel => ({ service, ...(times.get(service) ?? fullyAvailable), ...(incidents.get(service) ?? noIncidents) }))
    .filter((l) => l.incidents > 0 || l.mttaMs !== null || l.mttrMs !== null || hadServiceTime(l))
    .sort(worstFirst)
}

/**
 * The trend's 30 local days as instants. The service computes each local midnight with the runtime's zone
 * rules rather than handing the zone to a `date_histogram`: Elasticsearch's (its JDK's) zone database is not
 * Node's, and a zone only Node knows (America/Coyhaique, new in tzdata 2025b) made the whole review fail.
 * A day the zone skipped (Pacific/Apia, 30 December 2011) is an empty range under its own date.
 */
function trendDays(zone: string, first: { year: number; month: number; day: number }): { key: string; from: number; to: number }[] {
  return Array.from({ length: 30 }, (_, i) => {
    const date = addDays(first, i)
    return { key: dateText(date), from: startOfDay(zone, date), to: startOfDay(zone, addDays(date, 1)) }
  })
}

const sources = <T>(r: estypes.SearchResponse<T>) => r.hits.hits.map((h) => h._source!)

/**
 * One bucket per service (`services`) of the incidents `query` selects, with `aggs` in each: every service
 * (`termBuckets`). A `terms` aggregation of 1,000 (the look-back's 2,000) buckets dropped the services with
 * the fewest incidents silently once more services than that had one in the window: their incidents, MTTA
 * and MTTR read as none, or the service was not listed at all (until 2026-12-07). Only the services in
 * scope: an in-scope incident's other services are not.
 */
export async function serviceBuckets<B>(es: Client, index: string, query: estypes.QueryDslQueryContainer, aggs: Record<string, estypes.AggregationsAggregationContainer>, scope: ScopeFilter | undefined): Promise<(B & { service: string })[]> {
  return (await termBuckets<B>(es, { index, query }, 'services', aggs)).flatMap((b) => (serviceInScope(scope, b.term) ? [{ ...b, service: b.term }] : []))
}

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
  /** The digest's: its new incidents as it read them, once (`DigestNew`). */
  newIncidents?: DigestNew
  /** Where response times are read; none (`not-configured`) when absent. */
  responseTimes?: ResponseTimeSource
}

/**
 * A digest's new incidents, read once by `newIncidentsQuery`: the ids it lists, counts and records in its
 * ledger (at most `MAX_RECORDED_NEW`), and how many more there were (`carried`): those the next digest lists,
 * as not listed before, so that each is counted once. Until 2026-12-06 a day of more went unsaid.
 */
export interface DigestNew {
  ids: readonly string[]
  carried: number
}

type BySeverity = Record<'critical' | 'warning' | 'info', number>

type Mean = { mean: { value: number | null } }

/** The aggregation `severityCounts` reads. */
const severityAggregation: estypes.AggregationsAggregationContainer = { terms: { field: 'severity', size: 3 } }

/** Incidents by severity, from a `severityAggregation`. */
function severityCounts(aggregate: estypes.AggregationsAggregate | undefined): BySeverity {
  const counts = { critical: 0, warning: 0, info: 0 }
  for (const b of (aggregate as estypes.AggregationsStringTermsAggregate | undefined)?.buckets as estypes.AggregationsStringTermsBucket[] ?? []) {
    counts[b.key as keyof BySeverity] = b.doc_count
  }
  return counts
}

/**
 * The windows of earlier digests and the ids they listed as new: an incident opened in one of them and
 * listed by none was indexed only after that digest was posted (one opened seconds before it, behind
 * Alertmanager's group_wait; a backlog drained late), and is new in the next digest.
 */
export interface LateIncidents {
  windows: readonly { from: string; to: string }[]
  listed: readonly string[]
}

/** The new incidents of a digest in its scope: opened in the window, and those earlier digests' windows left out (`late`). */
export function newIncidentsQuery(window: Pick<ReviewWindowAt, 'from' | 'to'>, scope: ScopeFilter | undefined, late?: LateIncidents): estypes.QueryDslQueryContainer {
  const inWindow: estypes.QueryDslQueryContainer = { range: { openedAt: { gte: window.from, lt: window.to } } }
  const earlier = (late?.windows ?? []).filter((w) => w.from < window.from)
  if (!late || earlier.length === 0) return { bool: { filter: [inWindow, ...recordScopeClauses(scope)] } }
  const missed: estypes.QueryDslQueryContainer = {
    bool: {
      should: earlier.map((w) => ({ range: { openedAt: { gte: w.from, lt: w.to < window.from ? w.to : window.from } } })),
      minimum_should_match: 1,
      ...(late.listed.length > 0 ? { must_not: [{ ids: { values: [...late.listed] } }] } : {}),
    },
  }
  return { bool: { filter: recordScopeClauses(scope), should: [inWindow, missed], minimum_should_match: 1 } }
}

export async function buildReview(es: Client, idx: ReviewIndices, window: ReviewWindowAt, opts: ReviewOptions = {}): Promise<Review> {
  const from = Date.parse(window.from)
  const to = Date.parse(window.to)
  // A window wholly after now has no time to measure, so it has no service levels, and the alert index is
  // not read for it.
  const until = measuredUntil(from, to, Date.parse(window.now))
  const zone = window.timeZone
  // The trend: 30 local calendar days in the window's zone, the last one being the day the window ends in.
  const days = trendDays(zone, addDays(localTime(zone, to - 1), -29))
  const firstDayMs = days[0]!.from
  const inWindow = (field: string): estypes.QueryDslQueryContainer => ({ range: { [field]: { gte: window.from, lt: window.to } } })
  const scopeClauses = recordScopeClauses(opts.scope)
  const scoped = (query: estypes.QueryDslQueryContainer): estypes.QueryDslQueryContainer => (scopeClauses.length === 0 ? query : { bool: { filter: [query, ...scopeClauses] } })
  // Resolved in the window: decided in it. `resolvedAt` is when the outage ended, which a staleness guess
  // puts a day before the decision: selected by it, such an incident was open in one review and in no
  // review's resolved list (until 2026-12-05). Documents of older engines have only `resolvedAt`.
  const resolvedInWindow: estypes.QueryDslQueryContainer = {
    bool: {
      filter: [{ term: { status: 'resolved' } }],
      should: [inWindow('resolutionDecidedAt'), { bool: { filter: [inWindow('resolvedAt')], must_not: [{ exists: { field: 'resolutionDecidedAt' } }] } }],
      minimum_should_match: 1,
    },
  }
  const list = (query: estypes.QueryDslQueryContainer, sort: estypes.Sort, aggs?: Record<string, estypes.AggregationsAggregationContainer>) =>
    es.search<IncidentSummary>({ index: idx.incidents, size: LIST_LIMIT, track_total_hits: true, query, sort, _source: [...incidentSummaryFields], ...(aggs ? { aggs } : {}) })

  const [created, resolved, open, problems, postmortems, forgotten, perService, trend, intervals, responseTimes] = await Promise.all([
    opts.newIncidents
      // Those of earlier windows first: cut at LIST_LIMIT, or at the chat's limit, they would go first. Then
      // the most severe, as below.
      ? list(rankedBy({ ids: { values: [...opts.newIncidents.ids] } }, [{ range: { openedAt: { lt: window.from } } }, ...SEVERITIES.map((severity) => ({ term: { severity } }))]), [{ _score: { order: 'desc' } }, { openedAt: 'desc' }], {
        severity: severityAggregation, late: { filter: { range: { openedAt: { lt: window.from } } } },
      })
      // The most severe first, then the newest, as the open ones: cut at LIST_LIMIT, a day of many warnings
      // (a storm in the morning) pushed the night's critical outage, older, off the list (until 2026-12-06).
      : list(rankedBySeverity(scoped({ bool: { filter: [inWindow('openedAt')] } })), [{ _score: { order: 'desc' } }, { openedAt: 'desc' }], { severity: severityAggregation }),
    list(scoped(resolvedInWindow), [{ resolvedAt: 'desc' }]),
    list(rankedBySeverity(scoped({ bool: { filter: [{ term: { status: 'open' } }] } })), [{ _score: { order: 'desc' } }, { openedAt: 'desc' }]),
    es.search<ProblemSummary>({
      index: idx.problems, size: LIST_LIMIT, track_total_hits: true,
      // Recurring ones first, the most incidents first: the problems that keep coming back. Then forecasts made
      // in the window: they name no incident, so by count they came last, and a list cut at LIST_LIMIT dropped
      // the news of a disk running full (until 2026-12-06); older forecasts keep their place by count.
      query: rankedBy(scoped({ bool: { filter: [{ terms: { status: ['candidate', 'confirmed'] } }] } }), [
        { term: { kind: 'recurring' } },
        { bool: { filter: [{ term: { kind: 'forecast' } }, inWindow('lastSeenAt')] } },
      ]),
      sort: [{ _score: { order: 'desc' } }, { incidentCount: 'desc' }, { lastSeenAt: 'desc' }],
      _source: [...problemSummaryFields],
    }),
    // The queue: every incident the rule says needs a post-mortem that nobody has scheduled, however long ago
    // it opened and resolved (one that became required as it resolved, after the review that saw it open,
    // was otherwise in no review's queue at all); and those scheduled (required or not), opened in the window
    // or still open.
    list(scoped({
      bool: {
        should: [
          POSTMORTEM_AWAITED,
          { bool: { filter: [{ exists: { field: 'postmortem.scheduledFor' } }, { bool: { should: [inWindow('openedAt'), { term: { status: 'open' } }], minimum_should_match: 1 } }] } },
        ],
        minimum_should_match: 1,
      },
    // Counted over the whole queue, not the LIST_LIMIT listed: "scheduled" is of the same set as the total.
    }), [{ openedAt: 'desc' }], { scheduled: { filter: { exists: { field: 'postmortem.scheduledFor' } } } }),
    // Out of the queue since the correlator forgot them in the window: said once, in the review that covers it.
    list(scoped({ bool: { filter: [inWindow('postmortem.forgottenAt')] } }), [{ 'postmortem.forgottenAt': 'desc' }]),
    // Per service: the incidents opened in the window; MTTA of those acknowledged in it, MTTR of those resolved
    // in it (the resolved list's). Each incident counts once in each across consecutive windows: taken from
    // those opened in the window, an incident still open or unacknowledged at the window's end was in no
    // review's MTTR or MTTA, and those were the longest (until 2026-12-06).
    serviceBuckets<{ opened: { doc_count: number }; acknowledged: Mean; resolved: Mean }>(es, idx.incidents, scoped({ bool: { should: [inWindow('openedAt'), inWindow('acknowledgedAt'), resolvedInWindow], minimum_should_match: 1 } }), {
      opened: { filter: inWindow('openedAt') },
      acknowledged: { filter: inWindow('acknowledgedAt'), aggs: { mean: { avg: { field: 'timeToAcknowledgeMs' } } } },
      resolved: { filter: resolvedInWindow, aggs: { mean: { avg: { field: 'timeToResolveMs' } } } },
    }, opts.scope),
    es.search({
      index: idx.incidents, size: 0,
      query: scoped({ range: { openedAt: { gte: firstDayMs, lt: to, format: 'epoch_millis' } } }),
      aggs: {
        // Local days in the zone: 23 or 25 h across a DST change.
        days: { date_range: { field: 'openedAt', format: 'epoch_millis', ranges: days.map((d) => ({ key: d.key, from: d.from, to: d.to })) }, aggs: { severity: { terms: { field: 'severity', size: 3 } } } },
      },
    }),
    until === from ? [] : readAlertIntervals(es, idx, { from, until, lookBackMs: opts.availabilityLookBackMs ?? 7 * DAY, rule: opts.degradedRule ?? defaultDegradedRule, ...(opts.scope ? { scope: opts.scope } : {}) }),
    readResponseTimes(opts.responseTimes, from, until, opts.scope),
  ])

  const incidentsByService = new Map<string, { incidents: number; mttaMs: number | null; mttrMs: number | null }>()
  const rounded = (m: Mean) => (m.mean.value === null ? null : Math.round(m.mean.value))
  for (const b of perService) incidentsByService.set(b.service, { incidents: b.opened.doc_count, mttaMs: rounded(b.acknowledged), mttrMs: rounded(b.resolved) })
  const serviceLevels = until === from ? [] : serviceLevelsOf(serviceTimes(intervals, from, until), incidentsByService)

  const problemItems = sources(problems).map(listedProblem)
  const pmItems = sources(postmortems)
  const dayBuckets = new Map(((trend.aggregations?.days as estypes.AggregationsDateRangeAggregate | undefined)?.buckets as (estypes.AggregationsRangeBucket & { severity: estypes.AggregationsStringTermsAggregate })[] ?? []).map((b) => [b.key, b]))

  return {
    window: { from: window.from, to: window.to, timeZone: window.timeZone, until: new Date(until).toISOString(), complete: until === to },
    newIncidents: {
      total: hitsTotal(created), bySeverity: severityCounts(created.aggregations?.severity), items: sources(created),
      ...(opts.newIncidents ? { late: (created.aggregations?.late as estypes.AggregationsFilterAggregate | undefined)?.doc_count ?? 0 } : {}),
      ...(opts.newIncidents && opts.newIncidents.carried > 0 ? { carried: opts.newIncidents.carried } : {}),
    },
    resolvedIncidents: { total: hitsTotal(resolved), items: sources(resolved) },
    openIncidents: { total: hitsTotal(open), items: sources(open) },
    problems: { total: hitsTotal(problems), items: problemItems },
    postmortems: { total: hitsTotal(postmortems), scheduled: (postmortems.aggregations?.scheduled as estypes.AggregationsFilterAggregate | undefined)?.doc_count ?? 0, items: pmItems,
      forgotten: { total: hitsTotal(forgotten), items: sources(forgotten) },
    },
    serviceLevels,
    responseTimes,
    trend: days.map(({ key }) => {
      const b = dayBuckets.get(key)
      const sev = Object.fromEntries(((b?.severity.buckets as estypes.AggregationsStringTermsBucket[] | undefined) ?? []).map((s) => [s.key, s.doc_count]))
      return { day: key, total: b?.doc_count ?? 0, critical: sev.critical ?? 0, warning: sev.warning ?? 0, info: sev.info ?? 0 }
    }),
  }
}
