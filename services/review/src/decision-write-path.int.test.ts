// The review's decisions on the real Kafka and Elasticsearch, where what a client is answered must not depend
// on Elasticsearch: a decision published is answered within the wait, bad input is a 4xx whatever the index
// says, a client gone before its unkeyed decision is published gets no decision it cannot see, and the largest
// valid body is taken.
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import express from 'express'
import type { Message } from 'kafkajs'
import { defaultServerTimeouts, hardenServer } from '@opsreview/http/hardening'
import { captureLogs, readTopicToEnd, waitFor } from '@opsreview/testing'
import { createReviewApp } from './app.ts'
import { seededIncidentIds, seededProblemIds } from './fuzz-seed.ts'
import { cuttableElasticsearch } from './test-es-proxy.ts'
import { correlatorStandIn, decisionsOnKafka, reviewDeps } from './test-review-kafka.ts'

// Response bodies are asserted field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const OPEN = seededIncidentIds[0]!
const PROBLEM = seededProblemIds[0]!
// Well-formed ids the index does not hold.
const UNKNOWN_INCIDENT = `inc-${'c'.repeat(24)}`
const UNKNOWN_PROBLEM = `prb-${'c'.repeat(24)}`
const WAIT_MS = 1_500
const NO_DECISION = { code: 'VALIDATION_FAILED', errors: [{ path: '/', message: 'must hold at least one decision besides actor' }] }

/** A publish held until `release()`; `reached` resolves once it began. */
function held() {
  let release!: () => void
  let entered!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const reached = new Promise<void>((resolve) => { entered = resolve })
  return { release, reached, hold: async () => { entered(); await gate } }
}

/**
 * The review on the real Kafka (a stand-in correlator that takes every decision, and no indexer: a change taken
 * never shows) and on the real Elasticsearch behind a proxy the test cuts or stalls. Served as main.ts serves it:
 * a socket silent for the wait and 5 s more is closed. `hooks` run around each publish; `closed()` resolves
 * once the server has seen a response end or its client hang up.
 */
async function startReview() {
  const on = await decisionsOnKafka()
  const { kafka, commands, commandsTopic, resultsTopic } = on
  const proxy = await cuttableElasticsearch()
  await correlatorStandIn(kafka, commandsTopic, resultsTopic, new Set())
  const hooks: { beforePublish?: () => Promise<void>; afterPublish?: () => void } = {}
  let publishes = 0
  const { logger, lines } = captureLogs()
  const app = createReviewApp(reviewDeps(on, {
    es: proxy.es, logger, waitTimeoutMs: WAIT_MS, writeTokens: [{ name: 'dana', secret: 'secret1' }, 'bare1'],
    commands: { publish: async (topic: string, messages: Message[]) => {
      await hooks.beforePublish?.()
      await commands.publish(topic, messages)
      publishes++
      hooks.afterPublish?.()
    } },
  }))
  let closed!: () => void
  const closedOnce = new Promise<void>((resolve) => { closed = resolve })
  const server = express().use((_req, res, next) => { res.once('close', () => closed()); next() }, app).listen(0, '127.0.0.1')
  hardenServer(server, { ...defaultServerTimeouts, idleTimeoutMs: WAIT_MS + 5_000 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  onTestFinished(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  /** A dropped connection is status 0: the client got no answer. `raw`: the body as sent, instead of `body`. */
  const call = async (path: string, opts: { body?: unknown; raw?: string; headers?: Record<string, string>; token?: string }): Promise<{ status: number; body: Json; replayed: boolean }> => {
    try {
      const res = await fetch(`${url}${path}`, { method: 'PATCH', headers: { authorization: `Bearer ${opts.token ?? 'secret1'}`, 'content-type': 'application/json', ...opts.headers }, body: opts.raw ?? JSON.stringify(opts.body) })
      return { status: res.status, body: await res.json(), replayed: res.headers.get('idempotent-replayed') === 'true' }
    } catch (err) {
      return { status: 0, body: String((err as Error).cause ?? err), replayed: false }
    }
  }
  const onTopic = async () => (await readTopicToEnd(kafka, commandsTopic)).map((m) => JSON.parse(m.value) as Json)
  return { url, call, proxy, hooks, lines, onTopic, decisions: on.decisions, closed: () => closedOnce, publishes: () => publishes }
}

const key = (k: string) => ({ 'idempotency-key': k })

describe('?wait=true when Elasticsearch stops answering after the decision is published', () => {
  it('answers 202 pending within the wait, not a dropped connection, and so does a keyed retry', async () => {
    const r = await startReview()
    // Elasticsearch turns slow once Kafka has the decision: the wait's looks at the index get no answer.
    r.hooks.afterPublish = () => r.proxy.stall()
    const answer = await r.call(`/api/v1/incidents/${OPEN}?wait=true`, { body: { owner: 'erin' }, headers: key('stalled-after-publish') })
    expect(answer).toMatchObject({ status: 202, body: { commandIds: [expect.any(String)], decisions: [{ type: 'incident.assign', outcome: 'accepted' }], visible: false } })
    // A retry without ?wait=true looks once, as briefly: told it is still pending, nothing published again.
    const retry = await r.call(`/api/v1/incidents/${OPEN}`, { body: { owner: 'erin' }, headers: key('stalled-after-publish') })
    expect(retry).toMatchObject({ status: 202, replayed: true, body: { commandIds: answer.body.commandIds, visible: false } })
    expect(r.publishes()).toBe(1)
    expect(r.lines.filter((l) => l.msg === 'review decision published; waiting for it to show failed')).toHaveLength(2)
    r.proxy.restore()
  })
})

describe('?wait=true when Elasticsearch fails for a moment after the decision is published', () => {
  it('looks again while the wait lasts, instead of ending it at the first failed look', async () => {
    const r = await startReview()
    // Refused for 400 ms of a wait of 1.5 s: each look is tried once, so the wait itself rides it out.
    r.hooks.afterPublish = () => { r.proxy.cut(); setTimeout(() => r.proxy.restore(), 400) }
    const answer = await r.call(`/api/v1/incidents/${OPEN}?wait=true`, { body: { owner: 'erin' } })
    // No indexer here: the change never shows, and the wait ends pending, with the index answering again.
    expect(answer).toMatchObject({ status: 202, body: { visible: false } })
    expect(r.lines.filter((l) => l.msg === 'review decision published; waiting for it to show failed')).toEqual([])
  })
})

describe('a reused Idempotency-Key is refused before the target is read', () => {
  it('is 422 with another body while Elasticsearch is down, and with another target the index does not hold', async () => {
    const r = await startReview()
    expect((await r.call(`/api/v1/incidents/${OPEN}`, { body: { owner: 'alice' }, headers: key('owner-alice') })).status).toBe(202)
    expect((await r.call(`/api/v1/problems/${PROBLEM}`, { body: { action: 'confirm' }, headers: key('confirm') })).status).toBe(202)
    const reused = { status: 422, body: { code: 'IDEMPOTENCY_KEY_REUSED', errors: [{ path: 'header:idempotency-key' }] } }
    expect(await r.call(`/api/v1/incidents/${UNKNOWN_INCIDENT}`, { body: { owner: 'alice' }, headers: key('owner-alice') })).toMatchObject(reused)
    r.proxy.cut()
    expect(await r.call(`/api/v1/incidents/${OPEN}`, { body: { owner: 'bob' }, headers: key('owner-alice') })).toMatchObject(reused)
    expect(await r.call(`/api/v1/problems/${PROBLEM}`, { body: { action: 'dismiss' }, headers: key('confirm') })).toMatchObject(reused)
    // The same body is a retry: its kept answer, Elasticsearch down or not.
    expect(await r.call(`/api/v1/incidents/${OPEN}`, { body: { owner: 'alice' }, headers: key('owner-alice') })).toMatchObject({ status: 202, replayed: true })
    expect(r.publishes()).toBe(2)
    r.proxy.restore()
  })

  it('is 409 in flight while the first request is still being published and Elasticsearch is down', async () => {
    const r = await startReview()
    const publishing = held()
    r.hooks.beforePublish = publishing.hold
    const first = r.call(`/api/v1/incidents/${OPEN}`, { body: { note: 'looking' }, headers: key('note-in-flight') })
    await publishing.reached
    r.proxy.cut()
    const second = await r.call(`/api/v1/incidents/${OPEN}`, { body: { note: 'looking' }, headers: key('note-in-flight') })
    expect(second).toMatchObject({ status: 409, body: { code: 'IDEMPOTENCY_KEY_IN_FLIGHT', errors: [{ path: 'header:idempotency-key' }] } })
    publishing.release()
    expect(await first).toMatchObject({ status: 202, body: { commandIds: [expect.any(String)] } })
    expect(r.publishes()).toBe(1)
    r.proxy.restore()
  })
})

describe('a body with actor alone is 400 naming /, before the target is read', () => {
  it.each([['incidents', OPEN, UNKNOWN_INCIDENT], ['problems', PROBLEM, UNKNOWN_PROBLEM]])('on %s: for an id the index does not hold, and while Elasticsearch is down', async (kind, known, unknown) => {
    const r = await startReview()
    expect(await r.call(`/api/v1/${kind}/${unknown}`, { body: { actor: 'dana' } })).toMatchObject({ status: 400, body: NO_DECISION })
    expect(await r.call(`/api/v1/${kind}/${unknown}`, { body: { actor: 'someone' }, token: 'bare1', headers: key(`${kind}-actor-alone`) })).toMatchObject({ status: 400, body: NO_DECISION })
    r.proxy.cut()
    expect(await r.call(`/api/v1/${kind}/${known}?wait=true`, { body: { actor: 'dana' } })).toMatchObject({ status: 400, body: NO_DECISION })
    expect(r.publishes()).toBe(0)
    r.proxy.restore()
  })
})

describe('a decision whose client hung up while its target was read', () => {
  /** Sends the decision while Elasticsearch holds the read of its target, hangs up, then lets the read answer. */
  async function hangUpWhileRead(r: Awaited<ReturnType<typeof startReview>>, headers: Record<string, string>) {
    r.proxy.stall()
    const client = new AbortController()
    const sent = fetch(`${r.url}/api/v1/incidents/${OPEN}`, { method: 'PATCH', signal: client.signal, headers: { authorization: 'Bearer secret1', 'content-type': 'application/json', ...headers }, body: JSON.stringify({ owner: 'erin' }) })
    await waitFor(() => (r.proxy.holding() > 0 ? true : undefined), { what: 'the read of the target held' })
    client.abort()
    await expect(sent).rejects.toThrow()
    await r.closed()
    r.proxy.restore()
  }

  it('is not published without a key: its retry, a new decision, is then the only one', async () => {
    const r = await startReview()
    await hangUpWhileRead(r, {})
    const notPublished = 'review decision not published: its client hung up before it was'
    await waitFor(() => (r.publishes() > 0 || r.lines.some((l) => l.msg === notPublished) ? true : undefined), { what: 'the decision published or given up' })
    expect(r.publishes()).toBe(0)
    expect(r.lines.find((l) => l.msg === notPublished)).toMatchObject({ level: 30, target: OPEN, commands: ['incident.assign'] })
    expect(await r.onTopic()).toEqual([])
    const retry = await r.call(`/api/v1/incidents/${OPEN}`, { body: { owner: 'erin' } })
    expect(retry).toMatchObject({ status: 202, body: { commandIds: [expect.any(String)] } })
    expect((await r.onTopic()).map((c) => c.id)).toEqual(retry.body.commandIds)
  })

  it('is published with a key, whose retry is answered from it and publishes nothing again', async () => {
    const r = await startReview()
    await hangUpWhileRead(r, key('owner-erin-hung-up'))
    await waitFor(() => (r.publishes() > 0 ? true : undefined), { what: 'the keyed decision published' })
    const retry = await r.call(`/api/v1/incidents/${OPEN}`, { body: { owner: 'erin' }, headers: key('owner-erin-hung-up') })
    expect(retry).toMatchObject({ status: 202, replayed: true })
    expect((await r.onTopic()).map((c) => c.id)).toEqual(retry.body.commandIds)
    expect(r.publishes()).toBe(1)
  })
})

describe('the largest valid decision body', () => {
  /** JSON with every character past ASCII \u-escaped, an astral one as its two surrogates: 12 bytes each. */
  const escaped = (v: unknown) => JSON.stringify(v).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  // One code point, two UTF-16 units: the schema counts code points.
  const name = '\u{20000}'.repeat(200)
  const note = '\u{1F600}'.repeat(20_000)

  it('is taken on an incident: a note of 20,000 emoji and names of 200 astral characters, all \\u-escaped', async () => {
    const r = await startReview()
    const body = { actor: name, owner: name, acknowledge: true, note, problemId: PROBLEM, resolve: true, postmortem: { scheduledFor: '2026-12-03T09:00:00.000Z', owner: name } }
    const raw = escaped(body)
    expect(raw.length).toBeGreaterThan(240_000)
    const answer = await r.call(`/api/v1/incidents/${OPEN}`, { raw, token: 'bare1' })
    expect(answer).toMatchObject({ status: 202, body: { commandIds: expect.any(Array) } })
    const onTopic = await r.onTopic()
    expect(onTopic.find((c) => c.type === 'incident.note')).toMatchObject({ actor: name, text: note })
    expect(onTopic.find((c) => c.type === 'incident.assign')).toMatchObject({ owner: name })
  })

  it('is taken on a problem, and a body past the limit is 413 naming /', async () => {
    const r = await startReview()
    expect(await r.call(`/api/v1/problems/${PROBLEM}`, { raw: escaped({ actor: name, owner: name, action: 'confirm', note }), token: 'bare1' })).toMatchObject({ status: 202 })
    expect((await r.onTopic()).find((c) => c.type === 'problem.note')).toMatchObject({ text: note })
    // Past what any valid body needs (white space aside), still refused before it is parsed.
    const tooLarge = await r.call(`/api/v1/problems/${PROBLEM}`, { raw: `{"note":"x"${' '.repeat(256 * 1024)}}` })
    expect(tooLarge).toMatchObject({ status: 413, body: { errors: [{ path: '/' }] } })
    expect(r.publishes()).toBe(1)
  })
})
