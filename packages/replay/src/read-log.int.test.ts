import { describe, expect, it } from 'vitest'
import type { Kafka } from 'kafkajs'
import { connectedAdmin, createTopics, kafkaClient, uniqueName, waitFor } from '@opsreview/testing'
import { readLog, type LogRecord } from './read-log.ts'

const T = Date.parse('2026-11-30T00:00:00Z')

/** A client, its admin, the topics made (3 partitions unless told), and a connected producer. */
async function withTopics(topics: string[], partitions?: number) {
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  await createTopics(admin, topics, partitions)
  const producer = kafka.producer()
  await producer.connect()
  return { kafka, admin, producer }
}

describe('readLog on the real Kafka', () => {
  it('merges every partition of two topics in timestamp order within the range, pausing partitions that run ahead', async () => {
    const topics = [uniqueName('log-a'), uniqueName('log-b')]
    const { kafka, admin, producer } = await withTopics(topics)
    // 300 records over 3 partitions of topic a (partition p holds every third second), 30 on topic b, and
    // records before and after the range that must not be read. Records are 16 KiB, so a partition (1.6 MiB)
    // takes more than one 1 MiB fetch: its first batch fills a buffer of 5 before the partition is complete,
    // and it is paused until the merge has drained it.
    const at = (s: number) => String(T + s * 1000)
    const pad = ` ${'x'.repeat(16 * 1024)}`
    for (const p of [0, 1, 2]) {
      const messages = Array.from({ length: 102 }, (_, i) => ({ partition: p, value: `a${i * 3 + p - 3}${pad}`, timestamp: at(i * 3 + p - 3) }))
      // In sends under the broker's 1 MB request limit.
      for (let i = 0; i < messages.length; i += 30) await producer.send({ topic: topics[0]!, messages: messages.slice(i, i + 30) })
    }
    await producer.send({ topic: topics[1]!, messages: Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: `b${i * 10}`, timestamp: at(i * 10) })) })
    await producer.disconnect()

    const seen: LogRecord[] = []
    const groupId = uniqueName('log-reader')
    const stats = await readLog({ kafka, topics, fromMs: T, toMs: T + 299_000, groupId, maxBufferedPerPartition: 5 }, (r) => seen.push(r))
    expect(stats.records).toBe(300 + 30)
    expect(stats.pauses).toBeGreaterThan(0)
    expect(seen.map((r) => r.timestamp)).toEqual([...seen.map((r) => r.timestamp)].sort((x, y) => x - y))
    expect(seen.filter((r) => r.topic === topics[0]).map((r) => r.value.split(' ')[0])).toEqual(Array.from({ length: 300 }, (_, i) => `a${i}`))
    // Equal times: the first topic before the second.
    const at10 = seen.filter((r) => r.timestamp === T + 10_000).map((r) => r.value.split(' ')[0])
    expect(at10).toEqual(['a10', 'b10'])
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groupId)
    // A topic that does not exist reads as empty, and is not created.
    const missing = uniqueName('log-missing')
    expect(await readLog({ kafka, topics: [missing], fromMs: T, toMs: T + 1000, groupId: uniqueName('log-reader') }, () => undefined)).toEqual({ records: 0, partitions: 0, pauses: 0, cut: [] })
    expect(await admin.listTopics()).not.toContain(missing)
    await admin.disconnect()
  })

  it('reads to the end of a partition whose last offsets are transaction markers or aborted records, which kafkajs hands no reader', async () => {
    const committed = uniqueName('log-txn-committed')
    const aborted = uniqueName('log-txn-aborted')
    const { kafka, admin, producer } = await withTopics([committed, aborted], 1)
    await producer.send({ topic: committed, messages: [{ value: 'a0', timestamp: String(T) }] })
    await producer.send({ topic: aborted, messages: [{ value: 'b0', timestamp: String(T) }] })
    await producer.disconnect()
    // Another client's transactions: the committed one ends its topic in a commit marker, the aborted one
    // ends the other in an aborted record and its marker.
    const writer = kafka.producer({ transactionalId: uniqueName('log-txn'), idempotent: true, maxInFlightRequests: 1 })
    await writer.connect()
    const commit = await writer.transaction()
    await commit.send({ topic: committed, messages: [{ value: 'a1', timestamp: String(T + 1000) }] })
    await commit.commit()
    const abort = await writer.transaction()
    await abort.send({ topic: aborted, messages: [{ value: 'b1', timestamp: String(T + 1000) }] })
    await abort.abort()
    await writer.disconnect()
    // The coordinator writes the markers after the commit or abort returns: the ends (read committed) then pass them.
    const highs = async () => [...(await admin.fetchTopicOffsets(committed)), ...(await admin.fetchTopicOffsets(aborted))].map((p) => p.high)
    await waitFor(async () => ((await highs()).join() === '3,3' ? true : undefined), { what: 'both transactions ended by their markers' })

    const seen: string[] = []
    // The idle timeout is only how long a read that never ends takes to say so: reaching the ends, it is not met.
    const stats = await readLog({ kafka, topics: [committed, aborted], fromMs: T, toMs: T + 10_000, groupId: uniqueName('log-reader'), idleTimeoutMs: 20_000 }, (r) => seen.push(r.value))
    expect(seen).toEqual(['a0', 'b0', 'a1'])
    expect(stats.records).toBe(3)
    await admin.disconnect()
  })

  it('reads the topics that exist when another is missing (a deployment that never took a decision), creating none', async () => {
    const alerts = uniqueName('log-alerts')
    const missing = uniqueName('log-commands-missing')
    const { kafka, admin, producer } = await withTopics([alerts])
    await producer.send({ topic: alerts, messages: [0, 1, 2].map((i) => ({ partition: i, value: `a${i}`, timestamp: String(T + i * 1000) })) })
    await producer.disconnect()

    const seen: string[] = []
    const stats = await readLog({ kafka, topics: [alerts, missing], fromMs: T, toMs: T + 10_000, groupId: uniqueName('log-reader'), idleTimeoutMs: 10_000 }, (r) => seen.push(r.value))
    expect(seen).toEqual(['a0', 'a1', 'a2'])
    expect(stats).toMatchObject({ records: 3, partitions: 3 })
    expect(await admin.listTopics()).not.toContain(missing)
    // From before 1970, as a warm-up can make it: from the start of the log, not Kafka's "latest" (-1).
    for (const fromMs of [-1, -5, -86_400_000]) {
      const early: string[] = []
      await readLog({ kafka, topics: [alerts], fromMs, toMs: T + 10_000, groupId: uniqueName('log-reader'), idleTimeoutMs: 10_000 }, (r) => early.push(r.value))
      expect(early, String(fromMs)).toEqual(['a0', 'a1', 'a2'])
    }
  })

  it('names each partition whose retained log starts after the read does, with the time of its first record', async () => {
    const topic = uniqueName('log-retained')
    const { kafka, admin, producer } = await withTopics([topic], 4)
    // Partitions 0 to 2: records every 10 s from T; retention (deleteTopicRecords moves the log start as it does)
    // removed the first 5 of partition 0 and all 3 of partition 1. Partition 2 lost none, partition 3 holds none.
    const at = (i: number) => String(T + i * 10_000)
    await producer.send({ topic, messages: [
      ...Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `p0-${i}`, timestamp: at(i) })),
      ...Array.from({ length: 3 }, (_, i) => ({ partition: 1, value: `p1-${i}`, timestamp: at(i) })),
      ...Array.from({ length: 10 }, (_, i) => ({ partition: 2, value: `p2-${i}`, timestamp: at(i) })),
    ] })
    await producer.disconnect()
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '5' }, { partition: 1, offset: '3' }] })
    const read = async (fromMs: number, toMs: number) => {
      const seen: string[] = []
      const stats = await readLog({ kafka, topics: [topic], fromMs, toMs, groupId: uniqueName('log-reader'), idleTimeoutMs: 20_000 }, (r) => seen.push(r.value))
      return { seen, cut: stats.cut }
    }
    const p0 = { topic, partition: 0, logStartOffset: '5', earliest: T + 50_000 }
    const p1 = { topic, partition: 1, logStartOffset: '3', earliest: null }
    // From before what is retained: partition 0 starts at its 6th record, partition 1 holds none.
    const whole = await read(T - 3_600_000, T + 100_000)
    expect(whole.cut).toEqual([p0, p1])
    expect(whole.seen.filter((v) => v.startsWith('p0'))).toEqual(['p0-5', 'p0-6', 'p0-7', 'p0-8', 'p0-9'])
    // A range that ends before partition 0's first retained record: its time is read all the same, and nothing of it handed on.
    const before = await read(T - 3_600_000, T + 20_000)
    expect(before.cut).toEqual([p0, p1])
    expect(before.seen).toEqual(['p2-0', 'p2-1', 'p2-2'])
    // From after partition 0's log start: what it lost lies before the read.
    expect((await read(T + 60_000, T + 100_000)).cut).toEqual([p1])
    await admin.disconnect()
  })

  it('stops when its signal aborts (Ctrl-C), rejecting with the reason, and deletes its group', async () => {
    const alerts = uniqueName('log-aborted')
    const { kafka, admin, producer } = await withTopics([alerts])
    await producer.send({ topic: alerts, messages: Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: `a${i}`, timestamp: String(T + i * 1000) })) })
    await producer.disconnect()

    const interruption = new AbortController()
    const reason = new Error('interrupted')
    const groupId = uniqueName('log-reader')
    const read = readLog({ kafka, topics: [alerts], fromMs: T, toMs: T + 60_000, groupId, signal: interruption.signal }, () => interruption.abort(reason))
    await expect(read).rejects.toBe(reason)
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain(groupId)
  })

  it('fetches nothing of a partition with no record in the range, however long its history', async () => {
    const topic = uniqueName('replay-idle')
    const { kafka, admin, producer } = await withTopics([topic])
    const pad = 'x'.repeat(16 * 1024)
    // Partitions 1 and 2: 600 records each (~9.6 MiB) a month before the range; partition 0: 600 in it.
    for (const p of [1, 2]) for (let i = 0; i < 600; i += 30) await producer.send({ topic, messages: Array.from({ length: 30 }, (_, j) => ({ partition: p, value: pad, timestamp: String(T - 30 * 86_400_000 + (i + j) * 1000) })) })
    for (let i = 0; i < 600; i += 30) await producer.send({ topic, messages: Array.from({ length: 30 }, (_, j) => ({ partition: 0, value: 'in-range' + pad, timestamp: String(T + (i + j) * 1000) })) })
    await producer.disconnect()

    let fetchedOutside = 0
    const spy = new Proxy(kafka, { get: (t, k) => k === 'consumer' ? (cfg: Parameters<Kafka['consumer']>[0]) => {
      const c = t.consumer(cfg)
      c.on(c.events.END_BATCH_PROCESS, (e) => { if (e.payload.partition !== 0) fetchedOutside += e.payload.batchSize })
      return c
    } : Reflect.get(t, k) }) as Kafka
    const seen: string[] = []
    // Live traffic on the idle partitions while the range is read: paused, they fetch none of it either.
    const live = kafka.producer()
    await live.connect()
    let sent: Promise<unknown> | undefined
    const stats = await readLog({ kafka: spy, topics: [topic], fromMs: T, toMs: T + 3_600_000, groupId: uniqueName('replay-idle-reader'), maxBufferedPerPartition: 100 }, (r) => {
      seen.push(r.value)
      if (seen.length === 50) sent = live.send({ topic, messages: [1, 2].map((partition) => ({ partition, value: 'live' })) })
      const until = Date.now() + 2
      while (Date.now() < until) { /* an engine applying it */ }
    })
    await sent
    await live.disconnect()
    expect(stats).toMatchObject({ records: 600, partitions: 1 })
    expect(seen.length).toBe(600)
    expect(fetchedOutside).toBe(0)
    await admin.disconnect()
  }, 120_000)

  it('reads every record of the range once when its group rebalances mid-read', async () => {
    const topic = uniqueName('replay-rejoin')
    const { kafka, admin, producer } = await withTopics([topic], 1)
    const n = 1000
    const pad = 'x'.repeat(16 * 1024)
    for (let i = 0; i < n; i += 50) await producer.send({ topic, messages: Array.from({ length: 50 }, (_, j) => ({ partition: 0, value: `r${i + j} ${pad}`, timestamp: String(T + (i + j) * 10) })) })
    // A record after the range: the range ends at its offset.
    await producer.send({ topic, messages: [{ partition: 0, value: 'after', timestamp: String(T + 3_600_000) }] })
    const groupId = uniqueName('replay-rejoin-reader')
    // Another member joins the reader's group and leaves: the reader rejoins twice, and live traffic goes on.
    const rebalance = async () => {
      const other = kafka.consumer({ groupId })
      await other.connect()
      await other.subscribe({ topics: [topic] })
      const joined = new Promise<void>((resolve) => other.on(other.events.GROUP_JOIN, () => resolve()))
      await other.run({ autoCommit: false, eachBatch: async () => { await new Promise((r) => setTimeout(r, 10)) } })
      await joined
      await other.disconnect()
      await new Promise((r) => setTimeout(r, 3000))
      await producer.send({ topic, messages: [{ partition: 0, value: 'live', timestamp: String(Date.now()) }] })
    }
    const seen: string[] = []
    let rebalanced: Promise<void> | undefined
    const stats = await readLog({ kafka, topics: [topic], fromMs: T, toMs: T + n * 10, groupId, maxBufferedPerPartition: 50, idleTimeoutMs: 30_000 }, (r) => {
      seen.push(r.value.slice(0, r.value.indexOf(' ')))
      if (seen.length === 100) rebalanced = rebalance()
      const until = Date.now() + 8
      while (Date.now() < until) { /* a slow engine */ }
    })
    await rebalanced
    await producer.disconnect()
    await admin.disconnect()
    // Before 2026-12-06: 420 of 1,500 read, no error (or, subscribed from the beginning, 1,920, some twice).
    expect(stats.records).toBe(n)
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => `r${i}`))
  }, 120_000)
})
