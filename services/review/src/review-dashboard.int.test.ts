import { describe, expect, it, onTestFinished } from 'vitest'
import type { Page } from 'playwright-core'
import { bulkAction, incidentDocument, problemDocument } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames } from '@opsreview/search-index/templates'
import { cachedDeadLetterCount, countDeadLetters } from '@opsreview/review/dead-letters'
import { cleanupIndices, esClient, serve, uniqueName } from '@opsreview/testing'
import { browserPages } from '@opsreview/testing/chromium'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { at, incident, NOW } from './fuzz-seed.ts'
import { commandsOnKafka } from './test-review-kafka.ts'

const READ = 'read-token'
const LOAD = { timeout: 15_000 }

/**
 * The last day as the meeting meets it, the clock at 2026-12-01T08:00Z: an outage that opened and resolved
 * overnight (incident 1), a crash loop still open that erin owns and dana acknowledged (incident 2), an
 * incident of the day before the window (incident 3), and a confirmed problem dana owns.
 */
async function startReview(clock: () => Date = () => new Date(NOW), extra: Record<string, unknown>[] = []) {
  const es = esClient()
  const prefix = uniqueName('revdash')
  cleanupIndices(prefix)
  await ensureIndices(es, prefix)
  const inc = incidentDocument(indexNames(prefix).incidents.alias)
  const prb = problemDocument(indexNames(prefix).problems.alias)
  const docs = [
    inc(JSON.stringify(incident(1, { title: 'Payment gateway outage', severity: 'critical', openedAt: at(6), resolvedAt: at(5), lastEventAt: at(5), customerImpact: true }))),
    inc(JSON.stringify(incident(2, { title: 'Checkout pods crash looping', status: 'open', severity: 'critical', openedAt: at(2), resolvedAt: null, resolvedBy: null, owner: 'erin', acknowledgedAt: at(1.5), acknowledgedBy: 'dana', problemIds: ['prb-00000000000000000000000a'] }))),
    inc(JSON.stringify(incident(3, { title: 'Old search errors', services: ['search'], openedAt: at(30), resolvedAt: at(29) }))),
    // A month-old outage whose post-mortem nobody scheduled, which the correlator forgot in the night.
    inc(JSON.stringify(incident(4, { title: 'Database failover', severity: 'critical', openedAt: at(800), resolvedAt: at(799), lastEventAt: at(799), postmortem: { required: true, reasons: ['severity critical'], scheduledFor: null, owner: null, forgottenAt: at(3) }, forgottenAt: at(3) }))),
    ...extra.map((i) => inc(JSON.stringify(i))),
    prb(JSON.stringify({ id: 'prb-00000000000000000000000a', kind: 'recurring', status: 'confirmed', title: 'Checkout keeps crashing', signature: 'production|checkout|X', services: ['checkout'], environment: 'production', incidentIds: ['inc-000000000000000000000002'], incidentCount: 3, firstSeenAt: at(100), lastSeenAt: at(2), owner: 'dana', notes: [], resolvedAt: null, reopenCount: 0, version: 3 })),
  ]
  const bulk = await es.bulk({ refresh: true, operations: docs.flatMap((o) => [bulkAction(o), o.document]) })
  expect(bulk.errors).toBe(false)
  const { admin, commandsTopic, logger, commands } = await commandsOnKafka()
  onTestFinished(async () => { await es.close() })
  const deadLetters = cachedDeadLetterCount((now) => countDeadLetters(admin, [uniqueName('never-created')], now, 24 * 3_600_000), { ttlMs: 0, timeoutMs: 10_000, clock: () => Date.now() })
  const app = createReviewApp({
    es, commands, commandsTopic, logger, clock, readTokens: [READ], writeTokens: [], indexPrefix: prefix,
    waitTimeoutMs: 500, publicDir: defaultPublicDir, deadLetters, timeZone: 'Europe/Berlin',
  })
  return serve(app)
}

const newPage = browserPages()

/** The dashboard of `startReview`'s day in Chromium, as the meeting opens it; no page error on the way. */
async function onDashboard(check: (page: Page) => Promise<void>, query = '', clock?: () => Date, extra?: Record<string, unknown>[]): Promise<void> {
  const url = await startReview(clock, extra)
  const page = await newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${url}/${query}#token=${READ}`)
  await check(page)
  expect(errors).toEqual([])
}

describe('the dashboard\'s review of the last day, in Chromium', () => {
  it('lists the window\'s new incidents, those already over included, says which open ones are acknowledged and who owns each problem', async () => {
    await onDashboard(async (page) => {
      const rows = (table: string) => page.locator(`${table} tbody tr`)
      await expect.poll(() => rows('#new-incidents').count(), LOAD).toBe(2)

      // The outage of the night is over, yet the meeting sees it, newest first, with when it ended (Berlin time).
      const texts = await rows('#new-incidents').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)))
      expect(texts).toEqual([
        ['critical', 'Checkout pods crash looping', 'checkout', '2026-12-01 07:00', 'open, acknowledged', 'erin'],
        ['critical', 'Payment gateway outage · customers affected', 'checkout', '2026-12-01 03:00', 'resolved 2026-12-01 04:00', '–'],
      ])
      expect(await page.locator('#new-incidents-cut').isHidden()).toBe(true)

      // Still open: acknowledged, and when, beside its owner.
      const open = page.locator('#open-incidents tr[data-id="inc-000000000000000000000002"]')
      expect(await open.locator('td').nth(1).locator('.acknowledged').textContent()).toBe('acknowledged 2026-12-01 07:30')
      expect(await open.locator('td.owner').textContent()).toBe('erin')

      // The problem's owner, decided in an earlier meeting.
      expect(await page.locator('#problems tr[data-id="prb-00000000000000000000000a"] td.owner').textContent()).toBe('dana')
    })
  })

  it('counts one of a kind in the singular: 1 problem to review, 1 incident in the look-back and on the trend\'s day', async () => {
    await onDashboard(async (page) => {
      await expect.poll(() => page.locator('#summary li').count(), LOAD).toBe(5)
      expect(await page.locator('#summary li').allTextContents()).toEqual(['2new incidents (2 critical)', '1resolved', '1still open', '1problem to review', '0/0post-mortems scheduled'])
      // The look-back of November: the search errors of 30 November, and no problem behind them.
      const incidents = page.locator('#lookback-totals [data-total="incidents"]')
      await expect.poll(() => incidents.textContent(), LOAD).toBe('1incident (0 critical, 1 warning, 0 info) (±0)')
      expect(await page.locator('#lookback-totals [data-total="problems"]').textContent()).toBe('0problems behind them (±0)')
      expect(await page.locator('#trend rect.total title').evaluateAll((ts) => ts.map((t) => t.textContent).slice(-2))).toEqual(['2026-11-30: 1 incident, 0 critical', '2026-12-01: 2 incidents, 2 critical'])
    })
  })

  it('says of 30 days without an incident that there was none, not a peak of 1 a day', async () => {
    // A service that had none: each of its 30 days is 0.
    await onDashboard(async (page) => {
      await expect.poll(() => page.locator('#trend rect.total').count(), LOAD).toBe(30)
      expect(await page.locator('#trend-caption').textContent()).toBe('2026-11-02 – 2026-12-01, a bar a day. No incidents.')
    }, '?service=billing')
    await onDashboard(async (page) => {
      await expect.poll(() => page.locator('#trend-caption').textContent(), LOAD).toBe('2026-11-02 – 2026-12-01, a bar a day. Grey: all incidents; red: critical. Peak 2 a day.')
    })
  })

  it('keeps each number of the service levels on one line with its unit in an 800 px window: not "100.00" over "%"', async () => {
    await onDashboard(async (page) => {
      await page.setViewportSize({ width: 800, height: 900 })
      await expect.poll(() => page.locator('#lookback-services tbody tr[data-service="search"]').count(), LOAD).toBe(1)
      await expect.poll(() => page.locator('#service-levels tbody tr').count(), LOAD).toBe(1)
      // Each number with its unit (the change from the previous period beside it too), by the lines it takes.
      const broken = await page.locator('#service-levels td, #lookback-services td').evaluateAll((tds) => tds.flatMap((td) => {
        const walker = td.ownerDocument.createTreeWalker(td, 4 /* NodeFilter.SHOW_TEXT */)
        const split: string[] = []
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
          for (const m of (text.textContent ?? '').matchAll(/\d+(?:\.\d+)? (?:%|h|min|s|ms|pp)/g)) {
            const range = td.ownerDocument.createRange()
            range.setStart(text, m.index)
            range.setEnd(text, m.index + m[0].length)
            if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1) split.push(m[0])
          }
        }
        return split
      }))
      // It read "100.00" over "%", and "1 h 0" over "min".
      expect(broken).toEqual([])
      expect(await page.locator('#lookback-services tr[data-service="search"] td[data-field="mttr"]').textContent()).toBe('1 h 0 min')
    })
  })

  it('says in a problem\'s view that it has no incidents, as a forecast has none', async () => {
    await onDashboard(async (page) => {
      // The problem as a forecast of checkout: the API answers it without incidents.
      await page.route(/\/api\/v1\/problems\/prb-[0-9a-f]+$/, async (route) => {
        const response = await route.fetch()
        const body = await response.json() as { problem: Record<string, unknown> }
        await route.fulfill({ response, json: { ...body, problem: { ...body.problem, kind: 'forecast', incidentCount: 0 }, incidents: [], incidentsTotal: 0 } })
      })
      const problem = page.locator('#problems tr[data-id="prb-00000000000000000000000a"] button.link')
      await expect.poll(() => problem.count(), LOAD).toBe(1)
      await problem.click()
      await expect.poll(() => page.locator('#problem-facts dd[data-fact="Kind"]').textContent(), LOAD).toBe('forecast')
      expect(await page.locator('#problem-incidents').textContent()).toBe('No incidents.')
      expect(await page.locator('#problem-incidents-cut').isHidden()).toBe(true)
    })
  })

  it('shows apart from the post-mortem queue one the correlator forgot, as no longer to be scheduled here', async () => {
    await onDashboard(async (page) => {
      const forgotten = page.locator('#postmortems-forgotten tbody tr')
      await expect.poll(() => forgotten.count(), LOAD).toBe(1)
      expect(await page.locator('#postmortems-forgotten-part').isVisible()).toBe(true)
      expect(await forgotten.locator('td').allTextContents()).toEqual(['Database failover', 'severity critical', 'forgotten by the correlator 2026-12-01 06:00'])
      // Not in the queue, nor in its count; the queue does not say none was needed.
      expect(await page.locator('#postmortems tbody').textContent()).toBe('No post-mortem to schedule here.')
      expect(await page.locator('#summary li').last().textContent()).toBe('0/0post-mortems scheduled')
      // Its view says why it cannot be scheduled.
      await forgotten.locator('button.link').click()
      await expect.poll(() => page.locator('#detail-facts dd[data-fact="Post-mortem"]').textContent(), LOAD).toContain('severity critical; can no longer be scheduled here: forgotten by the correlator 2026-12-01 06:00')
      // No decision is offered that the API would refuse.
      expect(await page.locator('#detail-facts dd[data-fact="Decisions"]').textContent()).toBe('none any more: the correlator let it go 2026-12-01 06:00, past its retention')
      expect(await page.locator('#incident-decisions').isHidden()).toBe(true)
      // An incident the correlator still holds offers them again.
      await page.locator('#open-incidents tr[data-id="inc-000000000000000000000002"] button.link').click()
      await expect.poll(() => page.locator('#incident-decisions').isVisible(), LOAD).toBe(true)
      expect(await page.locator('#detail-facts dd[data-fact="Decisions"]').count()).toBe(0)
    })
  })

  it('links an incident to the view of its problem, named by its title', async () => {
    await onDashboard(async (page) => {
      const open = page.locator('#open-incidents tr[data-id="inc-000000000000000000000002"]')
      await expect.poll(() => open.count(), LOAD).toBe(1)
      await open.locator('button.link').click()
      const problems = page.locator('#detail-facts dd[data-fact="Problems"]')
      await expect.poll(() => problems.textContent(), LOAD).toBe('Checkout keeps crashing (prb-00000000000000000000000a)')
      // A link outside the tables looks like the links in them, not like a grey button.
      const look = (selector: string) => page.locator(selector).first().evaluate((e) => { const c = e.ownerDocument.defaultView!.getComputedStyle(e); return [c.backgroundColor, c.borderStyle, c.textDecorationLine] })
      expect(await look('#detail-facts .link')).toEqual(await look('#open-incidents .link'))
      expect(await look('#detail-facts .link')).toEqual(['rgba(0, 0, 0, 0)', 'none', 'underline'])
      await problems.getByRole('button').click()
      await expect.poll(() => page.locator('#problem-detail-h').textContent(), LOAD).toBe('Checkout keeps crashing')
      expect(await page.locator('#problem-facts dd[data-fact="Owner"]').textContent()).toBe('dana')
    })
  })
  it('downloads as Markdown the review the page shows, not a later window\'s', async () => {
    let now = NOW
    await onDashboard(async (page) => {
      await expect.poll(() => page.locator('#new-incidents tbody tr').count(), LOAD).toBe(2)
      const label = await page.locator('#window-label').textContent()
      // The meeting reads the page for a while before it takes the notes; the night's outage is then more than 24 h ago.
      now = NOW + 20 * 3_600_000
      const answer = page.waitForResponse((r) => r.url().includes('/api/v1/review.md'))
      await page.locator('#markdown').click()
      const md = await (await answer).text()
      expect(md).toContain(`# Operations review ${label}`)
      expect(md).toContain('**2 new incidents** (2 critical, 0 warning, 0 info)')
    }, '', () => new Date(now))
  })
  it('reviews since this time yesterday by the review\'s clock and zone when asked, not 24 h: 25 h on the morning the clocks went back', async () => {
    // 09:00 CET on 25 October in Berlin by the review's clock; the browser's clock and zone are another day's.
    await onDashboard(async (page) => {
      await expect.poll(() => page.locator('#window-label').textContent(), LOAD).toBe('2026-10-24 10:00 – 2026-10-25 09:00 Europe/Berlin')
      const asked = page.waitForRequest((r) => r.url().includes('/api/v1/review?'))
      await page.locator('#window').selectOption({ label: 'since this time yesterday' })
      // The server resolves the time of day: until 2026-12-07 the page sent yesterday-HH:MM by the browser's clock.
      expect(new URL((await asked).url()).searchParams.get('since')).toBe('yesterday-now')
      await expect.poll(() => page.locator('#window-label').textContent(), LOAD).toBe('2026-10-24 09:00 – 2026-10-25 09:00 Europe/Berlin')
    }, '', () => new Date('2026-10-25T08:00:00.000Z'))
  })

  it('lists the incidents resolved in the window, one that opened the evening before included, as review.md does', async () => {
    const overnight = incident(5, { title: 'Queue backlog', services: ['orders'], openedAt: at(30), resolvedAt: at(3), lastEventAt: at(3), resolutionDecidedAt: at(3) })
    await onDashboard(async (page) => {
      const rows = page.locator('#resolved-incidents tbody tr')
      await expect.poll(() => rows.count(), LOAD).toBe(2)
      expect(await page.locator('#summary li').nth(1).textContent()).toBe('2resolved')
      // Neither new in the window nor open: without this list the page said "2 resolved" and showed one.
      expect(await page.locator('#new-incidents tr[data-id="inc-000000000000000000000005"]').count()).toBe(0)
      expect(await rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)))).toEqual([
        ['warning', 'Queue backlog', 'orders', '2026-11-30 03:00', '2026-12-01 06:00', '–'],
        ['critical', 'Payment gateway outage · customers affected', 'checkout', '2026-12-01 03:00', '2026-12-01 04:00', '–'],
      ])
      expect(await page.locator('#resolved-incidents-cut').isHidden()).toBe(true)
    }, '', undefined, [overnight])
  })
})
