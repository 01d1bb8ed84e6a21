import type { RequestHandler } from 'express'
import { Counter, Gauge, Registry } from 'prom-client'

/** The review service's Prometheus metrics, on a registry of its own so apps in one process do not collide. */
export function createReviewMetrics(state: { breakerState: () => string }) {
  const registry = new Registry()
  // Fixed labels only: the route pattern, never the raw path (ids and junk would make unbounded series).
  const requests = new Counter({ name: 'opsreview_review_requests_total', help: 'Requests by route and HTTP status', labelNames: ['route', 'status'], registers: [registry] })
  new Gauge({
    name: 'opsreview_review_kafka_breaker_state', help: 'Commands publisher breaker: 0 closed, 1 half-open, 2 open', registers: [registry],
    collect() { this.set({ closed: 0, 'half-open': 1, open: 2 }[state.breakerState()] ?? 0) },
  })
  /** Counts each response under the route that answered it (`unmatched` when none did). */
  const count: RequestHandler = (req, res, next) => {
    res.on('finish', () => {
      const route = (req.route as { path?: unknown } | undefined)?.path
      requests.inc({ route: typeof route === 'string' ? route : 'unmatched', status: String(res.statusCode) })
    })
    next()
  }
  return { registry, count }
}

export type ReviewMetrics = ReturnType<typeof createReviewMetrics>
