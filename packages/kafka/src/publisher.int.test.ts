import net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Kafka, logLevel, Partitioners, type ISocketFactory, type Message } from 'kafkajs'
import pino from 'pino'
import { captureLogs, connectedAdmin, createReadyTopics, createTopics, kafkaBrokers, kafkaClient, readTopicToEnd, uniqueName, waitFor } from '@opsreview/testing'
import { BOUNDED_SEND_RETRY } from './connection.ts'
import { KafkaRecordRejectedError, KafkaUnavailableError } from './errors.ts'
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
  await createReadyTopics(admin, [{ topic, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }] }])
  onTestFinished(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.disconnect()
  })
  return topic
}

async function plainTopic(kafka: Kafka): Promise<string> {
  const admin = await connectedAdmin(kafka)
  const topic = uniqueName('plain')
  await createTopics(admin, [topic])
  return topic
}

function kafkaClientFor(brokers: string[]): Kafka {
  return new Kafka({ clientId: uniqueName('unreachable'), brokers, logLevel: logLevel.NOTHING, connectionTimeout: 300, retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 } })
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

  it('writes every acknowledged message once when the broker refuses one partition of a request: what it took on the others is not sent again', async () => {
    const kafka = kafkaClient()
    const topic = await smallTopic(kafka, 4096)
    const publisher = await publisherFor(kafka)

    // Thirty callers in one request over three partitions; the broker refuses the partition of the big one.
    const callers: Message[][] = Array.from({ length: 30 }, (_, i) => [small(`k${i}`)])
    callers[7] = [{ key: 'big', value: 'x'.repeat(10_000) }]
    const results = await Promise.allSettled(callers.map((messages) => publisher.publish(topic, messages)))
    expect(results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []))).toEqual([7])

    const copies = new Map<string, number>()
    for (const m of await readTopicToEnd(kafka, topic)) copies.set(String(m.key), (copies.get(String(m.key)) ?? 0) + 1)
    expect(copies).toEqual(new Map(callers.filter((_, i) => i !== 7).map(([m]) => [String(m!.key), 1])))
  })

  it('sends again to the partitions whose messages Kafka took beside a refused one: the refused message alone in its partition', async () => {
    const kafka = kafkaClient()
    const topic = await smallTopic(kafka, 4096)
    const publisher = await publisherFor(kafka)
    // kafkajs's default partitioner over the topic's three partitions: the big message's partition gets nothing else.
    const partitionOf = Partitioners.DefaultPartitioner()
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }))
    const big: Message = { key: 'big', value: 'x'.repeat(10_000) }
    const others = Array.from({ length: 12 }, (_, i) => small(`k${i}`)).filter((m) => partitionOf({ topic, partitionMetadata, message: m }) !== partitionOf({ topic, partitionMetadata, message: big }))
    expect(others.length).toBeGreaterThan(1)

    const results = await Promise.allSettled([big, ...others].map((m) => publisher.publish(topic, [m])))
    expect(results.map((r) => r.status)).toEqual(['rejected', ...others.map(() => 'fulfilled')])
    // Kafka rolled back the sequence numbers of the partitions it took: the same producer id would now be refused as out of order.
    const again = others.map((m) => ({ ...m, key: `${String(m.key)}-again` }))
    expect((await Promise.allSettled(again.map((m) => publisher.publish(topic, [m])))).map((r) => r.status)).toEqual(again.map(() => 'fulfilled'))
    expect(publisher.breakerState).toBe('closed')
  })

  it('answers publishEach per message: the refused ones by name, the rest acknowledged and on the topic', async () => {
    const kafka = kafkaClient()
    const topic = await smallTopic(kafka, 4096)
    const publisher = await publisherFor(kafka, { maxMessageBytes: 20_000 })

    // One caller's messages: two the broker refuses, one the publisher refuses before sending.
    const messages = Array.from({ length: 12 }, (_, i) => small(`each${i}`))
    messages[3] = { key: 'each-big-3', value: 'x'.repeat(10_000) }
    messages[9] = { key: 'each-big-9', value: 'y'.repeat(10_000) }
    messages[11] = { key: 'each-over-11', value: 'z'.repeat(30_000) }
    // Other callers in the same batches are unaffected.
    const [outcomes, ...others] = await Promise.all([
      publisher.publishEach(topic, messages),
      ...Array.from({ length: 5 }, (_, i) => publisher.publishEach(topic, [small(`other${i}`)])),
    ])

    expect(outcomes!.map((o, i) => (o === undefined ? -1 : i)).filter((i) => i >= 0)).toEqual([3, 9, 11])
    for (const i of [3, 9, 11]) expect(outcomes![i]).toBeInstanceOf(KafkaRecordRejectedError)
    expect(outcomes![3]!.message).toContain('MESSAGE_TOO_LARGE')
    expect(outcomes![11]!.message).toContain('20000-byte limit')
    for (const o of others) expect(o).toEqual([undefined])
    const expected = [...messages.filter((_, i) => ![3, 9, 11].includes(i)), ...Array.from({ length: 5 }, (_, i) => small(`other${i}`))]
    expect(await keysOn(kafka, topic)).toEqual(new Set(expected.map((m) => String(m.key))))
    expect(publisher.breakerState).toBe('closed')
  })

  it('answers publishEach with KafkaUnavailableError for every message when Kafka does not acknowledge', async () => {
    const kafka = kafkaClient()
    const topic = await plainTopic(kafka)
    // A producer that cannot reach any broker: bounded retries, then the send fails.
    const unreachable = kafkaClientFor(['127.0.0.1:1'])
    const publisher = new BatchPublisher({ createProducer: () => receiverProducer(unreachable), logger, sendTimeoutMs: 3000 })
    onTestFinished(() => publisher.close().catch(() => undefined))

    const outcomes = await publisher.publishEach(topic, [small('u1'), small('u2'), small('u3')])
    expect(outcomes).toHaveLength(3)
    for (const o of outcomes) expect(o).toBeInstanceOf(KafkaUnavailableError)
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

  it('turns ready again without any publish once Kafka is back after a failed send', async () => {
    const kafka = kafkaClient()
    const topic = await plainTopic(kafka)
    // The shared broker cannot be stopped: while "down", this client's new connections go to a closed port
    // and its open ones are cut, which kafkajs sees as the broker gone.
    let down = false
    const sockets = new Set<net.Socket>()
    const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
      const socket = net.connect(down ? { host: '127.0.0.1', port: 1 } : { host, port }, onConnect)
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      return socket
    }
    const flaky = new Kafka({ clientId: uniqueName('flaky'), brokers: kafkaBrokers, logLevel: logLevel.NOTHING, socketFactory, connectionTimeout: 300, retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 } })
    const publisher = await publisherFor(flaky, { sendTimeoutMs: 3000 })
    expect(publisher.ready).toBe(true)

    down = true
    for (const socket of sockets) socket.destroy()
    expect(await publisher.publishEach(topic, [small('lost')])).toEqual([expect.any(KafkaUnavailableError)])
    expect(publisher.breakerState).toBe('closed')
    expect(publisher.ready).toBe(false)
    // Long enough for the replacement's first connects to fail.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(publisher.ready).toBe(false)

    down = false
    // Behind a readiness probe nothing publishes until it is ready: it must come back by itself.
    await expect.poll(() => publisher.ready, { timeout: 15_000, interval: 100 }).toBe(true)
    await publisher.publish(topic, [small('after')])
    expect(await keysOn(kafka, topic)).toEqual(new Set(['after']))
  })
  it('keeping order, sends nothing after a timed-out send until it has ended: a decision its caller was told failed cannot land after a later one', { timeout: 90_000 }, async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    // Not created yet (the broker creates no topic by itself): the send is retried past its deadline and on.
    const topic = uniqueName('ordered')
    onTestFinished(async () => { await admin.deleteTopics({ topics: [topic] }).catch(() => undefined) })
    // The review's commands producer: idempotent, one request in flight, kafkajs retries bounded.
    const createProducer = () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { ...BOUNDED_SEND_RETRY } })
    const publisher = await publisherFor(kafka, { createProducer, sendTimeoutMs: 1_500, keepOrder: true })
    const decide = (owner: string) => publisher.publish(topic, [{ key: 'incident-1', value: `owner ${owner}` }])

    await expect(decide('alice')).rejects.toBeInstanceOf(KafkaUnavailableError)
    await createReadyTopics(admin, [{ topic, numPartitions: 1 }])
    // As a person does after a 503: decides again (here, otherwise) until it goes.
    await waitFor(() => decide('bob').then(() => true, () => undefined), { timeoutMs: 60_000, intervalMs: 200, what: 'the second decision to be sent' })

    // The timed-out send goes on inside kafkajs and lands once the topic is there: before the later decision,
    // or the correlator would apply the one its caller was told had failed last.
    await waitFor(async () => ((await readTopicToEnd(kafka, topic)).length >= 2 ? true : undefined), { timeoutMs: 30_000, what: 'both decisions on the topic' })
    expect((await readTopicToEnd(kafka, topic)).map((m) => m.value)).toEqual(['owner alice', 'owner bob'])
  })
})
