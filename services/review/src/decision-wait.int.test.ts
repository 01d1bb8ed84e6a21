// `?wait=true` on the real Kafka and Elasticsearch, where a decision's answer depends on what the index shows
// after the correlator applied it.
import { describe, expect, it } from 'vitest'
import express from 'express'
import type { Client } from '@elastic/elasticsearch'
import { bulkAction, incidentDocument, problemDocument } from '@opsreview/search-index/documents'
import { indexNames } from '@opsreview/search-index/templates'
import type { DecisionLogLimits } from '@opsreview/review/decisions'
import { KafkaUnavailableError } from '@opsreview/kafka/errors'
import { serve, waitFor } from '@opsreview/testing'
import { createReviewApp } from './app.ts'
import { seededIncidentIds, seededProblemIds } from './fuzz-seed.ts'
import { correlatorStandIn, decisionsOnKafka, reviewDeps, type SeenCommand, type StandInOptions } from './test-review-kafka.ts'

// Response bodies are asserted field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const OPEN = seededIncidentIds[0]!
const PROBLEM = seededProblemIds[0]!
// MAX_ENTRIES_IN_DOCUMENT of the engine (packages/correlation/src/state.ts): the latest notes a document holds.
const NOTES_CAP = 100
const WAIT_MS = 5_000

type Indexed = { version: number; notes: { at: string; author: string; text: string }[] } & Record<string, unknown>

async function indexed(es: Client, alias: string, id: string): Promise<Indexed> {
  await es.indices.refresh({ index: alias })
  const r = await es.search<Indexed>({ index: alias, size: 1, query: { term: { id } } })
  return r.hits.hits[0]!._source!
}

/** Writes the next version of a document as the indexer does (external versions). */
async function indexVersion(es: Client, prefix: string, doc: Indexed): Promise<void> {
  const n = indexNames(prefix)
  const op = String(doc.id).startsWith('inc-') ? incidentDocument(n.incidents.alias)(JSON.stringify(doc)) : problemDocument(n.problems.alias)(JSON.stringify(doc))
  const r = await es.bulk({ refresh: true, operations: [bulkAction(op), op.document] })
  expect(r.errors).toBe(false)
}

/**
 * `failPublish(n)`: the n-th publish reaches Kafka and then fails, as a send whose acknowledgement was lost.
 */
async function startReview(opts: { beforeAnswer?: (c: SeenCommand, ctx: { es: Client; prefix: string }) => Promise<void | number | undefined>; esWrap?: (es: Client) => Client; decisionLimits?: DecisionLogLimits; failPublish?: (n: number) => boolean; beforePublish?: () => Promise<void>; onResponseClosed?: () => void } = {}) {
  const on = await decisionsOnKafka(opts.decisionLimits)
  const { es, prefix, kafka, commands, commandsTopic, resultsTopic, decisions } = on
  const standIn: StandInOptions = opts.beforeAnswer ? { beforeAnswer: (c) => opts.beforeAnswer!(c, { es, prefix }) } : {}
  const seen = await correlatorStandIn(kafka, commandsTopic, resultsTopic, new Set([seededIncidentIds[1]!]), standIn)
  let publishes = 0
  const app = createReviewApp(reviewDeps(on, {
    es: opts.esWrap ? opts.esWrap(es) : es, commands: { publish: async (topic, messages) => {
      await opts.beforePublish?.()
      await commands.publish(topic, messages)
      publishes++
      if (opts.failPublish?.(publishes)) throw new KafkaUnavailableError('the acknowledgement was lost')
    } }, waitTimeoutMs: WAIT_MS,
  }))
  // Told when the server sees a response end or its client hang up: a test then need not guess when that was.
  const onClosed = opts.onResponseClosed
  const url = await serve(onClosed ? express().use((_req, res, next) => { res.once('close', onClosed); next() }, app) : app)
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Json; replayed: boolean; ms: number }> => {
    const t0 = Date.now()
    const res = await fetch(`${url}${path}`, { method, headers: { authorization: 'Bearer secret1', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    return { status: res.status, body: await res.json(), replayed: res.headers.get('idempotent-replayed') === 'true', ms: Date.now() - t0 }
  }
  return { es, prefix, url, call, seen, decisions, publishes: () => publishes }
}

/**
 * Applies a note or an assignment as the engine does (packages/correlation/src/commands.ts), each a version of
 * its own: a version holds the latest `NOTES_CAP` notes, or only the latest `keep` of them when the document
 * was shortened to fit Kafka. `versioned`: the result says the version, as the engine's since 2026-12-05;
 * without, the review judges by the record alone, as with an older correlator.
 */
function applied(keep = NOTES_CAP, versioned = false) {
  return async (c: SeenCommand, { es, prefix }: { es: Client; prefix: string }): Promise<number | undefined> => {
    if (!c.type.endsWith('.note') && !c.type.endsWith('.assign')) return undefined
    const n = indexNames(prefix)
    const doc = await indexed(es, c.target.startsWith('inc-') ? n.incidents.alias : n.problems.alias, c.target)
    const change = c.type.endsWith('.note')
      ? { notes: [...doc.notes, { at: String(c.at), author: String(c.actor), text: String(c.text) }].slice(-Math.min(keep, NOTES_CAP)) }
      : { owner: c.owner }
    await indexVersion(es, prefix, { ...doc, ...change, version: doc.version + 1 })
    return versioned ? doc.version + 1 : undefined
  }
}

const fullOfNotes = (author: string) => Array.from({ length: NOTES_CAP }, (_, i) => ({ at: `2026-11-30T${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00.000Z`, author, text: `note ${i}` }))

describe('?wait=true on a record holding as many notes as a document keeps', () => {
  it('answers 200 visible once the note is the latest of a newer version, though the count of notes stays 100', async () => {
    const r = await startReview({ beforeAnswer: applied() })
    const alias = indexNames(r.prefix).incidents.alias
    await indexVersion(r.es, r.prefix, { ...(await indexed(r.es, alias, OPEN)), notes: fullOfNotes('dana'), version: 2 })
    const answer = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, { note: 'the 101st note' })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ visible: true, decisions: [expect.objectContaining({ type: 'incident.note', outcome: 'accepted' })] })
    expect(answer.body.document.notes).toHaveLength(NOTES_CAP)
    expect(answer.body.document.notes.at(-1)).toMatchObject({ author: 'dana', text: 'the 101st note' })
    // Answered when it showed, not when the wait ran out.
    expect(answer.ms).toBeLessThan(WAIT_MS)
  })

  it('does the same for a problem whose document was shortened to fit Kafka and holds fewer notes than before', async () => {
    const r = await startReview({ beforeAnswer: applied(40) })
    const alias = indexNames(r.prefix).problems.alias
    await indexVersion(r.es, r.prefix, { ...(await indexed(r.es, alias, PROBLEM)), notes: fullOfNotes('erin'), version: 2 })
    const answer = await r.call('PATCH', `/api/v1/problems/${PROBLEM}?wait=true`, { note: 'the 101st note', owner: 'dana' })
    expect(answer.status).toBe(200)
    // The assignment is a version of its own, before the note's: visible once both show.
    expect(answer.body.document).toMatchObject({ owner: 'dana', version: 4 })
    expect(answer.body.document.notes).toHaveLength(40)
    expect(answer.body.document.notes.at(-1)).toMatchObject({ author: 'dana', text: 'the 101st note' })
    expect(answer.ms).toBeLessThan(WAIT_MS)
  })
})

/** A correlator that takes its time: it answers nothing until `release()`. */
function held() {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  return { release, gate }
}

/** Sends the request and hangs up once the correlator has the command, before it answers. */
async function hangUp(r: Awaited<ReturnType<typeof startReview>>, path: string, body: unknown, key: string) {
  const client = new AbortController()
  const sent = fetch(`${r.url}${path}`, { method: 'PATCH', signal: client.signal, headers: { authorization: 'Bearer secret1', 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) })
  await waitFor(() => (r.seen.length === 1 && r.decisions.waiting === 1 ? true : undefined), { what: 'the command on the topic and the request waiting for its outcome' })
  client.abort()
  await expect(sent).rejects.toThrow()
  await waitFor(() => (r.decisions.waiting === 0 ? true : undefined), { what: 'the wait ended by the hang-up' })
  return r.seen[0]!.id
}

describe('a keyed ?wait=true whose client hung up before the outcome', () => {
  const RESOLVED = seededIncidentIds[1]!

  it('answers its retry with the refusal that came since, publishing nothing again, and keeps that final answer', async () => {
    const correlator = held()
    const r = await startReview({ beforeAnswer: () => correlator.gate })
    const commandId = await hangUp(r, `/api/v1/incidents/${RESOLVED}?wait=true`, { resolve: true }, 'resolve-after-hang-up')
    correlator.release()
    await waitFor(() => (r.decisions.get(commandId)?.outcome === 'refused' ? true : undefined), { what: 'the refusal read back' })
    const retry = await r.call('PATCH', `/api/v1/incidents/${RESOLVED}?wait=true`, { resolve: true }, { 'idempotency-key': 'resolve-after-hang-up' })
    expect(retry).toMatchObject({ status: 409, replayed: true, body: { code: 'DECISION_REFUSED', commandIds: [commandId], decisions: [expect.objectContaining({ outcome: 'refused', error: 'incident is already resolved' })] } })
    // A retry without ?wait=true is told the same, from the answer kept now.
    const again = await r.call('PATCH', `/api/v1/incidents/${RESOLVED}`, { resolve: true }, { 'idempotency-key': 'resolve-after-hang-up' })
    expect(again).toMatchObject({ status: 409, replayed: true, body: retry.body })
    expect(r.publishes()).toBe(1)
    expect(r.seen).toHaveLength(1)
  })

  it('answers its retry 200 once the decision shows, waiting for it again without publishing it again', async () => {
    const correlator = held()
    const apply = applied()
    const r = await startReview({ beforeAnswer: async (c, ctx) => { await correlator.gate; await apply(c, ctx) } })
    await hangUp(r, `/api/v1/incidents/${OPEN}?wait=true`, { note: 'said before hanging up' }, 'note-after-hang-up')
    // The retry comes before the correlator answers: it waits for the outcome again, as the first request did.
    const retrying = r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, { note: 'said before hanging up' }, { 'idempotency-key': 'note-after-hang-up' })
    setTimeout(correlator.release, 300)
    const retry = await retrying
    expect(retry).toMatchObject({ status: 200, replayed: true, body: { visible: true, decisions: [expect.objectContaining({ outcome: 'accepted' })] } })
    expect(retry.body.document.notes.at(-1)).toMatchObject({ author: 'dana', text: 'said before hanging up' })
    expect(r.publishes()).toBe(1)
    expect(r.seen).toHaveLength(1)
  })
})

describe('a keyed ?wait=true whose client hung up while it was being published', () => {
  it('does not wait for an outcome no one will read: the key keeps the answer at once, and its retry reads it', async () => {
    const publishing = held()
    let entered!: () => void
    const reached = new Promise<void>((resolve) => { entered = resolve })
    let closed!: () => void
    const heardHangUp = new Promise<void>((resolve) => { closed = resolve })
    const r = await startReview({ beforePublish: async () => { entered(); await publishing.gate }, onResponseClosed: () => closed() })
    // Whether each wait for the correlator's outcome was told the client had gone before it began.
    const toldGone: boolean[] = []
    const waitForOutcome = r.decisions.waitFor.bind(r.decisions)
    r.decisions.waitFor = (ids, ms, signal) => { toldGone.push(signal?.aborted === true); return waitForOutcome(ids, ms, signal) }
    const client = new AbortController()
    const sent = fetch(`${r.url}/api/v1/incidents/${OPEN}?wait=true`, { method: 'PATCH', signal: client.signal, headers: { authorization: 'Bearer secret1', 'content-type': 'application/json', 'idempotency-key': 'hung-up-while-publishing' }, body: JSON.stringify({ note: 'said while it was sent' }) })
    await reached
    client.abort()
    await expect(sent).rejects.toThrow()
    // The publish ends only once the server has heard the hang-up.
    await heardHangUp
    publishing.release()
    await waitFor(() => (r.publishes() === 1 && toldGone.length === 1 ? true : undefined), { what: 'the command published and its wait begun' })
    expect(toldGone).toEqual([true])
    expect(r.decisions.waiting).toBe(0)
    // Kept as awaiting its outcome, not held in flight for the wait's whole timeout.
    const retry = await r.call('PATCH', `/api/v1/incidents/${OPEN}`, { note: 'said while it was sent' }, { 'idempotency-key': 'hung-up-while-publishing' })
    expect(retry).toMatchObject({ status: 202, replayed: true, body: { commandIds: [r.seen[0]!.id] } })
    expect(r.publishes()).toBe(1)
  })
})

describe('?wait=true on a note like one the document holds already', () => {
  it('waits for its own note (author, text and time), not an earlier one of the same words that another change brought to a newer version', async () => {
    // The engine applies the assignment and the note; the assignment's version is indexed at once, the note's
    // later (an indexer behind the correlator's results).
    const r = await startReview({ beforeAnswer: async (c, ctx) => {
      if (c.type.endsWith('.assign')) await applied()(c, ctx)
      else setTimeout(() => void applied()(c, ctx), 1_000)
    } })
    const alias = indexNames(r.prefix).incidents.alias
    const earlier = { at: '2026-11-30T09:00:00.000Z', author: 'dana', text: 'still investigating' }
    await indexVersion(r.es, r.prefix, { ...(await indexed(r.es, alias, OPEN)), notes: [earlier], version: 2 })
    const answer = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, { owner: 'bob', note: 'still investigating' })
    const note = r.seen.find((c) => c.type === 'incident.note')!
    expect(answer.status).toBe(200)
    expect(answer.body.document).toMatchObject({ owner: 'bob', version: 4 })
    expect(answer.body.document.notes).toEqual([earlier, { at: note.at, author: 'dana', text: 'still investigating' }])
  })
})

describe('?wait=true on a note that is not the latest of the version that shows it', () => {
  /** Applies the note as the engine does, with `after` notes of others applied before the version is indexed. */
  const withOthers = (after: number, keep = NOTES_CAP) => async (c: SeenCommand, { es, prefix }: { es: Client; prefix: string }) => {
    if (!c.type.endsWith('.note')) return
    const doc = await indexed(es, indexNames(prefix).incidents.alias, c.target)
    const others = Array.from({ length: after }, (_, i) => ({ at: String(c.at), author: 'erin', text: `right after ${i}` }))
    const notes = [...doc.notes, { at: String(c.at), author: String(c.actor), text: String(c.text) }, ...others].slice(-Math.min(keep, NOTES_CAP))
    await indexVersion(es, prefix, { ...doc, notes, version: doc.version + 1 + after })
  }

  it('answers 200 visible when its note is in the version though another note came after it, and a keyed retry replays that', async () => {
    const r = await startReview({ beforeAnswer: withOthers(1) })
    const answer = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, { note: 'mine' }, { 'idempotency-key': 'not-the-latest' })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ visible: true, document: { version: 3 } })
    expect(answer.body.document.notes.map((n: Json) => n.text)).toEqual(['mine', 'right after 0'])
    expect(answer.ms).toBeLessThan(WAIT_MS)
    const retry = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, { note: 'mine' }, { 'idempotency-key': 'not-the-latest' })
    expect(retry).toMatchObject({ status: 200, replayed: true, body: answer.body })
    expect(retry.ms).toBeLessThan(WAIT_MS)
    expect(r.publishes()).toBe(1)
  })

  it('answers 200 visible when the notes after it pushed it and every note read before out of the 100 kept', async () => {
    const r = await startReview({ beforeAnswer: withOthers(NOTES_CAP) })
    const alias = indexNames(r.prefix).incidents.alias
    await indexVersion(r.es, r.prefix, { ...(await indexed(r.es, alias, OPEN)), notes: fullOfNotes('dana'), version: 2 })
    const answer = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, { note: 'pushed out' })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ visible: true, document: { version: 2 + 1 + NOTES_CAP } })
    expect(answer.body.document.notes.every((n: Json) => n.author === 'erin')).toBe(true)
    expect(answer.ms).toBeLessThan(WAIT_MS)
  })

  it('does the same when the document was shortened to fit Kafka down to notes that came after it', async () => {
    const r = await startReview({ beforeAnswer: withOthers(3, 2) })
    const alias = indexNames(r.prefix).incidents.alias
    await indexVersion(r.es, r.prefix, { ...(await indexed(r.es, alias, OPEN)), notes: fullOfNotes('dana').slice(0, 5), version: 2 })
    const answer = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, { note: 'cut' })
    expect(answer.status).toBe(200)
    expect(answer.body.document.notes.map((n: Json) => n.text)).toEqual(['right after 1', 'right after 2'])
    expect(answer.ms).toBeLessThan(WAIT_MS)
  })
})

describe('keyed retries of a ?wait=true answered before the outcome', () => {
  /** Elasticsearch whose next refresh takes `slowMs` and fails, or whose refreshes all fail while `down`. */
  function failingRefresh() {
    const state = { slowOnce: 0, down: false }
    const wrap = (es: Client): Client => {
      const indices = new Proxy(es.indices, { get(t, p, receiver) {
        if (p !== 'refresh') return Reflect.get(t, p, receiver) as unknown
        return async (...args: Parameters<Client['indices']['refresh']>) => {
          if (state.slowOnce > 0) { const ms = state.slowOnce; state.slowOnce = 0; await new Promise((res) => setTimeout(res, ms)); throw new Error('refresh timed out') }
          if (state.down) throw new Error('Elasticsearch down')
          return t.refresh(...args)
        }
      } })
      return new Proxy(es, { get: (t, p, receiver) => (p === 'indices' ? indices : Reflect.get(t, p, receiver) as unknown) })
    }
    return { state, wrap }
  }

  it('keeps the final 200 one retry found when a slower retry of the same key ends without the outcome', async () => {
    const correlator = held()
    const apply = applied()
    const es = failingRefresh()
    const r = await startReview({ beforeAnswer: async (c, ctx) => { await correlator.gate; await apply(c, ctx) }, esWrap: es.wrap })
    const body = { note: 'raced' }
    const commandId = await hangUp(r, `/api/v1/incidents/${OPEN}?wait=true`, body, 'raced-retries')
    correlator.release()
    await waitFor(() => (r.decisions.get(commandId)?.outcome === 'accepted' ? true : undefined), { what: 'the note accepted' })
    // The slow retry reads the kept 202 first, and fails after the fast one has kept its 200.
    es.state.slowOnce = 1_500
    const slow = r.call('PATCH', `/api/v1/incidents/${OPEN}`, body, { 'idempotency-key': 'raced-retries' })
    await waitFor(() => (es.state.slowOnce === 0 ? true : undefined), { what: 'the slow retry refreshing' })
    const fast = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, body, { 'idempotency-key': 'raced-retries' })
    expect(fast).toMatchObject({ status: 200, replayed: true, body: { visible: true } })
    const slowAnswer = await slow
    // The 200 is kept: a retry while Elasticsearch is down replays it, not the 202 of the slow retry's failed look.
    es.state.down = true
    const later = await r.call('PATCH', `/api/v1/incidents/${OPEN}`, body, { 'idempotency-key': 'raced-retries' })
    expect(later).toMatchObject({ status: 200, replayed: true, body: fast.body })
    // The slow one is told the final answer kept since it looked.
    expect(slowAnswer).toMatchObject({ status: 200, replayed: true, body: fast.body })
    expect(r.publishes()).toBe(1)
  })

  it('answers no 200 while an outcome is pending, though another command of the request made a newer version: the correlator may yet refuse it', async () => {
    const correlator = held()
    const RESOLVED = seededIncidentIds[1]!
    const apply = applied()
    // The note is applied at once; the resolve of an incident resolved already waits, and is then refused.
    const r = await startReview({ beforeAnswer: async (c, ctx) => { if (c.type.endsWith('.note')) await apply(c, ctx); else await correlator.gate } })
    const body = { note: 'done', resolve: true }
    const first = await r.call('PATCH', `/api/v1/incidents/${RESOLVED}?wait=true`, body, { 'idempotency-key': 'note-and-resolve' })
    expect(first).toMatchObject({ status: 202, body: { visible: false, decisions: [{ outcome: 'accepted' }, { outcome: 'pending' }] } })
    correlator.release()
    await waitFor(() => (r.decisions.get(r.seen[1]!.id)?.outcome === 'refused' ? true : undefined), { what: 'the resolve refused' })
    expect(await r.call('PATCH', `/api/v1/incidents/${RESOLVED}?wait=true`, body, { 'idempotency-key': 'note-and-resolve' })).toMatchObject({ status: 409, replayed: true })
    expect(r.publishes()).toBe(1)
  })

  it('counts the note shown when the retry of a publish that failed but reached Kafka sent it again with a new time', async () => {
    // The correlator applies a command id once, with the time of its first copy.
    const appliedIds = new Set<string>()
    const apply = applied()
    const r = await startReview({ failPublish: (n) => n === 1, beforeAnswer: async (c, ctx) => { if (!appliedIds.has(c.id)) { appliedIds.add(c.id); await apply(c, ctx) } } })
    const body = { note: 'once' }
    expect((await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, body, { 'idempotency-key': 'republished' })).status).toBe(503)
    const retry = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, body, { 'idempotency-key': 'republished' })
    // The retry is answered by the first copy's outcome, which may come before the stand-in reads the second.
    await waitFor(() => (r.seen.length >= 2 ? true : undefined), { what: 'the second copy read from Kafka' })
    expect(r.seen.map((c) => c.id)).toEqual([r.seen[0]!.id, r.seen[0]!.id])
    expect(r.seen[1]!.at).not.toBe(r.seen[0]!.at)
    expect(retry).toMatchObject({ status: 200, body: { visible: true } })
    expect(retry.body.document.notes.at(-1)).toMatchObject({ author: 'dana', text: 'once', at: r.seen[0]!.at })
  })

  it('answers a keyed retry 200 when its first copy\'s note is indexed already: by the version the correlator said shows it', async () => {
    const appliedIds = new Map<string, number | undefined>()
    const apply = applied(NOTES_CAP, true)
    const r = await startReview({ failPublish: (n) => n === 1, beforeAnswer: async (c, ctx) => { if (!appliedIds.has(c.id)) appliedIds.set(c.id, await apply(c, ctx)); return appliedIds.get(c.id) } })
    const body = { note: 'said once' }
    expect((await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, body, { 'idempotency-key': 'lost-ack' })).status).toBe(503)
    // Applied and indexed before the retry reads the record: the note is among the notes it reads first.
    const alias = indexNames(r.prefix).incidents.alias
    await waitFor(async () => ((await indexed(r.es, alias, OPEN)).notes.some((n) => n.text === 'said once') ? true : undefined), { what: 'the first copy indexed' })
    const retry = await r.call('PATCH', `/api/v1/incidents/${OPEN}?wait=true`, body, { 'idempotency-key': 'lost-ack' })
    expect(retry).toMatchObject({ status: 200, body: { visible: true, decisions: [{ outcome: 'accepted', version: expect.any(Number) }] } })
    expect(retry.body.document.version).toBeGreaterThanOrEqual(retry.body.decisions[0].version)
    expect(retry.body.document.notes.filter((n: { text: string }) => n.text === 'said once')).toHaveLength(1)
    // Not by waiting the whole timeout out.
    expect(retry.ms).toBeLessThan(WAIT_MS)
  })

  it('is not counted shown while its outcome is pending and the record only looks as decided already', async () => {
    const correlator = held()
    const r = await startReview({ beforeAnswer: () => correlator.gate })
    const RESOLVED = seededIncidentIds[1]!
    const commandId = await hangUp(r, `/api/v1/incidents/${RESOLVED}?wait=true`, { resolve: true }, 'resolve-pending')
    // The record is resolved already, and the resolve will be refused: pending, it is not taken as shown.
    const pending = await r.call('PATCH', `/api/v1/incidents/${RESOLVED}`, { resolve: true }, { 'idempotency-key': 'resolve-pending' })
    expect(pending).toMatchObject({ status: 202, replayed: true, body: { visible: false, decisions: [{ commandId, outcome: 'pending' }] } })
    correlator.release()
    await waitFor(() => (r.decisions.get(commandId)?.outcome === 'refused' ? true : undefined), { what: 'the refusal read back' })
    expect(await r.call('PATCH', `/api/v1/incidents/${RESOLVED}`, { resolve: true }, { 'idempotency-key': 'resolve-pending' })).toMatchObject({ status: 409, replayed: true })
  })
})
