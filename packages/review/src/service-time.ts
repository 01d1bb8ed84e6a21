import type { Client, estypes } from '@elastic/elasticsearch'
import { alertIntervals, completeChanges, type AlertIntervals, type MemberRecord, type TimedChange } from './availability.ts'
import { isDegraded, type DegradedRule } from './degraded.ts'

const DAY = 86_400_000
const PAGE = 10_000
/** The alert index is read in slices of this much event time, a few at once: a quarter is several requests, not one long scroll. */
const SLICE_MS = 15 * DAY
const PARALLEL = 4

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
}

const first = (v: unknown): string | undefined => (Array.isArray(v) && v.length > 0 ? String(v[0]) : undefined)

async function pages<T>(search: (after: estypes.SortResults | undefined) => Promise<estypes.SearchResponse<T>>, each: (hit: estypes.SearchHit<T>) => void): Promise<void> {
  let after: estypes.SortResults | undefined
  for (;;) {
    const r = await search(after)
    for (const h of r.hits.hits) each(h)
    if (r.hits.hits.length < PAGE) return
    after = r.hits.hits.at(-1)!.sort
  }
}

/**
 * Critical alert changes with event time in [from, until), as doc values (no `_source` parsed): the
 * fields firing intervals need and the labels the degraded rule reads.
 */
async function criticalChanges(es: Client, index: string, from: number, until: number, labelNames: readonly string[]): Promise<TimedChange[]> {
  const labelFields = [...new Set(['alertname', ...labelNames])]
  const slices: [number, number][] = []
  for (let t = from; t < until; t += SLICE_MS) slices.push([t, Math.min(until, t + SLICE_MS)])
  const out: TimedChange[][] = slices.map(() => [])
  let next = 0
  const worker = async () => {
    for (let i = next++; i < slices.length; i = next++) {
      const [gte, lt] = slices[i]!
      await pages((after) => es.search({
        index, size: PAGE, ignore_unavailable: true, allow_no_indices: true, track_total_hits: false, _source: false,
        query: { bool: { filter: [{ term: { severity: 'critical' } }, { range: { eventAt: { gte, lt, format: 'epoch_millis' } } }] } },
        sort: [{ eventAt: 'asc' }, { id: 'asc' }],
        docvalue_fields: [
          'source', 'fingerprint', 'status', 'service', { field: 'startsAt', format: 'epoch_millis' }, { field: 'endsAt', format: 'epoch_millis' },
          ...labelFields.map((l) => `labels.${l}`),
        ],
        ...(after ? { search_after: after } : {}),
      }), (h) => {
        const f = h.fields ?? {}
        const status = first(f.status) === 'resolved' ? 'resolved' : 'firing'
        const at = Number(status === 'resolved' ? (first(f.endsAt) ?? first(f.startsAt)) : first(f.startsAt))
        if (!Number.isFinite(at)) return
        const labels: Record<string, string> = {}
        for (const l of labelFields) { const v = first(f[`labels.${l}`]); if (v !== undefined) labels[l] = v }
        out[i]!.push({ key: `${first(f.source)}:${first(f.fingerprint)}`, status, at, service: first(f.service) ?? '', labels })
      })
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, slices.length) }, worker))
  return out.flat()
}

type MemberDoc = { alerts?: (Omit<MemberRecord, 'key'> & { fingerprint: string })[] }

/**
 * Members of the incidents that can complete the alert index (`completeChanges`): incidents with a member
 * resolved by staleness within the range, and incidents opened before the range still open or resolved
 * after `from`. The object array is not nested, so the query over-selects; `completeChanges` decides per member.
 */
async function members(es: Client, index: string, rangeStart: number, from: number, until: number): Promise<MemberRecord[]> {
  const out: MemberRecord[] = []
  await pages((after) => es.search<MemberDoc>({
    index, size: PAGE, track_total_hits: false,
    query: {
      bool: {
        filter: [{ term: { 'alerts.severity': 'critical' } }, { range: { openedAt: { lt: until, format: 'epoch_millis' } } }],
        should: [
          { bool: { filter: [{ term: { 'alerts.autoResolved': true } }, { range: { lastEventAt: { gte: rangeStart, format: 'epoch_millis' } } }] } },
          { bool: { filter: [{ range: { openedAt: { lt: rangeStart, format: 'epoch_millis' } } }], should: [{ term: { status: 'open' } }, { range: { resolvedAt: { gte: from, format: 'epoch_millis' } } }], minimum_should_match: 1 } },
        ],
        minimum_should_match: 1,
      },
    },
    sort: [{ openedAt: 'asc' }, { id: 'asc' }],
    _source: ['alerts.source', 'alerts.fingerprint', 'alerts.service', 'alerts.severity', 'alerts.name', 'alerts.firstSeenAt', 'alerts.resolvedAt', 'alerts.autoResolved'],
    ...(after ? { search_after: after } : {}),
  }), (h) => {
    for (const a of h._source?.alerts ?? []) {
      out.push({ key: `${a.source}:${a.fingerprint}`, source: a.source, service: a.service, severity: a.severity, name: a.name, firstSeenAt: a.firstSeenAt, resolvedAt: a.resolvedAt ?? null, autoResolved: a.autoResolved === true })
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
  const [changes, records] = await Promise.all([
    criticalChanges(es, idx.alerts, rangeStart, q.until, q.rule.labels.map((l) => l.name)),
    members(es, idx.incidents, rangeStart, q.from, q.until),
  ])
  return alertIntervals(completeChanges(changes, records), q.until, (labels) => isDegraded(q.rule, { labels }))
}
