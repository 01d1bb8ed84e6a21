import { describe, expect, it } from 'vitest'
import { alertDocument, bulkAction, incidentDocument, type DocumentFor } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { captureLogs, indicesOfTest, serve } from '@opsreview/testing'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { incident } from './fuzz-seed.ts'

// Response bodies are asserted field by field; typing each shape here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const H = 3_600_000
const READ = 'read-token'
const iso = (s: string) => new Date(s).toISOString()

function change(source: string, fp: string, service: string, status: 'firing' | 'resolved', startsAt: string, endsAt: string | null, labels: Record<string, string>) {
  return {
    id: `${source}-${fp}-${status}-${startsAt}-${endsAt}`.replace(/[^a-z0-9]/gi, '').slice(0, 60), source, fingerprint: fp, status, severity: 'critical', service, environment: 'production',
    title: `${fp} ${status}`, labels, startsAt: iso(startsAt), ...(endsAt ? { endsAt: iso(endsAt) } : {}), receivedAt: iso(endsAt ?? startsAt), links: [], origin: {},
  }
}
const member = (source: string, fp: string, service: string, name: string, firstSeenAt: string, resolvedAt: string | null) => ({
  key: `${source}:${fp}`, fingerprint: fp, source, name, title: name, service, severity: 'critical', status: resolvedAt ? 'resolved' : 'firing',
  firstSeenAt: iso(firstSeenAt), lastSeenAt: iso(resolvedAt ?? firstSeenAt), resolvedAt: resolvedAt ? iso(resolvedAt) : null, flapCount: 0, autoResolved: false,
})
const openIncident = (k: number, service: string, openedAt: string, alerts: object[]) => incident(k, {
  services: [service], severity: 'critical', status: 'open', openedAt: iso(openedAt), resolvedAt: null, resolvedBy: null, lastEventAt: iso(openedAt), alerts,
})

/** The review app at `now` over indices holding the alert changes and incidents `seed` gives. */
async function reviewOf(name: string, now: string, seed: (d: { alert: DocumentFor; incident: DocumentFor }) => [DocumentFor, object][]) {
  const { prefix, es } = indicesOfTest(name)
  await ensureIndices(es, prefix)
  const months = liveAlertMonths(es, prefix)
  const ops = seed({ alert: alertDocument(months.indexFor), incident: incidentDocument(indexNames(prefix).incidents.alias) }).map(([f, d]) => f(JSON.stringify(d)))
  await months.prepare(new Set(ops.map((o) => o.index)))
  expect((await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })).errors).toBe(false)
  const { logger } = captureLogs()
  const url = await serve(createReviewApp({
    es, commands: { publish: async () => { throw new Error('no decisions in these tests') } }, commandsTopic: 'unused', logger, clock: () => new Date(now),
    readTokens: [READ], writeTokens: ['write-token'], indexPrefix: prefix, waitTimeoutMs: 500, publicDir: defaultPublicDir,
    deadLetters: async () => { throw new Error('not counted here') },
  }))
  return async (path: string): Promise<Json> => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${READ}` } })
    expect(res.status, path).toBe(200)
    return res.headers.get('content-type')?.includes('json') ? res.json() : res.text()
  }
}

const levels = (r: Json) => Object.fromEntries((r.serviceLevels as { service: string }[]).map((l) => [l.service, l]))

describe('service levels of the morning review (real Elasticsearch)', () => {
  it('counts a latency alert firing since before the look-back as degraded, as the reviews that read its firing did', async () => {
    // BillingBudgetBurn (slo=latency) fired on 20 November and still fires on 1 December: Alertmanager re-sends
    // it with the same startsAt, so the index holds one firing, 11 days before the window and 4 before the
    // 7-day look-back. Its name alone does not say latency, its label does. CacheDown beside it is down.
    const get = await reviewOf('slowold', '2026-12-02T08:00:00Z', ({ alert, incident }) => [
      [alert, change('alertmanager', 'burn', 'billing', 'firing', '2026-11-20T00:00:00Z', null, { alertname: 'BillingBudgetBurn', slo: 'latency' })],
      [incident, openIncident(1, 'billing', '2026-11-20T00:00:00Z', [member('alertmanager', 'burn', 'billing', 'BillingBudgetBurn', '2026-11-20T00:00:00Z', null)])],
      [alert, change('alertmanager', 'cache', 'cache', 'firing', '2026-11-20T00:00:00Z', null, { alertname: 'CacheDown' })],
      [incident, openIncident(2, 'cache', '2026-11-20T00:00:00Z', [member('alertmanager', 'cache', 'cache', 'CacheDown', '2026-11-20T00:00:00Z', null)])],
    ])
    // Within the look-back of the 20th's review, the firing is read, and the label with it.
    expect(levels(await get('/api/v1/review?from=2026-11-20&to=2026-11-21')).billing).toMatchObject({ availabilityPct: 100, downtimeMs: 0, degradedMs: 24 * H })
    const day = await get('/api/v1/review?from=2026-12-01&to=2026-12-02')
    expect(levels(day).billing).toMatchObject({ availabilityPct: 100, downtimeMs: 0, interruptions: 0, degradedMs: 24 * H })
    expect(levels(day).cache).toMatchObject({ availabilityPct: 0, downtimeMs: 24 * H, interruptions: 1, degradedMs: 0 })
    expect((await get('/api/v1/lookback?period=month&at=2026-12')).services.find((s: { service: string }) => s.service === 'billing')).toMatchObject({ downtimeMs: 0, degradedMs: 32 * H })
  })

  it('counts an incident in the MTTR of the review its resolve falls in, and in the MTTA of the one its acknowledgement falls in, once each', async () => {
    // The meeting is at 08:30. DbDown opened at 20:00 and was still open at the meeting, acknowledged at 09:00
    // and resolved at 10:00 the next day: 13 h to acknowledge, 14 h to resolve. The shop outage opened,
    // was acknowledged and resolved between two meetings. Taken by the incidents opened in the window, the
    // first meeting saw db open and unacknowledged and the second did not count it: no review's MTTR held
    // the day's longest outage.
    const get = await reviewOf('mttr', '2026-12-03T08:30:00Z', (d) => [
      [d.incident, incident(1, {
        services: ['db'], severity: 'critical', openedAt: iso('2026-12-01T20:00:00Z'), acknowledgedAt: iso('2026-12-02T09:00:00Z'), acknowledgedBy: 'ann',
        resolvedAt: iso('2026-12-02T10:00:00Z'), resolutionDecidedAt: iso('2026-12-02T10:05:00Z'), lastEventAt: iso('2026-12-02T10:00:00Z'),
      })],
      [d.incident, incident(2, {
        services: ['shop'], severity: 'critical', openedAt: iso('2026-12-02T12:00:00Z'), acknowledgedAt: iso('2026-12-02T12:10:00Z'), acknowledgedBy: 'ann',
        resolvedAt: iso('2026-12-02T12:30:00Z'), resolutionDecidedAt: iso('2026-12-02T12:35:00Z'), lastEventAt: iso('2026-12-02T12:30:00Z'),
      })],
    ])
    const first = levels(await get('/api/v1/review?from=2026-12-01T08:30:00Z&to=2026-12-02T08:30:00Z'))
    expect(first.db).toMatchObject({ incidents: 1, mttaMs: null, mttrMs: null })
    const second = await get('/api/v1/review?from=2026-12-02T08:30:00Z&to=2026-12-03T08:30:00Z')
    expect(levels(second).db).toMatchObject({ incidents: 0, mttaMs: 13 * H, mttrMs: 14 * H })
    expect(levels(second).shop).toMatchObject({ incidents: 1, mttaMs: 10 * 60_000, mttrMs: 30 * 60_000 })
    expect(await get('/api/v1/review.md?from=2026-12-02T08:30:00Z&to=2026-12-03T08:30:00Z')).toContain('| db | 100.00 % | 0 min | 0 min | 0 | 0 | 13 h 0 min | 14 h 0 min |')
  })
})

describe('service levels of many services (real Elasticsearch)', () => {
  it('gives every service its incidents when more services than one aggregation bucket page had some: none dropped, in the review and the look-back', async () => {
    // 2,000 services each opened two warning incidents on 1 December; db one critical incident (an hour down,
    // 12:00 to 13:00) and quiet one warning incident. Ordered by incident count, db and quiet come last.
    const busy = 2000
    const get = await reviewOf('manysvc', '2026-12-02T08:00:00Z', ({ alert, incident: inc }) => [
      ...Array.from({ length: busy * 2 }, (_, k): [DocumentFor, object] => [inc, incident(k + 10, {
        services: [`svc-${String(k % busy).padStart(4, '0')}`], openedAt: iso('2026-12-01T10:00:00Z'), resolvedAt: iso('2026-12-01T10:30:00Z'), lastEventAt: iso('2026-12-01T10:30:00Z'),
      })]),
      [alert, change('alertmanager', 'dbdown', 'zz-db', 'firing', '2026-12-01T12:00:00Z', null, { alertname: 'DbDown' })],
      [alert, change('alertmanager', 'dbdown', 'zz-db', 'resolved', '2026-12-01T12:00:00Z', '2026-12-01T13:00:00Z', { alertname: 'DbDown' })],
      [inc, incident(1, {
        services: ['zz-db'], severity: 'critical', openedAt: iso('2026-12-01T12:00:00Z'), resolvedAt: iso('2026-12-01T13:00:00Z'), lastEventAt: iso('2026-12-01T13:00:00Z'),
        alerts: [{ ...member('alertmanager', 'dbdown', 'zz-db', 'DbDown', '2026-12-01T12:00:00Z', '2026-12-01T13:00:00Z') }],
      })],
      [inc, incident(2, { services: ['zz-quiet'], openedAt: iso('2026-12-01T11:00:00Z'), resolvedAt: iso('2026-12-01T11:20:00Z'), lastEventAt: iso('2026-12-01T11:20:00Z') })],
    ])
    const review = levels(await get('/api/v1/review?from=2026-12-01&to=2026-12-02'))
    expect(Object.keys(review)).toHaveLength(busy + 2)
    expect(review['zz-db']).toMatchObject({ downtimeMs: H, incidents: 1, mttrMs: H })
    expect(review['zz-quiet']).toMatchObject({ availabilityPct: 100, incidents: 1, mttrMs: 20 * 60_000 })
    const lookback = await get('/api/v1/lookback?period=month&at=2026-12')
    const services = Object.fromEntries((lookback.services as { service: string }[]).map((s) => [s.service, s]))
    expect(Object.keys(services)).toHaveLength(busy + 2)
    expect(services['zz-db']).toMatchObject({ downtimeMs: H, incidents: { total: 1, critical: 1, warning: 0, info: 0 }, mttrMs: H })
    expect(services['zz-quiet']).toMatchObject({ incidents: { total: 1, critical: 0, warning: 1, info: 0 }, mttrMs: 20 * 60_000 })
  })
})

describe('service levels beside many alertnames (real Elasticsearch)', () => {
  it('counts a latency alert as degraded when more alertnames than one aggregation bucket page fired in the window', async () => {
    // 10,000 critical alerts of 10,000 other names fired and resolved on 1 December (twice each: a flap) on
    // api; one ApiSlowLatency alert (its name says degraded) fired on web at 12:00 and fires still, one change, so a
    // `terms` aggregation of the names ordered by count puts it last.
    const names = 10_000
    const get = await reviewOf('manynames', '2026-12-02T08:00:00Z', ({ alert }) => [
      ...Array.from({ length: names }, (_, k): [DocumentFor, object][] => {
        const name = `Rule${String(k).padStart(5, '0')}`
        return [
          [alert, change('alertmanager', `r${k}`, 'api', 'firing', '2026-12-01T10:00:00Z', null, { alertname: name })],
          [alert, change('alertmanager', `r${k}`, 'api', 'resolved', '2026-12-01T10:00:00Z', '2026-12-01T10:01:00Z', { alertname: name })],
        ]
      }).flat(),
      [alert, change('alertmanager', 'slow', 'web', 'firing', '2026-12-01T12:00:00Z', null, { alertname: 'ApiSlowLatency' })],
    ])
    expect(levels(await get('/api/v1/review?from=2026-12-01&to=2026-12-02')).web).toMatchObject({ availabilityPct: 100, downtimeMs: 0, degradedMs: 12 * H })
  })
})
