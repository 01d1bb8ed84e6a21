import { describe, expect, it } from 'vitest'
import { errors as esErrors } from '@elastic/elasticsearch'
import { alertChangesRequest, decodeCursor, encodeCursor, freeTextFault, hitsTotal, incidentSearchRequest, incidentTimeline, LABEL_MATCHES_MAX, labelMatches, labelMatchRequest, MISSING_DATE_SORT_MS, parseIncidentQuery, parseProblemQuery, problemIncidents, problemSearchRequest, problemTimeline, type IncidentListItem } from './search.ts'

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

describe('cursors', () => {
  const opened = 'incidents:openedAt:desc' as const
  const bySeverity = 'incidents:severity:desc' as const
  it('round-trip what the API hands out, the missing-value marker included', () => {
    for (const sort of [[1764576000000, 'inc-1'], [MISSING_DATE_SORT_MS, 'inc-2']]) expect(decodeCursor(encodeCursor(opened, sort), opened)).toEqual(sort)
    expect(decodeCursor(encodeCursor(bySeverity, [3, 'inc-1']), bySeverity)).toEqual([3, 'inc-1'])
    expect(decodeCursor(encodeCursor(bySeverity, [1, 'inc-1']), bySeverity)).toEqual([1, 'inc-1'])
    expect(decodeCursor(encodeCursor(bySeverity, [0, 'inc-1']), bySeverity)).toBeUndefined()
    expect(decodeCursor(encodeCursor(bySeverity, ['critical', 'inc-1']), bySeverity)).toBeUndefined()
    expect(decodeCursor(encodeCursor(bySeverity, [5, 'inc-1']), bySeverity)).toBeUndefined()
  })

  it('refuse every other shape', () => {
    for (const raw of [b64([]), b64([opened]), b64([opened, 1]), b64([opened, 1, 'a', 2]), b64([opened, 1.5, 'a']), b64([opened, '1', 'a']), b64([opened, null, 'a']), b64([opened, 2 ** 63, 'a']), b64([opened, 1, 1]), b64([opened, 1, '']), b64({}), b64('x'), 'not base64!', '']) {
      expect(decodeCursor(raw, opened), raw).toBeUndefined()
    }
    expect(decodeCursor(b64([bySeverity, 1.5, 'a']), bySeverity)).toBeUndefined()
  })

  it('refuse a cursor of another list or sort, whose values would fit but page another order', () => {
    const values = [1764576000000, 'inc-1']
    for (const other of ['incidents:openedAt:asc', 'incidents:resolvedAt:desc', 'problems:lastSeenAt:desc'] as const) {
      expect(decodeCursor(encodeCursor(other, values), opened), other).toBeUndefined()
    }
    // The cursors handed out before they named their sort: two values alone.
    expect(decodeCursor(b64(values), opened)).toBeUndefined()
    const r = parseIncidentQuery({ sort: 'openedAt:asc', cursor: encodeCursor(opened, values) })
    expect(r).toEqual({ ok: false, errors: [{ path: '/cursor', message: 'is not a cursor this API returned for this list and sort' }] })
  })
})

describe('parseIncidentQuery', () => {
  it('names every bad parameter, repeated ones included', () => {
    const r = parseIncidentQuery({ service: ['a', 'b'], size: '1e2', sort: 'openedAt:asc:x', from: '2016-12-31T23:59:60Z', cursor: b64([{}, {}]) })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.errors.map((e) => e.path).sort()).toEqual(['/cursor', '/from', '/service', '/size', '/sort'])
  })

  it('reads a date as local midnight in tz, else in the service zone, as the review does', () => {
    const window = (raw: Record<string, unknown>, zone?: string) => {
      const r = parseIncidentQuery(raw, zone)
      return r.ok ? [r.value.from, r.value.to] : r.errors
    }
    const days = { from: '2026-11-30', to: '2026-12-01' }
    expect(window(days)).toEqual(['2026-11-30T00:00:00.000Z', '2026-12-01T00:00:00.000Z'])
    expect(window(days, 'Europe/Berlin')).toEqual(['2026-11-29T23:00:00.000Z', '2026-11-30T23:00:00.000Z'])
    expect(window({ ...days, tz: 'UTC' }, 'Europe/Berlin')).toEqual(['2026-11-30T00:00:00.000Z', '2026-12-01T00:00:00.000Z'])
    // A date-time says its own offset: no zone moves it.
    expect(window({ from: '2026-11-30T08:00:00+01:00' }, 'America/New_York')).toEqual(['2026-11-30T07:00:00.000Z', undefined])
    expect(window({ ...days, tz: 'Mars/Olympus' })).toEqual([{ path: '/tz', message: 'must be an IANA time zone such as UTC or Europe/Berlin' }])
  })

  it('sorts documents without a date where null would go, with a value a cursor can carry', () => {
    const r = parseIncidentQuery({ sort: 'resolvedAt:desc' })
    if (!r.ok) throw new Error('valid')
    expect(incidentSearchRequest('i', r.value).sort).toEqual([{ resolvedAt: { order: 'desc', missing: MISSING_DATE_SORT_MS } }, { id: { order: 'asc' } }])
  })
})

describe('free text in labels', () => {
  it('looks labels up only for free text, bounded in time and in how many alerts and reports it takes', () => {
    expect(labelMatchRequest('a', {})).toBeUndefined()
    const unbounded = labelMatchRequest('a', { q: 'db-7' })!
    expect(unbounded).toMatchObject({ index: 'a', size: 0, ignore_unavailable: true, query: { bool: { filter: [] } } })
    const aggs = unbounded.aggs as Record<string, { aggs: Record<string, { terms: { size: number } }> }>
    expect(aggs.alerts!.aggs.fingerprints!.terms.size).toBe(LABEL_MATCHES_MAX)
    expect(aggs.reports!.aggs.ids!.terms!.size).toBe(LABEL_MATCHES_MAX)
    // An hour before from: a report may come before the incident it joins.
    expect(labelMatchRequest('a', { q: 'db-7', from: '2026-12-01T10:00:00.000Z' })!.query).toMatchObject({ bool: { filter: [{ range: { eventAt: { gte: Date.parse('2026-12-01T09:00:00.000Z') } } }] } })
    // A day after to: alerts join an incident after it opened.
    expect(labelMatchRequest('a', { q: 'db-7', to: '2026-12-01T10:00:00.000Z' })!.query).toMatchObject({ bool: { filter: [{ range: { eventAt: { lt: Date.parse('2026-12-02T10:00:00.000Z') } } }] } })
  })

  it('reads the alert keys and report ids found, and ORs them with the text, never more than the cap', () => {
    const found = labelMatches({ took: 1, timed_out: false, _shards: { total: 1, successful: 1, failed: 0 }, hits: { hits: [] }, aggregations: {
      alerts: { doc_count: 2, fingerprints: { buckets: [{ key: 'fp:1', doc_count: 1, sources: { buckets: [{ key: 'alertmanager', doc_count: 1 }] } }, { key: '42', doc_count: 1, sources: { buckets: [{ key: 'pingdom', doc_count: 1 }] } }] } },
      reports: { doc_count: 1, ids: { buckets: [{ key: 'evt-1', doc_count: 1 }] } },
    } } as never)
    expect(found).toEqual({ alertKeys: ['alertmanager:fp:1', 'pingdom:42'], reportEventIds: ['evt-1'] })
    const r = parseIncidentQuery({ q: 'db-7' })
    if (!r.ok) throw new Error('valid')
    const plain = incidentSearchRequest('i', r.value, { alertKeys: [], reportEventIds: [] })
    expect(plain).toEqual(incidentSearchRequest('i', r.value))
    expect(JSON.stringify(plain.query)).not.toContain('terms')
    const many = Array.from({ length: LABEL_MATCHES_MAX + 10 }, (_, n) => `alertmanager:${n}`)
    const query = JSON.stringify(incidentSearchRequest('i', r.value, { alertKeys: many, reportEventIds: ['evt-1'] }).query)
    expect(query).toContain('"alerts.key":["alertmanager:0"')
    expect(query).not.toContain(`alertmanager:${LABEL_MATCHES_MAX}"`)
    expect(query).toContain('"reports.eventId":["evt-1"]')
    expect(query).toContain('"minimum_should_match":1')
  })
})

describe('parseProblemQuery', () => {
  it('takes each filter once', () => {
    expect(parseProblemQuery({ status: 'candidate', service: 'checkout' })).toEqual({ ok: true, value: { status: 'candidate', service: 'checkout', size: 200 } })
    expect(parseProblemQuery({ environment: 'staging' })).toEqual({ ok: true, value: { environment: 'staging', size: 200 } })
    expect(parseProblemQuery({ environment: '' })).toEqual({ ok: true, value: { size: 200 } })
    expect(parseProblemQuery({ service: ['a', 'b'], kind: 'x' })).toMatchObject({ ok: false, errors: [{ path: '/kind' }, { path: '/service', message: 'must be given once' }] })
  })

  it('pages as incidents do: size 1 to 200, and a cursor of lastSeenAt and id for search_after', () => {
    const cursor = [1764576000000, 'prb-00000000000000000000000a']
    const r = parseProblemQuery({ size: '5', cursor: encodeCursor('problems:lastSeenAt:desc', cursor) })
    expect(r).toEqual({ ok: true, value: { size: 5, cursor } })
    if (!r.ok) return
    expect(problemSearchRequest('p', r.value)).toMatchObject({ size: 5, search_after: cursor, sort: [{ lastSeenAt: { order: 'desc', missing: MISSING_DATE_SORT_MS } }, { id: { order: 'asc' } }] })
    const bad = parseProblemQuery({ size: '201', cursor: b64(['problems:lastSeenAt:desc', '2026-12-01', 'prb-1']) })
    expect(bad).toEqual({ ok: false, errors: [{ path: '/size', message: 'must be an integer from 1 to 200' }, { path: '/cursor', message: 'is not a cursor this API returned for this list and sort' }] })
    const twice = encodeCursor('problems:lastSeenAt:desc', cursor)
    expect(parseProblemQuery({ size: ['1', '2'], cursor: [twice, twice] })).toMatchObject({ ok: false, errors: [{ path: '/size', message: 'must be given once' }, { path: '/cursor', message: 'must be given once' }] })
  })
})

describe('freeTextFault', () => {
  const meta = { context: null, name: 'es', request: { params: { method: 'POST', path: '/_search' }, options: {}, id: 1 }, connection: null, attempts: 0, aborted: false }
  const response = (statusCode: number, error: object) => new esErrors.ResponseError({ statusCode, body: { error, status: statusCode }, headers: {}, warnings: null, meta })
  // Elasticsearch 8.19's answer to a hundred fuzzy words, as the int test once had it (shards left out).
  const tooManyClauses = {
    root_cause: [{ type: 'illegal_argument_exception', reason: 'Query rewrite failed: too many clauses' }],
    type: 'search_phase_execution_exception', reason: 'all shards failed', phase: 'query', grouped: true,
    caused_by: { type: 'illegal_argument_exception', reason: 'Query rewrite failed: too many clauses', caused_by: { type: 'too_many_nested_clauses', reason: 'Query contains too many nested clauses; maxClauseCount is set to 16384' } },
  }
  const withText = { q: 'aa~ ab~', sort: { field: 'openedAt', order: 'desc' }, size: 20 } as const

  it('names /q for a refusal of the text: too many clauses, or a query that cannot be made of it', () => {
    expect(freeTextFault(response(400, tooManyClauses), withText)).toEqual({ path: '/q', message: 'has more words and operators than the search can run at once: use fewer' })
    // Only the root cause's reason says it, as older versions answer.
    expect(freeTextFault(response(400, { type: 'search_phase_execution_exception', root_cause: [{ type: 'illegal_argument_exception', reason: 'Query rewrite failed: too many clauses' }] }), withText)).toMatchObject({ path: '/q' })
    expect(freeTextFault(response(400, { type: 'search_phase_execution_exception', caused_by: { type: 'query_shard_exception', reason: 'failed to create query' } }), withText))
      .toEqual({ path: '/q', message: 'is text the search cannot make a query of' })
  })

  it('leaves every other failure as it is: no text, not a 400, another refusal, no answer', () => {
    expect(freeTextFault(response(400, tooManyClauses), { ...withText, q: undefined })).toBeUndefined()
    expect(freeTextFault(response(500, tooManyClauses), withText)).toBeUndefined()
    expect(freeTextFault(response(400, { type: 'search_phase_execution_exception', caused_by: { type: 'illegal_argument_exception', reason: 'Result window is too large' } }), withText)).toBeUndefined()
    expect(freeTextFault(response(404, { type: 'index_not_found_exception', reason: 'no such index' }), withText)).toBeUndefined()
    expect(freeTextFault(new esErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200'), withText)).toBeUndefined()
    expect(freeTextFault(new Error('too many clauses'), withText)).toBeUndefined()
  })
})

describe('incidentTimeline', () => {
  it('of an incident without member alerts: its notes and decisions in time order, nothing left out', () => {
    const incident = { alerts: [], openedAt: '2026-12-01T06:00:00.000Z', resolvedAt: null, reports: [], notes: [{ at: '2026-12-01T07:00:00.000Z', author: 'ann', text: 'looking' }] }
    expect(alertChangesRequest('alerts', incident, Date.parse('2026-12-01T08:00:00.000Z'))).toBeUndefined()
    const decision = { at: '2026-12-01T06:30:00.000Z', kind: 'decision:incident.assign', source: 'review', title: 'assigned to bob' }
    expect(incidentTimeline(incident, undefined, [decision])).toEqual({
      timeline: [decision, { at: '2026-12-01T07:00:00.000Z', kind: 'note', source: 'review', title: 'looking', author: 'ann' }], timelineTotal: 2, timelineTruncated: false,
    })
  })
})

describe('problemTimeline', () => {
  it('holds the notes, as an incident timeline writes them, and the decisions in time order', () => {
    const decision = { at: '2026-12-01T06:30:00.000Z', kind: 'decision:problem.assign', source: 'review', title: 'assigned to bob' }
    const problem = { notes: [{ at: '2026-12-01T07:00:00.000Z', author: 'ann', text: 'looking' }] }
    const incident = { reports: [], ...problem }
    expect(problemTimeline(problem, [decision])).toEqual(incidentTimeline(incident, undefined, [decision]).timeline)
  })

  it("holds a forecast's reports, as an incident timeline writes them, among its notes in time order", () => {
    const forecast = (at: string, title: string) => ({ eventId: 'a'.repeat(32), kind: 'capacity-forecast', title, reportedBy: 'dana', at })
    const problem = { notes: [{ at: '2026-12-01T07:00:00.000Z', author: 'ann', text: 'asked for a quote' }], reports: [forecast('2026-12-01T06:00:00.000Z', 'disk full in 9 days'), forecast('2026-12-01T08:00:00.000Z', 'disk full in 8 days')] }
    expect(problemTimeline(problem, []).map((e) => [e.kind, e.title])).toEqual([['report:capacity-forecast', 'disk full in 9 days'], ['note', 'asked for a quote'], ['report:capacity-forecast', 'disk full in 8 days']])
    expect(problemTimeline(problem, [])).toEqual(incidentTimeline(problem, undefined, []).timeline)
  })
})

describe('hitsTotal and problemIncidents', () => {
  const answer = (total: number | { value: number; relation: 'eq' | 'gte' } | undefined, ids: string[]) =>
    ({ took: 1, timed_out: false, _shards: { total: 1, successful: 1, failed: 0 }, hits: { ...(total === undefined ? {} : { total }), hits: ids.map((id) => ({ _index: 'incidents', _id: id, _source: { id } as IncidentListItem, sort: [1, id] })) } })
  it('reads the total in either form, and none when it was not counted', () => {
    expect(hitsTotal(answer(3, []))).toBe(3)
    expect(hitsTotal(answer({ value: 205, relation: 'eq' }, []))).toBe(205)
    expect(hitsTotal(answer(undefined, []))).toBe(0)
  })
  it('says when older incidents were left out, and has no cursor', () => {
    expect(problemIncidents(answer({ value: 3, relation: 'eq' }, ['a', 'b']))).toEqual({ incidents: [{ id: 'a' }, { id: 'b' }], incidentsTotal: 3, incidentsTruncated: true })
    expect(problemIncidents(answer({ value: 2, relation: 'eq' }, ['a', 'b']))).toEqual({ incidents: [{ id: 'a' }, { id: 'b' }], incidentsTotal: 2, incidentsTruncated: false })
  })
})
