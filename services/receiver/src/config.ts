import { field, kafkaConnectionSpec, loadConfigOrExit, type ConfigOf, type Field } from '@opsreview/config'
import { defaultTopics } from '@opsreview/kafka/topics'
import { parseGroupingRulesSetting } from '@opsreview/grouping'
import type { IngestOptions } from '@opsreview/ingest/event'
import type { SpoolOptions } from '@opsreview/spool'

/** A variable the grouping rules file replaced: set, it stops the start instead of being ignored. */
function replacedByGroupingRules(doc: string): Field<undefined> {
  return {
    doc,
    parse: (raw) => (raw === undefined || raw.trim() === ''
      ? { ok: true, value: undefined }
      : { ok: false, error: 'is no longer read: give the labels in the OPSREVIEW_GROUPING_RULES file (docs/grouping.md)' }),
  }
}

/** Every variable the receiver reads. The configuration table in docs/configuration.md mirrors this. */
export const receiverConfigSpec = {
  OPSREVIEW_RECEIVER_HOST: field.string('address to listen on', '127.0.0.1'),
  OPSREVIEW_RECEIVER_PORT: field.port('port to listen on', 8080),
  OPSREVIEW_INGEST_TOKENS: field.list('comma-separated bearer tokens senders may use; several allow rotation', undefined, { minItems: 1 }),
  // Alertmanager sends a group in one notification and never retries the 413 of one too large: a storm of
  // kube-prometheus alerts (~1.5 KB each, grouped by namespace) passes 1 MiB at 700 alerts, and is lost whole.
  OPSREVIEW_BODY_LIMIT: field.bytes('largest accepted request body, after decoding: above the largest notification group', 16 * 1024 * 1024),
  OPSREVIEW_KAFKA_BROKERS: field.brokers('Kafka bootstrap brokers', ['127.0.0.1:9092']),
  ...kafkaConnectionSpec,
  OPSREVIEW_TOPIC_ALERTS: field.topic('topic of canonical alert events', defaultTopics.alerts),
  OPSREVIEW_TOPIC_REJECTED: field.topic('dead-letter topic of refused requests and alerts', defaultTopics.rejected),
  OPSREVIEW_ALERTS_PARTITIONS: field.int('partitions of the alerts topic when the receiver creates it', 6, { min: 1 }),
  OPSREVIEW_ALERTS_RETENTION_DAYS: field.int('retention of the alerts topic when the receiver creates it', 30, { min: 1 }),
  OPSREVIEW_SPOOL_DIR: field.string('durable spool for Pingdom and reports while Kafka is down', '.opsreview/spool'),
  // At least 1 MiB: a smaller limit could refuse one Pingdom event or report (up to 128 KiB, twice that escaped in its line) for good.
  OPSREVIEW_SPOOL_MAX_BYTES: field.bytes('bytes of Pingdom events and reports the spool holds for Kafka; past it they get a 503 with Retry-After until the drain makes room', 1024 * 1024 * 1024, { min: 1024 * 1024 }),
  OPSREVIEW_GROUPING_RULES: {
    doc: 'grouping rules file (.json, .yaml, .yml): the labels naming service and environment (docs/grouping.md); empty: the defaults',
    parse: parseGroupingRulesSetting,
  },
  OPSREVIEW_SERVICE_LABELS: replacedByGroupingRules('replaced by service.labels in OPSREVIEW_GROUPING_RULES'),
  OPSREVIEW_ENVIRONMENT_LABELS: replacedByGroupingRules('replaced by environment.labels in OPSREVIEW_GROUPING_RULES'),
  OPSREVIEW_DEFAULT_ENVIRONMENT: replacedByGroupingRules('replaced by environment.default in OPSREVIEW_GROUPING_RULES'),
  OPSREVIEW_PINGDOM_SERVICE_TAG_PREFIXES: field.list('Pingdom tag prefixes naming the service', ['service:', 'service_']),
  OPSREVIEW_PINGDOM_ENV_TAG_PREFIXES: field.list('Pingdom tag prefixes naming the environment', ['env:', 'env_']),
  // At least an hour: a few seconds would refuse every alert firing longer than that, nearly all of them once
  // Alertmanager's group_wait and repeat_interval have passed.
  OPSREVIEW_MAX_EVENT_AGE: field.duration('how long before its arrival an event may have started (long-firing alerts)', 730 * 86_400_000, { min: 3_600_000 }),
  OPSREVIEW_MAX_CLOCK_SKEW: field.duration('how far after its arrival an event time may lie (sender clock ahead)', 3_600_000),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
}

export type ReceiverConfig = ConfigOf<typeof receiverConfigSpec>

export function loadReceiverConfig(env: NodeJS.ProcessEnv): ReceiverConfig {
  return loadConfigOrExit('receiver', receiverConfigSpec, env)
}

/** How the receiver maps what senders send: the grouping rules and the Pingdom and time settings. */
export function ingestOptionsOf(config: ReceiverConfig): IngestOptions {
  return {
    grouping: config.OPSREVIEW_GROUPING_RULES,
    pingdomServiceTagPrefixes: config.OPSREVIEW_PINGDOM_SERVICE_TAG_PREFIXES,
    pingdomEnvironmentTagPrefixes: config.OPSREVIEW_PINGDOM_ENV_TAG_PREFIXES,
    maxEventAgeMs: config.OPSREVIEW_MAX_EVENT_AGE,
    maxClockSkewMs: config.OPSREVIEW_MAX_CLOCK_SKEW,
  }
}

/**
 * The spool's settings from the receiver's, but its logger and lock handling. Its drain retries a failed
 * publish after 1 s, doubling to 5 s: a report spooled while Kafka was down reaches it within seconds of
 * its return, not the half minute the spool's own default back-off can wait.
 */
export function spoolOptionsOf(config: ReceiverConfig): Pick<SpoolOptions, 'maxBytes' | 'retryDelayMs' | 'maxRetryDelayMs'> {
  return { maxBytes: config.OPSREVIEW_SPOOL_MAX_BYTES, retryDelayMs: 1000, maxRetryDelayMs: 5000 }
}
