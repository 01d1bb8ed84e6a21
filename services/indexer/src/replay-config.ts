import { elasticsearchConnectionSpec, field, kafkaConnectionSpec, type ConfigOf } from '@opsreview/config'
import { thresholdOverridesSpec } from '@opsreview/correlation/settings'
import { defaultTopics } from '@opsreview/kafka/topics'
import { degradedRuleSpec } from '@opsreview/review/degraded'

/**
 * Every variable `opsreview replay` reads: where the log and the live indices are, and the correlator's
 * thresholds under the correlator's own names (@opsreview/correlation/settings), each left unset keeping
 * the engine's default. docs/replay.md mirrors this.
 */
export const replayConfigSpec = {
  OPSREVIEW_KAFKA_BROKERS: field.brokers('Kafka bootstrap brokers', ['127.0.0.1:9092']),
  ...kafkaConnectionSpec,
  OPSREVIEW_TOPIC_ALERTS: field.topic('topic of canonical alert events', defaultTopics.alerts),
  OPSREVIEW_TOPIC_COMMANDS: field.topic('topic of the review decisions', 'opsreview.commands.v1'),
  OPSREVIEW_ES_URL: field.url('Elasticsearch URL', 'http://127.0.0.1:9200'),
  ...elasticsearchConnectionSpec,
  OPSREVIEW_ES_INDEX_PREFIX: field.string('prefix of the live indices; datasets are <prefix>-whatif-<name>', 'opsreview'),
  OPSREVIEW_TICK_INTERVAL: field.duration("the live correlator's tick interval: the replay ticks at the records' receipt times this often (0: no ticks)", 5000),
  OPSREVIEW_REPLAY_IDLE_TIMEOUT: field.duration('give up when Kafka sends nothing for this long while records are expected', 60_000),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'warn'),
  OPSREVIEW_GROUPING_RULES: field.string('the live grouping rules file, replayed with when --config is not given (empty: the default rules)', ''),
  ...thresholdOverridesSpec,
  // The review's rule: the replay counts availability as the review does.
  ...degradedRuleSpec,
}

export type ReplayConfig = ConfigOf<typeof replayConfigSpec>
