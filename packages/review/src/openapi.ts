import alertSchema from '../../../schemas/alert.v1.json' with { type: 'json' }
import commandSchema from '../../../schemas/command.v1.json' with { type: 'json' }
import incidentSchema from '../../../schemas/incident.v1.json' with { type: 'json' }
import problemSchema from '../../../schemas/problem.v1.json' with { type: 'json' }
import incidentPatchSchema from '../../../schemas/incident-patch.v1.json' with { type: 'json' }
import problemPatchSchema from '../../../schemas/problem-patch.v1.json' with { type: 'json' }
import reportSchema from '../../../schemas/report.v1.json' with { type: 'json' }
import { incidentSummaryFields, problemSummaryFields } from './report.ts'
import { WHAT_IF_DATASET_NAME } from '@opsreview/search-index/templates'
import { SCOPE_CAPS } from './scope.ts'
import { incidentListExcludes } from './search.ts'

/**
 * The review API as OpenAPI 3.1 (`GET /api/v1/openapi.json`), written by hand beside the code. The records
 * and request bodies are the JSON Schemas of schemas/, embedded under components with their `$id`s, so
 * their relative `$ref`s (`alert.v1.json#/definitions/service`) resolve among them. The query parameters
 * listed here are the only ones a route takes: the app refuses any other (`knownQueryParameters`), and
 * services/review/src/openapi.int.test.ts checks every route against this and every answer against its schema.
 */

type Json = Record<string, unknown>
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
/** A draft-07 schema of schemas/ as a component: `$schema` left out, as OpenAPI 3.1 names its own dialect. */
const embedded = (s: Json): Json => { const { $schema: _dialect, ...rest } = s; return rest }

const INCIDENT = 'https://opsreview.dev/schemas/incident.v1.json'
const PROBLEM = 'https://opsreview.dev/schemas/problem.v1.json'
/**
 * Some fields of a record schema, required where the schema requires them: a field added later (an
 * incident's `resolutionDecidedAt`, a problem's `resolvedAt`) is absent from the documents older engines wrote.
 */
const picked = (id: string, fields: readonly string[], extra: Record<string, Json> = {}): Json => ({
  type: 'object', required: fields.filter((f) => requiredIn[id]!.has(f)), additionalProperties: false,
  properties: { ...Object.fromEntries(fields.map((f) => [f, { $ref: `${id}#/properties/${f}` }])), ...extra },
})
const incidentFields = Object.keys(incidentSchema.properties)
const requiredIn: Record<string, Set<string>> = { [INCIDENT]: new Set(incidentSchema.required), [PROBLEM]: new Set(problemSchema.required) }
const nonNegative = { type: 'integer', minimum: 0 }
const nullableMs = { type: ['integer', 'null'], minimum: 0 }
const dateTime = { type: 'string', format: 'date-time' }
const severityCounts = { type: 'object', required: ['total', 'critical', 'warning', 'info'], additionalProperties: false, properties: { total: nonNegative, critical: nonNegative, warning: nonNegative, info: nonNegative } }
/** What the indexer adds to an incident (search-index documents.ts), for MTTA and MTTR. */
const indexedDurations = {
  timeToAcknowledgeMs: { type: ['integer', 'null'], description: 'acknowledgedAt - openedAt, added by the indexer' },
  timeToResolveMs: { type: ['integer', 'null'], description: 'resolvedAt - openedAt, added by the indexer' },
}
const pct = { type: 'number', minimum: 0, maximum: 100 }
const nullableNumber = { type: ['number', 'null'] }
/**
 * The review's and the look-back's response times: `ok` with one item of `item`'s properties (each required)
 * per service, or none because Prometheus failed, or because none is configured.
 */
const responseTimesSchema = (description: string, item: Record<string, Json>): Json => ({
  description,
  oneOf: [
    {
      type: 'object', required: ['status', 'name', 'items'], additionalProperties: false,
      properties: {
        status: { const: 'ok' }, name: { type: 'string' },
        items: { type: 'array', items: { type: 'object', required: Object.keys(item), additionalProperties: false, properties: item } },
      },
    },
    { type: 'object', required: ['status', 'name', 'error'], additionalProperties: false, properties: { status: { const: 'unavailable' }, name: { type: 'string' }, error: { type: 'string' } } },
    { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { const: 'not-configured' } } },
  ],
})
/** A response time in milliseconds; null for no requests. */
const responseMs = { type: ['number', 'null'], minimum: 0 }

const schemas: Record<string, Json> = {
  AlertEvent: embedded(alertSchema),
  Command: embedded(commandSchema),
  Incident: embedded(incidentSchema),
  Problem: embedded(problemSchema),
  IncidentPatch: embedded(incidentPatchSchema),
  ProblemPatch: embedded(problemPatchSchema),
  Report: embedded(reportSchema),
  FieldError: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
  ProblemDetails: {
    description: 'RFC 9457 problem details; `errors` names each failing field or parameter by JSON Pointer (`/team`, `/environment`).',
    type: 'object', required: ['type', 'title', 'status'],
    properties: {
      type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer', minimum: 400, maximum: 599 }, detail: { type: 'string' }, code: { type: 'string' },
      errors: { type: 'array', items: ref('FieldError') },
      current: { description: 'On a 412 PRECONDITION_FAILED: the version and status the incident or problem is at.', type: 'object', properties: { version: { type: 'integer' }, status: { type: 'string' } } },
    },
  },
  Scope: {
    description: 'What the answer covers: the environments (the request\'s, else OPSREVIEW_REVIEW_ENVIRONMENTS; empty: all), the services and the teams named (empty: all).',
    type: 'object', required: ['environments', 'services', 'teams'], additionalProperties: false,
    properties: { environments: { type: 'array', items: { type: 'string' } }, services: { type: 'array', items: { type: 'string' } }, teams: { type: 'array', items: { type: 'string' } } },
  },
  IndexedIncident: { description: 'An incident (schemas/incident.v1.json) as indexed, with the durations the indexer adds.', ...picked(INCIDENT, incidentFields, indexedDurations) },
  IncidentListItem: picked(INCIDENT, incidentFields.filter((f) => !(incidentListExcludes as readonly string[]).includes(f)), indexedDurations),
  IncidentSummary: picked(INCIDENT, incidentSummaryFields),
  ProblemSummary: picked(PROBLEM, problemSummaryFields),
  TimelineEntry: {
    type: 'object', required: ['at', 'kind', 'source', 'title'],
    properties: {
      at: dateTime, kind: { type: 'string' }, source: { type: 'string' }, title: { type: 'string' },
      scheduledFor: { ...dateTime, description: 'A post-mortem decision: the time scheduled, which the title names too' },
    },
  },
  Decision: {
    type: 'object', required: ['commandId', 'outcome'],
    properties: {
      commandId: { type: 'string' }, type: { type: 'string' }, target: { type: 'string' }, actor: { type: 'string' }, at: dateTime,
      outcome: { enum: ['pending', 'accepted', 'refused'] }, error: { type: 'string' },
      version: { type: 'integer', minimum: 0, description: 'Accepted: the version of the incident or problem that shows it, when the correlator said' },
    },
  },
  DecisionAnswer: {
    description: '202: published (and, with ?wait=true, not yet visible); 200: visible in the index, with the document.',
    type: 'object', required: ['commandIds'],
    properties: { commandIds: { type: 'array', items: { type: 'string' } }, decisions: { type: 'array', items: ref('Decision') }, visible: { type: 'boolean' }, document: { type: 'object' } },
  },
  ServiceLevel: {
    type: 'object', additionalProperties: false,
    required: ['service', 'availabilityPct', 'downtimeMs', 'interruptions', 'longestInterruptionMs', 'degradedMs', 'incidents', 'mttaMs', 'mttrMs'],
    properties: {
      service: { type: 'string' }, availabilityPct: pct, downtimeMs: nonNegative, interruptions: nonNegative, longestInterruptionMs: nonNegative, degradedMs: nonNegative,
      incidents: nonNegative, mttaMs: nullableMs, mttrMs: nullableMs,
    },
  },
  ResponseTimes: responseTimesSchema(
    'Per service, over the same [from, until) as the service levels, read from Prometheus (OPSREVIEW_PROMETHEUS_URL): `ms` is the figure named `name` (OPSREVIEW_RESPONSE_TIME_NAME) in milliseconds to the tenth, null for a service without requests. `unavailable`: Prometheus did not answer or answered an error, said in `error`; the review answers all the same.',
    { service: { type: 'string' }, ms: responseMs },
  ),
  LookbackResponseTimes: responseTimesSchema(
    'The ResponseTimes of the period and of the previous one, each over the part its service levels are measured over ([from, until)), by service name: `ms` this period, `previousMs` the previous one (null: no requests, or no series then), `change` ms − previousMs (null when either is null). `unavailable` when either read failed, with its error; the look-back answers all the same.',
    { service: { type: 'string' }, ms: responseMs, previousMs: responseMs, change: nullableNumber },
  ),
  Review: {
    type: 'object', additionalProperties: false,
    required: ['window', 'newIncidents', 'resolvedIncidents', 'openIncidents', 'problems', 'postmortems', 'serviceLevels', 'responseTimes', 'trend', 'dataset', 'scope'],
    properties: {
      window: {
        type: 'object', required: ['from', 'to', 'timeZone', 'until', 'complete'], additionalProperties: false,
        properties: {
          from: dateTime, to: dateTime, timeZone: { type: 'string' },
          until: { ...dateTime, description: 'Service levels are measured over [from, until): the window, or its part before now while it runs.' },
          complete: { type: 'boolean', description: 'False while the window runs (to after now): its service levels cover only the time so far.' },
        },
      },
      newIncidents: {
        type: 'object', required: ['total', 'bySeverity', 'items'], additionalProperties: false,
        properties: {
          total: nonNegative, items: { type: 'array', items: ref('IncidentSummary') },
          bySeverity: { type: 'object', required: ['critical', 'warning', 'info'], additionalProperties: false, properties: { critical: nonNegative, warning: nonNegative, info: nonNegative } },
        },
      },
      resolvedIncidents: { type: 'object', required: ['total', 'items'], additionalProperties: false, properties: { total: nonNegative, items: { type: 'array', items: ref('IncidentSummary') } } },
      openIncidents: { type: 'object', required: ['total', 'items'], additionalProperties: false, properties: { total: nonNegative, items: { type: 'array', items: ref('IncidentSummary') } } },
      problems: { type: 'object', required: ['total', 'items'], additionalProperties: false, properties: { total: nonNegative, items: { type: 'array', items: ref('ProblemSummary') } } },
      postmortems: {
        type: 'object', required: ['total', 'scheduled', 'items', 'forgotten'], additionalProperties: false,
        properties: {
          total: nonNegative, scheduled: nonNegative, items: { type: 'array', items: ref('IncidentSummary') },
          forgotten: {
            type: 'object', required: ['total', 'items'], additionalProperties: false,
            description: 'Post-mortems never scheduled that can no longer be: the correlator forgot these incidents in the window (postmortem.forgottenAt), pushed out by newer ones awaiting theirs (OPSREVIEW_POSTMORTEM_KEEP). Not in the queue, total or scheduled.',
            properties: { total: nonNegative, items: { type: 'array', items: ref('IncidentSummary') } },
          },
        },
      },
      serviceLevels: { type: 'array', items: ref('ServiceLevel') },
      responseTimes: ref('ResponseTimes'),
      trend: {
        type: 'array',
        items: { type: 'object', required: ['day', 'total', 'critical', 'warning', 'info'], additionalProperties: false, properties: { day: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }, total: nonNegative, critical: nonNegative, warning: nonNegative, info: nonNegative } },
      },
      dataset: { type: ['string', 'null'], description: 'The what-if dataset read, or null for the live indices.' },
      scope: ref('Scope'),
    },
  },
  LookbackFigures: {
    type: 'object', required: ['availabilityPct', 'downtimeMs', 'degradedMs', 'interruptions', 'incidents', 'mttaMs', 'mttrMs'],
    properties: { availabilityPct: pct, downtimeMs: nonNegative, degradedMs: nonNegative, interruptions: nonNegative, incidents: severityCounts, mttaMs: nullableMs, mttrMs: nullableMs },
  },
  PeriodWindow: {
    type: 'object', required: ['label', 'from', 'to', 'localFrom', 'localTo', 'until', 'complete'],
    properties: { label: { type: 'string' }, from: dateTime, to: dateTime, localFrom: { type: 'string' }, localTo: { type: 'string' }, until: dateTime, complete: { type: 'boolean' }, kind: { enum: ['month', 'quarter'] }, timeZone: { type: 'string' } },
  },
  Lookback: {
    type: 'object', required: ['period', 'previous', 'totals', 'services', 'problems', 'responseTimes', 'dataset', 'scope'], additionalProperties: false,
    properties: {
      period: { allOf: [ref('PeriodWindow')], required: ['kind', 'timeZone'] },
      previous: ref('PeriodWindow'),
      totals: {
        type: 'object', required: ['incidents', 'mttaMs', 'mttrMs', 'downtimeMs', 'degradedMs', 'postmortems', 'problems', 'previous', 'change'],
        additionalProperties: false,
        properties: {
          incidents: severityCounts, mttaMs: nullableMs, mttrMs: nullableMs, downtimeMs: nonNegative, degradedMs: nonNegative, problems: nonNegative,
          postmortems: { type: 'object', required: ['required', 'scheduled', 'unscheduled', 'forgotten'], additionalProperties: false, properties: { required: nonNegative, scheduled: nonNegative, unscheduled: nonNegative, forgotten: { ...nonNegative, description: 'Of the unscheduled, those the correlator forgot (postmortem.forgottenAt): no decision here can schedule them any more.' } } },
          previous: {
            type: 'object', required: ['incidents', 'mttaMs', 'mttrMs', 'downtimeMs', 'degradedMs', 'postmortems', 'problems'], additionalProperties: false,
            properties: {
              incidents: severityCounts, mttaMs: nullableMs, mttrMs: nullableMs, downtimeMs: nonNegative, degradedMs: nonNegative, problems: nonNegative,
              postmortems: { type: 'object', required: ['required', 'scheduled', 'forgotten'], additionalProperties: false, properties: { required: nonNegative, scheduled: nonNegative, forgotten: nonNegative } },
            },
          },
          change: {
            type: 'object', required: ['incidents', 'mttaMs', 'mttrMs', 'downtimeMs', 'degradedMs', 'postmortemsRequired', 'problems'], additionalProperties: false,
            properties: { incidents: { type: 'integer' }, mttaMs: nullableNumber, mttrMs: nullableNumber, downtimeMs: { type: 'integer' }, degradedMs: { type: 'integer' }, postmortemsRequired: { type: 'integer' }, problems: { type: 'integer' } },
          },
        },
      },
      services: {
        type: 'array',
        items: {
          allOf: [ref('LookbackFigures')], required: ['service', 'previous', 'change'],
          properties: {
            service: { type: 'string' }, previous: ref('LookbackFigures'),
            change: { type: 'object', properties: { availabilityPct: nullableNumber, downtimeMs: nullableNumber, degradedMs: nullableNumber, incidents: nullableNumber, mttaMs: nullableNumber, mttrMs: nullableNumber } },
          },
        },
      },
      problems: {
        type: 'object', required: ['total', 'items'],
        properties: { total: nonNegative, items: { type: 'array', items: { type: 'object', required: ['id', 'kind', 'status', 'title', 'reopenCount', 'incidentsInPeriod', 'incidentsInPrevious'], properties: { id: { $ref: `${PROBLEM}#/properties/id` }, reopenCount: nonNegative, incidentsInPeriod: nonNegative, incidentsInPrevious: nonNegative } } } },
      },
      responseTimes: ref('LookbackResponseTimes'),
      dataset: { type: ['string', 'null'] },
      scope: ref('Scope'),
    },
  },
  DeadLetterSummary: {
    type: 'object', required: ['since', 'at', 'windowMs', 'total', 'topics', 'stale'], additionalProperties: false,
    properties: {
      since: dateTime, at: dateTime, windowMs: nonNegative, total: nonNegative, stale: { type: 'boolean' },
      topics: { type: 'array', items: { type: 'object', required: ['topic', 'count', 'exists'], additionalProperties: false, properties: { topic: { type: 'string' }, count: nonNegative, exists: { type: 'boolean' } } } },
    },
  },
}

type Parameter = { name: string; in: 'query' | 'path' | 'header'; required?: boolean; description: string; schema: Json; explode?: boolean; style?: string }
const q = (name: string, description: string, schema: Json = { type: 'string', maxLength: 500 }, required = false): Parameter => ({ name, in: 'query', description, schema, ...(required ? { required } : {}) })
const repeatable = (name: string, description: string, maxLength: number): Parameter => ({
  name, in: 'query', description, style: 'form', explode: true, schema: { type: 'array', maxItems: 50, items: { type: 'string', minLength: 1, maxLength } },
})
const P = {
  token: q('token', 'Ignored by the review (tokens go in the Authorization header); kept so that a URL with one answers 401, not 400.'),
  dataset: q('dataset', 'A what-if dataset (docs/replay.md) instead of the live indices.', { type: 'string', pattern: WHAT_IF_DATASET_NAME.source }),
  tz: q('tz', 'IANA time zone of local days and times; the service\'s OPSREVIEW_TIMEZONE by default.', { type: 'string', maxLength: 64 }),
  from: q('from', 'Start: RFC 3339 date-time, or a date (local midnight in tz).', { type: 'string', maxLength: 40 }),
  to: q('to', 'End (exclusive), as from; now by default.', { type: 'string', maxLength: 40 }),
  since: q('since', 'A duration ending now, a local day with an optional time, or yesterday-now: this time yesterday by the service\'s clock in tz.', { type: 'string', pattern: '^(\\d{1,6}(m|h|d)|(today|yesterday)(-([01]\\d|2[0-3]):[0-5]\\d)?|yesterday-now)$' }),
  environment: repeatable('environment', 'Environments in scope (repeatable); `*` for all. OPSREVIEW_REVIEW_ENVIRONMENTS when none is given.', SCOPE_CAPS.environment),
  service: repeatable('service', 'Services in scope (repeatable): incidents of any of them, service levels of these only.', SCOPE_CAPS.service),
  team: repeatable('team', 'Teams of OPSREVIEW_TEAMS_FILE (repeatable): their services are in scope; with service, only services of both.', SCOPE_CAPS.team),
  period: q('period', 'Month or quarter.', { enum: ['month', 'quarter'] }, true),
  at: q('at', 'Which month (YYYY-MM) or quarter (YYYY-Qn); the last complete one by default.', { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2]|Q[1-4])$' }),
  size: (byDefault: number) => q('size', `Page size, 1 to 200; ${byDefault} by default`, { type: 'string', pattern: '^\\d{1,3}$' }),
  cursor: q('cursor', 'nextCursor of the previous page (with the same sort)', { type: 'string', pattern: '^[A-Za-z0-9_-]{1,1000}$' }),
  wait: q('wait', 'true: wait for the correlator\'s outcome and for the decision to be visible.', { enum: ['true', 'false'] }),
  incidentId: { name: 'id', in: 'path', required: true, description: 'Incident id.', schema: { type: 'string', pattern: '^inc-[0-9a-f]{24}$' } } as Parameter,
  problemId: { name: 'id', in: 'path', required: true, description: 'Problem id.', schema: { type: 'string', pattern: '^prb-[0-9a-f]{24}$' } } as Parameter,
  commandId: { name: 'commandId', in: 'path', required: true, description: 'A command id a decision returned.', schema: { type: 'string' } } as Parameter,
  idempotencyKey: { name: 'Idempotency-Key', in: 'header', description: 'The same key on a retry replays the first answer.', schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,200}$' } } as Parameter,
  ifMatch: { name: 'If-Match', in: 'header', description: 'The ETag of the incident or problem as read (GET), e.g. "7": the decision is taken only while it is at that version, else 412 PRECONDITION_FAILED naming the version and status it is at (nothing published). * or absent: taken on whatever it is now.', schema: { type: 'string' } } as Parameter,
  idempotencyReplay: { name: 'Idempotency-Replay', in: 'header', description: 'only: answer with what is kept for the Idempotency-Key (whether the decision shows yet), never take the decision; a key not kept is 404 IDEMPOTENCY_KEY_UNKNOWN.', schema: { type: 'string', enum: ['only'] } } as Parameter,
}
const scopeParameters = [P.environment, P.service, P.team]

const json = (schema: Json, description = 'OK') => ({ description, content: { 'application/json': { schema } } })
const problemJson = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('ProblemDetails') } } })
const markdown = { description: 'Markdown', content: { 'text/markdown': { schema: { type: 'string' } } } }
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), problemJson({ 400: 'Bad request: each failing parameter or field named in errors (an unknown query parameter too)', 401: 'No or wrong bearer token', 403: 'Token may not do this', 404: 'Not found', 409: 'Conflict', 413: 'Body too large', 415: 'Not JSON', 412: 'If-Match names an older version: the problem names the current version and status (`current`); nothing was published', 422: 'Idempotency-Key reused for another request', 503: 'Elasticsearch or Kafka unavailable; retry after Retry-After' }[c] ?? 'Error')]))
const readErrors = errors(400, 401, 404, 503)
/** The document's version as a strong ETag, for a decision's If-Match. */
const versionETag = { ETag: { description: 'The version of the incident or problem, strong: "7". Send it as If-Match with a decision.', schema: { type: 'string', pattern: '^"[1-9][0-9]*"$' } } }
const bearer = [{ bearer: [] }]

const paths: Record<string, Record<string, Json>> = {
  '/healthz': { get: { summary: 'Liveness', security: [], responses: { 200: json({ type: 'object', required: ['status'], properties: { status: { const: 'ok' } } }) } } },
  '/metrics': { get: { summary: 'Prometheus metrics (when the service counts them)', security: [], responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
  '/api/v1/openapi.json': { get: { summary: 'This description', security: [], parameters: [], responses: { 200: json({ type: 'object', required: ['openapi', 'paths'] }), 400: problemJson('Unknown query parameter') } } },
  '/api/v1/incidents': {
    get: {
      summary: 'Search incidents', security: bearer,
      parameters: [
        q('q', "Free text: the incident's text, and its alerts' label values and reports' descriptions (docs/review-api.md)"), q('status', 'Status', { $ref: `${INCIDENT}#/properties/status` }), q('service', 'Service'), q('severity', 'Severity', { enum: alertSchema.properties.severity.enum }),
        q('environment', 'Environment'), q('owner', 'Owner'), q('problem', 'Linked problem id'), P.from, P.to, P.tz,
        q('sort', 'openedAt, resolvedAt, lastEventAt or severity, with :asc or :desc', { type: 'string', pattern: '^(openedAt|resolvedAt|lastEventAt|severity)(:(asc|desc))?$' }),
        P.size(20), P.cursor, P.dataset, P.token,
      ],
      responses: { 200: json({ type: 'object', required: ['total', 'items', 'nextCursor'], properties: { total: nonNegative, items: { type: 'array', items: ref('IncidentListItem') }, nextCursor: { type: ['string', 'null'] } } }), ...readErrors },
    },
  },
  '/api/v1/incidents/{id}': {
    get: {
      summary: 'One incident with its timeline', security: bearer, parameters: [P.incidentId, P.dataset, P.token],
      responses: { 200: { ...json({
        type: 'object', required: ['incident', 'timeline', 'timelineTotal', 'timelineTruncated'],
        // The newest alert changes are kept when there are more than the timeline shows; the total counts them all.
        properties: { incident: ref('IndexedIncident'), timeline: { type: 'array', items: ref('TimelineEntry') }, timelineTotal: nonNegative, timelineTruncated: { type: 'boolean' } },
      }), headers: versionETag }, ...readErrors },
    },
    patch: {
      summary: 'Decide on an incident (published as commands for the correlator)', security: bearer, parameters: [P.incidentId, P.wait, P.dataset, P.token, P.idempotencyKey, P.idempotencyReplay, P.ifMatch],
      requestBody: { required: true, content: { 'application/json': { schema: ref('IncidentPatch') } } },
      responses: { 200: json(ref('DecisionAnswer'), 'Visible'), 202: json(ref('DecisionAnswer'), 'Published'), ...errors(400, 401, 403, 404, 409, 412, 413, 415, 422, 503) },
    },
  },
  '/api/v1/problems': {
    get: {
      summary: 'List problems, the most recently seen first', security: bearer,
      parameters: [q('status', 'Status', { $ref: `${PROBLEM}#/properties/status` }), q('kind', 'Kind', { $ref: `${PROBLEM}#/properties/kind` }), q('service', 'Service'), q('environment', 'Environment'), P.size(200), P.cursor, P.dataset, P.token],
      responses: { 200: json({ type: 'object', required: ['total', 'items', 'nextCursor'], properties: { total: nonNegative, items: { type: 'array', items: ref('Problem') }, nextCursor: { type: ['string', 'null'] } } }), ...readErrors },
    },
  },
  '/api/v1/problems/{id}': {
    get: {
      summary: 'One problem with its incidents and timeline', security: bearer, parameters: [P.problemId, P.dataset, P.token],
      responses: { 200: { ...json({
        type: 'object', required: ['problem', 'incidents', 'incidentsTotal', 'incidentsTruncated', 'timeline'],
        // The most recent incidents are listed when there are more; the total counts them all.
        properties: { problem: ref('Problem'), incidents: { type: 'array', items: ref('IncidentListItem') }, incidentsTotal: nonNegative, incidentsTruncated: { type: 'boolean' }, timeline: { type: 'array', items: ref('TimelineEntry') } },
      }), headers: versionETag }, ...readErrors },
    },
    patch: {
      summary: 'Decide on a problem', security: bearer, parameters: [P.problemId, P.wait, P.dataset, P.token, P.idempotencyKey, P.idempotencyReplay, P.ifMatch],
      requestBody: { required: true, content: { 'application/json': { schema: ref('ProblemPatch') } } },
      responses: { 200: json(ref('DecisionAnswer'), 'Visible'), 202: json(ref('DecisionAnswer'), 'Published'), ...errors(400, 401, 403, 404, 409, 412, 413, 415, 422, 503) },
    },
  },
  '/api/v1/review': { get: { summary: 'The morning review', security: bearer, parameters: [P.from, P.to, P.since, P.tz, ...scopeParameters, P.dataset, P.token], responses: { 200: json(ref('Review')), ...readErrors } } },
  '/api/v1/review.md': { get: { summary: 'The morning review as Markdown', security: bearer, parameters: [P.from, P.to, P.since, P.tz, ...scopeParameters, P.dataset, P.token], responses: { 200: markdown, ...readErrors } } },
  '/api/v1/lookback': { get: { summary: 'Monthly or quarterly look-back', security: bearer, parameters: [P.period, P.at, P.tz, ...scopeParameters, P.dataset, P.token], responses: { 200: json(ref('Lookback')), ...readErrors } } },
  '/api/v1/lookback.md': { get: { summary: 'The look-back as Markdown', security: bearer, parameters: [P.period, P.at, P.tz, ...scopeParameters, P.dataset, P.token], responses: { 200: markdown, ...readErrors } } },
  '/api/v1/dead-letters/summary': { get: { summary: 'Dead letters of the last 24 h', security: bearer, parameters: [P.token], responses: { 200: json(ref('DeadLetterSummary')), ...errors(400, 401, 503) } } },
  '/api/v1/decisions/{commandId}': { get: { summary: 'The outcome of one decision (decisions are taken on live data only)', security: bearer, parameters: [P.commandId, P.token], responses: { 200: json(ref('Decision')), ...errors(400, 401, 404) } } },
  '/api/v1/whoami': {
    get: {
      summary: 'The token\'s name, and whether reports can be filed here', security: bearer, parameters: [P.dataset, P.token],
      responses: { 200: json({ type: 'object', required: ['name', 'reports'], additionalProperties: false, properties: { name: { type: ['string', 'null'] }, reports: { type: 'boolean' } } }), ...errors(400, 401) },
    },
  },
  '/api/v1/reports': {
    post: {
      summary: 'File a report with the receiver', security: bearer, parameters: [P.dataset, P.token],
      requestBody: { required: true, content: { 'application/json': { schema: ref('Report') } } },
      responses: { 202: json({ type: 'object' }, 'Accepted by the receiver (its answer)'), ...errors(400, 401, 403, 404, 409, 413, 415, 503) },
    },
  },
}

export const openApiDocument = Object.freeze({
  openapi: '3.1.0',
  info: { title: 'opsreview review API', version: '1', description: 'Search, the morning review, look-backs and decisions (docs/review-api.md).' },
  servers: [{ url: '/' }],
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas },
  paths,
})

/** `/api/v1/incidents/:id` (express) as `/api/v1/incidents/{id}` (OpenAPI). */
export const openApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}')

/**
 * The query parameters a route takes, as documented: the app refuses any other with 400. Undefined when the
 * route is not documented (a programming error the OpenAPI test reports).
 */
export function knownQueryParameters(method: string, expressPath: string): ReadonlySet<string> | undefined {
  const op = paths[openApiPath(expressPath)]?.[method.toLowerCase()] as { parameters?: Parameter[] } | undefined
  if (!op) return undefined
  return new Set((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name))
}
