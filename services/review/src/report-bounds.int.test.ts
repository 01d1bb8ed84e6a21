import { createHash } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { browserPages } from '@opsreview/testing/chromium'
import { alertDocument, bulkAction, incidentDocument, problemDocument, type DocumentFor } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { captureLogs, cleanupIndices, esClient, serve, uniqueName } from '@opsreview/testing'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { incident, NOW } from './fuzz-seed.ts'

// Response bodies are asserted field by field; typing each shape here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const H = 3_600_000
const READ = 'read-token'
const iso = (ms: number) => new Date(ms).toISOString()

function firing(fp: string, service: string, startsAt: number) {
  return {
    id: createHash('sha256').update(`alertmanager|${fp}|firing|${startsAt}`).digest('hex').slice(0, 32),
    source: 'alertmanager', fingerprint: fp, status: 'firing', severity: 'critical', service, environment: 'production', title: `${fp} firing`, labels: { alertname: fp },
    startsAt: iso(startsAt), receivedAt: iso(startsAt), links: [], origin: {},
  }
}

const open = (n: number, severity: string, openedAt: number, o: Record<string, unknown> = {}) =>
  incident(n, { title: `${severity} ${n}`, status: 'open', severity, openedAt: iso(openedAt), resolvedAt: null, resolvedBy: null, lastEventAt: iso(openedAt), ...o })

/**
 * A review app at NOW (2026-12-01T08:00Z) over its own indices holding `docs`. `searches()` is how many
 * searches the app has sent to Elasticsearch so far, from the client's own diagnostics.
 */
async function start(docs: (es: ReturnType<typeof esClient>, prefix: string) => [DocumentFor, object][], options: { timeZone?: string } = {}) {
  const es = esClient()
  onTestFinished(() => es.close())
  const prefix = uniqueName('bounds')
  cleanupIndices(prefix)
  await ensureIndices(es, prefix)
  const seeded = docs(es, prefix)
  if (seeded.length > 0) {
    const months = liveAlertMonths(es, prefix)
    const ops = seeded.map(([f, d]) => f(JSON.stringify(d)))
    await months.prepare(new Set(ops.map((o) => o.index)))
    const r = await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })
    expect(r.errors).toBe(false)
  }
  let searches = 0
  es.diagnostic.on('request', (_err, meta) => { if (meta?.meta.request.params.path.endsWith('/_search')) searches++ })
  const { logger } = captureLogs()
  const url = await serve(createReviewApp({
    es, commands: { publish: async () => { throw new Error('no decisions in these tests') } }, commandsTopic: 'unused', logger, clock: () => new Date(NOW),
    readTokens: [READ], writeTokens: ['write-token'], indexPrefix: prefix, waitTimeoutMs: 500, publicDir: defaultPublicDir,
    deadLetters: async () => { throw new Error('not counted here') }, ...options,
  }))
  const get = async (path: string): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${READ}` } })
    return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : await res.text() }
  }
  return { get, url, searches: () => searches }
}

const newPage = browserPages()

/** The review's page at `url` in Chromium, in UTC, at `viewport` when given. */
async function pageOf(url: string, viewport?: { width: number; height: number }) {
  const page = await newPage(viewport ? { viewport } : {})
  await page.goto(`${url}/#token=${READ}`)
  return page
}

/** A critical alert of checkout firing since 07:00, an hour before NOW, with no resolve yet. */
const downSince7 = (es: ReturnType<typeof esClient>, prefix: string): [DocumentFor, object][] =>
  [[alertDocument(liveAlertMonths(es, prefix).indexFor), firing('CheckoutDown', 'checkout', NOW - H)]]

describe('the review window is bounded (real Elasticsearch)', () => {
  it('refuses from/to more than 366 days apart with 400 naming /from before any search, and reads a 366-day window in a bounded number of searches', async () => {
    const { get, searches } = await start(downSince7)
    for (const path of ['/api/v1/review?from=2025-11-01&to=2026-12-01', '/api/v1/review?from=1970-01-01&to=9999-12-31', '/api/v1/review.md?from=2025-01-01']) {
      const before = searches()
      const r = await get(path)
      expect(r.status, path).toBe(400)
      expect(r.body.errors, path).toEqual([{ path: '/from', message: 'must be at most 366 days before to (now when to is left out)' }])
      expect(searches() - before, path).toBe(0)
    }
    const before = searches()
    const year = await get('/api/v1/review?from=2025-11-30T08:00:00Z&to=2026-12-01T08:00:00Z')
    expect(year.status).toBe(200)
    expect(year.body.serviceLevels).toMatchObject([{ service: 'checkout', downtimeMs: H }])
    // 8 for the lists and aggregations, 54 week slices of the alert index (the year and the 7-day look-back),
    // the incidents' members, and the degraded rule's 2.
    expect(searches() - before).toBeLessThanOrEqual(65)
  })
})

describe('time after now is not measured (real Elasticsearch)', () => {
  it('counts an alert firing since 07:00 as 1 h down at 08:00 whether the window ends now or tomorrow', async () => {
    const { get } = await start(downSince7)
    const today = await get('/api/v1/review?since=today')
    expect(today.body.serviceLevels).toMatchObject([{ service: 'checkout', downtimeMs: H, availabilityPct: 87.5, interruptions: 1, longestInterruptionMs: H }])
    const day = await get('/api/v1/review?from=2026-12-01&to=2026-12-02')
    expect(day.status).toBe(200)
    // Measured until now, and said so: the meeting reads 87.5 % of the 8 h so far, not of the whole day.
    expect(day.body.window).toEqual({ from: '2026-12-01T00:00:00.000Z', to: '2026-12-02T00:00:00.000Z', timeZone: 'UTC', until: iso(NOW), complete: false })
    expect(day.body.serviceLevels).toEqual(today.body.serviceLevels)
    const md = (await get('/api/v1/review.md?from=2026-12-01&to=2026-12-02')).body as string
    expect(md).toContain('| checkout | 87.50 % | 1 h 0 min | 0 min | 1 |')
    expect(md).toContain('## Service levels\n\n_The window runs past now: service levels and response times up to 2026-12-01 08:00 UTC._')
    // A window that has ended is measured whole, and the Markdown says nothing of it.
    const yesterday = await get('/api/v1/review?from=2026-11-30&to=2026-12-01')
    expect(yesterday.body.window).toEqual({ from: '2026-11-30T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z', timeZone: 'UTC', until: '2026-12-01T00:00:00.000Z', complete: true })
    expect((await get('/api/v1/review.md?from=2026-11-30&to=2026-12-01')).body).not.toContain('runs past now')
    // Since 07:00 over a window from 06:00 to next week: 1 h down of the 2 h that have passed.
    expect((await get('/api/v1/review?from=2026-12-01T06:00:00Z&to=2026-12-08')).body.serviceLevels).toMatchObject([{ service: 'checkout', downtimeMs: H, availabilityPct: 50 }])
  })

  it('counts a critical complaint as no downtime: a report is no alert state, and never resolves', async () => {
    const complaint = {
      ...firing('report-1', 'checkout', NOW - 2 * H), source: 'report', fingerprint: 'report-1', labels: {}, title: 'customers cannot pay',
      id: createHash('sha256').update('report|report-1').digest('hex').slice(0, 32), origin: { kind: 'customer-complaint', reportedBy: 'support' },
    }
    const { get } = await start((es, prefix) => [...downSince7(es, prefix), [alertDocument(liveAlertMonths(es, prefix).indexFor), complaint]])
    expect((await get('/api/v1/review?since=today')).body.serviceLevels).toMatchObject([{ service: 'checkout', downtimeMs: H, interruptions: 1 }])
  })

  it('counts an outage Alertmanager sent only resolved by its incident\'s member, whenever the incident opened', async () => {
    // It fired at 04:00 and ended at 04:03, between two flushes of its group: the alert index has its resolve
    // alone, and the incident's member its start. Opened in the window, the incident was not read.
    const start4 = NOW - 4 * H
    const resolve = { ...firing('PricingDown', 'pricing', start4), status: 'resolved', endsAt: iso(start4 + 180_000), id: createHash('sha256').update('PricingDown|resolved').digest('hex').slice(0, 32) }
    const member = { key: 'alertmanager:PricingDown', fingerprint: 'PricingDown', source: 'alertmanager', name: 'PricingDown', title: 'PricingDown firing', service: 'pricing', severity: 'critical', status: 'resolved', firstSeenAt: iso(start4), lastSeenAt: iso(start4), resolvedAt: iso(start4 + 180_000), flapCount: 0, autoResolved: false }
    for (const openedAt of [start4, NOW - 10 * 24 * H]) {
      const { get } = await start((es, prefix) => [
        [alertDocument(liveAlertMonths(es, prefix).indexFor), resolve],
        [incidentDocument(indexNames(prefix).incidents.alias), incident(1, { severity: 'critical', services: ['pricing'], openedAt: iso(openedAt), resolvedAt: iso(start4 + 180_000), lastEventAt: iso(start4 + 180_000), alerts: [member] })],
      ])
      expect((await get('/api/v1/review?since=24h')).body.serviceLevels, iso(openedAt)).toMatchObject([{ service: 'pricing', downtimeMs: 180_000, interruptions: 1 }])
    }
  })

  it('gives a window wholly after now no service levels: none of its time has passed', async () => {
    const { get, searches } = await start(downSince7)
    const before = searches()
    const r = await get('/api/v1/review?from=2026-12-02&to=2026-12-03')
    expect(r.status).toBe(200)
    expect(r.body.serviceLevels).toEqual([])
    expect(r.body.window).toMatchObject({ until: '2026-12-02T00:00:00.000Z', complete: false })
    // The 8 of the lists and aggregations (the post-mortems the correlator forgot since 2026-12-06 among them);
    // the alert index is not read for a window with nothing to measure.
    expect(searches() - before).toBe(8)
    expect((await get('/api/v1/review.md?from=2026-12-02&to=2026-12-03')).body).toContain('_No service had alerts or incidents._')
  })
})

describe('time zones Elasticsearch does not know (real Elasticsearch)', () => {
  // America/Coyhaique is new in tzdata 2025b: Node 24's ICU has it, Elasticsearch 8.19's JDK does not.
  it('answers tz=America/Coyhaique, and its default from OPSREVIEW_TIMEZONE, with local trend days', async () => {
    // 02:00Z on 1 December is 23:00 on 30 November in Coyhaique (UTC-3).
    const seed = (_es: unknown, prefix: string): [DocumentFor, object][] => [[incidentDocument(indexNames(prefix).incidents.alias), open(1, 'warning', Date.parse('2026-12-01T02:00:00Z'))]]
    for (const [app, path] of [[{}, '/api/v1/review?from=2026-11-30&to=2026-12-01&tz=America/Coyhaique'], [{ timeZone: 'America/Coyhaique' }, '/api/v1/review?from=2026-11-30&to=2026-12-01']] as const) {
      const { get } = await start(seed, app)
      const r = await get(path)
      expect(r.status, path).toBe(200)
      expect(r.body.window, path).toEqual({ from: '2026-11-30T03:00:00.000Z', to: '2026-12-01T03:00:00.000Z', timeZone: 'America/Coyhaique', until: '2026-12-01T03:00:00.000Z', complete: true })
      expect(r.body.newIncidents.total, path).toBe(1)
      expect(r.body.trend, path).toHaveLength(30)
      expect(r.body.trend.at(-1), path).toEqual({ day: '2026-11-30', total: 1, critical: 0, warning: 1, info: 0 })
      expect(r.body.trend[0].day, path).toBe('2026-11-01')
      const md = await get(path.replace('/review?', '/review.md?'))
      expect(md.status, path).toBe(200)
      expect(md.body, path).toContain('| 2026-11-30 | 1 | 0 |')
    }
  })

  it('reads the same dates as the same window on the search as on the review, in the service zone or tz', async () => {
    // 23:30Z on 29 November is 00:30 on 30 November in Berlin; 23:30Z on 30 November is already 1 December there.
    const seed = (_es: unknown, prefix: string): [DocumentFor, object][] => [
      [incidentDocument(indexNames(prefix).incidents.alias), open(1, 'warning', Date.parse('2026-11-30T23:30:00Z'))],
      [incidentDocument(indexNames(prefix).incidents.alias), open(2, 'warning', Date.parse('2026-11-29T23:30:00Z'))],
    ]
    const { get } = await start(seed, { timeZone: 'Europe/Berlin' })
    const ids = (items: { id: string }[]) => items.map((i) => i.id)
    for (const q of ['from=2026-11-30&to=2026-12-01', 'from=2026-11-30&to=2026-12-01&tz=UTC']) {
      const review = await get(`/api/v1/review?${q}`)
      const search = await get(`/api/v1/incidents?${q}`)
      expect(search.status, q).toBe(200)
      expect(ids(search.body.items), q).toEqual(ids(review.body.newIncidents.items))
    }
    // Until 2026-12-06 the search read the dates as UTC midnight, and found the other incident.
    expect(ids((await get('/api/v1/incidents?from=2026-11-30&to=2026-12-01')).body.items)).toEqual([open(2, 'warning', 0).id])
    expect(ids((await get('/api/v1/incidents?from=2026-11-30&to=2026-12-01&tz=UTC')).body.items)).toEqual([open(1, 'warning', 0).id])
  })
})

describe('open incidents, critical first (real Elasticsearch)', () => {
  it('lists the critical ones even when 200 newer info incidents are open, then warning, then info, newest first within each', async () => {
    const { get } = await start((_es, prefix) => {
      const inc = incidentDocument(indexNames(prefix).incidents.alias)
      return [
        [inc, open(1, 'critical', NOW - 5 * H)],
        [inc, open(2, 'critical', NOW - 4 * H)],
        [inc, open(3, 'warning', NOW - 6 * H)],
        // Out of the production scope: ranked like the others, but not listed with environment=production.
        [inc, open(4, 'critical', NOW - 3 * H, { environment: 'staging', groupKey: 'checkout|staging' })],
        ...Array.from({ length: 200 }, (_, i): [DocumentFor, object] => [inc, open(100 + i, 'info', NOW - 2 * H + i * 1000)]),
      ]
    })
    const r = await get('/api/v1/review?environment=production')
    expect(r.status).toBe(200)
    expect(r.body.openIncidents.total).toBe(203)
    const items = r.body.openIncidents.items as { title: string; severity: string }[]
    expect(items).toHaveLength(200)
    expect(items.slice(0, 4).map((i) => i.title)).toEqual(['critical 2', 'critical 1', 'warning 3', 'info 299'])
    expect(items.filter((i) => i.severity === 'info')).toHaveLength(197)
    const md = (await get('/api/v1/review.md?environment=production')).body as string
    for (const title of ['critical 1', 'critical 2', 'warning 3']) expect(md).toContain(`| ${title} (`)
    // Every environment: the staging critical is the newest critical.
    expect((await get('/api/v1/review?environment=*')).body.openIncidents.items.slice(0, 3).map((i: { title: string }) => i.title)).toEqual(['critical 4', 'critical 2', 'critical 1'])
  })

  it('lists the night\'s critical outage among the new incidents even when 200 warnings opened after it, most severe first, newest first within each', async () => {
    const { get } = await start((_es, prefix) => {
      const inc = incidentDocument(indexNames(prefix).incidents.alias)
      return [
        // Opened at 00:00Z and over by 01:00Z: in no list but the new ones.
        [inc, incident(1, { title: 'night outage', severity: 'critical', openedAt: iso(NOW - 8 * H), resolvedAt: iso(NOW - 7 * H), lastEventAt: iso(NOW - 7 * H) })],
        [inc, open(2, 'warning', NOW - 6 * H)],
        [inc, open(3, 'info', NOW - 5 * H)],
        ...Array.from({ length: 200 }, (_, i): [DocumentFor, object] => [inc, open(100 + i, 'warning', NOW - 2 * H + i * 1000)]),
      ]
    })
    const r = await get('/api/v1/review?since=24h')
    expect(r.status).toBe(200)
    expect(r.body.newIncidents.total).toBe(203)
    const items = r.body.newIncidents.items as { title: string; severity: string }[]
    expect(items).toHaveLength(200)
    expect(items.slice(0, 3).map((i) => i.title)).toEqual(['night outage', 'warning 299', 'warning 298'])
    expect(items.filter((i) => i.severity === 'info')).toHaveLength(0)
    const md = (await get('/api/v1/review.md?since=24h')).body as string
    expect(md.slice(md.indexOf('## New in the window'))).toContain('| critical | night outage (')
  })

  it('lists recurring problems first, the most incidents first, even when 200 newer problems of other kinds are open', async () => {
    const problem = (n: number, kind: string, incidentCount: number, lastSeenAt: number) => ({
      id: `prb-${String(n).padStart(24, '0')}`, kind, status: 'candidate', title: `${kind} ${n}`, signature: `production|svc-${n}|x`, services: [`svc-${n}`], environment: 'production',
      incidentIds: [], incidentCount, firstSeenAt: iso(lastSeenAt - 24 * H), lastSeenAt: iso(lastSeenAt), owner: null, notes: [], version: 1,
    })
    const { get } = await start((_es, prefix) => {
      const prb = problemDocument(indexNames(prefix).problems.alias)
      return [
        [prb, problem(1, 'recurring', 3, NOW - 50 * H)],
        [prb, problem(2, 'recurring', 7, NOW - 60 * H)],
        ...Array.from({ length: 200 }, (_, i): [DocumentFor, object] => [prb, problem(100 + i, i % 2 ? 'flapping' : 'shared-cause', 9, NOW - H + i * 1000)]),
      ]
    })
    const r = await get('/api/v1/review')
    expect(r.status).toBe(200)
    expect(r.body.problems.total).toBe(202)
    expect(r.body.problems.items).toHaveLength(200)
    expect(r.body.problems.items.slice(0, 3).map((p: { title: string }) => p.title)).toEqual(['recurring 2', 'recurring 1', 'flapping 299'])
  })
})

describe('lists cut at 200 (real Elasticsearch)', () => {
  it('counts scheduled post-mortems over the whole queue, and says "200 of N" under a cut list in Markdown and on the page', async () => {
    // 230 open critical incidents, each needing a post-mortem; the 210 newest have one scheduled, so all
    // 200 listed are scheduled and 10 more beyond them.
    const { get, url } = await start((_es, prefix) => {
      const inc = incidentDocument(indexNames(prefix).incidents.alias)
      return Array.from({ length: 230 }, (_, k): [DocumentFor, object] => [inc, open(k + 1, 'critical', NOW - (k + 1) * 60_000, {
        postmortem: { required: true, reasons: ['severity critical'], scheduledFor: k < 210 ? '2026-12-03T09:00:00.000Z' : null, owner: null },
      })])
    })
    const r = await get('/api/v1/review?since=24h')
    expect(r.status).toBe(200)
    expect(r.body.openIncidents.total).toBe(230)
    expect(r.body.openIncidents.items).toHaveLength(200)
    expect(r.body.postmortems).toMatchObject({ total: 230, scheduled: 210 })
    expect(r.body.postmortems.items).toHaveLength(200)
    const md = (await get('/api/v1/review.md?since=24h')).body as string
    expect(md).toContain('**230 post-mortems** needed (210 scheduled)')
    expect(md.match(/^_200 of 230 shown\._$/gm)).toHaveLength(3)

    const page = await pageOf(url)
    await expect.poll(() => page.locator('#open-incidents tbody tr').count(), { timeout: 15_000 }).toBe(200)
    expect(await page.locator('#open-incidents-cut').textContent()).toBe('200 of 230 open incidents shown.')
    expect(await page.locator('#postmortems-cut').textContent()).toBe('200 of 230 post-mortems shown.')
    expect(await page.locator('#new-incidents-cut').textContent()).toBe('The 200 most severe of 230 new incidents shown.')
    expect(await page.locator('#problems-cut').isHidden()).toBe(true)
    expect(await page.locator('#summary').textContent()).toContain('210/230post-mortems scheduled')
  })
})

describe('availability shown rounded down, in Chromium', () => {
  it('shows 30 min down of 24 h (97.916… %) as 97.91 %, never rounded up towards a target it missed, in the API, the page and Markdown alike', async () => {
    const { url, get } = await start((es, prefix) => [[alertDocument(liveAlertMonths(es, prefix).indexFor), firing('CheckoutDown', 'checkout', NOW - H / 2)]])
    expect((await get('/api/v1/review')).body.serviceLevels).toMatchObject([{ service: 'checkout', downtimeMs: H / 2, availabilityPct: 97.91 }])
    expect((await get('/api/v1/review.md')).body).toContain('| checkout | 97.91 % |')
    const page = await pageOf(url)
    const cell = page.locator('#service-levels tbody tr', { hasText: 'checkout' }).locator('td').nth(1)
    await expect.poll(() => cell.textContent(), { timeout: 15_000 }).toBe('97.91 %')
  })
})

describe('the tables, in Chromium', () => {
  it('keeps the page as narrow as a phone (390 pixels): each table scrolls sideways in a box of its own', async () => {
    const { url } = await start((_es, prefix) => [
      [incidentDocument(indexNames(prefix).incidents.alias), open(1, 'critical', NOW - H, { title: 'CheckoutPaymentsFailing on checkout', services: ['checkout'] })],
    ])
    const page = await pageOf(url, { width: 390, height: 844 })
    const row = page.locator('#open-incidents tbody tr')
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(1)
    expect(await page.locator('html').evaluate((html) => html.scrollWidth)).toBeLessThanOrEqual(390)
    // The buttons are there, a scroll of their table away.
    const assign = row.getByRole('button', { name: 'Assign' })
    await assign.scrollIntoViewIfNeeded()
    const box = (await assign.boundingBox())!
    expect(box.x).toBeGreaterThanOrEqual(0)
    expect(box.x + box.width).toBeLessThanOrEqual(390)
  })

  it('keeps short words whole beside a long title and the decision buttons, and each decision cell as tall as its row', async () => {
    const { url } = await start((_es, prefix) => [
      [incidentDocument(indexNames(prefix).incidents.alias), open(1, 'critical', NOW - H, { title: 'CheckoutPaymentsFailing on checkout: card payments time out at the payment provider for every region', services: ['checkout'], owner: 'erin', customerImpact: true, acknowledgedAt: iso(NOW - H / 2), acknowledgedBy: 'erin' })],
      [incidentDocument(indexNames(prefix).incidents.alias), open(2, 'critical', NOW - 2 * H, { title: 'Shop API health (prod) is DOWN: HTTP Error 503', services: ['shop-api'] })],
    ])
    const page = await pageOf(url, { width: 1280, height: 900 })
    const rows = page.locator('#open-incidents tbody tr')
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(2)
    // A word broken in two ("CRITICA|L", "SEVERI|TY", "checko|ut") takes two lines of its cell.
    const linesOf = async (selector: string) => page.locator(selector).evaluateAll((els) => els.map((e) => {
      const range = e.ownerDocument.createRange()
      range.selectNodeContents(e)
      return range.getClientRects().length
    }))
    expect(await linesOf('#open-incidents thead th')).toEqual([1, 1, 1, 1, 1, 1])
    expect(await linesOf('#open-incidents tbody .sev')).toEqual([1, 1])
    expect(await page.locator('#open-incidents tbody td:nth-child(3)').allTextContents()).toEqual(['checkout', 'shop-api'])
    expect(await linesOf('#open-incidents tbody td:nth-child(3)')).toEqual([1, 1])
    // A cell laid out as a flex box is no table cell: its border stopped short of its row's.
    for (const row of await rows.all()) {
      const heights = await row.locator('td').evaluateAll((tds) => tds.map((td) => Math.round(td.getBoundingClientRect().height)))
      expect(new Set(heights).size, JSON.stringify(heights)).toBe(1)
    }
  })
})

describe('long titles, in Chromium', () => {
  it('wraps a 1000-character unbroken title instead of making the page wider than the viewport', async () => {
    const { url } = await start((_es, prefix) => [[incidentDocument(indexNames(prefix).incidents.alias), open(1, 'critical', NOW - H, { title: 'X'.repeat(1000) })]])
    const page = await pageOf(url, { width: 1280, height: 900 })
    await expect.poll(() => page.locator('#open-incidents tbody tr button.link').count(), { timeout: 15_000 }).toBe(1)
    expect(await page.locator('html').evaluate((html) => html.scrollWidth)).toBeLessThanOrEqual(1280)
    const assign = await page.locator('#open-incidents tbody tr').getByRole('button', { name: 'Assign' }).boundingBox()
    expect(assign!.x + assign!.width).toBeLessThanOrEqual(1280)
  })
})

describe('the review window stays within 1970 to 9999 (real Elasticsearch)', () => {
  it('refuses a to in the first day of 1970 with from left out, naming /to, before any search', async () => {
    const { get, searches } = await start(() => [])
    for (const path of ['/api/v1/review?to=1970-01-01', '/api/v1/review?to=1970-01-01T12:00:00Z', '/api/v1/review.md?to=1970-01-01']) {
      const r = await get(path)
      expect(r.status, path).toBe(400)
      expect(r.body.errors, path).toEqual([{ path: '/to', message: 'must be at least a day after 1970-01-01T00:00:00Z when from is left out (from is then the day before to)' }])
    }
    expect(searches()).toBe(0)
  })

  it('answers the first and the last day the API holds', async () => {
    const { get } = await start(() => [])
    expect(await get('/api/v1/review?to=1970-01-02')).toMatchObject({ status: 200, body: { window: { from: '1970-01-01T00:00:00.000Z', to: '1970-01-02T00:00:00.000Z' } } })
    expect(await get('/api/v1/review?to=9999-12-31T23:59:59.999Z')).toMatchObject({ status: 200, body: { window: { from: '9999-12-30T23:59:59.999Z', to: '9999-12-31T23:59:59.999Z' } } })
  })
})
