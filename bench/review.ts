// pnpm bench:review: the review service (a second process) over 100,000 incidents in the local index.
// Part `search`: seeds incidents over a year with their alerts' changes (labelled with a host), problems and a
// day of critical alerts into fresh indices, then measures from this process incident searches (mixed free
// text, a host label among it, filters, sorts, pages) and the morning review report. Part `lookback`: seeds
// a quarter of 100,000 incidents (and half as many the quarter before) with their alert changes, and
// measures the quarterly look-back. BENCH_PARTS=search|lookback runs one.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@elastic/elasticsearch'
import { alertDocument, bulkAction, incidentDocument, problemDocument, type DocumentFor } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { parseLookbackQuery } from '@opsreview/review/period'
import { freePort } from '@opsreview/testing/ports'
import { seededRandom } from '@opsreview/testing/random'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const esUrl = process.env.OPSREVIEW_ES_URL ?? 'http://127.0.0.1:9200'
const total = Number(process.env.BENCH_INCIDENTS ?? 100_000)
const searches = Number(process.env.BENCH_SEARCHES ?? 400)
const reports = Number(process.env.BENCH_REPORTS ?? 30)
const lookbackTotal = Number(process.env.BENCH_LOOKBACK_INCIDENTS ?? 100_000)
const lookbacks = Number(process.env.BENCH_LOOKBACKS ?? 30)
const parts = new Set((process.env.BENCH_PARTS ?? 'search,lookback').split(','))
const prefix = `bench-rev-${Date.now().toString(36)}`
const es = new Client({ node: esUrl, requestTimeout: 120_000 })
const NOW = Date.now()
const DAY = 86_400_000
const rand = seededRandom(7)
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!
const services = Array.from({ length: 200 }, (_, i) => `svc-${i}`)
const words = ['timeout', 'latency', 'errors', 'crash', 'disk', 'queue', 'payment', 'login', 'checkout', 'search', 'certificate', 'memory']
const owners = ['ann', 'bob', 'carol', 'dan', 'erin', null]
const hostOf = (n: number) => `db-${n % 400}`

function incident(n: number) {
  // 100,000 incidents spread over a year, denser recently.
  const opened = NOW - Math.floor(Math.pow(rand(), 2) * 365 * DAY)
  const service = pick(services)
  const resolved = rand() < 0.97 ? opened + Math.floor(rand() * 6 * 3_600_000) : null
  const severity = pick(['critical', 'warning', 'warning', 'info'] as const)
  const title = `${pick(words)} ${pick(words)} on ${service}`
  const ack = rand() < 0.7 ? opened + Math.floor(rand() * 1_800_000) : null
  return {
    id: `inc-${n.toString(16).padStart(24, '0')}`, title, status: resolved ? 'resolved' : 'open', severity, services: [service], environment: 'production',
    groupKey: `${service}|production`, openedAt: new Date(opened).toISOString(), resolvedAt: resolved ? new Date(resolved).toISOString() : null, resolvedBy: resolved ? 'alerts' : null,
    lastEventAt: new Date(resolved ?? opened).toISOString(), alertCount: 1 + Math.floor(rand() * 5),
    alerts: [{ key: `alertmanager:fp-${n}`, fingerprint: `fp-${n}`, source: 'alertmanager', name: 'HighLatency', title, service, severity, status: resolved ? 'resolved' : 'firing', firstSeenAt: new Date(opened).toISOString(), lastSeenAt: new Date(resolved ?? opened).toISOString(), resolvedAt: resolved ? new Date(resolved).toISOString() : null, flapCount: 0, autoResolved: false }],
    reports: [], customerImpact: rand() < 0.1, owner: pick(owners), acknowledgedAt: ack ? new Date(ack).toISOString() : null, acknowledgedBy: ack ? 'ann' : null,
    problemIds: rand() < 0.05 ? [`prb-${(n % 500).toString(16).padStart(24, '0')}`] : [],
    postmortem: { required: severity === 'critical', reasons: severity === 'critical' ? ['severity critical'] : [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version: 1,
  }
}

/** The review service as its own process over the indices under `indexPrefix`. */
async function startReview(indexPrefix: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort()
  const review = spawn(process.execPath, ['--conditions=@opsreview/source', path.join(repo, 'services/review/src/main.ts')], {
    env: { ...process.env, OPSREVIEW_LOG_LEVEL: 'warn', OPSREVIEW_REVIEW_PORT: String(port), OPSREVIEW_READ_TOKENS: 'bench', OPSREVIEW_WRITE_TOKENS: 'bench-w', OPSREVIEW_ES_INDEX_PREFIX: indexPrefix, OPSREVIEW_TOPIC_COMMANDS: `${indexPrefix}-commands` },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; !(await fetch(`${url}/healthz`).then((r) => r.ok, () => false)); i++) {
    if (i > 300) throw new Error('review did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
  return { url, stop: async () => { review.kill('SIGTERM'); await once(review, 'exit') } }
}

async function timedAt(url: string, path: string): Promise<number> {
  const t = performance.now()
  const res = await fetch(`${url}${path}`, { headers: { authorization: 'Bearer bench' } })
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  await res.arrayBuffer()
  return performance.now() - t
}
const percentile = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 10) / 10 }

async function dropIndices(indexPrefix: string) {
  await es.indices.delete({ index: `${indexPrefix}-*`, expand_wildcards: 'all' }).catch(() => undefined)
  await es.indices.deleteIndexTemplate({ name: `${indexPrefix}-*` }).catch(() => undefined)
}

async function loadInto(indexPrefix: string, values: string[], toOp: DocumentFor, months?: ReturnType<typeof liveAlertMonths>) {
  if (months) await months.prepare(new Set(values.map((v) => toOp(v).index)))
  const r = await es.helpers.bulk({
    datasource: values, flushBytes: 5 * 1024 * 1024, concurrency: 3,
    onDocument: (v) => { const op = toOp(v); return [bulkAction(op), op.document] },
  })
  if (r.failed > 0) throw new Error(`${r.failed} documents failed to load into ${indexPrefix}`)
}

if (parts.has('search')) {
  await ensureIndices(es, prefix)
  const started = performance.now()
  const names = indexNames(prefix)
  const alertMonths = liveAlertMonths(es, prefix)
  const inc = incidentDocument(names.incidents.alias)
  const prb = problemDocument(names.problems.alias)
  const alr = alertDocument(alertMonths.indexFor)
  const load = (values: string[], toOp: DocumentFor) => loadInto(prefix, values, toOp, alertMonths)
  const memberOf = Array.from({ length: total }, (_, n) => incident(n))
  await load(memberOf.map((i) => JSON.stringify(i)), inc)
  await load(Array.from({ length: 500 }, (_, n) => JSON.stringify({
    id: `prb-${n.toString(16).padStart(24, '0')}`, kind: pick(['recurring', 'flapping', 'shared-cause']), status: pick(['candidate', 'confirmed', 'dismissed']),
    title: `problem ${n}`, signature: `sig-${n}`, services: [pick(services)], environment: 'production', incidentIds: [], incidentCount: 3, firstSeenAt: new Date(NOW - 30 * DAY).toISOString(),
    lastSeenAt: new Date(NOW - Math.floor(rand() * 30 * DAY)).toISOString(), owner: null, notes: [], version: 1,
  })), prb)
  await load(Array.from({ length: 20_000 }, (_, n) => {
    const at = new Date(NOW - DAY - 3_600_000 + Math.floor(n / 2) * 8_000).toISOString()
    return JSON.stringify({ id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${Math.floor(n / 2)}`, status: n % 2 ? 'resolved' : 'firing', severity: 'critical', service: pick(services), environment: 'production', title: 'down', labels: { alertname: 'Down' }, startsAt: at, ...(n % 2 ? { endsAt: at } : {}), receivedAt: at, links: [], origin: {} })
  }), alr)
  // Each incident's member alert fired and (97 %) resolved, labelled with its host: what a search for a label
  // looks up in the alert index before it searches the incidents (400 hosts, so db-7 matches ~250 incidents).
  await load(Array.from({ length: total }, (_, n) => n).flatMap((n) => {
    const m = memberOf[n]!.alerts[0]!
    const labels = { alertname: m.name, host: hostOf(n), instance: `${hostOf(n)}:9100`, namespace: m.service }
    const change = (status: 'firing' | 'resolved', at: string) => JSON.stringify({
      id: `m${n.toString(16)}${status[0]}`, source: 'alertmanager', fingerprint: m.fingerprint, status, severity: m.severity, service: m.service, environment: 'production',
      title: m.title, labels, startsAt: m.firstSeenAt, ...(status === 'resolved' ? { endsAt: at } : {}), receivedAt: at, links: [], origin: {},
    })
    return m.resolvedAt ? [change('firing', m.firstSeenAt), change('resolved', m.resolvedAt)] : [change('firing', m.firstSeenAt)]
  }), alr)
  await es.indices.refresh({ index: `${prefix}-*` })
  await es.indices.forcemerge({ index: `${prefix}-incidents`, max_num_segments: 1 }).catch(() => undefined)
  console.log(`seeded ${total} incidents with their alerts' changes, 500 problems, 20,000 alert changes in ${Math.round((performance.now() - started) / 1000)} s`)

  const { url, stop } = await startReview(prefix)
  const timed = (path: string) => timedAt(url, path)

  const queries = () => {
    const q = new URLSearchParams()
    const r = rand()
    if (r < 0.35) q.set('q', `${pick(words)}${rand() < 0.5 ? ` ${pick(words)}` : ''}`)
    else if (r < 0.5) q.set('q', hostOf(Math.floor(rand() * total)))
    if (rand() < 0.4) q.set('service', pick(services))
    if (rand() < 0.3) q.set('status', pick(['open', 'resolved']))
    if (rand() < 0.3) q.set('severity', pick(['critical', 'warning', 'info']))
    if (rand() < 0.2) q.set('from', new Date(NOW - Math.floor(rand() * 90) * DAY).toISOString())
    if (rand() < 0.2) q.set('sort', pick(['openedAt:asc', 'resolvedAt:desc', 'lastEventAt:desc']))
    return `/api/v1/incidents?${q}`
  }
  for (let i = 0; i < 20; i++) await timed(queries()) // warm-up
  const searchMs: number[] = []
  // The searches by their free text: a host label, words, none (the label look-up runs for any free text).
  const labelMs: number[] = []
  const wordsMs: number[] = []
  const noTextMs: number[] = []
  for (let i = 0; i < searches; i++) {
    const path = queries()
    const ms = await timed(path)
    searchMs.push(ms)
    ;(/[?&]q=db-/.test(path) ? labelMs : /[?&]q=/.test(path) ? wordsMs : noTextMs).push(ms)
  }
  // Paging: follow cursors five pages deep.
  const pageMs: number[] = []
  let next: string | null = null
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    const body = (await (await fetch(`${url}/api/v1/incidents?size=50${next ? `&cursor=${next}` : ''}`, { headers: { authorization: 'Bearer bench' } })).json()) as { nextCursor: string | null }
    pageMs.push(performance.now() - t)
    next = body.nextCursor
  }
  const reportMs: number[] = []
  for (let i = 0; i < reports; i++) reportMs.push(await timed(`/api/v1/review?since=${pick(['24h', '24h', '7d'])}`))
  const markdownMs = await timed('/api/v1/review.md?since=24h')

  await stop()
  await dropIndices(prefix)
  const part = (ms: number[]) => ({ requests: ms.length, p50Ms: percentile(ms, 50), p95Ms: percentile(ms, 95), maxMs: percentile(ms, 100) })
  const result = {
    date: new Date().toISOString(), incidents: total,
    search: { requests: searches, p50Ms: percentile(searchMs, 50), p95Ms: percentile(searchMs, 95), p99Ms: percentile(searchMs, 99), maxMs: percentile(searchMs, 100) },
    searchByLabel: part(labelMs), searchByWords: part(wordsMs), searchWithoutText: part(noTextMs),
    cursorPagesMs: pageMs.map((m) => Math.round(m * 10) / 10),
    report: { requests: reports, p50Ms: percentile(reportMs, 50), p95Ms: percentile(reportMs, 95), maxMs: percentile(reportMs, 100) },
    markdownMs: Math.round(markdownMs),
  }
  console.log(JSON.stringify(result, null, 2))
  console.log(`\nreview over ${total} incidents: search p95 ${result.search.p95Ms} ms (target <= 100 ms), by a label p95 ${result.searchByLabel.p95Ms} ms, by words ${result.searchByWords.p95Ms} ms, without text ${result.searchWithoutText.p95Ms} ms; report p95 ${result.report.p95Ms} ms, max ${result.report.maxMs} ms (target <= 500 ms)`)
}

if (parts.has('lookback')) {
  // The last complete quarter (UTC) holds `lookbackTotal` incidents, the quarter before half as many:
  // critical ones with their alerts' firing and resolve (2 % resolved by staleness, their resolve lost),
  // a tenth of them latency alerts (degraded), 5 % linked to problems, critical ones needing a post-mortem.
  const lb = `${prefix}-lb`
  const q = parseLookbackQuery({ period: 'quarter' }, NOW)
  if (!q.ok) throw new Error('no quarter')
  const { period, previous } = q.value
  await ensureIndices(es, lb)
  const started = performance.now()
  const names = indexNames(lb)
  const alertMonths = liveAlertMonths(es, lb)
  const inc = incidentDocument(names.incidents.alias)
  const prb = problemDocument(names.problems.alias)
  const alr = alertDocument(alertMonths.indexFor)
  const incidents: string[] = []
  const alerts: string[] = []
  const seedPeriod = (from: number, to: number, count: number, first: number) => {
    for (let n = first; n < first + count; n++) {
      const opened = from + Math.floor(rand() * (to - from))
      const service = pick(services)
      const severity = pick(['critical', 'warning', 'warning', 'info'] as const)
      const stale = severity === 'critical' && rand() < 0.02
      const resolved = opened + Math.floor(rand() * 4 * 3_600_000)
      const ack = rand() < 0.7 ? opened + Math.floor(rand() * 1_800_000) : null
      const name = rand() < 0.1 ? 'HighLatency' : 'ServiceDown'
      const at = (ms: number) => new Date(ms).toISOString()
      const end = stale ? opened + 60_000 : resolved
      incidents.push(JSON.stringify({
        id: `inc-${n.toString(16).padStart(24, '0')}`, title: `${name} on ${service}`, status: 'resolved', severity, services: [service], environment: 'production',
        groupKey: `${service}|production`, openedAt: at(opened), resolvedAt: at(end), resolvedBy: stale ? 'staleness' : 'alerts', lastEventAt: at(end), alertCount: 1,
        alerts: [{ key: `alertmanager:lb-${n}`, fingerprint: `lb-${n}`, source: 'alertmanager', name, title: name, service, severity, status: 'resolved', firstSeenAt: at(opened), lastSeenAt: at(stale ? end : opened), resolvedAt: at(end), flapCount: 0, autoResolved: stale }],
        reports: [], customerImpact: false, owner: pick(owners), acknowledgedAt: ack ? at(ack) : null, acknowledgedBy: ack ? 'ann' : null,
        problemIds: rand() < 0.05 ? [`prb-${(n % 300).toString(16).padStart(24, '0')}`] : [],
        postmortem: { required: severity === 'critical', reasons: severity === 'critical' ? ['severity critical'] : [], scheduledFor: severity === 'critical' && rand() < 0.6 ? at(end + 86_400_000) : null, owner: null }, notes: [], reopenCount: 0, version: 1,
      }))
      const change = (status: 'firing' | 'resolved', t: number) => JSON.stringify({
        id: `lb${n.toString(16)}${status[0]}`, source: 'alertmanager', fingerprint: `lb-${n}`, status, severity, service, environment: 'production', title: name,
        labels: { alertname: name, ...(name === 'HighLatency' ? { slo: 'latency' } : {}) }, startsAt: at(opened), ...(status === 'resolved' ? { endsAt: at(t) } : {}), receivedAt: at(t), links: [], origin: {},
      })
      alerts.push(change('firing', opened))
      if (!stale) alerts.push(change('resolved', resolved))
    }
  }
  seedPeriod(period.from, period.to, lookbackTotal, 0)
  seedPeriod(previous.from, previous.to, Math.floor(lookbackTotal / 2), lookbackTotal)
  await loadInto(lb, incidents, inc)
  await loadInto(lb, alerts, alr, alertMonths)
  await loadInto(lb, Array.from({ length: 300 }, (_, n) => JSON.stringify({
    id: `prb-${n.toString(16).padStart(24, '0')}`, kind: pick(['recurring', 'flapping', 'shared-cause']), status: pick(['candidate', 'confirmed', 'dismissed']),
    title: `problem ${n}`, signature: `sig-${n}`, services: [pick(services)], environment: 'production', incidentIds: [], incidentCount: 10, firstSeenAt: new Date(previous.from).toISOString(),
    lastSeenAt: new Date(period.to - 1).toISOString(), owner: null, notes: [], version: 1,
  })), prb)
  await es.indices.refresh({ index: `${lb}-*` })
  await es.indices.forcemerge({ index: `${lb}-*`, max_num_segments: 1 }).catch(() => undefined)
  const criticalChanges = alerts.filter((a) => a.includes('"severity":"critical"')).length
  console.log(`seeded ${period.label}: ${lookbackTotal} incidents, ${previous.label}: ${Math.floor(lookbackTotal / 2)}, ${alerts.length} alert changes (${criticalChanges} critical) in ${Math.round((performance.now() - started) / 1000)} s`)

  const { url, stop } = await startReview(lb)
  const path = `/api/v1/lookback?period=quarter&at=${period.label}`
  // The first request is cold: nothing in Elasticsearch's request cache (the incident aggregations are
  // size-0 searches it caches) or page cache from this process's reads yet.
  const coldMs = await timedAt(url, path)
  for (let i = 0; i < 2; i++) await timedAt(url, path) // warm-up
  const quarterMs: number[] = []
  for (let i = 0; i < lookbacks; i++) quarterMs.push(await timedAt(url, path))
  const monthMs: number[] = []
  // The quarter's last month (seeded), in Berlin: its period and the month before are read.
  const lastMonth = new Date(period.to - 1).toISOString().slice(0, 7)
  for (let i = 0; i < 10; i++) monthMs.push(await timedAt(url, `/api/v1/lookback?period=month&at=${lastMonth}&tz=Europe/Berlin`))
  const markdownMs = await timedAt(url, `/api/v1/lookback.md?period=quarter&at=${period.label}`)
  await stop()
  await dropIndices(lb)
  const result = {
    date: new Date().toISOString(), quarter: period.label, incidents: lookbackTotal, previousIncidents: Math.floor(lookbackTotal / 2), alertChanges: alerts.length, criticalAlertChanges: criticalChanges,
    quarterLookback: { coldMs: Math.round(coldMs), requests: lookbacks, p50Ms: percentile(quarterMs, 50), p99Ms: percentile(quarterMs, 99), maxMs: percentile(quarterMs, 100) },
    monthLookback: { requests: 10, p50Ms: percentile(monthMs, 50), maxMs: percentile(monthMs, 100) },
    markdownMs: Math.round(markdownMs),
  }
  console.log(JSON.stringify(result, null, 2))
  console.log(`\nquarterly look-back over ${lookbackTotal} incidents: first ${result.quarterLookback.coldMs} ms, then p50 ${result.quarterLookback.p50Ms} ms, p99 ${result.quarterLookback.p99Ms} ms (target <= 1000 ms); load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.availableParallelism()} cores`)
}
