import { createHash, randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import path from 'node:path'
import express, { type ErrorRequestHandler, type Request, type RequestHandler } from 'express'
import { errors as esErrors, type Client } from '@elastic/elasticsearch'
import type { Message } from 'kafkajs'
import type { Logger } from 'pino'
import { tokenAuth, type BearerToken } from '@opsreview/http/auth'
import { jsonBody } from '@opsreview/http/body'
import { securityHeaders } from '@opsreview/http/hardening'
import { HttpProblem, problemHandler, sendProblem } from '@opsreview/http/problem'
import { requestContext } from '@opsreview/http/request-context'
import { KafkaUnavailableError } from '@opsreview/kafka/errors'
import { parseDataset, resolveDataset, type ResolvedIndices } from '@opsreview/review/dataset'
import type { CachedCount } from '@opsreview/review/dead-letters'
import { describeDecision, isCommandId, type Decision, type DecisionLog } from '@opsreview/review/decisions'
import { DeadLetterCountError, ReviewProblem } from '@opsreview/review/errors'
import { fileReport, reportOf, type ReportTarget } from '@opsreview/review/reports'
import { commandIdFor, IDEMPOTENCY_KEY_PATTERN, IdempotencyStore, requestFingerprint, type IdempotencyLimits, type StoredAnswer } from '@opsreview/review/idempotency'
import { buildReview, type ReviewIndices } from '@opsreview/review/report'
import { reviewMarkdown, scopeMarkdown } from '@opsreview/review/markdown'
import { alertChangesRequest, freeTextFault, incidentCursorSort, incidentTimeline, listPage, PROBLEM_CURSOR_SORT, incidentSearchRequest, labelMatches, labelMatchRequest, parameterReader, parseIncidentQuery, parseProblemQuery, problemIncidents, problemIncidentsRequest, problemSearchRequest, problemTimeline, type AlertChange, type IncidentListItem } from '@opsreview/review/search'
import { parseInstant } from '@opsreview/review/time'
import { parseReviewWindow, type ReviewWindowAt } from '@opsreview/review/window'
import { knownQueryParameters, openApiDocument } from '@opsreview/review/openapi'
import type { FieldError } from '@opsreview/schemas'
import { parseScope, scopeFilter, unknownParameters, type Scope, type ScopeDefaults, type ScopeFilter } from '@opsreview/review/scope'
import { noTeams } from '@opsreview/review/teams'
import type { DegradedRule } from '@opsreview/review/degraded'
import type { LookbackResponseTimes } from '@opsreview/review/lookback'
import type { ResponseTimes, ResponseTimeSource } from '@opsreview/review/response-times'
import { recordSchemas, validateIncidentPatch, validateProblemPatch, type Command, type Incident, type IncidentPatch, type Note, type Problem, type ProblemPatch } from '@opsreview/schemas'
import { indexNames } from '@opsreview/search-index/templates'
import { isElasticsearchUnavailable } from '@opsreview/search-index/errors'
import type { ResponseTimeRead, ReviewMetrics } from './metrics.ts'
import { registerLookbackRoutes } from './lookback-routes.ts'
import { deadlineIn } from '@opsreview/lifecycle/deadline'

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
  /** Bare secrets, or named tokens whose name is the actor of the decisions they make. */
  readTokens: readonly (string | BearerToken)[]
  writeTokens: readonly (string | BearerToken)[]
  indexPrefix: string
  /** How long `?wait=true` waits for the correlator's outcome and for the decision to show in the index. */
  waitTimeoutMs: number
  /**
   * The decisions read back from the commands and command-results topics (services/review/src/decisions-consumer.ts):
   * outcomes for `?wait=true` and `GET /api/v1/decisions/:id`, and the decisions in timelines. Without it,
   * `?wait=true` waits for visibility alone and a refusal shows only as a wait that runs out.
   */
  decisions?: DecisionLog
  /** Where reports filed on the dashboard go (the receiver); without it `POST /api/v1/reports` is 404. */
  reports?: ReportTarget
  publicDir: string
  /** The dead letters of the last 24 h, counted and cached (`cachedDeadLetterCount`). */
  deadLetters: () => Promise<CachedCount>
  /** How long and how many Idempotency-Key answers are kept. */
  idempotency?: IdempotencyLimits
  /** Served on `GET /metrics` and counted per request, when given. */
  metrics?: ReviewMetrics
  /** The IANA zone of windows, trend days and look-back periods when a request names none (`?tz=`); UTC by default. */
  timeZone?: string
  /** Which critical alerts count as degraded, not down (`defaultDegradedRule` when absent). */
  degradedRule?: DegradedRule
  /** The default environments and the teams of `?environment=` and `?team=` (scope.ts); all and none when absent. */
  scope?: ScopeDefaults
  /** Where the review reads response times (Prometheus); the review says `not-configured` when absent. */
  responseTimes?: ResponseTimeSource
}

export const defaultIdempotencyLimits: IdempotencyLimits = Object.freeze({ ttlMs: 24 * 3_600_000, maxKeys: 10_000, maxBytes: 32 * 1024 * 1024 })

const ID = /^(inc|prb)-[0-9a-f]{24}$/
/** RFC 9110's `If-Match`: a list of entity tags (`"7"`, `W/"7"`; a tag holds no `"`), `*` apart. */
const ENTITY_TAG_SOURCE = String.raw`(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"`
const ENTITY_TAG = new RegExp(ENTITY_TAG_SOURCE, 'g')
const IF_MATCH_TAGS = new RegExp(String.raw`^[ \t]*${ENTITY_TAG_SOURCE}[ \t]*(?:,[ \t]*${ENTITY_TAG_SOURCE}[ \t]*)*$`)

/**
 * The dashboard's policy, sent with every response: scripts, styles and requests only from this origin,
 * no inline script or style, no plugins, never framed.
 */
export const contentSecurityPolicy = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
].join('; ')

/** A review problem as its problem+json body. */
export function problemBody(p: ReviewProblem): Record<string, unknown> {
  const body: Record<string, unknown> = {
    type: `https://opsreview.dev/problems/${p.code.toLowerCase().replaceAll('_', '-')}`, title: p.title, status: p.status, code: p.code, detail: p.message,
  }
  if (p.errors) body.errors = p.errors
  return body
}

/**
 * Errors of the engines behind the API, as problems: an engine that is down or overloaded is a 503 the
 * client may retry; one that refuses our request is our bug, a 500. Review problems render as they are.
 */
const engineErrors: ErrorRequestHandler = (err, req, res, next) => {
  if (err instanceof ReviewProblem) {
    if (err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds))
    res.status(err.status).type('application/problem+json').send(JSON.stringify(problemBody(err)))
    return
  }
  const unavailable = (what: string) => {
    req.log.warn({ err }, 'engine unavailable')
    return next(new HttpProblem('UNAVAILABLE', `${what} is unavailable, retry later`, { retryAfterSeconds: 5, cause: err }))
  }
  if (isElasticsearchUnavailable(err)) return unavailable('Elasticsearch')
  if (err instanceof esErrors.ElasticsearchClientError) return next(new HttpProblem('INTERNAL', 'Internal error', { cause: err }))
  if (err instanceof KafkaUnavailableError) return unavailable('Kafka')
  if (err instanceof DeadLetterCountError) return unavailable('Kafka')
  next(err)
}

// The documents as indexed: the correlator's records (schemas/incident.v1.json, problem.v1.json).
type IncidentDoc = Incident
type ProblemDoc = Problem

/** The latest notes a document keeps (the engine's MAX_ENTRIES_IN_DOCUMENT); fewer once shortened to fit Kafka. */
const NOTES_KEPT = recordSchemas.incident.properties.notes.maxItems

/**
 * What `noteShown` needs of the document read before the decision: its version, a digest of its latest note,
 * and the times of the notes it held already with the decision's author and words. Not the document: an
 * answer kept awaiting holds this, and a document may be megabytes.
 */
interface NotesBefore { version: number; lastNote: NoteMark | undefined; sameWordsAt: string[] }
/** A note told apart from others without its text: its time, author and length, and a digest of all three and the text. */
interface NoteMark { at: string; author: string; length: number; digest: string }
/** A keyed decision: its Idempotency-Key, its request's fingerprint, and whether only a kept answer is asked for. */
interface Keyed { key: string; fingerprint: string; replayOnly: boolean }
const noteDigest = (n: Note) => createHash('sha256').update(`${n.at}\n${n.author}\n${n.text}`).digest('hex')
// Digested only when the rest matches: a wait looks every 150 ms, at up to 100 notes of up to 20,000 characters.
const isNote = (n: Note, mark: NoteMark) => n.at === mark.at && n.author === mark.author && n.text.length === mark.length && noteDigest(n) === mark.digest
const notesBefore = (doc: IncidentDoc | ProblemDoc, author: string, text: string | undefined): NotesBefore => {
  const last = doc.notes.at(-1)
  const sameWordsAt = text === undefined ? [] : doc.notes.filter((n) => n.author === author && n.text === text).map((n) => n.at)
  return { version: doc.version, lastNote: last && { at: last.at, author: last.author, length: last.text.length, digest: noteDigest(last) }, sameWordsAt }
}

/**
 * Whether the note a decision added shows in `doc`, a version past `before` (the one read before the decision).
 * The note is the decision's own: its author and its text, at a time none of the notes read before had (the
 * same words said earlier, brought to a newer version by another change, are not it). Not by the command's
 * time alone: a command published again under its id (a retry after a publish that failed but reached Kafka)
 * carries a new time, and the correlator keeps the first. Anywhere in the notes, not only the latest: another
 * note applied before the version was indexed comes after it, and the note was then never counted shown.
 * Not found, it may have been pushed out: notes are cut from the front only (the latest 100 kept, or halved
 * to fit Kafka), and this note comes after every note read before, so pushed out it took them all with it.
 * Only then is a newer version taken as showing it.
 */
function noteShown(doc: IncidentDoc | ProblemDoc, before: NotesBefore, note: Omit<Note, 'at'>): boolean {
  if (doc.version <= before.version) return false
  if (doc.notes.some((n) => n.author === note.author && n.text === note.text && !before.sameWordsAt.includes(n.at))) return true
  const { lastNote } = before
  // With no note before, only the cap says a note was cut; a cut to fit Kafka leaves no trace then (docs/review-api.md).
  return lastNote ? !doc.notes.some((n) => isNote(n, lastNote)) : doc.notes.length >= NOTES_KEPT
}

/**
 * The review service as an express app: incident and problem search, the morning review (JSON and
 * Markdown), the dashboard page, and the review's decisions, which are published as commands for the
 * correlator (the single writer) and become visible when it has applied them.
 */
export function createReviewApp(deps: ReviewDeps): express.Express {
  const { es, clock } = deps
  const aliasesOf = (prefix: string) => { const n = indexNames(prefix); return { alerts: n.alerts.alias, incidents: n.incidents.alias, problems: n.problems.alias } }
  const indices = aliasesOf(deps.indexPrefix)
  const app = express()
  app.disable('x-powered-by')
  // node:querystring: a repeated key is an array, which every parameter here refuses ("must be given once").
  app.set('query parser', 'simple')
  app.use(requestContext(deps.logger))
  app.use(securityHeaders())
  app.use((_req, res, next) => { res.setHeader('Content-Security-Policy', contentSecurityPolicy); next() })

  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }) })
  const { metrics } = deps
  if (metrics) {
    app.use(metrics.count)
    app.get('/metrics', async (_req, res) => { res.type(metrics.registry.contentType).send(await metrics.registry.metrics()) })
  }
  app.use(express.static(deps.publicDir, { index: 'index.html', maxAge: '5m' }))
  // The page reads typed times with the review's own offset math, the package's file as it is (plain JS): a
  // file of the page like those of publicDir, and that one file of its folder only.
  const zoneOffsets = express.static(path.dirname(zoneOffsetsFile), { index: false, maxAge: '5m' })
  app.use((req, res, next) => (req.path === `/${path.basename(zoneOffsetsFile)}` ? zoneOffsets(req, res, next) : next()))
  // Answers carry incidents and decisions: no cache, shared or private, keeps them.
  const noStore: RequestHandler = (_req, res, next) => { res.setHeader('Cache-Control', 'no-store'); next() }
  app.use('/api', noStore)

  /**
   * A query parameter the route does not document (packages/review/src/openapi.ts) is a 400 naming it:
   * a misspelt or unsupported filter is never silently ignored.
   */
  const knownQuery: RequestHandler = (req, _res, next) => {
    const known = knownQueryParameters(req.method === 'HEAD' ? 'get' : req.method, (req.route as { path: string }).path)
    const unknown = known ? unknownParameters(req.query as Record<string, unknown>, known) : []
    next(unknown.length > 0 ? new HttpProblem('INVALID_QUERY', `Unknown query parameter${unknown.length > 1 ? 's' : ''}`, { errors: unknown }) : undefined)
  }
  app.get('/api/v1/openapi.json', knownQuery, (_req, res) => { res.json(openApiDocument) })

  // A write token may read too; a read token may not write.
  const read = tokenAuth([...deps.readTokens, ...deps.writeTokens])
  const write = tokenAuth(deps.writeTokens)

  /**
   * A decision's target from its route: an id of the other kind names nothing there (404). Checked before a
   * keyed retry's kept answer is looked up, which must never answer for the other route: the same key and
   * body on `/problems/inc-…` replayed the incident route's answer, an incident as a problem's decision.
   */
  function routeTarget(req: Request, kind: 'inc' | 'prb'): string {
    const id = String(req.params.id)
    if (!ID.test(id) || !id.startsWith(`${kind}-`)) throw new HttpProblem('NOT_FOUND', `No such id ${id}`)
    return id
  }

  async function getDoc<T>(index: string, id: string, options?: { requestTimeout: number; maxRetries: number; signal: AbortSignal }): Promise<T> {
    if (!ID.test(id)) throw new HttpProblem('NOT_FOUND', `No such id ${id}`)
    const r = await es.search<T>({ index, size: 1, query: { term: { id } } }, options)
    const doc = r.hits.hits[0]?._source
    if (!doc) throw new HttpProblem('NOT_FOUND', `No such id ${id}`)
    return doc
  }

  /**
   * `?dataset=<name>` on a read: the what-if dataset's indices instead of the live ones (docs/replay.md). A
   * name that is malformed is a 400 naming `dataset` here; one that names no dataset a 404 from `indicesOf`,
   * which a route calls once the rest of its query is checked: a bad query is a 400 whatever the dataset,
   * and never a 503 while Elasticsearch is down (it was looked up first until 2026-12-05).
   */
  const dataset: RequestHandler = (req, res, next) => {
    const d = parseDataset(req.query.dataset)
    if (!d.ok) return next(new HttpProblem('INVALID_QUERY', 'Invalid dataset', { errors: d.errors }))
    res.locals.dataset = d.value
    next()
  }
  const indicesOf = (res: express.Response): Promise<ResolvedIndices> => resolveDataset(es, aliasesOf, deps.indexPrefix, res.locals.dataset as string | null)

  /**
   * The decisions on an incident or problem the review has read back, for its timeline: who decided what,
   * when, and whether the correlator took it. An accepted note is on the record already (with its author).
   */
  function decisionEntries(target: string) {
    return (deps.decisions?.forTarget(target) ?? [])
      .filter((d): d is Decision & { at: string } => d.at !== undefined && !(d.outcome === 'accepted' && d.type.endsWith('.note')))
      .map((d) => ({
        at: d.at, kind: `decision:${d.type}`, source: 'review', title: describeDecision(d), actor: d.actor ?? null, outcome: d.outcome,
        ...(d.error !== undefined ? { error: d.error } : {}), commandId: d.commandId,
        // The instant the title names, as data: a page shows it in its own zone without reading the title.
        ...(d.scheduledFor !== undefined ? { scheduledFor: d.scheduledFor } : {}),
      }))
  }

  /** Decisions go to the live correlator: a what-if dataset is a replay, and takes none (409). */
  const liveOnly: RequestHandler = (req, _res, next) => {
    const d = parseDataset(req.query.dataset)
    if (!d.ok) return next(new HttpProblem('INVALID_QUERY', 'Invalid dataset', { errors: d.errors }))
    if (d.value !== null) return next(new ReviewProblem('DATASET_READ_ONLY', `What-if dataset ${d.value} is a replay, not live: decisions are taken on the live incidents and problems`, { errors: [{ path: '/dataset', message: 'decisions cannot be taken on a what-if dataset' }] }))
    next()
  }

  /**
   * `?wait=` of a decision, read as search reads its parameters, into `res.locals.wait`. A repeated or
   * unknown value is a 400 before anything is published: the client meant something, and a decision
   * taken without the wait it asked for cannot be taken back.
   */
  const waitParam: RequestHandler = (req, res, next) => {
    const errors: FieldError[] = []
    const wait = parameterReader(req.query as Record<string, unknown>, errors, { wait: ['true', 'false'] })('wait')
    if (errors.length > 0) return next(new HttpProblem('INVALID_QUERY', 'Invalid wait', { errors }))
    res.locals.wait = wait === 'true'
    next()
  }

  const timeZone = deps.timeZone ?? 'UTC'
  const scopeDefaults = deps.scope ?? { environments: [], teams: noTeams }
  /**
   * `?environment=`, `?service=`, `?team=` of a review or look-back: what the answer names, and its filter.
   * The faults of the rest of the query (`prior`) and of the scope are named in one 400.
   */
  function scopeOf(req: Request, prior?: { title: string; errors: FieldError[] }): { scope: Scope; filter: ScopeFilter } {
    const s = parseScope(req.query as Record<string, unknown>, scopeDefaults)
    const errors = [...(prior?.errors ?? []), ...(s.ok ? [] : s.errors)]
    if (!s.ok || errors.length > 0) throw new HttpProblem('INVALID_QUERY', prior && prior.errors.length > 0 ? prior.title : 'Invalid scope', { errors })
    return { scope: s.value, filter: scopeFilter(s.value, scopeDefaults.teams) }
  }
  const reviewOptions = { ...(deps.degradedRule ? { degradedRule: deps.degradedRule } : {}), ...(deps.responseTimes ? { responseTimes: deps.responseTimes } : {}) }
  /** The review's window and scope: every fault of both named at once. */
  function reviewQueryOf(req: Request) {
    const w = parseReviewWindow(req.query as Record<string, unknown>, clock().getTime(), timeZone)
    const scoped = scopeOf(req, w.ok ? undefined : { title: 'Invalid review window', errors: w.errors })
    if (!w.ok) throw new HttpProblem('INVALID_QUERY', 'Invalid review window', { errors: w.errors })
    return { window: w.value, ...scoped }
  }

  /**
   * The ETag of an incident's or problem's answer: its document's version, strong (`"7"`), which a decision's
   * `If-Match` names (`preconditionOf`). It names the version, not the bytes: the timeline beside it changes
   * without a new version (a decision's outcome, a note's order), so it is no cache validator, and an
   * `If-None-Match` is not answered 304 (the answers are `no-store` anyway): Express's own freshness check
   * would have taken the version's tag for the whole answer's.
   */
  function versionTag(req: Request, res: express.Response, doc: { version: number }): void {
    res.setHeader('ETag', `"${doc.version}"`)
    delete req.headers['if-none-match']
  }

  /** A page of a list: a full page may have a next one, and its last hit's sort values are where it starts. */
  app.get('/api/v1/incidents', read, knownQuery, dataset, async (req, res, next) => {
    try {
      const parsed = parseIncidentQuery(req.query as Record<string, unknown>, timeZone)
      if (!parsed.ok) throw new HttpProblem('INVALID_QUERY', 'Invalid search', { errors: parsed.errors })
      // Either search may refuse the free text: the refusal is the text's (400 naming /q), as on one search.
      const textFault = (err: unknown) => {
        const fault = freeTextFault(err, parsed.value)
        throw fault ? new HttpProblem('INVALID_QUERY', 'Invalid search', { errors: [fault], cause: err }) : err
      }
      const indices = await indicesOf(res)
      // The incident holds no labels: the alerts whose labels match the text are looked up first, one search more.
      const lookup = labelMatchRequest(indices.alerts, parsed.value)
      const labels = lookup === undefined ? undefined : labelMatches(await es.search(lookup).catch(textFault))
      const found = await es.search<IncidentListItem>(incidentSearchRequest(indices.incidents, parsed.value, labels)).catch(textFault)
      res.json(listPage(found, parsed.value.size, incidentCursorSort(parsed.value.sort)))
    } catch (err) { next(err) }
  })

  app.get('/api/v1/incidents/:id', read, knownQuery, dataset, async (req, res, next) => {
    try {
      const indices = await indicesOf(res)
      const incident = await getDoc<IncidentDoc>(indices.incidents, String(req.params.id))
      const changes = alertChangesRequest(indices.alerts, incident, clock().getTime())
      const found = changes === undefined ? undefined : await es.search<AlertChange>(changes)
      versionTag(req, res, incident)
      res.json({ incident, ...incidentTimeline(incident, found, indices.dataset === null ? decisionEntries(incident.id) : []) })
    } catch (err) { next(err) }
  })

  app.get('/api/v1/problems', read, knownQuery, dataset, async (req, res, next) => {
    try {
      const parsed = parseProblemQuery(req.query as Record<string, unknown>)
      if (!parsed.ok) throw new HttpProblem('INVALID_QUERY', 'Invalid search', { errors: parsed.errors })
      res.json(listPage(await es.search<ProblemDoc>(problemSearchRequest((await indicesOf(res)).problems, parsed.value)), parsed.value.size, PROBLEM_CURSOR_SORT))
    } catch (err) { next(err) }
  })

  app.get('/api/v1/problems/:id', read, knownQuery, dataset, async (req, res, next) => {
    try {
      const indices = await indicesOf(res)
      const problem = await getDoc<ProblemDoc>(indices.problems, String(req.params.id))
      const incidents = problemIncidents(await es.search<IncidentListItem>(problemIncidentsRequest(indices.incidents, problem.id)))
      versionTag(req, res, problem)
      res.json({ problem, ...incidents, timeline: problemTimeline(problem, indices.dataset === null ? decisionEntries(problem.id) : []) })
    } catch (err) { next(err) }
  })

  /**
   * A read of Prometheus's response times, counted (`opsreview_review_response_time_reads_total`), and a warning
   * in the log when Prometheus failed it: the answer tells the meeting, this the operator.
   */
  function noteResponseTimes(req: Request, read: Exclude<ResponseTimeRead, 'digest'>, t: ResponseTimes | LookbackResponseTimes): void {
    metrics?.responseTimesRead(read, t.status)
    if (t.status === 'unavailable') req.log.warn({ error: t.error }, `${read === 'review' ? 'review' : 'look-back'} without response times: Prometheus gave none`)
  }

  async function reviewFor(req: Request, indices: ReviewIndices, window: ReviewWindowAt, filter: ScopeFilter | undefined) {
    const review = await buildReview(es, indices, window, { ...reviewOptions, scope: filter })
    noteResponseTimes(req, 'review', review.responseTimes)
    return review
  }

  app.get('/api/v1/review', read, knownQuery, dataset, async (req, res, next) => {
    try {
      const { window, scope, filter } = reviewQueryOf(req)
      const indices = await indicesOf(res)
      res.json({ ...(await reviewFor(req, indices, window, filter)), dataset: indices.dataset, scope })
    } catch (err) { next(err) }
  })

  app.get('/api/v1/review.md', read, knownQuery, dataset, async (req, res, next) => {
    try {
      const { window, scope, filter } = reviewQueryOf(req)
      const { dataset: name, ...idx } = await indicesOf(res)
      const markdown = `${scopeMarkdown(scope)}${reviewMarkdown(await reviewFor(req, idx, window, filter))}`
      res.type('text/markdown; charset=utf-8').send(name === null ? markdown : `> What-if dataset ${name}: a replay with another configuration, not the live review.\n\n${markdown}`)
    } catch (err) { next(err) }
  })

  registerLookbackRoutes(app, { es, clock, read, knownQuery, dataset, indicesOf, scopeOf, timeZone, degradedRule: deps.degradedRule, responseTimes: deps.responseTimes, noteResponseTimes })

  app.get('/api/v1/dead-letters/summary', read, knownQuery, async (_req, res, next) => {
    try {
      const { summary, stale } = await deps.deadLetters()
      res.json({ ...summary, stale })
    } catch (err) { next(err) }
  })

  type CommandDraft = Omit<Command, 'id' | 'target' | 'environment' | 'at'>
  /**
   * What an answer given before its outcome was known needs to be finished later: the published commands' ids
   * and where the change shows. Never the commands: a keyed retry waits on these, and publishes nothing again.
   */
  interface Awaiting { commandIds: string[]; index: string; targetId: string; visible: (doc: unknown) => boolean }
  /** A kept answer: final, or still `awaiting` its outcome (the wait ran out, the client hung up, Elasticsearch failed). */
  type KeptAnswer = StoredAnswer & { awaiting?: Awaiting }
  const idempotency = new IdempotencyStore<KeptAnswer>(deps.idempotency ?? defaultIdempotencyLimits)

  /** The Idempotency-Key header, when sent: a client's retries of one decision carry the same key. */
  function idempotencyKeyOf(req: Request): string | undefined {
    const key = req.headers['idempotency-key']
    if (key === undefined) return undefined
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw new HttpProblem('BAD_REQUEST', 'Invalid Idempotency-Key', { errors: [{ path: 'header:idempotency-key', message: 'must be 1 to 200 visible ASCII characters, sent once' }] })
    }
    return key
  }

  /**
   * `Idempotency-Replay: only`, when sent: the client asks for the answer kept for its key (whether a
   * decision it took shows yet), never for a decision. A key the review no longer keeps (its age, its bounds,
   * a restart, another instance) is then answered 404 instead of being taken as a new request: that would
   * publish the commands again, count the decision again and log it as published again.
   */
  function replayOnlyOf(req: Request): boolean {
    const value = req.headers['idempotency-replay']
    if (value === undefined) return false
    if (value !== 'only') {
      throw new HttpProblem('BAD_REQUEST', 'Invalid Idempotency-Replay', { errors: [{ path: 'header:idempotency-replay', message: 'must be only, sent once' }] })
    }
    return true
  }

  /**
   * A patch naming who decides and no decision. Refused before the target is read: it is the client's fault
   * whatever Elasticsearch says (checked once the commands were made, it was 503 while it was down, 404 on an
   * unknown id).
   */
  const actorAlone = (patch: object) => Object.keys(patch).every((k) => k === 'actor')
  const noDecision = () => new HttpProblem('VALIDATION_FAILED', 'No decision', { errors: [{ path: '/', message: 'must hold at least one decision besides actor' }] })
  const keyReused = () => new ReviewProblem('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was sent with a different target or body; use a new key for a new decision', { errors: [{ path: 'header:idempotency-key', message: 'was already used for a different request' }] })
  const keyInFlight = () => new ReviewProblem('IDEMPOTENCY_KEY_IN_FLIGHT', 'The first request with this Idempotency-Key has not answered yet; retry it', { retryAfterSeconds: 1, errors: [{ path: 'header:idempotency-key', message: 'is that of a request still being answered' }] })
  /** A replay-only request whose key is not kept: nothing was published, and no answer can be given for it. */
  const keyUnknown = () => new ReviewProblem('IDEMPOTENCY_KEY_UNKNOWN', 'This Idempotency-Key is not (or no longer) kept here, and Idempotency-Replay: only asks for its kept answer alone: nothing was published', {
    errors: [{ path: 'header:idempotency-key', message: 'is not kept by this review (never sent, or forgotten: its age, the bounds, a restart or another instance)' }],
  })

  /**
   * Waits up to `waitMs` for the correlator's outcome of each command (a refusal is a 409 with its reason)
   * and, when all were taken, until `visible` holds for the indexed document; with `waitMs` 0 it answers what
   * is known now. An answer short of an outcome or of visibility is a 202 still `awaiting`. `counted` takes the
   * outcomes once read, for the metrics, which count a decision once: only its first wait passes it.
   */
  async function outcomeOf(req: Request, res: express.Response, w: Awaiting, waitMs: number, counted?: (decisions: Decision[]) => void): Promise<KeptAnswer> {
    const { commandIds } = w
    const deadline = deadlineIn(waitMs)
    let outcomes: { decisions?: Decision[] } = {}
    const unfinished = (): KeptAnswer => ({ status: 202, body: { commandIds, ...outcomes, visible: false }, awaiting: w })
    // A client that hangs up stops the wait; the decision stands and its outcome stays readable. One that
    // hung up while the commands were published has no 'close' left to hear.
    const gone = new AbortController()
    if (res.closed) gone.abort()
    else res.once('close', () => gone.abort())
    // Whether every outcome was read; without a log, the index alone says.
    let settled = true
    try {
      if (deps.decisions) {
        const decisions = await deps.decisions.waitFor(commandIds, waitMs, gone.signal)
        outcomes = { decisions }
        counted?.(decisions)
        const refused = decisions.filter((d) => d.outcome === 'refused')
        if (refused.length > 0) {
          req.log.info({ target: w.targetId, refused: refused.map((d) => d.type) }, 'review decision refused by the correlator')
          // An answer, not a throw: it is kept for the key's retries, the outcome beside the problem.
          const problem = new ReviewProblem('DECISION_REFUSED', refused.map((d) => `${d.type}: ${d.error ?? 'refused'}`).join('; '))
          return { status: problem.status, body: { ...problemBody(problem), commandIds, decisions } }
        }
        settled = decisions.every((d) => d.outcome !== 'pending')
      }
      // An outcome still pending is no 200, however the record looks: the correlator may yet refuse a command
      // whose change looked made already (a resolve of a resolved incident, sent with a note that made a new
      // version). Kept awaiting, the key's retries read the outcome when it comes (docs/review-api.md).
      if (!settled) return unfinished()
      // The version the correlator said shows every command, when it said (since 2026-12-05): what the record
      // looks like cannot tell a keyed retry's note from the same note its first copy already added.
      const versions = outcomes.decisions?.map((d) => d.version)
      const shownIn = versions?.every((v) => v !== undefined) ? Math.max(...versions) : undefined
      // Looked at once at least: a retry that does not wait is told whether the change shows by now.
      for (;;) {
        // Each look within what is left of the wait, and never retried (a first look of a wait of 0 gets a
        // second): with the client's own timeout (10 s, retried), Elasticsearch turning slow held a published
        // decision's answer past the socket's idle timeout and the shutdown's grace, and the client saw its
        // connection dropped instead of this 202. A look that runs out is answered as a failed one (below).
        // A signal of its own per call: the transport times a request out by dispatching 'abort' on the signal
        // it is given, which on the shared one would reach every listener as a hang-up.
        const bounded = () => ({ requestTimeout: Math.max(waitMs === 0 ? 1000 : 250, deadline.left()), maxRetries: 0, signal: AbortSignal.any([gone.signal]) })
        let doc: { version: number } | undefined
        try {
          await es.indices.refresh({ index: w.index }, bounded())
          doc = await getDoc<{ version: number }>(w.index, w.targetId, bounded())
        } catch (err) {
          // One failed look while time is left is looked past, as the client's retries once rode it out.
          if (gone.signal.aborted || deadline.left() <= 150 || err instanceof HttpProblem) throw err
        }
        if (doc && (shownIn === undefined ? w.visible(doc) : doc.version >= shownIn)) return { status: 200, body: { commandIds, ...outcomes, visible: true, document: doc } }
        if (gone.signal.aborted || deadline.left() <= 150) return unfinished()
        await new Promise((r) => setTimeout(r, 150))
      }
    } catch (err) {
      // The commands are on Kafka and will be applied: a failure now is the wait's alone, and a 5xx would
      // tell the client to decide again. It is answered as a slow index is, and finished by the key's retries.
      // A look cut short by the client's hang-up (the signal) is no failure of Elasticsearch's.
      if (gone.signal.aborted) req.log.info({ target: w.targetId }, 'review decision published; its client hung up before it showed')
      else req.log.warn({ err, target: w.targetId }, 'review decision published; waiting for it to show failed')
      return unfinished()
    }
  }

  /**
   * Publishes the commands, then with ?wait=true waits for their outcome (`outcomeOf`). With an
   * Idempotency-Key, the command ids come from the key and the request, and a repeat of the request gets
   * the first answer back instead of publishing again (`replayed`). Without one, nothing is published for a
   * client that has hung up already (undefined: there is no one to answer).
   */
  async function decide<T>(req: Request, res: express.Response, keyed: Keyed | undefined, index: string, target: T & { id: string; environment: string }, commands: CommandDraft[], visible: (doc: T) => boolean): Promise<(StoredAnswer & { replayed: boolean }) | undefined> {
    if (commands.length === 0) throw noDecision()
    const publish = async (idFor: (type: string) => string): Promise<KeptAnswer> => {
      const at = clock().toISOString()
      const full: Command[] = commands.map((c) => ({ ...c, id: idFor(c.type), target: target.id, environment: target.environment, at }))
      await deps.commands.publish(deps.commandsTopic, full.map((c) => ({ key: c.environment, value: JSON.stringify(c) })))
      req.log.info({ target: target.id, commands: full.map((c) => c.type), named: req.tokenName !== undefined, idempotencyKey: keyed !== undefined }, 'review decision published')
      const commandIds = full.map((c) => c.id)
      const wait = res.locals.wait === true
      if (!wait || !deps.decisions) metrics?.decided(full.map((c) => ({ type: c.type, outcome: 'not-awaited' })))
      if (!wait) return { status: 202, body: { commandIds } }
      const awaiting: Awaiting = { commandIds, index, targetId: target.id, visible: visible as (doc: unknown) => boolean }
      const answer = await outcomeOf(req, res, awaiting, deps.waitTimeoutMs, (decisions) => metrics?.decided(full.map((c, i) => ({
        type: c.type, outcome: decisions[i]?.outcome === 'accepted' || decisions[i]?.outcome === 'refused' ? decisions[i].outcome : 'pending-at-timeout',
      }))))
      // The predicate holds the request's values (a note of up to 20,000 characters): counted as its body.
      return answer.awaiting ? { ...answer, heldBytes: JSON.stringify(req.body ?? null).length } : answer
    }
    if (keyed === undefined) {
      // A client gone before its unkeyed decision is published (timed out while the target was read) is told
      // nothing, and its retry, without a key, would be a second decision with ids of its own: not published.
      // A keyed one goes on: its retry publishes the same ids, which the correlator applies once.
      if (res.closed) {
        req.log.info({ target: target.id, commands: commands.map((c) => c.type) }, 'review decision not published: its client hung up before it was')
        return undefined
      }
      return { ...(await publish(() => randomUUID())), replayed: false }
    }
    const { key, fingerprint } = keyed
    const begun = idempotency.begin(key, fingerprint, clock().getTime())
    switch (begun.kind) {
      case 'replay':
        return replayed(req, res, key, fingerprint, target.id, begun.answer)
      case 'mismatch':
        throw keyReused()
      case 'in-flight':
        throw keyInFlight()
      case 'new':
        try {
          const answer = await publish((type) => commandIdFor(key, fingerprint, type))
          begun.finish(answer)
          return { ...answer, replayed: false }
        } catch (err) {
          begun.abandon()
          throw err
        }
    }
  }

  /**
   * A keyed retry's answer: the kept one when final. One kept while its outcome was still to come is waited
   * on again by its command ids, as long as the retry's own `?wait=true` asks (without it, what is known
   * now), and kept in its place: a retry is never told "pending" by an answer older than the outcome, and
   * nothing is published again, so a command goes to Kafka at most once per key while the key is kept.
   */
  async function replayed(req: Request, res: express.Response, key: string, fingerprint: string, targetId: string, kept: KeptAnswer): Promise<KeptAnswer & { replayed: boolean }> {
    req.log.info({ target: targetId, awaited: kept.awaiting !== undefined }, 'review decision replayed for its Idempotency-Key')
    if (!kept.awaiting) return { ...kept, replayed: true }
    const answer = await outcomeOf(req, res, kept.awaiting, res.locals.wait === true ? deps.waitTimeoutMs : 0)
    const now = answer.awaiting ? { ...answer, heldBytes: kept.heldBytes } : answer
    // In place of the answer this retry read only: another retry may have kept a final one meanwhile, which
    // this one's answer (a failed look) must not replace. A final answer still takes the place of another
    // retry's awaiting one.
    let stored = idempotency.update(key, fingerprint, kept, now, clock().getTime())
    if (stored?.awaiting && stored !== now && !now.awaiting) stored = idempotency.update(key, fingerprint, stored, now, clock().getTime())
    return { ...(stored && !stored.awaiting ? stored : now), replayed: true }
  }

  /**
   * A keyed decision's Idempotency-Key and request fingerprint (a hash of the body), made once for both the
   * retry's look-up (`replayOf`) and the decision (`decide`). The body as decided: with a named token, the
   * token's name is the actor, so one key used by two people is two requests. A bare token's body already
   * holds its actor, and fingerprints as before.
   */
  function keyedOf(req: Request, targetId: string, actor: string): Keyed | undefined {
    const replayOnly = replayOnlyOf(req)
    const key = idempotencyKeyOf(req)
    if (key !== undefined) return { key, fingerprint: requestFingerprint(req.method, targetId, { ...(req.body as object), actor }), replayOnly }
    if (replayOnly) throw new HttpProblem('BAD_REQUEST', 'Idempotency-Replay without an Idempotency-Key', { errors: [{ path: 'header:idempotency-key', message: 'is required with Idempotency-Replay: only' }] })
    return undefined
  }

  /**
   * The kept answer of a keyed decision's retry, looked up before anything is read: a decision published
   * is never answered 5xx, so its retry is answered while Elasticsearch is down too. A key another request
   * holds is refused here too, before the target is read: another body is 422 and a request still running
   * 409, whatever Elasticsearch says (read first, they were 503 while it was down, or 404 on an id it does
   * not hold). With `Idempotency-Replay: only` (`replayOnlyOf`) it is the whole answer: a key not kept is a 404.
   */
  async function replayOf(req: Request, res: express.Response, targetId: string, keyed: Keyed | undefined): Promise<(StoredAnswer & { replayed: boolean }) | undefined> {
    if (keyed === undefined) return undefined
    const { key, fingerprint } = keyed
    const kept = idempotency.lookup(key, fingerprint, clock().getTime())
    if (kept.kind === 'replay') return replayed(req, res, key, fingerprint, targetId, kept.answer)
    if (kept.kind === 'mismatch') throw keyReused()
    if (kept.kind === 'in-flight') throw keyInFlight()
    if (!keyed.replayOnly) return undefined
    req.log.info({ target: targetId }, 'review decision not replayed: its Idempotency-Key is not kept')
    throw keyUnknown()
  }

  /**
   * A decision's `If-Match` (RFC 9110 § 13.1.1), read before anything else is: `'*'`, the versions its strong
   * entity tags name (`"7"`, the ETag of the incident's or problem's GET), or undefined when it is not sent (a
   * decision taken on whatever the document is, as before If-Match was read). A weak tag (`W/"7"`) or one that
   * names no version is well-formed and matches nothing (the comparison is strong); a value that is no list
   * of entity tags is a 400 naming it, before the target is read.
   */
  function ifMatchOf(req: Request): '*' | number[] | undefined {
    const value = req.headers['if-match']
    if (value === undefined) return undefined
    if (value.trim() === '*') return '*'
    if (!IF_MATCH_TAGS.test(value)) {
      throw new HttpProblem('BAD_REQUEST', 'Invalid If-Match', { errors: [{ path: 'header:if-match', message: 'must be * or entity tags such as "7", the ETag of the incident or problem as read (GET)' }] })
    }
    return [...value.matchAll(ENTITY_TAG)].flatMap((m) => (m[1] === undefined && /^[1-9][0-9]{0,15}$/.test(m[2]!) ? [Number(m[2])] : []))
  }

  /**
   * A decision sent with `If-Match` on a document that changed since the version it names is answered 412
   * with the version and status it is at now (and its ETag), nothing published: a confirm from a view that
   * showed a candidate, reaching a problem someone confirmed and resolved meanwhile, reopened it as a fix that
   * did not hold (commands.ts, comeBack). Not for a keyed retry of a decision published already
   * (`publishedBefore`): its own decision made the new version. True when it answered.
   */
  function preconditionFailed(req: Request, res: express.Response, ifMatch: '*' | number[] | undefined, kind: 'incident' | 'problem', doc: { id: string; version: number; status: string }): boolean {
    if (ifMatch === undefined || ifMatch === '*' || ifMatch.includes(doc.version)) return false
    const named = ifMatch.length > 0 ? `version ${ifMatch.join(', ')}` : 'no version of it'
    req.log.info({ target: doc.id, ifMatch: req.headers['if-match'], version: doc.version, status: doc.status }, 'review decision refused: If-Match names an older version')
    res.setHeader('ETag', `"${doc.version}"`)
    sendProblem(res, new HttpProblem('PRECONDITION_FAILED', `The ${kind} changed since it was read: If-Match names ${named}, it is at version ${doc.version}, ${doc.status}. Nothing was published: read it again and decide on what it is now.`, {
      errors: [{ path: 'header:if-match', message: `names ${named}; the ${kind} is at version ${doc.version} ("${doc.version}"), status ${doc.status}` }],
    }), { current: { version: doc.version, status: doc.status } })
    return true
  }

  /**
   * Whether every command of a keyed decision is in the decision log: published already, by this instance or
   * another (the log reads the commands topic), so that a retry of it is the same decision, not a new one.
   */
  const publishedBefore = (keyed: Keyed | undefined, commands: CommandDraft[]) =>
    keyed !== undefined && deps.decisions !== undefined && commands.every((c) => deps.decisions!.get(commandIdFor(keyed.key, keyed.fingerprint, c.type)) !== undefined)

  /** `answer` undefined: nothing was decided for a client that has gone, and nothing is sent. */
  function send(res: express.Response, answer: (StoredAnswer & { replayed: boolean }) | undefined) {
    if (answer === undefined) return
    if (answer.replayed) res.setHeader('Idempotent-Replayed', 'true')
    if (answer.status >= 400) res.status(answer.status).type('application/problem+json').send(JSON.stringify(answer.body))
    else res.status(answer.status).json(answer.body)
  }

  /**
   * Who decides: a named token's name (a body `actor` must then be absent or the same); a bare token's
   * requests say it in `actor`, as before names existed.
   */
  function actorOf(req: Request, given: string | undefined): string {
    const name = req.tokenName
    if (name !== undefined) {
      if (given !== undefined && given !== name) throw new HttpProblem('VALIDATION_FAILED', '1 field(s) failed validation', { errors: [{ path: '/actor', message: `must be left out or be ${name}, the name of your token` }] })
      return name
    }
    if (given === undefined) throw new HttpProblem('VALIDATION_FAILED', '1 field(s) failed validation', { errors: [{ path: '/actor', message: 'is required: this token carries no name' }] })
    return given
  }

  /**
   * A problem explains incidents of its own environment only; the correlator refuses the link too, but a
   * 400 naming the field says it at once. A problem not indexed yet (just found) is the correlator's to judge.
   */
  async function checkSameEnvironment(incident: IncidentDoc, problemId: string): Promise<void> {
    const r = await es.search<ProblemDoc>({ index: indices.problems, size: 1, query: { term: { id: problemId } }, _source: ['environment'] })
    const problem = r.hits.hits[0]?._source
    if (problem && problem.environment !== incident.environment) {
      throw new HttpProblem('VALIDATION_FAILED', '1 field(s) failed validation', {
        errors: [{ path: '/problemId', message: `is a problem of environment ${problem.environment}; this incident is of ${incident.environment}` }],
      })
    }
  }

  /** A date-time of a decision as the command carries it; one `Date` cannot hold (a leap second) is the client's to fix. */
  function instantOf(value: string, path: string): string {
    const t = parseInstant(value)
    if (!t.ok) throw new HttpProblem('VALIDATION_FAILED', '1 field(s) failed validation', { errors: [{ path, message: t.message }] })
    return t.iso
  }

  /**
   * The body limit of a decision: the largest valid body fits. A note is up to 20,000 code points; sent
   * \u-escaped, an astral one is 12 bytes (a surrogate pair), so a note alone may be 240,000 bytes, and three
   * names of 200 such code points 7,200 more. At 64 KiB a note of 20,000 emoji (or ~10,900 escaped non-ASCII
   * characters) was refused 413 though the schema takes it.
   */
  const decisionBody = jsonBody(256 * 1024)

  app.patch('/api/v1/incidents/:id', write, knownQuery, liveOnly, waitParam, ...decisionBody, async (req, res, next) => {
    try {
      const v = validateIncidentPatch(req.body)
      if (!v.ok) throw new HttpProblem('VALIDATION_FAILED', `${v.errors.length} field(s) failed validation`, { errors: v.errors })
      const patch: IncidentPatch = v.value
      const scheduledFor = patch.postmortem ? instantOf(patch.postmortem.scheduledFor, '/postmortem/scheduledFor') : undefined
      const actor = actorOf(req, patch.actor)
      if (actorAlone(patch)) throw noDecision()
      const id = routeTarget(req, 'inc')
      const keyed = keyedOf(req, id, actor)
      const ifMatch = ifMatchOf(req)
      // A kept answer first: a retry of a decision taken is answered its outcome, whatever If-Match it names.
      const replay = await replayOf(req, res, id, keyed)
      if (replay) return send(res, replay)
      const incident = await getDoc<IncidentDoc>(indices.incidents, id)
      const commands: CommandDraft[] = []
      if (patch.owner) commands.push({ type: 'incident.assign', actor, owner: patch.owner })
      if (patch.acknowledge) commands.push({ type: 'incident.acknowledge', actor })
      if (patch.note) commands.push({ type: 'incident.note', actor, text: patch.note })
      if (patch.problemId) commands.push({ type: 'incident.link-problem', actor, problemId: patch.problemId })
      if (patch.postmortem && scheduledFor) commands.push({ type: 'incident.schedule-postmortem', actor, scheduledFor, ...(patch.postmortem.owner ? { owner: patch.postmortem.owner } : {}) })
      if (patch.resolve) commands.push({ type: 'incident.resolve', actor })
      const retried = publishedBefore(keyed, commands)
      if (!retried && preconditionFailed(req, res, ifMatch, 'incident', incident)) return
      if (patch.problemId) await checkSameEnvironment(incident, patch.problemId)
      // Its last version: the correlator holds it no more, and would refuse every command as an unknown
      // incident, which left the meeting no wiser (about a post-mortem it could never schedule, too). Nothing
      // is published. Documents of engines before 2026-12-07 say so of a forgotten post-mortem alone.
      const forgottenAt = incident.postmortem.forgottenAt ?? incident.forgottenAt
      // Not for a keyed retry of a decision published already (the decision log holds its commands): the
      // decision may be what let the incident go (a post-mortem scheduled for an incident kept past its
      // retention for it alone), and a retry reaching an instance that does not keep the key, or a restarted
      // one, was answered 409 for a decision that was taken. It waits for the outcome instead; its ids are
      // published again, which the correlator drops.
      if (forgottenAt !== undefined && commands.length > 0 && !retried) {
        const types = commands.map((c) => c.type).join(', ')
        throw new ReviewProblem('DECISION_REFUSED', incident.postmortem.forgottenAt !== undefined
          ? `${types}: the correlator forgot incident ${id} at ${forgottenAt}, its post-mortem never scheduled, pushed out by newer post-mortems awaited past its retention (OPSREVIEW_POSTMORTEM_KEEP); it can no longer be scheduled or changed here: hold the post-mortem outside the review`
          : `${types}: the correlator let incident ${id} go at ${forgottenAt}, its retention (OPSREVIEW_CORRELATOR_RETENTION) after the incident resolved; it takes no more decisions here, and its record stays as it is`)
      }
      const { note } = patch
      const before = notesBefore(incident, actor, note)
      send(res, await decide<IncidentDoc>(req, res, keyed, indices.incidents, incident, commands, (d) =>
        (!patch.owner || d.owner === patch.owner) &&
        (!patch.acknowledge || d.acknowledgedAt !== null) &&
        (!note || noteShown(d, before, { author: actor, text: note })) &&
        (!patch.problemId || d.problemIds.includes(patch.problemId)) &&
        (!scheduledFor || (d.postmortem.scheduledFor === scheduledFor && (!patch.postmortem?.owner || d.postmortem.owner === patch.postmortem.owner))) &&
        (!patch.resolve || d.status === 'resolved')))
    } catch (err) { next(err) }
  })

  app.patch('/api/v1/problems/:id', write, knownQuery, liveOnly, waitParam, ...decisionBody, async (req, res, next) => {
    try {
      const v = validateProblemPatch(req.body)
      if (!v.ok) throw new HttpProblem('VALIDATION_FAILED', `${v.errors.length} field(s) failed validation`, { errors: v.errors })
      const patch: ProblemPatch = v.value
      const actor = actorOf(req, patch.actor)
      if (actorAlone(patch)) throw noDecision()
      const id = routeTarget(req, 'prb')
      const keyed = keyedOf(req, id, actor)
      const ifMatch = ifMatchOf(req)
      const replay = await replayOf(req, res, id, keyed)
      if (replay) return send(res, replay)
      const problem = await getDoc<ProblemDoc>(indices.problems, id)
      const commands: CommandDraft[] = []
      if (patch.action) commands.push({ type: `problem.${patch.action}`, actor })
      if (patch.owner) commands.push({ type: 'problem.assign', actor, owner: patch.owner })
      if (patch.note) commands.push({ type: 'problem.note', actor, text: patch.note })
      if (!publishedBefore(keyed, commands) && preconditionFailed(req, res, ifMatch, 'problem', problem)) return
      const target = { confirm: 'confirmed', dismiss: 'dismissed', resolve: 'resolved' } as const
      const { note } = patch
      const before = notesBefore(problem, actor, note)
      send(res, await decide<ProblemDoc>(req, res, keyed, indices.problems, problem, commands, (d) =>
        (!patch.action || d.status === target[patch.action]) && (!patch.owner || d.owner === patch.owner) && (!note || noteShown(d, before, { author: actor, text: note }))))
    } catch (err) { next(err) }
  })

  /** The outcome of one decision: pending until the correlator's result is read (or forgotten, or never published). */
  app.get('/api/v1/decisions/:commandId', read, knownQuery, (req, res, next) => {
    const id = String(req.params.commandId)
    if (!isCommandId(id)) return next(new HttpProblem('NOT_FOUND', `No such command id ${id}`))
    res.json(deps.decisions?.get(id) ?? { commandId: id, outcome: 'pending' })
  })

  /** Who the token is (its name, or null for a bare token), and whether reports can be filed here. */
  app.get('/api/v1/whoami', read, knownQuery, dataset, async (req, res, next) => {
    try {
      // A page opened on a dataset that is not there learns it here.
      await indicesOf(res)
      res.json({ name: req.tokenName ?? null, reports: deps.reports !== undefined })
    } catch (err) { next(err) }
  })

  /**
   * A report filed on the dashboard, handed to the receiver: answered when the receiver has answered, which
   * it does once its spool or Kafka holds the event (docs/receiving.md). The reporter is the token's name.
   */
  app.post('/api/v1/reports', write, knownQuery, liveOnly, ...jsonBody(64 * 1024), async (req, res, next) => {
    try {
      const target = deps.reports
      if (!target) throw new HttpProblem('NOT_FOUND', 'Filing reports is not configured here (OPSREVIEW_RECEIVER_TOKEN); file them with the receiver')
      const report = reportOf(req.body, req.tokenName)
      if (!report.ok) throw new HttpProblem('VALIDATION_FAILED', `${report.errors.length} field(s) failed validation`, { errors: report.errors })
      const outcome = await fileReport(target, report.value)
      switch (outcome.kind) {
        case 'accepted':
          req.log.info({ kind: report.value.kind, service: report.value.service, named: req.tokenName !== undefined }, 'report filed with the receiver')
          res.status(202).json(outcome.body)
          return
        case 'refused':
          if (outcome.status === 413) throw new HttpProblem('PAYLOAD_TOO_LARGE', outcome.detail)
          throw new HttpProblem('VALIDATION_FAILED', outcome.detail, { errors: outcome.errors })
        case 'unavailable':
          req.log.warn({ detail: outcome.detail }, 'receiver unavailable for a report')
          throw new HttpProblem('UNAVAILABLE', 'The receiver is unavailable, retry later', { retryAfterSeconds: 5 })
        case 'misconfigured':
          req.log.error({ detail: outcome.detail }, 'receiver refused the review; check OPSREVIEW_RECEIVER_TOKEN')
          throw new HttpProblem('INTERNAL', 'Internal error')
      }
    } catch (err) { next(err) }
  })

  app.use((_req, _res, next) => next(new HttpProblem('NOT_FOUND')))
  app.use(engineErrors)
  app.use(problemHandler)
  return app
}

export const defaultPublicDir = path.resolve(import.meta.dirname, '../public')
const zoneOffsetsFile = createRequire(import.meta.url).resolve('@opsreview/review/zone-offsets')
