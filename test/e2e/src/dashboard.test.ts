import { mkdtemp, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { fixture, uniqueName, waitFor } from '@opsreview/testing'
import { browserPages } from '@opsreview/testing/chromium'
import { freePort, pipelineOfTest, startService } from './processes.ts'

const INGEST = 'ingest-token'
const READ = 'read-token'
// Named write tokens (name:secret): the name is the actor of every decision made with the secret.
const DANA = 'dana-secret'
const ERIN = 'erin-secret'
const WRITE = `dana:${DANA},erin:${ERIN},write-token`

/**
 * The whole pipeline as processes, each with this test's own topics, groups and indices. `waitTimeout`: the
 * review's OPSREVIEW_WAIT_TIMEOUT, how long a decision sent with `?wait=true` waits to show (20 s unless told).
 */
async function startPipeline(o: { waitTimeout?: string } = {}) {
  const run = uniqueName('dash')
  const { topics, common } = pipelineOfTest(run)
  const receiverPort = await freePort()
  const reviewPort = await freePort()
  const [, , indexer] = await Promise.all([
    startService('receiver', { ...common, OPSREVIEW_RECEIVER_PORT: String(receiverPort), OPSREVIEW_INGEST_TOKENS: INGEST, OPSREVIEW_SPOOL_DIR: await mkdtemp(path.join(os.tmpdir(), 'dash-spool-')) }, 'connected to kafka'),
    // The tests' alerts fired minutes before they are posted: a backlog to the correlator, held until the
    // input has been quiet this long (30 s by default), on every test.
    startService('correlator', { ...common, OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_CORRELATOR_GROUP: `${run}-correlator`, OPSREVIEW_TICK_INTERVAL: '1s', OPSREVIEW_SNAPSHOT_INTERVAL: '1s', OPSREVIEW_KAFKA_SESSION_TIMEOUT: '6s', OPSREVIEW_ALLOWED_LATENESS: '0', OPSREVIEW_LATE_HOLD_QUIET: '5s' }, 'correlator running'),
    startService('indexer', { ...common, OPSREVIEW_INDEXER_PORT: String(await freePort()), OPSREVIEW_INDEXER_GROUP: `${run}-indexer` }, 'indexer consuming'),
    startService('review', {
      ...common, OPSREVIEW_REVIEW_PORT: String(reviewPort), OPSREVIEW_READ_TOKENS: READ, OPSREVIEW_WRITE_TOKENS: WRITE, OPSREVIEW_WAIT_TIMEOUT: o.waitTimeout ?? '20s',
      OPSREVIEW_RECEIVER_URL: `http://127.0.0.1:${receiverPort}`, OPSREVIEW_RECEIVER_TOKEN: INGEST,
      OPSREVIEW_DEAD_LETTER_TOPICS: [topics.OPSREVIEW_TOPIC_REJECTED, topics.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER, topics.OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER].join(','), OPSREVIEW_DEAD_LETTER_CACHE: '1s',
    }, 'review listening'),
  ])
  const receiver = `http://127.0.0.1:${receiverPort}`
  const review = `http://127.0.0.1:${reviewPort}`
  const send = (p: string, body: unknown) => fetch(`${receiver}${p}`, { method: 'POST', headers: { authorization: `Bearer ${INGEST}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const post = async (p: string, body: unknown) => {
    expect((await send(p, body)).status).toBeLessThan(300)
  }
  const api = async <T>(p: string): Promise<T> => (await (await fetch(`${review}${p}`, { headers: { authorization: `Bearer ${READ}` } })).json()) as T
  /** A decision taken by someone else, through the API, while the page shows what it showed before. */
  const patch = async (p: string, token: string, body: unknown) => {
    const res = await fetch(`${review}${p}`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  return { post, send, api, patch, review, topics, indexer }
}

type Pipeline = Awaited<ReturnType<typeof startPipeline>>

/** Two services failing on a database host and two on a cache host: four open incidents and two problems. */
async function twoHostsFailing(p: Pipeline) {
  const now = Date.now()
  const alerts = [firing(now, 'CheckoutPaymentsFailing', 'checkout', 12), firing(now, 'SearchTimeouts', 'search', 10), firing(now, 'CartErrors', 'cart', 9, 'cache-1:6379'), firing(now, 'LoginErrors', 'login', 8, 'cache-1:6379')]
  for (const a of alerts) await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: `{}:{alertname="${a.labels.alertname}"}`, alerts: [a] })
  const review = await waitFor(async () => {
    const r = await p.api<Json>('/api/v1/review?since=24h')
    return r.openIncidents?.total >= 4 && r.problems?.total >= 2 ? r : undefined
  }, { timeoutMs: 120_000, intervalMs: 500, what: 'four open incidents and two problems in the review' })
  return {
    incidentId: (alertname: string) => (review.openIncidents.items as Json[]).find((x) => x.title.includes(alertname)).id as string,
    problemId: (services: string) => (review.problems.items as Json[]).find((x) => x.title.startsWith(services)).id as string,
  }
}

const newPage = browserPages()

const rowOf = (page: Page, table: string, text: string) => page.locator(`${table} tbody tr`, { hasText: text })

/** An Alertmanager alert firing since `minutesAgo` before `now`, on a database host unless told. */
const firing = (now: number, name: string, service: string, minutesAgo: number, instance = 'db-main:9187') => ({
  status: 'firing', labels: { alertname: name, service, severity: 'critical', instance },
  annotations: { summary: `${name} on ${service}` }, startsAt: new Date(now - minutesAgo * 60_000).toISOString(), endsAt: '0001-01-01T00:00:00Z', fingerprint: `${service}-${name}`,
})

/**
 * Holds the page's next request to `url` back until `release()`: its answer comes after those of requests
 * the page sends later. `sent` settles once the page has sent it.
 */
async function holdBack(page: Page, url: RegExp) {
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let caught!: () => void
  const sent = new Promise<void>((resolve) => { caught = resolve })
  await page.route(url, async (route) => {
    caught()
    await released
    await route.continue()
  }, { times: 1 })
  return { sent, release }
}

/**
 * How many answers to URLs containing a text the page has read (Response.json). The page acts on an answer
 * in the microtasks after reading it, which all run before the test's next evaluate: once an answer is
 * counted, whatever the page does with it (show it, or drop it as stale) is done, and an answer that must
 * not show can be waited for without waiting a while.
 */
async function countAnswersRead(page: Page) {
  await page.addInitScript(() => {
    const read: string[] = []
    Object.assign(globalThis, { answersRead: read })
    const json = Response.prototype.json
    Object.defineProperty(Response.prototype, 'json', {
      configurable: true,
      writable: true,
      value(this: Response) {
        const answer = json.call(this) as Promise<unknown>
        void answer.then(() => read.push(this.url), () => undefined)
        return answer
      },
    })
  })
  return (text: string) => page.evaluate((t) => (globalThis as unknown as { answersRead: string[] }).answersRead.filter((u) => u.includes(t)).length, text)
}

// Response bodies read in assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

describe('the dashboard, on the whole pipeline, in Chromium', () => {
  it('runs a morning review: every decision from the page with its outcome (one refused, with the reason), who took it on the timelines, a report filed', async () => {
    const p = await startPipeline()
    // Two services failing on one database host within minutes: two incidents and a shared-cause problem;
    // two more on a cache host: another problem, which the meeting dismisses.
    const now = Date.now()
    const alert = (name: string, service: string, minutesAgo: number, instance?: string) => firing(now, name, service, minutesAgo, instance)
    await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{alertname="CheckoutDown"}', alerts: [alert('CheckoutPaymentsFailing', 'checkout', 12)] })
    await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{alertname="SearchDown"}', alerts: [alert('SearchTimeouts', 'search', 10)] })
    await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{alertname="CartErrors"}', alerts: [alert('CartErrors', 'cart', 9, 'cache-1:6379')] })
    await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{alertname="LoginErrors"}', alerts: [alert('LoginErrors', 'login', 8, 'cache-1:6379')] })
    await p.post('/webhooks/pingdom', { ...fixture<object>('pingdom/pingdom-http-down.json'), state_changed_timestamp: Math.floor((now - 40 * 60_000) / 1000) })
    await p.post('/webhooks/pingdom', { ...fixture<object>('pingdom/pingdom-http-up.json'), state_changed_timestamp: Math.floor((now - 10 * 60_000) / 1000) })
    await p.post('/api/v1/reports', { kind: 'customer-complaint', service: 'checkout', title: 'Customers cannot pay', reportedBy: 'support@example.com' })
    // A webhook the receiver refuses: its dead letter is the one the dashboard counts.
    expect((await p.send('/webhooks/alertmanager', { hello: 'world' })).status).toBe(400)
    let seen = 'nothing yet'
    const review = await waitFor(async () => {
      const r = await p.api<Json>('/api/v1/review?since=24h')
      seen = r.openIncidents ? `open ${JSON.stringify(r.openIncidents.items.map((x: Json) => x.title))}, problems ${JSON.stringify(r.problems.items.map((x: Json) => x.title))}` : JSON.stringify(r)
      // The report reaches its incident through the spool and the correlator, later than the alerts can.
      const reported = await p.api<Json>('/api/v1/incidents?q=cannot%20pay')
      if (!(r.openIncidents.total >= 4 && r.problems.total >= 2 && reported.total === 1)) return undefined
      // The alert documents of the timelines are indexed apart from the incidents, and can come later.
      const { timeline } = await p.api<Json>(`/api/v1/incidents/${(r.openIncidents.items as Json[]).find((x) => x.title.includes('CheckoutPaymentsFailing'))?.id}`)
      seen = `checkout's timeline ${JSON.stringify(timeline?.map((t: Json) => t.kind))}`
      return timeline?.some((t: Json) => t.kind === 'alert-firing') ? r : undefined
    }, { timeoutMs: 120_000, intervalMs: 500, what: 'four open incidents, two problems, the report and the alert timelines in the review', lastSeen: () => seen })
    const problemId = (services: string) => (review.problems.items as Json[]).find((x) => x.title.startsWith(services)).id as string
    const incidentId = (alertname: string) => (review.openIncidents.items as Json[]).find((x) => x.title.includes(alertname)).id as string

    // Chromium in UTC, so the post-mortem typed as local time is the UTC time the page shows.
    const page = await newPage({ viewport: { width: 1280, height: 1600 }, acceptDownloads: true, timezoneId: 'UTC' })
    // Anything the Content-Security-Policy blocks shows as a console error: the page must need nothing it forbids.
    const refused: string[] = []
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text()) })
    await page.goto(`${p.review}/#token=${DANA}`)
    // The token is kept for the tab, and gone from the address bar.
    expect(page.url()).toBe(`${p.review}/`)
    expect(await page.evaluate(() => sessionStorage.getItem('opsreview-token'))).toBe(DANA)
    // Dana's token names her: the page says so and does not ask.
    await expect.poll(() => page.locator('#identity').textContent()).toBe('Decisions are recorded as dana, the name of your token.')
    expect(await page.getByLabel('You').inputValue()).toBe('dana')
    expect(await page.getByLabel('You').getAttribute('readonly')).not.toBeNull()
    await expect.poll(() => rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').count(), { timeout: 15_000 }).toBe(1)
    await expect.poll(() => rowOf(page, '#problems', 'checkout, search failing together').count()).toBe(1)
    expect(await page.locator('#service-levels tbody tr', { hasText: 'Shop API health (prod)' }).textContent()).toContain('97.91 %')
    // The window is shown in the review's zone, named; slow time has a column of its own.
    expect(await page.locator('#window-label').textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} – \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/)
    expect(await page.locator('#service-levels thead').textContent()).toContain('Degraded')
    expect(await page.locator('#trend svg rect').count()).toBe(60)
    expect(await page.locator('#trend-caption').textContent()).toMatch(/^\d{4}-\d{2}-\d{2} – \d{4}-\d{2}-\d{2}, a bar a day\. Grey: all incidents; red: critical\. Peak \d+ a day\.$/)
    await expect.poll(() => page.locator('#dead-letter-count').textContent(), { timeout: 15_000 }).toBe('1')
    expect(await page.locator('#dead-letters-h').textContent()).toBe('1 dead letter in the last 24 h')
    expect(await page.locator('#dead-letter-topics').textContent()).toContain(`${p.topics.OPSREVIEW_TOPIC_REJECTED}: 1`)
    expect(await page.locator('#dead-letters').getAttribute('class')).toContain('bad')

    await page.getByRole('search').getByLabel('Text').fill('cannot pay')
    await page.getByRole('search').getByRole('button', { name: 'Search' }).click()
    await expect.poll(() => page.locator('#search-total').textContent()).toBe('1 incident found')
    await page.locator('#results tbody tr button.link').first().click()
    // Whether the complaint joins the checkout incident or opens its own depends on when it arrives.
    await expect.poll(() => page.locator('#timeline').textContent()).toContain('report:customer-complaint · Customers cannot pay — reported by support@example.com')

    const status = () => page.locator('#status').textContent()
    // Owner and acknowledgement from the row of the open incident.
    const checkout = rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing')
    await checkout.getByRole('textbox').fill('erin')
    await checkout.getByRole('button', { name: 'Assign' }).click()
    await expect.poll(status, { timeout: 30_000 }).toMatch(/is erin$/)
    await expect.poll(() => rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').locator('td.owner').textContent()).toBe('erin')
    await rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(status, { timeout: 30_000 }).toMatch(/^Acknowledged “CheckoutPaymentsFailing/)
    await expect.poll(() => rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').getByRole('button', { name: 'Acknowledge' }).count()).toBe(0)

    await rowOf(page, '#problems', 'checkout, search failing together').getByRole('button', { name: 'Confirm' }).click()
    await expect.poll(status, { timeout: 30_000 }).toMatch(/^Confirmed/)
    await expect.poll(() => rowOf(page, '#problems', 'checkout, search failing together').locator('td.problem-status').textContent()).toBe('confirmed')
    await rowOf(page, '#problems', 'cart, login failing together').getByRole('button', { name: 'Dismiss' }).click()
    await expect.poll(status, { timeout: 30_000 }).toMatch(/^Dismissed/)
    await expect.poll(() => rowOf(page, '#problems', 'cart, login failing together').count()).toBe(0)

    // The incident view: a note, a post-mortem with its date and owner; each shows its outcome.
    const incidentOutcome = () => page.locator('#incident-outcome').textContent()
    await rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').locator('button.link').click()
    await expect.poll(() => page.locator('#detail-h').textContent()).toContain('CheckoutPaymentsFailing')
    await page.getByLabel('Note', { exact: true }).fill('payments provider answers 502')
    await page.getByRole('button', { name: 'Add note' }).click()
    await expect.poll(incidentOutcome, { timeout: 30_000 }).toBe('Note added')
    await page.getByLabel('Post-mortem at').fill('2026-12-03T10:00')
    await page.getByLabel('Post-mortem owner').fill('erin')
    await page.getByRole('button', { name: 'Schedule post-mortem' }).click()
    await expect.poll(incidentOutcome, { timeout: 30_000 }).toBe('Post-mortem scheduled for 2026-12-03 10:00 UTC with erin')
    await expect.poll(() => page.locator('#postmortems tbody tr', { hasText: 'CheckoutPaymentsFailing' }).textContent()).toContain('2026-12-03 10:00erin')
    // Who decided what, and when, on the incident's timeline. The timeline reads each decision's outcome
    // from the review's decision log, which may hear the correlator's answer a moment after the page did:
    // the page reads the incident again by itself until every decision there has its outcome.
    // The review runs in UTC (no OPSREVIEW_TIMEZONE): the time typed is read, and shown, in UTC, named.
    const postmortemLine = 'dana · post-mortem scheduled for 2026-12-03 10:00 UTC, owner erin — done'
    await expect.poll(() => page.locator('#timeline').textContent(), { timeout: 30_000 }).toContain(postmortemLine)
    const checkoutTimeline = await page.locator('#timeline').textContent()
    expect(checkoutTimeline).toContain('alert-firing · CheckoutPaymentsFailing on checkout (checkout)')
    expect(checkoutTimeline).toContain('dana · note: payments provider answers 502')
    expect(checkoutTimeline).toContain('dana · owner erin — done')
    expect(checkoutTimeline).toContain('dana · acknowledged — done')

    // Link the cart incident to the database problem, then resolve it by hand.
    const databaseProblem = problemId('checkout, search')
    await rowOf(page, '#open-incidents', 'CartErrors').locator('button.link').click()
    await expect.poll(() => page.locator('#detail-h').textContent()).toContain('CartErrors')
    await page.locator('#incident-link').getByLabel('Problem').fill(databaseProblem)
    await page.getByRole('button', { name: 'Link to problem' }).click()
    await expect.poll(incidentOutcome, { timeout: 30_000 }).toBe(`Linked to ${databaseProblem}`)
    await expect.poll(() => page.locator('#detail-facts dd[data-fact="Problems"]').textContent()).toContain(databaseProblem)
    await page.getByRole('button', { name: 'Resolve by hand' }).click()
    await expect.poll(incidentOutcome, { timeout: 30_000 }).toBe('Resolved by hand')
    await expect.poll(() => page.locator('#detail-facts dd[data-fact="Status"]').textContent()).toBe('resolved')
    // Resolved and never acknowledged: neither is offered any more (the correlator would refuse both).
    expect([await page.locator('#incident-ack').isHidden(), await page.locator('#incident-resolve').isHidden()]).toEqual([true, true])
    await expect.poll(() => rowOf(page, '#open-incidents', 'CartErrors').count()).toBe(0)

    // A decision from a stale view: erin resolves the search incident while dana's page still offers to;
    // dana's click is refused by the review (If-Match: the incident changed since it was shown), nothing is
    // sent, and the page says what changed and shows the incident as it is now.
    const search = incidentId('SearchTimeouts')
    await rowOf(page, '#open-incidents', 'SearchTimeouts').locator('button.link').click()
    await expect.poll(() => page.locator('#detail-h').textContent()).toContain('SearchTimeouts')
    expect((await p.patch(`/api/v1/incidents/${search}?wait=true`, ERIN, { resolve: true })).status).toBe(200)
    await page.getByRole('button', { name: 'Resolve by hand' }).click()
    const changed = /^Not saved: the incident changed since it was shown: it is now resolved \(version \d+, was \d+\)/
    await expect.poll(incidentOutcome, { timeout: 30_000 }).toMatch(changed)
    expect(await page.locator('#incident-outcome').getAttribute('class')).toContain('refused')
    expect(await status()).toMatch(changed)
    await expect.poll(() => page.locator('#timeline').textContent()).toContain('erin · resolved by hand — done')
    expect(await page.locator('#timeline').textContent()).not.toContain('dana · resolved by hand')
    // The correlator's own refusal, through the API without If-Match: 409 with its reason, on the timeline
    // too; an actor other than the token's is a 400.
    const again = await p.patch(`/api/v1/incidents/${search}?wait=true`, ERIN, { resolve: true })
    expect(again).toMatchObject({ status: 409, body: { code: 'DECISION_REFUSED', detail: 'incident.resolve: incident is already resolved' } })
    expect((await p.patch(`/api/v1/incidents/${search}`, ERIN, { actor: 'dana', note: 'not me' })).status).toBe(400)

    // The problem view: owner, note, resolve; its timeline says who did what.
    const problemOutcome = () => page.locator('#problem-outcome').textContent()
    await rowOf(page, '#problems', 'checkout, search failing together').locator('button.link').click()
    await expect.poll(() => page.locator('#problem-detail-h').textContent()).toContain('checkout, search failing together')
    expect(await page.locator('#problem-incidents').textContent()).toContain('CartErrors')
    await page.getByRole('textbox', { name: 'Problem owner' }).fill('erin')
    await page.getByRole('button', { name: 'Assign problem owner' }).click()
    await expect.poll(problemOutcome, { timeout: 30_000 }).toBe('Problem owner is erin')
    await page.getByRole('textbox', { name: 'Problem note' }).fill('connection pool exhausted on db-main')
    await page.getByRole('button', { name: 'Add problem note' }).click()
    await expect.poll(problemOutcome, { timeout: 30_000 }).toBe('Problem note added')
    await page.getByRole('button', { name: 'Resolve problem' }).click()
    await expect.poll(problemOutcome, { timeout: 30_000 }).toBe('Problem resolved')
    await expect.poll(() => page.locator('#problem-facts dd[data-fact="Status"]').textContent()).toBe('resolved')
    await expect.poll(() => page.locator('#problem-timeline').textContent()).toContain('dana · resolved — done')
    const problemTimeline = await page.locator('#problem-timeline').textContent()
    for (const line of ['dana · confirmed — done', 'dana · owner erin — done', 'dana · note: connection pool exhausted on db-main']) expect(problemTimeline).toContain(line)

    // A report from the meeting: a capacity forecast, filed as dana, in the review once correlated: a problem
    // (it predicts trouble), not an incident (no customer is hurt).
    const form = page.getByRole('form', { name: 'File a report' })
    await form.getByLabel('Kind').selectOption({ label: 'capacity forecast' })
    await form.getByLabel('Service').fill('checkout')
    await form.getByLabel('Title').fill('db-main disk full in 9 days')
    await form.getByRole('button', { name: 'File report' }).click()
    await expect.poll(() => page.locator('#report-outcome').textContent(), { timeout: 30_000 }).toBe('Filed: capacity forecast on checkout, “db-main disk full in 9 days”. It joins the forecast problem of checkout once correlated.')
    const forecast = await waitFor(async () => {
      const r = await p.api<Json>('/api/v1/problems?kind=forecast')
      return r.total === 1 ? r.items[0] : undefined
    }, { timeoutMs: 30_000, intervalMs: 500, what: 'the forecast as a problem' })
    expect(forecast).toMatchObject({ status: 'candidate', title: 'Forecast for checkout: db-main disk full in 9 days', services: ['checkout'], incidentCount: 0 })
    // Correlated by now, and in no incident: neither its own nor as evidence in one of checkout's.
    expect((await p.api<Json>('/api/v1/incidents?q=disk%20full')).total).toBe(0)
    // The page lists it among the problems, with its kind; its view says who forecast what.
    const forecastRow = rowOf(page, '#problems', 'Forecast for checkout')
    await expect.poll(() => forecastRow.count(), { timeout: 30_000 }).toBe(1)
    expect(await forecastRow.locator('td').first().textContent()).toBe('forecast')
    await forecastRow.locator('button.link').click()
    await expect.poll(() => page.locator('#problem-detail-h').textContent()).toContain('Forecast for checkout: db-main disk full in 9 days')
    expect(await page.locator('#problem-facts dd[data-fact="Kind"]').textContent()).toBe('forecast')
    await expect.poll(() => page.locator('#problem-timeline').textContent()).toContain('report:capacity-forecast · db-main disk full in 9 days — reported by dana')

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Markdown' }).click()])
    expect(download.suggestedFilename()).toBe('operations-review.md')
    expect(refused).toEqual([])

    if (process.env.OPSREVIEW_SCREENSHOT) await page.screenshot({ path: process.env.OPSREVIEW_SCREENSHOT, fullPage: true })
  }, 300_000)

  it('writes durations as the Markdown report does: rounded to the minute, then split into hours and minutes, and names the longest of several interruptions', async () => {
    const p = await startPipeline()
    // Two checks down for 119.5 and 59.5 minutes: 2 h 0 min and 1 h 0 min, not 1 h 60 min and 60 min.
    const since = Math.floor(Date.now() / 1000) - 5 * 3600
    const outages = [{ check: 'Billing API health', id: 7001, downSeconds: 7170, shown: '2 h 0 min' }, { check: 'Search API health', id: 7002, downSeconds: 3570, shown: '1 h 0 min' }]
    const outage = async (id: number, check: string, from: number, seconds: number) => {
      await p.post('/webhooks/pingdom', { ...fixture<object>('pingdom/pingdom-http-down.json'), check_id: id, check_name: check, state_changed_timestamp: from })
      await p.post('/webhooks/pingdom', { ...fixture<object>('pingdom/pingdom-http-up.json'), check_id: id, check_name: check, state_changed_timestamp: from + seconds })
    }
    for (const o of outages) await outage(o.id, o.check, since, o.downSeconds)
    // And a check down twice, 10 and 30 minutes: the longest is named beside the count.
    const twice = 'Status API health'
    await outage(7003, twice, since, 600)
    await outage(7003, twice, since + 3600, 1800)
    // The incidents resolved too (their MTTR), not only the alert changes: the page and the Markdown are read one
    // after the other, and an incident the indexer resolved between them gave the page '–' and the Markdown its MTTR.
    await waitFor(async () => {
      const r = await p.api<Json>('/api/v1/review?since=24h')
      const level = (service: string) => (r.serviceLevels as Json[] | undefined)?.find((l) => l.service === service)
      const settled = (service: string, downMs: number) => level(service)?.downtimeMs === downMs && typeof level(service)?.mttrMs === 'number'
      return outages.every((o) => settled(o.check, o.downSeconds * 1000)) && settled(twice, 2400 * 1000) ? r : undefined
    }, { timeoutMs: 120_000, intervalMs: 500, what: 'the outages in the review\'s service levels, their incidents resolved' })

    const page = await newPage({ viewport: { width: 1280, height: 1600 }, acceptDownloads: true, timezoneId: 'UTC' })
    await page.goto(`${p.review}/#token=${READ}`)
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Markdown' }).click()])
    const markdown = await readFile((await download.path())!, 'utf8')
    for (const o of outages) {
      const row = page.locator('#service-levels tbody tr', { hasText: o.check })
      await expect.poll(() => row.count()).toBe(1)
      const cells = await row.locator('td').allTextContents()
      // The page's columns and the Markdown's: service, availability, downtime, degraded, interruptions, incidents, MTTA, MTTR.
      const line = markdown.split('\n').find((l) => l.startsWith(`| ${o.check} |`))
      expect(line, `${o.check} in the Markdown`).toBeDefined()
      const columns = line!.split('|').slice(1, -1).map((c) => c.trim())
      expect(cells[2]).toBe(o.shown)
      expect(columns[2]).toBe(o.shown)
      expect(cells[7]).toBe(columns[7])
    }
    const twiceRow = page.locator('#service-levels tbody tr', { hasText: twice })
    await expect.poll(() => twiceRow.count()).toBe(1)
    expect((await twiceRow.locator('td').allTextContents())[4]).toBe('2 (longest 30 min)')
    expect(markdown.split('\n').find((l) => l.startsWith(`| ${twice} |`))!.split('|')[5]!.trim()).toBe('2 (longest 30 min)')
  }, 300_000)

  it('shows the window, period, search, incident and problem chosen last when the answer for an earlier choice comes after it', async () => {
    const p = await startPipeline()
    const { incidentId, problemId } = await twoHostsFailing(p)

    const page = await newPage({ viewport: { width: 1280, height: 1600 }, timezoneId: 'UTC' })
    const answersRead = await countAnswersRead(page)
    await page.goto(`${p.review}/#token=${READ}`)

    // The window: 30 days asked for and answered last, after 24 h was chosen again.
    const windowHours = async () => {
      const [from, to] = (await page.locator('#window-label').textContent())!.replace(/ UTC$/, '').split(' – ').map((t) => Date.parse(`${t.replace(' ', 'T')}Z`))
      return (to! - from!) / 3_600_000
    }
    await expect.poll(windowHours).toBe(24)
    const month = await holdBack(page, /\/api\/v1\/review\?since=30d/)
    await page.locator('#window').selectOption('30d')
    await month.sent
    const days = await answersRead('review?since=24h')
    await page.locator('#window').selectOption('24h')
    await expect.poll(() => answersRead('review?since=24h')).toBe(days + 1)
    month.release()
    await expect.poll(() => answersRead('review?since=30d')).toBe(1)
    expect(await windowHours()).toBe(24)

    // The look-back: a quarter asked for and answered after the month chosen again.
    const lookbackLabel = () => page.locator('#lookback-label').textContent()
    await expect.poll(lookbackLabel).toMatch(/^\d{4}-\d{2}: /)
    const quarter = await holdBack(page, /\/api\/v1\/lookback\?period=quarter/)
    await page.locator('#lookback-period').selectOption('quarter')
    await quarter.sent
    const months = await answersRead('lookback?period=month')
    await page.locator('#lookback-period').selectOption('month')
    await expect.poll(() => answersRead('lookback?period=month')).toBe(months + 1)
    quarter.release()
    await expect.poll(() => answersRead('lookback?period=quarter')).toBe(1)
    expect(await lookbackLabel()).toMatch(/^\d{4}-\d{2}: /)

    // The search: the first one's answer after the second's.
    const search = page.getByRole('search')
    const first = await holdBack(page, /\/api\/v1\/incidents\?q=CartErrors/)
    await search.getByLabel('Text').fill('CartErrors')
    await search.getByRole('button', { name: 'Search' }).click()
    await first.sent
    await search.getByLabel('Text').fill('LoginErrors')
    await search.getByRole('button', { name: 'Search' }).click()
    await expect.poll(() => answersRead('incidents?q=LoginErrors')).toBe(1)
    first.release()
    await expect.poll(() => answersRead('incidents?q=CartErrors')).toBe(1)
    expect(await rowOf(page, '#results', 'LoginErrors').count()).toBe(1)
    expect(await rowOf(page, '#results', 'CartErrors').count()).toBe(0)

    // The incident view: the incident opened first answers after the one opened next.
    const cart = incidentId('CartErrors')
    const slowIncident = await holdBack(page, new RegExp(`/api/v1/incidents/${cart}$`))
    await rowOf(page, '#open-incidents', 'CartErrors').locator('button.link').click()
    await slowIncident.sent
    await rowOf(page, '#open-incidents', 'LoginErrors').locator('button.link').click()
    await expect.poll(() => page.locator('#detail-h').textContent()).toContain('LoginErrors')
    slowIncident.release()
    await expect.poll(() => answersRead(`/api/v1/incidents/${cart}`)).toBe(1)
    expect(await page.locator('#detail-h').textContent()).toContain('LoginErrors')
    expect(await page.locator('#detail-facts dd[data-fact="Id"]').textContent()).toBe(incidentId('LoginErrors'))

    // The problem view, the same way.
    const database = problemId('checkout, search')
    const slowProblem = await holdBack(page, new RegExp(`/api/v1/problems/${database}$`))
    await rowOf(page, '#problems', 'checkout, search failing together').locator('button.link').click()
    await slowProblem.sent
    await rowOf(page, '#problems', 'cart, login failing together').locator('button.link').click()
    await expect.poll(() => page.locator('#problem-detail-h').textContent()).toContain('cart, login failing together')
    slowProblem.release()
    await expect.poll(() => answersRead(`/api/v1/problems/${database}`)).toBe(1)
    expect(await page.locator('#problem-detail-h').textContent()).toContain('cart, login failing together')
    expect(await page.locator('#problem-facts dd[data-fact="Id"]').textContent()).toBe(problemId('cart, login'))
  }, 300_000)

  it('keeps a decision\'s outcome, taken or refused, beside the buttons of its row when the rows are rebuilt after it', async () => {
    const p = await startPipeline()
    const { problemId } = await twoHostsFailing(p)
    const page = await newPage({ viewport: { width: 1280, height: 1600 }, timezoneId: 'UTC' })
    await page.goto(`${p.review}/#token=${DANA}`)
    const checkout = () => rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing')
    await expect.poll(() => checkout().count(), { timeout: 15_000 }).toBe(1)

    // Taken: the owner cell shows erin once the rows are rebuilt after the decision; the outcome is beside
    // the buttons of the new row, not only of the one clicked.
    await checkout().getByRole('textbox').fill('erin')
    await checkout().getByRole('button', { name: 'Assign' }).click()
    await expect.poll(() => checkout().locator('td.owner').textContent(), { timeout: 30_000 }).toBe('erin')
    await expect.poll(() => checkout().locator('output').textContent(), { timeout: 30_000 }).toMatch(/^Owner of “CheckoutPaymentsFailing.*” is erin$/)
    expect(await checkout().locator('output').getAttribute('class')).toBe('outcome accepted')

    // Refused: erin confirmed the problem a moment before, while dana's row still offered to (If-Match: the
    // problem changed since it was shown).
    expect((await p.patch(`/api/v1/problems/${problemId('checkout, search')}?wait=true`, ERIN, { action: 'confirm' })).status).toBe(200)
    const database = () => rowOf(page, '#problems', 'checkout, search failing together')
    await database().getByRole('button', { name: 'Confirm' }).click()
    await expect.poll(() => database().locator('td.problem-status').textContent(), { timeout: 30_000 }).toBe('confirmed')
    await expect.poll(() => database().locator('output').textContent()).toMatch(/^Not saved: the problem changed since it was shown: it is now confirmed \(version \d+, was \d+\)/)
    expect(await database().locator('output').getAttribute('class')).toBe('outcome refused')
    // Each row keeps its own: the rows rebuilt again after the refusal still say who owns checkout.
    expect(await checkout().locator('output').textContent()).toMatch(/ is erin$/)
  }, 300_000)

  it('keeps the text typed in a decision form when the decision is not sent for want of a name, after one that was taken', async () => {
    const p = await startPipeline()
    await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{alertname="CheckoutDown"}', alerts: [firing(Date.now(), 'CheckoutPaymentsFailing', 'checkout', 12)] })
    await waitFor(async () => ((await p.api<Json>('/api/v1/review?since=24h')).openIncidents?.total >= 1 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, what: 'the incident in the review' })
    const page = await newPage({ viewport: { width: 1280, height: 1600 }, timezoneId: 'UTC' })
    // A bare token: its decisions carry the name typed in "You".
    await page.goto(`${p.review}/#token=write-token`)
    await expect.poll(() => rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').count(), { timeout: 15_000 }).toBe(1)
    await page.getByLabel('You').fill('frank')
    await rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').locator('button.link').click()
    await expect.poll(() => page.locator('#detail-h').textContent()).toContain('CheckoutPaymentsFailing')
    const note = page.getByLabel('Note', { exact: true })
    await note.fill('payments provider answers 502')
    await page.getByRole('button', { name: 'Add note' }).click()
    await expect.poll(() => page.locator('#incident-outcome').textContent(), { timeout: 30_000 }).toBe('Note added')
    // Taken: the form is cleared for the next note.
    await expect.poll(() => note.inputValue()).toBe('')

    // No name: nothing is sent, and the note typed is still there to send once the name is.
    await page.getByLabel('You').fill('')
    await note.fill('retries exhausted at 14:02')
    await page.getByRole('button', { name: 'Add note' }).click()
    await expect.poll(() => page.locator('#status').textContent()).toBe('Enter your name first: decisions are recorded with it.')
    expect(await note.inputValue()).toBe('retries exhausted at 14:02')
  }, 300_000)

  it('waits for the answer of a decision sent twice at once (from its row and from the incident view) instead of calling the second not saved', async () => {
    // The row's request waits the whole wait timeout (nothing is indexed), and the view's waits for its
    // answer: 10 s, not 20, is still ample for the correlator to take it and the view's click to go meanwhile.
    // A first request answered before the second click would end its key, and the second send a new one.
    const p = await startPipeline({ waitTimeout: '10s' })
    await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{alertname="CheckoutDown"}', alerts: [firing(Date.now(), 'CheckoutPaymentsFailing', 'checkout', 12)] })
    const review = await waitFor(async () => {
      const r = await p.api<Json>('/api/v1/review?since=24h')
      return r.openIncidents?.total >= 1 ? r : undefined
    }, { timeoutMs: 120_000, intervalMs: 500, what: 'the incident in the review' })
    const checkout = review.openIncidents.items[0].id as string
    const page = await newPage({ viewport: { width: 1280, height: 1600 }, timezoneId: 'UTC' })
    const keys: (string | undefined)[] = []
    page.on('request', (r) => { if (r.method() === 'PATCH') keys.push(r.headers()['idempotency-key']) })
    await page.goto(`${p.review}/#token=${DANA}`)
    await expect.poll(() => rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').count(), { timeout: 15_000 }).toBe(1)
    await rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').locator('button.link').click()
    await expect.poll(() => page.locator('#detail-h').textContent()).toContain('CheckoutPaymentsFailing')

    // Nothing is indexed from here on: the acknowledgement from the row, once the correlator took it, waits
    // for the index until the review's wait timeout (10 s here), its Idempotency-Key in flight all that time.
    await p.indexer.stop()
    await rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').getByRole('button', { name: 'Acknowledge' }).click()
    await waitFor(async () => {
      const { timeline } = await p.api<Json>(`/api/v1/incidents/${checkout}`)
      return (timeline as Json[]).some((t) => t.kind.startsWith('decision:') && t.outcome === 'accepted') ? true : undefined
    }, { timeoutMs: 15_000, intervalMs: 200, what: 'the acknowledgement taken by the correlator' })
    // The same decision from the incident view: the API answers 409 IDEMPOTENCY_KEY_IN_FLIGHT until the
    // first request answers; it is being published, not refused.
    await page.locator('#incident-ack').click()
    await expect.poll(() => page.locator('#incident-outcome').textContent(), { timeout: 40_000 }).toBe('Acknowledged: taken, waiting for the index')
    expect(new Set(keys).size).toBe(1)
  }, 300_000)
})
