import { describe, expect, it } from 'vitest'
import type { Page, Request, Route } from 'playwright-core'
import { HttpProblem, problemBody } from '@opsreview/http/problem'
import { ReviewProblem } from '@opsreview/review/errors'
import { indexNames } from '@opsreview/search-index/templates'
import { readTopicToEnd, serve } from '@opsreview/testing'
import { browserPages } from '@opsreview/testing/chromium'
import { createReviewApp, problemBody as reviewProblemBody } from './app.ts'
import { seededIncidentIds } from './fuzz-seed.ts'
import { correlatorStandIn, decisionsOnKafka, reviewDeps } from './test-review-kafka.ts'

const OPEN = seededIncidentIds[0]!

/**
 * The seeded review served by the real app on the real Kafka, with a stand-in correlator that takes every
 * decision and no indexer: a decision taken does not show until the test writes it into the index.
 */
async function startReview() {
  const on = await decisionsOnKafka()
  const { es, prefix, kafka, commandsTopic } = on
  await correlatorStandIn(kafka, commandsTopic, on.resultsTopic, new Set())
  const url = await serve(createReviewApp(reviewDeps(on, { waitTimeoutMs: 1_500 })))
  /** The acknowledgements on the topic, read to its end: a publish answered is on it. */
  const acknowledgements = async () => (await readTopicToEnd(kafka, commandsTopic)).map((m) => JSON.parse(m.value) as { type: string }).filter((c) => c.type === 'incident.acknowledge')
  /** The indexer catching up with the acknowledgement. */
  const indexAcknowledged = async () => {
    const [hit] = (await es.search<Record<string, unknown>>({ index: indexNames(prefix).incidents.alias, query: { term: { id: OPEN } } })).hits.hits
    await es.index({ index: hit!._index, id: hit!._id!, document: { ...hit!._source, acknowledgedAt: new Date().toISOString(), acknowledgedBy: 'dana' }, refresh: true })
  }
  return { url, acknowledgements, indexAcknowledged }
}

const newPage = browserPages()

/**
 * The dashboard in Chromium with the seeded open incident's view shown, and every PATCH the page sends, in
 * order. `clock`: the page's timers are Playwright's, which flow as real time does until a test moves them on.
 */
async function openIncident(url: string, o: { clock?: boolean } = {}) {
  const page = await newPage({ viewport: { width: 1280, height: 900 } })
  if (o.clock) await page.clock.install()
  const patches: Request[] = []
  page.on('request', (r) => { if (r.method() === 'PATCH') patches.push(r) })
  await page.goto(`${url}/#token=secret1`)
  await expect.poll(() => page.locator('#identity').textContent(), { timeout: 15_000 }).toBe('Decisions are recorded as dana, the name of your token.')
  await expect.poll(() => page.locator(`#open-incidents tr[data-id="${OPEN}"]`).count(), { timeout: 15_000 }).toBe(1)
  await page.locator(`#open-incidents tr[data-id="${OPEN}"] button.link`).click()
  await expect.poll(() => page.locator('[data-fact="Id"]').textContent(), { timeout: 15_000 }).toBe(OPEN)
  return { page, patches, outcome: () => page.locator('#incident-outcome').textContent(), outcomeClass: () => page.locator('#incident-outcome').getAttribute('class') }
}

/** An ask whether a decision shows: the decision's own request, for its kept answer only. */
const isAsk = (r: Request) => r.headers()['idempotency-replay'] === 'only'
/** A PATCH as the page meant it: a decision sent, or an ask; and its query. */
const shape = (r: Request) => `${isAsk(r) ? 'ask' : 'send'} ${new URL(r.url()).search}`
const ofOpen = (u: URL) => u.pathname === `/api/v1/incidents/${OPEN}`

/** A problem as the API answers it: its problem+json body (the review's own rendered by app.ts), status and headers. */
function answer(p: HttpProblem | ReviewProblem): NonNullable<Parameters<Route['fulfill']>[0]> {
  const body = p instanceof HttpProblem ? problemBody(p) : reviewProblemBody(p)
  const headers: Record<string, string> = {}
  if (p.retryAfterSeconds !== undefined) headers['retry-after'] = String(p.retryAfterSeconds)
  if (p.status === 401) headers['www-authenticate'] = 'Bearer realm="opsreview"'
  return { status: p.status, headers, contentType: 'application/problem+json', body: JSON.stringify(body) }
}

/** The API's answer to a request of a key whose first request is still running (app.ts keyInFlight), told to retry at once. */
const inFlight = () => answer(new ReviewProblem('IDEMPOTENCY_KEY_IN_FLIGHT', 'The first request with this Idempotency-Key has not answered yet; retry it', {
  retryAfterSeconds: 0, errors: [{ path: 'header:idempotency-key', message: 'is that of a request still being answered' }],
}))

/** Answers the page's asks alone with `reply` (its decision goes to the real API, so it is really taken); how many came so far. */
async function answerAsks(page: Page, reply: (route: Route) => Promise<void>): Promise<() => number> {
  let asked = 0
  await page.route(ofOpen, async (route) => {
    if (!isAsk(route.request())) return route.continue()
    asked++
    await reply(route)
  })
  return () => asked
}

const waitInPage = (page: Page, ms: number) => page.evaluate((t) => new Promise((resolve) => setTimeout(resolve, t)), ms)

describe('a decision taken, whose asks whether it shows get no judgement, in Chromium', () => {
  // Asks the API really answers so: a token dropped from the review's config after the decision, and a
  // replay header the API cannot read. Neither is worth asking again, nor says anything about the index.
  it.each([
    { why: '401 Missing or invalid token', problem: new HttpProblem('UNAUTHORIZED', 'The token is not valid') },
    { why: '400 Malformed request: header:idempotency-replay must be only, sent once', problem: new HttpProblem('BAD_REQUEST', 'Invalid Idempotency-Replay', { errors: [{ path: 'header:idempotency-replay', message: 'must be only, sent once' }] }) },
  ])('says at once it could not ask when an ask is refused $why, and asks no more', async ({ why, problem }) => {
    const r = await startReview()
    const { page, patches, outcome, outcomeClass } = await openIncident(r.url)
    const asked = await answerAsks(page, (route) => route.fulfill(answer(problem)))
    await page.locator('#incident-ack').click()
    await expect.poll(outcome, { timeout: 15_000 }).toBe(`Acknowledged: taken; could not ask whether the index shows it (${why}), reload later`)
    expect(await outcomeClass()).toBe('outcome pending')
    expect(asked()).toBe(1)
    expect(patches.map(shape)).toEqual(['send ?wait=true', 'ask ?wait=false'])
    expect(patches[1]!.headers()['idempotency-key']).toBe(patches[0]!.headers()['idempotency-key'])
    expect(await r.acknowledgements()).toHaveLength(1)
    // Past the 1 s the next ask would have waited: none goes, and the message stays.
    await waitInPage(page, 1_500)
    expect(asked()).toBe(1)
    expect(patches).toHaveLength(2)
    expect(await outcome()).toBe(`Acknowledged: taken; could not ask whether the index shows it (${why}), reload later`)
  })

  // Every ask of the ~15.5 s budget unanswered: the last ask's failure, not "does not show yet", which only
  // an answer can say. A 503 as the API gives it (Retry-After 5) leaves room for 4 asks; without an answer
  // at all the page asks at its own 0.5, 1, 2, 4 and 8 s, 5 times.
  it.each([
    { what: 'a 503', why: '503 Temporarily unavailable, retry later', asks: 4, fail: (route: Route) => route.fulfill(answer(new HttpProblem('UNAVAILABLE', 'Elasticsearch is unavailable, retry later', { retryAfterSeconds: 5 }))) },
    { what: 'a connection reset', why: 'Failed to fetch', asks: 5, fail: (route: Route) => route.abort('connectionreset') },
  ])('says it could not ask, not that the index does not show it, when every ask meets $what', async ({ why, asks, fail }) => {
    const r = await startReview()
    const { page, patches, outcome, outcomeClass } = await openIncident(r.url, { clock: true })
    const asked = await answerAsks(page, fail)
    await page.locator('#incident-ack').click()
    await expect.poll(outcome, { timeout: 15_000 }).toBe('Acknowledged: taken, waiting for the index')
    // The page's clock is moved on a second at a time rather than waited for: its asks come by its own
    // schedule (the delays it sums, not the time they took), so the count below is the same either way.
    const movedOn = async () => { await page.clock.fastForward(1_000); return outcome() }
    await expect.poll(movedOn, { timeout: 30_000, interval: 200 }).toBe(`Acknowledged: taken; could not ask whether the index shows it (${why}), reload later`)
    expect(await outcomeClass()).toBe('outcome pending')
    expect(asked()).toBe(asks)
    expect(patches.map(shape)).toEqual(['send ?wait=true', ...Array<string>(asks).fill('ask ?wait=false')])
    expect(await r.acknowledgements()).toHaveLength(1)
  })
})

describe('a decision whose key is in flight, in Chromium', () => {
  it('stops after its 60th try when every request of the key is answered in flight, and says its answer has not come', { timeout: 60_000 }, async () => {
    const r = await startReview()
    const { page, patches, outcome, outcomeClass } = await openIncident(r.url)
    let answered = 0
    await page.route(ofOpen, async (route) => {
      if (route.request().method() !== 'PATCH') return route.continue()
      answered++
      await route.fulfill(inFlight())
    })
    await page.locator('#incident-ack').click()
    await expect.poll(outcome, { timeout: 15_000 }).toBe('Acknowledged: being sent already, waiting for its answer…')
    // `Retry-After: 0` is asked again at once: the 60 tries take seconds, not a minute.
    await expect.poll(outcome, { timeout: 20_000 }).toBe('Acknowledged: sent, its answer has not come yet; reload to see it')
    expect(await outcomeClass()).toBe('outcome pending')
    expect(answered).toBe(60)
    expect(patches.map(shape)).toEqual(['send ?wait=true', ...Array<string>(59).fill('ask ?wait=false')])
    const first = patches[0]!
    expect(patches.every((p) => p.headers()['idempotency-key'] === first.headers()['idempotency-key'] && p.postData() === first.postData())).toBe(true)
    // A 61st try would have gone by now.
    await waitInPage(page, 1_500)
    expect(patches).toHaveLength(60)
    expect(await r.acknowledgements()).toHaveLength(0)
  })

  it('sends the decision again with the wait when its ask finds the key unknown, and says it shows once the index has it', async () => {
    const r = await startReview()
    const { page, patches, outcome, outcomeClass } = await openIncident(r.url)
    // The first request is told another of its key is running; the API never saw that key, so the page's
    // ask for its kept answer meets the real 404 IDEMPOTENCY_KEY_UNKNOWN.
    let first = true
    await page.route(ofOpen, async (route) => {
      if (!first || route.request().method() !== 'PATCH') return route.continue()
      first = false
      await route.fulfill(inFlight())
    })
    await page.locator('#incident-ack').click()
    await expect.poll(outcome, { timeout: 15_000 }).toBe('Acknowledged: taken, waiting for the index')
    expect(patches.slice(0, 3).map(shape)).toEqual(['send ?wait=true', 'ask ?wait=false', 'send ?wait=true'])
    expect(await Promise.all(patches.slice(0, 3).map(async (p) => (await p.response())?.status()))).toEqual([409, 404, 202])
    const unknown = await (await patches[1]!.response())!.json() as { code: string }
    expect(unknown.code).toBe('IDEMPOTENCY_KEY_UNKNOWN')
    expect(new Set(patches.map((p) => p.headers()['idempotency-key'])).size).toBe(1)
    expect(await r.acknowledgements()).toHaveLength(1)
    await r.indexAcknowledged()
    await expect.poll(outcome, { timeout: 20_000 }).toBe('Acknowledged')
    expect(await outcomeClass()).toBe('outcome accepted')
    expect(await r.acknowledgements()).toHaveLength(1)
  })
})
