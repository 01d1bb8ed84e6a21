import type { Admin, Consumer, Kafka } from 'kafkajs'
import { isKafkaUnavailable } from '@opsreview/kafka/errors'
import { onMessagelessFetch } from '@opsreview/kafka/messageless-fetches'
import { ReplayError } from './errors.ts'

/** One record of the retained log, as the replay hands it on. */
export interface LogRecord {
  topic: string
  partition: number
  offset: string
  /** The record's Kafka timestamp: when the receiver (or the review) published it. */
  timestamp: number
  value: string
}

export interface ReadLogOptions {
  kafka: Kafka
  topics: readonly string[]
  /** Records with a timestamp in [fromMs, toMs] are read; the offsets come from the broker's time index. */
  fromMs: number
  toMs: number
  /** A throwaway group, deleted afterwards; nothing is ever committed. */
  groupId: string
  /** Records buffered per partition before it is paused: memory stays bounded whatever the range. */
  maxBufferedPerPartition?: number
  /** Gives up when no record arrives for this long while some are still expected. */
  idleTimeoutMs?: number
  /** Stops reading when aborted, rejecting with its reason; the group is deleted all the same. */
  signal?: AbortSignal
}

export interface ReadLogStats {
  records: number
  partitions: number
  /** Times a partition was paused because it ran ahead of the others: the bound on memory at work. */
  pauses: number
  /**
   * The partitions whose retained log starts after `fromMs`: retention removed their records before
   * `logStartOffset`, so what was received before `earliest` (the first record still there; null when none
   * is) cannot be read. Empty when the log reaches back to `fromMs` everywhere (or never lost a record).
   */
  cut: CutPartition[]
}

/** A partition whose earliest retained record is later than the start of the read. */
export interface CutPartition {
  topic: string
  partition: number
  /** The partition's log start offset: that many records were removed (by retention) before it. */
  logStartOffset: string
  /** The Kafka timestamp of the first record retained, epoch ms; null when the partition retains none. */
  earliest: number | null
}

interface Range {
  topic: string
  partition: number
  start: bigint
  end: bigint
  /**
   * Set when the read starts at the partition's log start and records were removed before it: the first
   * record read there is the earliest the log still holds (`earliest` of CutPartition).
   */
  cut?: CutPartition
  /** Read only for `cut`: its one record, at the log start, lies after the range (none is handed on). */
  probe?: boolean
}

const keyOf = (topic: string, partition: number) => `${topic}/${partition}`

/**
 * The offset range of each partition whose records were published within [fromMs, toMs]: from the first
 * record at or after `fromMs` to the first after `toMs` (the end of the log when none is).
 */
async function rangesOf(admin: Admin, topics: readonly string[], fromMs: number, toMs: number): Promise<Range[]> {
  const out: Range[] = []
  // A topic that does not exist has nothing to replay (a deployment that never took a decision has no
  // commands topic); asking it for offsets could create it.
  const existing = new Set(await admin.listTopics())
  for (const topic of topics) {
    if (!existing.has(topic)) continue
    const offsets = await admin.fetchTopicOffsets(topic)
    const high = new Map(offsets.map((p) => [p.partition, BigInt(p.high)]))
    const low = new Map(offsets.map((p) => [p.partition, BigInt(p.low)]))
    // kafkajs answers -1 (or the high watermark) for a partition with no record that late.
    const at = async (ms: number) => new Map((await admin.fetchTopicOffsetsByTimestamp(topic, ms)).map((p) => [p.partition, BigInt(p.offset) < 0n ? high.get(p.partition)! : BigInt(p.offset)]))
    // Kafka reads a negative time as a request for a special offset (-1 the latest, -2 the earliest): a start
    // before 1970 (`--from 1970-01-07T23:59:59.999Z` less a 7-day warm-up is -1) read nothing at all.
    const starts = await at(Math.max(0, fromMs))
    const ends = await at(toMs + 1)
    for (const [partition, h] of high) {
      const range: Range = { topic, partition, start: starts.get(partition) ?? h, end: ends.get(partition) ?? h }
      // The first record at or after `fromMs` is the first the partition still holds, and some before it are
      // gone: the log may have held records of the range (or its warm-up) that retention removed. Which time
      // the log now starts at is the timestamp of that first record, read with the rest (or alone: a probe,
      // when the range holds no record). Kafka does not say when the removed records were written.
      const l = low.get(partition) ?? 0n
      if (l > 0n && range.start === l) {
        range.cut = { topic, partition, logStartOffset: String(l), earliest: null }
        if (range.end === range.start && l < h) Object.assign(range, { end: l + 1n, probe: true })
      }
      out.push(range)
    }
  }
  return out
}

/** Kafka did not answer (isKafkaUnavailable); an error kafkajs never retries (authentication refused, say) is left as it is. */
function unavailable(err: unknown): ReplayError | undefined {
  if (!isKafkaUnavailable(err)) return undefined
  return new ReplayError('UNAVAILABLE', `Kafka is unavailable: ${String((err as Error).message)}`, { cause: err })
}

/**
 * Reads the records of `topics` published within [fromMs, toMs] and hands them to `onRecord` merged across
 * every partition in timestamp order (the order the live correlator received them in, partition by
 * partition), ties by topic order then partition. A partition that runs ahead of the others is paused
 * until they catch up, so at most `maxBufferedPerPartition` records (plus one fetch) wait per partition.
 * Reads with a throwaway consumer group that seeks to the start offsets, never commits, and is deleted.
 */
export async function readLog(o: ReadLogOptions, onRecord: (r: LogRecord) => void): Promise<ReadLogStats> {
  o.signal?.throwIfAborted()
  // Listened to from the start: an abort during a connect, a subscribe or the offsets look-up (each of which
  // kafkajs may retry for a while) is acted on at once, not when the step is over.
  let stop!: () => void
  const aborted = new Promise<never>((_, reject) => { stop = () => reject(o.signal!.reason) })
  aborted.catch(() => undefined)
  o.signal?.addEventListener('abort', stop)
  const step = <T>(p: Promise<T>): Promise<T> => (o.signal ? Promise.race([p, aborted]) : p)
  const admin = o.kafka.admin()
  let consumer: Consumer | undefined
  try {
    await step(admin.connect())
    const ranges = (await step(rangesOf(admin, o.topics, o.fromMs, o.toMs)))
    const wanted = ranges.filter((r) => r.end > r.start)
    const cut = ranges.flatMap((r) => (r.cut ? [r.cut] : [])).sort((a, b) => o.topics.indexOf(a.topic) - o.topics.indexOf(b.topic) || a.partition - b.partition)
    const stats: ReadLogStats = { records: 0, partitions: wanted.filter((r) => !r.probe).length, pauses: 0, cut }
    if (wanted.length === 0) return stats
    const topicRank = new Map(o.topics.map((t, i) => [t, i]))
    const maxBuffered = o.maxBufferedPerPartition ?? 5000

    /** `next`: the offset the partition is read from next; a record before it was read already. */
    interface Lane { range: Range; buffer: LogRecord[]; head: number; received: boolean; paused: boolean; next: bigint }
    const lanes = new Map(wanted.map((range) => [keyOf(range.topic, range.partition), { range, buffer: [], head: 0, received: false, paused: false, next: range.start } as Lane]))
    const size = (l: Lane) => l.buffer.length - l.head
    const exhausted = (l: Lane) => l.received && size(l) === 0

    consumer = o.kafka.consumer({ groupId: o.groupId, maxWaitTimeInMs: 100, maxBytesPerPartition: 1024 * 1024, maxBytes: 16 * 1024 * 1024, retry: { retries: 5 } })
    const c = consumer
    const pause = (l: Lane) => { if (!l.paused) { l.paused = true; c.pause([{ topic: l.range.topic, partitions: [l.range.partition] }]) } }
    const resume = (l: Lane) => { if (l.paused && !l.received) { l.paused = false; c.resume([{ topic: l.range.topic, partitions: [l.range.partition] }]) } }

    let done!: () => void
    let failed!: (err: unknown) => void
    const finished = new Promise<void>((resolve, reject) => { done = resolve; failed = reject })
    // A monotonic clock: on the wall clock a step back (NTP) let a read that stopped getting records wait past its idle timeout.
    let lastProgress = performance.now()

    /** Hands on records while every partition still expecting some has one waiting: the merge is then exact. */
    const drain = () => {
      for (;;) {
        let next: Lane | undefined
        let blocked = false
        for (const l of lanes.values()) {
          if (exhausted(l)) continue
          if (size(l) === 0) { blocked = true; break }
          const h = l.buffer[l.head]!
          const n = next?.buffer[next.head]
          if (!n || h.timestamp < n.timestamp || (h.timestamp === n.timestamp && (topicRank.get(h.topic)! - topicRank.get(n.topic)! || h.partition - n.partition) < 0)) next = l
        }
        if (blocked) break
        if (!next) { done(); return }
        const r = next.buffer[next.head]!
        next.buffer[next.head++] = undefined as unknown as LogRecord
        if (next.head > 1024 && next.head * 2 > next.buffer.length) { next.buffer = next.buffer.slice(next.head); next.head = 0 }
        stats.records++
        onRecord(r)
      }
      for (const l of lanes.values()) if (size(l) < maxBuffered / 2) resume(l)
    }

    /** Whether the lane has read its range once its fetches reached `lastOffset` (then it is paused for good). */
    const reached = (l: Lane, lastOffset: string): boolean => {
      if (BigInt(lastOffset) + 1n < l.range.end) return false
      l.received = true
      pause(l)
      return true
    }
    // Until 2026-12-08 a range ending in a commit marker (another client's transaction) was never read to its
    // end, and the read failed after its idle timeout (exit 69).
    onMessagelessFetch(c, (topic, partition, lastOffset) => {
      const lane = lanes.get(keyOf(topic, partition))
      if (!lane || lane.received || !reached(lane, lastOffset)) return
      lastProgress = performance.now()
      drain()
    })
    c.on(c.events.CRASH, ({ payload }) => { failed(new ReplayError('UNAVAILABLE', `reading the log failed: ${payload.error.message}`, { cause: payload.error })) })
    // The first join is `run`'s, and the seeks below follow it. After a later one (a rebalance: the group
    // is this reader's alone, but a session that timed out rejoins) kafkajs reads each partition afresh from
    // where nothing committed puts it, its end: each unfinished one goes on from where it was (until
    // 2026-12-06 the rest of its range was lost without a word, or, subscribed from the beginning, read twice).
    let joins = 0
    c.on(c.events.GROUP_JOIN, () => {
      if (joins++ === 0) return
      for (const l of lanes.values()) if (!l.received) c.seek({ topic: l.range.topic, partition: l.range.partition, offset: String(l.next) })
    })
    await step(c.connect())
    // Only the topics with records to read: subscribing to a topic that does not exist fails the consumer.
    // From their ends: the partitions with records in the range are sought to them below, and the others
    // are never read (from the beginning, until 2026-12-06, each was fetched whole, up to the retention's
    // 30 days, and thrown away).
    const subscribed = new Set(wanted.map((r) => r.topic))
    await step(c.subscribe({ topics: [...subscribed], fromBeginning: false }))
    await step(c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset }) => {
        // Resolving only moves the fetch position (autoCommit is off): nothing reaches the broker. The batch's
        // last offset, not its last message's: a transaction's marker takes an offset of its own, which kafkajs
        // hands no reader.
        const lastOffset = batch.lastOffset()
        resolveOffset(lastOffset)
        const lane = lanes.get(keyOf(batch.topic, batch.partition))
        if (!lane || lane.received) return
        for (const m of batch.messages) {
          const offset = BigInt(m.offset)
          if (offset < lane.next) continue
          const timestamp = Number(m.timestamp)
          // The first record at or past the log start: where the retained log begins (a probe's may lie past its
          // one-offset range, when the record at the log start is a transaction marker).
          if (lane.range.cut && lane.range.cut.earliest === null) lane.range.cut.earliest = timestamp
          if (offset >= lane.range.end) continue
          lane.next = offset + 1n
          // CreateTime can run backwards within a partition; the offsets bound the range, the times filter it.
          if (!lane.range.probe && timestamp >= o.fromMs && timestamp <= o.toMs) lane.buffer.push({ topic: batch.topic, partition: batch.partition, offset: m.offset, timestamp, value: m.value?.toString() ?? '' })
        }
        if (!reached(lane, lastOffset) && size(lane) >= maxBuffered && !lane.paused) { stats.pauses++; pause(lane) }
        lastProgress = performance.now()
        drain()
      },
    }))
    for (const l of lanes.values()) c.seek({ topic: l.range.topic, partition: l.range.partition, offset: String(l.range.start) })
    for (const r of ranges) if (subscribed.has(r.topic) && !lanes.has(keyOf(r.topic, r.partition))) c.pause([{ topic: r.topic, partitions: [r.partition] }])
    const idleTimeoutMs = o.idleTimeoutMs ?? 60_000
    const watchdog = setInterval(() => {
      if (performance.now() - lastProgress > idleTimeoutMs) failed(new ReplayError('UNAVAILABLE', `no record arrived for ${idleTimeoutMs} ms while ${[...lanes.values()].filter((l) => !l.received).length} partition(s) were still being read`))
    }, 1000)
    try {
      await step(finished)
    } finally {
      clearInterval(watchdog)
    }
    return stats
  } catch (err) {
    throw unavailable(err) ?? err
  } finally {
    o.signal?.removeEventListener('abort', stop)
    await consumer?.disconnect().catch(() => undefined)
    // The group never committed anything; deleting it leaves no trace on the broker.
    if (consumer) await admin.deleteGroups([o.groupId]).catch(() => undefined)
    await admin.disconnect().catch(() => undefined)
  }
}
