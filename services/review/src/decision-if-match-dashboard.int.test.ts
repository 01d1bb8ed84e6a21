// The dashboard's decisions name the version it showed (If-Match): one taken on a view someone else's decisions
// changed since is refused, and the page says what changed and shows the item as it is now; two decisions in a
// row from one view are both taken, the second sent with the version the first one's answer gave back. On the
// real Kafka and Elasticsearch, in Chromium, with an applier that changes the documents as the correlator does.
import { describe, expect, it } from 'vitest'
import { readTopicToEnd, serve } from '@opsreview/testing'
import { browserPages } from '@opsreview/testing/chromium'
import { createReviewApp } from './app.ts'
import { seededIncidentIds, seededProblemIds } from './fuzz-seed.ts'
import { applyingToIndex, correlatorStandIn, decisionsOnKafka, reviewDeps } from './test-review-kafka.ts'

const OPEN = seededIncidentIds[0]!
const PROBLEM = seededProblemIds[0]!

async function startReview() {
  const on = await decisionsOnKafka()
  await correlatorStandIn(on.kafka, on.commandsTopic, on.resultsTopic, new Set(), { beforeAnswer: applyingToIndex(on.es, on.prefix) })
  const url = await serve(createReviewApp(reviewDeps(on, { waitTimeoutMs: 15_000, writeTokens: [{ name: 'dana', secret: 'secret1' }, { name: 'erin', secret: 'secret2' }] })))
  /** Erin's decision, from elsewhere (another dashboard): taken and visible. */
  const elsewhere = async (path: string, body: object) => {
    const res = await fetch(`${url}${path}?wait=true`, { method: 'PATCH', headers: { authorization: 'Bearer secret2', 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect(res.status).toBe(200)
  }
  const typesOnTopic = async (target: string) => (await readTopicToEnd(on.kafka, on.commandsTopic)).map((m) => JSON.parse(m.value) as { type: string; target: string }).filter((c) => c.target === target).map((c) => c.type)
  return { url, elsewhere, typesOnTopic }
}

const newPage = browserPages()

async function open(url: string) {
  const page = await newPage({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC' })
  // Each decision the page sent (not its asks whether one shows), with its If-Match.
  const decisions: { url: string; ifMatch: string | undefined }[] = []
  page.on('request', (r) => {
    const headers = r.headers()
    if (r.method() === 'PATCH' && headers['idempotency-replay'] !== 'only') decisions.push({ url: r.url(), ifMatch: headers['if-match'] })
  })
  await page.goto(`${url}/#token=secret1`)
  await expect.poll(() => page.locator('#identity').textContent(), { timeout: 15_000 }).toBe('Decisions are recorded as dana, the name of your token.')
  return { page, decisions }
}

describe('the dashboard decides on the version it shows, in Chromium', () => {
  it('says what changed when a confirm meets a problem resolved since, and shows it as it is now, not reopened', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    const row = page.locator(`#problems tr[data-id="${PROBLEM}"]`)
    await row.locator('button.link').click()
    await expect.poll(() => page.locator('#problem-facts dd[data-fact="Status"]').textContent(), { timeout: 15_000 }).toBe('candidate')
    // Meanwhile Erin confirms it and resolves it.
    await r.elsewhere(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' })
    await r.elsewhere(`/api/v1/problems/${PROBLEM}`, { action: 'resolve' })
    // Dana's view still shows the candidate (version 1); she confirms it.
    await page.locator('#problem-confirm').click()
    await expect.poll(() => page.locator('#problem-outcome').textContent(), { timeout: 15_000 })
      .toBe('Not saved: the problem changed since it was shown: it is now resolved (version 3, was 1). It is shown as it is now: decide again if still meant.')
    expect(decisions).toEqual([{ url: expect.stringContaining(`/api/v1/problems/${PROBLEM}?wait=true`), ifMatch: '"1"' }])
    // The view read again: resolved, never come back; the review's list no longer holds it.
    await expect.poll(() => page.locator('#problem-facts dd[data-fact="Status"]').textContent(), { timeout: 15_000 }).toBe('resolved')
    expect(await page.locator('#problem-facts dd[data-fact="Came back after resolved"]').textContent()).toBe('0×')
    expect(await page.locator('#problem-confirm').textContent()).toBe('Confirm again: the fix did not hold')
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(0)
    expect(await r.typesOnTopic(PROBLEM)).toEqual(['problem.confirm', 'problem.resolve'])
  })

  it('says what changed when a row\'s decision meets an incident changed since', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    const row = page.locator(`#open-incidents tr[data-id="${OPEN}"]`)
    await expect.poll(() => row.getByRole('button', { name: 'Acknowledge' }).count(), { timeout: 15_000 }).toBe(1)
    await r.elsewhere(`/api/v1/incidents/${OPEN}`, { owner: 'erin' })
    await row.getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 15_000 })
      .toBe('Not saved: the incident changed since it was shown: it is now open (version 2, was 1). It is shown as it is now: decide again if still meant.')
    // The row read again shows Erin's change.
    await expect.poll(() => row.locator('td.owner').textContent(), { timeout: 15_000 }).toBe('erin')
    expect(await r.typesOnTopic(OPEN)).toEqual(['incident.assign'])
  })

  it('takes two decisions in a row from one view, the second with the version the first one gave back', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    await page.locator(`#open-incidents tr[data-id="${OPEN}"] button.link`).click()
    await expect.poll(() => page.locator('#detail-facts dd[data-fact="Status"]').textContent(), { timeout: 15_000 }).toBe('open')
    // The view is not read again until the test lets it: the second decision is taken from the view as it was.
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    await page.route('**/api/v1/**', async (route) => {
      if (route.request().method() === 'GET' && !route.request().url().includes('/dead-letters/')) await held
      await route.continue()
    })
    await page.locator('#incident-owner input[name="owner"]').fill('dana')
    await page.locator('#incident-owner button[type="submit"]').click()
    await expect.poll(() => page.locator('#incident-outcome').textContent(), { timeout: 15_000 }).toBe('Owner is dana')
    await page.locator('#incident-ack').click()
    await expect.poll(() => page.locator('#incident-outcome').textContent(), { timeout: 15_000 }).toBe('Acknowledged')
    expect(decisions.map((d) => d.ifMatch)).toEqual(['"1"', '"2"'])
    // Every read held goes on now, and every later one at once.
    release()
    await expect.poll(() => page.locator('#detail-facts dd[data-fact="Owner"]').textContent(), { timeout: 15_000 }).toBe('dana')
    expect(await r.typesOnTopic(OPEN)).toEqual(['incident.assign', 'incident.acknowledge'])
  })
})
