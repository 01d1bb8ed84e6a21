import { describe, expect, it } from 'vitest'
import type { Express } from 'express'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { openApiDocument, openApiPath } from '@opsreview/review/openapi'
import { READ, startScopedReview as start, WRITE } from './scope-seed.ts'

// ajv-formats ships CommonJS whose default export is the plugin itself.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any
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
      const body: Json = type.includes('json') ? await res.json() : await res.text()
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
})
