import { field, loadConfigOrExit, type ConfigOf } from '@opsreview/config'
import { defaultTopics } from '@opsreview/kafka/topics'

/** Every variable the indexer reads. The README's configuration table mirrors this. */
export const indexerConfigSpec = {
  OPSREVIEW_KAFKA_BROKERS: field.list('Kafka bootstrap brokers', ['127.0.0.1:9092'], { minItems: 1 }),
  OPSREVIEW_TOPIC_ALERTS: field.string('topic of canonical alert events', defaultTopics.alerts),
  OPSREVIEW_TOPIC_INCIDENTS: field.string('compacted topic of incident versions', 'opsreview.incidents.v1'),
  OPSREVIEW_TOPIC_PROBLEMS: field.string('compacted topic of problem versions', 'opsreview.problems.v1'),
  OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: field.string('dead-letter topic for documents Elasticsearch rejects', defaultTopics.indexerDeadLetter),
  OPSREVIEW_INDEXER_GROUP: field.string('Kafka consumer group of the indexer', 'opsreview-indexer'),
  OPSREVIEW_ES_URL: field.url('Elasticsearch URL', 'http://127.0.0.1:9200'),
  OPSREVIEW_ES_INDEX_PREFIX: field.string('prefix of every index, template and alias', 'opsreview'),
  OPSREVIEW_ES_REFRESH_INTERVAL: field.string('refresh_interval of the indices', '1s'),
  OPSREVIEW_INDEXER_BULK_BYTES: field.bytes('largest bulk request; a partly filled one goes as soon as a request slot is free', 5 * 1024 * 1024),
  OPSREVIEW_INDEXER_BULK_CONCURRENCY: field.int('bulk requests in flight at once', 3, { min: 1, max: 32 }),
  // Small enough that decoding one fetch does not hold the event loop long (bulk responses wait meanwhile).
  OPSREVIEW_INDEXER_FETCH_BYTES: field.bytes('largest Kafka fetch of all partitions together', 8 * 1024 * 1024),
  OPSREVIEW_INDEXER_FETCH_BYTES_PER_PARTITION: field.bytes('largest Kafka fetch of one partition', 1024 * 1024),
  OPSREVIEW_INDEXER_HOST: field.string('address of the metrics and health endpoint', '127.0.0.1'),
  OPSREVIEW_INDEXER_PORT: field.port('port of the metrics and health endpoint', 8082),
  OPSREVIEW_LOG_LEVEL: field.oneOf('pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
}

export type IndexerConfig = ConfigOf<typeof indexerConfigSpec>

export function loadIndexerConfig(env: NodeJS.ProcessEnv): IndexerConfig {
  return loadConfigOrExit('indexer', indexerConfigSpec, env)
}
