import { describe, expect, it, onTestFinished } from 'vitest'
import { alertDocument, bulkAction, incidentDocument, problemDocument, type DocumentFor } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { captureLogs, cleanupIndices, esClient, indicesOfTest, serve, uniqueName } from '@opsreview/testing'
import { defaultDegradedRule } from '@opsreview/review/degraded'
import { readAlertIntervals } from '@opsreview/review/service-time'
import { launchChromium } from '@opsreview/testing/chromium'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { incident } from './fuzz-seed.ts'

// Response bodies are asserted field by field; typing each shape here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const NOW = Date.parse('2026-12-01T08:00:00.000Z')
const MIN = 60_000
const H = 60 * MIN
const READ = 'read-token'
const iso = (s: string) => new Date(s).toISOString()

function change(source: string, fp: string, service: string, status: 'firing' | 'resolved', startsAt: string, endsAt: string | null, labels: Record<string, string>) {
  return {
    id: `${source}-${fp}-${status}-${startsAt}`.replace(/[^a-z0-9]/gi, '').slice(0, 60), source, fingerprint: fp, status, severity: 'critical', service, environment: 'production',
    title: `${fp} ${status}`, labels, startsAt: iso(startsAt), ...(endsAt ? { endsAt: iso(endsAt) } : {}), receivedAt: iso(endsAt ?? startsAt), links: [], origin: {},
  }
}
const member = (source: string, fp: string, service: string, name: string, firstSeenAt: string, resolvedAt: string | null, autoResolved = false) => ({
  key: `${source}:${fp}`, fingerprint: fp, source, name, title: name, service, severity: 'critical', status: resolvedAt ? 'resolved' : 'firing',
  firstSeenAt: iso(firstSeenAt), lastSeenAt: iso(resolvedAt ?? firstSeenAt), resolvedAt: resolvedAt ? iso(resolvedAt) : null, flapCount: 0, autoResolved,
})
const plus = (s: string, ms: number) => new Date(Date.parse(s) + ms).toISOString()

/**
 * November 2026 in Berlin is [2026-10-31T23:00Z, 2026-11-30T23:00Z): 720 h. October there is 745 h (the
 * clocks went back on the 25th). Worked out by hand:
 * - shop: a Pingdom check down 30 min on 10 Nov: 100 - 30/43200 = 99.93 %.
 * - checkout: HighLatency (slo=latency) 12:00-14:00 on 5 Nov and CheckoutDown 13:00-13:30: 30 min down
 *   (99.93 %), 90 min degraded (the latency outside the downtime).
 * - db: DbDown fired 20 Nov 00:00, its resolve lost; the correlator resolved it by staleness at 01:00:
 *   60 min down (99.86 %), not the 10 days 23 h to the end of the month.
 * - payments and search: degraded 45 and 20 min, one by its slo=latency label, the other by its alertname.
 * - api: ApiDown fired 1 Sep (before the 7-day look-back), resolved 2 Oct 00:00Z: in October, down from
 *   its start (30 Sep 22:00Z) for 26 h: 100 - 26/745 = 96.51 %; never zero.
 * - incidents opened in November (Berlin): #1 checkout critical (ack 10 min, resolved 2 h, post-mortem
 *   scheduled), #2 checkout warning (ack 20 min, resolved 60 min), #3 shop critical (resolved 30 min,
 *   post-mortem not scheduled), #4 db critical (resolved 60 min, staleness), #7 search warning opened
 *   31 Oct 23:30Z, which is 1 Nov in Berlin and October in UTC. October: #6 checkout warning (ack 30 min,
 *   resolved 90 min), #8 and #9 search around the DST change.
 */
async function start(options: { timeZone?: string; clock?: () => Date } = {}, seen: { prefix?: string; url?: string } = {}, more: (d: { incident: DocumentFor; problem: DocumentFor }) => [DocumentFor, object][] = () => []) {
  const es = esClient()
  const prefix = uniqueName('lookback')
  seen.prefix = prefix
  cleanupIndices(prefix)
  await ensureIndices(es, prefix)
  const n = indexNames(prefix)
  const months = liveAlertMonths(es, prefix)
  const inc = incidentDocument(n.incidents.alias)
  const prb = problemDocument(n.problems.alias)
  const alr = alertDocument(months.indexFor)
  const docs: [DocumentFor, object][] = []
  const pm = (required: boolean, scheduledFor: string | null = null) => ({ required, reasons: required ? ['severity critical'] : [], scheduledFor, owner: scheduledFor ? 'erin' : null })
  const incidentAt = (k: number, service: string, severity: string, opened: string, ackMin: number | null, resolveMin: number, o: Record<string, unknown> = {}) =>
    incident(k, {
      services: [service], severity, openedAt: iso(opened), resolvedAt: plus(opened, resolveMin * MIN), lastEventAt: plus(opened, resolveMin * MIN),
      acknowledgedAt: ackMin === null ? null : plus(opened, ackMin * MIN), acknowledgedBy: ackMin === null ? null : 'ann', ...o,
    })
  docs.push(
    [inc, incidentAt(1, 'checkout', 'critical', '2026-11-05T12:00:00Z', 10, 120, { postmortem: pm(true, '2026-11-07T10:00:00.000Z'), problemIds: ['prb-00000000000000000000000a'] })],
    [inc, incidentAt(2, 'checkout', 'warning', '2026-11-15T23:30:00Z', 20, 60, { problemIds: ['prb-00000000000000000000000a'] })],
    // Its post-mortem never scheduled, and the correlator forgot it: no decision can schedule it now.
    [inc, incidentAt(3, 'shop', 'critical', '2026-11-10T10:00:00Z', null, 30, { postmortem: { ...pm(true), forgottenAt: '2026-11-28T00:00:00.000Z' }, problemIds: ['prb-00000000000000000000000b', 'prb-00000000000000000000000c'] })],
    [inc, incidentAt(4, 'db', 'critical', '2026-11-20T00:00:00Z', null, 60, { resolvedBy: 'staleness', alerts: [member('alertmanager', 'db', 'db', 'DbDown', '2026-11-20T00:00:00Z', '2026-11-20T01:00:00Z', true)] })],
    [inc, incidentAt(5, 'api', 'critical', '2026-09-01T00:00:00Z', null, 31 * 24 * 60, { alerts: [member('alertmanager', 'api', 'api', 'ApiDown', '2026-09-01T00:00:00Z', '2026-10-02T00:00:00Z')] })],
    [inc, incidentAt(6, 'checkout', 'warning', '2026-10-10T12:00:00Z', 30, 90, { problemIds: ['prb-00000000000000000000000a', 'prb-00000000000000000000000c'] })],
    [inc, incidentAt(7, 'search', 'warning', '2026-10-31T23:30:00Z', null, 10)],
    // 22:30Z on the 24th is 00:30 CEST on the 25th; 22:30Z on the 25th is 23:30 CET on the 25th: one 25-hour Berlin day.
    [inc, incidentAt(8, 'search', 'info', '2026-10-24T22:30:00Z', null, 10)],
    [inc, incidentAt(9, 'search', 'info', '2026-10-25T22:30:00Z', null, 10)],
    // Resolved by the staleness timeout a day after its alert was last heard of: resolvedAt is the guess, the day before.
    [inc, incidentAt(11, 'queue', 'warning', '2026-09-20T06:00:00Z', null, 0, { resolvedBy: 'staleness', resolutionDecidedAt: '2026-09-21T06:00:00.000Z' })],
    // A Pingdom check's UP lost, its incident resolved by hand an hour after the DOWN.
    [inc, incidentAt(10, 'cart', 'critical', '2026-09-10T10:00:00Z', 5, 60, { resolvedBy: 'manual', alerts: [member('pingdom', 'check-2', 'cart', 'Cart', '2026-09-10T10:00:00Z', null)] })],
    [prb, { id: 'prb-00000000000000000000000a', kind: 'recurring', status: 'confirmed', title: 'HighLatency keeps recurring on checkout', signature: 's-a', services: ['checkout'], environment: 'production', incidentIds: [], incidentCount: 6, firstSeenAt: iso('2026-10-10T12:00:00Z'), lastSeenAt: iso('2026-11-15T23:30:00Z'), owner: 'ann', notes: [], resolvedAt: null, reopenCount: 1, version: 3 }],
    [prb, { id: 'prb-00000000000000000000000b', kind: 'shared-cause', status: 'candidate', title: 'shop and cdn together', signature: 's-b', services: ['shop'], environment: 'production', incidentIds: [], incidentCount: 1, firstSeenAt: iso('2026-11-10T10:00:00Z'), lastSeenAt: iso('2026-11-10T10:00:00Z'), owner: null, notes: [], version: 1 }],
    // The receiver names a Pingdom alert by its check (alertname = check_name): one whose name the degraded
    // rule's expression matches is still down when DOWN.
    // Dismissed by the review (no real cause), still linked to two incidents: no problem behind them.
    [prb, { id: 'prb-00000000000000000000000c', kind: 'shared-cause', status: 'dismissed', title: 'shop and checkout on one host', signature: 's-c', services: ['shop', 'checkout'], environment: 'production', incidentIds: [], incidentCount: 2, firstSeenAt: iso('2026-10-10T12:00:00Z'), lastSeenAt: iso('2026-11-10T10:00:00Z'), owner: null, notes: [], resolvedAt: null, reopenCount: 0, version: 2 }],
    [alr, change('pingdom', 'check-1', 'shop', 'firing', '2026-11-10T10:00:00Z', null, { alertname: 'Shop ResponseTime', check_type: 'HTTP' })],
    [alr, change('pingdom', 'check-1', 'shop', 'resolved', '2026-11-10T10:30:00Z', '2026-11-10T10:30:00Z', { alertname: 'Shop ResponseTime', check_type: 'HTTP' })],
    [alr, change('alertmanager', 'lat', 'checkout', 'firing', '2026-11-05T12:00:00Z', null, { alertname: 'HighLatency', slo: 'latency' })],
    [alr, change('alertmanager', 'lat', 'checkout', 'resolved', '2026-11-05T12:00:00Z', '2026-11-05T14:00:00Z', { alertname: 'HighLatency', slo: 'latency' })],
    [alr, change('alertmanager', 'cdown', 'checkout', 'firing', '2026-11-05T13:00:00Z', null, { alertname: 'CheckoutDown' })],
    [alr, change('alertmanager', 'cdown', 'checkout', 'resolved', '2026-11-05T13:00:00Z', '2026-11-05T13:30:00Z', { alertname: 'CheckoutDown' })],
    [alr, change('alertmanager', 'db', 'db', 'firing', '2026-11-20T00:00:00Z', null, { alertname: 'DbDown' })],
    // Degraded by the label alone, and by the alertname alone.
    [alr, change('alertmanager', 'p99', 'payments', 'firing', '2026-11-12T08:00:00Z', null, { alertname: 'PaymentsP99Budget', slo: 'latency' })],
    [alr, change('alertmanager', 'p99', 'payments', 'resolved', '2026-11-12T08:00:00Z', '2026-11-12T08:45:00Z', { alertname: 'PaymentsP99Budget', slo: 'latency' })],
    [alr, change('alertmanager', 'sq', 'search', 'firing', '2026-11-13T08:00:00Z', null, { alertname: 'SearchSlowQueries' })],
    [alr, change('alertmanager', 'sq', 'search', 'resolved', '2026-11-13T08:00:00Z', '2026-11-13T08:20:00Z', { alertname: 'SearchSlowQueries' })],
    [alr, change('pingdom', 'check-2', 'cart', 'firing', '2026-09-10T10:00:00Z', null, { alertname: 'Cart', check_type: 'HTTP' })],
    [alr, change('alertmanager', 'api', 'api', 'firing', '2026-09-01T00:00:00Z', null, { alertname: 'ApiDown' })],
    [alr, change('alertmanager', 'api', 'api', 'resolved', '2026-09-01T00:00:00Z', '2026-10-02T00:00:00Z', { alertname: 'ApiDown' })],
  )
  docs.push(...more({ incident: inc, problem: prb }))
  const ops = docs.map(([f, d]) => f(JSON.stringify(d)))
  await months.prepare(new Set(ops.map((o) => o.index)))
  const r = await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })
  expect(r.errors).toBe(false)
  onTestFinished(() => es.close())
  const { logger } = captureLogs()
  const url = await serve(createReviewApp({
    es, commands: { publish: async () => { throw new Error('no decisions in these tests') } }, commandsTopic: 'unused', logger, clock: () => new Date(NOW),
    readTokens: [READ], writeTokens: ['write-token'], indexPrefix: prefix, waitTimeoutMs: 500, publicDir: defaultPublicDir,
    deadLetters: async () => { throw new Error('not counted here') }, ...options,
  }))
  seen.url = url
  return async (path: string): Promise<{ status: number; body: Json; type: string }> => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${READ}` } })
    const type = res.headers.get('content-type') ?? ''
    return { status: res.status, body: type.includes('json') ? await res.json() : await res.text(), type }
  }
}

describe('GET /api/v1/lookback on the real Elasticsearch', () => {
  it('gives a month in Berlin as worked out by hand, with the change from October', async () => {
    const get = await start()
    const { status, body } = await get('/api/v1/lookback?period=month&at=2026-11&tz=Europe/Berlin')
    expect(status).toBe(200)
    expect(body.period).toMatchObject({ kind: 'month', label: '2026-11', timeZone: 'Europe/Berlin', from: '2026-10-31T23:00:00.000Z', to: '2026-11-30T23:00:00.000Z', localFrom: '2026-11-01T00:00:00+01:00', complete: true })
    expect(body.previous).toMatchObject({ label: '2026-10', from: '2026-09-30T22:00:00.000Z' })
    expect(body.dataset).toBeNull()
    const s = Object.fromEntries(body.services.map((v: { service: string }) => [v.service, v]))
    expect(s.shop).toMatchObject({ availabilityPct: 99.93, downtimeMs: 30 * MIN, degradedMs: 0, incidents: { total: 1, critical: 1 } })
    expect(s.checkout).toMatchObject({ availabilityPct: 99.93, downtimeMs: 30 * MIN, degradedMs: 90 * MIN, incidents: { total: 2, critical: 1, warning: 1 }, mttaMs: 15 * MIN, mttrMs: 90 * MIN })
    expect(s.checkout.previous).toMatchObject({ incidents: { total: 1 }, mttaMs: 30 * MIN, mttrMs: 90 * MIN, downtimeMs: 0 })
    expect(s.checkout.change).toMatchObject({ incidents: 1, mttaMs: -15 * MIN, mttrMs: 0, degradedMs: 90 * MIN })
    expect(s.db).toMatchObject({ availabilityPct: 99.86, downtimeMs: 60 * MIN })
    expect(s.payments).toMatchObject({ availabilityPct: 100, downtimeMs: 0, degradedMs: 45 * MIN })
    expect(s.search).toMatchObject({ availabilityPct: 100, downtimeMs: 0, degradedMs: 20 * MIN })
    expect(s.api).toMatchObject({ availabilityPct: 100, downtimeMs: 0, previous: { availabilityPct: 96.51, downtimeMs: 26 * H }, change: { availabilityPct: 3.49, downtimeMs: -26 * H } })
    expect(body.totals).toMatchObject({
      incidents: { total: 5, critical: 3, warning: 2, info: 0 }, postmortems: { required: 2, scheduled: 1, unscheduled: 1, forgotten: 1 }, problems: 2,
      previous: { incidents: { total: 3 }, postmortems: { required: 0, scheduled: 0, forgotten: 0 }, problems: 1 }, change: { incidents: 2, problems: 1, postmortemsRequired: 2 },
    })
    // The recurring problem came back once after a resolve; the other is a document of an engine before reopenCount.
    expect(body.problems.items.map((p: { kind: string; incidentsInPeriod: number; incidentsInPrevious: number; reopenCount: number }) => [p.kind, p.incidentsInPeriod, p.incidentsInPrevious, p.reopenCount]))
      .toEqual([['recurring', 2, 1, 1], ['shared-cause', 1, 0, 0]])
  })

  it('counts the incidents of every problem when more problems than one aggregation bucket page had some: a listed problem keeps its previous count, a dismissed one leaves the count', async () => {
    // October (Berlin) besides the fixture's: 1,000 problems with two incidents each, and a dismissed problem
    // with one, whose id sorts last. By incident count the fixture's recurring problem (one incident in October)
    // and both dismissed ones come after the 1,000.
    const busy = 1000
    const dismissed = 'prb-ffffffffffffffffffffffff'
    const get = await start({}, {}, ({ incident: inc, problem: prb }) => [
      ...Array.from({ length: busy * 2 }, (_, k): [DocumentFor, object] => [inc, incident(100 + k, {
        services: ['batch'], openedAt: iso('2026-10-15T10:00:00Z'), resolvedAt: iso('2026-10-15T10:30:00Z'), lastEventAt: iso('2026-10-15T10:30:00Z'),
        problemIds: [`prb-${(0x100 + (k % busy)).toString(16).padStart(24, '0')}`],
      })]),
      [inc, incident(99, { services: ['batch'], openedAt: iso('2026-10-16T10:00:00Z'), resolvedAt: iso('2026-10-16T10:30:00Z'), lastEventAt: iso('2026-10-16T10:30:00Z'), problemIds: [dismissed] })],
      [prb, { id: dismissed, kind: 'shared-cause', status: 'dismissed', title: 'batch and cdn together', signature: 's-z', services: ['batch'], environment: 'production', incidentIds: [], incidentCount: 1, firstSeenAt: iso('2026-10-16T10:00:00Z'), lastSeenAt: iso('2026-10-16T10:00:00Z'), owner: null, notes: [], resolvedAt: null, reopenCount: 0, version: 2 }],
    ])
    const { status, body } = await get('/api/v1/lookback?period=month&at=2026-11&tz=Europe/Berlin')
    expect(status).toBe(200)
    // October: the recurring problem and the 1,000; neither dismissed one.
    expect(body.totals).toMatchObject({ problems: 2, previous: { incidents: { total: 3 + busy * 2 + 1 }, problems: busy + 1 }, change: { problems: 2 - (busy + 1) } })
    expect(body.problems.items.map((p: { kind: string; incidentsInPeriod: number; incidentsInPrevious: number }) => [p.kind, p.incidentsInPeriod, p.incidentsInPrevious]))
      .toEqual([['recurring', 2, 1], ['shared-cause', 1, 0]])
  })

  it('says on the dashboard, in Chromium, how many unscheduled post-mortems can no longer be scheduled', async () => {
    const seen: { url?: string } = {}
    await start({ timeZone: 'Europe/Berlin' }, seen)
    const b = await launchChromium()
    try {
      const page = await b.newPage()
      // The default look-back is the last complete month, November: #3's post-mortem the correlator forgot.
      await page.goto(`${seen.url}/#token=${READ}`)
      await expect.poll(() => page.locator('#lookback-label').textContent(), { timeout: 15_000 }).toMatch(/^2026-11: /)
      expect(await page.locator('#lookback-totals [data-total="postmortems"]').textContent()).toBe('1/2post-mortems scheduled of required (1 not, 1 no longer schedulable here) (+2)')
    } finally {
      await b.close()
    }
  })

  it('counts periods in the zone asked for: the incident at 23:30Z on 31 October is November in Berlin, October in UTC', async () => {
    const get = await start({ timeZone: 'Europe/Berlin' })
    expect((await get('/api/v1/lookback?period=month&at=2026-11')).body.totals.incidents.total).toBe(5)
    const utc = await get('/api/v1/lookback?period=month&at=2026-11&tz=UTC')
    expect(utc.body.period).toMatchObject({ timeZone: 'UTC', from: '2026-11-01T00:00:00.000Z' })
    expect(utc.body.totals.incidents.total).toBe(4)
    const q4 = await get('/api/v1/lookback?period=quarter&at=2026-Q4')
    expect(q4.body.period).toMatchObject({ label: '2026-Q4', from: '2026-09-30T22:00:00.000Z', to: '2026-12-31T23:00:00.000Z', complete: false, until: new Date(NOW).toISOString() })
    expect(q4.body.previous.label).toBe('2026-Q3')
    expect(q4.body.totals.incidents.total).toBe(8)
  })

  it('renders lookback.md with degraded time apart from downtime', async () => {
    const get = await start()
    const md = await get('/api/v1/lookback.md?period=month&at=2026-11&tz=Europe/Berlin')
    expect(md.status).toBe(200)
    expect(md.type).toContain('text/markdown')
    expect(md.body).toContain('# Monthly look-back 2026-11 (2026-11-01 – 2026-11-30 Europe/Berlin)')
    expect(md.body).toContain('| checkout | 99.93 % | −0.07 pp | 30 min | 1 h 30 min | 1 | 2 (1) | 15 min | 1 h 30 min | 100.00 %, 0 min down, 0 min degraded, 1 incident |')
    expect(md.body).toContain('| api | 100.00 % | +3.49 pp | 0 min | 0 min | 0 | 0 (0) |')
    expect(md.body).toContain('| post-mortems required | 2 | 0 | +2 |')
    expect(md.body).toContain('**2 post-mortems required**, 1 scheduled (1 not, 1 of them forgotten by the correlator: no longer schedulable here)')
    expect(md.body).toContain('| recurring | confirmed, came back 1× | HighLatency keeps recurring on checkout')
  })

  it('refuses an unknown period, a mismatched at and an unknown zone with 400 naming the field', async () => {
    const get = await start()
    for (const [path, field] of [
      ['/api/v1/lookback?period=week', '/period'], ['/api/v1/lookback', '/period'], ['/api/v1/lookback.md?period=year&at=2026', '/period'],
      ['/api/v1/lookback?period=month&at=2026-Q4', '/at'], ['/api/v1/lookback?period=quarter&at=2026-Q5', '/at'],
      ['/api/v1/lookback?period=month&tz=Mars/Base', '/tz'], ['/api/v1/lookback.md?period=month&tz=Europe/Nowhere', '/tz'],
      ['/api/v1/review?tz=Mars/Base', '/tz'], ['/api/v1/review.md?since=yesterday-09:00&tz=%2B01:00', '/tz'],
      ['/api/v1/lookback?period=month&period=quarter', '/period'], ['/api/v1/review?since=yesterday-9', '/since'],
    ] as const) {
      const r = await get(path)
      expect(r.status, path).toBe(400)
      expect(r.type, path).toContain('application/problem+json')
      expect(r.body.errors.map((e: { path: string }) => e.path), path).toContain(field)
    }
    expect((await get('/api/v1/lookback?period=month&dataset=nope')).body).toMatchObject({ status: 404, code: 'DATASET_NOT_FOUND' })
    // The edges of time in zones far from UTC answer, or name the field; never a 5xx.
    for (const path of [
      '/api/v1/review?to=9999-12-31T23:59:59.999Z&tz=Etc/GMT%2B12', '/api/v1/review?from=1970-01-01&tz=Pacific/Kiritimati', '/api/v1/review?from=1970-01-01&tz=Etc/GMT%2B12',
      '/api/v1/review.md?to=1970-01-01T00:00:00Z&tz=Pacific/Kiritimati', '/api/v1/lookback?period=month&at=9998-12&tz=Etc/GMT%2B12', '/api/v1/lookback?period=quarter&at=1970-Q1&tz=Pacific/Kiritimati',
      '/api/v1/lookback.md?period=quarter&at=2030-Q1', '/api/v1/review?since=today&tz=America/Santiago',
    ]) expect((await get(path)).status, path).toBeLessThan(500)
    expect((await get('/api/v1/lookback?period=month&dataset=NO_PE')).status).toBe(400)
  })
})

describe('the review in local time and with degraded time (real Elasticsearch)', () => {
  it('reads since=yesterday-09:00 in the zone, names the zone, and buckets the trend by local days across the DST change', async () => {
    const get = await start()
    const r = await get('/api/v1/review?since=yesterday-09:00&tz=Europe/Berlin')
    expect(r.status).toBe(200)
    expect(r.body.window).toEqual({ from: '2026-11-30T08:00:00.000Z', to: '2026-12-01T08:00:00.000Z', timeZone: 'Europe/Berlin', until: '2026-12-01T08:00:00.000Z', complete: true })
    // #2 opened 15 Nov 23:30Z: the 16th in Berlin, the 15th in UTC.
    const day = (body: Json, d: string) => body.trend.find((t: { day: string }) => t.day === d)?.total
    expect([day(r.body, '2026-11-15'), day(r.body, '2026-11-16')]).toEqual([0, 1])
    const utc = await get('/api/v1/review?since=24h')
    expect(utc.body.window.timeZone).toBe('UTC')
    expect([day(utc.body, '2026-11-15'), day(utc.body, '2026-11-16')]).toEqual([1, 0])
    // The window ending 1 Nov in Berlin: 30 local days from 3 Oct, 25 October one 25-hour day holding #8 and #9.
    const dst = await get('/api/v1/review?from=2026-10-31&to=2026-11-01&tz=Europe/Berlin')
    expect(dst.body.window).toMatchObject({ from: '2026-10-30T23:00:00.000Z', to: '2026-10-31T23:00:00.000Z' })
    expect(dst.body.trend).toHaveLength(30)
    expect(dst.body.trend[0].day).toBe('2026-10-02')
    expect(dst.body.trend.at(-1).day).toBe('2026-10-31')
    expect([day(dst.body, '2026-10-24'), day(dst.body, '2026-10-25'), day(dst.body, '2026-10-26')]).toEqual([0, 2, 0])
    const dstUtc = await get('/api/v1/review?from=2026-10-31&to=2026-11-01')
    expect([day(dstUtc.body, '2026-10-24'), day(dstUtc.body, '2026-10-25')]).toEqual([1, 1])
    const md = await get('/api/v1/review.md?since=yesterday-09:00&tz=Europe/Berlin')
    expect(md.body).toContain('# Operations review 2026-11-30 09:00 – 2026-12-01 09:00 Europe/Berlin')
  })

  it('reads since=yesterday-now by its own clock in the zone: 25 h on the morning the clocks went back', async () => {
    // 09:00 CET on 25 October in Berlin; 09:00 the day before was CEST, an hour further back than 24 h.
    const get = await start({ timeZone: 'Europe/Berlin', clock: () => new Date('2026-10-25T08:00:00.000Z') })
    const r = await get('/api/v1/review?since=yesterday-now')
    expect(r.status).toBe(200)
    expect(r.body.window).toEqual({ from: '2026-10-24T07:00:00.000Z', to: '2026-10-25T08:00:00.000Z', timeZone: 'Europe/Berlin', until: '2026-10-25T08:00:00.000Z', complete: true })
    const md = await get('/api/v1/review.md?since=yesterday-now')
    expect(md.body).toContain('# Operations review 2026-10-24 09:00 – 2026-10-25 09:00 Europe/Berlin')
    // The HH:MM form is still read as before.
    expect((await get('/api/v1/review?since=yesterday-09:00')).body.window).toMatchObject({ from: '2026-10-24T07:00:00.000Z' })
  })

  it('reports degraded time apart, ends a stale alert where its incident does, and counts an alert started before the look-back', async () => {
    const get = await start()
    const levels = async (path: string) => Object.fromEntries((await get(path)).body.serviceLevels.map((l: { service: string }) => [l.service, l]))
    expect((await levels('/api/v1/review?from=2026-11-05T00:00:00Z&to=2026-11-06T00:00:00Z')).checkout).toMatchObject({ downtimeMs: 30 * MIN, degradedMs: 90 * MIN, interruptions: 1, availabilityPct: 97.91 })
    expect((await levels('/api/v1/review?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z')).db).toMatchObject({ downtimeMs: 60 * MIN, availabilityPct: 95.83 })
    expect((await levels('/api/v1/review?from=2026-10-01T00:00:00Z&to=2026-10-02T12:00:00Z')).api).toMatchObject({ downtimeMs: 24 * H, availabilityPct: 33.33 })
    // A check left down in an incident a person resolved: down until their resolve, that day and the next.
    expect((await levels('/api/v1/review?from=2026-09-10T00:00:00Z&to=2026-09-11T00:00:00Z')).cart).toMatchObject({ downtimeMs: 60 * MIN, interruptions: 1, availabilityPct: 95.83 })
    expect((await levels('/api/v1/review?from=2026-09-11T00:00:00Z&to=2026-09-12T00:00:00Z')).cart ?? { downtimeMs: 0 }).toMatchObject({ downtimeMs: 0 })
  })

  it('lists an incident as resolved in the review of the window its resolve was decided in, and one of an older engine by its resolvedAt', async () => {
    const get = await start()
    const resolved = async (from: string, to: string) => ((await get(`/api/v1/review?from=${from}&to=${to}`)).body.resolvedIncidents.items as { id: string }[]).map((i) => i.id)
    const staleness = 'inc-00000000000000000000000b'
    const byHand = 'inc-00000000000000000000000a'
    // The staleness guess is dated the 20th, decided the 21st: open in the review of the 20th, resolved in the 21st's.
    expect(await resolved('2026-09-20T00:00:00Z', '2026-09-21T00:00:00Z')).not.toContain(staleness)
    expect(await resolved('2026-09-21T00:00:00Z', '2026-09-22T00:00:00Z')).toContain(staleness)
    // No resolutionDecidedAt (a document of an engine before it): by resolvedAt, as before.
    expect(await resolved('2026-09-10T00:00:00Z', '2026-09-11T00:00:00Z')).toContain(byHand)
    const md = await get('/api/v1/review.md?from=2026-11-05T00:00:00Z&to=2026-11-06T00:00:00Z')
    expect(md.body).toContain('| checkout | 97.91 % | 30 min | 1 h 30 min | 1 | 1 | 10 min | 2 h 0 min |')
  })
})

describe('reading alert intervals', () => {
  it('reads the same intervals when every slice overflows its page and is halved, down to pages of 1', async () => {
    const seen: { prefix?: string } = {}
    await start({}, seen)
    const es = esClient()
    onTestFinished(() => es.close())
    const n = indexNames(seen.prefix!)
    const idx = { alerts: n.alerts.alias, incidents: n.incidents.alias }
    const q = { from: Date.parse('2026-09-30T22:00:00Z'), until: Date.parse('2026-11-30T23:00:00Z'), lookBackMs: 7 * 24 * H, rule: defaultDegradedRule }
    const sorted = (xs: Awaited<ReturnType<typeof readAlertIntervals>>) => [...xs].sort((a, b) => a.key.localeCompare(b.key))
    const whole = sorted(await readAlertIntervals(es, idx, q))
    expect(whole.map((a) => a.key)).toEqual(['alertmanager:api', 'alertmanager:cdown', 'alertmanager:db', 'alertmanager:lat', 'alertmanager:p99', 'alertmanager:sq', 'pingdom:check-1'])
    for (const pageSize of [1, 2, 3]) expect(JSON.stringify(sorted(await readAlertIntervals(es, idx, { ...q, pageSize })), null, 1), `pages of ${pageSize}`).toEqual(JSON.stringify(whole, null, 1))
  })

  it("ends an alert's episode at the end the correlator guessed before the alert fired again in the same incident, as the index keeps it", async () => {
    const { prefix, es } = indicesOfTest('guessed')
    await ensureIndices(es, prefix)
    const n = indexNames(prefix)
    const months = liveAlertMonths(es, prefix)
    // DbDown fired at 00:00, its resolve lost; guessed ended at 00:00 a day later, it fired anew at 00:20
    // the next day (the incident reopened) and resolved at 01:00.
    const ops = [
      alertDocument(months.indexFor)(JSON.stringify(change('alertmanager', 'db', 'db', 'firing', '2026-11-24T00:00:00Z', null, { alertname: 'DbDown' }))),
      alertDocument(months.indexFor)(JSON.stringify(change('alertmanager', 'db', 'db', 'firing', '2026-11-25T00:20:00Z', null, { alertname: 'DbDown' }))),
      alertDocument(months.indexFor)(JSON.stringify(change('alertmanager', 'db', 'db', 'resolved', '2026-11-25T00:20:00Z', '2026-11-25T01:00:00Z', { alertname: 'DbDown' }))),
      incidentDocument(n.incidents.alias)(JSON.stringify(incident(1, {
        services: ['db'], severity: 'critical', openedAt: iso('2026-11-24T00:00:00Z'), resolvedAt: iso('2026-11-25T01:00:00Z'), lastEventAt: iso('2026-11-25T01:00:00Z'), reopenCount: 1,
        alerts: [{ ...member('alertmanager', 'db', 'db', 'DbDown', '2026-11-24T00:00:00Z', '2026-11-25T01:00:00Z'), guessedEnds: [iso('2026-11-24T00:00:00Z')] }],
      }))),
      // CacheDown alike, but its second episode (00:20–00:30) came only resolved: it fired and ended between two flushes.
      alertDocument(months.indexFor)(JSON.stringify(change('alertmanager', 'cache', 'cache', 'firing', '2026-11-24T00:00:00Z', null, { alertname: 'CacheDown' }))),
      alertDocument(months.indexFor)(JSON.stringify(change('alertmanager', 'cache', 'cache', 'resolved', '2026-11-25T00:20:00Z', '2026-11-25T00:30:00Z', { alertname: 'CacheDown' }))),
      incidentDocument(n.incidents.alias)(JSON.stringify(incident(2, {
        services: ['cache'], severity: 'critical', openedAt: iso('2026-11-24T00:00:00Z'), resolvedAt: iso('2026-11-25T00:30:00Z'), lastEventAt: iso('2026-11-25T00:30:00Z'), reopenCount: 1,
        alerts: [{ ...member('alertmanager', 'cache', 'cache', 'CacheDown', '2026-11-24T00:00:00Z', '2026-11-25T00:30:00Z'), guessedEnds: [iso('2026-11-24T00:00:00Z')] }],
      }))),
    ]
    await months.prepare(new Set(ops.map((o) => o.index)))
    expect((await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })).errors).toBe(false)
    const q = { from: Date.parse('2026-11-24T00:00:00Z'), until: Date.parse('2026-11-26T00:00:00Z'), lookBackMs: H, rule: defaultDegradedRule }
    const read = await readAlertIntervals(es, { alerts: n.alerts.alias, incidents: n.incidents.alias }, q)
    // Not down from 00:00 the first day to 01:00 the next: the first episode ended at its guess.
    expect(read.map((x) => [x.key, x.intervals]).sort()).toEqual([['alertmanager:cache', [
      { from: Date.parse('2026-11-24T00:00:00Z'), to: Date.parse('2026-11-24T00:00:00Z') }, { from: Date.parse('2026-11-25T00:20:00Z'), to: Date.parse('2026-11-25T00:30:00Z') },
    ]], ['alertmanager:db', [
      { from: Date.parse('2026-11-24T00:00:00Z'), to: Date.parse('2026-11-24T00:00:00Z') }, { from: Date.parse('2026-11-25T00:20:00Z'), to: Date.parse('2026-11-25T01:00:00Z') },
    ]]])
  })

  it('reads every change of a millisecond that fills a page, which cannot be halved', async () => {
    const { prefix, es } = indicesOfTest('storm')
    await ensureIndices(es, prefix)
    const months = liveAlertMonths(es, prefix)
    const alr = alertDocument(months.indexFor)
    // One rule evaluation fires three alerts at one instant (and the first is redelivered under another id).
    const at = '2026-11-25T06:00:00Z'
    const changes = ['a', 'b', 'c'].flatMap((fp) => [
      change('alertmanager', fp, 'storm', 'firing', at, null, { alertname: 'InstanceDown' }),
      change('alertmanager', fp, 'storm', 'resolved', at, '2026-11-25T06:10:00Z', { alertname: 'InstanceDown' }),
    ])
    changes.push({ ...changes[0]!, id: 'redelivered' })
    const ops = changes.map((d) => alr(JSON.stringify(d)))
    await months.prepare(new Set(ops.map((o) => o.index)))
    expect((await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })).errors).toBe(false)
    const n = indexNames(prefix)
    const q = { from: Date.parse('2026-11-25T00:00:00Z'), until: Date.parse('2026-11-26T00:00:00Z'), lookBackMs: H, rule: defaultDegradedRule }
    for (const pageSize of [1, 2, 1000]) {
      const read = await readAlertIntervals(es, { alerts: n.alerts.alias, incidents: n.incidents.alias }, { ...q, pageSize })
      expect(read.map((x) => [x.key, x.intervals]).sort(), `pages of ${pageSize}`).toEqual(['a', 'b', 'c'].map((fp) => [`alertmanager:${fp}`, [{ from: Date.parse(at), to: Date.parse('2026-11-25T06:10:00Z') }]]))
    }
  })
})
