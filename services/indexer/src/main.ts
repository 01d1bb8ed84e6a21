// Wires the indexer: config, logger, Kafka consumer, Elasticsearch client. The logic lives in packages/.
import { once } from 'node:events'
import express from 'express'
import { Client } from '@elastic/elasticsearch'
import { Kafka, Partitioners } from 'kafkajs'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { createLogger } from '@opsreview/logging'
import { shutdownOnSignals } from '@opsreview/lifecycle'
import { kafkaLogLevel, pinoLogCreator } from '@opsreview/kafka/log-creator'
import { alertTopicSpec, deadLetterTopicSpec, ensureTopics } from '@opsreview/kafka/topics'
import { ensureIndices } from '@opsreview/search-index/templates'
import { createBackPressure } from '@opsreview/search-index/back-pressure'
import { liveWrites } from '@opsreview/search-index/documents'
import { IndexingConsumer } from '@opsreview/search-index/indexing-consumer'
import { loadIndexerConfig } from './config.ts'

const config = loadIndexerConfig(process.env)
const logger = createLogger('indexer', config.OPSREVIEW_LOG_LEVEL)
const es = new Client({ node: config.OPSREVIEW_ES_URL, requestTimeout: 30_000, maxRetries: 0 })
const kafka = new Kafka({
  clientId: 'opsreview-indexer',
  brokers: config.OPSREVIEW_KAFKA_BROKERS,
  logLevel: kafkaLogLevel(config.OPSREVIEW_LOG_LEVEL),
  logCreator: pinoLogCreator(logger.child({ component: 'kafka' })),
})

const registry = new Registry()
const indexed = new Counter({ name: 'opsreview_indexer_documents_indexed_total', help: 'Documents Elasticsearch accepted', registers: [registry] })
const deadLettered = new Counter({ name: 'opsreview_indexer_dead_lettered_total', help: 'Documents sent to the dead-letter topic', registers: [registry] })
const bulkSeconds = new Histogram({ name: 'opsreview_indexer_bulk_seconds', help: 'Bulk request latency', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] })
const failures = new Counter({ name: 'opsreview_indexer_failures_total', help: 'Failed bulk attempts (retried) by reason', labelNames: ['reason'], registers: [registry] })
const lag = new Gauge({ name: 'opsreview_indexer_consumer_lag', help: 'Records behind the end of each partition, at the last batch', labelNames: ['topic', 'partition'], registers: [registry] })
new Gauge({ name: 'opsreview_indexer_queued_bytes', help: 'Documents taken from Kafka and not yet sent to Elasticsearch', registers: [registry], collect() { this.set(indexing.pipeline.queuedBytes) } })
new Gauge({ name: 'opsreview_indexer_bulk_in_flight', help: 'Bulk requests in flight', registers: [registry], collect() { this.set(indexing.pipeline.inFlight) } })

await ensureIndices(es, config.OPSREVIEW_ES_INDEX_PREFIX, config.OPSREVIEW_ES_REFRESH_INTERVAL)
const admin = kafka.admin()
await admin.connect()
await ensureTopics(admin, [
  alertTopicSpec(config.OPSREVIEW_TOPIC_ALERTS),
  { topic: config.OPSREVIEW_TOPIC_INCIDENTS, numPartitions: 6, cleanupPolicy: 'compact' },
  { topic: config.OPSREVIEW_TOPIC_PROBLEMS, numPartitions: 3, cleanupPolicy: 'compact' },
  deadLetterTopicSpec(config.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER),
])
await admin.disconnect()

const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
await producer.connect()
const consumer = kafka.consumer({ groupId: config.OPSREVIEW_INDEXER_GROUP, maxBytesPerPartition: config.OPSREVIEW_INDEXER_FETCH_BYTES_PER_PARTITION, maxBytes: config.OPSREVIEW_INDEXER_FETCH_BYTES })
await consumer.connect()
const topics = [config.OPSREVIEW_TOPIC_ALERTS, config.OPSREVIEW_TOPIC_INCIDENTS, config.OPSREVIEW_TOPIC_PROBLEMS]
await consumer.subscribe({ topics, fromBeginning: true })
const backPressure = createBackPressure({
  logger,
  pause: () => consumer.pause(topics.map((topic) => ({ topic }))),
  resume: () => consumer.resume(topics.map((topic) => ({ topic }))),
})
new Gauge({
  name: 'opsreview_indexer_breaker_state', help: 'Elasticsearch breaker: 0 closed, 1 half-open, 2 open', registers: [registry],
  collect() { this.set({ closed: 0, 'half-open': 1, open: 2 }[backPressure.state]) },
})
const live = liveWrites(es, config.OPSREVIEW_ES_INDEX_PREFIX, { alerts: config.OPSREVIEW_TOPIC_ALERTS, incidents: config.OPSREVIEW_TOPIC_INCIDENTS, problems: config.OPSREVIEW_TOPIC_PROBLEMS })
const indexing = new IndexingConsumer({
  consumer,
  logger,
  documentFor: live.documentFor,
  onBatch: (topic, partition, offsetLag) => lag.set({ topic, partition: String(partition) }, offsetLag),
  pipeline: {
    ...live.pipeline,
    es,
    logger,
    flushBytes: config.OPSREVIEW_INDEXER_BULK_BYTES,
    concurrency: config.OPSREVIEW_INDEXER_BULK_CONCURRENCY,
    guard: backPressure.guard,
    onRetry: (reason) => failures.inc({ reason }),
    deadLetter: async (records) => {
      await producer.send({ topic: config.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER, acks: -1, messages: records })
      deadLettered.inc(records.length)
    },
    onIndexed: (count, ms) => { indexed.inc(count); bulkSeconds.observe(ms / 1000) },
  },
})
await consumer.run({ ...IndexingConsumer.runOptions, eachBatch: indexing.handler })
logger.info({ topics, group: config.OPSREVIEW_INDEXER_GROUP }, 'indexer consuming')

const app = express()
app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }) })
// Ready: in the consumer group and Elasticsearch taking writes.
app.get('/readyz', (_req, res) => {
  const ready = indexing.joined && backPressure.state === 'closed'
  res.status(ready ? 200 : 503).json({ ready, joined: indexing.joined, breaker: backPressure.state })
})
app.get('/metrics', async (_req, res) => { res.type(registry.contentType).send(await registry.metrics()) })
const server = app.listen(config.OPSREVIEW_INDEXER_PORT, config.OPSREVIEW_INDEXER_HOST)
await once(server, 'listening')

shutdownOnSignals(logger, 'writing what is in hand, committing what is indexed', async () => {
  server.close()
  await indexing.close(topics)
  backPressure.shutdown()
  await producer.disconnect()
  await es.close()
})
