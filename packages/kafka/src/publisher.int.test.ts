import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners, type Kafka, type Message } from 'kafkajs'
import pino from 'pino'
import { captureLogs, createTopics, kafkaClient, readTopicToEnd, uniqueName } from '@opsreview/testing'
import { KafkaRecordRejectedError } from './errors.ts'
import { BatchPublisher, type PublisherOptions } from './publisher.ts'

const logger = pino({ level: 'silent' })

/** The receiver's producer settings: idempotent, one request in flight, bounded retries. */
function receiverProducer(kafka: Kafka) {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
  })
}

async function publisherFor(kafka: Kafka, opts: Partial<PublisherOptions> = {}): Promise<BatchPublisher> {
  const publisher = new BatchPublisher({ createProducer: () => receiverProducer(kafka), logger, ...opts })
  await publisher.connect()
  onTestFinished(() => publisher.close())
  return publisher
}

/** A topic whose broker-side limit (per partition's record batch) is `maxMessageBytes`. */
async function smallTopic(kafka: Kafka, maxMessageBytes: number): Promise<string> {
  const admin = kafka.admin()
  await admin.connect()
  const topic = uniqueName('small')
  await admin.createTopics({
    topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }] }],
    waitForLeaders: true,
  })
  onTestFinished(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.disconnect()
  })
  return topic
}

async function plainTopic(kafka: Kafka): Promise<string> {
  const admin = kafka.admin()
  await admin.connect()
  onTestFinished(() => admin.disconnect())
  const topic = uniqueName('plain')
  await createTopics(admin, [topic])
  return topic
}

const small = (key: string): Message => ({ key, value: `${key}:${'s'.repeat(200)}` })
const keysOn = async (kafka: Kafka, topic: string) => new Set((await readTopicToEnd(kafka, topic)).map((m) => m.key))

describe('BatchPublisher on the real Kafka', () => {
  it('fails only the caller whose message the topic refuses; the others are on the topic and the breaker stays closed', async () => {
    const kafka = kafkaClient()
    const topic = await smallTopic(kafka, 4096)
    const publisher = await publisherFor(kafka)

    const big: Message = { key: 'big', value: 'x'.repeat(10_000) }
    const callers: Message[][] = Array.from({ length: 30 }, (_, i) => [small(`k${i}`)])
    callers[7] = [big]
    // A caller with a fitting and a refused message: the fitting one is still sent.
    callers[20] = [small('mixed-ok'), { key: 'mixed-big', value: 'y'.repeat(10_000) }]
    const results = await Promise.allSettled(callers.map((messages) => publisher.publish(topic, messages)))

    const refused = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []))
    expect(refused).toEqual([7, 20])
    for (const i of refused) {
      const reason = (results[i] as PromiseRejectedResult).reason as Error
      expect(reason).toBeInstanceOf(KafkaRecordRejectedError)
      expect(reason.message).toContain('MESSAGE_TOO_LARGE')
    }
    expect(publisher.breakerState).toBe('closed')

    // The idempotent producer keeps working after the refusal (kafkajs would otherwise answer
    // OUT_OF_ORDER_SEQUENCE_NUMBER on the partitions whose records the broker took).
    const after = Array.from({ length: 10 }, (_, i) => [small(`after${i}`)])
    await Promise.all(after.map((messages) => publisher.publish(topic, messages)))

    const expected = new Set([...callers.filter((_, i) => i !== 7 && i !== 20).flat(), small('mixed-ok'), ...after.flat()].map((m) => String(m.key)))
    expect(await keysOn(kafka, topic)).toEqual(expected)
    expect(publisher.breakerState).toBe('closed')
  })

  it('keeps the breaker closed through repeated refusals', async () => {
    const kafka = kafkaClient()
    const topic = await smallTopic(kafka, 4096)
    const publisher = await publisherFor(kafka)
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([
        publisher.publish(topic, [small(`r${round}a`)]),
        publisher.publish(topic, [{ key: `r${round}big`, value: 'x'.repeat(8000) }]),
        publisher.publish(topic, [small(`r${round}b`)]),
      ])
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
      expect(publisher.breakerState).toBe('closed')
    }
    expect(publisher.ready).toBe(true)
  })

  it('refuses a message over maxMessageBytes before sending it, and sends the rest of the batch', async () => {
    const kafka = kafkaClient()
    const topic = await plainTopic(kafka)
    const { logger: captured, lines } = captureLogs()
    const refusedSizes: number[] = []
    const publisher = await publisherFor(kafka, { logger: captured, maxMessageBytes: 2000, onRefused: ({ bytes }) => refusedSizes.push(bytes) })

    // 5 kB: the broker would take it, so only the publisher's own limit can keep it off the topic.
    const results = await Promise.allSettled([
      publisher.publish(topic, [small('a')]),
      publisher.publish(topic, [{ key: 'over', value: 'o'.repeat(5000) }]),
      publisher.publish(topic, [small('b'), small('c')]),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    const reason = (results[1] as PromiseRejectedResult).reason as Error
    expect(reason).toBeInstanceOf(KafkaRecordRejectedError)
    expect(reason.message).toContain('2000-byte limit')
    expect(refusedSizes).toHaveLength(1)
    expect(refusedSizes[0]).toBeGreaterThan(5000)
    expect(lines.some((l) => l.msg === 'message over the size limit refused before sending' && l.topic === topic)).toBe(true)
    expect(await keysOn(kafka, topic)).toEqual(new Set(['a', 'b', 'c']))
  })

  it('refuses a 2 MiB message up front with the default limit', async () => {
    const kafka = kafkaClient()
    const topic = await plainTopic(kafka)
    const publisher = await publisherFor(kafka)
    await expect(publisher.publish(topic, [{ key: 'huge', value: 'h'.repeat(2 * 1024 * 1024) }])).rejects.toBeInstanceOf(KafkaRecordRejectedError)
    await publisher.publish(topic, [small('fine')])
    expect(await keysOn(kafka, topic)).toEqual(new Set(['fine']))
  })

  it('sends more than 1 MiB of small messages that share a key (one partition) without the broker refusing the batch', async () => {
    const kafka = kafkaClient()
    const topic = await plainTopic(kafka)
    const { logger: captured, lines } = captureLogs()
    const publisher = await publisherFor(kafka, { logger: captured })
    const value = 'v'.repeat(1000)
    const results = await Promise.allSettled(Array.from({ length: 1500 }, (_, i) => publisher.publish(topic, [{ key: 'same', value: `${i}:${value}` }])))
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    expect(lines.filter((l) => l.msg === 'kafka refused a batch: resending it in halves to find the refused messages')).toEqual([])
    const onTopic = await readTopicToEnd(kafka, topic)
    expect(new Set(onTopic.map((m) => m.value.split(':')[0])).size).toBe(1500)
  })
})
