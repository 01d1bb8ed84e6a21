import type { Client } from '@elastic/elasticsearch'
import type { Express, Request, RequestHandler, Response } from 'express'
import { HttpProblem } from '@opsreview/http/problem'
import type { ResolvedIndices } from '@opsreview/review/dataset'
import type { DegradedRule } from '@opsreview/review/degraded'
import { buildLookback, type LookbackResponseTimes } from '@opsreview/review/lookback'
import { lookbackMarkdown, scopeMarkdown } from '@opsreview/review/markdown'
import { parseLookbackQuery } from '@opsreview/review/period'
import type { ResponseTimeSource } from '@opsreview/review/response-times'
import type { Scope, ScopeFilter } from '@opsreview/review/scope'
import type { FieldError } from '@opsreview/schemas'

export interface LookbackRouteDeps {
  es: Client
  clock: () => Date
  /** Authentication of reads (app.ts). */
  read: RequestHandler
  /** Refuses query parameters the route does not document (app.ts). */
  knownQuery: RequestHandler
  /** Checks `?dataset=`; `indicesOf` then finds its indices, once the rest of the query is checked (app.ts). */
  dataset: RequestHandler
  indicesOf: (res: Response) => Promise<ResolvedIndices>
  /** `?environment=`, `?service=`, `?team=` (app.ts, packages/review/src/scope.ts). */
  /** Throws one 400 naming `prior`'s faults (the rest of the query) and the scope's. */
  scopeOf: (req: Request, prior?: { title: string; errors: FieldError[] }) => { scope: Scope; filter: ScopeFilter }
  timeZone: string
  degradedRule: DegradedRule | undefined
  /** Prometheus, as the review reads it (OPSREVIEW_PROMETHEUS_URL); none when unset. */
  responseTimes: ResponseTimeSource | undefined
  /** Counts the look-back's read of Prometheus, and warns in the log when it failed (app.ts). */
  noteResponseTimes: (req: Request, read: 'lookback', t: LookbackResponseTimes) => void
}

/**
 * `GET /api/v1/lookback` and `/api/v1/lookback.md`: the monthly or quarterly look-back (docs/review-api.md),
 * live or of a what-if dataset.
 */
export function registerLookbackRoutes(app: Express, deps: LookbackRouteDeps): void {
  const lookback = async (req: Request, res: Response) => {
    const now = deps.clock().getTime()
    const q = parseLookbackQuery(req.query as Record<string, unknown>, now, deps.timeZone)
    const { scope, filter } = deps.scopeOf(req, q.ok ? undefined : { title: 'Invalid look-back', errors: q.errors })
    if (!q.ok) throw new HttpProblem('INVALID_QUERY', 'Invalid look-back', { errors: q.errors })
    const { dataset, ...idx } = await deps.indicesOf(res)
    const options = { ...(deps.degradedRule ? { degradedRule: deps.degradedRule } : {}), ...(deps.responseTimes ? { responseTimes: deps.responseTimes } : {}), scope: filter }
    const l = await buildLookback(deps.es, idx, q.value, now, options)
    deps.noteResponseTimes(req, 'lookback', l.responseTimes)
    return { dataset, scope, lookback: l }
  }
  app.get('/api/v1/lookback', deps.read, deps.knownQuery, deps.dataset, async (req, res, next) => {
    try {
      const { dataset, scope, lookback: l } = await lookback(req, res)
      res.json({ ...l, dataset, scope })
    } catch (err) { next(err) }
  })
  app.get('/api/v1/lookback.md', deps.read, deps.knownQuery, deps.dataset, async (req, res, next) => {
    try {
      const { dataset, scope, lookback: l } = await lookback(req, res)
      const markdown = `${scopeMarkdown(scope)}${lookbackMarkdown(l)}`
      res.type('text/markdown; charset=utf-8').send(dataset === null ? markdown : `> What-if dataset ${dataset}: a replay with another configuration, not the live look-back.\n\n${markdown}`)
    } catch (err) { next(err) }
  })
}
