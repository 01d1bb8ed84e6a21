import { createHash } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { alertDocument, bulkAction, incidentDocument, problemDocument, type DocumentFor } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { captureLogs, cleanupIndices, createTopics, esClient, kafkaClient, readTopicUntil, serve, uniqueName } from '@opsreview/testing'
import { createReviewApp, defaultPublicDir } from './app.ts'

// Response bodies are asserted field by field; typing each shape here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

// The review window: the 24 h before NOW.
const NOW = Date.parse('2026-12-01T08:00:00.000Z')
const H = 3_600_000
const MIN = 60_000
const at = (hoursBeforeNow: number) => new Date(NOW - hoursBeforeNow * H).toISOString()
const READ = 'read-token'
const WRITE = 'write-token'

function incident(n: number, o: Record<string, unknown>) {
  return {
    id: `inc-${n.toString(16).padStart(24, '0')}`, title: `Incident ${n}`, status: 'resolved', severity: 'warning', services: ['checkout'], environment: 'production',
    groupKey: 'checkout|production', openedAt: at(10), resolvedAt: at(9), resolvedBy: 'alerts', lastEventAt: at(9), alertCount: 1,
    alerts: [{ key: `alertmanager:fp-${n}`, fingerprint: `fp-${n}`, source: 'alertmanager', name: 'HighLatency', title: 'Latency high', service: 'checkout', severity: 'warning', status: 'resolved', firstSeenAt: at(10), lastSeenAt: at(9), resolvedAt: at(9), flapCount: 0, autoResolved: false }],
    reports: [], customerImpact: false, owner: null, acknowledgedAt: null, acknowledgedBy: null, problemIds: [],
    postmortem: { required: false, reasons: [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version: 1, ...o,
  }
}

function alertChange(fp: string, service: string, status: 'firing' | 'resolved', time: string, source = 'alertmanager', severity = 'critical') {
  const e: Record<string, unknown> = {
    id: createHash('sha256').update(`${source}|${fp}|${status}|${time}`).digest('hex').slice(0, 32),
    source, fingerprint: fp, status, severity, service, environment: 'production', title: `${fp} ${status}`, labels: { alertname: fp },
    startsAt: time, receivedAt: time, links: [], origin: {},
  }
  if (status === 'resolved') e.endsAt = time
  return e
}

/**
 * The scenario, with the figures worked out by hand:
 * - shop: a Pingdom check DOWN 10:00→10:30 hours before now (30 min): 100 - 30/1440 = 97.92 %.
 * - checkout: critical alerts 2→1.5 h and 1.75→1.25 h before now overlap: union 45 min: 96.88 %.
 *   A flapping critical alert fires 5.15→5.10 and 5.05→5.00 h before now: 2 × 3 min; the 3-min gap between
 *   does not count: 6 more min → 51 min in 3 interruptions: 100 - 51/1440 = 96.46 %.
 * - new in the window: #1 critical (open, opened 3 h ago, acknowledged after 15 min), #2 warning (resolved,
 *   opened 10 h ago, resolved after 60 min), #3 warning (opened 30 h ago: not new, resolved 20 h ago: resolved in window).
 *   MTTA of checkout in the window: 15 min (only #1 was acknowledged); MTTR: 60 min (only #2 resolved).
 */
async function seed() {
  const es = esClient()
  const prefix = uniqueName('rev')
  cleanupIndices(prefix)
  await ensureIndices(es, prefix)
  const docs: [DocumentFor, object][] = []
  const alertMonths = liveAlertMonths(es, prefix)
  const inc = incidentDocument(indexNames(prefix).incidents.alias)
  const prb = problemDocument(indexNames(prefix).problems.alias)
  const alr = alertDocument(alertMonths.indexFor)
  docs.push([inc, incident(1, { title: 'Checkout payment timeouts', status: 'open', severity: 'critical', openedAt: at(3), resolvedAt: null, resolvedBy: null, acknowledgedAt: new Date(NOW - 3 * H + 15 * MIN).toISOString(), acknowledgedBy: 'ann', postmortem: { required: true, reasons: ['severity critical'], scheduledFor: null, owner: null }, problemIds: ['prb-00000000000000000000000a'] })])
  docs.push([inc, incident(2, { title: 'Search latency', services: ['search'], openedAt: at(10), resolvedAt: at(9), owner: 'bob' })])
  docs.push([inc, incident(3, { title: 'Old checkout errors', openedAt: at(30), resolvedAt: at(20), postmortem: { required: true, reasons: ['lasted 30 min or more'], scheduledFor: '2026-12-02T10:00:00.000Z', owner: 'carol' } })])
  docs.push([prb, { id: 'prb-00000000000000000000000a', kind: 'recurring', status: 'candidate', title: 'HighLatency keeps recurring on checkout', signature: 'production|checkout|HighLatency', services: ['checkout'], environment: 'production', incidentIds: ['inc-000000000000000000000001'], incidentCount: 3, firstSeenAt: at(100), lastSeenAt: at(3), owner: null, notes: [], version: 1 }])
  docs.push([prb, { id: 'prb-00000000000000000000000b', kind: 'shared-cause', status: 'candidate', title: 'db-1 shared', signature: 'production|host=db-1', services: ['a', 'b'], environment: 'production', incidentIds: [], incidentCount: 5, firstSeenAt: at(5), lastSeenAt: at(2), owner: null, notes: [], version: 1 }])
  docs.push([prb, { id: 'prb-00000000000000000000000c', kind: 'flapping', status: 'dismissed', title: 'dismissed one', signature: 'x', services: ['c'], environment: 'production', incidentIds: [], incidentCount: 1, firstSeenAt: at(5), lastSeenAt: at(2), owner: null, notes: [], version: 2 }])
  for (const e of [
    alertChange('check-1', 'shop', 'firing', at(10), 'pingdom'), alertChange('check-1', 'shop', 'resolved', at(9.5), 'pingdom'),
    alertChange('c1', 'checkout', 'firing', at(2)), alertChange('c1', 'checkout', 'resolved', at(1.5)),
    alertChange('c2', 'checkout', 'firing', at(1.75)), alertChange('c2', 'checkout', 'resolved', at(1.25)),
    alertChange('flap', 'checkout', 'firing', at(5.15)), alertChange('flap', 'checkout', 'resolved', at(5.1)),
    alertChange('flap', 'checkout', 'firing', at(5.05)), alertChange('flap', 'checkout', 'resolved', at(5)),
    alertChange('warn', 'checkout', 'firing', at(4), 'alertmanager', 'warning'),
  ]) docs.push([alr, e])
  const ops = docs.map(([f, d]) => f(JSON.stringify(d)))
  await alertMonths.prepare(new Set(ops.map((o) => o.index)))
  const r = await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })
  expect(r.errors).toBe(false)
  return { es, prefix }
}

async function startReview() {
  const { es, prefix } = await seed()
  const kafka = kafkaClient()
  const admin = kafka.admin()
  await admin.connect()
  onTestFinished(() => admin.disconnect())
  const commandsTopic = uniqueName('commands')
  await createTopics(admin, [commandsTopic])
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const { logger } = captureLogs()
  const commands = new BatchPublisher({ producer, logger })
  onTestFinished(async () => { await commands.close(); await producer.disconnect(); await es.close() })
  const app = createReviewApp({
    es, commands, commandsTopic, logger, clock: () => new Date(NOW), readTokens: [READ], writeTokens: [WRITE], indexPrefix: prefix,
    waitTimeoutMs: 500, publicDir: defaultPublicDir,
  })
  const url = await serve(app)
  const get = async (path: string, token = READ): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text() }
  }
  return { url, get, kafka, commandsTopic, prefix, es }
}

describe('review API on the real Elasticsearch', () => {
  it('computes the morning review of a seeded scenario as worked out by hand', async () => {
    const r = await startReview()
    const { status, body } = await r.get('/api/v1/review?since=24h')
    expect(status).toBe(200)
    expect(body.window).toEqual({ from: at(24), to: at(0) })
    expect(body.newIncidents).toMatchObject({ total: 2, bySeverity: { critical: 1, warning: 1, info: 0 } })
    expect(body.resolvedIncidents.items.map((i: { title: string }) => i.title).sort()).toEqual(['Old checkout errors', 'Search latency'])
    expect(body.openIncidents.items.map((i: { title: string }) => i.title)).toEqual(['Checkout payment timeouts'])
    expect(body.problems.items.map((p: { kind: string }) => p.kind)).toEqual(['recurring', 'shared-cause'])
    expect(body.postmortems).toMatchObject({ total: 1, scheduled: 0 })
    const levels = Object.fromEntries(body.serviceLevels.map((l: { service: string }) => [l.service, l]))
    expect(levels.shop).toMatchObject({ availabilityPct: 97.92, downtimeMs: 30 * MIN, interruptions: 1, incidents: 0 })
    expect(levels.checkout).toMatchObject({ availabilityPct: 96.46, downtimeMs: 51 * MIN, interruptions: 3, incidents: 1, mttaMs: 15 * MIN })
    expect(levels.search).toMatchObject({ availabilityPct: 100, incidents: 1, mttrMs: 60 * MIN, mttaMs: null })
    expect(body.trend).toHaveLength(30)
    expect(body.trend[0]).toMatchObject({ day: '2026-11-02', total: 0 })
    expect(body.trend.slice(-2)).toEqual([
      { day: '2026-11-30', total: 2, critical: 0, warning: 2, info: 0 },
      { day: '2026-12-01', total: 1, critical: 1, warning: 0, info: 0 },
    ])
    expect(body.trend.reduce((s: number, d: { total: number }) => s + d.total, 0)).toBe(3)

    const md = await r.get('/api/v1/review.md?since=24h')
    expect(md.body).toContain('**2 new incidents** (1 critical, 1 warning, 0 info)')
    expect(md.body).toContain('| shop | 97.92 % | 30 min | 1 | 0 | – | – |')
    expect(md.body).toContain('**not scheduled**')
  })

  it('searches incident history with safe full text, filters, sort and a search_after cursor', async () => {
    const r = await startReview()
    expect((await r.get('/api/v1/incidents?q=checkout')).body.total).toBe(2)
    expect((await r.get('/api/v1/incidents?q=payment%20timeouts')).body.items.map((i: { id: string }) => i.id)).toEqual(['inc-000000000000000000000001'])
    // Query syntax that would break a raw query_string is just text here.
    expect((await r.get('/api/v1/incidents?q=%22unbalanced%20(%5B')).status).toBe(200)
    expect((await r.get('/api/v1/incidents?status=resolved&service=checkout')).body.items.map((i: { title: string }) => i.title)).toEqual(['Old checkout errors'])
    expect((await r.get('/api/v1/incidents?owner=bob')).body.total).toBe(1)
    expect((await r.get('/api/v1/incidents?problem=prb-00000000000000000000000a')).body.total).toBe(1)
    expect((await r.get(`/api/v1/incidents?from=${at(12)}&to=${at(0)}`)).body.total).toBe(2)
    const first = (await r.get('/api/v1/incidents?size=2&sort=openedAt:asc')).body
    expect(first.items.map((i: { title: string }) => i.title)).toEqual(['Old checkout errors', 'Search latency'])
    const second = (await r.get(`/api/v1/incidents?size=2&sort=openedAt:asc&cursor=${first.nextCursor}`)).body
    expect(second.items.map((i: { title: string }) => i.title)).toEqual(['Checkout payment timeouts'])
    expect(second.nextCursor).toBeNull()
    const bad = await r.get('/api/v1/incidents?status=burning&size=1000&sort=title&cursor=zzz')
    expect(bad.status).toBe(400)
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/cursor', '/size', '/sort', '/status'])
  })

  it('shows an incident with its timeline, and a problem with its incidents', async () => {
    const r = await startReview()
    const inc = await r.get('/api/v1/incidents/inc-000000000000000000000001')
    expect(inc.body.incident).toMatchObject({ title: 'Checkout payment timeouts', owner: null })
    const prb = await r.get('/api/v1/problems/prb-00000000000000000000000a')
    expect(prb.body.incidents.map((i: { id: string }) => i.id)).toEqual(['inc-000000000000000000000001'])
    expect((await r.get('/api/v1/problems?kind=shared-cause')).body.total).toBe(1)
    expect((await r.get('/api/v1/problems?status=candidate')).body.total).toBe(2)
    expect((await r.get('/api/v1/incidents/inc-ffffffffffffffffffffffff')).status).toBe(404)
  })

  it('publishes decisions as commands, answering 202, and keeps read and write tokens apart', async () => {
    const r = await startReview()
    const patch = (path: string, body: unknown, token = WRITE) =>
      fetch(`${r.url}${path}`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect((await patch('/api/v1/incidents/inc-000000000000000000000001', { actor: 'ann', owner: 'bob' }, READ)).status).toBe(401)
    expect((await r.get('/api/v1/review', 'nope')).status).toBe(401)
    expect((await r.get('/api/v1/review', WRITE)).status).toBe(200)
    const invalid = await patch('/api/v1/incidents/inc-000000000000000000000001', { actor: 'ann', owner: '', colour: 'red' })
    expect(invalid.status).toBe(400)
    expect(((await invalid.json()) as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual(['/colour', '/owner'])
    const res = await patch('/api/v1/incidents/inc-000000000000000000000001', { actor: 'ann', owner: 'bob', acknowledge: true, postmortem: { scheduledFor: '2026-12-03T09:00:00Z', owner: 'carol' } })
    expect(res.status).toBe(202)
    const { commandIds } = (await res.json()) as { commandIds: string[] }
    expect(commandIds).toHaveLength(3)
    const published = await readTopicUntil(r.kafka, r.commandsTopic, (m) => m.length >= 3)
    expect(published.map((m) => JSON.parse(m.value))).toEqual(expect.arrayContaining([
      expect.objectContaining({ type: 'incident.assign', target: 'inc-000000000000000000000001', environment: 'production', actor: 'ann', owner: 'bob' }),
      expect.objectContaining({ type: 'incident.acknowledge' }),
      expect.objectContaining({ type: 'incident.schedule-postmortem', scheduledFor: '2026-12-03T09:00:00.000Z', owner: 'carol' }),
    ]))
    expect(published.every((m) => m.key === 'production')).toBe(true)
    // Nothing applies commands in this test: ?wait=true gives up after its timeout and says so.
    const waited = await patch('/api/v1/problems/prb-00000000000000000000000a?wait=true', { actor: 'ann', action: 'confirm' })
    expect(waited.status).toBe(202)
    expect(await waited.json()).toMatchObject({ visible: false })
  })

  it('serves the dashboard page', async () => {
    const r = await startReview()
    const page = await fetch(`${r.url}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<h1>Morning operations review</h1>')
  })
})
