// `Idempotency-Replay: only` on the real Kafka and Elasticsearch: a client asks for the answer kept for a
// decision's key, and is never taken for the decision itself, even by a review that forgot the key.
import { describe, expect, it } from 'vitest'
import { indexNames } from '@opsreview/search-index/templates'
import { captureLogs, readTopicToEnd, serve, waitFor } from '@opsreview/testing'
import { createReviewApp } from './app.ts'
import { seededIncidentIds, seededProblemIds } from './fuzz-seed.ts'
import { createReviewMetrics } from './metrics.ts'
import { correlatorStandIn, decisionsOnKafka, reviewDeps } from './test-review-kafka.ts'

// Response bodies are asserted field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const OPEN = seededIncidentIds[0]!
const PROBLEM = seededProblemIds[0]!
const WAIT_MS = 1_500

/**
 * The seeded review on the real Kafka with a stand-in correlator that takes every decision once `gate`
 * opens, and no indexer: a decision taken shows once the test writes it into the index. `instance()` serves
 * another review on the same Kafka, Elasticsearch and decision log, with keys of its own: the review after a
 * restart, or another instance behind the same address.
 */
async function startReview() {
  const on = await decisionsOnKafka()
  const { es, prefix, kafka, commands, commandsTopic, resultsTopic, decisions } = on
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  await correlatorStandIn(kafka, commandsTopic, resultsTopic, new Set(), { beforeAnswer: () => gate })
  const instance = async () => {
    const { logger, lines } = captureLogs()
    const metrics = createReviewMetrics({ breakerState: () => commands.breakerState })
    const url = await serve(createReviewApp(reviewDeps(on, { logger, waitTimeoutMs: WAIT_MS, readTokens: [], metrics })))
    const call = async (path: string, body: unknown, headers: Record<string, string>) => {
      const res = await fetch(`${url}${path}`, { method: 'PATCH', headers: { authorization: 'Bearer secret1', 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
      return { status: res.status, type: res.headers.get('content-type'), replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as Json }
    }
    const decided = async () => (await (await fetch(`${url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('opsreview_review_decisions_total{'))
    const published = () => lines.filter((l) => l.msg === 'review decision published').length
    return { call, decided, published }
  }
  const onTopic = async () => (await readTopicToEnd(kafka, commandsTopic)).map((m) => (JSON.parse(m.value) as { id: string }).id)
  return { es, prefix, decisions, open: () => open(), instance, onTopic }
}

const only = (key: string) => ({ 'idempotency-key': key, 'idempotency-replay': 'only' })

describe('Idempotency-Replay: only', () => {
  it('answers as a keyed retry while the key is kept, and 404 IDEMPOTENCY_KEY_UNKNOWN once it is not, publishing nothing', async () => {
    const r = await startReview()
    const first = await r.instance()
    const body = { owner: 'erin' }
    const path = `/api/v1/incidents/${OPEN}?wait=true`
    const sending = first.call(path, body, { 'idempotency-key': 'owner-erin' })
    await waitFor(() => (r.decisions.waiting === 1 ? true : undefined), { what: 'the decision waiting for its outcome' })
    // Its first request still runs: asked, it is in flight, as for a retry.
    const early = await first.call(`/api/v1/incidents/${OPEN}`, body, only('owner-erin'))
    expect(early).toMatchObject({ status: 409, body: { code: 'IDEMPOTENCY_KEY_IN_FLIGHT', errors: [{ path: 'header:idempotency-key' }] } })
    r.open()
    // Taken, not indexed: the wait runs out.
    expect(await sending).toMatchObject({ status: 202, body: { visible: false, decisions: [{ outcome: 'accepted' }] } })

    // Kept: the answer of a keyed retry, judged now.
    const asked = await first.call(`/api/v1/incidents/${OPEN}`, body, only('owner-erin'))
    expect(asked).toMatchObject({ status: 202, replayed: 'true', body: { visible: false, decisions: [{ outcome: 'accepted' }] } })
    const [hit] = (await r.es.search<Record<string, unknown>>({ index: indexNames(r.prefix).incidents.alias, query: { term: { id: OPEN } } })).hits.hits
    await r.es.index({ index: hit!._index, id: hit!._id!, document: { ...hit!._source, owner: 'erin' }, refresh: true })
    const shown = await first.call(`/api/v1/incidents/${OPEN}`, body, only('owner-erin'))
    expect(shown).toMatchObject({ status: 200, replayed: 'true', body: { visible: true, document: { owner: 'erin' } } })
    // Another body under the key is another request, as for a retry.
    const other = await first.call(`/api/v1/incidents/${OPEN}`, { owner: 'kim' }, only('owner-erin'))
    expect(other).toMatchObject({ status: 422, body: { code: 'IDEMPOTENCY_KEY_REUSED', errors: [{ path: 'header:idempotency-key' }] } })

    // The review restarted (or another instance answers): the key is not kept there.
    const restarted = await r.instance()
    const forgotten = await restarted.call(`/api/v1/incidents/${OPEN}`, body, only('owner-erin'))
    expect(forgotten).toMatchObject({ status: 404, replayed: null, type: expect.stringContaining('application/problem+json'), body: {
      code: 'IDEMPOTENCY_KEY_UNKNOWN', status: 404, errors: [{ path: 'header:idempotency-key' }],
    } })
    // Nothing published, counted or logged as published: the one command on the topic is the decision's.
    const commandIds = (await sending).body.commandIds as string[]
    expect(await r.onTopic()).toEqual(commandIds)
    expect(await restarted.decided()).toEqual([])
    expect(restarted.published()).toBe(0)
    expect(first.published()).toBe(1)
    expect((await first.decided()).map((l) => l.replace(/ \d+$/, ''))).toEqual(['opsreview_review_decisions_total{type="incident.assign",outcome="accepted"}'])
  })

  it('is refused 400 naming the header when its value is not "only", and naming the key when there is none', async () => {
    const r = await startReview()
    const review = await r.instance()
    const path = `/api/v1/incidents/${OPEN}`
    for (const value of ['always', 'ONLY', 'only, only']) {
      const bad = await review.call(path, { acknowledge: true }, { 'idempotency-key': 'ack-1', 'idempotency-replay': value })
      expect(bad).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST', errors: [{ path: 'header:idempotency-replay' }] } })
    }
    const keyless = await review.call(path, { acknowledge: true }, { 'idempotency-replay': 'only' })
    expect(keyless).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST', errors: [{ path: 'header:idempotency-key' }] } })
    expect(review.published()).toBe(0)
    expect(await r.onTopic()).toEqual([])
  })

  it('asks a problem decision\'s kept answer alone too: an unknown key is a 404 and nothing is published', async () => {
    const r = await startReview()
    const review = await r.instance()
    const asked = await review.call(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' }, only('confirm-1'))
    expect(asked).toMatchObject({ status: 404, body: { code: 'IDEMPOTENCY_KEY_UNKNOWN', errors: [{ path: 'header:idempotency-key' }] } })
    const bad = await review.call(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' }, { 'idempotency-key': 'confirm-1', 'idempotency-replay': 'yes' })
    expect(bad).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST', errors: [{ path: 'header:idempotency-replay' }] } })
    expect(review.published()).toBe(0)
    expect(await r.onTopic()).toEqual([])
  })
})
