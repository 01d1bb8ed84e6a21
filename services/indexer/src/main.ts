// Wires the indexer: config, logger, Kafka and Elasticsearch clients. The parts are put together in
// indexer.ts; the logic lives in packages/.
import { once } from 'node:events'
import { Client } from '@elastic/elasticsearch'
import { Kafka } from 'kafkajs'
import { createLogger } from '@opsreview/logging'
import { guardStartup, shutdownOnSignals } from '@opsreview/lifecycle'
import { kafkaLogLevel, pinoLogCreator } from '@opsreview/kafka/log-creator'
import { kafkaConnectionOptions } from '@opsreview/kafka/connection'
import { elasticsearchConnectionOptions } from '@opsreview/search-index/connection'
import { leaseHolderName, registerRetentionMetrics, RetentionScheduler } from '@opsreview/search-index/retention-scheduler'
import { loadIndexerConfig, retentionSettingsOf } from './config.ts'
import { createIndexer } from './indexer.ts'
import { hardenServer } from '@opsreview/http/hardening'

const config = loadIndexerConfig(process.env)
const logger = createLogger('indexer', config.OPSREVIEW_LOG_LEVEL)
guardStartup(logger)
const es = new Client({ ...elasticsearchConnectionOptions(config), requestTimeout: 30_000, maxRetries: 0 })
const kafka = new Kafka({
  clientId: 'opsreview-indexer',
  ...kafkaConnectionOptions(config),
  logLevel: kafkaLogLevel(config.OPSREVIEW_LOG_LEVEL),
  logCreator: pinoLogCreator(logger),
})

// Exit (once what is durable is committed and the group left, at most 10 s on), and let the supervisor start a
// fresh one, which reads again from the committed offsets.
const indexer = createIndexer({ config, logger, kafka, es, onFatal: () => process.exit(1) })
await indexer.start()
const server = indexer.app.listen(config.OPSREVIEW_INDEXER_PORT, config.OPSREVIEW_INDEXER_HOST)
hardenServer(server)
await once(server, 'listening')

// Every instance schedules retention; a lease in Elasticsearch gives each round to one of them.
const retentionMetrics = registerRetentionMetrics(indexer.registry)
const retentionInterval = config.OPSREVIEW_RETENTION_INTERVAL
const retention = retentionInterval > 0
  ? new RetentionScheduler({
    es, prefix: config.OPSREVIEW_ES_INDEX_PREFIX, settings: retentionSettingsOf(config), intervalMs: retentionInterval,
    firstDelayMs: Math.min(30_000, retentionInterval), holder: leaseHolderName('indexer'), logger: logger.child({ component: 'retention' }), metrics: retentionMetrics,
  })
  : undefined
retention?.start()

shutdownOnSignals(logger, 'writing what is in hand, committing what is indexed', async () => {
  // First: it ends a run under way and gives the lease back through `es`, which is closed last.
  await retention?.stop()
  server.close()
  await indexer.close()
  await es.close()
})
