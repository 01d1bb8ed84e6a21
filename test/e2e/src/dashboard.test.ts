import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { chromium, type Page } from 'playwright-core'
import { cleanupIndices, esClient, fixture, kafkaBrokers, kafkaClient, uniqueName, waitFor } from '@opsreview/testing'
import { freePort, startService } from './processes.ts'

const INGEST = 'ingest-token'
const READ = 'read-token'
const WRITE = 'write-token'
export const CHROMIUM = process.env.OPSREVIEW_CHROMIUM ?? '/usr/bin/chromium'

/** The whole pipeline as processes, each with this test's own topics, groups and indices. */
async function startPipeline() {
  const run = uniqueName('dash')
  const prefix = run
  const es = esClient()
  cleanupIndices(prefix)
  onTestFinished(async () => {
    const admin = kafkaClient().admin()
    await admin.connect()
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(run))
    await admin.deleteTopics({ topics }).catch(() => undefined)
    await admin.disconnect()
    await es.close()
  })
  const topics = {
    OPSREVIEW_TOPIC_ALERTS: `${run}-alerts`, OPSREVIEW_TOPIC_REJECTED: `${run}-rejected`, OPSREVIEW_TOPIC_COMMANDS: `${run}-commands`,
    OPSREVIEW_TOPIC_CORRELATOR_INPUT: `${run}-input`, OPSREVIEW_TOPIC_INCIDENTS: `${run}-incidents`, OPSREVIEW_TOPIC_PROBLEMS: `${run}-problems`,
    OPSREVIEW_TOPIC_COMMAND_RESULTS: `${run}-results`, OPSREVIEW_TOPIC_CORRELATOR_STATE: `${run}-state`,
    OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: `${run}-corr-dlq`, OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: `${run}-idx-dlq`,
  }
  const common = { OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_ES_INDEX_PREFIX: prefix, ...topics }
  const receiverPort = await freePort()
  const reviewPort = await freePort()
  await Promise.all([
    startService('receiver', { ...common, OPSREVIEW_RECEIVER_PORT: String(receiverPort), OPSREVIEW_INGEST_TOKENS: INGEST, OPSREVIEW_SPOOL_DIR: await mkdtemp(path.join(os.tmpdir(), 'dash-spool-')) }, 'connected to kafka'),
    startService('correlator', { ...common, OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_CORRELATOR_GROUP: `${run}-correlator`, OPSREVIEW_TICK_INTERVAL: '1s', OPSREVIEW_SNAPSHOT_INTERVAL: '1s', OPSREVIEW_KAFKA_SESSION_TIMEOUT: '6s', OPSREVIEW_ALLOWED_LATENESS: '0' }, 'correlator running'),
    startService('indexer', { ...common, OPSREVIEW_INDEXER_PORT: String(await freePort()), OPSREVIEW_INDEXER_GROUP: `${run}-indexer` }, 'indexer consuming'),
    startService('review', {
      ...common, OPSREVIEW_REVIEW_PORT: String(reviewPort), OPSREVIEW_READ_TOKENS: READ, OPSREVIEW_WRITE_TOKENS: WRITE, OPSREVIEW_WAIT_TIMEOUT: '20s',
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
  return { post, send, api, review, topics }
}

async function browser() {
  const b = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  onTestFinished(() => b.close())
  return b
}

const rowOf = (page: Page, table: string, text: string) => page.locator(`${table} tbody tr`, { hasText: text })

describe('the dashboard, on the whole pipeline, in Chromium', () => {
  it('loads the review and the dead-letter count, searches history, assigns an owner and confirms a problem', async () => {
    const p = await startPipeline()
    // Two services failing on one database host within minutes: two incidents and a shared-cause problem.
    const now = Date.now()
    const alert = (name: string, service: string, minutesAgo: number) => ({
      status: 'firing', labels: { alertname: name, service, severity: 'critical', instance: 'db-main:9187' },
      annotations: { summary: `${name} on ${service}` }, startsAt: new Date(now - minutesAgo * 60_000).toISOString(), endsAt: '0001-01-01T00:00:00Z', fingerprint: `${service}-${name}`,
    })
    await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{alertname="CheckoutDown"}', alerts: [alert('CheckoutPaymentsFailing', 'checkout', 12)] })
    await p.post('/webhooks/alertmanager', { version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{alertname="SearchDown"}', alerts: [alert('SearchTimeouts', 'search', 10)] })
    await p.post('/webhooks/pingdom', { ...fixture<object>('pingdom/pingdom-http-down.json'), state_changed_timestamp: Math.floor((now - 40 * 60_000) / 1000) })
    await p.post('/webhooks/pingdom', { ...fixture<object>('pingdom/pingdom-http-up.json'), state_changed_timestamp: Math.floor((now - 10 * 60_000) / 1000) })
    await p.post('/api/v1/reports', { kind: 'customer-complaint', service: 'checkout', title: 'Customers cannot pay', reportedBy: 'support@example.com' })
    // A webhook the receiver refuses: its dead letter is the one the dashboard counts.
    expect((await p.send('/webhooks/alertmanager', { hello: 'world' })).status).toBe(400)
    await waitFor(async () => {
      const r = await p.api<{ openIncidents: { total: number }; problems: { total: number } }>('/api/v1/review?since=24h')
      // The report reaches its incident through the spool and the correlator, later than the alerts can.
      const reported = await p.api<{ total: number }>('/api/v1/incidents?q=cannot%20pay')
      return r.openIncidents.total >= 2 && r.problems.total >= 1 && reported.total === 1 ? r : undefined
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'two open incidents, a problem and the report in the review' })

    const page = await (await browser()).newPage({ viewport: { width: 1280, height: 1600 }, acceptDownloads: true })
    // Anything the Content-Security-Policy blocks shows as a console error: the page must need nothing it forbids.
    const refused: string[] = []
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text()) })
    await page.goto(`${p.review}/#token=${WRITE}`)
    // The token is kept for the tab, and gone from the address bar.
    expect(page.url()).toBe(`${p.review}/`)
    expect(await page.evaluate(() => sessionStorage.getItem('opsreview-token'))).toBe(WRITE)
    await page.getByLabel('You').fill('dana')
    await page.getByRole('button', { name: 'Load' }).click()
    await expect.poll(() => rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').count(), { timeout: 15_000 }).toBe(1)
    await expect.poll(() => rowOf(page, '#problems', 'failing together').count()).toBe(1)
    expect(await page.locator('#service-levels tbody tr', { hasText: 'Shop API health (prod)' }).textContent()).toContain('97.92 %')
    expect(await page.locator('#trend svg rect').count()).toBe(60)
    await expect.poll(() => page.locator('#dead-letter-count').textContent(), { timeout: 15_000 }).toBe('1')
    expect(await page.locator('#dead-letter-topics').textContent()).toContain(`${p.topics.OPSREVIEW_TOPIC_REJECTED}: 1`)
    expect(await page.locator('#dead-letters').getAttribute('class')).toContain('bad')

    await page.getByRole('search').getByLabel('Text').fill('cannot pay')
    await page.getByRole('search').getByRole('button', { name: 'Search' }).click()
    await expect.poll(() => page.locator('#search-total').textContent()).toBe('1 incident found')
    await page.locator('#results tbody tr button.link').first().click()
    await expect.poll(() => page.locator('#timeline li').count()).toBeGreaterThanOrEqual(2)
    expect(await page.locator('#timeline').textContent()).toContain('report:customer-complaint')

    const checkout = rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing')
    await checkout.getByRole('textbox').fill('erin')
    await checkout.getByRole('button', { name: 'Assign' }).click()
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toMatch(/is erin$/)
    await expect.poll(() => rowOf(page, '#open-incidents', 'CheckoutPaymentsFailing').locator('td.owner').textContent()).toBe('erin')

    await rowOf(page, '#problems', 'failing together').getByRole('button', { name: 'Confirm' }).click()
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toMatch(/^Confirmed/)
    await expect.poll(() => rowOf(page, '#problems', 'failing together').locator('td.problem-status').textContent()).toBe('confirmed')

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Markdown' }).click()])
    expect(download.suggestedFilename()).toBe('operations-review.md')
    expect(refused).toEqual([])

    if (process.env.OPSREVIEW_SCREENSHOT) await page.screenshot({ path: process.env.OPSREVIEW_SCREENSHOT, fullPage: true })
  })
})
