// A decision taken from a stale view: If-Match names the version the person read (the ETag of the GET), and a
// document that changed since is answered 412, nothing published. Without it, a confirm from a view that showed
// a candidate, reaching a problem someone confirmed and resolved meanwhile, reopened it (the correlator takes
// problem.confirm on a resolved problem as "the fix did not hold": commands.ts, comeBack) and counted a
// come-back nobody meant. On the real Kafka and Elasticsearch, with an applier that changes the documents as
// the correlator does and answers with their new version.
import { describe, expect, it } from 'vitest'
import { bulkAction, incidentDocument, problemDocument } from '@opsreview/search-index/documents'
import { indexNames } from '@opsreview/search-index/templates'
import { readTopicToEnd, serve } from '@opsreview/testing'
import { createReviewApp } from './app.ts'
import { at, incident } from './fuzz-seed.ts'
import { applyingToIndex, correlatorStandIn, decisionsOnKafka, reviewDeps, type SeenCommand } from './test-review-kafka.ts'

// Response bodies are asserted field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const PROBLEM = 'prb-0000000000000000000000f1'
const problemDoc = { id: PROBLEM, kind: 'recurring', status: 'candidate', title: 'Checkout latency keeps coming back', signature: 'production|checkout|HighLatency', services: ['checkout'], environment: 'production', incidentIds: [], incidentCount: 3, firstSeenAt: at(100), lastSeenAt: at(3), owner: null, notes: [], reopenCount: 0, version: 3 }
const openIncident = incident(0xf2, { title: 'Checkout errors', status: 'open', resolvedAt: null, resolvedBy: null, version: 5 })

async function start() {
  const on = await decisionsOnKafka()
  const names = indexNames(on.prefix)
  const p = problemDocument(names.problems.alias)(JSON.stringify(problemDoc))
  const i = incidentDocument(names.incidents.alias)(JSON.stringify(openIncident))
  expect((await on.es.bulk({ refresh: true, operations: [bulkAction(p), p.document, bulkAction(i), i.document] })).errors).toBe(false)
  await correlatorStandIn(on.kafka, on.commandsTopic, on.resultsTopic, new Set(), { beforeAnswer: applyingToIndex(on.es, on.prefix) })
  const deps = reviewDeps(on, { waitTimeoutMs: 15_000 })
  const url = await serve(createReviewApp(deps))
  const get = async (path: string) => {
    const res = await fetch(`${url}${path}`, { headers: { authorization: 'Bearer secret1' } })
    expect(res.status).toBe(200)
    return { etag: res.headers.get('etag'), body: (await res.json()) as Json }
  }
  const patch = async (path: string, body: object, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}?wait=true`, { method: 'PATCH', headers: { authorization: 'Bearer secret1', 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    return { status: res.status, etag: res.headers.get('etag'), type: res.headers.get('content-type'), replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as Json }
  }
  /** The commands published for `target`, read off the topic to its end. */
  const published = async (target: string) => (await readTopicToEnd(on.kafka, on.commandsTopic)).map((m) => JSON.parse(m.value!) as SeenCommand).filter((c) => c.target === target)
  return { on, deps, url, get, patch, published }
}

describe('If-Match on a decision', () => {
  it('refuses 412 a confirm from a view older than a resolve: the problem stays resolved, not reopened', async () => {
    const { get, patch, published } = await start()
    // A's dashboard shows the candidate.
    const seenByA = await get(`/api/v1/problems/${PROBLEM}`)
    expect(seenByA.etag).toBe('"3"')
    expect(seenByA.body.problem).toMatchObject({ status: 'candidate', version: 3 })
    // Meanwhile B confirms it and resolves it, each from the version the answer before gave back.
    const confirmed = await patch(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' }, { 'if-match': '"3"' })
    expect(confirmed).toMatchObject({ status: 200, body: { visible: true, document: { status: 'confirmed', version: 4 } } })
    const resolved = await patch(`/api/v1/problems/${PROBLEM}`, { action: 'resolve' }, { 'if-match': `"${confirmed.body.document.version}"` })
    expect(resolved).toMatchObject({ status: 200, body: { visible: true, document: { status: 'resolved', version: 5 } } })
    // A clicks Confirm on what A saw.
    const stale = await patch(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' }, { 'if-match': seenByA.etag! })
    expect(stale.status).toBe(412)
    expect(stale.type).toContain('application/problem+json')
    expect(stale.etag).toBe('"5"')
    expect(stale.body).toMatchObject({ status: 412, code: 'PRECONDITION_FAILED', current: { version: 5, status: 'resolved' } })
    expect(stale.body.errors).toEqual([{ path: 'header:if-match', message: expect.stringMatching(/version 3.*version 5.*resolved/) }])
    expect(stale.body.detail).toMatch(/version 5, resolved/)
    // Nothing published: two confirms would be B's and A's; B's alone is on the topic.
    expect((await published(PROBLEM)).map((c) => c.type)).toEqual(['problem.confirm', 'problem.resolve'])
    const after = await get(`/api/v1/problems/${PROBLEM}`)
    expect(after.body.problem).toMatchObject({ status: 'resolved', version: 5, reopenCount: 0 })
    expect(after.etag).toBe('"5"')
  })

  it('takes a decision whose If-Match names the version it is at, or *, and one without If-Match as before', async () => {
    const { get, patch } = await start()
    const { etag } = await get(`/api/v1/problems/${PROBLEM}`)
    expect(await patch(`/api/v1/problems/${PROBLEM}`, { owner: 'dana' }, { 'if-match': `"1", ${etag!}` })).toMatchObject({ status: 200, body: { document: { owner: 'dana', version: 4 } } })
    expect(await patch(`/api/v1/problems/${PROBLEM}`, { owner: 'erik' }, { 'if-match': '*' })).toMatchObject({ status: 200, body: { document: { owner: 'erik', version: 5 } } })
    expect(await patch(`/api/v1/problems/${PROBLEM}`, { owner: 'fay' })).toMatchObject({ status: 200, body: { document: { owner: 'fay', version: 6 } } })
    // A weak tag never matches (the comparison is strong).
    expect(await patch(`/api/v1/problems/${PROBLEM}`, { owner: 'gus' }, { 'if-match': 'W/"6"' })).toMatchObject({ status: 412, body: { current: { version: 6 } } })
  })

  it('refuses a malformed If-Match 400 naming it, before anything is read or published', async () => {
    const { patch, published } = await start()
    for (const value of ['3', '"3', 'abc', '"3";"4"']) {
      const r = await patch(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' }, { 'if-match': value })
      expect(r.status, value).toBe(400)
      expect(r.body.errors, value).toEqual([{ path: 'header:if-match', message: expect.any(String) }])
    }
    expect(await published(PROBLEM)).toEqual([])
  })

  it('answers a keyed retry of a decision taken its outcome, not 412, here and on an instance that does not keep the key', async () => {
    const { deps, get, patch } = await start()
    const { etag } = await get(`/api/v1/problems/${PROBLEM}`)
    const headers = { 'if-match': etag!, 'idempotency-key': 'confirm-f1-once' }
    const first = await patch(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' }, headers)
    expect(first).toMatchObject({ status: 200, body: { document: { status: 'confirmed', version: 4 } } })
    // Its answer was lost: the retry names the version read before the decision, which the decision moved on.
    const retried = await patch(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' }, headers)
    expect(retried).toMatchObject({ status: 200, replayed: 'true', body: { commandIds: first.body.commandIds, decisions: [expect.objectContaining({ outcome: 'accepted' })] } })
    // Another instance behind the same address keeps no key; the decision log says the decision was published.
    const other = await serve(createReviewApp(deps))
    const res = await fetch(`${other}/api/v1/problems/${PROBLEM}?wait=true`, { method: 'PATCH', headers: { authorization: 'Bearer secret1', 'content-type': 'application/json', ...headers }, body: JSON.stringify({ action: 'confirm' }) })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ commandIds: first.body.commandIds, decisions: [expect.objectContaining({ outcome: 'accepted' })], visible: true })
    // The same body under a new key is a new decision, and meets the precondition.
    expect(await patch(`/api/v1/problems/${PROBLEM}`, { action: 'confirm' }, { ...headers, 'idempotency-key': 'confirm-f1-again' })).toMatchObject({ status: 412, body: { current: { version: 4, status: 'confirmed' } } })
    const after = await get(`/api/v1/problems/${PROBLEM}`)
    expect(after.body.problem).toMatchObject({ status: 'confirmed', version: 4, reopenCount: 0 })
  })

  it('refuses 412 an incident decision from a stale view, and answers the incident with its version as ETag', async () => {
    const { url, get, patch, published } = await start()
    const seen = await get(`/api/v1/incidents/${openIncident.id}`)
    expect(seen.etag).toBe('"5"')
    expect(await patch(`/api/v1/incidents/${openIncident.id}`, { resolve: true }, { 'if-match': seen.etag! })).toMatchObject({ status: 200, body: { document: { status: 'resolved', version: 6 } } })
    const stale = await patch(`/api/v1/incidents/${openIncident.id}`, { owner: 'dana', acknowledge: true }, { 'if-match': seen.etag! })
    expect(stale).toMatchObject({ status: 412, etag: '"6"', body: { code: 'PRECONDITION_FAILED', current: { version: 6, status: 'resolved' }, errors: [{ path: 'header:if-match' }] } })
    expect((await published(openIncident.id)).map((c) => c.type)).toEqual(['incident.resolve'])
    // If-None-Match is no cache validator here: the timeline changes without a new version.
    const again = await fetch(`${url}/api/v1/incidents/${openIncident.id}`, { headers: { authorization: 'Bearer secret1', 'if-none-match': '"6"' } })
    expect(again.status).toBe(200)
    expect(again.headers.get('etag')).toBe('"6"')
  })
})
