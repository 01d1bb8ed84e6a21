import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { alertDocument, bulkAction, incidentDocument, problemDocument, type DocumentFor } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { cachedDeadLetterCount, countDeadLetters } from '@opsreview/review/dead-letters'
import { captureLogs, cleanupIndices, connectedAdmin, createTopics, esClient, kafkaClient, readTopicToEnd, readTopicUntil, serve, uniqueName } from '@opsreview/testing'
import { SEARCH_OPERATORS } from '@opsreview/review/search'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { createReviewMetrics } from './metrics.ts'
import { at, incident, NOW } from './fuzz-seed.ts'

// Response bodies are asserted field by field; typing each shape here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

// The review window: the 24 h before NOW (fuzz-seed.ts, which also makes the documents).
const H = 3_600_000
const MIN = 60_000
const READ = 'read-token'
const WRITE = 'write-token'

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
 * - shop: a Pingdom check DOWN 10:00→10:30 hours before now (30 min): 100 - 30/1440 = 97.916… %, shown rounded down: 97.91 %.
 * - checkout: critical alerts 2→1.5 h and 1.75→1.25 h before now overlap: union 45 min: 96.88 %.
 *   A flapping critical alert fires 5.15→5.10 and 5.05→5.00 h before now: 2 × 3 min; the 3-min gap between
 *   does not count: 6 more min → 51 min in 3 interruptions: 100 - 51/1440 = 96.458… %, rounded down 96.45 %.
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
  docs.push([inc, incident(1, { title: 'Checkout payment timeouts', status: 'open', severity: 'critical', openedAt: at(3), resolvedAt: null, resolvedBy: null, acknowledgedAt: new Date(NOW - 3 * H + 15 * MIN).toISOString(), acknowledgedBy: 'ann', postmortem: { required: true, reasons: ['severity critical'], scheduledFor: null, owner: null }, problemIds: ['prb-00000000000000000000000a'], notes: [{ at: at(2.2), author: 'ann', text: 'paged the payments team' }] })])
  docs.push([inc, incident(2, { title: 'Search latency', services: ['search'], openedAt: at(10), resolvedAt: at(9), owner: 'bob' })])
  docs.push([inc, incident(3, { title: 'Old checkout errors', openedAt: at(30), resolvedAt: at(20), postmortem: { required: true, reasons: ['lasted 30 min or more'], scheduledFor: '2026-12-02T10:00:00.000Z', owner: 'carol' } })])
  docs.push([prb, { id: 'prb-00000000000000000000000a', kind: 'recurring', status: 'candidate', title: 'HighLatency keeps recurring on checkout', signature: 'production|checkout|HighLatency', services: ['checkout'], environment: 'production', incidentIds: ['inc-000000000000000000000001'], incidentCount: 3, firstSeenAt: at(100), lastSeenAt: at(3), owner: null, notes: [], version: 1 }])
  // Resolved twice, and twice its rule found it again; the recurring one above is a document of an engine before `reopenCount`.
  docs.push([prb, { id: 'prb-00000000000000000000000b', kind: 'shared-cause', status: 'confirmed', title: 'db-1 shared', signature: 'production|host=db-1', services: ['a', 'b'], environment: 'production', incidentIds: [], incidentCount: 5, firstSeenAt: at(5), lastSeenAt: at(2), owner: null, notes: [], resolvedAt: null, reopenCount: 2, version: 5 }])
  docs.push([prb, { id: 'prb-00000000000000000000000c', kind: 'flapping', status: 'dismissed', title: 'dismissed one', signature: 'x', services: ['c'], environment: 'production', incidentIds: [], incidentCount: 1, firstSeenAt: at(5), lastSeenAt: at(2), owner: null, notes: [], version: 2 }])
  for (const e of [
    alertChange('check-1', 'shop', 'firing', at(10), 'pingdom'), alertChange('check-1', 'shop', 'resolved', at(9.5), 'pingdom'),
    alertChange('c1', 'checkout', 'firing', at(2)), alertChange('c1', 'checkout', 'resolved', at(1.5)),
    alertChange('c2', 'checkout', 'firing', at(1.75)), alertChange('c2', 'checkout', 'resolved', at(1.25)),
    alertChange('flap', 'checkout', 'firing', at(5.15)), alertChange('flap', 'checkout', 'resolved', at(5.1)),
    alertChange('flap', 'checkout', 'firing', at(5.05)), alertChange('flap', 'checkout', 'resolved', at(5)),
    alertChange('warn', 'checkout', 'firing', at(4), 'alertmanager', 'warning'),
    // #1's member alert (a warning: no downtime): it opened #1, resolved, fired again; and fired long before, outside #1's timeline.
    alertChange('fp-1', 'checkout', 'firing', at(3), 'alertmanager', 'warning'), alertChange('fp-1', 'checkout', 'resolved', at(2.5), 'alertmanager', 'warning'),
    alertChange('fp-1', 'checkout', 'firing', at(2), 'alertmanager', 'warning'), alertChange('fp-1', 'checkout', 'firing', at(30), 'alertmanager', 'warning'),
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
  const admin = await connectedAdmin(kafka)
  const commandsTopic = uniqueName('commands')
  const deadLetterTopics = [uniqueName('rejected'), uniqueName('indexer-dlq'), uniqueName('never-created')]
  await createTopics(admin, [commandsTopic, deadLetterTopics[0]!, deadLetterTopics[1]!])
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const { logger } = captureLogs()
  const commands = new BatchPublisher({ producer, logger })
  onTestFinished(async () => { await commands.close(); await producer.disconnect(); await es.close() })
  const deadLetters = cachedDeadLetterCount((now) => countDeadLetters(admin, deadLetterTopics, now, 24 * H), { ttlMs: 0, timeoutMs: 10_000, clock: () => Date.now() })
  // Each start is a fresh process as far as the app knows: nothing remembered between two of them.
  const metrics = createReviewMetrics({ breakerState: () => commands.breakerState })
  const start = async () => serve(createReviewApp({
    es, commands, commandsTopic, logger, clock: () => new Date(NOW), readTokens: [READ], writeTokens: [WRITE], indexPrefix: prefix,
    waitTimeoutMs: 500, publicDir: defaultPublicDir, deadLetters, metrics,
  }))
  const url = await start()
  const get = async (path: string, token = READ): Promise<{ status: number; body: Json; headers: Headers }> => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text(), headers: res.headers }
  }
  return { url, get, kafka, admin, producer, commandsTopic, deadLetterTopics, prefix, es, start }
}

/** Indexes more incidents into a started review's indices. */
async function addIncident(r: { es: Awaited<ReturnType<typeof startReview>>['es']; prefix: string }, ...docs: object[]) {
  const ops = docs.map((doc) => incidentDocument(indexNames(r.prefix).incidents.alias)(JSON.stringify(doc)))
  const res = await r.es.bulk({ refresh: true, operations: ops.flatMap((op) => [bulkAction(op), op.document]) })
  expect(res.errors).toBe(false)
}

/** Indexes more alert changes into a started review's indices, making their months' indices first. */
async function addAlerts(r: { es: Awaited<ReturnType<typeof startReview>>['es']; prefix: string }, docs: object[]) {
  const months = liveAlertMonths(r.es, r.prefix)
  const ops = docs.map((doc) => alertDocument(months.indexFor)(JSON.stringify(doc)))
  await months.prepare(new Set(ops.map((o) => o.index)))
  const res = await r.es.bulk({ refresh: true, operations: ops.flatMap((op) => [bulkAction(op), op.document]) })
  expect(res.errors).toBe(false)
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz'
/** Every two-letter word, 26 to an incident, in each text field search reads: the many short words of a long history. */
/**
 * Every two-letter word, in every field free text searches (26 words an incident): the services and the alert
 * names as keywords too, so that a fuzzy word expands to as many terms in each of the six fields. In four
 * fields, 125 fuzzy words were more clauses than an Elasticsearch of 2 processors runs but not one of 1 (its
 * limit grows as its search threads fall), and the refusal test passed or failed with the machine.
 */
function vocabularyIncidents(firstNumber: number): object[] {
  return [...LETTERS].map((a, i) => {
    const words = [...LETTERS].map((b) => a + b)
    const text = words.join(' ')
    const base = incident(firstNumber + i, { title: text, services: words, openedAt: at(50), resolvedAt: at(49) })
    const [member] = base.alerts
    return {
      ...base, alertCount: words.length, alerts: words.map((w) => ({ ...member, key: `alertmanager:${w}`, fingerprint: w, name: w, title: text })), notes: [{ at: at(50), author: 'ann', text }],
      reports: [{ eventId: `evt-${i}`, kind: 'manual', title: text, reportedBy: 'ann', at: at(50) }],
    }
  })
}

describe('review API on the real Elasticsearch', () => {
  it('computes the morning review of a seeded scenario as worked out by hand', async () => {
    const r = await startReview()
    const { status, body } = await r.get('/api/v1/review?since=24h')
    expect(status).toBe(200)
    expect(body.window).toEqual({ from: at(24), to: at(0), timeZone: 'UTC', until: at(0), complete: true })
    expect(body.newIncidents).toMatchObject({ total: 2, bySeverity: { critical: 1, warning: 1, info: 0 } })
    expect(body.resolvedIncidents.items.map((i: { title: string }) => i.title).sort()).toEqual(['Old checkout errors', 'Search latency'])
    expect(body.openIncidents.items.map((i: { title: string }) => i.title)).toEqual(['Checkout payment timeouts'])
    expect(body.problems.items.map((p: { kind: string; reopenCount: number }) => [p.kind, p.reopenCount])).toEqual([['recurring', 0], ['shared-cause', 2]])
    expect(body.postmortems).toMatchObject({ total: 1, scheduled: 0 })
    const levels = Object.fromEntries(body.serviceLevels.map((l: { service: string }) => [l.service, l]))
    expect(levels.shop).toMatchObject({ availabilityPct: 97.91, downtimeMs: 30 * MIN, interruptions: 1, incidents: 0 })
    expect(levels.checkout).toMatchObject({ availabilityPct: 96.45, downtimeMs: 51 * MIN, interruptions: 3, incidents: 1, mttaMs: 15 * MIN })
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
    expect(md.body).toContain('| shop | 97.91 % | 30 min | 0 min | 1 | 0 | – | – |')
    expect(md.body).toContain('**not scheduled**')
    expect(md.body).toContain('| shared-cause | confirmed, came back 2× | db-1 shared')
  })

  it('keeps an incident needing a post-mortem in the queue until one is scheduled, however long ago it opened and resolved', async () => {
    const r = await startReview()
    const before = (await r.get('/api/v1/review?since=24h')).body.postmortems as { total: number; scheduled: number }
    const required = { required: true, reasons: ['severity critical', 'lasted 30 min or more'], owner: null }
    await addIncident(r,
      incident(900, { title: 'Outage three days ago, no post-mortem scheduled', severity: 'critical', openedAt: at(72), resolvedAt: at(70), postmortem: { ...required, scheduledFor: null } }),
      incident(901, { title: 'Outage three days ago, post-mortem scheduled', severity: 'critical', openedAt: at(72), resolvedAt: at(70), postmortem: { ...required, scheduledFor: at(30) } }),
    )
    const { body } = await r.get('/api/v1/review?since=24h')
    const titles = (body.postmortems.items as { title: string }[]).map((i) => i.title)
    expect(titles).toContain('Outage three days ago, no post-mortem scheduled')
    expect(titles).not.toContain('Outage three days ago, post-mortem scheduled')
    expect(body.postmortems).toMatchObject({ total: before.total + 1, scheduled: before.scheduled })
  })

  it('lists apart, as no longer to be scheduled here, a post-mortem the correlator forgot, out of the queue and its count, and refuses to schedule it saying why', async () => {
    const r = await startReview()
    const before = (await r.get('/api/v1/review?since=24h')).body.postmortems as { total: number; scheduled: number }
    const required = { required: true, reasons: ['severity critical', 'lasted 30 min or more'], scheduledFor: null, owner: null }
    const forgotten = incident(910, { title: 'Outage a month ago, forgotten this morning', severity: 'critical', openedAt: at(800), resolvedAt: at(799), postmortem: { ...required, forgottenAt: at(2) } })
    const { id } = forgotten
    await addIncident(r,
      forgotten,
      incident(911, { title: 'Outage two months ago, forgotten last week', severity: 'critical', openedAt: at(1500), resolvedAt: at(1499), postmortem: { ...required, forgottenAt: at(170) } }),
    )
    const { body } = await r.get('/api/v1/review?since=24h')
    const titles = (body.postmortems.items as { title: string }[]).map((i) => i.title)
    expect(titles.filter((t) => t.includes('forgotten'))).toEqual([])
    expect(body.postmortems).toMatchObject({ total: before.total, scheduled: before.scheduled })
    // Said in the review of the window it was forgotten in.
    expect(body.postmortems.forgotten).toEqual({ total: 1, items: [expect.objectContaining({ id, postmortem: expect.objectContaining({ forgottenAt: at(2) }) })] })
    const md = (await r.get('/api/v1/review.md?since=24h')).body as string
    const section = md.slice(md.indexOf('## Post-mortems'), md.indexOf('## Service levels'))
    expect(section).toContain('**1 can no longer be scheduled here**: forgotten by the correlator')
    expect(section).toContain(`Outage a month ago, forgotten this morning (\`${id}\`)`)
    expect(section).not.toContain('forgotten last week')
    const res = await fetch(`${r.url}/api/v1/incidents/${id}`, {
      method: 'PATCH', headers: { authorization: `Bearer ${WRITE}`, 'content-type': 'application/json' }, body: JSON.stringify({ actor: 'ann', postmortem: { scheduledFor: '2026-12-03T09:00:00Z' } }),
    })
    expect(res.status).toBe(409)
    const refused = (await res.json()) as Json
    expect(refused).toMatchObject({ code: 'DECISION_REFUSED' })
    expect(refused.detail).toContain(`incident.schedule-postmortem: the correlator forgot incident ${id} at ${at(2)}`)
    expect(refused.detail).toContain('can no longer be scheduled')
  })

  it('refuses, saying why and publishing nothing, a decision on an incident the correlator let go after its retention', async () => {
    const r = await startReview()
    const old = incident(912, { title: 'Outage six weeks ago', openedAt: at(1000), resolvedAt: at(999), forgottenAt: at(200) })
    await addIncident(r, old)
    const commandsOnTopic = async () => (await r.admin.fetchTopicOffsets(r.commandsTopic)).reduce((n, p) => n + Number(p.high), 0)
    const published = await commandsOnTopic()
    const res = await fetch(`${r.url}/api/v1/incidents/${old.id}`, {
      method: 'PATCH', headers: { authorization: `Bearer ${WRITE}`, 'content-type': 'application/json' }, body: JSON.stringify({ actor: 'ann', owner: 'bob', note: 'who looks at this?' }),
    })
    expect(res.status).toBe(409)
    const refused = (await res.json()) as Json
    expect(refused).toMatchObject({ code: 'DECISION_REFUSED' })
    expect(refused.detail).toBe(`incident.assign, incident.note: the correlator let incident ${old.id} go at ${at(200)}, its retention (OPSREVIEW_CORRELATOR_RETENTION) after the incident resolved; it takes no more decisions here, and its record stays as it is`)
    expect(await commandsOnTopic()).toBe(published)
    // Still found in the history, as it was.
    expect((await r.get(`/api/v1/incidents/${old.id}`)).body.incident).toMatchObject({ id: old.id, forgottenAt: at(200) })
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

  it('searches with + | - "phrases" prefix* and parentheses, and takes ~ as text, so many fuzzy words are no 500', async () => {
    const r = await startReview()
    const ids = async (q: string) => {
      const res = await r.get(`/api/v1/incidents?q=${encodeURIComponent(q)}`)
      expect(res.status, q).toBe(200)
      return res.body.items.map((i: { id: string }) => i.id).sort()
    }
    const [one, , three] = ['inc-000000000000000000000001', 'inc-000000000000000000000002', 'inc-000000000000000000000003']
    expect(await ids('checkout -old')).toEqual([one])
    expect(await ids('pay*')).toEqual([one])
    expect(await ids('"checkout errors"')).toEqual([three])
    expect(await ids('payment | errors')).toEqual([one, three])
    expect(await ids('(payment | errors) +old')).toEqual([three])
    // Not fuzzy: a misspelt word finds nothing, and a word before ~ is the word.
    expect(await ids('paymnt~')).toEqual([])
    expect(await ids('payment~')).toEqual([one])
    expect(await ids('"checkout errors"~3')).toEqual([])
    // A fuzzy word was up to 50 terms in each field: 125 of them, with every two-letter word indexed, were
    // more clauses than Elasticsearch runs, and the search answered 500.
    await addIncident(r, ...vocabularyIncidents(0x100))
    expect(await ids([...LETTERS].map((b) => `a${b}~`).join(' '))).toEqual(['inc-000000000000000000000100'])
    const fuzzy = Array.from({ length: 125 }, (_, n) => `${LETTERS[Math.floor(n / 26)]}${LETTERS[n % 26]}~`).join(' ')
    expect(fuzzy.length).toBeLessThanOrEqual(500)
    expect(await ids(fuzzy)).toEqual([])
  })

  it("finds an incident by its member alerts' label values and its reports' descriptions, which the incident does not hold", async () => {
    const r = await startReview()
    const labelled = (fp: string, time: string, labels: Record<string, string>) => ({ ...alertChange(fp, 'checkout', 'firing', time), labels: { alertname: 'DiskFull', ...labels } })
    const complaint = { ...alertChange('rep-1', 'checkout', 'firing', at(7), 'report'), id: 'evt-invoice', title: 'Customer complaint', description: 'invoice PDF is blank since the deploy', labels: { alertname: 'report:customer-complaint', reported_by: 'dora' } }
    await addAlerts(r, [
      labelled('disk-db7', at(6), { host: 'db-7', instance: 'db-7:9100' }), labelled('disk-db8', at(6), { host: 'db-8', instance: 'db-8:9100' }),
      // An alert of db-9 that no incident holds: its match finds nothing.
      labelled('disk-db9', at(6), { host: 'db-9' }),
      complaint,
    ])
    const member = (n: number, fp: string) => { const base = incident(n, { title: 'Disk almost full', services: ['storage'], openedAt: at(6), resolvedAt: at(5) }); return { ...base, alerts: base.alerts.map((m) => ({ ...m, key: `alertmanager:${fp}`, fingerprint: fp, name: 'DiskFull' })) } }
    await addIncident(r, member(0x300, 'disk-db7'), member(0x301, 'disk-db8'),
      { ...incident(0x302, { title: 'Billing errors', services: ['billing'], openedAt: at(7), resolvedAt: at(6.5) }), reports: [{ eventId: 'evt-invoice', kind: 'customer-complaint', title: 'Customer complaint', reportedBy: 'dora', at: at(7) }] })
    const ids = async (q: string, more = '') => {
      const res = await r.get(`/api/v1/incidents?q=${encodeURIComponent(q)}${more}`)
      expect(res.status, q).toBe(200)
      return res.body.items.map((i: { id: string }) => i.id).sort()
    }
    const [db7, db8, billing] = ['inc-000000000000000000000300', 'inc-000000000000000000000301', 'inc-000000000000000000000302']
    expect(await ids('db-7')).toEqual([db7])
    expect(await ids('db-7:9100')).toEqual([db7])
    expect(await ids('db-8', '&sort=severity')).toEqual([db8])
    expect(await ids('db-*')).toEqual([db7, db8])
    expect(await ids('db-9')).toEqual([])
    expect(await ids('db-7 | db-8')).toEqual([db7, db8])
    // The filters hold for an incident a label found.
    expect(await ids('db-7', '&service=search')).toEqual([])
    expect(await ids('db-7', `&from=${at(4)}`)).toEqual([])
    expect(await ids('invoice blank')).toEqual([billing])
    // The incident's own text finds it as before, alone or beside a label match.
    expect(await ids('disk')).toEqual([db7, db8])
    expect(await ids('billing | db-7')).toEqual([db7, billing])
    expect(await ids('checkout')).toEqual(['inc-000000000000000000000001', 'inc-000000000000000000000003'])
    // Syntax still never fails, in the labels either.
    expect((await r.get(`/api/v1/incidents?q=${encodeURIComponent('"db-7 ( -| *')}`)).status).toBe(200)
  })

  it('finds by label an incident of a past window when the label keeps firing since on more alerts than the look-up takes', async () => {
    const r = await startReview()
    const labelled = (fp: string, time: string) => ({ ...alertChange(fp, 'checkout', 'firing', time), labels: { alertname: 'DiskFull', host: 'db-5' } })
    // 600 alerts of db-5 in the last hours, after the one of 40 hours ago; no incident holds them.
    await addAlerts(r, [labelled('disk-old', at(40)), ...Array.from({ length: 600 }, (_, n) => labelled(`disk-new-${n}`, at(3 - n / 300)))])
    const old = incident(0x310, { title: 'Disk almost full', services: ['storage'], openedAt: at(40), resolvedAt: at(39) })
    await addIncident(r, { ...old, alerts: old.alerts.map((m) => ({ ...m, key: 'alertmanager:disk-old', fingerprint: 'disk-old', name: 'DiskFull' })) })
    const res = await r.get(`/api/v1/incidents?q=db-5&from=${at(48)}&to=${at(36)}`)
    expect(res.status).toBe(200)
    expect(res.body.items.map((i: { id: string }) => i.id)).toEqual(['inc-000000000000000000000310'])
  })

  it('answers 400 naming /q, not 500, when Elasticsearch refuses a search for its text', async () => {
    const r = await startReview()
    await addIncident(r, ...vocabularyIncidents(0x100))
    // Nothing the API sends now has more clauses than Elasticsearch runs: the refusal comes from the real
    // Elasticsearch when fuzzy is put back into the searches the app sends.
    const search = r.es.search.bind(r.es)
    const fuzzyAgain = (request: object) => JSON.parse(JSON.stringify(request).replaceAll(`"flags":"${SEARCH_OPERATORS}"`, '"flags":"ALL"')) as object
    r.es.search = ((request: object, options?: object) => search(fuzzyAgain(request), options)) as typeof r.es.search
    const fuzzy = Array.from({ length: 125 }, (_, n) => `${LETTERS[Math.floor(n / 26)]}${LETTERS[n % 26]}~`).join(' ')
    for (const sort of ['openedAt', 'severity']) {
      const refused = await r.get(`/api/v1/incidents?q=${encodeURIComponent(fuzzy)}&sort=${sort}`)
      expect(refused.status, sort).toBe(400)
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(refused.body).toMatchObject({ code: 'INVALID_QUERY', errors: [{ path: '/q', message: 'has more words and operators than the search can run at once: use fewer' }] })
    }
    expect((await r.get(`/api/v1/incidents?q=${encodeURIComponent('paymnt~')}`)).body.total).toBe(1)
  })

  it('shows an incident with its timeline, and a problem with its incidents', async () => {
    const r = await startReview()
    const inc = await r.get('/api/v1/incidents/inc-000000000000000000000001')
    expect(inc.body.incident).toMatchObject({ title: 'Checkout payment timeouts', owner: null })
    // Its member alert's changes from an hour before it opened on, and its note, in time order; no other alert's.
    const change = (status: string, hoursAgo: number) => ({ at: at(hoursAgo), kind: `alert-${status}`, source: 'alertmanager', fingerprint: 'fp-1', title: `fp-1 ${status}`, service: 'checkout' })
    expect(inc.body.timeline).toEqual([
      change('firing', 3), change('resolved', 2.5),
      { at: at(2.2), kind: 'note', source: 'review', title: 'paged the payments team', author: 'ann' },
      change('firing', 2),
    ])
    expect(inc.body).toMatchObject({ timelineTotal: 4, timelineTruncated: false })
    const prb = await r.get('/api/v1/problems/prb-00000000000000000000000a')
    expect(prb.body.incidents.map((i: { id: string }) => i.id)).toEqual(['inc-000000000000000000000001'])
    expect(prb.body).toMatchObject({ incidentsTotal: 1, incidentsTruncated: false })
    expect((await r.get('/api/v1/problems?kind=shared-cause')).body.total).toBe(1)
    expect((await r.get('/api/v1/problems?status=candidate')).body.total).toBe(1)
    expect((await r.get('/api/v1/problems?status=confirmed')).body.total).toBe(1)
    expect((await r.get('/api/v1/problems?environment=production')).body.total).toBe(3)
    expect((await r.get('/api/v1/problems?environment=staging')).body.total).toBe(0)
    expect((await r.get('/api/v1/problems?environment=production&kind=flapping')).body.total).toBe(1)
    expect((await r.get('/api/v1/incidents/inc-ffffffffffffffffffffffff')).status).toBe(404)
  })

  it('lists a forecast made in the window right after the recurring problems, so a long list does not cut it; an older one keeps its place by count', async () => {
    const r = await startReview()
    const before = (await r.get('/api/v1/review?since=24h')).body
    const problem = (n: number, kind: string, lastSeenAt: string, incidentCount: number) => ({
      id: `prb-${n.toString(16).padStart(24, '0')}`, kind, status: 'candidate', title: `${kind} ${n}`,
      signature: JSON.stringify({ kind, environment: 'production', service: `svc-${n}` }), services: [`svc-${n}`], environment: 'production',
      incidentIds: [], incidentCount, firstSeenAt: at(48), lastSeenAt, owner: null, notes: [], resolvedAt: null, reopenCount: 0, version: 1,
    })
    // More problems with incidents than the review lists: a forecast ranked by its count (none) was cut.
    const shared = Array.from({ length: 200 }, (_, i) => problem(0x100 + i, 'shared-cause', at(2), 2))
    const fresh = problem(0x1, 'forecast', at(1), 0)
    const old = problem(0x2, 'forecast', at(24 * 10), 0)
    const recurring = problem(0x3, 'recurring', at(3), 1)
    const ops = [...shared, fresh, old, recurring].map((doc) => problemDocument(indexNames(r.prefix).problems.alias)(JSON.stringify(doc)))
    expect((await r.es.bulk({ refresh: true, operations: ops.flatMap((op) => [bulkAction(op), op.document]) })).errors).toBe(false)

    const { body } = await r.get('/api/v1/review?since=24h')
    const items = body.problems.items as { id: string; kind: string }[]
    expect(body.problems.total).toBe(before.problems.total + 203)
    expect(items).toHaveLength(200)
    const recurringListed = items.filter((p) => p.kind === 'recurring').length
    expect(items.map((p) => p.id)).toContain(recurring.id)
    expect(items.findIndex((p) => p.id === fresh.id)).toBe(recurringListed)
    expect(items.map((p) => p.id)).not.toContain(old.id)
  })

  it('lists a forecast among the problems to review with its kind, not among the incidents, and its view holds the forecasts', async () => {
    const r = await startReview()
    const before = (await r.get('/api/v1/review?since=24h')).body
    // As the correlator writes a forecast (a report of kind capacity-forecast): a candidate problem with its reports.
    const forecast = {
      id: 'prb-00000000000000000000000f', kind: 'forecast', status: 'candidate', title: 'Forecast for checkout: db-main disk full in 8 days',
      signature: JSON.stringify({ kind: 'forecast', environment: 'production', service: 'checkout' }), services: ['checkout'], environment: 'production',
      incidentIds: [], incidentCount: 0, firstSeenAt: at(6), lastSeenAt: at(1), owner: null, notes: [{ at: at(3), author: 'ann', text: 'asked storage for a quote' }],
      reports: [
        { eventId: 'a'.repeat(32), kind: 'capacity-forecast', title: 'db-main disk full in 9 days', reportedBy: 'dana', at: at(6) },
        { eventId: 'b'.repeat(32), kind: 'capacity-forecast', title: 'db-main disk full in 8 days', reportedBy: 'erin', at: at(1) },
      ],
      resolvedAt: null, reopenCount: 0, version: 2,
    }
    const ops = [problemDocument(indexNames(r.prefix).problems.alias)(JSON.stringify(forecast))]
    expect((await r.es.bulk({ refresh: true, operations: ops.flatMap((op) => [bulkAction(op), op.document]) })).errors).toBe(false)

    const { body } = await r.get('/api/v1/review?since=24h')
    expect(body.problems.items).toContainEqual(expect.objectContaining({ id: forecast.id, kind: 'forecast', title: forecast.title, incidentCount: 0, services: ['checkout'] }))
    expect(body.problems.total).toBe(before.problems.total + 1)
    for (const list of ['newIncidents', 'openIncidents', 'resolvedIncidents'] as const) expect(body[list].total).toBe(before[list].total)
    const md = (await r.get('/api/v1/review.md?since=24h')).body as string
    expect(md).toContain(`| forecast | candidate | ${forecast.title} (\`${forecast.id}\`) | checkout | 0 |`)
    const listed = await r.get('/api/v1/problems?kind=forecast')
    expect(listed).toMatchObject({ status: 200, body: { total: 1, items: [{ id: forecast.id }] } })

    // The problem view: who forecast what and when, with the notes, in time order; no incidents yet.
    const view = await r.get(`/api/v1/problems/${forecast.id}`)
    expect(view.status).toBe(200)
    expect(view.body).toMatchObject({ incidents: [], incidentsTotal: 0, problem: { kind: 'forecast', reports: forecast.reports } })
    expect(view.body.timeline).toEqual([
      { at: at(6), kind: 'report:capacity-forecast', source: 'report', title: 'db-main disk full in 9 days', reportedBy: 'dana' },
      { at: at(3), kind: 'note', source: 'review', title: 'asked storage for a quote', author: 'ann' },
      { at: at(1), kind: 'report:capacity-forecast', source: 'report', title: 'db-main disk full in 8 days', reportedBy: 'erin' },
    ])
  })

  it("keeps a flapping incident's newest 500 alert changes on its timeline, its final resolve among them, and says how many there are", async () => {
    const r = await startReview()
    // 300 flaps a minute apart: 600 changes, the last one the resolve that ended the incident.
    const opened = NOW - 20 * H
    const changeAt = (n: number) => new Date(opened + n * MIN).toISOString()
    const changes = Array.from({ length: 600 }, (_, n) => alertChange('flapper', 'checkout', n % 2 === 0 ? 'firing' : 'resolved', changeAt(n), 'alertmanager', 'warning'))
    await addAlerts(r, changes)
    const base = incident(6, { title: 'Checkout flapping', openedAt: changeAt(0), resolvedAt: changeAt(599), lastEventAt: changeAt(599) })
    await addIncident(r, { ...base, alerts: base.alerts.map((m) => ({ ...m, key: 'alertmanager:flapper', fingerprint: 'flapper' })), notes: [{ at: changeAt(10), author: 'ann', text: 'flapping again' }] })
    const { status, body } = await r.get('/api/v1/incidents/inc-000000000000000000000006')
    expect(status).toBe(200)
    const alerts = body.timeline.filter((e: { kind: string }) => e.kind.startsWith('alert-'))
    expect(alerts).toHaveLength(500)
    expect(alerts.map((e: { at: string }) => e.at)).toEqual(Array.from({ length: 500 }, (_, n) => changeAt(100 + n)))
    expect(alerts.at(-1)).toMatchObject({ kind: 'alert-resolved', at: body.incident.resolvedAt })
    // The note is older than every change kept, and is kept: only alert changes are cut.
    expect(body.timeline[0]).toMatchObject({ kind: 'note', at: changeAt(10) })
    expect(body).toMatchObject({ timelineTotal: 601, timelineTruncated: true })
  })

  it("lists a problem's newest 200 incidents, and says how many it has", async () => {
    const r = await startReview()
    // 205 incidents of one problem, an hour apart: the five opened first are left out of its view.
    const problem = 'prb-00000000000000000000000b'
    const id = (n: number) => `inc-${(0x200 + n).toString(16).padStart(24, '0')}`
    await addIncident(r, ...Array.from({ length: 205 }, (_, n) => incident(0x200 + n, { title: `Recurrence ${n}`, openedAt: at(300 - n), resolvedAt: at(299.5 - n), problemIds: [problem] })))
    const { status, body } = await r.get(`/api/v1/problems/${problem}`)
    expect(status).toBe(200)
    expect(body.incidents.map((i: { id: string }) => i.id)).toEqual(Array.from({ length: 200 }, (_, n) => id(204 - n)))
    expect(body).toMatchObject({ incidentsTotal: 205, incidentsTruncated: true })
  })

  it('pages through more problems than one answer holds, each exactly once', async () => {
    const r = await startReview()
    // 205 more problems, 21 to each lastSeenAt or so: only the id keeps their order from page to page.
    const ids = Array.from({ length: 205 }, (_, n) => `prb-${(0x100 + n).toString(16).padStart(24, '0')}`)
    const prb = problemDocument(indexNames(r.prefix).problems.alias)
    const ops = ids.map((id, n) => prb(JSON.stringify({
      id, kind: 'recurring', status: 'candidate', title: `Problem ${n}`, signature: `production|s${n}|HighLatency`, services: [`s${n}`], environment: 'production',
      incidentIds: [], incidentCount: 2, firstSeenAt: at(200), lastSeenAt: at(n % 10), owner: null, notes: [], version: 1,
    })))
    expect((await r.es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })).errors).toBe(false)
    const all = [...ids, 'prb-00000000000000000000000a', 'prb-00000000000000000000000b', 'prb-00000000000000000000000c']

    const first = (await r.get('/api/v1/problems')).body
    expect(first.total).toBe(208)
    expect(first.items).toHaveLength(200)
    expect(first.nextCursor).toEqual(expect.any(String))
    const rest = (await r.get(`/api/v1/problems?cursor=${first.nextCursor}`)).body
    expect(rest.items).toHaveLength(8)
    expect(rest.nextCursor).toBeNull()
    expect([...first.items, ...rest.items].map((p: { id: string }) => p.id).sort()).toEqual([...all].sort())

    // Small pages with a filter: every production problem once, the most recently seen first.
    const seen: { id: string; lastSeenAt: string }[] = []
    let cursor: string | null = null
    do {
      const page: { status: number; body: Json } = await r.get(`/api/v1/problems?environment=production&size=7${cursor ? `&cursor=${cursor}` : ''}`)
      expect(page.status).toBe(200)
      expect(page.body.total).toBe(208)
      seen.push(...page.body.items)
      cursor = page.body.nextCursor
    } while (cursor && seen.length < 300)
    expect(seen.map((p) => p.id).sort()).toEqual([...all].sort())
    expect(new Set(seen.map((p) => p.id)).size).toBe(208)
    expect(seen.map((p) => p.lastSeenAt)).toEqual(seen.map((p) => p.lastSeenAt).sort().reverse())

    const bad = await r.get(`/api/v1/problems?size=0&cursor=${Buffer.from(JSON.stringify(['problems:lastSeenAt:desc', '2026-12-01', 'prb-1'])).toString('base64url')}`)
    expect(bad.status).toBe(400)
    expect(bad.body.errors).toEqual([{ path: '/size', message: 'must be an integer from 1 to 200' }, { path: '/cursor', message: 'is not a cursor this API returned for this list and sort' }])
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

  it('serves its metrics, counting requests by route pattern, never by raw path', async () => {
    const r = await startReview()
    await r.get('/api/v1/incidents/inc-000000000000000000000000')
    await r.get('/api/v1/incidents/inc-111111111111111111111111')
    await r.get('/no/such/page')
    const text = (await r.get('/metrics')).body as string
    expect(text).toMatch(/opsreview_review_requests_total\{route="\/api\/v1\/incidents\/:id",status="404"\} 2/)
    expect(text).toMatch(/opsreview_review_requests_total\{route="unmatched",status="404"\} 1/)
    expect(text).not.toContain('inc-000000000000000000000000')
    expect(text).toMatch(/opsreview_review_kafka_breaker_state 0/)
  })

  it('serves the dashboard page', async () => {
    const r = await startReview()
    const page = await fetch(`${r.url}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<h1>Morning operations review</h1>')
  })

  it("answers a range the page's files do not have with 416 naming the Range header, not a 400 naming nothing", async () => {
    const r = await startReview()
    const res = await fetch(`${r.url}/app.js`, { headers: { range: 'bytes=99999999-' } })
    expect(res.status).toBe(416)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await res.json()).toMatchObject({ code: 'RANGE_NOT_SATISFIABLE', errors: [{ path: 'header:range' }] })
    expect((await fetch(`${r.url}/app.js`, { headers: { range: 'bytes=0-9' } })).status).toBe(206)
  })
})

describe('the review API refuses bad input with a 4xx naming the field (issue 10)', () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

  it('answers a bad %-escape in an id with 400, before and after authentication', async () => {
    const r = await startReview()
    for (const path of ['/api/v1/incidents/%E0%A4%A', '/api/v1/problems/%zz', '/api/v1/incidents/inc-%']) {
      for (const headers of [{}, { authorization: `Bearer ${READ}` }]) {
        const res = await fetch(`${r.url}${path}`, { headers })
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(400)
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      }
      const patched = await fetch(`${r.url}${path}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{}' })
      expect(patched.status).toBe(400)
    }
  })

  it('takes only cursors of the shape it hands out, and pages past incidents without the sort field', async () => {
    const r = await startReview()
    const opened = 'incidents:openedAt:desc'
    for (const cursor of [b64([opened, {}, {}]), b64([opened, null, 'inc-1']), b64([opened, '2026', 'inc-1']), b64([opened, 1, 2]), b64([opened, 1]), b64([opened, 1, 'a', 3]), b64({ a: 1 }), b64([opened, -9223372036854775808, 'inc-1']), b64([opened, 1.5, 'inc-1']), '%%%', 'e30',
      // Values that fit, of another sort or list, or without one (as cursors were before they named it).
      b64(['incidents:openedAt:asc', 1764576000000, 'inc-1']), b64(['problems:lastSeenAt:desc', 1764576000000, 'inc-1']), b64([1764576000000, 'inc-1'])]) {
      const res = await r.get(`/api/v1/incidents?cursor=${encodeURIComponent(cursor)}`)
      expect(res.status, cursor).toBe(400)
      expect(res.body.errors).toEqual([{ path: '/cursor', message: 'is not a cursor this API returned for this list and sort' }])
    }
    // A severity word is no cursor: severity cursors carry the rank.
    expect((await r.get(`/api/v1/incidents?sort=severity&cursor=${b64(['incidents:severity:desc', 'critical', 'inc-000000000000000000000001'])}`)).status).toBe(400)
    // The open incident has no resolvedAt: paging one by one must get through it and on to the end.
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: { status: number; body: Json } = await r.get(`/api/v1/incidents?size=1&sort=resolvedAt:desc${cursor ? `&cursor=${cursor}` : ''}`)
      expect(page.status).toBe(200)
      seen.push(...page.body.items.map((i: { id: string }) => i.id))
      cursor = page.body.nextCursor
    } while (cursor && seen.length < 10)
    expect(seen).toEqual(['inc-000000000000000000000002', 'inc-000000000000000000000003', 'inc-000000000000000000000001'])
    // Severity sorts by rank (critical above warning), not alphabetically, and its cursors page through.
    const bySeverity = async (order: string) => {
      const ids: string[] = []
      let next: string | null = null
      do {
        const page: { status: number; body: Json } = await r.get(`/api/v1/incidents?size=1&sort=severity:${order}${next ? `&cursor=${next}` : ''}`)
        expect(page.status).toBe(200)
        ids.push(...page.body.items.map((i: { id: string }) => i.id))
        next = page.body.nextCursor
      } while (next && ids.length < 10)
      return ids
    }
    expect(await bySeverity('desc')).toEqual(['inc-000000000000000000000001', 'inc-000000000000000000000002', 'inc-000000000000000000000003'])
    expect(await bySeverity('asc')).toEqual(['inc-000000000000000000000002', 'inc-000000000000000000000003', 'inc-000000000000000000000001'])
  })

  it('refuses a repeated query parameter with 400 naming it, on every route', async () => {
    const r = await startReview()
    for (const [path, field] of [
      ['/api/v1/problems?service=a&service=b', '/service'], ['/api/v1/problems?environment=a&environment=b', '/environment'], ['/api/v1/problems?status=candidate&status=confirmed', '/status'],
      ['/api/v1/incidents?service=checkout&service=search', '/service'], ['/api/v1/review?since=24h&since=7d', '/since'],
      ['/api/v1/review?from=2026-11-30T00:00:00Z&from=2026-11-29T00:00:00Z', '/from'], ['/api/v1/review.md?to=2026-12-01T00:00:00Z&to=2026-12-01T00:00:00Z', '/to'],
    ] as const) {
      const res = await r.get(path)
      expect(res.status, path).toBe(400)
      expect(res.body.errors, path).toEqual([{ path: field, message: 'must be given once' }])
    }
  })

  it('refuses a repeated or unknown wait, and a body in another charset than UTF-8, before publishing anything', async () => {
    const r = await startReview()
    const patch = (path: string, body: string | Buffer, contentType = 'application/json') =>
      fetch(`${r.url}${path}`, { method: 'PATCH', headers: { authorization: `Bearer ${WRITE}`, 'content-type': contentType }, body })
    const decision = JSON.stringify({ actor: 'ann', note: 'looked at it' })
    for (const [query, message] of [['wait=true&wait=true', 'must be given once'], ['wait=yes', 'must be one of true, false'], ['wait=TRUE', 'must be one of true, false']] as const) {
      for (const target of ['incidents/inc-000000000000000000000001', 'problems/prb-00000000000000000000000a']) {
        const res = await patch(`/api/v1/${target}?${query}`, decision)
        expect(res.status, `${target}?${query}`).toBe(400)
        expect(((await res.json()) as Json).errors, `${target}?${query}`).toEqual([{ path: '/wait', message }])
      }
    }
    for (const [contentType, body] of [['application/json; charset=iso-8859-1', Buffer.from('{"actor":"ann","note":"caf\u00e9"}', 'latin1')], ['application/json; charset=utf-16', Buffer.from(decision, 'utf16le')]] as const) {
      const res = await patch('/api/v1/incidents/inc-000000000000000000000001', body, contentType)
      expect(res.status, contentType).toBe(415)
      expect(((await res.json()) as Json).errors, contentType).toEqual([{ path: 'header:content-type', message: 'must declare charset=utf-8 (or us-ascii) or no charset' }])
    }
    // wait=false is no wait; UTF-8 declared is read. Commands of one environment share a partition, in
    // order: had a refused request published, it would be on the topic before these.
    const ok = await patch('/api/v1/incidents/inc-000000000000000000000001?wait=false', JSON.stringify({ actor: 'ann', note: 'café' }), 'application/json; charset=UTF-8')
    expect(ok.status).toBe(202)
    const { commandIds } = (await ok.json()) as { commandIds: string[] }
    const published = await readTopicUntil(r.kafka, r.commandsTopic, (m) => m.some((x) => (JSON.parse(x.value) as { id: string }).id === commandIds[0]))
    expect(published.map((m) => JSON.parse(m.value))).toEqual([expect.objectContaining({ id: commandIds[0], type: 'incident.note', text: 'café' })])
  })

  it('refuses dates Date or Elasticsearch cannot hold with 400 naming the field', async () => {
    const r = await startReview()
    const cases: [string, string][] = [
      ['/api/v1/review?to=-271821-04-20T00:00:00.000Z', '/to'], ['/api/v1/review?from=%2B275760-09-13T00:00:00.000Z', '/from'],
      ['/api/v1/review?to=1970-01-01T00:00:00.000Z&from=1969-12-31T00:00:00Z', '/from'], ['/api/v1/review.md?from=2016-12-31T23:59:60Z', '/from'],
      ['/api/v1/incidents?from=%2B207041-06-17T13:43:03.704Z', '/from'], ['/api/v1/incidents?to=0000-01-01T00:00:00Z', '/to'],
      ['/api/v1/incidents?from=2026-12-01T08:00:00', '/from'], ['/api/v1/review?since=99999999999999999999d', '/since'],
    ]
    for (const [path, field] of cases) {
      const res = await r.get(path)
      expect(res.status, path).toBe(400)
      expect(res.body.errors.map((e: { path: string }) => e.path), path).toEqual([field])
    }
    // The extremes that are accepted are served.
    expect((await r.get('/api/v1/review?to=9999-12-31T23:59:59.999Z')).status).toBe(200)
    expect((await r.get('/api/v1/review?from=1970-01-01T00:00:00Z&to=1970-01-02T00:00:00Z')).status).toBe(200)
    expect((await r.get('/api/v1/incidents?from=1970-01-01&to=9999-12-31T23:59:59.999Z')).body.total).toBe(3)
  })

  it('refuses a post-mortem date with a leap second with 400 naming it', async () => {
    const r = await startReview()
    const res = await fetch(`${r.url}/api/v1/incidents/inc-000000000000000000000001`, {
      method: 'PATCH', headers: { authorization: `Bearer ${WRITE}`, 'content-type': 'application/json' },
      body: JSON.stringify({ actor: 'ann', postmortem: { scheduledFor: '2026-12-31T23:59:60Z' } }),
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['/postmortem/scheduledFor'])
  })

  it('does not take the token from the query string', async () => {
    const r = await startReview()
    const res = await fetch(`${r.url}/api/v1/review?token=${READ}`)
    expect(res.status).toBe(401)
  })
})

describe('review answers are safe to paste and to frame nowhere', () => {
  it('escapes HTML and Markdown from alert text in review.md', async () => {
    const r = await startReview()
    await addIncident(r, incident(4, {
      title: '<img src=x onerror=alert(1)> **pwned** [click](http://evil.example) | `x` ~~y~~ _z_\n# heading', services: ['<b>shop</b>'], status: 'open', severity: 'critical',
      openedAt: at(1), resolvedAt: null, owner: 'eve|x', problemIds: [],
    }))
    const md: string = (await r.get('/api/v1/review.md?since=24h')).body
    const row = md.split('\n').find((l) => l.includes('pwned'))!
    expect(row).toBe('| critical | &lt;img src=x onerror=alert(1)&gt; \\*\\*pwned\\*\\* \\[click\\](http:\u200c//evil.example) \\| \\`x\\` \\~\\~y\\~\\~ \\_z\\_ # heading (`inc-000000000000000000000004`) | &lt;b&gt;shop&lt;/b&gt; | 2026-12-01 07:00 | eve\\|x | open |')
    // Every table row still has its six cells: no text added a column or a line.
    for (const line of md.split('\n').filter((l) => l.startsWith('| critical'))) expect(line.replaceAll('\\|', '').split('|').length - 2).toBe(6)
    expect(md).not.toMatch(/<img|<b>/)
  })

  it('keeps GFM from turning URLs, www. and e-mail addresses in alert text into links in review.md', async () => {
    const r = await startReview()
    await addIncident(r, incident(5, { title: 'Login at https://evil.example/reset or www.evil.example', status: 'open', severity: 'critical', openedAt: at(1), resolvedAt: null, owner: 'ops@evil.example', problemIds: [] }))
    const md: string = (await r.get('/api/v1/review.md?since=24h')).body
    const row = md.split('\n').find((l) => l.includes('Login at'))!
    // GFM autolinks `http(s)://`, `www.` and `a@b.c` in plain text; with a ZWNJ inside each, none is one.
    expect(row).not.toMatch(/:\/\/|www\.|@\w/i)
    expect(row.replaceAll('\u200c', '')).toContain('| Login at https://evil.example/reset or www.evil.example (`inc-000000000000000000000005`) |')
    expect(row.replaceAll('\u200c', '')).toContain('| ops@evil.example |')
  })

  it('sends security headers and a Content-Security-Policy without inline script, and never caches API answers', async () => {
    const r = await startReview()
    const page = await fetch(`${r.url}/`)
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(page.headers.get('x-content-type-options')).toBe('nosniff')
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    const html = await page.text()
    // Every script is a file: the policy allows no other.
    expect(html.match(/<script\b[^>]*>/g)?.every((tag) => / src="[^"]+"/.test(tag))).toBe(true)
    expect(html).not.toMatch(/\son[a-z]+=/i)
    const api = await r.get('/api/v1/review')
    expect(api.headers.get('cache-control')).toBe('no-store')
    expect(api.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
  })

  it("serves the page the review's own offset math, the package's file as it is, as JavaScript", async () => {
    const r = await startReview()
    const res = await fetch(`${r.url}/zone-offsets.js`)
    expect(res.status).toBe(200)
    // A module script runs only with a JavaScript type (nosniff).
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript\b/)
    expect(res.headers.get('cache-control')).toBe('public, max-age=300')
    expect(await res.text()).toBe(await readFile(createRequire(import.meta.url).resolve('@opsreview/review/zone-offsets'), 'utf8'))
  })
})

describe('PATCH with an Idempotency-Key', () => {
  it('publishes a decision once however often it is retried, even across a restart, and refuses the key for another request', async () => {
    const r = await startReview()
    const patch = (url: string, key: string | undefined, body: unknown) => fetch(`${url}/api/v1/incidents/inc-000000000000000000000001`, {
      method: 'PATCH', headers: { authorization: `Bearer ${WRITE}`, 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) }, body: JSON.stringify(body),
    })
    const body = { actor: 'ann', owner: 'bob', note: 'looking' }
    const first = await patch(r.url, 'retry-1', body)
    expect(first.status).toBe(202)
    const answer = (await first.json()) as { commandIds: string[] }
    expect(answer.commandIds).toHaveLength(2)
    // The same key and body, with the keys in another order: the same answer, nothing published again.
    const again = await patch(r.url, 'retry-1', { note: 'looking', owner: 'bob', actor: 'ann' })
    expect(again.status).toBe(202)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await again.json()).toEqual(answer)
    // A restarted service has forgotten the key, but derives the same command ids: the correlator applies each id once.
    const restarted = await r.start()
    const afterRestart = await patch(restarted, 'retry-1', body)
    expect(afterRestart.status).toBe(202)
    expect(((await afterRestart.json()) as { commandIds: string[] }).commandIds).toEqual(answer.commandIds)
    // The key with another body, or at another target: refused, nothing published.
    const other = await patch(r.url, 'retry-1', { ...body, owner: 'carol' })
    expect(other.status).toBe(422)
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(((await other.json()) as { code: string; errors: { path: string }[] })).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', errors: [{ path: 'header:idempotency-key' }] })
    const elsewhere = await fetch(`${r.url}/api/v1/problems/prb-00000000000000000000000a`, {
      method: 'PATCH', headers: { authorization: `Bearer ${WRITE}`, 'content-type': 'application/json', 'idempotency-key': 'retry-1' }, body: JSON.stringify({ actor: 'ann', owner: 'bob', note: 'looking' }),
    })
    expect(elsewhere.status).toBe(422)
    // The same key and body on the other route, by the incident's own id: no incident passed off as a problem's decision.
    const otherRoute = await fetch(`${r.url}/api/v1/problems/inc-000000000000000000000001`, {
      method: 'PATCH', headers: { authorization: `Bearer ${WRITE}`, 'content-type': 'application/json', 'idempotency-key': 'retry-1' }, body: JSON.stringify(body),
    })
    expect(otherRoute.status).toBe(404)
    expect(otherRoute.headers.get('idempotent-replayed')).toBeNull()
    const badKey = await patch(r.url, 'has space', body)
    expect(badKey.status).toBe(400)
    expect(((await badKey.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('header:idempotency-key')
    // Without a key every request is a new decision.
    const unkeyed = (await (await patch(r.url, undefined, body)).json()) as { commandIds: string[] }
    expect(unkeyed.commandIds).not.toEqual(answer.commandIds)

    // On the topic: the first request and the restarted one (same ids), the unkeyed one; nothing for the replay or the refusals.
    const published = (await readTopicToEnd(r.kafka, r.commandsTopic)).map((m) => JSON.parse(m.value) as { id: string })
    expect(published.map((c) => c.id).sort()).toEqual([...answer.commandIds, ...answer.commandIds, ...unkeyed.commandIds].sort())
  })
})

describe('dead letters of the last 24 h', () => {
  it('counts the records of each dead-letter topic, and 0 for one that does not exist', async () => {
    const r = await startReview()
    const [rejected, indexerDlq, missing] = r.deadLetterTopics as [string, string, string]
    const day = 24 * H
    // Written two days ago, before the others: outside the window.
    await r.producer.send({ topic: rejected, messages: [{ key: 'a', value: '{}', timestamp: String(Date.now() - 2 * day) }] })
    await r.producer.send({ topic: rejected, messages: [{ key: 'a', value: '{}' }, { key: 'b', value: '{}' }, { key: 'c', value: '{}' }] })
    await r.producer.send({ topic: indexerDlq, messages: [{ key: 'x', value: '{}' }] })
    const res = await r.get('/api/v1/dead-letters/summary')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ total: 4, windowMs: day, stale: false, topics: [
      { topic: rejected, count: 3, exists: true }, { topic: indexerDlq, count: 1, exists: true }, { topic: missing, count: 0, exists: false },
    ] })
    // Asking did not create the missing topic.
    expect(await r.admin.listTopics()).not.toContain(missing)
    expect((await r.get('/api/v1/dead-letters/summary', 'nope')).status).toBe(401)
  })
})
