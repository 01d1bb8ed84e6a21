// Wires the indexer: config, logger, Kafka and Elasticsearch clients. The parts are put together in
// indexer.ts; the logic lives in packages/.
import { once } from 'node:events'
import { Client } from '@elastic/elasticsearch'
import { Kafka } from 'kafkajs'
import { createLogger } from '@opsreview/logging'
import { shutdownOnSignals } from '@opsreview/lifecycle'
import { kafkaLogLevel, pinoLogCreator } from '@opsreview/kafka/log-creator'
import { kafkaConnectionOptions } from '@opsreview/kafka/connection'
import { elasticsearchConnectionOptions } from '@opsreview/search-index/connection'
import { loadIndexerConfig } from './config.ts'
import { createIndexer } from './indexer.ts'
import { applyServerTimeouts } from '@opsreview/http/hardening'

const config = loadIndexerConfig(process.env)
const logger = createLogger('indexer', config.OPSREVIEW_LOG_LEVEL)
const es = new Client({ ...elasticsearchConnectionOptions(config), requestTimeout: 30_000, maxRetries: 0 })
const kafka = new Kafka({
  clientId: 'opsreview-indexer',
  ...kafkaConnectionOptions(config),
  logLevel: kafkaLogLevel(config.OPSREVIEW_LOG_LEVEL),
  logCreator: pinoLogCreator(logger.child({ component: 'kafka' })),
})

// Exit, and let the supervisor start a fresh one, which reads again from the committed offsets.
const indexer = createIndexer({ config, logger, kafka, es, onFatal: () => process.exit(1) })
await indexer.start()
const server = indexer.app.listen(config.OPSREVIEW_INDEXER_PORT, config.OPSREVIEW_INDEXER_HOST)
applyServerTimeouts(server)
await once(server, 'listening')

shutdownOnSignals(logger, 'writing what is in hand, committing what is indexed', async () => {
  server.close()
  await indexer.close()
  await es.close()
})
