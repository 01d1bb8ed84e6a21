// The receiver on the real Kafka, for the *.int.test.ts: the real publisher and spool, closed when the
// test finishes. The in-process unit and fuzz tests use test-fakes.ts instead.
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { onTestFinished } from 'vitest'
import { Partitioners, type Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { defaultIngestOptions, type IngestOptions } from '@opsreview/ingest/event'
import { Spool } from '@opsreview/spool'
import { serve } from '@opsreview/testing'
import { createReceiverApp, publishSpooled } from './app.ts'
import { createReceiverMetrics } from './metrics.ts'
import { TEST_NOW } from './test-fakes.ts'

export async function receiverOnKafka(kafka: Kafka, topics: { alerts: string; rejected: string }, opts: { logger: Logger; tokens: readonly string[]; bodyLimit?: number; ingest?: IngestOptions }): Promise<{ url: string; spool: Spool }> {
  const { logger } = opts
  const publisher = new BatchPublisher({
    createProducer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }),
    logger,
  })
  await publisher.connect()
  const spool = await Spool.open(await mkdtemp(path.join(os.tmpdir(), 'spool-')), { logger })
  const metrics = createReceiverMetrics({ breakerState: () => publisher.breakerState, spool })
  spool.startDraining(publishSpooled(publisher, topics.alerts, metrics))
  onTestFinished(async () => { await spool.close(); await publisher.close() })
  const app = createReceiverApp({
    publisher, spool, logger, metrics, clock: () => TEST_NOW, topicsReady: () => true,
    tokens: opts.tokens, bodyLimit: opts.bodyLimit ?? 1024 * 1024, topics, ingest: opts.ingest ?? defaultIngestOptions,
  })
  return { url: await serve(app), spool }
}
