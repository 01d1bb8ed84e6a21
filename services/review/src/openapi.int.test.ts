import { createRequire } from 'node:module'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import type { Express } from 'express'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { alertDocument, bulkAction, incidentDocument, problemDocument, type DocumentFor } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { cachedDeadLetterCount, countDeadLetters } from '@opsreview/review/dead-letters'
import { openApiDocument, openApiPath } from '@opsreview/review/openapi'
import { captureLogs, cleanupIndices, createTopics, esClient, kafkaClient, repoRoot, serve, uniqueName } from '@opsreview/testing'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { createReviewMetrics } from './metrics.ts'
import { at, incident, NOW } from './fuzz-seed.ts'

// ajv is a dependency of @opsreview/schemas, not of this service: its 2020-12 build (the dialect of
// OpenAPI 3.1) is loaded from there rather than installed twice.
const fromSchemas = createRequire(`${repoRoot}/packages/schemas/package.json`)
const { Ajv2020 } = fromSchemas('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js')
const addFormats = fromSchemas('ajv-formats') as (ajv: InstanceType<typeof Ajv2020>) => void

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any
const READ = 'read-token'
const WRITE = 'write-token'
const H = 3_600_000
const DOC_ID = 'urn:opsreview:review-openapi'
const doc = openApiDocument as Json

/** An answer is checked against the schema the document gives for its route, method, status and content type. */
function responseValidator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  // The embedded schemas of schemas/ keep their $ids: registered, their relative $refs resolve among them.
  for (const s of Object.values(doc.components.schemas) as Json[]) if (s.$id) ajv.addSchema(s)
  ajv.addSchema(doc, DOC_ID)
  const pointer = (...parts: string[]) => parts.map((p) => encodeURIComponent(p.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/')
  return (path: string, method: string, status: number, contentType: string, body: unknown): string[] => {
    const op = doc.paths[path]?.[method]
    if (!op) return [`${method} ${path} is not documented`]
    const response = op.responses[String(status)]
    if (!response) return [`${method} ${path} answered ${status}, which is not documented`]
    const type = contentType.split(';')[0]!.trim()
    const media = response.content?.[type]
    if (!media) return [`${method} ${path} ${status} answered ${type}, documented: ${Object.keys(response.content ?? {}).join(', ')}`]
    const validate = ajv.compile({ $ref: `${DOC_ID}#/${pointer('paths', path, method, 'responses', String(status), 'content', type, 'schema')}` })
    return validate(body) ? [] : (validate.errors ?? []).map((e) => `${method} ${path} ${status}: ${e.instancePath} ${e.message}`)
  }
}

function alertChange(fp: string, service: string, environment: string, status: 'firing' | 'resolved', time: string) {
  return {
    id: `${fp}-${status}-${time}`.replace(/[^a-z0-9]/gi, '').slice(0, 60), source: 'alertmanager', fingerprint: fp, status, severity: 'critical', service, environment,
    title: `${fp} ${status}`, labels: { alertname: fp }, startsAt: time, ...(status === 'resolved' ? { endsAt: time } : {}), receivedAt: time, links: [], origin: {},
  }
}

/**
 * Production: checkout (incident 1, open, critical; down 30 min) and search (incident 2). Staging: checkout
 * (incident 4, down 60 min) and junk from a malformed alert (incident 5, service "unknown").
 */
async function start() {
  const es = esClient()
  const prefix = uniqueName('revapi')
  cleanupIndices(prefix)
  await ensureIndices(es, prefix)
  const alertMonths = liveAlertMonths(es, prefix)
  const inc = incidentDocument(indexNames(prefix).incidents.alias)
  const prb = problemDocument(indexNames(prefix).problems.alias)
  const alr = alertDocument(alertMonths.indexFor)
  const docs: [DocumentFor, object][] = [
    [inc, incident(1, { title: 'Checkout down', status: 'open', severity: 'critical', openedAt: at(3), resolvedAt: null, resolvedBy: null, problemIds: ['prb-00000000000000000000000a'] })],
    [inc, incident(2, { title: 'Search latency', services: ['search'], openedAt: at(10), resolvedAt: at(9) })],
    [inc, incident(4, { title: 'Staging checkout down', environment: 'staging', groupKey: 'checkout|staging', openedAt: at(6), resolvedAt: at(5) })],
    [inc, incident(5, { title: 'Malformed alert junk', environment: 'test', services: ['unknown'], groupKey: 'unknown|test', openedAt: at(4), resolvedAt: at(3.5) })],
    [prb, { id: 'prb-00000000000000000000000a', kind: 'recurring', status: 'candidate', title: 'Checkout keeps failing', signature: 'production|checkout|X', services: ['checkout'], environment: 'production', incidentIds: ['inc-000000000000000000000001'], incidentCount: 2, firstSeenAt: at(100), lastSeenAt: at(3), owner: null, notes: [], version: 1 }],
    [prb, { id: 'prb-00000000000000000000000b', kind: 'recurring', status: 'candidate', title: 'Staging flaps', signature: 'staging|checkout|X', services: ['checkout'], environment: 'staging', incidentIds: [], incidentCount: 4, firstSeenAt: at(100), lastSeenAt: at(3), owner: null, notes: [], version: 1 }],
    [alr, alertChange('prod-down', 'checkout', 'production', 'firing', at(2))], [alr, alertChange('prod-down', 'checkout', 'production', 'resolved', at(1.5))],
    [alr, alertChange('stg-down', 'checkout', 'staging', 'firing', at(6))], [alr, alertChange('stg-down', 'checkout', 'staging', 'resolved', at(5))],
  ]
  const ops = docs.map(([f, d]) => f(JSON.stringify(d)))
  await alertMonths.prepare(new Set(ops.map((o) => o.index)))
  const bulk = await es.bulk({ refresh: true, operations: ops.flatMap((o) => [bulkAction(o), o.document]) })
  expect(bulk.errors).toBe(false)

  const kafka = kafkaClient()
  const admin = kafka.admin()
  await admin.connect()
  const commandsTopic = uniqueName('commands')
  await createTopics(admin, [commandsTopic])
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const { logger } = captureLogs()
  const commands = new BatchPublisher({ producer, logger })
  onTestFinished(async () => { await commands.close(); await producer.disconnect(); await admin.disconnect(); await es.close() })
  const deadLetters = cachedDeadLetterCount((now) => countDeadLetters(admin, [uniqueName('never-created')], now, 24 * H), { ttlMs: 0, timeoutMs: 10_000, clock: () => Date.now() })
  const app = createReviewApp({
    es, commands, commandsTopic, logger, clock: () => new Date(NOW), readTokens: [READ], writeTokens: [WRITE], indexPrefix: prefix,
    waitTimeoutMs: 500, publicDir: defaultPublicDir, deadLetters, metrics: createReviewMetrics({ breakerState: () => commands.breakerState }),
    scope: { environments: ['production'], teams: new Map([['payments', ['checkout', 'billing']], ['discovery', ['search']]]) },
  })
  const url = await serve(app)
  return { app, url }
}

/** Every route the express app has, as `METHOD /openapi/{path}`. */
function routesOf(app: Express): string[] {
  const out: string[] = []
  for (const layer of (app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }).router.stack) {
    if (!layer.route) continue
    for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push(`${method} ${openApiPath(layer.route.path)}`)
  }
  return out.sort()
}

describe('the review API and its OpenAPI description, on the real Elasticsearch and Kafka', () => {
  it('documents every route the app has, and has a route for every documented one', async () => {
    const { app } = await start()
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)).sort()
    expect(routesOf(app)).toEqual(documented)
    expect(doc.openapi).toBe('3.1.0')
  })

  it('answers every route as documented: status, content type and body schema', async () => {
    const { url } = await start()
    const validate = responseValidator()
    const seen = new Set<string>()
    const call = async (method: string, route: string, path: string, opts: { token?: string | null; body?: unknown } = {}) => {
      const token = opts.token === undefined ? (method === 'get' ? READ : WRITE) : opts.token
      const res = await fetch(`${url}${path}`, {
        method: method.toUpperCase(),
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      })
      const type = res.headers.get('content-type') ?? ''
      const body = type.includes('json') ? await res.json() : await res.text()
      expect(validate(route, method, res.status, type, body), `${method} ${path}`).toEqual([])
      seen.add(`${method} ${route}`)
      return { status: res.status, body }
    }
    const inc1 = 'inc-000000000000000000000001'
    const prbA = 'prb-00000000000000000000000a'
    expect((await call('get', '/healthz', '/healthz')).status).toBe(200)
    expect((await call('get', '/metrics', '/metrics', { token: null })).status).toBe(200)
    expect((await call('get', '/api/v1/openapi.json', '/api/v1/openapi.json', { token: null })).body.openapi).toBe('3.1.0')
    expect((await call('get', '/api/v1/incidents', '/api/v1/incidents?q=checkout&sort=severity:desc&size=2')).status).toBe(200)
    expect((await call('get', '/api/v1/incidents/{id}', `/api/v1/incidents/${inc1}`)).status).toBe(200)
    expect((await call('get', '/api/v1/incidents/{id}', '/api/v1/incidents/inc-00000000000000000000ffff')).status).toBe(404)
    expect((await call('get', '/api/v1/problems', '/api/v1/problems?status=candidate')).status).toBe(200)
    expect((await call('get', '/api/v1/problems/{id}', `/api/v1/problems/${prbA}`)).status).toBe(200)
    expect((await call('get', '/api/v1/review', '/api/v1/review?since=24h')).status).toBe(200)
    expect((await call('get', '/api/v1/review', '/api/v1/review?since=24h&environment=*&team=payments')).status).toBe(200)
    expect((await call('get', '/api/v1/review.md', '/api/v1/review.md?since=24h')).status).toBe(200)
    expect((await call('get', '/api/v1/lookback', '/api/v1/lookback?period=month&at=2026-11')).status).toBe(200)
    expect((await call('get', '/api/v1/lookback.md', '/api/v1/lookback.md?period=month&at=2026-11&service=checkout')).status).toBe(200)
    expect((await call('get', '/api/v1/dead-letters/summary', '/api/v1/dead-letters/summary')).status).toBe(200)
    expect((await call('get', '/api/v1/whoami', '/api/v1/whoami')).status).toBe(200)
    const patched = await call('patch', '/api/v1/incidents/{id}', `/api/v1/incidents/${inc1}`, { body: { actor: 'ann', note: 'looking' } })
    expect(patched.status).toBe(202)
    expect((await call('get', '/api/v1/decisions/{commandId}', `/api/v1/decisions/${patched.body.commandIds[0]}`)).status).toBe(200)
    expect((await call('patch', '/api/v1/problems/{id}', `/api/v1/problems/${prbA}`, { body: { actor: 'ann', action: 'confirm' } })).status).toBe(202)
    expect((await call('patch', '/api/v1/problems/{id}', `/api/v1/problems/${prbA}`, { body: { actor: 'ann', action: 'maybe' } })).status).toBe(400)
    // No receiver configured here: filing a report is a documented 404.
    expect((await call('post', '/api/v1/reports', '/api/v1/reports', { body: { kind: 'manual', service: 'checkout', title: 'slow', reportedBy: 'ann' } })).status).toBe(404)
    // Errors are problem+json as documented.
    expect((await call('get', '/api/v1/review', '/api/v1/review', { token: null })).status).toBe(401)
    expect((await call('get', '/api/v1/review', '/api/v1/review?enviroment=production')).status).toBe(400)
    expect((await call('get', '/api/v1/lookback', '/api/v1/lookback?period=month&team=nobody')).status).toBe(400)
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`))
    expect(documented.filter((r) => !seen.has(r))).toEqual([])
  })

  it('scopes the review, its Markdown and the look-back to the default environment, environment=, service= and team=', async () => {
    const { url } = await start()
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${READ}` } })
      return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text() }
    }
    const titles = (items: { title: string }[]) => items.map((i) => i.title).sort()
    const levels = (r: Json) => Object.fromEntries(r.serviceLevels.map((l: Json) => [l.service, l.downtimeMs / 60_000]))

    // OPSREVIEW_REVIEW_ENVIRONMENTS=production: no staging or test incident, alert or problem.
    const prod = (await get('/api/v1/review?since=24h')).body
    expect(prod.scope).toEqual({ environments: ['production'], services: [], teams: [] })
    expect(titles(prod.newIncidents.items)).toEqual(['Checkout down', 'Search latency'])
    expect(prod.problems.items.map((p: Json) => p.title)).toEqual(['Checkout keeps failing'])
    expect(levels(prod)).toEqual({ checkout: 30, search: 0 })
    expect(prod.trend.at(-1).total + prod.trend.at(-2).total).toBe(2)

    const all = (await get('/api/v1/review?since=24h&environment=*')).body
    expect(all.scope.environments).toEqual([])
    expect(titles(all.newIncidents.items)).toEqual(['Checkout down', 'Malformed alert junk', 'Search latency', 'Staging checkout down'])
    expect(levels(all).checkout).toBe(90)

    const staging = (await get('/api/v1/review?since=24h&environment=staging')).body
    expect(titles(staging.newIncidents.items)).toEqual(['Staging checkout down'])
    expect(levels(staging)).toEqual({ checkout: 60 })

    const team = (await get('/api/v1/review?since=24h&team=discovery')).body
    expect(team.scope).toEqual({ environments: ['production'], services: [], teams: ['discovery'] })
    expect(titles(team.newIncidents.items)).toEqual(['Search latency'])
    expect(Object.keys(levels(team))).toEqual(['search'])
    expect(titles((await get('/api/v1/review?since=24h&service=checkout&environment=production&environment=staging')).body.newIncidents.items)).toEqual(['Checkout down', 'Staging checkout down'])

    const md = (await get('/api/v1/review.md?since=24h&team=payments')).body as string
    expect(md.startsWith('> Scope: environment production; team payments.\n')).toBe(true)
    expect(md).toContain('Checkout down')
    expect(md).not.toContain('Search latency')

    // December (running): incidents 1 (production), 4 (staging) and 5 (test) were opened in it.
    const lb = (await get('/api/v1/lookback?period=month&at=2026-12')).body
    expect(lb.scope).toEqual({ environments: ['production'], services: [], teams: [] })
    expect(lb.totals.incidents.total).toBe(1)
    // search is there for November's incident, the previous period.
    expect(lb.services.map((v: Json) => [v.service, v.downtimeMs / 60_000])).toEqual([['checkout', 30], ['search', 0]])
    const lbAll = (await get('/api/v1/lookback?period=month&at=2026-12&environment=*')).body
    expect(lbAll.totals.incidents.total).toBe(3)
    expect(lbAll.services.find((v: Json) => v.service === 'checkout').downtimeMs / 60_000).toBe(90)
    expect((await get('/api/v1/lookback?period=month&at=2026-12&environment=*&team=discovery')).body.totals.incidents.total).toBe(0)
    expect((await get('/api/v1/lookback.md?period=month&at=2026-12&environment=staging')).body).toMatch(/^> Scope: environment staging; every service\.\n/)

    // Unknown parameters and teams are named, never ignored.
    const unknown = await get('/api/v1/review?enviroment=production&since=24h&servce=x')
    expect(unknown.status).toBe(400)
    expect(unknown.body.errors.map((e: Json) => e.path)).toEqual(['/enviroment', '/servce'])
    const badTeam = await get('/api/v1/lookback?period=month&team=nobody')
    expect(badTeam.status).toBe(400)
    expect(badTeam.body.errors).toEqual([{ path: '/team', message: expect.stringContaining('nobody') }])
    expect((await get('/api/v1/incidents?team=payments')).body.errors).toEqual([{ path: '/team', message: expect.any(String) }])
    // The query token stays off: with one and no header, still 401, not 400.
    expect((await fetch(`${url}/api/v1/review?token=${READ}`)).status).toBe(401)
  })
})
