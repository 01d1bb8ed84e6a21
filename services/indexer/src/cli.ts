// `pnpm opsreview reindex`: rebuild every index from the retained Kafka topics. Wires config and clients;
// the work is rebuildFromKafka in @opsreview/search-index.
import { Client } from '@elastic/elasticsearch'
import { Kafka, logLevel } from 'kafkajs'
import { createLogger } from '@opsreview/logging'
import { rebuildFromKafka } from '@opsreview/search-index/rebuild'
import { loadIndexerConfig } from './config.ts'

const [command] = process.argv.slice(2)
if (command !== 'reindex') {
  process.stderr.write('usage: opsreview reindex\n  Rebuilds alerts, incidents and problems in Elasticsearch from the Kafka topics, then moves the aliases.\n')
  process.exit(64)
}
const config = loadIndexerConfig(process.env)
const logger = createLogger('reindex', config.OPSREVIEW_LOG_LEVEL)
const es = new Client({ node: config.OPSREVIEW_ES_URL, requestTimeout: 60_000 })
const kafka = new Kafka({ clientId: 'opsreview-reindex', brokers: config.OPSREVIEW_KAFKA_BROKERS, logLevel: logLevel.ERROR })
const started = Date.now()
const result = await rebuildFromKafka({
  kafka, es, prefix: config.OPSREVIEW_ES_INDEX_PREFIX, logger,
  topics: { alerts: config.OPSREVIEW_TOPIC_ALERTS, incidents: config.OPSREVIEW_TOPIC_INCIDENTS, problems: config.OPSREVIEW_TOPIC_PROBLEMS },
})
logger.info({ ...result, seconds: Math.round((Date.now() - started) / 100) / 10 }, 'rebuild complete')
await es.close()
