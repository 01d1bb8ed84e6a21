import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/** What the metrics read of the spool at each scrape. */
export interface SpoolGauges { readonly depth: number; readonly oldestAgeMs: number; readonly bytes: number; readonly maxBytes: number }

/** The receiver's Prometheus metrics, on a registry of its own so apps in one process do not collide. */
export function createReceiverMetrics(state: { breakerState: () => string; spool: SpoolGauges }) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const requests = new Counter({ name: 'opsreview_receiver_requests_total', help: 'Requests by source and HTTP status', labelNames: ['source', 'status'], registers: [registry] })
  const published = new Counter({ name: 'opsreview_receiver_events_published_total', help: 'Canonical events acknowledged by Kafka', labelNames: ['source'], registers: [registry] })
  const duplicates = new Counter({ name: 'opsreview_receiver_duplicate_events_total', help: 'Events dropped as redeliveries of an event already published', labelNames: ['source'], registers: [registry] })
  const rejections = new Counter({ name: 'opsreview_receiver_rejections_total', help: 'Requests refused as a whole (4xx) by reason', labelNames: ['source', 'reason'], registers: [registry] })
  const rejectedEvents = new Counter({ name: 'opsreview_receiver_rejected_events_total', help: 'Alerts refused alone while the rest of their webhook was accepted, by reason', labelNames: ['source', 'reason'], registers: [registry] })
  const deadLetters = new Counter({ name: 'opsreview_dead_letters_total', help: 'Dead letters acknowledged by Kafka, by stage and reason', labelNames: ['stage', 'reason'], registers: [registry] })
  const unauthorized = new Counter({ name: 'opsreview_receiver_unauthorized_total', help: 'Requests refused for a missing or unknown token (never dead-lettered)', labelNames: ['source'], registers: [registry] })
  // No label from the payload: a sender-chosen value as a label would make series without bound.
  const truncated = new Counter({ name: 'opsreview_receiver_truncated_alerts_total', help: 'Alerts Alertmanager dropped (truncatedAlerts) before sending', registers: [registry] })
  const publishSeconds = new Histogram({ name: 'opsreview_receiver_kafka_publish_seconds', help: 'Kafka produce latency per batch', labelNames: ['outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] })
  new Gauge({
    name: 'opsreview_receiver_kafka_breaker_state', help: 'Kafka circuit breaker: 0 closed, 1 half-open, 2 open', registers: [registry],
    collect() { this.set({ closed: 0, 'half-open': 1, open: 2 }[state.breakerState()] ?? 0) },
  })
  new Gauge({
    name: 'opsreview_receiver_spool_depth', help: 'Spooled messages not yet acknowledged by Kafka', registers: [registry],
    collect() { this.set(state.spool.depth) },
  })
  // What OpsreviewReceiverSpoolStale watches: a drain that stopped moving, however deep the spool is.
  new Gauge({
    name: 'opsreview_receiver_spool_oldest_age_seconds', help: 'Age of the oldest spooled message not yet acknowledged by Kafka (0 when the spool is empty)', registers: [registry],
    collect() { this.set(state.spool.oldestAgeMs / 1000) },
  })
  // What OpsreviewReceiverSpoolNearlyFull watches: Pingdom does not retry, so what a full spool refuses is lost.
  new Gauge({
    name: 'opsreview_receiver_spool_bytes', help: 'Bytes of spooled messages not yet acknowledged by Kafka (what OPSREVIEW_SPOOL_MAX_BYTES bounds)', registers: [registry],
    collect() { this.set(state.spool.bytes) },
  })
  new Gauge({
    name: 'opsreview_receiver_spool_max_bytes', help: 'OPSREVIEW_SPOOL_MAX_BYTES: past it the spool refuses appends with 503', registers: [registry],
    collect() { this.set(state.spool.maxBytes) },
  })
  return { registry, requests, published, duplicates, rejections, rejectedEvents, deadLetters, unauthorized, truncated, publishSeconds }
}

export type ReceiverMetrics = ReturnType<typeof createReceiverMetrics>
