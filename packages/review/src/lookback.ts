import type { Client, estypes } from '@elastic/elasticsearch'
import { fullyAvailable, hadServiceTime, serviceTimes, worstFirst, type ServiceTime } from './availability.ts'
import { termBuckets } from './buckets.ts'
import { defaultDegradedRule, type DegradedRule } from './degraded.ts'
import type { LookbackQuery, Period } from './period.ts'
import { listedProblem, problemSummaryFields, serviceBuckets, type ListedProblem, type ProblemSummary, type ReviewIndices } from './report.ts'
import { readResponseTimes, type ResponseTimes, type ResponseTimeSource } from './response-times.ts'
import { recordScopeClauses, type ScopeFilter } from './scope.ts'
import { measuredUntil, readAlertIntervals } from './service-time.ts'
import { localIso } from './zone.ts'

const DAY = 86_400_000
const PROBLEM_LIMIT = 200
/** Problem ids per search for the dismissed ones: Elasticsearch's default `index.max_result_window`. */
const ID_CHUNK = 10_000

export type Severity = 'critical' | 'warning' | 'info'
export interface SeverityCounts { total: number; critical: number; warning: number; info: number }
/** Count and sum of a duration over incidents (an Elasticsearch `stats`), from which the mean comes. */
export interface DurationStats { count: number; sum: number }

/** What Elasticsearch says of the incidents opened in one period, for one service or all of them. */
export interface IncidentFacts {
  incidents: SeverityCounts
  acknowledge: DurationStats
  resolve: DurationStats
}

export interface PeriodFacts {
  /** Per service: an incident of several services counts for each. */
  services: Map<string, IncidentFacts>
  all: IncidentFacts
  /**
   * `forgotten`: required, never scheduled, and forgotten by the correlator (`postmortem.forgottenAt`), so that
   * no decision of the review can schedule them any more; among the unscheduled.
   */
  postmortems: { required: number; scheduled: number; forgotten: number }
  /** Incidents opened in the period per problem they are linked to. */
  problems: Map<string, number>
  /** Distinct problems linked to incidents of the period. */
  problemCount: number
  times: Map<string, ServiceTime>
}

export interface Figures {
  availabilityPct: number
  downtimeMs: number
  degradedMs: number
  interruptions: number
  incidents: SeverityCounts
  /** Mean time from open to acknowledge and to resolve of the incidents opened in the period; null when none. */
  mttaMs: number | null
  mttrMs: number | null
}

/** Current minus previous; null when either is null. Availability in percentage points. */
export interface Change {
  availabilityPct: number | null
  downtimeMs: number | null
  degradedMs: number | null
  incidents: number | null
  mttaMs: number | null
  mttrMs: number | null
}

export interface ServiceLookback extends Figures {
  service: string
  previous: Figures
  change: Change
}

export interface PeriodWindow {
  label: string
  from: string
  to: string
  /** The same instants with the zone's offset: `2026-10-01T00:00:00+02:00`. */
  localFrom: string
  localTo: string
  /** Service levels are over [from, until): the period, or its part before now while it runs. */
  until: string
  complete: boolean
}

/** A service's response time in the period and the previous one; `change` current minus previous, null when either is null. */
export interface ResponseTimeChange { service: string; ms: number | null; previousMs: number | null; change: number | null }

/** The review's `ResponseTimes`, each row with the previous period beside it. */
export type LookbackResponseTimes = { status: 'ok'; name: string; items: ResponseTimeChange[] } | Exclude<ResponseTimes, { status: 'ok' }>

export interface Lookback {
  period: PeriodWindow & { kind: Period['kind']; timeZone: string }
  previous: PeriodWindow
  totals: {
    incidents: SeverityCounts
    mttaMs: number | null
    mttrMs: number | null
    downtimeMs: number
    degradedMs: number
    postmortems: { required: number; scheduled: number; unscheduled: number; forgotten: number }
    problems: number
    previous: { incidents: SeverityCounts; mttaMs: number | null; mttrMs: number | null; downtimeMs: number; degradedMs: number; postmortems: { required: number; scheduled: number; forgotten: number }; problems: number }
    change: { incidents: number; mttaMs: number | null; mttrMs: number | null; downtimeMs: number; degradedMs: number; postmortemsRequired: number; problems: number }
  }
  /** With anything in either period, worst first (availability.ts `worstFirst`). */
  services: ServiceLookback[]
  /** Problems behind the period's incidents: recurring first, then by incidents in the period. */
  problems: { total: number; items: (ListedProblem & { incidentsInPeriod: number; incidentsInPrevious: number })[] }
  /** From Prometheus, each period over the part its service levels are measured over; by service name. */
  responseTimes: LookbackResponseTimes
}

export const mean = (s: DurationStats): number | null => (s.count > 0 ? Math.round(s.sum / s.count) : null)
const delta = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round((a - b) * 100) / 100)
const noIncidents: IncidentFacts = { incidents: { total: 0, critical: 0, warning: 0, info: 0 }, acknowledge: { count: 0, sum: 0 }, resolve: { count: 0, sum: 0 } }

function figures(facts: IncidentFacts | undefined, time: ServiceTime | undefined): Figures {
  const f = facts ?? noIncidents
  const t = time ?? fullyAvailable
  return { availabilityPct: t.availabilityPct, downtimeMs: t.downtimeMs, degradedMs: t.degradedMs, interruptions: t.interruptions, incidents: f.incidents, mttaMs: mean(f.acknowledge), mttrMs: mean(f.resolve) }
}

function change(cur: Figures, prev: Figures): Change {
  return {
    availabilityPct: delta(cur.availabilityPct, prev.availabilityPct), downtimeMs: cur.downtimeMs - prev.downtimeMs, degradedMs: cur.degradedMs - prev.degradedMs,
    incidents: cur.incidents.total - prev.incidents.total, mttaMs: delta(cur.mttaMs, prev.mttaMs), mttrMs: delta(cur.mttrMs, prev.mttrMs),
  }
}

/**
 * The two periods' response times side by side. Either read failing makes the whole unavailable: a change
 * against a period Prometheus did not give would read as a service that had no requests then.
 */
export function compareResponseTimes(current: ResponseTimes, previous: ResponseTimes): LookbackResponseTimes {
  // Which period Prometheus failed is said when only the previous one's read did, or the two failed apart.
  if (previous.status === 'unavailable' && (current.status !== 'unavailable' || current.error !== previous.error)) {
    const error = `the previous period: ${previous.error}`
    return { ...previous, error: current.status === 'unavailable' ? `${current.error}; ${error}` : error }
  }
  if (current.status !== 'ok') return current
  if (previous.status !== 'ok') return previous
  const before = new Map(previous.items.map((i) => [i.service, i.ms]))
  const now = new Map(current.items.map((i) => [i.service, i.ms]))
  const services = [...new Set([...now.keys(), ...before.keys()])].sort()
  // To the tenth, as the figures are: 375.1 − 200.2 is 174.90000000000003 in floating point.
  const items = services.map((service) => {
    const ms = now.get(service) ?? null
    const previousMs = before.get(service) ?? null
    return { service, ms, previousMs, change: ms === null || previousMs === null ? null : Math.round((ms - previousMs) * 10) / 10 }
  })
  return { status: 'ok', name: current.name, items }
}

function windowOf(p: Period, zone: string, nowMs: number): PeriodWindow {
  const until = measuredUntil(p.from, p.to, nowMs)
  return { label: p.label, from: new Date(p.from).toISOString(), to: new Date(p.to).toISOString(), localFrom: localIso(zone, p.from), localTo: localIso(zone, p.to), until: new Date(until).toISOString(), complete: until === p.to }
}

/** The look-back from the facts of the two periods: pure, so every figure can be checked by hand. */
export function assembleLookback(q: LookbackQuery, nowMs: number, current: PeriodFacts, previous: PeriodFacts, problems: readonly ProblemSummary[], responseTimes: LookbackResponseTimes): Lookback {
  const names = [...new Set([...current.services.keys(), ...current.times.keys(), ...previous.services.keys(), ...previous.times.keys()])]
  // A service with nothing in either period (its alerts fired only in the week read before) is left out.
  const busy = (f: Figures) => f.incidents.total > 0 || hadServiceTime(f)
  const services = names.map((service) => {
    const cur = figures(current.services.get(service), current.times.get(service))
    const prev = figures(previous.services.get(service), previous.times.get(service))
    return { service, ...cur, previous: prev, change: change(cur, prev) }
  }).filter((s) => busy(s) || busy(s.previous)).sort(worstFirst)
  const sumOf = (times: Map<string, ServiceTime>, field: 'downtimeMs' | 'degradedMs') => [...times.values()].reduce((s, t) => s + t[field], 0)
  const cur = { downtimeMs: sumOf(current.times, 'downtimeMs'), degradedMs: sumOf(current.times, 'degradedMs'), mttaMs: mean(current.all.acknowledge), mttrMs: mean(current.all.resolve) }
  const prev = { downtimeMs: sumOf(previous.times, 'downtimeMs'), degradedMs: sumOf(previous.times, 'degradedMs'), mttaMs: mean(previous.all.acknowledge), mttrMs: mean(previous.all.resolve) }
  const items = problems.map((p) => ({ ...listedProblem(p), incidentsInPeriod: current.problems.get(p.id) ?? 0, incidentsInPrevious: previous.problems.get(p.id) ?? 0 }))
    .sort((a, b) => (a.kind === 'recurring' ? 0 : 1) - (b.kind === 'recurring' ? 0 : 1) || b.incidentsInPeriod - a.incidentsInPeriod || a.id.localeCompare(b.id))
  return {
    period: { kind: q.period.kind, timeZone: q.timeZone, ...windowOf(q.period, q.timeZone, nowMs) },
    previous: windowOf(q.previous, q.timeZone, nowMs),
    totals: {
      incidents: current.all.incidents, ...cur,
      postmortems: { ...current.postmortems, unscheduled: current.postmortems.required - current.postmortems.scheduled },
      problems: current.problemCount,
      previous: { incidents: previous.all.incidents, ...prev, postmortems: previous.postmortems, problems: previous.problemCount },
      change: {
        incidents: current.all.incidents.total - previous.all.incidents.total, mttaMs: delta(cur.mttaMs, prev.mttaMs), mttrMs: delta(cur.mttrMs, prev.mttrMs),
        downtimeMs: cur.downtimeMs - prev.downtimeMs, degradedMs: cur.degradedMs - prev.degradedMs,
        postmortemsRequired: current.postmortems.required - previous.postmortems.required, problems: current.problemCount - previous.problemCount,
      },
    },
    services,
    problems: { total: current.problemCount, items },
    responseTimes,
  }
}

type Bucket = estypes.AggregationsStringTermsBucket
type Stats = { count: number; sum: number | null }
type FactsAggs = { severity: { buckets: Bucket[] }; tta: Stats; ttr: Stats }
type PeriodAggs = FactsAggs & {
  doc_count: number
  postmortems: { doc_count: number; scheduled: { doc_count: number }; forgotten: { doc_count: number } }
}

const factsAggs = { severity: { terms: { field: 'severity', size: 3 } }, tta: { stats: { field: 'timeToAcknowledgeMs' } }, ttr: { stats: { field: 'timeToResolveMs' } } } satisfies Record<string, estypes.AggregationsAggregationContainer>

function factsOf(b: FactsAggs & { doc_count: number }): IncidentFacts {
  const incidents: SeverityCounts = { total: b.doc_count, critical: 0, warning: 0, info: 0 }
  for (const s of b.severity.buckets) { const k = String(s.key); if (k === 'critical' || k === 'warning' || k === 'info') incidents[k] = s.doc_count }
  return { incidents, acknowledge: { count: b.tta.count, sum: b.tta.sum ?? 0 }, resolve: { count: b.ttr.count, sum: b.ttr.sum ?? 0 } }
}

export interface LookbackOptions {
  degradedRule?: DegradedRule
  availabilityLookBackMs?: number
  /** Only these environments and services (scope.ts); everything when absent. */
  scope?: ScopeFilter
  /** Prometheus's response times of both periods; `not-configured` when absent. */
  responseTimes?: ResponseTimeSource
}

/**
 * The monthly or quarterly look-back, with the previous period for comparison. Incident figures are
 * Elasticsearch aggregations over both periods (no incident is fetched): one request, and the paged ones
 * per service and per problem; service levels come from the critical alerts' doc values
 * (`readAlertIntervals`), read once for both periods.
 */
export async function buildLookback(es: Client, idx: ReviewIndices, q: LookbackQuery, nowMs: number, opts: LookbackOptions = {}): Promise<Lookback> {
  const { period, previous } = q
  const opened = (p: Period): estypes.QueryDslQueryContainer => ({ range: { openedAt: { gte: p.from, lt: p.to, format: 'epoch_millis' } } })
  const untilOf = (p: Period) => measuredUntil(p.from, p.to, nowMs)
  const responseTimesOf = (p: Period) => readResponseTimes(opts.responseTimes, p.from, untilOf(p), opts.scope)
  const inEither: estypes.QueryDslQueryContainer = { bool: { filter: [{ range: { openedAt: { gte: previous.from, lt: period.to, format: 'epoch_millis' } } }, ...recordScopeClauses(opts.scope)] } }
  const [aggs, perService, perProblem, intervals, currentResponseTimes, previousResponseTimes] = await Promise.all([
    es.search({
      index: idx.incidents, size: 0, track_total_hits: false,
      query: inEither,
      aggs: {
        periods: {
          filters: { filters: { current: opened(period), previous: opened(previous) } },
          aggs: {
            ...factsAggs,
            postmortems: { filter: { term: { 'postmortem.required': true } }, aggs: { scheduled: { filter: { exists: { field: 'postmortem.scheduledFor' } } }, forgotten: { filter: { exists: { field: 'postmortem.forgottenAt' } } } } },
          },
        },
      },
    }),
    // Per service, every one of them (`serviceBuckets`), each period's figures apart.
    serviceBuckets<Record<'current' | 'previous', FactsAggs & { doc_count: number }>>(es, idx.incidents, inEither, {
      current: { filter: opened(period), aggs: factsAggs }, previous: { filter: opened(previous), aggs: factsAggs },
    }, opts.scope),
    // Per problem, every one of them (`termBuckets`): a `terms` of 1,000 dropped those with the fewest incidents.
    termBuckets<Record<'current' | 'previous', { doc_count: number }>>(es, { index: idx.incidents, query: inEither }, 'problemIds', { current: { filter: opened(period) }, previous: { filter: opened(previous) } }),
    readAlertIntervals(es, idx, { from: previous.from, until: untilOf(period), lookBackMs: opts.availabilityLookBackMs ?? 7 * DAY, rule: opts.degradedRule ?? defaultDegradedRule, ...(opts.scope ? { scope: opts.scope } : {}) }),
    responseTimesOf(period),
    responseTimesOf(previous),
  ])
  const buckets = (aggs.aggregations?.periods as { buckets: Record<'current' | 'previous', PeriodAggs> }).buckets
  const factsFor = (b: PeriodAggs, p: Period): PeriodFacts => {
    const k = p === period ? 'current' : 'previous'
    const problems = new Map(perProblem.flatMap((s) => (s[k].doc_count > 0 ? [[s.term, s[k].doc_count] as const] : [])))
    return {
      services: new Map(perService.flatMap((s) => (s[k].doc_count > 0 ? [[s.service, factsOf(s[k])] as const] : []))),
      all: factsOf(b),
      postmortems: { required: b.postmortems.doc_count, scheduled: b.postmortems.scheduled.doc_count, forgotten: b.postmortems.forgotten.doc_count },
      problems,
      problemCount: problems.size,
      times: serviceTimes(intervals, p.from, untilOf(p)),
    }
  }
  const current = factsFor(buckets.current, period)
  const before = factsFor(buckets.previous, previous)
  // A dismissed problem (the review found it no real cause) stays linked to its incidents: it is no
  // problem behind them, in the count, the change or the list (until 2026-12-05 it was all three).
  // Every problem is linked (`termBuckets`), so they are looked up ID_CHUNK at a time.
  const linked = perProblem.map((s) => s.term)
  const chunks: string[][] = []
  for (let i = 0; i < linked.length; i += ID_CHUNK) chunks.push(linked.slice(i, i + ID_CHUNK))
  const dismissed = (await Promise.all(chunks.map(async (chunk) => (await es.search<{ id: string }>({
    index: idx.problems, size: chunk.length, track_total_hits: false, query: { bool: { filter: [{ terms: { id: chunk } }, { term: { status: 'dismissed' } }] } }, _source: ['id'],
  })).hits.hits.map((h) => h._source!.id)))).flat()
  for (const facts of [current, before]) {
    for (const id of dismissed) facts.problems.delete(id)
    facts.problemCount = facts.problems.size
  }
  const ids = [...current.problems.entries()].sort((a, b) => b[1] - a[1]).slice(0, PROBLEM_LIMIT).map(([id]) => id)
  const problems = ids.length === 0 ? [] : (await es.search<ProblemSummary>({
    index: idx.problems, size: ids.length, query: { terms: { id: ids } },
    _source: [...problemSummaryFields],
  })).hits.hits.map((h) => h._source!)
  return assembleLookback(q, nowMs, current, before, problems, compareResponseTimes(currentResponseTimes, previousResponseTimes))
}
