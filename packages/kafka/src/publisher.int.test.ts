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
  const publisher = new BatchPublisher({ createProducer: () => receiverProducer(kafka), createAdmin: () => kafka.admin(), logger, ...opts })
  await publisher.connect()
  onTestFinished(() => publisher.close())
  return publisher
}

/** A topic whose broker-side limit (per partition's record batch) is `maxMessageBytes`. */
async function smallTopic(kafka: Kafka, maxMessageBytes: number, numPartitions = 3): Promise<string> {
  const admin = kafka.admin()
  await admin.connect()
  const topic = uniqueName('small')
  await createReadyTopics(admin, [{ topic, numPartitions, configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }] }])
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
/** How many records each key has on the topic, and the partitions they are on: a set of keys would hide a copy. */
async function recordsOn(kafka: Kafka, topic: string): Promise<{ perKey: Map<string, number>; partitions: Set<number> }> {
  const perKey = new Map<string, number>()
  const partitions = new Set<number>()
  for (const m of await readTopicToEnd(kafka, topic)) {
    perKey.set(String(m.key), (perKey.get(String(m.key)) ?? 0) + 1)
    partitions.add(m.partition)
  }
  return { perKey, partitions }
}

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
    // Which of a caller's messages: the others are acknowledged, and must not be sent again.
    expect(((results[20] as PromiseRejectedResult).reason as KafkaRecordRejectedError).refusedIndexes).toEqual([1])
    expect(publisher.breakerState).toBe('closed')

    // The idempotent producer keeps working after the refusal (kafkajs would otherwise answer
    // OUT_OF_ORDER_SEQUENCE_NUMBER on the partitions whose records the broker took).
    const after = Array.from({ length: 10 }, (_, i) => [small(`after${i}`)])
    await Promise.all(after.map((messages) => publisher.publish(topic, messages)))

    const expected = new Set([...callers.filter((_, i) => i !== 7 && i !== 20).flat(), small('mixed-ok'), ...after.flat()].map((m) => String(m.key)))
    expect(await keysOn(kafka, topic)).toEqual(expected)
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

  it('writes every message of a batch the topic refuses in part once: the partitions that took theirs are not sent again', async () => {
    // The alerts topic's 6 partitions, a limit below the publisher's. In one produce request spread over
    // partitions, the broker appends what it takes for the others while it refuses the one partition holding
    // the large message; resent in halves, those messages were written a second time.
    const kafka = kafkaClient()
    const topic = await smallTopic(kafka, 4096, 6)
    const publisher = await publisherFor(kafka)
    const messages = Array.from({ length: 24 }, (_, i) => small(`spread${i}`))
    messages[13] = { key: 'spread-big', value: 'x'.repeat(10_000) }
    const [outcomes, ...others] = await Promise.all([
      publisher.publishEach(topic, messages),
      ...Array.from({ length: 6 }, (_, i) => publisher.publishEach(topic, [small(`beside${i}`)])),
    ])

    expect(outcomes!.flatMap((o, i) => (o === undefined ? [] : [i]))).toEqual([13])
    expect(outcomes![13]).toBeInstanceOf(KafkaRecordRejectedError)
    expect(outcomes![13]!.message).toContain('MESSAGE_TOO_LARGE')
    for (const o of others) expect(o).toEqual([undefined])
    const { perKey, partitions } = await recordsOn(kafka, topic)
    const expected = [...messages.filter((_, i) => i !== 13), ...Array.from({ length: 6 }, (_, i) => small(`beside${i}`))]
    expect(Object.fromEntries(perKey)).toEqual(Object.fromEntries(expected.map((m) => [String(m.key), 1])))
    expect(partitions.size).toBe(6)
    expect(publisher.breakerState).toBe('closed')
  })

  it('cuts a batch to the topic\'s max.message.bytes: many small messages over it in all land once, none refused', async () => {
    // A limit far below the publisher's own (1 MiB − 1 KiB): without it, each partition's part of the batch
    // (about 10 kB) was refused and resent in halves until its parts fit.
    const kafka = kafkaClient()
    const topic = await smallTopic(kafka, 4096, 3)
    const sends: boolean[] = []
    const publisher = await publisherFor(kafka, { onBatch: ({ ok }) => sends.push(ok) })
    const messages = Array.from({ length: 90 }, (_, i) => small(`many${i}`))
    const outcomes = await publisher.publishEach(topic, messages)

    expect(outcomes.every((o) => o === undefined)).toBe(true)
    expect(sends.length).toBeGreaterThan(1)
    expect(sends.every((ok) => ok)).toBe(true)
    const { perKey, partitions } = await recordsOn(kafka, topic)
    expect(Object.fromEntries(perKey)).toEqual(Object.fromEntries(messages.map((m) => [String(m.key), 1])))
    expect(partitions.size).toBe(3)
  })

  it('after the topic\'s limit was lowered under it, dead-letters only the refused message and sends that topic one partition per request', async () => {
    const kafka = kafkaClient()
    const topic = await smallTopic(kafka, 1048588, 6)
    const sends: { messages: number; ok: boolean }[] = []
    const publisher = await publisherFor(kafka, { onBatch: ({ messages, ok }) => sends.push({ messages, ok }) })
    await publisher.publishEach(topic, [small('first')])
    const admin = await connectedAdmin(kafka)
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic, configEntries: [{ name: 'max.message.bytes', value: '4096' }] }] })
    // The broker applies a topic's new config shortly after it answered.
    const probe = kafka.producer()
    await probe.connect()
    onTestFinished(() => probe.disconnect())
    await waitFor(() => probe.send({ topic, messages: [{ key: 'probe', value: 'p'.repeat(6000) }] }).then(() => undefined, (err: unknown) => (err as { type?: string }).type === 'MESSAGE_TOO_LARGE' || undefined), { what: 'the lowered limit' })

    sends.length = 0
    const messages = Array.from({ length: 24 }, (_, i) => small(`lowered${i}`))
    messages[13] = { key: 'lowered-big', value: 'x'.repeat(10_000) }
    const outcomes = await publisher.publishEach(topic, messages)
    expect(outcomes.flatMap((o, i) => (o === undefined ? [] : [i]))).toEqual([13])
    // The one request spread over partitions that the broker refused in part: what it took of the other
    // partitions is written again by their own requests (event ids dedupe it downstream).
    expect(sends[0]).toEqual({ messages: 24, ok: false })
    const { perKey } = await recordsOn(kafka, topic)
    for (const m of messages.filter((_, i) => i !== 13)) expect(perKey.get(String(m.key))).toBeGreaterThanOrEqual(1)
    expect(perKey.has('lowered-big')).toBe(false)

    // From then on one partition per request, which the broker takes or refuses whole: each once.
    sends.length = 0
    const after = Array.from({ length: 24 }, (_, i) => small(`after${i}`))
    after[7] = { key: 'after-big', value: 'y'.repeat(10_000) }
    const afterOutcomes = await publisher.publishEach(topic, after)
    expect(afterOutcomes.flatMap((o, i) => (o === undefined ? [] : [i]))).toEqual([7])
    const { perKey: again } = await recordsOn(kafka, topic)
    for (const m of after.filter((_, i) => i !== 7)) expect(again.get(String(m.key))).toBe(1)
    expect(sends.filter((s) => s.ok).length).toBeGreaterThan(1)
    expect(publisher.breakerState).toBe('closed')
  })

  it('answers publishEach with KafkaUnavailableError for every message when Kafka does not acknowledge', async () => {
    const kafka = kafkaClient()
    const topic = await plainTopic(kafka)
    // A producer that cannot reach any broker: bounded retries, then the send fails.
    const unreachable = kafkaClientFor(['127.0.0.1:1'])
    const publisher = new BatchPublisher({ createProducer: () => receiverProducer(unreachable), createAdmin: () => unreachable.admin(), logger, sendTimeoutMs: 3000 })
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

  // Known partitions, the send fails; a topic not sent to yet, the read of its partitions does, and nothing is sent.
  it.each([
    { failed: 'send', warm: true },
    { failed: 'read of the topic\'s partitions', warm: false },
  ])('turns ready again without any publish once Kafka is back after a failed $failed', async ({ warm }) => {
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
    if (warm) await publisher.publish(topic, [small('before')])

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
    expect(await keysOn(kafka, topic)).toEqual(new Set(warm ? ['before', 'after'] : ['after']))
  })
  it('keeping order, sends nothing after a timed-out send until it has ended: a decision its caller was told failed cannot land after a later one', { timeout: 90_000 }, async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    // Not created yet (the broker creates no topic by itself): the send is retried past its deadline and on.
    const topic = uniqueName('ordered')
    onTestFinished(async () => { await admin.deleteTopics({ topics: [topic] }).catch(() => undefined) })
    // The review's commands producer: idempotent, one request in flight, kafkajs retries bounded.
    const createProducer = () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { ...BOUNDED_SEND_RETRY } })
    // The publisher reads a topic's partitions before it sends to it, and would fail at once without sending;
    // told the partition the topic will have, it sends, and kafkajs goes on with the send.
    const createAdmin = () => ({ ...kafka.admin(), fetchTopicMetadata: async () => ({ topics: [{ name: topic, partitions: [{ partitionId: 0, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 }] }] }) })
    const publisher = await publisherFor(kafka, { createProducer, createAdmin, sendTimeoutMs: 1_500, keepOrder: true })
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
