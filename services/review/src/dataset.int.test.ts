import { Client } from '@elastic/elasticsearch'
import { describe, expect, it, onTestFinished } from 'vitest'
import { bulkAction, incidentDocument, problemDocument } from '@opsreview/search-index/documents'
import { incidentMappings, indexNames, problemMappings } from '@opsreview/search-index/templates'
import { readTopicToEnd, serve } from '@opsreview/testing'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { at, incident, NOW, seedSmallReview } from './fuzz-seed.ts'
import { commandsOnKafka } from './test-review-kafka.ts'

// Response bodies are asserted field by field; typing each shape here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

const READ = 'read-token'
const WRITE = 'write-token'

/**
 * Live: the three seeded incidents and one problem (fuzz-seed.ts). The what-if dataset `tuned`, laid out
 * as `opsreview replay --index tuned` lays it out (packages/replay/src/dataset.ts): one incident that
 * merged checkout and search, and a shared-cause problem the live run does not have.
 */
async function startWithDataset() {
  const { es, prefix } = await seedSmallReview()
  const scratch = indexNames(`${prefix}-whatif-tuned`)
  for (const [names, mappings] of [[scratch.incidents, incidentMappings], [scratch.problems, problemMappings]] as const) {
    await es.indices.create({ index: names.first, mappings, settings: { number_of_shards: 1, number_of_replicas: 0 }, aliases: { [names.alias]: { is_write_index: true } } })
  }
  const merged = incident(9, { title: 'Checkout and search together', services: ['checkout', 'search'], openedAt: at(4), resolvedAt: at(3), problemIds: ['prb-0000000000000000000000ff'] })
  const problem = { id: 'prb-0000000000000000000000ff', kind: 'shared-cause', status: 'candidate', title: 'checkout, search failing together on host=h9', signature: '{"kind":"shared-cause"}', services: ['checkout', 'search'], environment: 'production', incidentIds: [merged.id], incidentCount: 1, firstSeenAt: at(4), lastSeenAt: at(4), owner: null, notes: [], version: 1 }
  const ops = [incidentDocument(scratch.incidents.alias)(JSON.stringify(merged)), problemDocument(scratch.problems.alias)(JSON.stringify(problem))]
  const r = await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })
  expect(r.errors).toBe(false)

  const { kafka, commandsTopic, logger, commands } = await commandsOnKafka()
  onTestFinished(async () => { await es.close() })
  const url = await serve(createReviewApp({
    es, commands, commandsTopic, logger, clock: () => new Date(NOW), readTokens: [READ], writeTokens: [WRITE], indexPrefix: prefix,
    waitTimeoutMs: 500, publicDir: defaultPublicDir, deadLetters: async () => { throw new Error('not counted here') },
  }))
  const call = async (path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<{ status: number; body: Json; type: string }> => {
    const res = await fetch(`${url}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${init.token ?? READ}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    })
    const type = res.headers.get('content-type') ?? ''
    return { status: res.status, body: type.includes('json') ? await res.json() : await res.text(), type }
  }
  return { call, merged, problem, kafka, commandsTopic }
}

describe('?dataset= on the review API (real Elasticsearch and Kafka)', () => {
  it('reads a what-if dataset on search, incident, problem and review endpoints, and the live indices without it', async () => {
    const { call, merged, problem } = await startWithDataset()

    const live = await call('/api/v1/incidents')
    expect(live.body.total).toBe(3)
    const whatIf = await call('/api/v1/incidents?dataset=tuned&sort=openedAt:desc')
    expect(whatIf.status).toBe(200)
    expect(whatIf.body.items.map((i: { id: string }) => i.id)).toEqual([merged.id])

    const one = await call(`/api/v1/incidents/${merged.id}?dataset=tuned`)
    expect(one.status).toBe(200)
    expect(one.body.incident.title).toBe('Checkout and search together')
    // The dataset's incident is not live, and a live one is not in the dataset.
    expect((await call(`/api/v1/incidents/${merged.id}`)).status).toBe(404)
    expect((await call('/api/v1/incidents/inc-000000000000000000000001?dataset=tuned')).status).toBe(404)

    const problems = await call('/api/v1/problems?dataset=tuned')
    expect(problems.body.items.map((p: { id: string }) => p.id)).toEqual([problem.id])
    const p = await call(`/api/v1/problems/${problem.id}?dataset=tuned`)
    expect(p.body.incidents.map((i: { id: string }) => i.id)).toEqual([merged.id])

    const review = await call('/api/v1/review?since=24h&dataset=tuned')
    expect(review.status).toBe(200)
    expect(review.body.dataset).toBe('tuned')
    expect(review.body.newIncidents.items.map((i: { id: string }) => i.id)).toEqual([merged.id])
    expect(review.body.problems.items.map((i: { id: string }) => i.id)).toEqual([problem.id])
    expect((await call('/api/v1/review?since=24h')).body).toMatchObject({ dataset: null, newIncidents: { total: 2 } })

    const md = await call('/api/v1/review.md?since=24h&dataset=tuned')
    expect(md.body).toMatch(/^> What-if dataset tuned: a replay with another configuration, not the live review\.\n\n/)
  })

  it('a missing dataset is 404, a malformed or repeated one 400 naming dataset, on every read endpoint', async () => {
    const { call, merged } = await startWithDataset()
    for (const path of ['/api/v1/incidents', `/api/v1/incidents/${merged.id}`, '/api/v1/problems', '/api/v1/problems/prb-0000000000000000000000ff', '/api/v1/review', '/api/v1/review.md', '/api/v1/whoami']) {
      const missing = await call(`${path}?dataset=nope`)
      expect(missing.status, path).toBe(404)
      expect(missing.type).toContain('application/problem+json')
      expect(missing.body).toMatchObject({ code: 'DATASET_NOT_FOUND', detail: 'There is no what-if dataset nope: write one with opsreview replay --index nope', errors: [{ path: '/dataset', message: 'names no what-if dataset' }] })
      const bad = await call(`${path}?dataset=Prod_1`)
      expect(bad.status, path).toBe(400)
      expect(bad.body.errors).toEqual([{ path: '/dataset', message: 'must be a what-if dataset name: 1 to 40 characters a-z, 0-9 and -' }])
      const twice = await call(`${path}?dataset=tuned&dataset=tuned`)
      expect(twice.status, path).toBe(400)
      expect(twice.body.errors).toEqual([{ path: '/dataset', message: 'must be given once' }])
    }
  })

  it('names a bad query with a 400 whatever the dataset names, and before looking it up: even with Elasticsearch down', async () => {
    const { call } = await startWithDataset()
    for (const path of ['/api/v1/review?tz=Mars/Base&dataset=nope', '/api/v1/review.md?since=yesterday-9&dataset=nope', '/api/v1/lookback?period=month&tz=Mars/Base&dataset=nope', '/api/v1/incidents?size=0&dataset=nope']) {
      const r = await call(path)
      expect(r.status, path).toBe(400)
      expect(r.body.errors.map((e: { path: string }) => e.path), path).not.toContain('/dataset')
    }
    // Nothing listens on port 1: the dataset could not be looked up, and the bad query is still a 400, not a 503.
    const { logger, commands, commandsTopic } = await commandsOnKafka()
    const down = new Client({ node: 'http://127.0.0.1:1', maxRetries: 0, requestTimeout: 2000 })
    onTestFinished(async () => { await down.close() })
    const url = await serve(createReviewApp({
      es: down, commands, commandsTopic, logger, clock: () => new Date(NOW), readTokens: [READ], writeTokens: [WRITE], indexPrefix: 'opsreview-down',
      waitTimeoutMs: 500, publicDir: defaultPublicDir, deadLetters: async () => { throw new Error('not counted here') },
    }))
    const get = (path: string) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${READ}` } })
    expect((await get('/api/v1/review?tz=Mars/Base&dataset=nope')).status).toBe(400)
    expect((await get('/api/v1/lookback?period=month&tz=Mars/Base&dataset=nope')).status).toBe(400)
    // A good query on a dataset that cannot be looked up: Elasticsearch is down, a 503.
    expect((await get('/api/v1/review?dataset=nope')).status).toBe(503)
  })

  it('decisions on a dataset are refused with 409 and nothing is published', async () => {
    const { call, merged, problem, kafka, commandsTopic } = await startWithDataset()
    const incidentPatch = await call(`/api/v1/incidents/${merged.id}?dataset=tuned`, { method: 'PATCH', token: WRITE, body: { actor: 'dana', owner: 'erin' } })
    expect(incidentPatch.status).toBe(409)
    expect(incidentPatch.body).toMatchObject({ code: 'DATASET_READ_ONLY', errors: [{ path: '/dataset', message: 'decisions cannot be taken on a what-if dataset' }] })
    const problemPatch = await call(`/api/v1/problems/${problem.id}?dataset=tuned`, { method: 'PATCH', token: WRITE, body: { actor: 'dana', action: 'confirm' } })
    expect(problemPatch.status).toBe(409)
    // A live decision still goes through: the topic then holds exactly that one command.
    const livePatch = await call('/api/v1/incidents/inc-000000000000000000000001', { method: 'PATCH', token: WRITE, body: { actor: 'dana', owner: 'erin' } })
    expect(livePatch.status).toBe(202)
    const published = await readTopicToEnd(kafka, commandsTopic)
    expect(published.map((m) => JSON.parse(m.value).target)).toEqual(['inc-000000000000000000000001'])
  })
})
