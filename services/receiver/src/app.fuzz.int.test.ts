// Fuzzed webhooks against the real Kafka, with an oracle that counts: every alert the receiver
// acknowledged is on the alerts topic exactly once, or, if it was refused, on the dead-letter topic
// exactly once; and every request refused as a whole (a 4xx) is on the dead-letter topic once.
// OPSREVIEW_FUZZ_SCALE multiplies the number of webhooks.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import pino from 'pino'
import type { DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import { defaultIngestOptions } from '@opsreview/ingest/event'
import { intakeAlertmanager, intakePingdom } from '@opsreview/ingest/intake'
import { connectedAdmin, createTopics, kafkaClient, readTopicToEnd, uniqueName, waitFor } from '@opsreview/testing'
import type { AlertEvent } from '@opsreview/schemas'
import { post, TEST_NOW, TEST_TOKEN } from './test-fakes.ts'
import { mixedWebhook, mutatedFixture } from './fuzz-arbitraries.ts'
import { receiverOnKafka } from './test-receiver.ts'

const SCALE = Number(process.env.OPSREVIEW_FUZZ_SCALE ?? '1') || 1
const WEBHOOKS = Math.round(300 * SCALE)
const PINGDOMS = Math.round(60 * SCALE)
const CONCURRENCY = 8

async function startReceiver() {
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  const topics = { alerts: uniqueName('fuzz-alerts'), rejected: uniqueName('fuzz-rejected') }
  await createTopics(admin, [topics.alerts, topics.rejected])
  const { url, spool } = await receiverOnKafka(kafka, topics, { logger: pino({ level: 'silent' }), tokens: [TEST_TOKEN] })
  return { url, kafka, topics, spool }
}

/** Runs `work` over `items` with at most `limit` at once, so requests share the publisher's batches. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!)
  }))
}

describe('receiver fuzz on the real Kafka', () => {
  it('puts every acknowledged alert on the alerts topic or the dead-letter topic, exactly once', async () => {
    const r = await startReceiver()
    const started = performance.now()
    let n = 0
    const ids = () => `fz-${(n++).toString(36)}`
    const ctx = { receivedAt: TEST_NOW, options: defaultIngestOptions }
    // Each a notification of its own (its groupKey numbered): two the same within minutes would be taken for
    // Alertmanager's retry, whose refused alerts are not dead-lettered twice.
    const webhooks = fc.sample(mixedWebhook(ids), { numRuns: WEBHOOKS, seed: 20261201 })
      .map(({ body }, i) => (typeof body.groupKey === 'string' ? { ...body, groupKey: `${body.groupKey}#${i}` } : body))
    const pingdoms = fc.sample(mutatedFixture('pingdom'), { numRuns: PINGDOMS, seed: 20261202 })

    /** Event ids the receiver must have on the alerts topic, with how often each was acknowledged. */
    const expectedIds = new Map<string, number>()
    const acknowledged = (id: string) => expectedIds.set(id, (expectedIds.get(id) ?? 0) + 1)
    /** Per-alert refusals it must have dead-lettered. */
    const expectedLetters = new Set<string>()
    const statuses = new Map<number, number>()
    /** Requests refused as a whole (a body with a lone surrogate, a schema fault of the notification): dead-lettered whole. */
    const refusedWhole = new Set<string>()
    await pool(webhooks, CONCURRENCY, async (body) => {
      const res = await post(`${r.url}/webhooks/alertmanager`, body)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      expect(res.status).toBeLessThan(500)
      if (res.status >= 400 && res.status !== 422) { refusedWhole.add(res.headers.get('x-request-id')!); return }
      // 422: every alert refused (and dead-lettered), listed as in a 200.
      if (res.status !== 200 && res.status !== 422) return
      const answer = await res.json() as { accepted: number; rejected: { index: number }[] }
      expect(res.status === 422).toBe(answer.accepted === 0 && answer.rejected.length > 0)
      const requestId = res.headers.get('x-request-id')!
      for (const { index } of answer.rejected) expectedLetters.add(`${requestId}#${index}`)
      // The same pure mapping, run by the oracle: an accepted alert's event has this id.
      const intake = intakeAlertmanager(body, ctx)
      if (!intake.ok) throw new Error('the receiver accepted a body its own intake refuses')
      const refused = new Set(answer.rejected.map((x) => x.index))
      for (const { index, event } of intake.accepted) if (!refused.has(index)) acknowledged(event.id)
    })
    await pool(pingdoms, CONCURRENCY, async (body) => {
      const res = await post(`${r.url}/webhooks/pingdom`, body)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      expect(res.status).toBeLessThan(500)
      if (res.status >= 400) { refusedWhole.add(res.headers.get('x-request-id')!); return }
      if (res.status !== 202) return
      const intake = intakePingdom(body, ctx)
      if (!intake.ok) throw new Error('the receiver accepted a Pingdom body its own intake refuses')
      acknowledged(intake.event.id)
    })
    expect(await r.spool.drained(30_000)).toBe(true)

    const onTopic = (await readTopicToEnd(r.kafka, r.topics.alerts)).map((m) => (JSON.parse(m.value) as AlertEvent).id)
    const counts = new Map<string, number>()
    for (const id of onTopic) counts.set(id, (counts.get(id) ?? 0) + 1)
    expect(new Set(onTopic)).toEqual(new Set(expectedIds.keys()))
    // Exactly once, also for an alert acknowledged by several requests (redeliveries, racing copies).
    expect([...counts].filter(([, c]) => c !== 1)).toEqual([])

    const letters = (await readTopicToEnd(r.kafka, r.topics.rejected))
      .map((m) => JSON.parse(m.value) as DeadLetterEnvelope)
      .filter((l) => typeof l.detail?.index === 'number')
      .map((l) => `${String(l.detail!.requestId)}#${String(l.detail!.index)}`)
    expect(letters).toHaveLength(new Set(letters).size)
    expect(new Set(letters)).toEqual(expectedLetters)
    // A whole refusal's letter is published after the answer (a failing publish must not change it): waited for.
    const wholeLetters = await waitFor(async () => {
      const whole = (await readTopicToEnd(r.kafka, r.topics.rejected))
        .map((m) => JSON.parse(m.value) as DeadLetterEnvelope)
        .filter((l) => l.detail?.index === undefined)
        .map((l) => String(l.detail?.requestId))
      return whole.length >= refusedWhole.size ? whole : undefined
    }, { timeoutMs: 30_000, what: 'a dead letter for every request refused as a whole' })
    expect(wholeLetters).toHaveLength(new Set(wholeLetters).size)
    expect(new Set(wholeLetters)).toEqual(refusedWhole)
    expect(refusedWhole.size).toBeGreaterThan(0)
    // A scaled run is a measurement: it reports what it counted and the time taken.
    if (SCALE !== 1) console.log(JSON.stringify({ statuses: Object.fromEntries(statuses), onTopic: onTopic.length, ids: expectedIds.size, letters: letters.length, seconds: Math.round((performance.now() - started) / 100) / 10 }))
    // Enough of each outcome that the oracle counted something.
    expect(expectedIds.size).toBeGreaterThan(WEBHOOKS / 2)
    expect(expectedLetters.size).toBeGreaterThan(WEBHOOKS / 4)
    expect(statuses.get(200)).toBeGreaterThan(WEBHOOKS / 2)
  }, Math.max(300_000, 30_000 * SCALE))
})
