// Wires the correlator: config, logger, Kafka clients, the rekeyer, the ticker and the partition runner.
import { once } from 'node:events'
import type { Server } from 'node:http'
import express from 'express'
import { Kafka, Partitioners, type Consumer } from 'kafkajs'
import { Counter, Gauge } from 'prom-client'
import { createLogger } from '@opsreview/logging'
import { guardStartup, shutdownOnSignals } from '@opsreview/lifecycle'
import { kafkaLogLevel, pinoLogCreator } from '@opsreview/kafka/log-creator'
import { BOUNDED_SEND_RETRY, describeKafkaConnection, kafkaConnectionOptions } from '@opsreview/kafka/connection'
import { alertTopicSpec, ensureTopics, TopicMismatchError, topicReplicationOf } from '@opsreview/kafka/topics'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { SerialProducer } from '@opsreview/kafka/serial-producer'
import { ConsumerHealthMonitor, registerConsumerHealthMetrics, stallReason } from '@opsreview/kafka/consumer-health'
import { correlatorTopicSpecs } from '@opsreview/correlation-stream/topics'
import { createRekeyHandler, rekeyPublisherLimits, rekeyRunOptions } from '@opsreview/correlation-stream/rekey'
import { startTicker } from '@opsreview/correlation-stream/ticker'
import { KafkaStateStore } from '@opsreview/correlation-stream/state-store'
import { logStartFrom, PartitionRunner } from '@opsreview/correlation-stream/partition-runner'
import { retryingBatches } from '@opsreview/correlation-stream/retrying'
import { accessRefusal } from '@opsreview/correlation-stream/errors'
import { reportingFetches } from '@opsreview/correlation-stream/health'
import { engineConfigOf, loadCorrelatorConfig, topicsOf } from './config.ts'
import { createCorrelatorRegistry } from './metrics.ts'
import { hardenServer, securityHeaders } from '@opsreview/http/hardening'

const config = loadCorrelatorConfig(process.env)
const logger = createLogger('correlator', config.OPSREVIEW_LOG_LEVEL)
guardStartup(logger)
const grouping = config.OPSREVIEW_GROUPING_RULES
logger.info({
  file: process.env.OPSREVIEW_GROUPING_RULES?.trim() || null, groupRules: grouping.groupBy.rules.map((r, i) => r.name ?? i),
  groupByDefault: grouping.groupBy.default.fields, incidentKeyLabel: grouping.incidentKeyLabel,
}, 'grouping rules')
const topics = topicsOf(config)
const kafka = new Kafka({
  clientId: 'opsreview-correlator',
  ...kafkaConnectionOptions(config),
  logLevel: kafkaLogLevel(config.OPSREVIEW_LOG_LEVEL),
  logCreator: pinoLogCreator(logger),
})

const admin = kafka.admin()
await admin.connect()
await ensureTopics(admin, [
  alertTopicSpec(topics.alerts, 6, config.OPSREVIEW_CORRELATOR_RETENTION_DAYS),
  ...correlatorTopicSpecs(topics, config.OPSREVIEW_CORRELATOR_PARTITIONS, config.OPSREVIEW_CORRELATOR_RETENTION_DAYS),
], { ...topicReplicationOf(config), verifyExisting: true }).catch((err: unknown) => {
  if (!(err instanceof TopicMismatchError)) throw err
  logger.fatal({ faults: err.faults }, 'existing topics do not fit the correlator: not started (docs/correlator-reliability.md)')
  process.exit(78)
})

// Three producers, each idempotent with one request in flight (its order): rekeyed input, engine outputs,
// and snapshots with ticks. Shared, a multi-megabyte snapshot would stall every output behind it.
const producer = () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { ...BOUNDED_SEND_RETRY } })
// Checkpoints of several partitions and the ticker share the state producer: one send at a time
// (SerialProducer). A send has PartitionRunner.sendTimeoutMs, then fails as Kafka unavailable and its
// producer is replaced.
const engineSender = (name: string) => new SerialProducer(producer, logger, name, { sendTimeoutMs: PartitionRunner.sendTimeoutMs })
const outputProducer = engineSender('outputs')
const stateProducer = engineSender('state')
// The rekeyer's producer sits behind a publisher: the source partitions' batches, handled at once, share
// its produce requests.
const rekeyPublisher = new BatchPublisher({ createProducer: producer, logger: logger.child({ component: 'rekey-publisher' }), ...rekeyPublisherLimits })
await Promise.all([outputProducer.connect(), stateProducer.connect(), rekeyPublisher.connect()])

const registry = createCorrelatorRegistry()
const applied = new Counter({ name: 'opsreview_correlator_inputs_applied_total', help: 'Engine inputs applied', registers: [registry] })
const emitted = new Counter({ name: 'opsreview_correlator_outputs_total', help: 'Incident and problem documents and command results produced: the latest version of each incident and problem a batch changed', registers: [registry] })
const assigned = new Gauge({ name: 'opsreview_correlator_partitions', help: 'Input partitions this instance runs', registers: [registry] })
const deadLetters = new Counter({ name: 'opsreview_dead_letters_total', help: 'Records dead-lettered, by stage and reason', labelNames: ['stage', 'reason'], registers: [registry] })
const retries = new Counter({ name: 'opsreview_correlator_kafka_retries_total', help: 'Batches retried after a retriable Kafka failure, by consumer', labelNames: ['consumer'], registers: [registry] })
const onDeadLetter = (reason: string) => deadLetters.inc({ stage: 'correlator', reason })
const receiptsClamped = new Counter({ name: 'opsreview_correlator_receipts_clamped_total', help: "Events whose receipt lay after the rekeyer's clock plus OPSREVIEW_FUTURE_TOLERANCE, clamped to it (a receiver's clock runs ahead)", registers: [registry] })

const session = { sessionTimeout: config.OPSREVIEW_KAFKA_SESSION_TIMEOUT, heartbeatInterval: Math.max(500, Math.floor(config.OPSREVIEW_KAFKA_SESSION_TIMEOUT / 10)) }
const rekeyGroup = `${config.OPSREVIEW_CORRELATOR_GROUP}-rekey`
const engineGroup = `${config.OPSREVIEW_CORRELATOR_GROUP}-engine`
const rekeyConsumer = kafka.consumer({ groupId: rekeyGroup, maxWaitTimeInMs: 100, ...session })
const engineConsumer = kafka.consumer({ groupId: engineGroup, maxWaitTimeInMs: 100, ...session })
const monitor = (consumer: Consumer, group: string, monitored: string[]) => new ConsumerHealthMonitor({
  group, topics: monitored, admin, consumer, stallAfterMs: config.OPSREVIEW_STALL_AFTER, intervalMs: config.OPSREVIEW_CONSUMER_HEALTH_INTERVAL,
  logger: logger.child({ component: 'consumer-health', group }),
})
const rekeyHealth = monitor(rekeyConsumer, rekeyGroup, [topics.alerts, topics.commands])
const engineHealth = monitor(engineConsumer, engineGroup, [topics.input])
registerConsumerHealthMetrics(Gauge, registry, () => [rekeyHealth, engineHealth])

// A consumer kafkajs will not restart (a non-retriable failure) must not leave a process that looks alive:
// exit, and let the supervisor start a fresh one, which resumes from the last snapshot.
for (const [consumer, name] of [[rekeyConsumer, 'rekey'], [engineConsumer, 'engine']] as const) {
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) return
    const refused = accessRefusal(payload.error)
    if (refused) logger.fatal({ err: payload.error, consumer: name, refused }, 'kafka refused this client (credentials or permissions): consumer stopped for good, exiting')
    else logger.fatal({ err: payload.error, consumer: name }, 'consumer stopped for good: exiting')
    process.exit(1)
  })
}

const rekeyLogger = logger.child({ component: 'rekey' })
const engineLogger = logger.child({ component: 'engine' })
const runner = new PartitionRunner({
  consumer: engineConsumer, producer: outputProducer, topics, engineConfig: engineConfigOf(config),
  // Under the groups' prefix: group ACLs granted on it cover the snapshot reads' groups too.
  store: new KafkaStateStore(kafka, stateProducer, topics.state, { readerGroupPrefix: `${config.OPSREVIEW_CORRELATOR_GROUP}-state-reader` }),
  logStartOf: logStartFrom(admin),
  logger: engineLogger,
  snapshotIntervalMs: config.OPSREVIEW_SNAPSHOT_INTERVAL,
  checkpointShare: config.OPSREVIEW_SNAPSHOT_MAX_PERCENT / 100,
  // Dead letters' times only: the checkpoint cadence and the snapshot ages are on performance.now (its monotonicMs default).
  now: () => Date.now(),
  onApplied: (inputs, outputs) => { applied.inc(inputs); emitted.inc(outputs) },
  onDeadLetter,
  onDurable: (topic, partition, next) => engineHealth.health.processed(topic, partition, next),
})
new Gauge({
  name: 'opsreview_correlator_snapshot_age_seconds', help: 'Time the partition has held input no snapshot includes; 0 when all is saved', labelNames: ['partition'], registers: [registry],
  collect() { this.reset(); for (const [partition, age] of runner.snapshotAges()) this.set({ partition: String(partition) }, age) },
})
new Gauge({
  name: 'opsreview_correlator_snapshot_age_expected_seconds', help: 'The snapshot age the partition reaches at most while its checkpoints succeed: they are spaced by their own cost', labelNames: ['partition'], registers: [registry],
  collect() { this.reset(); for (const [partition, age] of runner.expectedSnapshotAges()) this.set({ partition: String(partition) }, age) },
})
// kafkajs rejoins by itself after a crash, and the group may have handed this member's partitions to another
// meanwhile: the engines restore from the latest snapshots rather than trust what they hold.
engineConsumer.on(engineConsumer.events.CRASH, ({ payload }) => { if (payload.restart) runner.onAssignment([]) })
engineConsumer.on(engineConsumer.events.GROUP_JOIN, ({ payload }) => {
  const partitions = payload.memberAssignment[topics.input] ?? []
  runner.onAssignment(partitions)
  assigned.set(partitions.length)
  logger.info({ partitions }, 'input partitions assigned')
})

let ticker: ReturnType<typeof startTicker> | undefined
let server: Server | undefined
// Before any consumer starts: from its join on, a signal must leave the groups and checkpoint what the engine
// applied (guardStartup's exit at once did neither: the partitions waited out the session, and a restart
// replayed). A signal during the start waits for it to end: torn down under a consumer joining, that
// consumer crashed (exit 1) or went on joining after the shutdown had left.
let stopRequested = false
/** Whether the start got as far as running the engine consumer: a signal while the rekey consumer joined keeps it out. */
let engineRunning = false
shutdownOnSignals(logger, 'checkpointing every partition', async () => {
  stopRequested = true
  await started.catch(() => undefined)
  ticker?.stop()
  rekeyHealth.stop()
  engineHealth.stop()
  server?.close()
  await rekeyConsumer.disconnect()
  // Between a crash and kafkajs's restart of the consumer (up to its retry time) there is no group to
  // pause, and pause() throws: the shutdown went no further, without its final checkpoint and commits.
  try {
    if (engineRunning) engineConsumer.pause([{ topic: topics.input }])
  } catch (err) {
    logger.warn({ err }, 'engine consumer not running (restarting after a failure): nothing to pause')
  }
  await runner.stopApplying()
  await runner.checkpointAll().catch((err: unknown) => logger.error({ err }, 'final checkpoint failed; the next start replays those partitions from their last one'))
  await engineConsumer.disconnect()
  await Promise.all([rekeyPublisher.close(), outputProducer.disconnect(), stateProducer.disconnect()])
  await admin.disconnect()
})
// In the same turn as the handler above: no signal comes between, to find `started` not there yet.
const started = start()
await started
if (!stopRequested) logger.info({ topics, kafka: describeKafkaConnection(config) }, 'correlator running')

/** The consumers, their health, the ticker and the endpoints, in that order. */
async function start(): Promise<void> {
  await rekeyConsumer.connect()
  await rekeyConsumer.subscribe({ topics: [topics.alerts, topics.commands], fromBeginning: true })
  await rekeyConsumer.run({
    ...rekeyRunOptions,
    eachBatch: retryingBatches(reportingFetches(createRekeyHandler({
      publisher: rekeyPublisher, inputTopic: topics.input, commandsTopic: topics.commands, deadLetterTopic: topics.deadLetter,
      logger: rekeyLogger, now: () => Date.now(), onDeadLetter,
      receiptToleranceMs: config.OPSREVIEW_FUTURE_TOLERANCE, onReceiptsClamped: (n) => receiptsClamped.inc(n),
      onDurable: (topic, partition, next) => rekeyHealth.health.processed(topic, partition, next),
    }), rekeyHealth.health), { logger: rekeyLogger, onRetry: () => retries.inc({ consumer: 'rekey' }) }),
  })
  // A signal while the rekey consumer joined keeps the engine consumer out of its group: joining it only to
  // leave would move every partition twice, and apply and checkpoint a batch nobody waits for.
  if (stopRequested) return
  await engineConsumer.connect()
  await engineConsumer.subscribe({ topic: topics.input, fromBeginning: true })
  engineRunning = true
  await engineConsumer.run({
    ...PartitionRunner.runOptions,
    eachBatch: retryingBatches(reportingFetches(runner.handler, engineHealth.health), { logger: engineLogger, onRetry: () => retries.inc({ consumer: 'engine' }) }),
  })
  rekeyHealth.start()
  engineHealth.start()

  ticker = config.OPSREVIEW_TICK_INTERVAL > 0
    ? startTicker({ producer: stateProducer, admin, inputTopic: topics.input, intervalMs: config.OPSREVIEW_TICK_INTERVAL, clock: () => new Date(), logger, expectedPartitions: config.OPSREVIEW_CORRELATOR_PARTITIONS })
    : undefined

  const app = express()
  app.disable('x-powered-by')
  app.use(securityHeaders())
  app.get('/healthz', (_req, res) => { res.json({ status: 'ok', partitions: runner.partitions }) })
  // Ready while no consumer has stalled: lag with no progress for OPSREVIEW_STALL_AFTER turns it 503.
  app.get('/readyz', (_req, res) => {
    const stalled = [rekeyHealth, engineHealth].map((m) => stallReason(m.snapshot())).filter((r) => r !== undefined)
    res.status(stalled.length > 0 ? 503 : 200).json(stalled.length > 0 ? { status: 'stalled', stalled } : { status: 'ready' })
  })
  app.get('/metrics', async (_req, res) => { res.type(registry.contentType).send(await registry.metrics()) })
  server = app.listen(config.OPSREVIEW_CORRELATOR_PORT, config.OPSREVIEW_CORRELATOR_HOST)
  hardenServer(server)
  await once(server, 'listening')
}
