import type { RequestHandler } from 'express'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { digestOutcomes, type DigestOutcome } from '@opsreview/review/digest'

/** What became of a decision the API published: its outcome when the request waited for it (`?wait=true`). */
export type DecisionOutcome = 'accepted' | 'refused' | 'pending-at-timeout' | 'not-awaited'

/** What reads response times from Prometheus: the review, the look-back, the morning digest. */
export type ResponseTimeRead = 'review' | 'lookback' | 'digest'

/**
 * The review service's Prometheus metrics, on a registry of its own so apps in one process do not collide.
 * `responseTimeReads`: the reads this service makes (none without a Prometheus), and `digestPosts`: whether it
 * posts a digest; each of their outcomes is exposed at 0 from the start. increase() takes a series' first sample
 * as its start: born at 1, the digest's one read or post a day, failed, gave 0, and the rule did not fire.
 */
export function createReviewMetrics(state: { breakerState: () => string }, o: { responseTimeReads?: readonly ResponseTimeRead[]; digestPosts?: boolean } = {}) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // Fixed labels only: the route pattern, never the raw path (ids and junk would make unbounded series).
  const requests = new Counter({ name: 'opsreview_review_requests_total', help: 'Requests by route and HTTP status', labelNames: ['route', 'status'], registers: [registry] })
  const duration = new Histogram({
    name: 'opsreview_review_request_duration_seconds', help: 'Time to answer, by route and HTTP status', labelNames: ['route', 'status'],
    // The review waits up to seconds for Elasticsearch and for decisions (?wait=true): buckets reach 30 s.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry],
  })
  const decisions = new Counter({
    name: 'opsreview_review_decisions_total', help: 'Decisions published as commands, by command type and outcome (accepted, refused, pending-at-timeout when ?wait=true; not-awaited otherwise)',
    labelNames: ['type', 'outcome'], registers: [registry],
  })
  const responseTimeReads = new Counter({
    name: 'opsreview_review_response_time_reads_total', help: 'Response times read from Prometheus, by what read them (review, lookback, digest) and outcome (ok; unavailable: Prometheus down, slow or refusing the query)',
    labelNames: ['read', 'outcome'], registers: [registry],
  })
  for (const read of o.responseTimeReads ?? []) for (const outcome of ['ok', 'unavailable']) responseTimeReads.inc({ read, outcome }, 0)
  const digests = new Counter({ name: 'opsreview_review_digest_posts_total', help: 'Morning digests by outcome: posted, failed (after its retries, or refused), skipped (posted already by another instance or before a restart)', labelNames: ['outcome'], registers: [registry] })
  if (o.digestPosts === true) for (const outcome of digestOutcomes) digests.inc({ outcome }, 0)
  new Gauge({
    name: 'opsreview_review_kafka_breaker_state', help: 'Commands publisher breaker: 0 closed, 1 half-open, 2 open', registers: [registry],
    collect() { this.set({ closed: 0, 'half-open': 1, open: 2 }[state.breakerState()] ?? 0) },
  })
  /** Counts and times each response under the route that answered it (`unmatched` when none did). */
  const count: RequestHandler = (req, res, next) => {
    const end = duration.startTimer()
    res.on('finish', () => {
      const route = (req.route as { path?: unknown } | undefined)?.path
      const labels = { route: typeof route === 'string' ? route : 'unmatched', status: String(res.statusCode) }
      requests.inc(labels)
      end(labels)
    })
    next()
  }
  /** Counts decisions once each, when their request is done with them. */
  const decided = (ds: readonly { type: string; outcome: DecisionOutcome }[]) => {
    for (const d of ds) decisions.inc({ type: d.type, outcome: d.outcome })
  }
  /** Counts a read of Prometheus's response times; none when no Prometheus is configured. */
  const responseTimesRead = (read: ResponseTimeRead, status: 'ok' | 'unavailable' | 'not-configured') => {
    if (status !== 'not-configured') responseTimeReads.inc({ read, outcome: status })
  }
  return { registry, count, decided, responseTimesRead, digest: (outcome: DigestOutcome) => digests.inc({ outcome }) }
}

export type ReviewMetrics = ReturnType<typeof createReviewMetrics>
