// The indexer's parts put together: consumer, bulk pipeline, back-pressure, health, metrics and the HTTP
// app. main.ts gives it config and clients; tests give it theirs and drive the app in-process.
import express, { type Express } from 'express'
import type { Client } from '@elastic/elasticsearch'
import { Partitioners, type Kafka, type PartitionMetadata } from 'kafkajs'
import type { Logger } from 'pino'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { alertTopicSpec, deadLetterTopicSpec, documentTopicSpec, ensureTopics, topicReplicationOf } from '@opsreview/kafka/topics'
import { SerialProducer } from '@opsreview/kafka/serial-producer'
import { BOUNDED_SEND_RETRY } from '@opsreview/kafka/connection'
import { deadLetterMessage } from '@opsreview/kafka/dead-letter'
import { ConsumerHealthMonitor, registerConsumerHealthMetrics } from '@opsreview/kafka/consumer-health'
import { ensureIndices } from '@opsreview/search-index/templates'
import { createBackPressure } from '@opsreview/search-index/back-pressure'
import { liveWrites } from '@opsreview/search-index/documents'
import { IndexingConsumer } from '@opsreview/search-index/indexing-consumer'
import { indexerReadiness } from '@opsreview/search-index/readiness'
import type { IndexerConfig } from './config.ts'
import { securityHeaders } from '@opsreview/http/hardening'
import { settleWithin } from '@opsreview/lifecycle/deadline'

export interface IndexerDeps {
  config: IndexerConfig
  logger: Logger
  kafka: Kafka
  es: Client
  /**
   * Indexing stopped for good (the bulk pipeline broke, or the consumer crashed and kafkajs will not restart
   * it): the process must not look alive. Called once what is durable is committed and the group left, or
   * after `fatalCloseMs` whatever is left.
   */
  onFatal?: (err: unknown) => void
  /** How long a fatal stop may take to commit and leave the group before `onFatal` (10 s). */
  fatalCloseMs?: number
  /** How long the Elasticsearch breaker stays open before one trial request (createBackPressure's 5 s). */
  breakerResetMs?: number
}

export interface Indexer {
  app: Express
  registry: Registry
  /** Creates what is missing (indices, topics), joins the group and starts consuming. */
  start(): Promise<void>
  /** Writes what it holds, commits, leaves the group. */
  close(): Promise<void>
}

export function createIndexer({ config, logger, kafka, es, onFatal, fatalCloseMs = 10_000, breakerResetMs }: IndexerDeps): Indexer {
  const topics = [config.OPSREVIEW_TOPIC_ALERTS, config.OPSREVIEW_TOPIC_INCIDENTS, config.OPSREVIEW_TOPIC_PROBLEMS]
  const registry = new Registry()
  // prom-client's process metrics (CPU, memory, event loop, GC), as every service exports them.
  collectDefaultMetrics({ register: registry })
  const indexed = new Counter({ name: 'opsreview_indexer_documents_indexed_total', help: 'Documents Elasticsearch accepted', registers: [registry] })
  const deadLettered = new Counter({ name: 'opsreview_indexer_dead_lettered_total', help: 'Documents sent to the dead-letter topic', registers: [registry] })
  const deadLetters = new Counter({ name: 'opsreview_dead_letters_total', help: 'Records sent to a dead-letter topic, by stage and reason', labelNames: ['stage', 'reason'], registers: [registry] })
  const bulkSeconds = new Histogram({ name: 'opsreview_indexer_bulk_seconds', help: 'Bulk request latency', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] })
  const failures = new Counter({ name: 'opsreview_indexer_failures_total', help: 'Failed attempts (retried), by what failed (item, request, prepare, breaker-open, dead-letter) and the catalogue code', labelNames: ['reason', 'code'], registers: [registry] })

  const admin = kafka.admin()
  // Dead letters of up to three bulk requests at once: one send at a time, a fresh producer id after a failed
  // one. A send fails after 10 s as Kafka unavailable (the poison and what follows it wait and are retried)
  // instead of holding its partition for ever.
  const producer = new SerialProducer(
    () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { ...BOUNDED_SEND_RETRY } }),
    logger, 'dead-letters', { sendTimeoutMs: 10_000 },
  )
  // Each send of dead letters goes to one partition, the one its first letter's key hashes to: a broker takes or
  // refuses one partition's batch whole, while a send spread over partitions is taken in part when one part is
  // refused (a letter too large), and the pipeline then sends each letter again alone. Until 2026-12-06, on a
  // dead-letter topic of several partitions (one made by hand: the indexer makes it with one), the letters the
  // other partitions had taken were written twice.
  let letterPartitions: PartitionMetadata[] = []
  const letterPartition = Partitioners.DefaultPartitioner()
  const partitionOfLetters = (key: string): number => (letterPartitions.length === 0 ? 0
    : letterPartition({ topic: config.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER, partitionMetadata: letterPartitions, message: { key, value: null } }))
  // A killed instance's partitions move only when its session times out: the session is how long they wait.
  const session = { sessionTimeout: config.OPSREVIEW_KAFKA_SESSION_TIMEOUT, heartbeatInterval: Math.max(500, Math.floor(config.OPSREVIEW_KAFKA_SESSION_TIMEOUT / 10)) }
  // A fetch waits at most a second for records: kafkajs's 5 s default is also how long a stop waited for the
  // fetch in flight (4-5 s of every idle shutdown).
  const consumer = kafka.consumer({ groupId: config.OPSREVIEW_INDEXER_GROUP, maxBytesPerPartition: config.OPSREVIEW_INDEXER_FETCH_BYTES_PER_PARTITION, maxBytes: config.OPSREVIEW_INDEXER_FETCH_BYTES, maxWaitTimeInMs: 1000, ...session })
  const health = new ConsumerHealthMonitor({
    group: config.OPSREVIEW_INDEXER_GROUP, topics, admin, consumer, logger,
    stallAfterMs: config.OPSREVIEW_STALL_AFTER, intervalMs: config.OPSREVIEW_CONSUMER_HEALTH_INTERVAL,
  })
  registerConsumerHealthMetrics(Gauge, registry, () => [health])
  const backPressure = createBackPressure({
    logger,
    pause: () => consumer.pause(topics.map((topic) => ({ topic }))),
    resume: () => consumer.resume(topics.map((topic) => ({ topic }))),
    ...(breakerResetMs === undefined ? {} : { resetTimeoutMs: breakerResetMs }),
  })
  const live = liveWrites(es, config.OPSREVIEW_ES_INDEX_PREFIX, { alerts: config.OPSREVIEW_TOPIC_ALERTS, incidents: config.OPSREVIEW_TOPIC_INCIDENTS, problems: config.OPSREVIEW_TOPIC_PROBLEMS })
  const indexing = new IndexingConsumer({
    consumer,
    logger,
    documentFor: live.documentFor,
    progress: health.health,
    // Incidents and problems are what people search for: their writes do not queue behind alert bulk requests.
    ownLane: [config.OPSREVIEW_TOPIC_INCIDENTS, config.OPSREVIEW_TOPIC_PROBLEMS],
    pipeline: {
      ...live.pipeline,
      es,
      logger,
      flushBytes: config.OPSREVIEW_INDEXER_BULK_BYTES,
      concurrency: config.OPSREVIEW_INDEXER_BULK_CONCURRENCY,
      maxItemAttempts: config.OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS,
      unavailableRetryMs: config.OPSREVIEW_INDEXER_UNAVAILABLE_RETRY,
      minBackoffMs: config.OPSREVIEW_INDEXER_MIN_BACKOFF,
      maxBackoffMs: config.OPSREVIEW_INDEXER_MAX_BACKOFF,
      logIntervalMs: config.OPSREVIEW_INDEXER_RETRY_LOG_INTERVAL,
      guard: backPressure.guard,
      onRetry: (reason, code) => failures.inc({ reason, code }),
      deadLetter: async (letters) => {
        if (letters.length === 0) return
        const partition = partitionOfLetters(letters[0]!.key)
        await producer.send({ topic: config.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER, acks: -1, messages: letters.map((l) => ({ ...deadLetterMessage(l.key, l.envelope), partition })) })
        deadLettered.inc(letters.length)
        for (const l of letters) deadLetters.inc({ stage: 'indexer', reason: l.envelope.reason })
      },
      onIndexed: (count, ms) => { indexed.inc(count); bulkSeconds.observe(ms / 1000) },
      onBroken: (err) => {
        logger.fatal({ err }, 'indexing stopped for good: the bulk pipeline broke')
        fatal(err)
      },
    },
  })
  new Gauge({ name: 'opsreview_indexer_queued_bytes', help: 'Documents taken from Kafka and not yet sent to Elasticsearch', registers: [registry], collect() { this.set(indexing.queuedBytes) } })
  new Gauge({ name: 'opsreview_indexer_bulk_in_flight', help: 'Bulk requests in flight', registers: [registry], collect() { this.set(indexing.inFlight) } })
  new Gauge({
    name: 'opsreview_indexer_breaker_state', help: 'Elasticsearch breaker: 0 closed, 1 half-open, 2 open', registers: [registry],
    collect() { this.set({ closed: 0, 'half-open': 1, open: 2 }[backPressure.state]) },
  })

  const app = express()
  app.disable('x-powered-by')
  app.use(securityHeaders())
  app.get('/healthz', (_req, res) => { res.json({ status: 'ok' }) })
  // Ready: in the consumer group, Elasticsearch taking writes, and no partition stalled.
  app.get('/readyz', (_req, res) => {
    const readiness = indexerReadiness({ joined: indexing.joined, breaker: backPressure.state, health: health.snapshot(), failing: indexing.failing, waiting: indexing.waiting, now: Date.now() })
    res.status(readiness.ready ? 200 : 503).json(readiness)
  })
  app.get('/metrics', async (_req, res) => { res.type(registry.contentType).send(await registry.metrics()) })

  let closing: Promise<void> | undefined
  /** Once, however often it is called: SIGTERM may come while a fatal stop closes. */
  const close = (drainMs?: number): Promise<void> => (closing ??= (async () => {
    health.stop()
    // Before the drain: indexing.close pauses the consumer, and a breaker that recovers while it drains
    // would otherwise resume it and fetch new batches during shutdown.
    backPressure.stopResuming()
    await indexing.close(topics, drainMs)
    backPressure.shutdown()
    await producer.disconnect()
    await admin.disconnect()
  })())

  let stoppedFor: { err: unknown } | undefined
  /**
   * A stop for good: commit what is durable (a broken lane's finished requests too: only what it held is
   * uncertain, and that stays uncommitted) and leave the group, within `fatalCloseMs`, then `onFatal`. Until
   * 2026-12-06 the process exited at once: the records other requests had made durable since the last
   * commit (up to 200 ms of them, or the whole backlog behind a failing commit) were indexed again by the
   * next owner, which got the partitions only once the session timed out.
   */
  function fatal(err: unknown): void {
    if (stoppedFor) return
    stoppedFor = { err }
    const drainMs = Math.max(0, Math.floor(fatalCloseMs / 2))
    const closed = close(drainMs).then(
      () => undefined,
      (e: unknown) => { if (e !== err) logger.warn({ err: e }, 'fatal stop: committing or leaving the group failed') },
    )
    void settleWithin(closed, fatalCloseMs, () => new Error(`fatal stop: not closed within ${fatalCloseMs} ms`))
      .catch((e: unknown) => logger.warn({ err: e }, 'fatal stop: exiting without waiting for the rest'))
      .finally(() => onFatal?.(err))
  }

  return {
    app,
    registry,
    async start() {
      await ensureIndices(es, config.OPSREVIEW_ES_INDEX_PREFIX, config.OPSREVIEW_ES_REFRESH_INTERVAL)
      // The admin client stays connected: health fetches end and committed offsets with it.
      await admin.connect()
      await ensureTopics(admin, [
        alertTopicSpec(config.OPSREVIEW_TOPIC_ALERTS),
        documentTopicSpec(config.OPSREVIEW_TOPIC_INCIDENTS, 6),
        documentTopicSpec(config.OPSREVIEW_TOPIC_PROBLEMS, 3),
        deadLetterTopicSpec(config.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER),
      ], topicReplicationOf(config))
      letterPartitions = (await admin.fetchTopicMetadata({ topics: [config.OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER] })).topics[0]?.partitions ?? []
      await producer.connect()
      await consumer.connect()
      await consumer.subscribe({ topics, fromBeginning: true })
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart) return
        logger.fatal({ err: payload.error }, 'consumer stopped for good')
        fatal(payload.error)
      })
      await consumer.run({ ...IndexingConsumer.runOptions, eachBatch: indexing.handler })
      health.start()
      logger.info({ topics, group: config.OPSREVIEW_INDEXER_GROUP }, 'indexer consuming')
    },
    close: () => close(),
  }
}
