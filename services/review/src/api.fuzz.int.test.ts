import http from 'node:http'
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { cachedDeadLetterCount, countDeadLetters } from '@opsreview/review/dead-letters'
import { alertDocument, bulkAction, incidentDocument } from '@opsreview/search-index/documents'
import { indexNames, liveAlertMonths } from '@opsreview/search-index/templates'
import { captureLogs, connectedAdmin, createTopics, kafkaClient, serve, uniqueName } from '@opsreview/testing'
import { createReviewApp, defaultPublicDir } from './app.ts'
import { at, incident, NOW, seedSmallReview, seededIncidentIds, seededProblemIds } from './fuzz-seed.ts'

const READ = 'read-token'
const WRITE = 'write-token'

interface RawRequest {
  method: string
  path: string
  headers: Record<string, string>
  body?: Buffer
}

interface RawResponse {
  status: number
  contentType: string
  body: string
}

/** Sends the request as it is: node's client neither normalises the path nor re-encodes it, as fetch would. */
function send(base: string, r: RawRequest): Promise<RawResponse> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: r.method, path: r.path, headers: r.headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(r.body)
  })
}

/**
 * What every answer must be: below 500, and a problem+json body naming the fields at fault when the input was
 * (a JSON pointer into the body or the query, `header:<name>`, `url` for the URL itself, `request` for what is not HTTP).
 */
function faultOf(r: RawRequest, res: RawResponse): string | undefined {
  if (res.status >= 500) return `status ${res.status}: ${res.body.slice(0, 300)}`
  if (res.status < 400 || r.method === 'HEAD') return undefined
  if (!res.contentType.startsWith('application/problem+json')) return `a ${res.status} as ${res.contentType}`
  let p: { status?: unknown; code?: unknown; title?: unknown; errors?: { path?: unknown; message?: unknown }[] }
  try { p = JSON.parse(res.body) as typeof p } catch { return `a ${res.status} whose body is not JSON` }
  if (p.status !== res.status || typeof p.code !== 'string' || typeof p.title !== 'string') return `a problem without status, code or title: ${res.body}`
  if ((p.code === 'INVALID_QUERY' || p.code === 'VALIDATION_FAILED') && !(Array.isArray(p.errors) && p.errors.length > 0)) return `${p.code} naming no field: ${res.body}`
  for (const e of p.errors ?? []) if (typeof e.path !== 'string' || !/^(\/|header:|url$|request$)/.test(e.path) || typeof e.message !== 'string') return `a field error without path or message: ${res.body}`
  return undefined
}

// ---- generators ----------------------------------------------------------------------------------

const hostile = ['%', '%%', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%2F', '%2e%2e', '..', '.', '+', '%20', '&', '=', '#', '[]', '[0]', ';', ',', '"', "'", '<', '>', '\\', '{}', '%uD800', '%F0%9F%98%80', 'é', '😀', '\u0000', '\u202e']
const piece = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...hostile), fc.stringMatching(/^[a-z0-9-]{1,30}$/))
/** Text as it may appear in a URL: mostly encoded, sometimes raw (a bare % or + as a sloppy client sends it). */
const urlText = fc.tuple(fc.array(piece, { maxLength: 4 }), fc.boolean()).map(([parts, raw]) => {
  const s = parts.join('')
  return raw ? s.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c)).replace(/[#?]/g, encodeURIComponent) : encodeURIComponent(s)
})

const extremeDates = [
  '275760-09-13T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '-271821-04-19T00:00:00.000Z', '+275760-09-13T00:00:00.001Z',
  '9999-12-31T23:59:59.999Z', '0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '1970-01-01T00:00:00Z', '1969-12-31T23:59:59Z',
  '2016-12-31T23:59:60Z', '2026-12-01T23:59:60+01:00', '2026-02-30T00:00:00Z', '2026-12-01', '2026-12-01T08:00:00', '8640000000000000', '1', 'now', '',
]
const dateValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...extremeDates) },
  { weight: 1, arbitrary: fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 60 }).map((s) => `2026-12-01T07:59:${String(s).padStart(2, '0')}Z`) },
)
const durationValue = fc.oneof(fc.constantFrom('24h', '7d', '90m', '0h', '367d', '366d', '8784h', '527040m', '1y', '-1h', '99999999999999999999d'), fc.tuple(fc.nat(), fc.constantFrom('m', 'h', 'd', 's')).map(([n, u]) => `${n}${u}`))
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined').toString('base64url')
const cursorValue = fc.oneof(
  fc.jsonValue().map(b64),
  // A cursor names its list and sort first: with one of those, the values reach the parser's checks, and
  // those that pass reach Elasticsearch as search_after.
  fc.tuple(
    fc.oneof(fc.constantFrom(...['openedAt', 'resolvedAt', 'lastEventAt', 'severity'].flatMap((f) => [`incidents:${f}:desc`, `incidents:${f}:asc`]), 'problems:lastSeenAt:desc'), fc.jsonValue()),
    fc.oneof(fc.jsonValue(), fc.constant(2 ** 63), fc.constant(-(2 ** 63)), fc.double(), fc.integer({ min: -1, max: 2 ** 53 })),
    fc.oneof(fc.jsonValue(), fc.constantFrom(...seededIncidentIds)),
  ).map(b64),
  fc.array(fc.jsonValue(), { maxLength: 5 }).map(b64),
  fc.constantFrom(b64([]), b64([null, null]), b64([{}, {}]), b64([[1], 'x']), b64(['x', 'y']), b64([1.5, 'inc']), b64(['NaN', 'inc']), b64([Number.MAX_VALUE, 'x']), b64('[1,'), 'zzz', '***', '%'),
  fc.string().map((s) => Buffer.from(s).toString('base64')),
)
const LETTERS = 'abcdefghijklmnopqrstuvwxyz'
/** Every two-letter word: indexed beside the seed (startApp), so that operators which expand a word have many terms to expand to. */
const vocabulary = [...LETTERS].flatMap((a) => [...LETTERS].map((b) => a + b))
// Free text as a search box gets it: up to the 500-character limit and just past it, each word with or
// without an operator; or one operator on as many words as the limit holds, where whatever an operator
// makes of each word adds up most. A hundred fuzzy words were once more clauses than Elasticsearch runs,
// and the search answered 500.
const searchWord = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...vocabulary, 'checkout', 'payment', 'timeouts', 'latency') }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) })
const before = fc.constantFrom('', '', '', '+', '-', '|', '(', '"', '-(', '+"', '\\')
const after = fc.constantFrom('', '', '', '~', '~', '~1', '~2', '*', ')', '"', '"~2', '~99999999999', '*~', '\\')
const mixedText = fc.tuple(
  fc.array(fc.tuple(before, searchWord, after), { minLength: 1, maxLength: 200, size: 'max' }),
  fc.constantFrom(' ', ' ', ' ', '', '|', ' | ', '+', ' -'),
  fc.constantFrom(500, 500, 500, 501, 120),
).map(([words, separator, limit]) => words.map(([b, w, a]) => `${b}${w}${a}`).join(separator).slice(0, limit))
const repeatedText = fc.tuple(before, after, fc.array(fc.constantFrom(...vocabulary), { minLength: 100, maxLength: 250, size: 'max' }), fc.constantFrom(500, 500, 501))
  .map(([b, a, words, limit]) => words.map((w) => `${b}${w}${a}`).join(' ').slice(0, limit))
const freeText = fc.oneof(mixedText, repeatedText)
const queryKeys = ['q', 'status', 'service', 'severity', 'environment', 'owner', 'problem', 'from', 'to', 'sort', 'size', 'cursor', 'since', 'kind', 'wait', 'token', 'action', 'tz', 'period', 'at']
// Zones at the edges: +14 h, −12 h, odd offsets, a midnight in a DST gap, wrong case, unknown ones, offsets that are not zones.
const zoneValue = fc.constantFrom('UTC', 'Europe/Berlin', 'europe/berlin', 'Pacific/Kiritimati', 'Etc/GMT+12', 'Pacific/Chatham', 'Asia/Kathmandu', 'America/Santiago', 'Mars/Base', '+01:00', 'UTC+1', 'Europe/../UTC', '')
const periodValue = fc.constantFrom('month', 'quarter', 'week', 'year', 'Month', '')
const atValue = fc.oneof(fc.constantFrom('2026-11', '2026-Q4', '1970-01', '1970-Q1', '9998-12', '9998-Q4', '9999-12', '0000-01', '2026-13', '2026-Q0', '2026', 'now'), fc.tuple(fc.integer({ min: 0, max: 12000 }), fc.integer({ min: 0, max: 13 })).map(([y, m]) => `${y}-${m % 5 === 0 ? `Q${m % 6}` : String(m).padStart(2, '0')}`))
const queryValue = (key: string) => {
  switch (key) {
    case 'from': case 'to': return dateValue
    case 'since': return fc.oneof(durationValue, fc.constantFrom('today', 'yesterday', 'yesterday-09:00', 'today-00:00', 'today-23:59', 'yesterday-24:00', 'tomorrow', 'yesterday-9:00', 'yesterday-now', 'today-now'))
    case 'tz': return zoneValue
    case 'period': return periodValue
    case 'at': return atValue
    case 'cursor': return cursorValue
    case 'size': return fc.oneof(fc.integer({ min: -5, max: 300 }).map(String), fc.constantFrom('1e2', '0x10', '2.5', 'NaN', '', ' 5'))
    case 'sort': return fc.constantFrom('openedAt', 'openedAt:asc', 'resolvedAt:asc', 'resolvedAt:desc', 'lastEventAt', 'severity:asc', 'severity:desc', 'title', 'openedAt:up', ':', 'openedAt:asc:x')
    case 'status': return fc.constantFrom('open', 'resolved', 'candidate', 'confirmed', 'burning', '')
    case 'wait': return fc.constantFrom('true', 'false', '1')
    case 'token': return fc.constantFrom(READ, WRITE, 'nope')
    case 'q': return fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('checkout', 'payment timeouts'), freeText)
    default: return fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('checkout', 'production', 'bob', seededProblemIds[0]!))
  }
}
const encodeValue = (v: string, raw: boolean) => (raw ? v.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c)).replace(/[#&]/g, encodeURIComponent) : encodeURIComponent(v))
/** A query string: known keys with apt or hostile values, repeated keys (alike or not), unknown keys, odd encodings. */
const queryPair = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...queryKeys).chain((k) => fc.tuple(fc.constant(k), fc.array(queryValue(k), { minLength: 1, maxLength: 3 }), fc.boolean())) },
  { weight: 1, arbitrary: fc.tuple(urlText, urlText.map((v) => [v]), fc.constant(true)) },
)
// Mostly one or two parameters: a fault among many is refused before the deeper code is reached.
const queryString = fc.oneof(
  { weight: 3, arbitrary: fc.array(queryPair, { minLength: 1, maxLength: 2 }) },
  { weight: 1, arbitrary: fc.array(queryPair, { minLength: 1, maxLength: 5 }) },
).map((pairs) => pairs.flatMap(([k, values, raw]) => values.map((v) => `${k}=${encodeValue(v, raw)}`)).join('&'))

const readRoutes = ['/api/v1/incidents', '/api/v1/incidents', '/api/v1/problems', '/api/v1/review', '/api/v1/review.md', '/api/v1/lookback', '/api/v1/lookback.md', '/api/v1/dead-letters/summary']
const otherRoutes = ['/', '/healthz', '/app.js', '/index.html', '/metrics']
const seededId = fc.constantFrom(...seededIncidentIds, ...seededProblemIds, 'inc-ffffffffffffffffffffffff')
const idSegment = fc.oneof({ weight: 3, arbitrary: seededId }, { weight: 1, arbitrary: urlText }, { weight: 1, arbitrary: fc.tuple(seededId, fc.constantFrom(...hostile)).map(([id, h]) => id + h.replace(/[^\x21-\x7e]|[#?]/gu, (c) => encodeURIComponent(c))) })
const itemPath = fc.tuple(fc.constantFrom('/api/v1/incidents/', '/api/v1/problems/'), idSegment).map(([a, b]) => a + b)
const wildPath = fc.oneof(
  fc.constantFrom(...readRoutes, ...otherRoutes),
  fc.array(urlText, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`),
  fc.tuple(fc.constantFrom(...readRoutes, ...otherRoutes), urlText).map(([a, b]) => `${a}/${b}`),
)

const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/).map((s) => s.trim())
// Mostly valid tokens, so that most requests get past authentication to the code behind it.
const authorization = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(`Bearer ${READ}`, `Bearer ${WRITE}`, `Bearer ${WRITE}`, `bearer   ${WRITE}  `) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 'Bearer ', 'Bearer', `Basic ${Buffer.from(`x:${WRITE}`).toString('base64')}`, WRITE) },
  { weight: 1, arbitrary: headerValue.map((s) => `Bearer ${s}`) },
)
const contentType = fc.option(fc.constantFrom('application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'application/merge-patch+json', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', ''), { nil: undefined })
const contentEncoding = fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'bogus', 'gzip, gzip'), { nil: undefined })

const iso = fc.oneof(fc.constantFrom(...extremeDates), fc.date({ min: new Date(0), max: new Date(253402300799999), noInvalidDate: true }).map((d) => d.toISOString()))
const name = fc.oneof(fc.constantFrom('ann', 'bob', '<script>alert(1)</script>', '**bold**', '| pipe |'), fc.string({ maxLength: 30 }))
const incidentPatch = fc.record({
  actor: name, owner: name, acknowledge: fc.constantFrom(true, false, 'yes'), note: name, problemId: fc.constantFrom(seededProblemIds[0]!, 'prb-x'),
  resolve: fc.constant(true), postmortem: fc.record({ scheduledFor: iso, owner: name }, { requiredKeys: [] }), colour: fc.string(),
}, { requiredKeys: [] })
const problemPatch = fc.record({ actor: name, action: fc.constantFrom('confirm', 'dismiss', 'resolve', 'explode'), owner: name, note: name }, { requiredKeys: [] })
// Decisions the schema takes, so that requests reach publishing (and the Idempotency-Key store) often.
// Trimmed: a person's name starts and ends with a character that shows.
const someone = fc.oneof(fc.constantFrom('ann', 'bob', '<b>eve</b>'), fc.string({ minLength: 1, maxLength: 20 }).map((s) => s.trim()).filter((s) => s.length > 0))
const validIncidentPatch = fc.record({
  actor: someone, owner: someone, acknowledge: fc.constant(true), note: someone,
  postmortem: fc.record({ scheduledFor: iso, owner: someone }, { requiredKeys: ['scheduledFor'] }),
}, { requiredKeys: ['actor', 'owner'] })
const validProblemPatch = fc.record({ actor: someone, action: fc.constantFrom('confirm', 'dismiss', 'resolve'), owner: someone }, { requiredKeys: ['actor', 'action'] })
const body = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(validIncidentPatch, validProblemPatch).map((b) => Buffer.from(JSON.stringify(b))) },
  { weight: 3, arbitrary: fc.oneof(incidentPatch, problemPatch).map((b) => Buffer.from(JSON.stringify(b))) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: incidentPatch.map((b) => gzipSync(JSON.stringify(b))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
)

// Most requests go where the code is (reads with queries, PATCHes of seeded ids); some go anywhere.
const target = fc.oneof(
  { weight: 6, arbitrary: fc.record({ method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD'), path: fc.constantFrom(...readRoutes) }) },
  { weight: 2, arbitrary: fc.record({ method: fc.constant('GET'), path: itemPath }) },
  { weight: 4, arbitrary: fc.record({ method: fc.constant('PATCH'), path: itemPath }) },
  { weight: 2, arbitrary: fc.record({ method: fc.constantFrom('GET', 'PATCH', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'), path: wildPath }) },
)

const anyRequest: fc.Arbitrary<RawRequest> = fc.record({
  target, query: fc.option(queryString, { nil: undefined, freq: 4 }), authorization, contentType, contentEncoding,
  // Few keys, so that some come back: with the same request (a replay) or another (a 422).
  idempotencyKey: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constantFrom('k1', 'k2', 'k3') }, { weight: 1, arbitrary: headerValue }), { nil: undefined, freq: 2 }),
  requestId: fc.option(headerValue, { nil: undefined }),
  body: fc.option(body, { nil: undefined, freq: 6 }),
}).map((r) => {
  const headers: Record<string, string> = {}
  if (r.authorization !== undefined) headers.authorization = r.authorization
  if (r.contentType !== undefined) headers['content-type'] = r.contentType
  if (r.contentEncoding !== undefined) headers['content-encoding'] = r.contentEncoding
  if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey
  if (r.requestId !== undefined) headers['x-request-id'] = r.requestId
  const { method, path } = r.target
  const withBody = r.body !== undefined && method !== 'GET' && method !== 'HEAD'
  return { method, path: r.query === undefined ? path : `${path}?${r.query}`, headers, ...(withBody ? { body: r.body } : {}) }
})

/** A decision as the dashboard sends it, so that many reach publishing, the Idempotency-Key store and its replays and 422s. */
const decisionRequest: fc.Arbitrary<RawRequest> = fc.record({
  incident: fc.boolean(), seeded: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  incidentBody: validIncidentPatch, problemBody: validProblemPatch,
  key: fc.option(fc.constantFrom('k1', 'k2', 'k3', 'k4'), { nil: undefined, freq: 3 }), wait: fc.constantFrom('', '?wait=true', '?wait=false'),
}).map((d) => ({
  method: 'PATCH',
  path: `${d.incident ? `/api/v1/incidents/${d.seeded ? seededIncidentIds[0] : 'inc-ffffffffffffffffffffffff'}` : `/api/v1/problems/${d.seeded ? seededProblemIds[0] : 'prb-ffffffffffffffffffffffff'}`}${d.wait}`,
  headers: { authorization: `Bearer ${WRITE}`, 'content-type': 'application/json', ...(d.key ? { 'idempotency-key': d.key } : {}) },
  body: Buffer.from(JSON.stringify(d.incident ? d.incidentBody : d.problemBody)),
}))

/**
 * A search as the dashboard sends it: free text, sometimes beside filters it takes, so that most get to
 * Elasticsearch (hostile parameters beside `q` are anyRequest's).
 */
const searchFilters = fc.subarray(['status=open', 'service=checkout', 'severity=critical', 'sort=severity', 'sort=resolvedAt:asc', 'size=5', `problem=${seededProblemIds[0]!}`])
const searchRequest: fc.Arbitrary<RawRequest> = fc.record({ q: freeText, raw: fc.boolean(), filters: searchFilters, token: fc.constantFrom(READ, WRITE) })
  .map(({ q, raw, filters, token }) => ({ method: 'GET', path: `/api/v1/incidents?${[`q=${encodeValue(q, raw)}`, ...filters].join('&')}`, headers: { authorization: `Bearer ${token}` } }))

const request = fc.oneof({ weight: 4, arbitrary: anyRequest }, { weight: 1, arbitrary: decisionRequest }, { weight: 1, arbitrary: searchRequest })

async function startApp() {
  const { es, prefix } = await seedSmallReview()
  // The vocabulary, 26 words to an incident, in every text field search reads: a long history's many short words.
  const inc = incidentDocument(indexNames(prefix).incidents.alias)
  const words = [...LETTERS].map((a, i) => {
    const text = vocabulary.filter((w) => w.startsWith(a)).join(' ')
    const base = incident(0x100 + i, { title: text, openedAt: at(50), resolvedAt: at(49) })
    return inc(JSON.stringify({
      ...base, alerts: base.alerts.map((m) => ({ ...m, title: text })), notes: [{ at: at(50), author: 'ann', text }],
      reports: [{ eventId: `evt-${i}`, kind: 'manual', title: text, reportedBy: 'ann', at: at(50) }],
    }))
  })
  // The same words as label values of the members' alert events, and in a report's description: the search looks them up too.
  const months = liveAlertMonths(es, prefix)
  const events = [...LETTERS].map((a, i) => alertDocument(months.indexFor)(JSON.stringify({
    id: `evt-${i}`, source: i % 2 === 0 ? 'alertmanager' : 'report', fingerprint: `fp-${0x100 + i}`, status: 'firing', severity: 'warning', service: 'checkout', environment: 'production',
    title: 't', description: vocabulary.filter((w) => w.startsWith(a)).join(' '), labels: { alertname: 'HighLatency', ...Object.fromEntries(vocabulary.filter((w) => w.startsWith(a)).map((w) => [`l${w}`, w])) },
    startsAt: at(50), receivedAt: at(50), links: [], origin: {},
  })))
  await months.prepare(new Set(events.map((o) => o.index)))
  expect((await es.bulk({ refresh: true, operations: [...words, ...events].flatMap((o) => [bulkAction(o), o.document]) })).errors).toBe(false)
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  const commandsTopic = uniqueName('fuzz-commands')
  const deadLetterTopic = uniqueName('fuzz-dlq')
  await createTopics(admin, [commandsTopic, deadLetterTopic], 1)
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const { logger } = captureLogs()
  const commands = new BatchPublisher({ producer, logger })
  onTestFinished(async () => { await commands.close(); await producer.disconnect(); await es.close() })
  const app = createReviewApp({
    es, commands, commandsTopic, logger, clock: () => new Date(NOW), readTokens: [READ], writeTokens: [WRITE], indexPrefix: prefix,
    waitTimeoutMs: 20, publicDir: defaultPublicDir,
    deadLetters: cachedDeadLetterCount((now) => countDeadLetters(admin, [deadLetterTopic, uniqueName('fuzz-missing')], now, 86_400_000), { ttlMs: 2_000, timeoutMs: 10_000, clock: () => Date.now() }),
  })
  return serve(app)
}

describe('the review API under arbitrary input, on the real Elasticsearch', () => {
  it('answers 1,000 arbitrary requests below 500, with problem+json naming the field at fault', async () => {
    const url = await startApp()
    const outcomes = new Set<string>()
    await fc.assert(fc.asyncProperty(request, async (r) => {
      const res = await send(url, r)
      outcomes.add(`${r.method} ${res.status}`)
      if (r.path.startsWith('/api/v1/incidents?q=') && r.path.length > 400 && res.status === 200) outcomes.add('long search 200')
      const fault = faultOf(r, res)
      if (fault) throw new Error(`${r.method} ${r.path} ${JSON.stringify(r.headers)} → ${fault}`)
    }), { numRuns: 1_000 })
    // The run reached every kind of answer, decisions published and replayed or refused included, and long searches run.
    for (const o of ['GET 200', 'GET 400', 'GET 401', 'GET 404', 'PATCH 202', 'PATCH 400', 'PATCH 404', 'PATCH 415', 'PATCH 422', 'long search 200']) expect(outcomes).toContain(o)
  }, 240_000)
})
