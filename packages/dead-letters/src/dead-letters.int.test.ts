import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { Kafka as KafkaClient, logLevel, PartitionAssigners, type Admin, type Consumer, type ConsumerConfig, type Kafka, type Message, type Producer } from 'kafkajs'
import { deadLetterMessage, recordReplay, type DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import { DEAD_LETTER_MAX_MESSAGE_BYTES } from '@opsreview/kafka/topics'
import { createReadyTopics, createTopics, kafkaClient, readRecordsUntil, readTopicUntil, uniqueName, waitFor } from '@opsreview/testing'
import { listCommand, replayCommand } from './commands.ts'
import { KafkaUnavailableError, ReadRefusedError } from './errors.ts'
import { readDeadLetters } from './read.ts'

const logger = pino({ level: 'silent' })
const HOUR = 3_600_000

let kafka: Kafka
let admin: Admin

beforeAll(async () => {
  kafka = kafkaClient()
  admin = kafka.admin()
  await admin.connect()
})

afterAll(async () => {
  await admin?.disconnect()
})

// One producer per call: kafkajs keeps refreshing metadata of every topic a producer wrote to, and the
// topics of a finished test are deleted.
/** `kafka` whose admins are `wrap`ped: a test sees and steers what the code under test asks of the cluster. */
function withAdmin(k: Kafka, wrap: (admin: Admin) => Admin): Kafka {
  return Object.assign(Object.create(k) as Kafka, { admin: (...args: Parameters<Kafka['admin']>) => wrap(k.admin(...args)) })
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  return port
}

async function produce(topic: string, messages: Message[]): Promise<void> {
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    await producer.send({ topic, acks: -1, messages })
  } finally {
    await producer.disconnect()
  }
}

function envelope(over: Partial<DeadLetterEnvelope> & Pick<DeadLetterEnvelope, 'reason'>, at = new Date()): DeadLetterEnvelope {
  return { stage: 'correlator', error: `failed: ${over.reason}`, at: at.toISOString(), ...over }
}

/** A receiver stand-in on a loopback port that counts what it is sent and answers as told (a status, or a status and a JSON body). */
async function fakeReceiver(token: string, answer: (body: string) => number | { status: number; json: unknown }) {
  const got: { path: string; auth: string | undefined; type: string | undefined; body: string }[] = []
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      got.push({ path: req.url ?? '', auth: req.headers.authorization, type: req.headers['content-type'], body })
      const told = req.headers.authorization === `Bearer ${token}` ? answer(body) : 401
      const status = typeof told === 'number' ? told : told.status
      res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' })
      res.end(typeof told !== 'number' ? JSON.stringify(told.json) : status >= 400 ? JSON.stringify({ code: 'VALIDATION_FAILED', detail: 'alerts[0].status is required' }) : '{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got }
}

describe('dead letters on the real Kafka', () => {
  it('counts every dead-letter topic by reason, old and new records alike, from --since on', async () => {
    const rejected = uniqueName('dl-rejected')
    const indexer = uniqueName('dl-indexer')
    const missing = uniqueName('dl-never-created')
    await createTopics(admin, [rejected, indexer], 2)
    const now = Date.now()
    const old = new Date(now - 48 * HOUR)
    await produce(rejected, [
      // Two days old: before --since 24h, both by the envelope time and by the Kafka timestamp.
      { ...deadLetterMessage('am', envelope({ stage: 'receiver', reason: 'validation_failed' }, old)), timestamp: String(old.getTime()) },
      deadLetterMessage('am', envelope({ stage: 'receiver', reason: 'validation_failed', replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: '{}' } }, new Date(now - 2 * HOUR))),
      deadLetterMessage('am', envelope({ stage: 'receiver', reason: 'validation_failed' }, new Date(now - HOUR))),
      // The receiver's record before the envelope existed.
      { key: 'pingdom', value: JSON.stringify({ reason: 'unauthorized', status: 401, source: 'pingdom', body: '{}' }) },
    ])
    await produce(indexer, [
      { key: 'a/0/1', value: JSON.stringify({ reason: 'unparseable', error: 'Unexpected token', value: '{' }) },
      { key: 'a/0/2', value: 'not json at all' },
      deadLetterMessage('a/0/3', envelope({ stage: 'indexer', reason: 'mapper_parsing_exception' }, new Date(now - 3 * HOUR))),
    ])

    const all = await listCommand({ command: 'list', sinceMs: undefined, reasons: [], topics: [], json: true }, { kafka, logger, topics: [rejected, indexer, missing] })
    const groups = (all.json as { groups: { topic: string; reason: string; count: number; replayable: number; first: string; last: string }[] }).groups
    expect(groups.map((g) => [g.topic, g.reason, g.count, g.replayable])).toEqual([
      [indexer, 'mapper_parsing_exception', 1, 0],
      [indexer, 'unknown', 1, 0],
      [indexer, 'unparseable', 1, 0],
      [rejected, 'validation_failed', 3, 1],
      [rejected, 'unauthorized', 1, 0],
    ])
    const vf = groups.find((g) => g.reason === 'validation_failed')!
    expect(vf.first).toBe(old.toISOString())
    expect(vf.last).toBe(new Date(now - HOUR).toISOString())
    expect((all.json as { topics: unknown[] }).topics).toContainEqual({ topic: missing, exists: false, read: 0 })
    expect(all.text).toContain(`${missing}: no such topic`)
    // Reading created nothing.
    expect(await admin.listTopics()).not.toContain(missing)

    const recent = await listCommand({ command: 'list', sinceMs: now - 24 * HOUR, reasons: [], topics: [rejected], json: false }, { kafka, logger, topics: [rejected, indexer] })
    const recentGroups = (recent.json as { groups: { reason: string; count: number }[] }).groups
    expect(recentGroups.map((g) => [g.reason, g.count])).toEqual([['validation_failed', 2], ['unauthorized', 1]])
    expect(recent.text).toMatch(/total 3 \(1 replayable\)/)
  })

  it('hands every letter to onLetter once, in offset order, and holds only those it is told to keep', async () => {
    const topic = uniqueName('dl-stream')
    await createTopics(admin, [topic], 1)
    await produce(topic, Array.from({ length: 30 }, (_, i) => deadLetterMessage(`k${i}`, envelope({ reason: i % 3 === 0 ? 'schema-invalid' : 'too-late' }))))
    const seen: string[] = []
    const { deadLetters, topics } = await readDeadLetters({
      kafka, topics: [topic], logger, onLetter: (dl) => seen.push(dl.offset), keep: (dl) => dl.reason === 'schema-invalid',
    })
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => String(i)))
    expect(deadLetters.map((dl) => dl.offset)).toEqual(['0', '3', '6', '9', '12', '15', '18', '21', '24', '27'])
    expect(topics).toEqual([{ topic, exists: true, read: 30 }])
  })

  it('stops at the end offsets it saw at the start while the topic keeps growing', async () => {
    const topic = uniqueName('dl-growing')
    await createTopics(admin, [topic], 1)
    await produce(topic, Array.from({ length: 5 }, (_, i) => deadLetterMessage(`k${i}`, envelope({ reason: 'schema-invalid' }))))
    // The topic grows right after the reader took its end offsets, before it reads a record.
    const endsSeen: string[] = []
    const growing = withAdmin(kafka, (a) => Object.assign(Object.create(a) as Admin, {
      fetchTopicOffsets: async (name: string) => {
        const ends = await a.fetchTopicOffsets(name)
        if (name === topic) {
          endsSeen.push(...ends.map((e) => e.high))
          await produce(topic, Array.from({ length: 10 }, (_, i) => deadLetterMessage(`late${i}`, envelope({ reason: 'schema-invalid' }))))
        }
        return ends
      },
    }))
    const { deadLetters } = await readDeadLetters({ kafka: growing, topics: [topic], logger })
    expect(endsSeen).toEqual(['5'])
    expect(deadLetters.map((d) => d.offset)).toEqual(['0', '1', '2', '3', '4'])
    expect((await admin.fetchTopicOffsets(topic))[0]!.high).toBe('15')
  })

  it('reads to the end offset when the last offsets are transaction markers, which kafkajs hands no reader', async () => {
    const committed = uniqueName('dl-txn-committed')
    const aborted = uniqueName('dl-txn-aborted')
    await createTopics(admin, [committed, aborted], 1)
    await produce(committed, [deadLetterMessage('k0', envelope({ reason: 'schema-invalid' }))])
    // Another client's transactions: the committed one ends the topic in its commit marker (offset 2), the
    // aborted one is all the other topic holds (its record at 0, the abort marker at 1).
    const producer = kafka.producer({ transactionalId: uniqueName('dl-txn'), idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const commit = await producer.transaction()
    await commit.send({ topic: committed, messages: [deadLetterMessage('k1', envelope({ reason: 'schema-invalid' }))] })
    await commit.commit()
    const abort = await producer.transaction()
    await abort.send({ topic: aborted, messages: [deadLetterMessage('k2', envelope({ reason: 'schema-invalid' }))] })
    await abort.abort()
    // The coordinator writes the markers after the commit or abort returns: the ends (read committed) then pass them.
    const highs = async () => [...(await admin.fetchTopicOffsets(committed)), ...(await admin.fetchTopicOffsets(aborted))].map((p) => p.high)
    await waitFor(async () => ((await highs()).join() === '3,2' ? true : undefined), { what: 'both transactions ended by their markers' })

    // The timeout is only how long a read that never ends takes to say so: reaching the end, it is not met.
    const read = await readDeadLetters({ kafka, topics: [committed, aborted], logger, timeoutMs: 30_000 })
    expect(read.deadLetters.map((dl) => [dl.topic, dl.offset])).toEqual([[committed, '0'], [committed, '1']].sort())
    expect(read.topics).toEqual([{ topic: committed, exists: true, read: 2 }, { topic: aborted, exists: true, read: 0 }])
  })

  it('replays record dead letters to their topic and webhook dead letters through the receiver', async () => {
    const dlq = uniqueName('dl-replay')
    const target = uniqueName('dl-target')
    await createTopics(admin, [dlq, target], 1)
    const token = 'replay-token'
    const receiver = await fakeReceiver(token, (body) => (body.includes('still-bad') ? 422 : 200))
    const now = Date.now()
    await produce(dlq, [
      deadLetterMessage('o/0/1', envelope({ reason: 'schema-invalid', origin: { topic: 'alerts', partition: 0, offset: '1' }, replay: { kind: 'record', topic: target, key: 'checkout', value: '{"id":"e1"}' } })),
      deadLetterMessage('o/0/2', envelope({ reason: 'schema-invalid', replay: { kind: 'record', topic: target, key: null, value: '{"id":"e2"}' } })),
      deadLetterMessage('am', envelope({ stage: 'receiver', reason: 'schema-invalid', replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: '{"fixed":true}' } })),
      deadLetterMessage('am', envelope({ stage: 'receiver', reason: 'schema-invalid', replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: '{"still-bad":true}' } })),
      // Same reason, but no way back.
      deadLetterMessage('o/0/3', envelope({ reason: 'schema-invalid' })),
      { key: 'o/0/4', value: JSON.stringify({ reason: 'schema-invalid', error: 'older record', value: '{}' }) },
      // Another reason: not selected.
      deadLetterMessage('o/0/5', envelope({ reason: 'engine-rejected', replay: { kind: 'record', topic: target, key: 'other', value: '{"id":"e3"}' } })),
    ])
    const deps = { kafka, logger, topics: [dlq], receiverUrl: receiver.url, ingestToken: token }
    const cmd = { command: 'replay' as const, sinceMs: now - HOUR, reasons: ['schema-invalid'], topics: [], json: false }

    const dry = await replayCommand({ ...cmd, dryRun: true }, deps)
    expect(dry.json).toMatchObject({ matched: 6, replayed: 4, failed: 0, notReplayable: 2 })
    expect(receiver.got).toHaveLength(0)

    const result = await replayCommand({ ...cmd, dryRun: false }, deps)
    expect(result.json).toMatchObject({ matched: 6, replayed: 3, failed: 1, notReplayable: 2, duplicates: 0 })
    expect(result.exitCode).toBe(1)
    expect(result.text).toMatch(/failed again\s+1/)
    expect(result.text).toContain('receiver answered 422 (VALIDATION_FAILED: alerts[0].status is required)')

    const back = await readTopicUntil(kafka, target, (m) => m.length >= 2)
    expect(back.map((m) => [m.key, m.value])).toEqual([['checkout', '{"id":"e1"}'], [null, '{"id":"e2"}']])
    expect(receiver.got.map((r) => [r.path, r.auth, r.type, r.body])).toEqual([
      ['/webhooks/alertmanager', `Bearer ${token}`, 'application/json', '{"fixed":true}'],
      ['/webhooks/alertmanager', `Bearer ${token}`, 'application/json', '{"still-bad":true}'],
    ])
  })

  it('puts back a record of bytes that are not text, and a tombstone, as they were: bytes, key and headers', async () => {
    const dlq = uniqueName('dl-bytes')
    const target = uniqueName('dl-bytes-target')
    await createTopics(admin, [dlq, target], 1)
    const value = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x2a, 0xff, 0xfe, 0x80, 0x01])
    const key = Buffer.from([0x01, 0xff])
    const trace = Buffer.from([0xc3, 0x28])
    const now = Date.now()
    await produce(dlq, [
      deadLetterMessage('o/0/1', envelope({ reason: 'undecodable', replay: recordReplay(target, { key, value, headers: { trace, 'content-type': 'avro/binary', empty: null as unknown as string } }) })),
      deadLetterMessage('o/0/2', envelope({ reason: 'undecodable', replay: recordReplay(target, { key: Buffer.from('gone'), value: null }) })),
    ])
    // Record letters only: the receiver is never asked.
    const deps = { kafka, logger, topics: [dlq], receiverUrl: 'http://127.0.0.1:9', ingestToken: 'unused' }
    const result = await replayCommand({ command: 'replay', sinceMs: now - HOUR, reasons: ['undecodable'], topics: [], json: false, dryRun: false }, deps)
    expect(result.json).toMatchObject({ matched: 2, replayed: 2, failed: 0 })
    const back = await readRecordsUntil(kafka, target, (m) => m.length >= 2)
    expect(back.map((m) => [m.key, m.value])).toEqual([[key, value], [Buffer.from('gone'), null]])
    expect(back[0]!.headers).toEqual({ trace, 'content-type': Buffer.from('avro/binary'), empty: null })
    expect(back[1]!.headers).toEqual({})
  })

  it('puts back a 6 MiB text value with a binary header (only the header in base64), and a letter of the older all-base64 shape, byte for byte', async () => {
    const dlq = uniqueName('dl-mixed')
    const target = uniqueName('dl-mixed-target')
    // Both as large as the dead-letter topics take (the default 1 MiB would refuse the letter).
    const large = [{ name: 'max.message.bytes', value: String(DEAD_LETTER_MAX_MESSAGE_BYTES) }]
    await createReadyTopics(admin, [{ topic: dlq, numPartitions: 1, configEntries: large }, { topic: target, numPartitions: 1, configEntries: large }])
    onTestFinished(() => admin.deleteTopics({ topics: [dlq, target] }).catch(() => undefined))
    // Whole in base64 this letter was 8 MiB, past what the topic takes: it went without its replay.
    const value = Buffer.from(`{"id":"e1","pad":"${'x'.repeat(6 * 1024 * 1024)}"}`)
    const trace = Buffer.from([0xc3, 0x28, 0xff])
    const mixed = deadLetterMessage('o/0/1', envelope({ reason: 'undecodable', replay: recordReplay(target, { key: Buffer.from('checkout'), value, headers: { trace, 'content-type': 'application/json' } }) }))
    // As recordReplay wrote a record with one part that is not UTF-8 until per-part base64.
    const oldKey = Buffer.from([0x01, 0xff])
    const oldValue = Buffer.from('{"id":"e2"}')
    const oldReplay = { kind: 'record', topic: target, key: oldKey.toString('base64'), value: oldValue.toString('base64'), encoding: 'base64', headers: { trace: [trace.toString('base64')], empty: [null] } }
    const old = { key: 'o/0/2', value: JSON.stringify({ ...envelope({ reason: 'undecodable' }), replay: oldReplay }) }
    const now = Date.now()
    await produce(dlq, [mixed, old])

    const letters = await readRecordsUntil(kafka, dlq, (m) => m.length >= 2)
    const written = JSON.parse(letters[0]!.value!.toString()) as DeadLetterEnvelope
    expect(written.detail?.replayOmitted).toBeUndefined()
    expect(written.replay).toMatchObject({ key: 'checkout', value: value.toString(), base64: { headers: { trace: [0] } } })

    const deps = { kafka, logger, topics: [dlq], receiverUrl: 'http://127.0.0.1:9', ingestToken: 'unused' }
    const result = await replayCommand({ command: 'replay', sinceMs: now - HOUR, reasons: ['undecodable'], topics: [], json: false, dryRun: false }, deps)
    expect(result.json).toMatchObject({ matched: 2, replayed: 2, failed: 0, notReplayable: 0 })
    const back = await readRecordsUntil(kafka, target, (m) => m.length >= 2)
    expect(back[0]!.key).toEqual(Buffer.from('checkout'))
    expect(back[0]!.value!.equals(value)).toBe(true)
    expect(back[0]!.headers).toEqual({ trace, 'content-type': Buffer.from('application/json') })
    expect(back.slice(1).map((m) => [m.key, m.value, m.headers])).toEqual([[oldKey, oldValue, { trace, empty: null }]])
  })

  it('reports an Alertmanager webhook the receiver answers 200 but still refuses alerts of as failed again', async () => {
    const dlq = uniqueName('dl-am-refused')
    await createTopics(admin, [dlq], 1)
    const token = 'replay-token'
    // The receiver's answer to a notification whose alert it still refuses (services/receiver/src/app.ts).
    const refused = {
      accepted: 0, published: 0, truncatedAlerts: 0, rejectedTotal: 1,
      rejected: [{ index: 0, reason: 'schema-invalid', errors: [{ path: '/alerts/0/labels/severity', message: 'must be one of critical, warning, info' }] }],
    }
    const receiver = await fakeReceiver(token, (body) => (body.includes('still-bad') ? { status: 200, json: refused } : { status: 200, json: { accepted: 1, published: 1, truncatedAlerts: 0, rejected: [], rejectedTotal: 0 } }))
    const am = (name: string) => JSON.stringify({ version: '4', status: 'firing', receiver: 'opsreview', groupKey: 'g', alerts: [{ status: 'firing', labels: { alertname: name } }] })
    await produce(dlq, [
      deadLetterMessage('am1', envelope({ stage: 'receiver', reason: 'schema-invalid', replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: am('still-bad') } })),
      deadLetterMessage('am2', envelope({ stage: 'receiver', reason: 'schema-invalid', replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: am('fixed') } })),
    ])
    const result = await replayCommand(
      { command: 'replay', sinceMs: Date.now() - HOUR, reasons: ['schema-invalid'], topics: [], dryRun: false, json: false },
      { kafka, logger, topics: [dlq], receiverUrl: receiver.url, ingestToken: token },
    )
    expect(result.json).toMatchObject({ matched: 2, replayed: 1, failed: 1 })
    expect((result.json as { outcomes: unknown[] }).outcomes[0]).toMatchObject({ outcome: 'failed', retriable: false, status: 200 })
    expect(result.exitCode).toBe(1)
    expect(result.text).toMatch(/failed again\s+1/)
    expect(result.text).toContain('receiver answered 200 but refused 1 of 1 alert(s): alert 0 schema-invalid (/alerts/0/labels/severity must be one of critical, warning, info)')
    expect(result.text).not.toContain('[retry later]')
    expect(receiver.got).toHaveLength(2)
  })

  it('does not append an old record to a compacted topic, where it would replace a newer version for good, nor list it as replayable', async () => {
    const dlq = uniqueName('dl-compacted')
    const incidents = uniqueName('dl-incidents')
    const plain = uniqueName('dl-plain')
    await createTopics(admin, [dlq, plain], 1)
    await createReadyTopics(admin, [{ topic: incidents, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }])
    onTestFinished(() => admin.deleteTopics({ topics: [incidents] }).catch(() => undefined))
    const v = (version: number) => JSON.stringify({ id: 'inc-1', version })
    await produce(incidents, [{ key: 'inc-1', value: v(3) }, { key: 'inc-1', value: v(7) }])
    await produce(dlq, [
      deadLetterMessage('o/0/0', envelope({ stage: 'indexer', reason: 'mapping-rejected', replay: { kind: 'record', topic: incidents, key: 'inc-1', value: v(3) } })),
      deadLetterMessage('o/0/1', envelope({ stage: 'indexer', reason: 'mapping-rejected', replay: { kind: 'record', topic: plain, key: 'a', value: '{"id":"a"}' } })),
    ])
    const cmd = { command: 'replay' as const, sinceMs: Date.now() - HOUR, reasons: ['mapping-rejected'], topics: [], json: false }
    const deps = { kafka, logger, topics: [dlq], receiverUrl: 'http://127.0.0.1:9', ingestToken: undefined }
    // The listing counts as replayable what the replay would put back: not the letter for the compacted topic.
    const listed = await listCommand({ command: 'list', sinceMs: cmd.sinceMs, reasons: [], topics: [], json: false }, deps)
    expect(listed.json).toMatchObject({ total: 2, replayable: 1, compactedTarget: 1, groups: [{ reason: 'mapping-rejected', count: 2, replayable: 1, compactedTarget: 1 }] })
    expect(listed.text).toContain('total 2 (1 replayable)')
    expect((await replayCommand({ ...cmd, dryRun: true }, deps)).json).toMatchObject({ matched: 2, replayed: 1, notReplayable: 1 })
    const result = await replayCommand({ ...cmd, dryRun: false }, deps)
    expect(result.json).toMatchObject({ matched: 2, replayed: 1, failed: 0, notReplayable: 1 })
    expect(result.text).toContain(`topic ${incidents} is compacted`)
    expect((await admin.fetchTopicOffsets(incidents)).map((p) => p.high)).toEqual(['2'])
    expect((await readTopicUntil(kafka, plain, (m) => m.length >= 1)).map((m) => m.value)).toEqual(['{"id":"a"}'])
  })

  it('reports a receiver that is down as failed, to retry later, without trying each dead letter', async () => {
    const dlq = uniqueName('dl-down')
    await createTopics(admin, [dlq], 1)
    const port = await closedPort()
    await produce(dlq, [1, 2, 3].map((i) => deadLetterMessage(`am${i}`, envelope({ stage: 'receiver', reason: 'validation_failed', replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: `{"n":${i}}` } }))))
    const result = await replayCommand(
      { command: 'replay', sinceMs: Date.now() - HOUR, reasons: ['validation_failed'], topics: [], dryRun: false, json: false },
      { kafka, logger, topics: [dlq], receiverUrl: `http://127.0.0.1:${port}`, ingestToken: 't' },
    )
    expect(result.json).toMatchObject({ matched: 3, replayed: 0, failed: 3 })
    expect(result.text).toMatch(/receiver unreachable at http:\/\/127\.0\.0\.1:\d+/)
    expect(result.text.match(/not tried/g)).toHaveLength(2)
    expect(result.text).toContain('[retry later]')
  })

  it('reports Kafka dropping between the read and the compacted-topic check as unavailable (exit 69), and replays nothing', async () => {
    const dlq = uniqueName('dl-drop')
    const target = uniqueName('dl-drop-target')
    await createTopics(admin, [dlq, target], 1)
    await produce(dlq, [deadLetterMessage('o/0/0', envelope({ reason: 'schema-invalid', replay: { kind: 'record', topic: target, key: 'a', value: '{"id":"a"}' } }))])
    // Kafka as it is once the broker is gone; no retries: kafkajs gives up the same way after them, only later.
    const gone = new KafkaClient({ clientId: uniqueName('dl-gone'), brokers: [`127.0.0.1:${await closedPort()}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } })
    // The broker drops once the reader's consumer has read to the end offsets and disconnected: every admin
    // asked for after that, the compacted-topic check's among them, reaches no broker.
    let dropped = false
    const dropping = Object.assign(Object.create(kafka) as Kafka, {
      admin: (...args: Parameters<Kafka['admin']>) => (dropped ? gone : kafka).admin(...args),
      consumer: (...args: Parameters<Kafka['consumer']>) => {
        const consumer = kafka.consumer(...args)
        return Object.assign(Object.create(consumer) as Consumer, { disconnect: async () => { await consumer.disconnect(); dropped = true } })
      },
    })
    const replay = replayCommand(
      { command: 'replay', sinceMs: Date.now() - HOUR, reasons: ['schema-invalid'], topics: [], dryRun: false, json: false },
      { kafka: dropping, logger, topics: [dlq], receiverUrl: 'http://127.0.0.1:9', ingestToken: undefined },
    )
    // Retriable is what the CLI exits 69 (EX_UNAVAILABLE) for, instead of 70 for a fault of ours.
    await expect(replay).rejects.toBeInstanceOf(KafkaUnavailableError)
    await expect(replay).rejects.toMatchObject({ retriable: true, message: expect.stringMatching(/^Kafka is unavailable: Connection error: connect ECONNREFUSED 127\.0\.0\.1:\d+$/) })
    expect(dropped).toBe(true)
    expect((await admin.fetchTopicOffsets(target)).map((p) => p.high)).toEqual(['0'])
  })
})

describe('a dead-letter read that cannot go on', () => {
  // Ten minutes, far past the test's own timeout: a read that waited for it instead of failing hangs the test.
  const timeoutMs = 10 * 60_000

  /** `kafka` whose consumers are `wrap`ped, told the config they were made with (the reader's group id). */
  function withConsumer(k: Kafka, wrap: (consumer: Consumer, config: ConsumerConfig) => Consumer): Kafka {
    return Object.assign(Object.create(k) as Kafka, { consumer: (config: ConsumerConfig) => wrap(k.consumer(config), config) })
  }

  it('fails at once, naming Kafka\'s cause and not retriable, when the group refuses the reader for good, and still disconnects it and deletes its group', async () => {
    const topic = uniqueName('dl-refused')
    await createTopics(admin, [topic], 1)
    await produce(topic, [deadLetterMessage('o/0/0', envelope({ reason: 'schema-invalid' }))])
    // Another member holds the reader's group with a protocol the reader does not speak: the broker answers
    // the reader's JoinGroup INCONSISTENT_GROUP_PROTOCOL, which kafkajs neither retries nor restarts after.
    const otherProtocol: typeof PartitionAssigners.roundRobin = (config) => ({ ...PartitionAssigners.roundRobin(config), name: 'OtherAssigner' })
    const groups: string[] = []
    let disconnected = 0
    const deleted: string[][] = []
    const held = withConsumer(kafka, (consumer, config) => {
      groups.push(config.groupId)
      const blocker = kafka.consumer({ groupId: config.groupId, partitionAssigners: [otherProtocol], maxWaitTimeInMs: 100 })
      onTestFinished(async () => {
        await blocker.disconnect()
        await admin.deleteGroups([config.groupId]).catch(() => undefined)
      })
      const joined = new Promise<void>((resolve) => blocker.on(blocker.events.GROUP_JOIN, () => resolve()))
      return Object.assign(Object.create(consumer) as Consumer, {
        // The blocker joins first, so the group is the blocker's before the reader asks to join.
        connect: async () => {
          await blocker.connect()
          await blocker.subscribe({ topics: [topic], fromBeginning: true })
          await blocker.run({ eachMessage: async () => undefined })
          await joined
          await consumer.connect()
        },
        disconnect: async () => { disconnected++; await consumer.disconnect() },
      })
    })
    const recorded = withAdmin(held, (a) => Object.assign(Object.create(a) as Admin, {
      deleteGroups: (ids: string[]) => { deleted.push(ids); return a.deleteGroups(ids) },
    }))
    const err = await readDeadLetters({ kafka: recorded, topics: [topic], logger, timeoutMs }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(ReadRefusedError)
    expect(err).toMatchObject({
      retriable: false,
      message: expect.stringMatching(new RegExp(`^Kafka stopped the dead-letter reader \\(group ${groups[0]}\\) for good: INCONSISTENT_GROUP_PROTOCOL: `)),
    })
    expect(groups).toHaveLength(1)
    expect(disconnected).toBe(1)
    // Not deleted here (the blocker is still in it), but asked for, as on every other path.
    expect(deleted).toEqual([[groups[0]]])
  })

  it('ends with the error a caller\'s callback threw, without kafkajs retrying it, and still deletes its group', async () => {
    const topic = uniqueName('dl-callback-throws')
    await createTopics(admin, [topic], 1)
    await produce(topic, [
      deadLetterMessage('o/0/0', envelope({ reason: 'schema-invalid' })),
      deadLetterMessage('o/0/1', envelope({ reason: 'schema-invalid' })),
    ])
    const groups: string[] = []
    const learning = withConsumer(kafka, (consumer, config) => { groups.push(config.groupId); return consumer })
    const boom = new Error('the caller failed on a letter')
    let calls = 0
    const read = readDeadLetters({ kafka: learning, topics: [topic], logger, timeoutMs, onLetter: () => { calls++; throw boom } })
    await expect(read).rejects.toBe(boom)
    // Once: retried, kafkajs would have handed the batch again.
    expect(calls).toBe(1)
    expect(groups).toHaveLength(1)
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groups[0])
  })

  it('ends with the error keep threw', async () => {
    const topic = uniqueName('dl-keep-throws')
    await createTopics(admin, [topic], 1)
    await produce(topic, [deadLetterMessage('o/0/0', envelope({ reason: 'schema-invalid' }))])
    const boom = new Error('keep failed')
    await expect(readDeadLetters({ kafka, topics: [topic], logger, timeoutMs, keep: () => { throw boom } })).rejects.toBe(boom)
  })
})
