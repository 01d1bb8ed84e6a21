import type { estypes } from '@elastic/elasticsearch'

export interface FieldError {
  path: string
  message: string
}

export interface IncidentQuery {
  q?: string
  status?: 'open' | 'resolved'
  service?: string
  severity?: 'critical' | 'warning' | 'info'
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
const enums: Record<string, readonly string[]> = { status: ['open', 'resolved'], severity: ['critical', 'warning', 'info'] }

/** Cursors are opaque to clients: base64url JSON of Elasticsearch's sort values. */
export function encodeCursor(sortValues: unknown[]): string {
  return Buffer.from(JSON.stringify(sortValues)).toString('base64url')
}

function decodeCursor(raw: string): unknown[] | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
    return Array.isArray(v) ? v : undefined
  } catch {
    return undefined
  }
}

/** Validates the query string of GET /api/v1/incidents, naming every bad parameter. */
export function parseIncidentQuery(raw: Record<string, unknown>): { ok: true; value: IncidentQuery } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = []
  const str = (name: string): string | undefined => {
    const v = raw[name]
    if (v === undefined || v === '') return undefined
    if (typeof v !== 'string') { errors.push({ path: `/${name}`, message: 'must be given once' }); return undefined }
    if (v.length > 500) { errors.push({ path: `/${name}`, message: 'must be at most 500 characters' }); return undefined }
    if (enums[name] && !enums[name].includes(v)) { errors.push({ path: `/${name}`, message: `must be one of ${enums[name].join(', ')}` }); return undefined }
    return v
  }
  const time = (name: string): string | undefined => {
    const v = str(name)
    if (v === undefined) return undefined
    if (Number.isNaN(Date.parse(v))) { errors.push({ path: `/${name}`, message: 'must be a date-time' }); return undefined }
    return new Date(v).toISOString()
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
  const sort = str('sort')
  if (sort) {
    const [field, order = 'desc'] = sort.split(':')
    if (!sortFields.includes(field as (typeof sortFields)[number]) || !['asc', 'desc'].includes(order)) errors.push({ path: '/sort', message: `must be one of ${sortFields.join(', ')}, with :asc or :desc` })
    else value.sort = { field: field as IncidentQuery['sort']['field'], order: order as 'asc' | 'desc' }
  }
  const size = str('size')
  if (size) {
    const n = Number(size)
    if (!Number.isInteger(n) || n < 1 || n > 200) errors.push({ path: '/size', message: 'must be an integer from 1 to 200' })
    else value.size = n
  }
  const cursor = str('cursor')
  if (cursor) {
    const decoded = decodeCursor(cursor)
    if (!decoded) errors.push({ path: '/cursor', message: 'is not a cursor this API returned' })
    else value.cursor = decoded
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value }
}

/**
 * The Elasticsearch request for an incident search. Free text goes through `simple_query_string`, which
 * never fails on user syntax and cannot reach fields or features a raw `query_string` could.
 */
export function incidentSearchRequest(index: string, q: IncidentQuery): estypes.SearchRequest {
  const filter: estypes.QueryDslQueryContainer[] = []
  const term = (field: string, value: string | undefined) => { if (value !== undefined) filter.push({ term: { [field]: value } }) }
  term('status', q.status)
  term('services', q.service)
  term('severity', q.severity)
  term('environment', q.environment)
  term('owner', q.owner)
  term('problemIds', q.problem)
  if (q.from || q.to) filter.push({ range: { openedAt: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lt: q.to } : {}) } } })
  const must: estypes.QueryDslQueryContainer[] = q.q
    ? [{ simple_query_string: { query: q.q, fields: ['title^3', 'alerts.title^2', 'alerts.name', 'services^2', 'notes.text', 'reports.title'], default_operator: 'and', lenient: true } }]
    : []
  const sortField = q.sort.field === 'severity' ? 'severity' : q.sort.field
  return {
    index,
    size: q.size,
    track_total_hits: true,
    query: { bool: { filter, must } },
    // The id breaks ties, so search_after pages are stable.
    sort: [{ [sortField]: { order: q.sort.order, missing: q.sort.order === 'desc' ? '_last' : '_first' } }, { id: { order: 'asc' } }],
    ...(q.cursor ? { search_after: q.cursor as estypes.SortResults } : {}),
    _source: { excludes: ['alerts', 'reports', 'notes'] },
  }
}
