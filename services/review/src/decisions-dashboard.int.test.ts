import { describe, expect, it } from 'vitest'
import express from 'express'
import type { Page } from 'playwright-core'
import type { ReportTarget } from '@opsreview/review/reports'
import { indexNames } from '@opsreview/search-index/templates'
import { serve } from '@opsreview/testing'
import { browserPages } from '@opsreview/testing/chromium'
import type { IdempotencyLimits } from '@opsreview/review/idempotency'
import { KafkaUnavailableError } from '@opsreview/kafka/errors'
import { readTopicToEnd } from '@opsreview/testing'
import { createReviewApp, defaultIdempotencyLimits } from './app.ts'
import { seededIncidentIds, seededProblemIds } from './fuzz-seed.ts'
import { cuttableElasticsearch } from './test-es-proxy.ts'
import { correlatorStandIn, decisionsOnKafka, reviewDeps, type StandInOptions } from './test-review-kafka.ts'

const OPEN = seededIncidentIds[0]!

/**
 * The seeded review (fuzz-seed.ts) served by the real app on the real Kafka, with a stand-in correlator
 * that takes every decision and no indexer: a decision is taken but does not show until the test writes it
 * into the index. The app reads Elasticsearch through a proxy the test can cut. `kafkaDownOnce()`: the next
 * publish waits until the function it answers is called, then fails as Kafka unreachable, publishing nothing.
 */
async function startReview(timeZone?: string, reports?: ReportTarget, idempotency?: IdempotencyLimits, standIn: { resolved?: Set<string> } & StandInOptions = {}) {
  const on = await decisionsOnKafka()
  const { es, prefix, kafka, commands, commandsTopic, resultsTopic } = on
  const seen = await correlatorStandIn(kafka, commandsTopic, resultsTopic, standIn.resolved ?? new Set(), standIn)
  const proxy = await cuttableElasticsearch()
  let down: Promise<void> | undefined
  const url = await serve(createReviewApp(reviewDeps(on, {
    es: proxy.es, commands: { publish: async (topic, messages) => {
      const failing = down
      down = undefined
      if (!failing) return commands.publish(topic, messages)
      await failing
      throw new KafkaUnavailableError('Kafka is unreachable')
    } }, waitTimeoutMs: 1_500,
    readTokens: [], writeTokens: [{ name: 'dana', secret: 'secret1' }, { name: 'erin', secret: 'secret2' }, 'bare1'],
    ...(timeZone ? { timeZone } : {}), ...(reports ? { reports } : {}), ...(idempotency ? { idempotency } : {}),
  })))
  const kafkaDownOnce = () => {
    let fail!: () => void
    down = new Promise<void>((resolve) => { fail = resolve })
    return fail
  }
  /** The ids of the commands on the topic, read to its end: a publish answered is on it. */
  const onTopic = async () => (await readTopicToEnd(kafka, commandsTopic)).map((m) => (JSON.parse(m.value) as { id: string; type: string }))
  return { url, es, prefix, proxy, seen, kafkaDownOnce, onTopic }
}

const newPage = browserPages()

/**
 * The page in Chromium whose own zone (TZ, and the page's emulated zone) is `timezoneId`. `clock`: the page's
 * timers are Playwright's, which flow as real time does until a test moves them on.
 */
async function open(url: string, timezoneId = 'UTC', o: { clock?: boolean } = {}) {
  const page = await newPage({ viewport: { width: 1280, height: 900 }, timezoneId })
  if (o.clock) await page.clock.install()
  // When the page sent each ask, by its own clock (Date.now as the page reads it, Playwright's when installed).
  await page.addInitScript(() => {
    const sentAt: number[] = []
    Object.assign(globalThis, { asksSentAt: sentAt })
    const send = globalThis.fetch.bind(globalThis)
    globalThis.fetch = (input, init) => {
      if (new Headers(init?.headers).get('idempotency-replay') === 'only') sentAt.push(Date.now())
      return send(input, init)
    }
  })
  // The decisions sent (?wait=true), and apart from them the page's asks whether one taken shows yet: the
  // same request under its key, for its kept answer only (Idempotency-Replay: only); `askedAt`: when the page
  // sent each ask, by its clock.
  const decisions: { url: string; key: string | undefined; body: string | null; authorization: string | undefined }[] = []
  const asks: typeof decisions = []
  const askedAt = () => page.evaluate(() => (globalThis as unknown as { asksSentAt: number[] }).asksSentAt)
  page.on('request', (r) => {
    if (r.method() !== 'PATCH') return
    const headers = r.headers()
    const sent = { url: r.url(), key: headers['idempotency-key'], body: r.postData(), authorization: headers.authorization }
    if (headers['idempotency-replay'] === 'only') asks.push(sent)
    else decisions.push(sent)
  })
  await page.goto(`${url}/#token=secret1`)
  await expect.poll(() => page.locator('#identity').textContent(), { timeout: 15_000 }).toBe('Decisions are recorded as dana, the name of your token.')
  return { page, decisions, asks, askedAt }
}

const row = (page: Page, id: string) => page.locator(`#open-incidents tr[data-id="${id}"]`)
const status = (page: Page) => page.locator('#status').textContent()

/**
 * For expect.poll with the page's clock installed: what `read` reads, the page's clock moved on half a second
 * first while it is not `until` yet, so that the page's next ask or retry comes without being waited for. It
 * goes by the page's own timers (the delays it sums), never past the state awaited: a later one cannot hide it.
 */
const movedOn = (page: Page, read: () => Promise<string | null>, until: string) => async () => {
  const now = await read()
  if (now !== until) await page.clock.fastForward(500)
  return now
}

describe('decisions on the dashboard, on the real Kafka and Elasticsearch, in Chromium', () => {
  it('sends a decision retried after an error with the same Idempotency-Key, and keeps its button disabled while it saves', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    const assign = row(page, OPEN).getByRole('button', { name: 'Assign' })
    await row(page, OPEN).getByRole('textbox').fill('erin')

    r.proxy.cut()
    await assign.click()
    // Beside the button: the status line goes on to say the reload after it failed too.
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/^Not saved: 503/)
    r.proxy.restore()
    // A double click on the retry: one request, the button disabled until it is answered. The answer is
    // held until the button has been seen disabled: a quick one would otherwise end the wait first.
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    await page.route('**/api/v1/incidents/**', async (route) => {
      if (route.request().method() === 'PATCH') await held
      await route.continue()
    })
    await assign.dblclick()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(2)
    await expect.poll(() => assign.isDisabled()).toBe(true)
    release()
    await expect.poll(() => assign.isDisabled(), { timeout: 15_000 }).toBe(false)
    await page.unroute('**/api/v1/incidents/**')
    expect(decisions).toHaveLength(2)
    expect(decisions[1]!.key).toBeDefined()
    expect(decisions[1]).toEqual(decisions[0])

    // An answered decision is over: the next one, even of the same kind, is new.
    await row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(3)
    expect(decisions[2]!.key).not.toBe(decisions[0]!.key)
  })

  it('keeps the owner typed in a row when a reload rebuilds the row after a failed Assign, and retries it under the same Idempotency-Key', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).getByRole('textbox').fill('erin')
    r.proxy.cut()
    await row(page, OPEN).getByRole('button', { name: 'Assign' }).click()
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/^Not saved: 503/)
    r.proxy.restore()
    await row(page, OPEN).evaluate((tr) => { tr.dataset.before = 'yes' })
    await page.getByRole('button', { name: 'Load' }).click()
    await expect.poll(() => page.locator('#open-incidents tr[data-before]').count(), { timeout: 15_000 }).toBe(0)
    await expect.poll(() => row(page, OPEN).count()).toBe(1)
    expect(await row(page, OPEN).getByRole('textbox').inputValue()).toBe('erin')
    await row(page, OPEN).getByRole('button', { name: 'Assign' }).click()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(2)
    expect(decisions[1]).toEqual(decisions[0])
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/erin/)
  })

  it('keeps a button disabled while its decision saves, also once a refresh has rebuilt its row', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    // Only this incident's decisions wait: the problem's goes through, and the refresh after it rebuilds every row.
    await page.route(`**/api/v1/incidents/${OPEN}**`, async (route) => {
      if (route.request().method() === 'PATCH') await held
      await route.continue()
    })
    await row(page, OPEN).evaluate((tr) => { tr.dataset.before = 'yes' })
    await row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(() => row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).isDisabled()).toBe(true)
    const problem = page.locator(`#problems tr[data-id="${seededProblemIds[0]!}"]`)
    await problem.getByRole('button', { name: 'Confirm' }).click()
    await expect.poll(() => page.locator('#open-incidents tr[data-before]').count(), { timeout: 15_000 }).toBe(0)
    await expect.poll(() => row(page, OPEN).count()).toBe(1)
    // The row is new, the decision still saving: its button is disabled, the others are not.
    expect(await row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).isDisabled()).toBe(true)
    expect(await row(page, OPEN).getByRole('button', { name: 'Resolve' }).isDisabled()).toBe(false)
    release()
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/Acknowledged/)
    await expect.poll(async () => (await row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).count()) === 0
      || !(await row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).isDisabled()), { timeout: 15_000 }).toBe(true)
    await page.unroute(`**/api/v1/incidents/${OPEN}**`)
  })

  it('shows the dead-letter count read last when an earlier count answers after it', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    await expect.poll(() => page.locator('#dead-letter-count').textContent(), { timeout: 15_000 }).toBe('?')
    const summary = (total: number) => JSON.stringify({ since: '2026-12-02T00:00:00.000Z', at: new Date().toISOString(), windowMs: 86_400_000, total, topics: [], stale: false })
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    let counts = 0
    let earlierAnswered = false
    // The first count asked is answered last: each change of the window counts again.
    await page.route('**/api/v1/dead-letters/summary', async (route) => {
      const n = ++counts
      if (n === 1) await held
      await route.fulfill({ status: 200, contentType: 'application/json', body: summary(n === 1 ? 111 : 222) })
      if (n === 1) earlierAnswered = true
    })
    await page.locator('#window').selectOption('72h')
    await expect.poll(() => counts).toBe(1)
    await page.locator('#window').selectOption('7d')
    await expect.poll(() => page.locator('#dead-letter-count').textContent(), { timeout: 15_000 }).toBe('222')
    release()
    await expect.poll(() => earlierAnswered).toBe(true)
    // The page has had the earlier answer: a timer of its own runs after the handling of it.
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)))
    expect(await page.locator('#dead-letter-count').textContent()).toBe('222')
    expect(await page.locator('#dead-letters-h').textContent()).toBe('222 dead letters in the last 24 h')
    await page.unroute('**/api/v1/dead-letters/summary')
  })

  it('says a decision the correlator refuses after the wait ran out is refused, with the correlator\'s reason', async () => {
    // The correlator answers only after the API's wait (1.5 s) is over: the page follows the decision itself.
    let answer!: () => void
    const late = new Promise<void>((resolve) => { answer = resolve })
    const r = await startReview(undefined, undefined, undefined, { resolved: new Set([OPEN]), beforeAnswer: () => late })
    const { page } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).getByRole('button', { name: 'Resolve' }).click()
    await expect.poll(() => status(page), { timeout: 15_000 }).toMatch(/by hand: recorded, waiting for the correlator…$/)
    answer()
    await expect.poll(() => status(page), { timeout: 15_000 }).toBe('Refused: incident is already resolved')
  })

  it('says a decision taken but not yet indexed is waiting for the index, and reads it again until it shows', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).getByRole('textbox').fill('erin')
    await row(page, OPEN).getByRole('button', { name: 'Assign' }).click()
    // The stand-in took it, nothing indexes it: not "done" while the cell shows the old owner.
    await expect.poll(() => status(page), { timeout: 15_000 }).toMatch(/ is erin: taken, waiting for the index$/)
    expect(await row(page, OPEN).locator('td.owner').textContent()).toBe('–')
    // The indexer catches up.
    const [hit] = (await r.es.search<Record<string, unknown>>({ index: indexNames(r.prefix).incidents.alias, query: { term: { id: OPEN } } })).hits.hits
    await r.es.index({ index: hit!._index, id: hit!._id!, document: { ...hit!._source, owner: 'erin' }, refresh: true })
    await expect.poll(() => row(page, OPEN).locator('td.owner').textContent(), { timeout: 20_000 }).toBe('erin')
    // The page's own refresh can show the row first; the status follows at the decision's next read (0.5-8 s apart).
    await expect.poll(() => status(page), { timeout: 20_000 }).toMatch(/ is erin$/)
  })

  it('says a note whose words were said before is waiting for the index until the index shows the new note, not the earlier one', async () => {
    const r = await startReview()
    const { page, decisions, asks } = await open(r.url, 'UTC', { clock: true })
    const words = 'payments provider answers 502'
    // Dana said the same words on the incident yesterday: that note is indexed.
    const read = async () => (await r.es.search<Record<string, unknown> & { version: number; notes: unknown[] }>({ index: indexNames(r.prefix).incidents.alias, query: { term: { id: OPEN } } })).hits.hits[0]!
    const before = await read()
    await r.es.index({ index: before._index, id: before._id!, refresh: true, document: {
      ...before._source!, notes: [{ at: new Date(Date.now() - 86_400_000).toISOString(), author: 'dana', text: words }], version: before._source!.version + 1,
    } })
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).locator('button.link').click()
    await expect.poll(() => page.locator('[data-fact="Id"]').textContent(), { timeout: 15_000 }).toBe(OPEN)
    await expect.poll(() => page.locator('#timeline').textContent(), { timeout: 15_000 }).toContain(`note: ${words}`)

    await page.locator('#incident-note textarea').fill(words)
    await page.getByRole('button', { name: 'Add note' }).click()
    // Another token typed once the note is sent: the asks about the note are still the note's, under its token.
    await page.locator('#token').fill('bare1')
    // The stand-in took the note, nothing indexes it: the earlier note with its words is not it.
    const outcome = () => page.locator('#incident-outcome').textContent()
    await expect.poll(outcome, { timeout: 15_000 }).toBe('Note added: taken, waiting for the index')
    // Still so once the page has had an answer about it: its second ask goes after it has judged the first.
    // "Done" meanwhile ends the wait at once, and fails. The page's clock is moved on until then.
    await expect.poll(async () => {
      const now = await outcome()
      if (now === 'Note added' || asks.length >= 2) return now
      await page.clock.fastForward(500)
      return 'not asked twice yet'
    }, { timeout: 15_000, interval: 100 }).toBe('Note added: taken, waiting for the index')
    expect(asks.every((a) => a.key === decisions.at(-1)!.key && a.body === decisions.at(-1)!.body)).toBe(true)
    expect(decisions.at(-1)!.authorization).toBe('Bearer secret1')
    expect(asks.map((a) => a.authorization)).toEqual(asks.map(() => 'Bearer secret1'))

    // The indexer catches up: a newer version with the new note, stamped with the command's time.
    const note = r.seen.find((c) => c.type === 'incident.note')!
    const taken = await read()
    await r.es.index({ index: taken._index, id: taken._id!, refresh: true, document: {
      ...taken._source!, notes: [...taken._source!.notes, { at: note.at, author: 'dana', text: words }], version: taken._source!.version + 1,
    } })
    await expect.poll(movedOn(page, outcome, 'Note added'), { timeout: 20_000, interval: 100 }).toBe('Note added')
    expect(await page.locator('#incident-outcome').getAttribute('class')).toBe('outcome accepted')
  })

  it('does not call a decision done when the API forgot its Idempotency-Key before the page asked whether it shows', async () => {
    // One key kept: another client's keyed decision makes the API forget the page's.
    const r = await startReview(undefined, undefined, { ...defaultIdempotencyLimits, maxKeys: 1 })
    const { page, decisions, asks } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    // The page's first ask is held until the key is gone.
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    await page.route(`**/api/v1/incidents/${OPEN}?wait=false`, async (route) => { await held; await route.continue() }, { times: 1 })
    await row(page, OPEN).getByRole('textbox').fill('erin')
    await row(page, OPEN).getByRole('button', { name: 'Assign' }).click()
    await expect.poll(() => status(page), { timeout: 15_000 }).toMatch(/ is erin: taken, waiting for the index$/)
    await expect.poll(() => asks.length, { timeout: 15_000 }).toBe(1)
    const other = await fetch(`${r.url}/api/v1/incidents/${seededIncidentIds[1]}`, {
      method: 'PATCH', headers: { authorization: 'Bearer secret1', 'content-type': 'application/json', 'idempotency-key': 'another-client-1' }, body: JSON.stringify({ acknowledge: true }),
    })
    expect(other.status).toBe(202)
    const answers: number[] = []
    page.on('response', (res) => { if (res.request().headers()['idempotency-replay'] === 'only') answers.push(res.status()) })
    release()
    // Asked under a key it forgot, the API answers 404 and publishes nothing (until 2026-12-05 it took the
    // ask for the decision again and published it again): nothing says whether it shows.
    await expect.poll(() => status(page), { timeout: 15_000 }).toMatch(/ is erin: taken; the API can no longer say whether the index shows it, reload later$/)
    expect(await row(page, OPEN).locator('output').getAttribute('class')).toBe('outcome pending')
    expect(answers).toEqual([404])
    // The API answers a publish once Kafka has it: read to its end, the topic holds every command published.
    expect((await r.onTopic()).filter((c) => c.type === 'incident.assign')).toHaveLength(1)
    expect(asks.map((a) => a.key)).toEqual([decisions[0]!.key])
  })

  it('says a decision shows once the index has it when its first request failed on Kafka and the same click from the view published it', async () => {
    const r = await startReview()
    const { page, decisions, asks } = await open(r.url, 'UTC', { clock: true })
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).locator('button.link').click()
    await expect.poll(() => page.locator('[data-fact="Id"]').textContent(), { timeout: 15_000 }).toBe(OPEN)
    // The row's Acknowledge reaches a Kafka that fails it, slowly; the view's, under the same key, is told
    // it is in flight meanwhile, and sent again once the first gave the key up: that one publishes it.
    const kafkaFails = r.kafkaDownOnce()
    await row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(1)
    await page.locator('#incident-ack').click()
    const viewOutcome = () => page.locator('#incident-outcome').textContent()
    await expect.poll(viewOutcome, { timeout: 15_000 }).toBe('Acknowledged: being sent already, waiting for its answer…')
    kafkaFails()
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/^Not saved: 503/)
    // The view asks again after the API's Retry-After (1 s): the page's clock is moved on meanwhile.
    await expect.poll(movedOn(page, viewOutcome, 'Acknowledged: taken, waiting for the index'), { timeout: 15_000, interval: 100 }).toBe('Acknowledged: taken, waiting for the index')
    expect(new Set(decisions.map((d) => d.key)).size).toBe(1)
    // The indexer catches up: the API, asked under the key it keeps, says it shows.
    const [hit] = (await r.es.search<Record<string, unknown>>({ index: indexNames(r.prefix).incidents.alias, query: { term: { id: OPEN } } })).hits.hits
    await r.es.index({ index: hit!._index, id: hit!._id!, document: { ...hit!._source, acknowledgedAt: new Date().toISOString(), acknowledgedBy: 'dana' }, refresh: true })
    await expect.poll(movedOn(page, viewOutcome, 'Acknowledged'), { timeout: 20_000, interval: 100 }).toBe('Acknowledged')
    expect(asks.every((a) => a.key === decisions[0]!.key)).toBe(true)
    expect((await r.onTopic()).filter((c) => c.type === 'incident.acknowledge')).toHaveLength(1)
  })

  it('asks again whether a decision shows no sooner than the Retry-After of an ask the API could not answer', async () => {
    const r = await startReview()
    const { page, asks, askedAt } = await open(r.url, 'UTC', { clock: true })
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    // The first ask meets an API that cannot answer now, and says when to come back: 4 s, more than the 1 s
    // the page would wait next.
    await page.route(`**/api/v1/incidents/${OPEN}?wait=false`, (route) => route.fulfill({
      status: 503, headers: { 'retry-after': '4' }, contentType: 'application/problem+json', body: JSON.stringify({ status: 503, code: 'UNAVAILABLE', title: 'Temporarily unavailable, retry later' }),
    }), { times: 1 })
    await row(page, OPEN).getByRole('textbox').fill('erin')
    await row(page, OPEN).getByRole('button', { name: 'Assign' }).click()
    // The page's clock is moved on half a second at a time rather than waited for: each ask goes when the
    // page's own timer says, and the page's clock says when it went, so the gap below is the same either way.
    const asksMovedOn = async () => { await page.clock.fastForward(500); return asks.length }
    await expect.poll(asksMovedOn, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(2)
    const [first, second] = await askedAt()
    expect(second! - first!).toBeGreaterThanOrEqual(3_900)
    expect(await status(page)).toMatch(/ is erin: taken, waiting for the index$/)
  })

  it('sends a decision retried under another named token with a key of its own, and under the first token again with the first one\'s', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    const acknowledge = () => row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).click()
    const as = async (token: string, name: string) => {
      await page.locator('#token').fill(token)
      await page.getByRole('button', { name: 'Load' }).click()
      await expect.poll(() => page.locator('#identity').textContent(), { timeout: 15_000 }).toBe(`Decisions are recorded as ${name}, the name of your token.`)
      await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    }
    // Dana's acknowledgement fails before anything is published (Elasticsearch cut).
    r.proxy.cut()
    await acknowledge()
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/^Not saved: 503/)
    r.proxy.restore()
    // Erin, at the same screen with her own token, acknowledges it: her decision, not dana's retried.
    await as('secret2', 'erin')
    r.proxy.cut()
    await acknowledge()
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/^Not saved: 503/)
    r.proxy.restore()
    await as('secret1', 'dana')
    await acknowledge()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(3)
    expect(decisions.map((d) => [d.authorization, d.body])).toEqual([
      ['Bearer secret1', '{"acknowledge":true}'], ['Bearer secret2', '{"acknowledge":true}'], ['Bearer secret1', '{"acknowledge":true}'],
    ])
    expect(decisions[1]!.key).not.toBe(decisions[0]!.key)
    expect(decisions[2]!.key).toBe(decisions[0]!.key)
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/^Acknowledged/)
  })
})

describe('the dashboard as a meeting uses it, in Chromium', () => {
  it('shows a view decision\'s outcome on its own incident only, and leaves a note typed in the next one', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    await page.route('**/api/v1/incidents/**', async (route) => {
      if (route.request().method() === 'PATCH') await held
      await route.continue()
    })
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).locator('button.link').click()
    await expect.poll(() => page.locator('[data-fact="Id"]').textContent(), { timeout: 15_000 }).toBe(OPEN)
    await page.locator('#incident-ack').click()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(1)
    // The next incident, from the history, while the first one's decision is still on its way.
    const next = seededIncidentIds[1]!
    await page.locator('#search').getByRole('button', { name: 'Search' }).click()
    await page.locator(`#results tr[data-id="${next}"] button.link`).click()
    await expect.poll(() => page.locator('[data-fact="Id"]').textContent(), { timeout: 15_000 }).toBe(next)
    expect(await page.locator('#incident-ack').isDisabled()).toBe(false)
    await page.locator('#incident-note textarea').fill('half typed: the root cause is')
    release()
    await expect.poll(() => status(page), { timeout: 15_000 }).toMatch(/^Acknowledged/)
    expect(await page.locator('#incident-outcome').textContent()).toBe('')
    expect(await page.locator('#incident-note textarea').inputValue()).toBe('half typed: the root cause is')
  })

  it('says a decision whose answer was lost may have been saved, not that it was not', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    // The request reaches the API, which records it; the connection drops before the answer.
    await page.route('**/api/v1/incidents/**', async (route) => {
      if (route.request().method() !== 'PATCH') return route.continue()
      await route.fetch()
      await route.abort('connectionreset')
    })
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(1)
    await expect.poll(() => row(page, OPEN).locator('output').textContent(), { timeout: 15_000 }).toMatch(/^Acknowledged .+: no answer \(.+\); it may have been saved: try again, it is not applied twice$/)
  })

  it('records decisions under the name typed for bare tokens after a named token, not the named token\'s', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    expect(await page.locator('#actor').inputValue()).toBe('dana')
    await page.evaluate(() => localStorage.setItem('opsreview-actor', 'erin'))
    await page.locator('#token').fill('bare1')
    await page.getByRole('button', { name: 'Load' }).click()
    await expect.poll(() => page.locator('#identity').textContent(), { timeout: 15_000 }).toBe('')
    expect(await page.locator('#actor').inputValue()).toBe('erin')
    expect(await page.locator('#actor').isEditable()).toBe(true)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).getByRole('button', { name: 'Acknowledge' }).click()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(1)
    expect(JSON.parse(decisions[0]!.body!)).toEqual({ actor: 'erin', acknowledge: true })
  })

  it('reads the history\'s row of an incident decided on again, without running the search again', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    await page.locator('#search').getByRole('button', { name: 'Search' }).click()
    const result = page.locator(`#results tr[data-id="${OPEN}"] td`).last()
    await expect.poll(() => result.textContent(), { timeout: 15_000 }).toBe('–')
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).getByRole('textbox').fill('erin')
    await row(page, OPEN).getByRole('button', { name: 'Assign' }).click()
    await expect.poll(() => status(page), { timeout: 15_000 }).toMatch(/ is erin: taken, waiting for the index$/)
    // The indexer catches up: the page reads it again, and the history's row with it.
    const [hit] = (await r.es.search<Record<string, unknown>>({ index: indexNames(r.prefix).incidents.alias, query: { term: { id: OPEN } } })).hits.hits
    await r.es.index({ index: hit!._index, id: hit!._id!, document: { ...hit!._source, owner: 'erin' }, refresh: true })
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toBe('erin')
    expect(await page.locator('#results tbody tr[data-id]').count()).toBe(3)
  })

  it('drops the last search\'s rows and its More at once when a new search is asked, and moves the focus to a view opened', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    await page.locator('#search').getByRole('button', { name: 'Search' }).click()
    await expect.poll(() => page.locator('#results tbody tr[data-id]').count(), { timeout: 15_000 }).toBe(3)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    await page.route('**/api/v1/incidents?*', async (route) => { await held; await route.continue() })
    await page.locator('#search select[name="status"]').selectOption('resolved')
    await page.locator('#search').getByRole('button', { name: 'Search' }).click()
    expect(await page.locator('#results tbody tr').count()).toBe(0)
    expect(await page.locator('#more').isHidden()).toBe(true)
    release()
    await expect.poll(() => page.locator('#results tbody tr[data-id]').count(), { timeout: 15_000 }).toBe(2)
    // By keyboard: Enter on an incident's link, and the focus is on its view.
    await row(page, OPEN).locator('button.link').focus()
    await page.keyboard.press('Enter')
    await expect.poll(() => page.evaluate('document.activeElement?.id'), { timeout: 15_000 }).toBe('detail-h')
  })

  it('offers to link an incident only to problems of its environment', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    // A staging problem among the review's (the seed has none): the API would refuse linking a production incident to it.
    const staging = 'prb-00000000000000000000beef'
    await page.route('**/api/v1/review?*', async (route) => {
      const response = await route.fetch()
      const body = await response.json() as { problems: { items: Record<string, unknown>[] } }
      body.problems.items.push({ ...body.problems.items[0], id: staging, environment: 'staging', title: 'staging trouble' })
      await route.fulfill({ response, json: body })
    })
    await page.getByRole('button', { name: 'Load' }).click()
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).locator('button.link').click()
    await expect.poll(() => page.locator('[data-fact="Id"]').textContent(), { timeout: 15_000 }).toBe(OPEN)
    const offered = () => page.locator('#problem-options option').evaluateAll((os) => os.map((o) => o.getAttribute('value')))
    await expect.poll(offered, { timeout: 15_000 }).toEqual([seededProblemIds[0]])
  })

  it('assigns the owner typed in a row on Enter, as the view\'s owner form does', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).getByRole('textbox').fill('kim')
    await row(page, OPEN).getByRole('textbox').press('Enter')
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(1)
    expect(decisions[0]).toMatchObject({ url: expect.stringContaining(`/api/v1/incidents/${OPEN}`), body: JSON.stringify({ owner: 'kim' }) })
  })
})

describe('the incident and problem views in Chromium', () => {
  it('say when the API cut their timeline or incidents, and how many there are in all', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    // The seed has no incident with 500 alert changes nor a problem with 200 incidents: the real answers
    // are read, and their totals made larger, as the API answers a cut list.
    let cut = true
    await page.route(/\/api\/v1\/(incidents|problems)\/[^/?]+$/, async (route) => {
      const response = await route.fetch()
      const body = await response.json() as Record<string, unknown[]>
      if (cut && route.request().method() === 'GET') {
        if ('timeline' in body && 'incident' in body) Object.assign(body, { timelineTotal: body.timeline!.length + 100, timelineTruncated: true })
        if ('incidents' in body) Object.assign(body, { incidentsTotal: body.incidents!.length + 205, incidentsTruncated: true })
      }
      await route.fulfill({ response, json: body })
    })
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await row(page, OPEN).locator('button.link').click()
    await expect.poll(() => page.locator('#timeline-cut').textContent(), { timeout: 15_000 }).toMatch(/^The (\d+) newest of (\d+) timeline entries shown\.$/)
    const [, shown, all] = /^The (\d+) newest of (\d+)/.exec((await page.locator('#timeline-cut').textContent())!)!
    expect(Number(all) - Number(shown)).toBe(100)
    expect(Number(shown)).toBe(await page.locator('#timeline > li').count())
    expect(await page.locator('#timeline-cut').isVisible()).toBe(true)

    await page.locator(`#problems tr[data-id="${seededProblemIds[0]}"] button.link`).click()
    await expect.poll(() => page.locator('#problem-incidents-cut').textContent(), { timeout: 15_000 }).toMatch(/^The \d+ most recent of \d+ incidents shown\.$/)
    const n = await page.locator('#problem-incidents > li').count()
    expect(await page.locator('#problem-incidents-cut').textContent()).toBe(`The ${n} most recent of ${n + 205} incidents shown.`)

    // Uncut answers: the notes go.
    cut = false
    await page.locator(`#problems tr[data-id="${seededProblemIds[0]}"] button.link`).click()
    await expect.poll(() => page.locator('#problem-incidents-cut').isHidden(), { timeout: 15_000 }).toBe(true)
    await row(page, OPEN).locator('button.link').click()
    await expect.poll(() => page.locator('#timeline-cut').isHidden(), { timeout: 15_000 }).toBe(true)
  })
})

describe('a resolved problem on the dashboard, in Chromium', () => {
  it('offers to confirm it again (the fix did not hold), and sends that decision', async () => {
    const r = await startReview()
    const { page, decisions } = await open(r.url)
    const id = seededProblemIds[0]!
    // The seed's problem is a candidate: its view is shown as the problem once resolved.
    await page.route(`**/api/v1/problems/${id}`, async (route) => {
      if (route.request().method() !== 'GET') return route.continue()
      const response = await route.fetch()
      const body = await response.json() as { problem: Record<string, unknown> }
      body.problem = { ...body.problem, status: 'resolved', resolvedAt: '2026-12-02T08:00:00.000Z' }
      await route.fulfill({ response, json: body })
    })
    await page.locator(`#problems tr[data-id="${id}"] button.link`).click()
    await expect.poll(() => page.locator('#problem-confirm').textContent(), { timeout: 15_000 }).toBe('Confirm again: the fix did not hold')
    expect(await page.locator('#problem-confirm').isVisible()).toBe(true)
    expect(await page.locator('#problem-resolve').isVisible()).toBe(false)
    expect(await page.locator('#problem-dismiss').isVisible()).toBe(false)
    await page.locator('#problem-confirm').click()
    await expect.poll(() => decisions.length, { timeout: 15_000 }).toBe(1)
    expect(decisions[0]).toMatchObject({ url: expect.stringContaining(`/api/v1/problems/${id}`), body: JSON.stringify({ action: 'confirm' }) })
  })
})

describe('a post-mortem scheduled on the dashboard, with the browser in another zone than the review, in Chromium', () => {
  it('reads the time typed as a wall-clock time in the review\'s zone, names the zone, and shows it so on the timeline', async () => {
    // The meeting-room browser runs in UTC; the review (OPSREVIEW_TIMEZONE) in Berlin, an hour ahead in winter.
    const r = await startReview('Europe/Berlin')
    const { page, decisions } = await open(r.url, 'UTC')
    expect(await page.evaluate(() => new Date(2026, 11, 3, 10).getTimezoneOffset())).toBe(0)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    await expect.poll(() => page.locator('#window-label').textContent()).toMatch(/ Europe\/Berlin$/)
    await row(page, OPEN).locator('button.link').click()
    await expect.poll(() => page.locator('#detail').isVisible()).toBe(true)

    const at = page.getByLabel('Post-mortem at')
    expect(await page.locator('#incident-postmortem label', { has: at }).textContent()).toContain('Post-mortem at (Europe/Berlin)')
    await at.fill('2026-12-03T10:00')
    await page.getByLabel('Post-mortem owner').fill('erin')
    await page.getByRole('button', { name: 'Schedule post-mortem' }).click()
    // 10:00 in Berlin (CET, +01:00) is 09:00 UTC: in the request, and in the command published on Kafka.
    await expect.poll(() => r.seen.filter((c) => c.type === 'incident.schedule-postmortem').map((c) => c.scheduledFor), { timeout: 15_000 }).toEqual(['2026-12-03T09:00:00.000Z'])
    expect(JSON.parse(decisions.at(-1)!.body!)).toEqual({ postmortem: { scheduledFor: '2026-12-03T09:00:00.000Z', owner: 'erin' } })
    await expect.poll(() => page.locator('#incident-outcome').textContent(), { timeout: 15_000 }).toMatch(/^Post-mortem scheduled for 2026-12-03 10:00 Europe\/Berlin with erin/)
    // The timeline: the time as the meeting typed it, in the review's zone, named.
    await expect.poll(() => page.locator('#timeline').textContent(), { timeout: 20_000 }).toContain('dana · post-mortem scheduled for 2026-12-03 10:00 Europe/Berlin, owner erin — done')

    // Across the DST changes (as instantOf in packages/review/src/zone.ts): summer is +02:00, a time the
    // clocks skip moves forward by the gap, a time that happens twice is its first occurrence.
    const instants = await page.evaluate(() => ['2026-07-01T10:00', '2026-03-29T02:30', '2026-03-29T03:00', '2026-10-25T02:30', '2026-10-25T03:00', '2026-12-31T23:59']
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      .map((t) => new Date((globalThis as any).instantInZone(t, 'Europe/Berlin') as number).toISOString()))
    expect(instants).toEqual(['2026-07-01T08:00:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T02:00:00.000Z', '2026-12-31T22:59:00.000Z'])
  })
})

describe('a report filed on the dashboard, with the browser in another zone than the review, in Chromium', () => {
  it('reads the time it occurred as a wall-clock time in the review\'s zone, and names the zone', async () => {
    // A stand-in receiver: what the review forwards is what the page sent, with the reporter added.
    const filed: Record<string, unknown>[] = []
    const receiver = express()
    receiver.post('/api/v1/reports', express.json(), (req, res) => { filed.push(req.body as Record<string, unknown>); res.status(202).json({ accepted: 1 }) })
    const r = await startReview('Europe/Berlin', { url: await serve(receiver), token: 'receiver-token', timeoutMs: 5_000 })
    const { page } = await open(r.url, 'UTC')
    await expect.poll(() => page.locator('#window-label').textContent(), { timeout: 15_000 }).toMatch(/ Europe\/Berlin$/)
    const form = page.getByRole('form', { name: 'File a report' })
    const at = page.getByLabel('Occurred at')
    expect(await page.locator('#report label', { has: at }).textContent()).toContain('Occurred at (Europe/Berlin)')
    await form.getByLabel('Kind').selectOption({ label: 'customer complaint' })
    await form.getByLabel('Service').fill('checkout')
    await form.getByLabel('Title').fill('Customers cannot pay')
    await at.fill('2026-12-03T10:00')
    await form.getByRole('button', { name: 'File report' }).click()
    await expect.poll(() => page.locator('#report-outcome').textContent(), { timeout: 15_000 }).toMatch(/^Filed: customer complaint on checkout/)
    // 10:00 in Berlin (CET, +01:00) is 09:00 UTC; read in the browser's zone it would have been 10:00 UTC.
    expect(filed).toEqual([expect.objectContaining({ kind: 'customer-complaint', service: 'checkout', occurredAt: '2026-12-03T09:00:00.000Z', reportedBy: 'dana' })])
  })
})

describe('the review on the dashboard when Elasticsearch fails and comes back, in Chromium', () => {
  it('marks the tables of a failed reload as not current, and clears the error once a reload succeeds', async () => {
    const r = await startReview()
    const { page } = await open(r.url)
    await expect.poll(() => row(page, OPEN).count(), { timeout: 15_000 }).toBe(1)
    const stale = page.locator('#review-stale')
    expect(await stale.isHidden()).toBe(true)

    r.proxy.cut()
    await page.locator('#window').selectOption('72h')
    await expect.poll(() => status(page), { timeout: 15_000 }).toMatch(/^Could not load the review: 503/)
    expect(await stale.isVisible()).toBe(true)
    expect(await stale.textContent()).toMatch(/^Not current: the review could not be reloaded; the figures below are as read at \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.$/)
    expect(await page.locator('section.review-part.stale').count()).toBe(9)
    expect(await row(page, OPEN).count()).toBe(1)

    r.proxy.restore()
    await page.locator('#window').selectOption('24h')
    await expect.poll(() => status(page), { timeout: 15_000 }).toBe('')
    expect(await page.locator('#status').getAttribute('class')).not.toContain('error')
    expect(await stale.isHidden()).toBe(true)
    expect(await page.locator('section.review-part.stale').count()).toBe(0)
  })
})
