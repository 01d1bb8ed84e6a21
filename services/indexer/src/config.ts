import { elasticsearchConnectionSpec, field, kafkaConnectionSpec, loadConfigOrExit, type ConfigOf, type Field } from '@opsreview/config'
import { defaultTopics } from '@opsreview/kafka/topics'


/** An interval that may be 0 (off), else with a floor, so a typo like `1` (ms) cannot make retention spin. */
function intervalOrOff(doc: string, def: number, minMs: number): Field<number> {
  const inner = field.timer(doc, def)
  return { doc, parse: (raw) => { const r = inner.parse(raw); return r.ok && r.value !== 0 && r.value < minMs ? { ok: false, error: `must be 0 (off) or at least ${minMs} ms, got ${r.value} ms` } : r } }
}

/**
 * An Elasticsearch time value (a whole number and a unit: `250ms`, `1s`, `30s`, `1m`) or `-1` (no periodic
 * refresh). Checked at start: Elasticsearch itself would refuse a bad one only when the template is put.
 */
function esTimeValue(doc: string, def: string): Field<string> {
  const inner = field.string(doc, def)
  return {
    doc,
    parse: (raw) => {
      const r = inner.parse(raw)
      return r.ok && !/^(-1|[1-9]\d*(d|h|m|s|ms|micros|nanos))$/.test(r.value)
        ? { ok: false, error: `must be an Elasticsearch time value like 250ms, 1s or 30s, or -1 (no periodic refresh), got ${JSON.stringify(r.value)}` }
        : r
    },
  }
}

const INT32_MAX = 2 ** 31 - 1

/** Every variable the indexer reads. The configuration table in docs/configuration.md mirrors this. */
export const indexerConfigSpec = {
  OPSREVIEW_KAFKA_BROKERS: field.brokers('Kafka bootstrap brokers', ['127.0.0.1:9092']),
  ...kafkaConnectionSpec,
  OPSREVIEW_TOPIC_ALERTS: field.topic('topic of canonical alert events', defaultTopics.alerts),
  OPSREVIEW_TOPIC_INCIDENTS: field.topic('compacted topic of incident versions', 'opsreview.incidents.v1'),
  OPSREVIEW_TOPIC_PROBLEMS: field.topic('compacted topic of problem versions', 'opsreview.problems.v1'),
  OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: field.topic('dead-letter topic for documents Elasticsearch rejects', defaultTopics.indexerDeadLetter),
  OPSREVIEW_INDEXER_GROUP: field.string('Kafka consumer group of the indexer', 'opsreview-indexer'),
  // The broker's bounds (group.min/max.session.timeout.ms by default): outside them every join is refused,
  // which kafkajs does not retry, and the service restarted into the same refusal.
  OPSREVIEW_KAFKA_SESSION_TIMEOUT: field.duration('consumer session timeout: how soon partitions of a dead instance move', 30_000, { min: 6000, max: 1_800_000 }),
  OPSREVIEW_ES_URL: field.url('Elasticsearch URL', 'http://127.0.0.1:9200'),
  ...elasticsearchConnectionSpec,
  OPSREVIEW_ES_INDEX_PREFIX: field.string('prefix of every index, template and alias', 'opsreview'),
  OPSREVIEW_ES_REFRESH_INTERVAL: esTimeValue('refresh_interval of the alert indices (incident and problem indices refresh every 250 ms, so a new incident is searchable quickly)', '1s'),
  OPSREVIEW_INDEXER_BULK_BYTES: field.bytes('largest bulk request; a partly filled one goes as soon as a request slot is free', 5 * 1024 * 1024),
  OPSREVIEW_INDEXER_BULK_CONCURRENCY: field.int('bulk requests in flight at once', 3, { min: 1, max: 32 }),
  // Small enough that decoding one fetch does not hold the event loop long (bulk responses wait meanwhile).
  // A fetch request carries both as 32-bit signed integers: a larger one failed every fetch (kafkajs's encoder throws).
  OPSREVIEW_INDEXER_FETCH_BYTES: field.bytes('largest Kafka fetch of all partitions together', 8 * 1024 * 1024, { max: INT32_MAX }),
  OPSREVIEW_INDEXER_FETCH_BYTES_PER_PARTITION: field.bytes('largest Kafka fetch of one partition', 1024 * 1024, { max: INT32_MAX }),
  OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS: field.int('attempts a document may fail with a retriable error while Elasticsearch accepts others, before it is dead-lettered (retries-exhausted)', 10, { min: 1, max: 1000 }),
  OPSREVIEW_INDEXER_UNAVAILABLE_RETRY: field.duration('a document whose index is unavailable (503, a shard not active) while others are written goes only once this long has passed since its first counted attempt too: a recovering or relocating shard answers so for minutes', 300_000, { min: 0, max: 86_400_000 }),
  OPSREVIEW_INDEXER_MIN_BACKOFF: field.timer('first wait before a failed write is retried (then doubled, jittered)', 200, { min: 1 }),
  OPSREVIEW_INDEXER_MAX_BACKOFF: field.timer('longest wait between retries of a failed write', 10_000, { min: 1 }),
  OPSREVIEW_INDEXER_RETRY_LOG_INTERVAL: field.duration('repeated retry and dead-letter logs: at most one per reason in this interval', 30_000),
  OPSREVIEW_STALL_AFTER: field.duration('a partition with records waiting and no progress for this long is stalled (/readyz 503)', 60_000, { min: 1000 }),
  OPSREVIEW_CONSUMER_HEALTH_INTERVAL: field.timer('how often end and committed offsets are fetched from the broker for lag and stall detection', 5_000, { min: 100 }),
  // Retention (docs/retention.md): months are whole UTC calendar months before the current one.
  OPSREVIEW_ALERTS_RETENTION_MONTHS: field.int('alert months kept before the current UTC month; older months are deleted whole', 13, { min: 1, max: 1200 }),
  OPSREVIEW_INCIDENTS_RETENTION_MONTHS: field.int('months a resolved incident is kept before the current UTC month (by resolvedAt)', 25, { min: 1, max: 1200 }),
  OPSREVIEW_PROBLEMS_RETENTION_MONTHS: field.int('months a resolved or dismissed problem is kept before the current UTC month (by lastSeenAt)', 25, { min: 1, max: 1200 }),
  OPSREVIEW_RETENTION_INTERVAL: intervalOrOff('how often retention runs (one indexer of all does each run); 0 disables it', 3_600_000, 60_000),
  OPSREVIEW_INDEXER_HOST: field.string('address of the metrics and health endpoint', '127.0.0.1'),
  OPSREVIEW_INDEXER_PORT: field.port('port of the metrics and health endpoint', 8082),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
}

export type IndexerConfig = ConfigOf<typeof indexerConfigSpec>

/** The retention months, as packages/search-index/src/retention.ts takes them. */
export const retentionSettingsOf = (c: IndexerConfig) => ({
  alertsMonths: c.OPSREVIEW_ALERTS_RETENTION_MONTHS, incidentsMonths: c.OPSREVIEW_INCIDENTS_RETENTION_MONTHS, problemsMonths: c.OPSREVIEW_PROBLEMS_RETENTION_MONTHS,
})

export function loadIndexerConfig(env: NodeJS.ProcessEnv): IndexerConfig {
  return loadConfigOrExit('indexer', indexerConfigSpec, env)
}
