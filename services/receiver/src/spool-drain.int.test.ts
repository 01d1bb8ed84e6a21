// The spool's drain through the real publisher, on the real Kafka: what the publisher reports as
// acknowledged beside a refused record must not be published again.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import pino from 'pino'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { Spool, type SpoolDeadLetterReason, type SpoolRecord } from '@opsreview/spool'
import { connectedAdmin, createReadyTopics, kafkaClient, readTopicToEnd, uniqueName } from '@opsreview/testing'
import { publishSpooled } from './app.ts'
import { createReceiverMetrics } from './metrics.ts'

const logger = pino({ level: 'silent' })

describe('the spool drained into the real Kafka', () => {
  it('publishes each record of a drained batch once when Kafka refuses one of them, and dead-letters that one alone', async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    const topic = uniqueName('alerts')
    await createReadyTopics(admin, [{ topic, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: '4096' }] }])
    onTestFinished(() => admin.deleteTopics({ topics: [topic] }).catch(() => undefined))
    const publisher = new BatchPublisher({ createProducer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }), logger })
    await publisher.connect()
    const dir = await mkdtemp(path.join(os.tmpdir(), 'spool-drain-'))
    const spool = await Spool.open(dir, { logger })
    onTestFinished(async () => { await spool.close(); await publisher.close(); await rm(dir, { recursive: true, force: true }) })

    const records: SpoolRecord[] = Array.from({ length: 20 }, (_, i) => ({ topic, key: `pingdom:k${i}`, value: `{"n":${i}}` }))
    records[5] = { topic, key: 'pingdom:big', value: 'x'.repeat(10_000) }
    await spool.append(records)
    const letters: { record: SpoolRecord | undefined; reason: SpoolDeadLetterReason }[] = []
    const metrics = createReceiverMetrics({ breakerState: () => publisher.breakerState, spool })
    spool.startDraining(publishSpooled(publisher, topic, metrics), { deadLetter: async (record, reason) => { letters.push({ record, reason }) } })
    expect(await spool.drained(30_000)).toBe(true)

    const copies = new Map<string, number>()
    for (const m of await readTopicToEnd(kafka, topic)) copies.set(String(m.key), (copies.get(String(m.key)) ?? 0) + 1)
    expect(copies).toEqual(new Map(records.filter((_, i) => i !== 5).map((r) => [r.key, 1])))
    expect(letters).toEqual([{ record: records[5], reason: expect.objectContaining({ code: 'record-rejected', error: expect.stringContaining('MESSAGE_TOO_LARGE') }) }])
    // Counted once each, as Kafka took them.
    expect((await metrics.registry.getSingleMetric('opsreview_receiver_events_published_total')!.get()).values.map((v) => v.value)).toEqual([19])
  })
})
