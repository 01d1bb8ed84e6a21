import type { estypes } from '@elastic/elasticsearch'
import { recordSchemas, SEVERITIES, type FieldError, type Incident, type IncidentStatus, type Problem, type ProblemKind, type ProblemStatus, type Severity } from '@opsreview/schemas'
import { causes, responseOf } from '@opsreview/search-index/errors'
import { rankedBySeverity } from './ranking.ts'
import { parseZone, parseZonedInstant } from './window.ts'

export interface IncidentQuery {
  q?: string
  status?: IncidentStatus
  service?: string
  severity?: Severity
  environment?: string
  owner?: string
  problem?: string
  from?: string
  to?: string
  sort: { field: 'openedAt' | 'resolvedAt' | 'lastEventAt' | 'severity'; order: 'asc' | 'desc' }
  size: number
  cursor?: unknown[]
}

const sortFields = ['openedAt', 'resolvedAt', 'lastEventAt', 'severity'] as const
// The values a filter takes are the schema's: a status the correlator cannot write is refused, not searched for.
const { incident: incidentSchema, problem: problemSchema } = recordSchemas
const enums: Record<string, readonly string[]> = { status: incidentSchema.definitions.incidentStatus.enum, severity: SEVERITIES }

/**
 * Where a date sort puts documents without the field (an open incident has no resolvedAt): 0000-01-01.
 * Elasticsearch's own `_last`/`_first` markers are ±2^63, which a JavaScript number cannot carry back
 * exactly in a cursor, and Elasticsearch refuses the rounded value.
 */
export const MISSING_DATE_SORT_MS = -62_167_219_200_000
const LATEST_SORT_MS = 253_402_300_799_999

/**
 * Which list and sort a cursor belongs to (`incidents:openedAt:desc`): a cursor carries it, and is taken
 * only by a request of the same list and sort. The values alone fit another sort of the same kind (any
 * date sort, either direction) and gave a wrong page without a word.
 */
export type CursorSort = `incidents:${IncidentQuery['sort']['field']}:${'asc' | 'desc'}` | `problems:${ProblemSortField}:desc`
export const incidentCursorSort = (sort: IncidentQuery['sort']): CursorSort => `incidents:${sort.field}:${sort.order}`
export const PROBLEM_CURSOR_SORT: CursorSort = 'problems:lastSeenAt:desc'

/** Cursors are opaque to clients: base64url JSON of their list and sort, then Elasticsearch's sort values. */
export function encodeCursor(sort: CursorSort, sortValues: unknown[]): string {
  return Buffer.from(JSON.stringify([sort, ...sortValues])).toString('base64url')
}

/**
 * A cursor is accepted only in the shape this API hands out for the requested list and sort: that sort,
 * the sort value (epoch milliseconds for a date, the severity's rank for severity) and the incident or
 * problem id that breaks ties. Anything else would reach Elasticsearch as a `search_after` it refuses, or
 * page another sort. Returns the `search_after` values.
 */
export function decodeCursor(raw: string, sort: CursorSort): unknown[] | undefined {
  if (raw.length > 1000 || !/^[A-Za-z0-9_-]+$/.test(raw)) return undefined
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  if (!Array.isArray(v) || v.length !== 3 || v[0] !== sort) return undefined
  const sortField = sort.split(':')[1]
  const [, value, id] = v as [unknown, unknown, unknown]
  if (typeof id !== 'string' || id.length === 0 || id.length > 128) return undefined
  if (sortField === 'severity') return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= SEVERITIES.length + 1 ? [value, id] : undefined
  return Number.isSafeInteger(value) && (value as number) >= MISSING_DATE_SORT_MS && (value as number) <= LATEST_SORT_MS ? [value, id] : undefined
}

/**
 * Reads single-valued query parameters, pushing a fault onto `errors` for each bad one: absent or empty
 * is undefined; repeated ("must be given once"), over 500 characters or outside its `enums` entry is named.
 */
export function parameterReader(raw: Record<string, unknown>, errors: FieldError[], enums: Record<string, readonly string[]> = {}) {
  return (name: string): string | undefined => {
    const v = raw[name]
    if (v === undefined || v === '') return undefined
    if (typeof v !== 'string') { errors.push({ path: `/${name}`, message: 'must be given once' }); return undefined }
    if (v.length > 500) { errors.push({ path: `/${name}`, message: 'must be at most 500 characters' }); return undefined }
    if (enums[name] && !enums[name].includes(v)) { errors.push({ path: `/${name}`, message: `must be one of ${enums[name].join(', ')}` }); return undefined }
    return v
  }
}

/** `size` and `cursor` of a list, read alike on every list: the cursor must be one handed out for the same sort. */
function pageOf(str: (name: string) => string | undefined, errors: FieldError[], sort: CursorSort, defaultSize: number): { size: number; cursor?: unknown[] } {
  const page: { size: number; cursor?: unknown[] } = { size: defaultSize }
  const size = str('size')
  if (size) {
    const n = Number(size)
    if (!/^\d{1,3}$/.test(size) || n < 1 || n > 200) errors.push({ path: '/size', message: 'must be an integer from 1 to 200' })
    else page.size = n
  }
  const cursor = str('cursor')
  if (cursor) {
    const decoded = decodeCursor(cursor, sort)
    if (!decoded) errors.push({ path: '/cursor', message: 'is not a cursor this API returned for this list and sort' })
    else page.cursor = decoded
  }
  return page
}

/**
 * Validates the query string of GET /api/v1/incidents, naming every bad parameter. A date in `from`/`to` is
 * local midnight in `tz` or `defaultZone`, as the review reads it: until 2026-12-06 the search read it as UTC
 * midnight and took no `tz`, so with a service zone the same dates were another window on each route.
 */
export function parseIncidentQuery(raw: Record<string, unknown>, defaultZone = 'UTC'): { ok: true; value: IncidentQuery } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = []
  const str = parameterReader(raw, errors, enums)
  const zone = parseZone(str, errors, defaultZone)
  const time = (name: string): string | undefined => {
    const v = str(name)
    if (v === undefined) return undefined
    const t = parseZonedInstant(v, zone)
    if (!t.ok) { errors.push({ path: `/${name}`, message: t.message }); return undefined }
    return new Date(t.ms).toISOString()
  }
  const value: IncidentQuery = { sort: { field: 'openedAt', order: 'desc' }, size: 20 }
  for (const name of ['q', 'status', 'service', 'severity', 'environment', 'owner', 'problem'] as const) {
    const v = str(name)
    if (v !== undefined) (value as unknown as Record<string, string>)[name] = v
  }
  const from = time('from')
  const to = time('to')
  if (from) value.from = from
  if (to) value.to = to
  if (from && to && from >= to) errors.push({ path: '/from', message: 'must be before to' })
  const sort = str('sort')
  if (sort) {
    const [, field = '', order = 'desc'] = /^([A-Za-z]+)(?::(asc|desc))?$/.exec(sort) ?? []
    if (!sortFields.includes(field as (typeof sortFields)[number])) errors.push({ path: '/sort', message: `must be one of ${sortFields.join(', ')}, with :asc or :desc` })
    else value.sort = { field: field as IncidentQuery['sort']['field'], order: order as 'asc' | 'desc' }
  }
  Object.assign(value, pageOf(str, errors, incidentCursorSort(value.sort), 20))
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value }
}

/** What an incident list leaves out of each incident: the parts that grow (members, reports, notes). */
export const incidentListExcludes = ['alerts', 'reports', 'notes'] as const satisfies readonly (keyof Incident)[]
/** An incident as a list (search, a problem's incidents) returns it. */
export type IncidentListItem = Omit<Incident, (typeof incidentListExcludes)[number]>

/**
 * The operators free text takes (docs/review-api.md): `+`, `|`, `-`, `"phrase"`, `prefix*`, `( )` and `\`
 * escapes. Not fuzzy `word~`: each fuzzy word becomes up to 50 terms in each of the six fields, and a query
 * of a hundred such words, well under 500 characters, is more clauses than Elasticsearch runs (its limit
 * follows its heap), so it refuses the whole search. Phrase slop `"a b"~2` goes with it, so that `~` is text
 * wherever it stands. A prefix stays: Elasticsearch matches its terms without making a clause of each.
 */
export const SEARCH_OPERATORS = 'AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE'

/** The fields of the incident document free text is matched against, the title first. */
const INCIDENT_TEXT_FIELDS = ['title^3', 'alerts.title^2', 'alerts.name', 'services^2', 'notes.text', 'reports.title']

const freeText = (query: string, fields: string[]): estypes.QueryDslQueryContainer =>
  ({ simple_query_string: { query, fields, default_operator: 'and', flags: SEARCH_OPERATORS, lenient: true } })

/**
 * How many alerts (by source and fingerprint) and how many reports (by event id) whose labels match the
 * free text an incident search takes at most, the most recently seen first: the terms the incident query
 * then holds stay bounded however many alert events a word like `prod*` matches.
 */
export const LABEL_MATCHES_MAX = 500

/**
 * How far before `from` the alert events of an incident opened after it may lie: a member's events are
 * never older than its incident's opening (the engine moves the opening back for an older event), but a
 * report joins an incident that opens up to OPSREVIEW_REPORT_WINDOW (30 min by default) after it.
 */
const LABEL_MATCH_BEFORE_MS = 3_600_000

/**
 * How far after `to` the alert events of an incident opened before it are looked at: alerts join an open
 * incident after its opening, most within hours. Without this bound a search of last month for a label
 * still firing today took the 500 alerts seen last, today's, and found none of last month's incidents.
 */
const LABEL_MATCH_AFTER_MS = 86_400_000

/** The alerts and reports whose labels (or a report's description) matched a search's free text. */
export interface LabelMatches {
  /** `<source>:<fingerprint>` of the alerts: an incident member's `alerts.key`. */
  alertKeys: string[]
  /** The event ids of the reports: an incident's `reports.eventId`. */
  reportEventIds: string[]
}

/**
 * The Elasticsearch request for the alert events whose label values match a search's free text, with the
 * same operators, each value whole and as written (labels are `flattened`: `db-7` finds the label value
 * `db-7`, `db-7*` also `db-7:9100`); for a report, its description too, which the incident holds no more
 * than labels. Aggregated to the LABEL_MATCHES_MAX alerts and reports seen last, events of the search's
 * time bounds only (from an hour before `from` to a day after `to`). Undefined without free text.
 */
export function labelMatchRequest(alertsIndex: string, q: Pick<IncidentQuery, 'q' | 'from' | 'to'>): estypes.SearchRequest | undefined {
  if (q.q === undefined) return undefined
  const report: estypes.QueryDslQueryContainer = { term: { source: 'report' } }
  const filter: estypes.QueryDslQueryContainer[] = q.from || q.to
    ? [{ range: { eventAt: { ...(q.from ? { gte: Date.parse(q.from) - LABEL_MATCH_BEFORE_MS } : {}), ...(q.to ? { lt: Date.parse(q.to) + LABEL_MATCH_AFTER_MS } : {}), format: 'epoch_millis' } } }]
    : []
  const latest = { latest: { max: { field: 'eventAt' } } }
  return {
    index: alertsIndex, size: 0, track_total_hits: false, ignore_unavailable: true, allow_no_indices: true,
    query: {
      bool: {
        filter,
        should: [
          { bool: { must_not: [report], must: [freeText(q.q, ['labels'])] } },
          { bool: { filter: [report], must: [freeText(q.q, ['labels', 'description'])] } },
        ],
        minimum_should_match: 1,
      },
    },
    aggs: {
      // By fingerprint, then source (multi_terms is not in every distribution): the member's `alerts.key`.
      alerts: { filter: { bool: { must_not: [report] } }, aggs: { fingerprints: { terms: { field: 'fingerprint', size: LABEL_MATCHES_MAX, order: { latest: 'desc' } }, aggs: { ...latest, sources: { terms: { field: 'source', size: 3 } } } } } },
      reports: { filter: report, aggs: { ids: { terms: { field: 'id', size: LABEL_MATCHES_MAX, order: { latest: 'desc' } }, aggs: latest } } },
    },
  }
}

interface Buckets<K, Sub = unknown> { buckets: ({ key: K } & Sub)[] }

/** The alerts and reports a `labelMatchRequest` found. */
export function labelMatches(r: estypes.SearchResponse<unknown>): LabelMatches {
  const aggs = r.aggregations as { alerts?: { fingerprints?: Buckets<string, { sources?: Buckets<string> }> }; reports?: { ids?: Buckets<string> } } | undefined
  return {
    alertKeys: (aggs?.alerts?.fingerprints?.buckets ?? []).flatMap((b) => (b.sources?.buckets ?? []).map((s) => `${s.key}:${b.key}`)).slice(0, LABEL_MATCHES_MAX),
    reportEventIds: (aggs?.reports?.ids?.buckets ?? []).map((b) => b.key),
  }
}

/**
 * The Elasticsearch request for an incident search. Free text goes through `simple_query_string`, which
 * never fails on user syntax and cannot reach fields or features a raw `query_string` could. It also finds
 * the incidents whose member alerts or reports are among `labels` (labelMatchRequest), scored below any
 * match of the incident's own text.
 */
export function incidentSearchRequest(index: string, q: IncidentQuery, labels?: LabelMatches): estypes.SearchRequest {
  const filter: estypes.QueryDslQueryContainer[] = []
  const term = (field: string, value: string | undefined) => { if (value !== undefined) filter.push({ term: { [field]: value } }) }
  term('status', q.status)
  term('services', q.service)
  term('severity', q.severity)
  term('environment', q.environment)
  term('owner', q.owner)
  term('problemIds', q.problem)
  if (q.from || q.to) filter.push({ range: { openedAt: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } } })
  const must: estypes.QueryDslQueryContainer[] = []
  if (q.q) {
    const byLabel = ([['alerts.key', labels?.alertKeys ?? []], ['reports.eventId', labels?.reportEventIds ?? []]] as const)
      .filter(([, values]) => values.length > 0)
      .map(([field, values]): estypes.QueryDslQueryContainer => ({ constant_score: { filter: { terms: { [field]: values.slice(0, LABEL_MATCHES_MAX) } }, boost: 0.01 } }))
    const text = freeText(q.q, INCIDENT_TEXT_FIELDS)
    must.push(byLabel.length === 0 ? text : { bool: { should: [text, ...byLabel], minimum_should_match: 1 } })
  }
  return {
    index,
    size: q.size,
    track_total_hits: true,
    query: q.sort.field === 'severity' ? rankedBySeverity({ bool: { filter, must } }) : { bool: { filter, must } },
    // The id breaks ties, so search_after pages are stable.
    // Documents without the date come last in descending order and first in ascending, as null would.
    sort: [q.sort.field === 'severity' ? { _score: { order: q.sort.order } } : { [q.sort.field]: { order: q.sort.order, missing: MISSING_DATE_SORT_MS } }, { id: { order: 'asc' } }],
    ...(q.cursor ? { search_after: q.cursor as estypes.SortResults } : {}),
    _source: { excludes: [...incidentListExcludes] },
  }
}

/** Lucene's refusals of a query with more clauses than the cluster's limit, which follows its heap. */
const TOO_MANY_CLAUSES = new Set(['too_many_clauses', 'too_many_nested_clauses'])
/** Elasticsearch's refusals of a query it cannot build from its text. */
const UNBUILDABLE_QUERY = new Set(['query_shard_exception', 'parse_exception', 'query_parsing_exception'])

/**
 * Elasticsearch's 400 for a search's free text, as the fault of `/q`: too many words and operators for the
 * cluster's clause limit, or text it cannot make a query of. Every other parameter is checked before the
 * search is sent, so with `q` given such a refusal is the text's, and the client's to change. Undefined for
 * anything else, which stays our 500 or the cluster's 503.
 */
export function freeTextFault(err: unknown, q: IncidentQuery): FieldError | undefined {
  if (q.q === undefined) return undefined
  const response = responseOf(err)
  if (response?.status !== 400) return undefined
  const all = causes(response.error)
  if (all.some((e) => TOO_MANY_CLAUSES.has(e.type ?? '') || /too many (nested )?clauses/i.test(e.reason ?? ''))) {
    return { path: '/q', message: 'has more words and operators than the search can run at once: use fewer' }
  }
  if (all.some((e) => UNBUILDABLE_QUERY.has(e.type ?? ''))) return { path: '/q', message: 'is text the search cannot make a query of' }
  return undefined
}

export interface ProblemQuery {
  status?: ProblemStatus
  kind?: ProblemKind
  service?: string
  environment?: string
  size: number
  cursor?: unknown[]
}

/** Problems list the most recently seen first; their cursors carry lastSeenAt (epoch milliseconds) and the id. */
type ProblemSortField = 'lastSeenAt'
/** All of them when there are few: the page size before `size` and `cursor` existed. */
const PROBLEM_PAGE_SIZE = 200

const problemEnums: Record<'status' | 'kind', readonly string[]> = { status: problemSchema.definitions.problemStatus.enum, kind: problemSchema.definitions.problemKind.enum }

/** Validates the query string of GET /api/v1/problems: each filter at most once, and pages, as on incidents. */
export function parseProblemQuery(raw: Record<string, unknown>): { ok: true; value: ProblemQuery } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = []
  const str = parameterReader(raw, errors, problemEnums)
  const value: ProblemQuery = { size: PROBLEM_PAGE_SIZE }
  for (const name of ['status', 'kind', 'service', 'environment'] as const) {
    const v = str(name)
    if (v !== undefined) (value as unknown as Record<string, string>)[name] = v
  }
  Object.assign(value, pageOf(str, errors, PROBLEM_CURSOR_SORT, PROBLEM_PAGE_SIZE))
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value }
}

/** The Elasticsearch request for a problem list: the most recently seen first, the id breaking ties so pages are stable. */
export function problemSearchRequest(index: string, q: ProblemQuery): estypes.SearchRequest {
  const filter: estypes.QueryDslQueryContainer[] = []
  if (q.status) filter.push({ term: { status: q.status } })
  if (q.kind) filter.push({ term: { kind: q.kind } })
  if (q.service) filter.push({ term: { services: q.service } })
  if (q.environment) filter.push({ term: { environment: q.environment } })
  return {
    index, size: q.size, track_total_hits: true, query: { bool: { filter } },
    sort: [{ lastSeenAt: { order: 'desc', missing: MISSING_DATE_SORT_MS } }, { id: { order: 'asc' } }],
    ...(q.cursor ? { search_after: q.cursor as estypes.SortResults } : {}),
  }
}

/** How many of a problem's incidents its view lists: the newest, beside how many it has in all. */
export const PROBLEM_INCIDENTS = 200

/** The Elasticsearch request for a problem's incidents: the PROBLEM_INCIDENTS opened last, and how many there are. */
export function problemIncidentsRequest(index: string, problemId: string): estypes.SearchRequest {
  return {
    index, size: PROBLEM_INCIDENTS, track_total_hits: true, query: { term: { problemIds: problemId } },
    sort: [{ openedAt: { order: 'desc' } }, { id: { order: 'asc' } }], _source: { excludes: [...incidentListExcludes] },
  }
}

/**
 * A problem's incidents as its view lists them: the newest PROBLEM_INCIDENTS `problemIncidentsRequest` found,
 * how many it has in all, and whether older ones were left out. The view has no next page, so no cursor.
 */
export function problemIncidents(r: estypes.SearchResponse<IncidentListItem>): { incidents: (IncidentListItem | undefined)[]; incidentsTotal: number; incidentsTruncated: boolean } {
  const incidents = r.hits.hits.map((h) => h._source)
  const incidentsTotal = hitsTotal(r)
  return { incidents, incidentsTotal, incidentsTruncated: incidents.length < incidentsTotal }
}

/**
 * How many documents a search found. Elasticsearch answers a number or `{ value, relation }` depending on
 * the request's options, and nothing when it was not asked to count, which counts as none.
 */
export function hitsTotal(r: Pick<estypes.SearchResponse<unknown>, 'hits'>): number {
  const t = r.hits.total
  return typeof t === 'number' ? t : (t?.value ?? 0)
}

/** One page of a search answer: its hits' documents, the total, and the cursor of the next page (null on the last). */
export function listPage<T>(r: estypes.SearchResponse<T>, size: number, sort: CursorSort): { total: number; items: (T | undefined)[]; nextCursor: string | null } {
  const hits = r.hits.hits
  const last = hits.at(-1)
  return {
    total: hitsTotal(r),
    items: hits.map((h) => h._source),
    nextCursor: hits.length === size && last?.sort ? encodeCursor(sort, last.sort) : null,
  }
}

/** A state change of an alert as an incident's timeline reads it from the alert index. */
export interface AlertChange {
  id: string
  source: string
  fingerprint: string
  status: string
  title: string
  eventAt: string
  service: string
}

/** One entry of a timeline: when, what kind, from where and what; each kind adds its own fields. */
export interface TimelineEntry {
  at: string
  kind: string
  source: string
  title: string
  [field: string]: unknown
}

/**
 * The alert changes an incident's timeline holds at most. A flapping alert makes thousands; the newest
 * are kept, as they say how the incident ended (its last resolve among them).
 */
export const TIMELINE_ALERT_CHANGES = 500
const HOUR = 3_600_000

/**
 * The Elasticsearch request for an incident's alert changes: its member alerts' changes from an hour before
 * it opened to an hour after it resolved (or now), the newest TIMELINE_ALERT_CHANGES, with how many there
 * are in all. Undefined for an incident without members.
 */
export function alertChangesRequest(index: string, incident: Pick<Incident, 'alerts' | 'openedAt' | 'resolvedAt'>, now: number): estypes.SearchRequest | undefined {
  const fingerprints = incident.alerts.map((a) => a.fingerprint)
  if (fingerprints.length === 0) return undefined
  const opened = Date.parse(incident.openedAt)
  const until = Date.parse(incident.resolvedAt ?? '') || now
  return {
    index, size: TIMELINE_ALERT_CHANGES, track_total_hits: true, ignore_unavailable: true, allow_no_indices: true,
    query: { bool: { filter: [{ terms: { fingerprint: fingerprints } }, { range: { eventAt: { gte: opened - HOUR, lte: until + HOUR, format: 'epoch_millis' } } }] } },
    sort: [{ eventAt: 'desc' }, { id: 'desc' }],
    _source: ['id', 'source', 'fingerprint', 'status', 'title', 'eventAt', 'service'],
  }
}

/**
 * An incident's timeline: the alert changes `alertChangesRequest` found, its reports and notes, and the
 * `decisions` given, in time order. When older alert changes were left out, `timelineTruncated` says so
 * and `timelineTotal` counts them with the entries shown.
 */
export function incidentTimeline(incident: Pick<Incident, 'reports' | 'notes'>, changes: estypes.SearchResponse<AlertChange> | undefined, decisions: readonly TimelineEntry[]): { timeline: TimelineEntry[]; timelineTotal: number; timelineTruncated: boolean } {
  const alerts = (changes?.hits.hits ?? []).map((h) => h._source!).reverse()
  const found = changes === undefined ? 0 : hitsTotal(changes)
  const timeline: TimelineEntry[] = [
    ...alerts.map((a) => ({ at: a.eventAt, kind: a.status === 'firing' ? 'alert-firing' : 'alert-resolved', source: a.source, fingerprint: a.fingerprint, title: a.title, service: a.service })),
    ...incident.reports.map(reportEntry),
    ...incident.notes.map(noteEntry),
    ...decisions,
  ].sort(byTime)
  const leftOut = Math.max(0, found - alerts.length)
  return { timeline, timelineTotal: timeline.length + leftOut, timelineTruncated: leftOut > 0 }
}

/**
 * A problem's timeline: its reports (a forecast's: who forecast what, when; absent from documents of engines
 * before 2026-12-06), its notes and the `decisions` given, in time order (its incidents have their own).
 */
export function problemTimeline(problem: Pick<Problem, 'notes' | 'reports'>, decisions: readonly TimelineEntry[]): TimelineEntry[] {
  return [...(problem.reports ?? []).map(reportEntry), ...problem.notes.map(noteEntry), ...decisions].sort(byTime)
}

const reportEntry = (r: { at: string; kind: string; title: string; reportedBy: string }): TimelineEntry => ({ at: r.at, kind: `report:${r.kind}`, source: 'report', title: r.title, reportedBy: r.reportedBy })
const noteEntry = (n: { at: string; text: string; author: string }): TimelineEntry => ({ at: n.at, kind: 'note', source: 'review', title: n.text, author: n.author })
const byTime = (a: TimelineEntry, b: TimelineEntry) => a.at.localeCompare(b.at)
