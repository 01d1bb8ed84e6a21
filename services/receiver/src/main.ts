// Wires the receiver: config, logger, Kafka producer, spool, app. The logic lives in packages/.
import { once } from 'node:events'
import { Kafka, Partitioners } from 'kafkajs'
import { createLogger } from '@opsreview/logging'
import { guardStartup, shutdownOnSignals } from '@opsreview/lifecycle'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { alertTopicSpec, deadLetterTopicSpec, ensureTopics, topicReplicationOf } from '@opsreview/kafka/topics'
import { kafkaLogLevel, pinoLogCreator } from '@opsreview/kafka/log-creator'
import { describeKafkaConnection, kafkaConnectionOptions } from '@opsreview/kafka/connection'
import { startKafka } from '@opsreview/kafka/startup'
import { Spool } from '@opsreview/spool'
import { hardenServer, closeServer } from '@opsreview/http/hardening'
import { ingestOptionsOf, loadReceiverConfig, spoolOptionsOf } from './config.ts'
import { createReceiverApp, publishSpooled, spoolDeadLetter } from './app.ts'
import { createReceiverMetrics } from './metrics.ts'

const config = loadReceiverConfig(process.env)
const logger = createLogger('receiver', config.OPSREVIEW_LOG_LEVEL)
guardStartup(logger)
const grouping = config.OPSREVIEW_GROUPING_RULES
logger.info({
  file: process.env.OPSREVIEW_GROUPING_RULES?.trim() || null, serviceLabels: grouping.service.labels,
  serviceRules: grouping.service.rules.length, environmentLabels: grouping.environment.labels,
}, 'grouping rules')

const kafka = new Kafka({
  clientId: 'opsreview-receiver',
  ...kafkaConnectionOptions(config),
  logLevel: kafkaLogLevel(config.OPSREVIEW_LOG_LEVEL),
  logCreator: pinoLogCreator(logger),
  connectionTimeout: 1000,
  requestTimeout: 5000,
  // Connection and metadata retries: bounded and short, so a dead broker fails a send in about a
  // second and the breaker sees it, instead of every webhook waiting out the breaker's timeout.
  retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 },
})
// Bounded retries: an idempotent kafkajs producer otherwise retries forever and a webhook would hang.
// The breaker in BatchPublisher answers 503 instead, and Alertmanager retries later. The publisher makes
// the producer itself, so it can replace one that a refused record left with broken sequence numbers.
const publisher = new BatchPublisher({
  createProducer: () => kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    // A topic is created by startKafka with its retention and limits, never by a broker's defaults on a send.
    allowAutoTopicCreation: false,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
  }),
  logger: logger.child({ component: 'publisher' }),
  onBatch: ({ durationMs, ok }) => metrics.publishSeconds.observe({ outcome: ok ? 'ok' : 'error' }, durationMs / 1000),
})
const spool = await Spool.open(config.OPSREVIEW_SPOOL_DIR, {
  ...spoolOptionsOf(config),
  logger: logger.child({ component: 'spool' }),
  // Another receiver owns the directory now: one that stays up would answer 503 to every report while
  // looking ready. Exit, and let the supervisor's restart wait for the lock or say who holds it.
  onLockLost: () => {
    logger.fatal({ dir: config.OPSREVIEW_SPOOL_DIR }, 'spool lock lost to another receiver: exiting')
    process.exit(1)
  },
})
const metrics = createReceiverMetrics({ breakerState: () => publisher.breakerState, spool })

let topicsReady = false
const app = createReceiverApp({
  publisher, spool, logger, metrics, topicsReady: () => topicsReady,
  clock: () => new Date(),
  tokens: config.OPSREVIEW_INGEST_TOKENS,
  bodyLimit: config.OPSREVIEW_BODY_LIMIT,
  topics: { alerts: config.OPSREVIEW_TOPIC_ALERTS, rejected: config.OPSREVIEW_TOPIC_REJECTED },
  ingest: ingestOptionsOf(config),
})

const server = app.listen(config.OPSREVIEW_RECEIVER_PORT, config.OPSREVIEW_RECEIVER_HOST)
hardenServer(server)
await once(server, 'listening')
logger.info({ url: `http://${config.OPSREVIEW_RECEIVER_HOST}:${config.OPSREVIEW_RECEIVER_PORT}` }, 'receiver listening')
const startup = new AbortController()
void startKafka({
  createAdmin: () => kafka.admin(),
  ensureTopics: (admin) => ensureTopics(admin, [
    alertTopicSpec(config.OPSREVIEW_TOPIC_ALERTS, config.OPSREVIEW_ALERTS_PARTITIONS, config.OPSREVIEW_ALERTS_RETENTION_DAYS),
    deadLetterTopicSpec(config.OPSREVIEW_TOPIC_REJECTED),
  ], topicReplicationOf(config)),
  onTopicsReady: () => { topicsReady = true },
  // startKafka retries for as long as it takes; Alertmanager gets 503s while Kafka does not acknowledge.
  connectPublisher: () => publisher.connect({ timeoutMs: 0 }),
  startDraining: () => spool.startDraining(publishSpooled(publisher, config.OPSREVIEW_TOPIC_ALERTS, metrics), {
    deadLetter: spoolDeadLetter(publisher, config.OPSREVIEW_TOPIC_REJECTED, metrics, () => new Date()),
  }),
  logger,
  ends: startup.signal,
}).then((connected) => {
  if (!connected) return
  logger.info(describeKafkaConnection(config), 'connected to kafka')
})

shutdownOnSignals(logger, 'no new requests, finishing in-flight ones, draining the spool', async () => {
  startup.abort()
  await closeServer(server)
  // Not lost (the spool keeps them on disk for the next start), but not in Kafka yet either: said so.
  if (!(await spool.drained(5000))) logger.warn({ spoolDepth: spool.depth, spoolOldestAgeMs: spool.oldestAgeMs }, 'stopping with alerts still in the spool: the next start publishes them')
  await spool.close()
  await publisher.close()
})
