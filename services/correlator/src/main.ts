// Wires the correlator: config, logger, Kafka clients, the rekeyer, the ticker and the partition runner.
import { once } from 'node:events'
import express from 'express'
import { Kafka, Partitioners } from 'kafkajs'
import { Counter, Gauge, Registry } from 'prom-client'
import { createLogger } from '@opsreview/logging'
import { shutdownOnSignals } from '@opsreview/lifecycle'
import { kafkaLogLevel, pinoLogCreator } from '@opsreview/kafka/log-creator'
import { alertTopicSpec, deadLetterTopicSpec, ensureTopics } from '@opsreview/kafka/topics'
import { correlatorTopicSpecs } from '@opsreview/correlation-stream/topics'
import { createRekeyHandler } from '@opsreview/correlation-stream/rekey'
import { startTicker } from '@opsreview/correlation-stream/ticker'
import { KafkaStateStore } from '@opsreview/correlation-stream/state-store'
import { PartitionRunner } from '@opsreview/correlation-stream/partition-runner'
import { engineConfigOf, loadCorrelatorConfig, topicsOf } from './config.ts'

const config = loadCorrelatorConfig(process.env)
const logger = createLogger('correlator', config.OPSREVIEW_LOG_LEVEL)
const topics = topicsOf(config)
const kafka = new Kafka({
  clientId: 'opsreview-correlator',
  brokers: config.OPSREVIEW_KAFKA_BROKERS,
  logLevel: kafkaLogLevel(config.OPSREVIEW_LOG_LEVEL),
  logCreator: pinoLogCreator(logger.child({ component: 'kafka' })),
})

const admin = kafka.admin()
await admin.connect()
await ensureTopics(admin, [
  alertTopicSpec(topics.alerts, 6, config.OPSREVIEW_CORRELATOR_RETENTION_DAYS),
  ...correlatorTopicSpecs(topics, config.OPSREVIEW_CORRELATOR_PARTITIONS, config.OPSREVIEW_CORRELATOR_RETENTION_DAYS),
  deadLetterTopicSpec(config.OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER),
])

// Three producers, each idempotent with one request in flight (its order): rekeyed input, engine outputs,
// and snapshots with ticks. Shared, a multi-megabyte snapshot would stall every output behind it.
const newProducer = async () => {
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await p.connect()
  return p
}
const [rekeyProducer, outputProducer, stateProducer] = await Promise.all([newProducer(), newProducer(), newProducer()])

const registry = new Registry()
const applied = new Counter({ name: 'opsreview_correlator_inputs_applied_total', help: 'Engine inputs applied', registers: [registry] })
const emitted = new Counter({ name: 'opsreview_correlator_outputs_total', help: 'Incident, problem and command-result versions produced', registers: [registry] })
const assigned = new Gauge({ name: 'opsreview_correlator_partitions', help: 'Input partitions this instance runs', registers: [registry] })

const session = { sessionTimeout: config.OPSREVIEW_KAFKA_SESSION_TIMEOUT, heartbeatInterval: Math.max(500, Math.floor(config.OPSREVIEW_KAFKA_SESSION_TIMEOUT / 10)) }
const rekeyConsumer = kafka.consumer({ groupId: `${config.OPSREVIEW_CORRELATOR_GROUP}-rekey`, maxWaitTimeInMs: 100, ...session })
await rekeyConsumer.connect()
await rekeyConsumer.subscribe({ topics: [topics.alerts, topics.commands], fromBeginning: true })
await rekeyConsumer.run({
  eachBatchAutoResolve: false,
  eachBatch: createRekeyHandler({
    producer: rekeyProducer, inputTopic: topics.input, commandsTopic: topics.commands, logger: logger.child({ component: 'rekey' }),
    deadLetter: async (messages) => { await rekeyProducer.send({ topic: config.OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER, acks: -1, messages }) },
  }),
})

const engineConsumer = kafka.consumer({ groupId: `${config.OPSREVIEW_CORRELATOR_GROUP}-engine`, maxWaitTimeInMs: 100, ...session })
const runner = new PartitionRunner({
  consumer: engineConsumer, producer: outputProducer, topics, engineConfig: engineConfigOf(config),
  store: new KafkaStateStore(kafka, stateProducer, topics.state),
  logger: logger.child({ component: 'engine' }),
  snapshotIntervalMs: config.OPSREVIEW_SNAPSHOT_INTERVAL,
  now: () => Date.now(),
  onApplied: (inputs, outputs) => { applied.inc(inputs); emitted.inc(outputs) },
})
engineConsumer.on(engineConsumer.events.GROUP_JOIN, ({ payload }) => {
  const partitions = payload.memberAssignment[topics.input] ?? []
  runner.onAssignment(partitions)
  assigned.set(partitions.length)
  logger.info({ partitions }, 'input partitions assigned')
})
await engineConsumer.connect()
await engineConsumer.subscribe({ topic: topics.input, fromBeginning: true })
await engineConsumer.run({ ...PartitionRunner.runOptions, eachBatch: runner.handler })

const ticker = config.OPSREVIEW_TICK_INTERVAL > 0
  ? startTicker({ producer: stateProducer, admin, inputTopic: topics.input, intervalMs: config.OPSREVIEW_TICK_INTERVAL, clock: () => new Date(), logger })
  : undefined
logger.info({ topics }, 'correlator running')

const app = express()
app.get('/healthz', (_req, res) => { res.json({ status: 'ok', partitions: runner.partitions }) })
app.get('/metrics', async (_req, res) => { res.type(registry.contentType).send(await registry.metrics()) })
const server = app.listen(config.OPSREVIEW_CORRELATOR_PORT, config.OPSREVIEW_CORRELATOR_HOST)
await once(server, 'listening')

shutdownOnSignals(logger, 'checkpointing every partition', async () => {
  ticker?.stop()
  server.close()
  await rekeyConsumer.disconnect()
  engineConsumer.pause([{ topic: topics.input }])
  await runner.idle()
  await runner.checkpointAll().catch((err: unknown) => logger.error({ err }, 'final checkpoint failed; the next start replays from the last one'))
  await engineConsumer.disconnect()
  await Promise.all([rekeyProducer.disconnect(), outputProducer.disconnect(), stateProducer.disconnect()])
  await admin.disconnect()
})
