import { describe, expect, it, onTestFinished } from 'vitest'
import type { Client } from '@elastic/elasticsearch'
import { Partitioners, type Message } from 'kafkajs'
import { DecisionLog } from '@opsreview/review/decisions'
import { bulkAction, problemDocument } from '@opsreview/search-index/documents'
import { indexNames } from '@opsreview/search-index/templates'
import { captureLogs, createTopics, kafkaClient, serve, uniqueName, waitFor } from '@opsreview/testing'
import { createReviewApp } from './app.ts'
import { startDecisionConsumer } from './decisions-consumer.ts'
import { seededIncidentIds, seededProblemIds } from './fuzz-seed.ts'
import { cuttableElasticsearch } from './test-es-proxy.ts'
import { correlatorStandIn, decisionsOnKafka, reviewDeps } from './test-review-kafka.ts'

// Response bodies are asserted field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const OPEN = seededIncidentIds[0]!
const RESOLVED = seededIncidentIds[1]!

/**
 * `es`: the client the app reads with (the seeded cluster by default); `published`: called after each publish, with how many so far;
 * `waitTimeoutMs`: a function is asked at each request, so a test can give a later request another wait.
 */
async function startReview(opts: { standIn?: boolean; es?: Client; published?: (count: number) => void; waitTimeoutMs?: number | (() => number) } = {}) {
  const on = await decisionsOnKafka()
  const { es, prefix, kafka, commands, commandsTopic, resultsTopic, decisions } = on
  const seen = opts.standIn === false ? [] : await correlatorStandIn(kafka, commandsTopic, resultsTopic, new Set([RESOLVED]))
  let publishes = 0
  const publisher = { publish: async (topic: string, messages: Message[]) => { await commands.publish(topic, messages); opts.published?.(++publishes) } }
  const waitTimeoutMs = opts.waitTimeoutMs ?? (opts.standIn === false ? 2_000 : 15_000)
  const deps = reviewDeps(on, {
    es: opts.es ?? es, commands: publisher, waitTimeoutMs: typeof waitTimeoutMs === 'number' ? waitTimeoutMs : waitTimeoutMs(),
    writeTokens: [{ name: 'dana', secret: 'secret1' }, { name: 'erin', secret: 'secret2' }, { secret: 'bare' }],
  })
  // The app reads deps.waitTimeoutMs at each request.
  if (typeof waitTimeoutMs === 'function') Object.defineProperty(deps, 'waitTimeoutMs', { get: waitTimeoutMs })
  const url = await serve(createReviewApp(deps))
  const call = async (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json; type: string; replayed: boolean }> => {
    const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    return { status: res.status, body: await res.json(), type: res.headers.get('content-type') ?? '', replayed: res.headers.get('idempotent-replayed') === 'true' }
  }
  return { call, seen, decisions, publishes: () => publishes, es, prefix }
}

describe('decisions and their outcomes, on the real Kafka and Elasticsearch', () => {
  it('answers 409 with the correlator\'s reason when it refuses a decision, and keeps the outcome and who tried', async () => {
    const r = await startReview()
    const refused = await r.call('PATCH', `/api/v1/incidents/${RESOLVED}?wait=true`, 'secret1', { resolve: true })
    expect(refused.status).toBe(409)
    expect(refused.type).toContain('application/problem+json')
    expect(refused.body).toMatchObject({ code: 'DECISION_REFUSED', status: 409, detail: 'incident.resolve: incident is already resolved' })
    expect(refused.body.decisions).toEqual([expect.objectContaining({ type: 'incident.resolve', target: RESOLVED, actor: 'dana', outcome: 'refused', error: 'incident is already resolved' })])
    // The outcome stays readable by its command id, for a page that polls.
    const id = refused.body.commandIds[0]
    expect((await r.call('GET', `/api/v1/decisions/${id}`, 'reader')).body).toMatchObject({ commandId: id, outcome: 'refused', error: 'incident is already resolved', actor: 'dana' })
    expect((await r.call('GET', '/api/v1/decisions/cmd-never-published-000', 'reader')).body).toEqual({ commandId: 'cmd-never-published-000', outcome: 'pending' })
    // A what-if dataset takes no decisions, so it has no outcomes to read: the parameter is refused, not ignored.
    const onDataset = await r.call('GET', `/api/v1/decisions/${id}?dataset=tuned`, 'reader')
    expect(onDataset.status).toBe(400)
    expect(onDataset.body.errors).toEqual([expect.objectContaining({ path: '/dataset' })])
    // The refusal is on the incident's timeline, with who tried and why it did not happen.
    const { body: detail } = await r.call('GET', `/api/v1/incidents/${RESOLVED}`, 'reader')
    expect(detail.timeline).toContainEqual(expect.objectContaining({ kind: 'decision:incident.resolve', actor: 'dana', outcome: 'refused', error: 'incident is already resolved', title: 'resolved by hand' }))
  })

  it('refuses with 400 naming /problemId a link to a problem of another environment, publishing nothing', async () => {
    const r = await startReview()
    const staging = problemDocument(indexNames(r.prefix).problems.alias)(JSON.stringify({
      id: 'prb-00000000000000000000000b', kind: 'recurring', status: 'candidate', title: 'HighLatency keeps recurring on staging', signature: 'staging|checkout|HighLatency',
      services: ['checkout'], environment: 'staging', incidentIds: [], incidentCount: 2, firstSeenAt: '2026-11-01T00:00:00.000Z', lastSeenAt: '2026-11-02T00:00:00.000Z', owner: null, notes: [], version: 1,
    }))
    const indexed = await r.es.bulk({ refresh: true, operations: [bulkAction(staging), staging.document] })
    expect(indexed.errors).toBe(false)
    const refused = await r.call('PATCH', `/api/v1/incidents/${OPEN}`, 'secret1', { problemId: 'prb-00000000000000000000000b' })
    expect(refused.status).toBe(400)
    expect(refused.body.errors).toEqual([{ path: '/problemId', message: 'is a problem of environment staging; this incident is of production' }])
    expect(r.publishes()).toBe(0)
  })

  it('takes the actor from a named token, refuses a body that names someone else, and keeps the bare token\'s actor field', async () => {
    const r = await startReview()
    const mismatch = await r.call('PATCH', `/api/v1/incidents/${OPEN}`, 'secret2', { actor: 'dana', acknowledge: true })
    expect(mismatch.status).toBe(400)
    expect(mismatch.body.errors).toEqual([{ path: '/actor', message: 'must be left out or be erin, the name of your token' }])
    const bareWithout = await r.call('PATCH', `/api/v1/incidents/${OPEN}`, 'bare', { acknowledge: true })
    expect(bareWithout.status).toBe(400)
    expect(bareWithout.body.errors).toEqual([{ path: '/actor', message: 'is required: this token carries no name' }])
    expect((await r.call('PATCH', `/api/v1/incidents/${OPEN}`, 'secret2', { actor: 'erin' })).body.errors).toEqual([{ path: '/', message: 'must hold at least one decision besides actor' }])
    expect((await r.call('GET', '/api/v1/whoami', 'secret2')).body).toEqual({ name: 'erin', reports: false })
    expect((await r.call('GET', '/api/v1/whoami', 'reader')).body).toEqual({ name: null, reports: false })

    const named = await r.call('PATCH', `/api/v1/problems/${seededProblemIds[0]}`, 'secret2', { owner: 'erin', note: 'looking at the pool' })
    expect(named.status).toBe(202)
    const bare = await r.call('PATCH', `/api/v1/incidents/${OPEN}`, 'bare', { actor: 'a typed name', owner: 'erin' })
    expect(bare.status).toBe(202)
    await waitFor(() => (r.seen.length === 3 ? true : undefined), { what: 'three commands on the topic' })
    expect(r.seen.map((c: Json) => [c.type, c.actor])).toEqual(expect.arrayContaining([['problem.assign', 'erin'], ['problem.note', 'erin'], ['incident.assign', 'a typed name']]))
    // The problem's timeline has the decision with its actor, once the outcome is read.
    const problem = await waitFor(async () => {
      const { body } = await r.call('GET', `/api/v1/problems/${seededProblemIds[0]}`, 'reader')
      return body.timeline.some((t: Json) => t.outcome === 'accepted') ? body : undefined
    }, { what: 'the accepted decision on the problem timeline' })
    expect(problem.timeline).toContainEqual(expect.objectContaining({ kind: 'decision:problem.assign', actor: 'erin', outcome: 'accepted', title: 'owner erin' }))
  })

  it('answers 202 with the outcome pending when no result comes in time', async () => {
    const r = await startReview({ standIn: false })
    const { status, body } = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, 'secret1', { acknowledge: true })
    expect(status).toBe(202)
    expect(body).toMatchObject({ visible: false, decisions: [expect.objectContaining({ outcome: 'pending', actor: 'dana' })] })
    expect(r.decisions.waiting).toBe(0)
  })

  it('answers 202, not 5xx, when Elasticsearch fails after the commands are published, and replays that answer for the same key', async () => {
    const proxy = await cuttableElasticsearch()
    // Elasticsearch goes away between the publish and the wait for the decision to show. The request and its
    // retry each wait out the whole wait for it to show. The first: 10 s, not 15, for the outcome to come in
    // it; the stand-in's comes within 1.5 s in decision-write-path.int.test.ts on a quiet host, and a loaded
    // one may be several times slower. The retry, whose outcome is known by then, waits 1 s: with
    // Elasticsearch down its wait can only run out.
    let waitMs = 10_000
    const r = await startReview({ es: proxy.es, published: (n) => { if (n === 1) proxy.cut() }, waitTimeoutMs: () => waitMs })
    const key = { 'idempotency-key': 'es-fails-after-publish' }
    const first = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, 'secret1', { owner: 'erin' }, key)
    expect(first.status).toBe(202)
    expect(first.body).toEqual({ commandIds: [expect.any(String)], decisions: [expect.objectContaining({ type: 'incident.assign', outcome: 'accepted' })], visible: false })
    // The retry is answered from the key, with Elasticsearch still down.
    waitMs = 1_000
    const retry = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, 'secret1', { owner: 'erin' }, key)
    expect(retry).toMatchObject({ status: 202, replayed: true, body: first.body })
    expect(r.publishes()).toBe(1)
    proxy.restore()
  })

  it('starts reading once the results topic exists, when the review starts before the correlator made it', async () => {
    const kafka = kafkaClient()
    const admin = kafka.admin()
    await admin.connect()
    const commandsTopic = uniqueName('commands')
    const resultsTopic = uniqueName('results')
    await createTopics(admin, [commandsTopic])
    onTestFinished(async () => { await admin.deleteTopics({ topics: [commandsTopic, resultsTopic] }).catch(() => undefined); await admin.disconnect() })
    const { logger, lines } = captureLogs()
    const decisions = new DecisionLog()
    const reader = startDecisionConsumer(kafka, { commands: commandsTopic, results: resultsTopic }, decisions, logger, { maxWaitTimeInMs: 100 })
    onTestFinished(() => reader.stop())
    await waitFor(() => (lines.some((l) => l.msg === 'cannot read decisions from Kafka yet; retrying') ? true : undefined), { what: 'the reader retrying' })
    await createTopics(admin, [resultsTopic])
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    await producer.send({ topic: resultsTopic, acks: -1, messages: [
      // One key, one partition: the junk is read before the result.
      { key: 'cmd-late00001', value: 'not a result' },
      { key: 'cmd-late00001', value: JSON.stringify({ commandId: 'cmd-late00001', type: 'problem.dismiss', target: seededProblemIds[0], ok: false, error: 'cannot dismiss a confirmed problem' }) },
    ] })
    const [d] = await decisions.waitFor(['cmd-late00001'], 60_000)
    expect(d).toMatchObject({ outcome: 'refused', error: 'cannot dismiss a confirmed problem' })
    expect(reader.skipped()).toBe(1)
  })
})
