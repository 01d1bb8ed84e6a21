import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import pino from 'pino'
import { connectedAdmin, createReadyTopics, kafkaClient, readTopicToEnd, uniqueName, waitFor } from '@opsreview/testing'
import { BOUNDED_SEND_RETRY } from './connection.ts'
import { KafkaUnavailableError } from './errors.ts'
import { SerialProducer } from './serial-producer.ts'

describe('SerialProducer on the real Kafka', () => {
  it('lands a send that timed out while its topic was gone before the sends after it, once the topic is back', { timeout: 90_000 }, async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    // Not created yet (the broker creates no topic by itself): the send is retried until its caller's deadline and on.
    const topic = uniqueName('serial')
    onTestFinished(async () => { await admin.deleteTopics({ topics: [topic] }).catch(() => undefined) })
    // The correlator's producer settings: idempotent, one request in flight, kafkajs retries bounded (some 13 s).
    const create = () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { ...BOUNDED_SEND_RETRY } })
    const producer = new SerialProducer(create, pino({ level: 'silent' }), 'outputs', { sendTimeoutMs: 1_500 })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const send = (value: string) => producer.send({ topic, acks: -1, messages: [{ key: 'incident-1', value }] })

    await expect(send('version 1')).rejects.toBeInstanceOf(KafkaUnavailableError)
    await createReadyTopics(admin, [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }])
    // As the correlator does: the next version is sent again until it goes, each time with its own deadline.
    await waitFor(() => send('version 2').then(() => true, () => undefined), { timeoutMs: 60_000, intervalMs: 200, what: 'version 2 to be sent' })

    // The timed-out send goes on inside kafkajs and lands once the topic is back: before version 2, or a
    // compacted topic would keep version 1 as the incident's latest record.
    await waitFor(async () => ((await readTopicToEnd(kafka, topic)).length >= 2 ? true : undefined), { timeoutMs: 30_000, what: 'both versions on the topic' })
    expect((await readTopicToEnd(kafka, topic)).map((m) => m.value)).toEqual(['version 1', 'version 2'])
  })
})
