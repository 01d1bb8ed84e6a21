import type { Client, estypes } from '@elastic/elasticsearch'
import { alertIntervals, completeChanges, type AlertIntervals, type MemberRecord, type TimedChange } from './availability.ts'
import { termBuckets } from './buckets.ts'
import { isDegraded, type DegradedRule } from './degraded.ts'
import { alertScopeClauses, recordScopeClauses, serviceInScope, type ScopeFilter } from './scope.ts'

const DAY = 86_400_000
const PAGE = 10_000
/**
 * The alert index is read in slices of this much event time, a few at once: a quarter is several requests,
 * not one long scroll. A slice holding a page or more is halved until each half fits in one page.
 */
const SLICE_MS = 7 * DAY
const PARALLEL = 4

/**
 * Where service levels of [from, to) stop being measured: now, within the window. The part of a window
 * that has not happened yet is neither up nor down; a window wholly after now has nothing to measure.
 */
export function measuredUntil(fromMs: number, toMs: number, nowMs: number): number {
  return Math.min(Math.max(nowMs, fromMs), toMs)
}

export interface ServiceTimeIndices {
  alerts: string
  incidents: string
}

export interface ServiceTimeQuery {
  /** The start of the earliest window asked about. */
  from: number
  /** Open intervals run to here: the end of the latest window, or now when that is earlier. */
  until: number
  /** How far before `from` the alert index is read for openings; older ones come from the incidents. */
  lookBackMs: number
  rule: DegradedRule
  /** Changes per request (10,000); smaller in tests, to exercise the halving of full slices. */
  pageSize?: number
  /** Only alerts of these environments and services (`?environment=`, `?service=`, `?team=`). */
  scope?: ScopeFilter
}


async function pages<T>(search: (after: estypes.SortResults | undefined) => Promise<estypes.SearchResponse<T>>, each: (hit: estypes.SearchHit<T>) => void): Promise<void> {
  let after: estypes.SortResults | undefined
  for (;;) {
    const r = await search(after)
    // With filter_path, a page without hits has no `hits` at all.
    const hits = (r.hits as estypes.SearchHitsMetadata<T> | undefined)?.hits ?? []
    for (const h of hits) each(h)
    if (hits.length < PAGE) return
    after = hits.at(-1)!.sort
  }
}

// Not reports: a critical complaint says customers are hurt, which its incident carries; it is no alert
// state, and never resolves, so counted as a firing it was downtime until the end of every window.
const criticalIn = (from: number, until: number, scope?: ScopeFilter): estypes.QueryDslQueryContainer[] => [
  { term: { severity: 'critical' } }, { range: { eventAt: { gte: from, lt: until, format: 'epoch_millis' } } }, ...alertScopeClauses(scope),
  { bool: { must_not: { term: { source: 'report' } } } },
]

/**
 * The critical changes the degraded rule judges: Alertmanager's. A Pingdom check is down when DOWN, whatever
 * its name: the receiver makes the check's name its alertname, and "Checkout ResponseTime" matched the
 * rule's expression, so a real outage of it counted no downtime (until 2026-12-05).
 */
const ruledIn = (from: number, until: number, scope?: ScopeFilter): estypes.QueryDslQueryContainer[] => [
  ...criticalIn(from, until, scope), { term: { source: 'alertmanager' } },
]

/**
 * Critical alert changes with event time in [from, until), from doc values (no `_source`, no stored field):
 * only what firing intervals need. Labels are not read per change: the degraded rule is answered per
 * alert by `degradedKeys`, as an Alertmanager fingerprint is the hash of the alert's labels.
 */
async function criticalChanges(es: Client, index: string, from: number, until: number, pageSize: number, scope?: ScopeFilter): Promise<TimedChange[]> {
  const slices: [number, number][] = []
  for (let t = from; t < until; t += SLICE_MS) slices.push([t, Math.min(until, t + SLICE_MS)])
  const out: TimedChange[] = []
  // At most PARALLEL requests at once; a slot is not held while a halved slice's halves are read.
  let active = 0
  const waiting: (() => void)[] = []
  const limited = async <T>(f: () => Promise<T>): Promise<T> => {
    while (active >= PARALLEL) await new Promise<void>((resolve) => waiting.push(resolve))
    active++
    try { return await f() } finally { active--; waiting.shift()?.() }
  }
  const read = async ([gte, lt]: [number, number], after?: estypes.SortResults): Promise<void> => {
    const r = await limited(() => es.search({
      // The values ride on the sort, not the fetch phase: the collector has read them from doc values
      // already, and no stored field (not even _id) is loaded. Half the bytes and time of docvalue_fields.
      index, size: pageSize, ignore_unavailable: true, allow_no_indices: true, track_total_hits: false, _source: false, stored_fields: '_none_',
      filter_path: ['hits.hits.sort'],
      query: { bool: { filter: criticalIn(gte, lt, scope) } },
      sort: [{ source: 'asc' }, { fingerprint: 'asc' }, { status: 'asc' }, { service: { order: 'asc', missing: '' } }, { startsAt: 'asc' }, { endsAt: { order: 'asc', missing: 0 } }],
      ...(after ? { search_after: after } : {}),
    }))
    const hits = (r.hits as estypes.SearchHitsMetadata | undefined)?.hits ?? []
    // A full page may have left changes out: read the slice again as two halves (no paging, so no id to sort on).
    if (hits.length >= pageSize && lt - gte > 1) {
      const mid = gte + Math.floor((lt - gte) / 2)
      await Promise.all([read([gte, mid]), read([mid, lt])])
      return
    }
    for (const h of hits) {
      const [source, fingerprint, status, service, startsAt, endsAt] = (h.sort ?? []) as [string, string, string, string, number, number]
      const resolved = status === 'resolved'
      const at = resolved && endsAt !== 0 ? endsAt : startsAt
      if (typeof at === 'number') out.push({ key: `${source}:${fingerprint}`, status: resolved ? 'resolved' : 'firing', at, service, ...(resolved && startsAt < at ? { startedAt: startsAt } : {}) })
    }
    // A millisecond cannot be halved: one that fills a page (a rule evaluation firing thousands of alerts at
    // one instant) is read on after the page's last sort values. Changes that share them all are one change
    // (a redelivery), which the page already holds. Until 2026-12-05 the rest of it was left out.
    if (hits.length >= pageSize) await read([gte, lt], hits.at(-1)!.sort)
  }
  await Promise.all(slices.map((slice) => read(slice)))
  return out
}

/**
 * The alerts (`<source>:<fingerprint>`) among the critical changes in [from, until) that the degraded
 * rule picks, by aggregations: the distinct alertnames first (few), matched here against the rule's
 * expression, then the keys of the changes with a matching alertname or label.
 */
async function degradedKeys(es: Client, index: string, from: number, until: number, rule: DegradedRule, scope?: ScopeFilter): Promise<Set<string>> {
  const base = { index, size: 0, ignore_unavailable: true, allow_no_indices: true, track_total_hits: false } as const
  let names: string[] = []
  if (rule.alertnames !== null) {
    // Every name (`termBuckets`): a `terms` of 10,000 dropped the names of the fewest changes, and a degraded
    // alert among them counted as down.
    const buckets = await termBuckets(es, { index, query: { bool: { filter: ruledIn(from, until, scope) } }, lenient: true }, 'labels.alertname')
    names = buckets.map((b) => b.term).filter((n) => isDegraded({ labels: [], alertnames: rule.alertnames }, { alertname: n }))
  }
  const should: estypes.QueryDslQueryContainer[] = [
    ...(names.length > 0 ? [{ terms: { 'labels.alertname': names } }] : []),
    ...rule.labels.map((l) => ({ term: { [`labels.${l.name}`]: l.value } })),
  ]
  const keys = new Set<string>()
  if (should.length === 0) return keys
  let after: Record<string, string> | undefined
  for (;;) {
    const r = await es.search({
      ...base, query: { bool: { filter: ruledIn(from, until, scope), should, minimum_should_match: 1 } },
      aggs: { keys: { composite: { size: PAGE, sources: [{ source: { terms: { field: 'source' } } }, { fingerprint: { terms: { field: 'fingerprint' } } }], ...(after ? { after } : {}) } } },
    })
    const agg = r.aggregations?.keys as estypes.AggregationsCompositeAggregate | undefined
    const buckets = (agg?.buckets ?? []) as estypes.AggregationsCompositeBucket[]
    for (const b of buckets) keys.add(`${String(b.key.source)}:${String(b.key.fingerprint)}`)
    if (buckets.length < PAGE || !agg?.after_key) return keys
    after = agg.after_key as Record<string, string>
  }
}

/**
 * Of the Alertmanager alerts firing since before the read range (`fingerprints`), those the degraded rule
 * picks, by the labels of each one's latest change before the range. `degradedKeys` judges the changes in
 * the range only, and such an alert has none there: re-sent with its first startsAt, the index holds its one
 * firing, older. Judged by its member's alertname alone, a latency alert labelled `slo=latency` was degraded
 * in the reviews whose look-back held its firing and down in every later one (until 2026-12-06). One search
 * for all of them, and none when there are none.
 */
async function degradedBefore(es: Client, index: string, before: number, fingerprints: readonly string[], rule: DegradedRule): Promise<Set<string>> {
  const keys = new Set<string>()
  if (fingerprints.length === 0 || (rule.alertnames === null && rule.labels.length === 0)) return keys
  const chunks: string[][] = []
  for (let i = 0; i < fingerprints.length; i += PAGE) chunks.push(fingerprints.slice(i, i + PAGE))
  await Promise.all(chunks.map(async (chunk) => {
    const r = await es.search<{ fingerprint: string; labels?: Record<string, string> }>({
      index, size: chunk.length, ignore_unavailable: true, allow_no_indices: true, track_total_hits: false,
      query: { bool: { filter: [{ term: { severity: 'critical' } }, { term: { source: 'alertmanager' } }, { terms: { fingerprint: chunk } }, { range: { eventAt: { lt: before, format: 'epoch_millis' } } }] } },
      collapse: { field: 'fingerprint' }, sort: [{ eventAt: 'desc' }], _source: ['fingerprint', 'labels'],
    })
    for (const h of r.hits.hits) if (h._source && isDegraded(rule, { labels: h._source.labels })) keys.add(`alertmanager:${h._source.fingerprint}`)
  }))
  return keys
}

type MemberDoc = { resolvedAt?: string | null; resolvedBy?: string | null; alerts?: (Omit<MemberRecord, 'key' | 'resolvedByHandAt'> & { fingerprint: string })[] }

/**
 * Members of the incidents that can complete the alert index (`completeChanges`): incidents with a member
 * resolved by staleness within the range (now, or before it fired again: `guessedEnds`), incidents a person resolved within it, and incidents still open or resolved after `from`, wherever they
 * opened: one opened within the range holds the start of an alert Alertmanager sent only resolved (it fired
 * and ended between two flushes of its group), which the alert index lacks (until 2026-12-05 only incidents
 * opened before the range were read, and such an outage counted no downtime). The object array is not
 * nested, so the query over-selects; `completeChanges` decides per member.
 */
async function members(es: Client, index: string, rangeStart: number, from: number, until: number, scope?: ScopeFilter): Promise<MemberRecord[]> {
  const out: MemberRecord[] = []
  await pages((after) => es.search<MemberDoc>({
    index, size: PAGE, track_total_hits: false,
    query: {
      bool: {
        filter: [{ term: { 'alerts.severity': 'critical' } }, { range: { openedAt: { lt: until, format: 'epoch_millis' } } }, ...recordScopeClauses(scope)],
        should: [
          { bool: { filter: [{ term: { 'alerts.autoResolved': true } }, { range: { lastEventAt: { gte: rangeStart, format: 'epoch_millis' } } }] } },
          { bool: { filter: [{ exists: { field: 'alerts.guessedEnds' } }, { range: { lastEventAt: { gte: rangeStart, format: 'epoch_millis' } } }] } },
          { term: { status: 'open' } },
          { range: { resolvedAt: { gte: from, format: 'epoch_millis' } } },
          // Resolved by hand within the range: a member left firing ends there, though the index's lone DOWN reads on.
          { bool: { filter: [{ term: { resolvedBy: 'manual' } }, { range: { resolvedAt: { gte: rangeStart, format: 'epoch_millis' } } }] } },
        ],
        minimum_should_match: 1,
      },
    },
    sort: [{ openedAt: 'asc' }, { id: 'asc' }],
    _source: ['resolvedAt', 'resolvedBy', 'alerts.source', 'alerts.fingerprint', 'alerts.service', 'alerts.severity', 'alerts.name', 'alerts.firstSeenAt', 'alerts.resolvedAt', 'alerts.autoResolved', 'alerts.guessedEnds'],
    ...(after ? { search_after: after } : {}),
  }), (h) => {
    const resolvedByHandAt = h._source?.resolvedBy === 'manual' ? h._source.resolvedAt ?? null : null
    for (const a of h._source?.alerts ?? []) {
      out.push({
        key: `${a.source}:${a.fingerprint}`, source: a.source, service: a.service, severity: a.severity, name: a.name, firstSeenAt: a.firstSeenAt, resolvedAt: a.resolvedAt ?? null, autoResolved: a.autoResolved === true, resolvedByHandAt,
        ...(a.guessedEnds ? { guessedEnds: a.guessedEnds } : {}),
      })
    }
  })
  return out
}

/**
 * Every critical alert's firing intervals that can touch [from, until), classified down or degraded:
 * the alert index's changes from `lookBackMs` before `from`, completed by the incidents' members
 * (staleness, openings before the look-back). `serviceTimes` turns them into each window's figures.
 */
export async function readAlertIntervals(es: Client, idx: ServiceTimeIndices, q: ServiceTimeQuery): Promise<AlertIntervals[]> {
  const rangeStart = q.from - q.lookBackMs
  const [changes, [inScope, degradedOld], degraded] = await Promise.all([
    criticalChanges(es, idx.alerts, rangeStart, q.until, q.pageSize ?? PAGE, q.scope),
    members(es, idx.incidents, rangeStart, q.from, q.until, q.scope).then(async (records) => {
      // An in-scope incident's members may be of other services: their figures are not asked for.
      const kept = records.filter((m) => serviceInScope(q.scope, m.service))
      const old = kept.filter((m) => m.source === 'alertmanager' && m.severity === 'critical' && Date.parse(m.firstSeenAt) < rangeStart && (m.resolvedAt === null || Date.parse(m.resolvedAt) >= rangeStart))
      const fingerprints = [...new Set(old.map((m) => m.key.slice('alertmanager:'.length)))]
      return [kept, await degradedBefore(es, idx.alerts, rangeStart, fingerprints, q.rule)] as const
    }),
    degradedKeys(es, idx.alerts, rangeStart, q.until, q.rule, q.scope),
  ])
  // An alert the index no longer holds at all is judged by its member record's alertname.
  return alertIntervals(completeChanges(changes, inScope), q.until, (labels, key) => degraded.has(key) || degradedOld.has(key) || isDegraded(q.rule, { labels }))
}
