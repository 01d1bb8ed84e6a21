import { randomUUID } from 'node:crypto'
import path from 'node:path'
import express, { type Request } from 'express'
import type { Client, estypes } from '@elastic/elasticsearch'
import type { Message } from 'kafkajs'
import type { Logger } from 'pino'
import { tokenAuth } from '@opsreview/http/auth'
import { jsonBody } from '@opsreview/http/body'
import { HttpProblem, problemHandler } from '@opsreview/http/problem'
import { requestContext } from '@opsreview/http/request-context'
import { buildReview, type IncidentSummary, type ProblemSummary } from '@opsreview/review/report'
import { reviewMarkdown } from '@opsreview/review/markdown'
import { encodeCursor, incidentSearchRequest, parseIncidentQuery } from '@opsreview/review/search'
import { validateIncidentPatch, validateProblemPatch, type Command, type IncidentPatch, type ProblemPatch } from '@opsreview/schemas'
import { indexNames } from '@opsreview/search-index/templates'

/** What the app needs of Kafka: publish, resolved once acknowledged. */
export interface CommandPublisher {
  publish(topic: string, messages: Message[]): Promise<void>
}

export interface ReviewDeps {
  es: Client
  commands: CommandPublisher
  commandsTopic: string
  logger: Logger
  clock: () => Date
  readTokens: readonly string[]
  writeTokens: readonly string[]
  indexPrefix: string
  /** How long `?wait=true` waits for a decision to show in the index. */
  waitTimeoutMs: number
  publicDir: string
}

const DURATION = /^(\d+)(m|h|d)$/
const UNIT = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const ID = /^(inc|prb)-[0-9a-f]{24}$/

interface IncidentDoc extends IncidentSummary {
  alerts: { key: string; fingerprint: string; source: string; name: string; title: string; status: string; firstSeenAt: string; lastSeenAt: string; resolvedAt: string | null; flapCount: number }[]
  reports: { eventId: string; kind: string; title: string; reportedBy: string; at: string }[]
  notes: { at: string; author: string; text: string }[]
  lastEventAt: string
  acknowledgedBy: string | null
}

interface ProblemDoc extends ProblemSummary {
  signature: string
  incidentIds: string[]
  notes: { at: string; author: string; text: string }[]
}

/**
 * The review service as an express app: incident and problem search, the morning review (JSON and
 * Markdown), the dashboard page, and the review's decisions, which are published as commands for the
 * correlator (the single writer) and become visible when it has applied them.
 */
export function createReviewApp(deps: ReviewDeps): express.Express {
  const { es, clock } = deps
  const idx = indexNames(deps.indexPrefix)
  const indices = { alerts: idx.alerts.alias, incidents: idx.incidents.alias, problems: idx.problems.alias }
  const app = express()
  app.disable('x-powered-by')
  app.set('query parser', 'simple')
  app.use(requestContext(deps.logger))

  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }) })
  app.use(express.static(deps.publicDir, { index: 'index.html', maxAge: '5m' }))

  // A write token may read too; a read token may not write.
  const read = tokenAuth([...deps.readTokens, ...deps.writeTokens])
  const write = tokenAuth(deps.writeTokens)

  async function getDoc<T>(index: string, id: string): Promise<T> {
    if (!ID.test(id)) throw new HttpProblem('NOT_FOUND', `No such id ${id}`)
    const r = await es.search<T>({ index, size: 1, query: { term: { id } } })
    const doc = r.hits.hits[0]?._source
    if (!doc) throw new HttpProblem('NOT_FOUND', `No such id ${id}`)
    return doc
  }

  function windowOf(req: Request): { from: string; to: string } {
    const q = req.query as Record<string, string | undefined>
    const now = clock().getTime()
    const errors: { path: string; message: string }[] = []
    let to = now
    let from = now - UNIT.h * 24
    if (q.from || q.to) {
      if (q.from && Number.isNaN(Date.parse(q.from))) errors.push({ path: '/from', message: 'must be a date-time' })
      if (q.to && Number.isNaN(Date.parse(q.to))) errors.push({ path: '/to', message: 'must be a date-time' })
      if (errors.length === 0) {
        to = q.to ? Date.parse(q.to) : now
        from = q.from ? Date.parse(q.from) : to - UNIT.h * 24
        if (from >= to) errors.push({ path: '/from', message: 'must be before to' })
      }
    } else if (q.since) {
      const m = DURATION.exec(q.since)
      if (!m || Number(m[1]) === 0 || Number(m[1]) * UNIT[m[2] as keyof typeof UNIT] > 366 * UNIT.d) errors.push({ path: '/since', message: 'must be a duration like 90m, 24h or 7d, at most a year' })
      else from = now - Number(m[1]) * UNIT[m[2] as keyof typeof UNIT]
    }
    if (errors.length > 0) throw new HttpProblem('INVALID_QUERY', 'Invalid review window', { errors })
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString() }
  }

  app.get('/api/v1/incidents', read, async (req, res, next) => {
    try {
      const parsed = parseIncidentQuery(req.query as Record<string, unknown>)
      if (!parsed.ok) throw new HttpProblem('INVALID_QUERY', 'Invalid search', { errors: parsed.errors })
      const r = await es.search<IncidentSummary>(incidentSearchRequest(indices.incidents, parsed.value))
      const hits = r.hits.hits
      const last = hits.at(-1)
      res.json({
        total: typeof r.hits.total === 'number' ? r.hits.total : (r.hits.total?.value ?? 0),
        items: hits.map((h) => h._source),
        nextCursor: hits.length === parsed.value.size && last?.sort ? encodeCursor(last.sort) : null,
      })
    } catch (err) { next(err) }
  })

  app.get('/api/v1/incidents/:id', read, async (req, res, next) => {
    try {
      const incident = await getDoc<IncidentDoc>(indices.incidents, String(req.params.id))
      // The timeline: every state change of the member alerts, and the reports, in time order.
      const until = incident.resolvedAt ?? clock().toISOString()
      const fingerprints = incident.alerts.map((a) => a.fingerprint)
      const alerts = fingerprints.length === 0 ? [] : (await es.search<{ id: string; source: string; fingerprint: string; status: string; title: string; eventAt: string; service: string }>({
        index: indices.alerts, size: 500, ignore_unavailable: true, allow_no_indices: true,
        query: { bool: { filter: [{ terms: { fingerprint: fingerprints } }, { range: { eventAt: { gte: new Date(Date.parse(incident.openedAt) - UNIT.h).toISOString(), lte: new Date(Date.parse(until) + UNIT.h).toISOString() } } }] } },
        sort: [{ eventAt: 'asc' }, { id: 'asc' }],
        _source: ['id', 'source', 'fingerprint', 'status', 'title', 'eventAt', 'service'],
      })).hits.hits.map((h) => h._source!)
      const timeline = [
        ...alerts.map((a) => ({ at: a.eventAt, kind: a.status === 'firing' ? 'alert-firing' : 'alert-resolved', source: a.source, fingerprint: a.fingerprint, title: a.title, service: a.service })),
        ...incident.reports.map((r) => ({ at: r.at, kind: `report:${r.kind}`, source: 'report', title: r.title, reportedBy: r.reportedBy })),
        ...incident.notes.map((n) => ({ at: n.at, kind: 'note', source: 'review', title: n.text, author: n.author })),
      ].sort((a, b) => a.at.localeCompare(b.at))
      res.json({ incident, timeline })
    } catch (err) { next(err) }
  })

  app.get('/api/v1/problems', read, async (req, res, next) => {
    try {
      const q = req.query as Record<string, string | undefined>
      const errors: { path: string; message: string }[] = []
      if (q.status && !['candidate', 'confirmed', 'dismissed', 'resolved'].includes(q.status)) errors.push({ path: '/status', message: 'must be one of candidate, confirmed, dismissed, resolved' })
      if (q.kind && !['recurring', 'flapping', 'shared-cause'].includes(q.kind)) errors.push({ path: '/kind', message: 'must be one of recurring, flapping, shared-cause' })
      if (errors.length > 0) throw new HttpProblem('INVALID_QUERY', 'Invalid search', { errors })
      const filter: estypes.QueryDslQueryContainer[] = []
      if (q.status) filter.push({ term: { status: q.status } })
      if (q.kind) filter.push({ term: { kind: q.kind } })
      if (q.service) filter.push({ term: { services: q.service } })
      const r = await es.search<ProblemDoc>({ index: indices.problems, size: 200, track_total_hits: true, query: { bool: { filter } }, sort: [{ lastSeenAt: 'desc' }, { id: 'asc' }] })
      res.json({ total: typeof r.hits.total === 'number' ? r.hits.total : (r.hits.total?.value ?? 0), items: r.hits.hits.map((h) => h._source) })
    } catch (err) { next(err) }
  })

  app.get('/api/v1/problems/:id', read, async (req, res, next) => {
    try {
      const problem = await getDoc<ProblemDoc>(indices.problems, String(req.params.id))
      const incidents = (await es.search<IncidentSummary>({
        index: indices.incidents, size: 200, query: { term: { problemIds: problem.id } }, sort: [{ openedAt: 'desc' }], _source: { excludes: ['alerts', 'reports', 'notes'] },
      })).hits.hits.map((h) => h._source!)
      res.json({ problem, incidents })
    } catch (err) { next(err) }
  })

  app.get('/api/v1/review', read, async (req, res, next) => {
    try { res.json(await buildReview(es, indices, windowOf(req))) } catch (err) { next(err) }
  })

  app.get('/api/v1/review.md', read, async (req, res, next) => {
    try { res.type('text/markdown; charset=utf-8').send(reviewMarkdown(await buildReview(es, indices, windowOf(req)))) } catch (err) { next(err) }
  })

  /** Publishes the commands, then with ?wait=true waits until `visible` holds for the indexed document. */
  async function decide<T>(req: Request, index: string, target: T & { id: string; environment: string }, commands: Omit<Command, 'id' | 'target' | 'environment' | 'at'>[], visible: (doc: T) => boolean) {
    const at = clock().toISOString()
    const full: Command[] = commands.map((c) => ({ ...c, id: randomUUID(), target: target.id, environment: target.environment, at }))
    await deps.commands.publish(deps.commandsTopic, full.map((c) => ({ key: c.environment, value: JSON.stringify(c) })))
    req.log.info({ target: target.id, commands: full.map((c) => c.type) }, 'review decision published')
    const commandIds = full.map((c) => c.id)
    if (req.query.wait !== 'true') return { status: 202, body: { commandIds } }
    const deadline = Date.now() + deps.waitTimeoutMs
    while (Date.now() < deadline) {
      await es.indices.refresh({ index })
      const doc = await getDoc<T>(index, target.id)
      if (visible(doc)) return { status: 200, body: { commandIds, visible: true, document: doc } }
      await new Promise((r) => setTimeout(r, 150))
    }
    return { status: 202, body: { commandIds, visible: false } }
  }

  app.patch('/api/v1/incidents/:id', write, ...jsonBody(64 * 1024), async (req, res, next) => {
    try {
      const v = validateIncidentPatch(req.body)
      if (!v.ok) throw new HttpProblem('VALIDATION_FAILED', `${v.errors.length} field(s) failed validation`, { errors: v.errors })
      const patch: IncidentPatch = v.value
      const incident = await getDoc<IncidentDoc>(indices.incidents, String(req.params.id))
      const actor = patch.actor
      const commands: Omit<Command, 'id' | 'target' | 'environment' | 'at'>[] = []
      if (patch.owner) commands.push({ type: 'incident.assign', actor, owner: patch.owner })
      if (patch.acknowledge) commands.push({ type: 'incident.acknowledge', actor })
      if (patch.note) commands.push({ type: 'incident.note', actor, text: patch.note })
      if (patch.problemId) commands.push({ type: 'incident.link-problem', actor, problemId: patch.problemId })
      if (patch.postmortem) commands.push({ type: 'incident.schedule-postmortem', actor, scheduledFor: new Date(patch.postmortem.scheduledFor).toISOString(), ...(patch.postmortem.owner ? { owner: patch.postmortem.owner } : {}) })
      if (patch.resolve) commands.push({ type: 'incident.resolve', actor })
      const notes = incident.notes.length
      const result = await decide<IncidentDoc>(req, indices.incidents, incident, commands, (d) =>
        (!patch.owner || d.owner === patch.owner) &&
        (!patch.acknowledge || d.acknowledgedAt !== null) &&
        (!patch.note || d.notes.length > notes) &&
        (!patch.problemId || d.problemIds.includes(patch.problemId)) &&
        (!patch.postmortem || d.postmortem.scheduledFor === new Date(patch.postmortem.scheduledFor).toISOString()) &&
        (!patch.resolve || d.status === 'resolved'))
      res.status(result.status).json(result.body)
    } catch (err) { next(err) }
  })

  app.patch('/api/v1/problems/:id', write, ...jsonBody(64 * 1024), async (req, res, next) => {
    try {
      const v = validateProblemPatch(req.body)
      if (!v.ok) throw new HttpProblem('VALIDATION_FAILED', `${v.errors.length} field(s) failed validation`, { errors: v.errors })
      const patch: ProblemPatch = v.value
      const problem = await getDoc<ProblemDoc>(indices.problems, String(req.params.id))
      const actor = patch.actor
      const commands: Omit<Command, 'id' | 'target' | 'environment' | 'at'>[] = []
      if (patch.action) commands.push({ type: `problem.${patch.action}`, actor })
      if (patch.owner) commands.push({ type: 'problem.assign', actor, owner: patch.owner })
      if (patch.note) commands.push({ type: 'problem.note', actor, text: patch.note })
      const target = { confirm: 'confirmed', dismiss: 'dismissed', resolve: 'resolved' } as const
      const notes = problem.notes.length
      const result = await decide<ProblemDoc>(req, indices.problems, problem, commands, (d) =>
        (!patch.action || d.status === target[patch.action]) && (!patch.owner || d.owner === patch.owner) && (!patch.note || d.notes.length > notes))
      res.status(result.status).json(result.body)
    } catch (err) { next(err) }
  })

  app.use((_req, _res, next) => next(new HttpProblem('NOT_FOUND')))
  app.use(problemHandler)
  return app
}

export const defaultPublicDir = path.resolve(import.meta.dirname, '../public')
