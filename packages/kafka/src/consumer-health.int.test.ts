import { expect, it, onTestFinished } from 'vitest'
import { KafkaJSError } from 'kafkajs'
import { captureLogs, connectedAdmin, createTopics, kafkaClient, uniqueName, waitFor } from '@opsreview/testing'
import { ConsumerHealthMonitor } from './consumer-health.ts'

/** A topic of its own with `partitions`, a group name, and a connected admin and producer on the real broker. */
async function onBroker(name: string, partitions: number) {
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  const topic = uniqueName(name)
  const group = uniqueName(`${name}-group`)
  await createTopics(admin, [topic], partitions)
  const producer = kafka.producer()
  await producer.connect()
  onTestFinished(() => producer.disconnect())
  return { kafka, admin, topic, group, producer }
}

it('on the real broker: lag from the end offsets while the consumer fetches nothing, a stall, and recovery', async () => {
  const { kafka, admin, topic, group, producer } = await onBroker('health', 2)
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const { logger, lines } = captureLogs()
  // 3 s without progress is a stall: with 1 s, a loaded host's slow first fetch of 'a' and 'b' could count as
  // one, a second stall beside the one the test makes by pausing.
  const monitor = new ConsumerHealthMonitor({ group, topics: [topic], admin, consumer, logger, stallAfterMs: 3000, intervalMs: 100 })
  onTestFinished(async () => { monitor.stop(); await consumer.disconnect() })
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      const first = batch.messages[0]
      if (!first) return
      monitor.health.fetched(batch.topic, batch.partition, { firstOffset: first.offset, lastOffset: batch.lastOffset(), timestamp: first.timestamp })
      for (const m of batch.messages) resolveOffset(m.offset)
      const next = String(BigInt(batch.lastOffset()) + 1n)
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
      monitor.health.processed(batch.topic, batch.partition, next)
    },
  })
  monitor.start()
  await waitFor(() => (Object.keys(monitor.health.assignment).length > 0 ? true : undefined), { what: 'the assignment' })

  await producer.send({ topic, acks: -1, messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }] })
  await waitFor(() => { const s = monitor.snapshot(); return s.partitions.every((p) => p.end === '1' && p.lag === 0) ? s : undefined }, { what: 'caught up' })

  // Paused: nothing is fetched, so there is no "last batch" to take a lag from; the broker's end moves on.
  consumer.pause([{ topic }])
  await producer.send({ topic, acks: -1, messages: [1, 2, 3].map((i) => ({ value: `p${i}`, partition: 0 })) })
  const stalled = await waitFor(() => { const s = monitor.snapshot(); return s.stalled ? s : undefined }, { what: 'a stall' })
  expect(stalled.partitions).toEqual([
    expect.objectContaining({ partition: 0, position: '1', end: '4', lag: 3, stalled: true }),
    expect.objectContaining({ partition: 1, lag: 0, stalled: false, oldestUnprocessedAgeSeconds: 0 }),
  ])
  expect(stalled.partitions[0]!.oldestUnprocessedAgeSeconds).toBeGreaterThan(0)
  // The monitor logs transitions at its polls; on a loaded host the test can see the stall before a poll has.
  await waitFor(() => (lines.some((l) => l.msg === 'consumer stalled: records waiting and no progress') ? true : undefined), { what: 'the stall logged' })

  consumer.resume([{ topic }])
  await waitFor(() => { const s = monitor.snapshot(); return !s.stalled && s.partitions.every((p) => p.lag === 0) ? s : undefined }, { what: 'caught up again' })
  // Logged once when it stalled and once when it recovered, not at every poll.
  await waitFor(() => (lines.some((l) => l.msg === 'consumer progressing again') ? true : undefined), { what: 'the recovery logged' })
  expect(lines.filter((l) => l.msg === 'consumer stalled: records waiting and no progress')).toEqual([expect.objectContaining({ stall: expect.objectContaining({ group, partitions: [expect.objectContaining({ partition: 0, lag: 3 })] }) })])
  // The group's committed offsets say the same.
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  expect(committed!.partitions.map((p) => p.offset).sort()).toEqual(['1', '4'])
})

it('on the real broker: a consumer that crashes and restarts faster than the stall time still shows as stalled', async () => {
  const { kafka, admin, topic, group, producer } = await onBroker('health-crash', 1)
  await producer.send({ topic, acks: -1, messages: [{ value: 'never processed' }] })
  // No retries inside kafkajs: each failure crashes the consumer, which restarts and rejoins at once.
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100, retry: { retries: 0, initialRetryTime: 50 } })
  let crashes = 0
  consumer.on(consumer.events.CRASH, () => { crashes++ })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const { logger } = captureLogs()
  const monitor = new ConsumerHealthMonitor({ group, topics: [topic], admin, consumer, logger, stallAfterMs: 3000, intervalMs: 100 })
  onTestFinished(async () => { monitor.stop(); await consumer.disconnect() })
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const first = batch.messages[0]
      if (first) monitor.health.fetched(batch.topic, batch.partition, { firstOffset: first.offset, lastOffset: batch.lastOffset(), timestamp: first.timestamp })
      throw new KafkaJSError('the store behind this consumer is down', { retriable: true })
    },
  })
  monitor.start()

  const stalled = await waitFor(() => { const s = monitor.snapshot(); return s.stalled ? s : undefined }, { timeoutMs: 30_000, what: 'a stall through the crash loop' })
  expect(crashes).toBeGreaterThan(1)
  expect(stalled.partitions).toEqual([expect.objectContaining({ partition: 0, lag: 1, stalled: true })])
})

it('on the real broker: sees the lag of a topic deleted and created again, not the old log\'s position', async () => {
  const { kafka, admin, topic, group, producer } = await onBroker('health-recreated', 1)
  await producer.send({ topic, acks: -1, messages: [1, 2, 3].map((i) => ({ value: `old${i}` })) })
  // The group read the old log to its end (no member runs: its offsets are set as a member commits them).
  await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '3' }] })
  const consumer = kafka.consumer({ groupId: group })
  const monitor = new ConsumerHealthMonitor({ group, topics: [topic], admin, consumer, logger: captureLogs().logger, stallAfterMs: 60_000, intervalMs: 100 })
  onTestFinished(() => monitor.stop())
  monitor.health.assigned({ [topic]: [0] })
  monitor.start()
  await waitFor(() => { const p = monitor.snapshot().partitions[0]; return p?.end === '3' && p.position === '3' && p.lag === 0 ? p : undefined }, { what: 'the old log read to its end' })

  await admin.deleteTopics({ topics: [topic] })
  // Deleting finishes in the background; the admin's metadata refresh meanwhile can fail the creation.
  await waitFor(async () => ((await admin.listTopics()).includes(topic) ? undefined : true), { what: 'the topic deleted' })
  // Created by an admin of its own: the first one still asks for the deleted topic's metadata on every
  // refresh, and a loaded broker answered "does not host this topic-partition" to each for 20 s (CI, 2026-12-05).
  const creator = await connectedAdmin(kafka)
  await waitFor(() => createTopics(creator, [topic], 1).then(() => true), { what: 'the topic created again' })
  await waitFor(() => producer.send({ topic, acks: -1, messages: [{ value: 'new1' }, { value: 'new2' }] }).then(() => true), { what: 'the new log written' })
  const p = await waitFor(() => { const q = monitor.snapshot().partitions[0]; return q?.end === '2' ? q : undefined }, { what: 'the new log\'s end' })
  expect(p).toMatchObject({ position: null, lag: 2 })
})
