import { createHash } from 'node:crypto'
import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners, type Kafka } from 'kafkajs'
import type { AlertEvent } from '@opsreview/correlation/types'
import { MAX_DEAD_LETTER_ERRORS, type DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import { captureLogs, connectedAdmin, createReadyTopics, createTopics, kafkaClient, readTopicUntil, uniqueName, waitFor } from '@opsreview/testing'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { DEAD_LETTER_MAX_MESSAGE_BYTES } from '@opsreview/kafka/topics'
import { createRekeyHandler, rekeyPublisherLimits, rekeyRunOptions } from './rekey.ts'
import { retryingBatches } from './retrying.ts'

function alertEvent(fp: string, env: string, description?: string): AlertEvent {
  const time = '2026-11-30T00:00:00.000Z'
  return {
    id: createHash('sha256').update(`alertmanager|${fp}|firing|${time}`).digest('hex').slice(0, 32),
    source: 'alertmanager', fingerprint: fp, status: 'firing', severity: 'warning', service: 'checkout', environment: env,
    title: 'HighLatency on checkout', labels: { alertname: 'HighLatency', service: 'checkout' },
    startsAt: time, receivedAt: time, links: [], origin: {}, ...(description ? { description } : {}),
  }
}

type TopicConfig = { name: string; value: string }[]

/** The rekeyer's topics; the dead-letter topic takes what the correlator's does (8 MiB records). */
async function setup({ inputConfig = [], alertsConfig = [], sourcePartitions = 1 }: { inputConfig?: TopicConfig; alertsConfig?: TopicConfig; sourcePartitions?: number } = {}) {
  const kafka = kafkaClient()
  const run = uniqueName('rekey')
  const t = { alerts: `${run}-alerts`, commands: `${run}-commands`, input: `${run}-input`, deadLetter: `${run}-dlq` }
  const admin = await connectedAdmin(kafka)
  await createTopics(admin, [t.commands], sourcePartitions)
  await createReadyTopics(admin, [
    { topic: t.alerts, numPartitions: sourcePartitions, configEntries: alertsConfig },
    { topic: t.input, numPartitions: 2, configEntries: inputConfig },
    { topic: t.deadLetter, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(DEAD_LETTER_MAX_MESSAGE_BYTES) }] },
  ])
  onTestFinished(async () => { await admin.deleteTopics({ topics: [t.alerts, t.input, t.deadLetter] }).catch(() => undefined) })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  onTestFinished(() => producer.disconnect())
  return { kafka, run, t, producer }
}

async function startRekeyer(kafka: Kafka, t: { alerts: string; commands: string; input: string; deadLetter: string }, groupId: string) {
  const { logger, lines } = captureLogs()
  const produceRequests: number[] = []
  const publisher = new BatchPublisher({
    createProducer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }), logger, ...rekeyPublisherLimits,
    onBatch: ({ messages }) => produceRequests.push(messages),
  })
  await publisher.connect()
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  onTestFinished(async () => { await consumer.disconnect(); await publisher.close() })
  const deadLetters: string[] = []
  const clamped: number[] = []
  const durable = new Map<string, string>()
  await consumer.subscribe({ topics: [t.alerts, t.commands], fromBeginning: true })
  await consumer.run({
    ...rekeyRunOptions,
    eachBatch: retryingBatches(createRekeyHandler({
      publisher, inputTopic: t.input, commandsTopic: t.commands, deadLetterTopic: t.deadLetter, logger, now: () => Date.now(),
      receiptToleranceMs: 60_000, onReceiptsClamped: (n) => clamped.push(n),
      onDeadLetter: (reason) => deadLetters.push(reason),
      onDurable: (topic, partition, next) => durable.set(`${topic}/${partition}`, next),
    }), { logger }),
  })
  return { lines, deadLetters, clamped, durable, produceRequests }
}

const envelopes = async (kafka: Kafka, topic: string, count: number) =>
  (await readTopicUntil(kafka, topic, (m) => m.length >= count)).map((m) => ({ key: m.key, envelope: JSON.parse(m.value) as DeadLetterEnvelope }))

describe('rekeyer on the real Kafka', () => {
  it('moves valid events and commands onto the input topic and dead-letters the rest as envelopes', async () => {
    const { kafka, run, t, producer } = await setup()
    const command = { id: 'cmd-assign-1', type: 'incident.assign', target: 'inc-0123456789abcdef01234567', environment: 'staging', actor: 'alice', at: '2026-11-30T00:05:00.000Z', owner: 'bob' }
    await producer.send({ topic: t.alerts, acks: -1, messages: [
      { key: 'a', value: JSON.stringify(alertEvent('a', 'production')) },
      { key: 'b', value: '{"source":"alertmanager"' },
      { key: 'c', value: JSON.stringify({ ...alertEvent('c', 'production'), status: 'sideways' }) },
    ] })
    await producer.send({ topic: t.commands, acks: -1, messages: [
      { key: 'staging', value: JSON.stringify(command) },
      { key: 'staging', value: JSON.stringify({ ...command, id: 'cmd-explode-2', type: 'incident.explode' }) },
    ] })
    const { deadLetters, durable } = await startRekeyer(kafka, t, `${run}-group`)

    const inputs = await readTopicUntil(kafka, t.input, (m) => m.length >= 2)
    expect(inputs.map((m) => [m.key, (JSON.parse(m.value) as { type: string }).type]).sort()).toEqual([['production', 'alert'], ['staging', 'command']])
    const letters = await envelopes(kafka, t.deadLetter, 3)
    expect(letters.map((l) => [l.envelope.origin?.topic, l.envelope.reason]).sort()).toEqual([
      [t.alerts, 'schema-invalid'], [t.alerts, 'undecodable'], [t.commands, 'schema-invalid'],
    ].sort())
    for (const { key, envelope } of letters) {
      expect(envelope.stage).toBe('correlator')
      expect(key).toBe(`${envelope.origin!.topic}/${envelope.origin!.partition}/${envelope.origin!.offset}`)
      expect(envelope.replay).toMatchObject({ kind: 'record', topic: envelope.origin!.topic })
    }
    const undecodable = letters.find((l) => l.envelope.reason === 'undecodable')!.envelope
    expect(undecodable.replay).toEqual({ kind: 'record', topic: t.alerts, key: 'b', value: '{"source":"alertmanager"' })
    const invalidAlert = letters.find((l) => l.envelope.reason === 'schema-invalid' && l.envelope.origin?.topic === t.alerts)!.envelope
    expect(JSON.stringify(invalidAlert.detail)).toContain('status')
    await waitFor(() => (durable.get(`${t.alerts}/0`) === '3' && durable.get(`${t.commands}/0`) === '2' ? true : undefined), { what: 'both sources durable to their ends' })
    expect(deadLetters.sort()).toEqual(['schema-invalid', 'schema-invalid', 'undecodable'])
  })

  it("clamps a receipt later than its clock or its record's timestamp plus the tolerance, so that one wrong clock cannot move a partition's watermark years ahead", async () => {
    const { kafka, run, t, producer } = await setup()
    // A receiver whose clock ran ahead stamped the first; the second came from a sound one.
    const ahead = { ...alertEvent('ahead', 'production'), startsAt: '9999-12-31T00:00:00.000Z', receivedAt: '9999-12-31T00:00:00.000Z' }
    const sound = alertEvent('sound', 'production')
    // Another producer's record, published on 30 November, says it was received a day later.
    const foreign = { ...alertEvent('foreign', 'production'), receivedAt: '2026-12-01T00:00:00.000Z' }
    const before = Date.now()
    await producer.send({ topic: t.alerts, acks: -1, messages: [
      { key: 'ahead', value: JSON.stringify(ahead) }, { key: 'sound', value: JSON.stringify(sound) },
      { key: 'foreign', value: JSON.stringify(foreign), timestamp: String(Date.parse('2026-11-30T00:00:00.000Z')) },
    ] })
    const { lines, clamped, deadLetters } = await startRekeyer(kafka, t, `${run}-group`)
    const inputs = (await readTopicUntil(kafka, t.input, (m) => m.length >= 3)).map((m) => (JSON.parse(m.value) as { event: AlertEvent }).event)
    const got = new Map(inputs.map((e) => [e.fingerprint, e]))
    const receipt = Date.parse(got.get('ahead')!.receivedAt)
    expect(receipt).toBeGreaterThanOrEqual(before + 60_000)
    expect(receipt).toBeLessThanOrEqual(Date.now() + 60_000)
    // Only the receipt: the sender's time stays as sent, for the engine to clamp to the receipt.
    expect(got.get('ahead')).toEqual({ ...ahead, receivedAt: got.get('ahead')!.receivedAt })
    expect(got.get('sound')).toEqual(sound)
    expect(got.get('foreign')!.receivedAt).toBe('2026-11-30T00:01:00.000Z')
    expect([clamped, deadLetters]).toEqual([[2], []])
    expect(lines.filter((l) => l.msg === "events received after this instance's clock or their record's timestamp: receipts clamped to it")).toMatchObject([{ count: 2, topic: t.alerts, partition: 0 }])
  })

  it('clamps the receipt of a record without a timestamp (-1, as older clients write) to its clock alone, not to 1970', async () => {
    const { kafka, run, t, producer } = await setup()
    const untimed = alertEvent('untimed', 'production')
    await producer.send({ topic: t.alerts, acks: -1, messages: [{ key: 'untimed', value: JSON.stringify(untimed), timestamp: '-1' }] })
    const { clamped, deadLetters } = await startRekeyer(kafka, t, `${run}-group`)
    const [input] = (await readTopicUntil(kafka, t.input, (m) => m.length >= 1)).map((m) => (JSON.parse(m.value) as { event: AlertEvent }).event)
    expect(input).toEqual(untimed)
    expect([clamped, deadLetters]).toEqual([[], []])
  })

  it('dead-letters a record of bytes another producer wrote with its bytes and headers, the parts that are not text in base64', async () => {
    const { kafka, run, t, producer } = await setup()
    // An Avro-framed value (magic byte, schema id, then binary), a header of raw bytes.
    const value = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x2a, 0xff, 0xfe, 0x80, 0x01])
    const trace = Buffer.from([0xc3, 0x28, 0x41])
    // A header without a value, as Java's clients write one (kafkajs reads it as null): dead-lettering it threw, and the stage stopped.
    const headers = { 'content-type': 'avro/binary', trace, empty: null as unknown as string }
    await producer.send({ topic: t.alerts, acks: -1, messages: [{ key: 'checkout', value, headers }] })
    await startRekeyer(kafka, t, `${run}-group`)
    const [letter] = await envelopes(kafka, t.deadLetter, 1)
    expect(letter!.envelope).toMatchObject({ reason: 'undecodable', origin: { topic: t.alerts, offset: '0' } })
    // Only the parts that are not UTF-8 are base64, each named in `base64`.
    expect(letter!.envelope.replay).toEqual({
      kind: 'record', topic: t.alerts, key: 'checkout', value: value.toString('base64'),
      headers: { 'content-type': ['avro/binary'], trace: [trace.toString('base64')], empty: [null] },
      base64: { value: true, headers: { trace: [0] } },
    })
  })

  it('dead-letters a record the input topic refuses, and moves the others on', async () => {
    // An input topic that takes small records only: the broker itself refuses the large one.
    const { kafka, run, t, producer } = await setup({ inputConfig: [{ name: 'max.message.bytes', value: '4096' }] })
    const large = JSON.stringify(alertEvent('large', 'production', 'x'.repeat(8000)))
    await producer.send({ topic: t.alerts, acks: -1, messages: [
      { key: 'small-1', value: JSON.stringify(alertEvent('small-1', 'production')) },
      { key: 'large', value: large },
      { key: 'small-2', value: JSON.stringify(alertEvent('small-2', 'staging')) },
    ] })
    const { lines } = await startRekeyer(kafka, t, `${run}-group`)

    const inputs = await readTopicUntil(kafka, t.input, (m) => m.length >= 2)
    expect(inputs.map((m) => (JSON.parse(m.value) as { event: AlertEvent }).event.fingerprint).sort()).toEqual(['small-1', 'small-2'])
    const [letter] = await envelopes(kafka, t.deadLetter, 1)
    expect(letter!.envelope).toMatchObject({ stage: 'correlator', reason: 'record-rejected', origin: { topic: t.alerts, offset: '1' }, replay: { kind: 'record', key: 'large', value: large } })
    expect(lines.filter((l) => l.msg === 'non-retriable failure: the consumer stops')).toEqual([])
  })

  it('forwards the batches of several source partitions at once, in shared produce requests', async () => {
    const { kafka, run, t, producer } = await setup({ sourcePartitions: 4 })
    for (let partition = 0; partition < 4; partition++) {
      await producer.send({ topic: t.alerts, acks: -1, messages: [{ partition, key: `p${partition}`, value: JSON.stringify(alertEvent(`p${partition}`, 'production')) }] })
    }
    const { durable, produceRequests } = await startRekeyer(kafka, t, `${run}-group`)

    const inputs = await readTopicUntil(kafka, t.input, (m) => m.length >= 4)
    expect(inputs.map((m) => (JSON.parse(m.value) as { event: AlertEvent }).event.fingerprint).sort()).toEqual(['p0', 'p1', 'p2', 'p3'])
    await waitFor(() => ([0, 1, 2, 3].every((p) => durable.get(`${t.alerts}/${p}`) === '1') ? true : undefined), { what: 'every source partition durable' })
    // One fetch brought all four; handled one after another they would take four requests.
    expect(produceRequests.reduce((a, b) => a + b, 0)).toBe(4)
    expect(produceRequests.length).toBeLessThan(4)
  })

  it('dead-letters a poison record larger than the broker default whole, as its topic takes it', async () => {
    // A record the alerts topic took (its limit raised) whose dead letter, the record and an envelope, is
    // over 1 MiB: the dead-letter topic takes 8 MiB, so the rekeyer must not refuse it itself.
    const { kafka, run, t, producer } = await setup({ alertsConfig: [{ name: 'max.message.bytes', value: String(2 * 1024 * 1024) }] })
    const huge = `not json ${'x'.repeat(1536 * 1024)}`
    await producer.send({ topic: t.alerts, acks: -1, messages: [{ key: 'huge', value: huge }, { key: 'after', value: JSON.stringify(alertEvent('after', 'production')) }] })
    const { lines, durable } = await startRekeyer(kafka, t, `${run}-group`)

    const [letter] = await envelopes(kafka, t.deadLetter, 1)
    expect(letter!.envelope).toMatchObject({ reason: 'undecodable', replay: { kind: 'record', key: 'huge', value: huge } })
    const inputs = await readTopicUntil(kafka, t.input, (m) => m.length >= 1)
    expect((JSON.parse(inputs[0]!.value) as { event: AlertEvent }).event.fingerprint).toBe('after')
    await waitFor(() => (durable.get(`${t.alerts}/0`) === '2' ? true : undefined), { what: 'the source durable past both records' })
    expect(lines.filter((l) => l.msg === 'non-retriable failure: the consumer stops')).toEqual([])
  })

  it('dead-letters a record of 200,000 unknown fields with the first of its field errors, and moves on', async () => {
    // Every unknown field is a field error (the validator lists them all): listed whole, the dead letter of
    // this 2 MiB record was ~15 MB, over what the dead-letter topic takes, and the rekeyer stopped on it.
    const { kafka, run, t, producer } = await setup({ alertsConfig: [{ name: 'max.message.bytes', value: String(3 * 1024 * 1024) }] })
    const fields = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i.toString(36)}`, 0]))
    const record = JSON.stringify({ ...alertEvent('wide', 'production'), ...fields })
    await producer.send({ topic: t.alerts, acks: -1, messages: [{ key: 'wide', value: record }, { key: 'after', value: JSON.stringify(alertEvent('after', 'production')) }] })
    const { lines, durable } = await startRekeyer(kafka, t, `${run}-group`)

    const [letter] = await envelopes(kafka, t.deadLetter, 1)
    expect(letter!.envelope).toMatchObject({ reason: 'schema-invalid', replay: { kind: 'record', key: 'wide', value: record } })
    expect(letter!.envelope.detail).toMatchObject({ errorsOmitted: 200_000 - MAX_DEAD_LETTER_ERRORS })
    expect((letter!.envelope.detail!.errors as unknown[]).length).toBe(MAX_DEAD_LETTER_ERRORS)
    const inputs = await readTopicUntil(kafka, t.input, (m) => m.length >= 1)
    expect((JSON.parse(inputs[0]!.value) as { event: AlertEvent }).event.fingerprint).toBe('after')
    await waitFor(() => (durable.get(`${t.alerts}/0`) === '2' ? true : undefined), { what: 'the source durable past both records' })
    expect(lines.filter((l) => l.msg === 'non-retriable failure: the consumer stops')).toEqual([])
  })
})
