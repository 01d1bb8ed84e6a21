import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import { serve, uniqueName, waitFor } from '@opsreview/testing'
import { createReviewApp } from './app.ts'
import { seededIncidentIds } from './fuzz-seed.ts'
import { decisionsOnKafka, reviewDeps } from './test-review-kafka.ts'
import { createReviewMetrics } from './metrics.ts'

const OPEN = seededIncidentIds[0]!
const RESOLVED = seededIncidentIds[1]!

/** The value of the one series of `name` whose labels hold every one given, or undefined. */
const series = (text: string, name: string, ...labels: string[]) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe("the review's /metrics, on the real Kafka and Elasticsearch", () => {
  it('times requests by route and status, counts decisions by type and outcome, and serves the process metrics', async () => {
    const on = await decisionsOnKafka()
    const { kafka, commands, commandsTopic, resultsTopic } = on
    // Stands in for the correlator: accepts everything but resolving the resolved incident, and leaves notes
    // on the open one unanswered (their wait runs out).
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    const consumer = kafka.consumer({ groupId: uniqueName('standin'), maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topic: commandsTopic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const c = JSON.parse(message.value!.toString()) as { id: string; type: string; target: string }
        if (c.type === 'incident.note') return
        const ok = !(c.type === 'incident.resolve' && c.target === RESOLVED)
        await producer.send({ topic: resultsTopic, acks: -1, messages: [{ key: c.id, value: JSON.stringify({ commandId: c.id, type: c.type, target: c.target, ok, ...(ok ? {} : { error: 'incident is already resolved' }) }) }] })
      },
    })
    onTestFinished(async () => { await consumer.disconnect(); await producer.disconnect() })
    const metrics = createReviewMetrics({ breakerState: () => commands.breakerState })
    const url = await serve(createReviewApp(reviewDeps(on, { waitTimeoutMs: 3_000, writeTokens: [{ name: 'dana', secret: 'writer' }], metrics })))
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
      const text = await res.text()
      return { status: res.status, outcome: (JSON.parse(text) as { decisions?: { outcome: string }[] }).decisions?.[0]?.outcome }
    }
    expect((await call('GET', '/api/v1/review?since=24h', 'reader')).status).toBe(200)
    expect((await call('GET', '/api/v1/review?since=24h', 'nope')).status).toBe(401)
    // The reader may not have joined yet: the first decision is sent again until its outcome comes back. Nothing
    // indexes here, so an accepted decision is never visible: 202 once the wait runs out.
    await waitFor(async () => (await call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, 'writer', { owner: 'erin' })).outcome === 'accepted' || undefined, { timeoutMs: 60_000, intervalMs: 200, what: 'an accepted decision' })
    expect((await call('PATCH', `/api/v1/incidents/${RESOLVED}?wait=true`, 'writer', { resolve: true })).status).toBe(409)
    expect(await call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, 'writer', { note: 'looking' })).toEqual({ status: 202, outcome: 'pending' })
    expect((await call('PATCH', `/api/v1/incidents/${OPEN}`, 'writer', { acknowledge: true })).status).toBe(202)

    const text = await (await fetch(`${url}/metrics`)).text()
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m)
    expect(text).toMatch(/^nodejs_heap_size_total_bytes \d/m)
    expect(series(text, 'opsreview_review_requests_total', 'route="/api/v1/review"', 'status="200"')).toBe(1)
    expect(series(text, 'opsreview_review_request_duration_seconds_count', 'route="/api/v1/review"', 'status="200"')).toBe(1)
    expect(series(text, 'opsreview_review_request_duration_seconds_count', 'route="/api/v1/review"', 'status="401"')).toBe(1)
    expect(series(text, 'opsreview_review_request_duration_seconds_bucket', 'route="/api/v1/review"', 'status="200"', 'le="+Inf"')).toBe(1)
    expect(series(text, 'opsreview_review_request_duration_seconds_count', 'route="/api/v1/incidents/:id"', 'status="409"')).toBe(1)
    expect(series(text, 'opsreview_review_decisions_total', 'type="incident.assign"', 'outcome="accepted"')).toBeGreaterThanOrEqual(1)
    expect(series(text, 'opsreview_review_decisions_total', 'type="incident.resolve"', 'outcome="refused"')).toBe(1)
    expect(series(text, 'opsreview_review_decisions_total', 'type="incident.note"', 'outcome="pending-at-timeout"')).toBe(1)
    expect(series(text, 'opsreview_review_decisions_total', 'type="incident.acknowledge"', 'outcome="not-awaited"')).toBe(1)
    // No raw path as a label: the incident id is in no series.
    expect(text).not.toContain(OPEN)
  }, 120_000)
})
