import { randomBytes } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { onMessagelessFetch } from '@opsreview/kafka/messageless-fetches'
import { untilAborted } from '@opsreview/lifecycle/abort'
import type { Logger } from 'pino'
import { kafkaUnavailable, ReadIncompleteError, readerStopped, type PendingPartition } from './errors.ts'
import { parseDeadLetter, type DeadLetter } from './record.ts'

export interface ReadDeadLettersOptions {
  kafka: Kafka
  topics: readonly string[]
  /** Start each partition at the first record written at or after this time (epoch ms); all when unset. */
  sinceMs?: number | undefined
  logger: Logger
  /** Give up when the end offsets are not reached by then (60 s). */
  timeoutMs?: number
  /**
   * Called once per record read, in each partition's offset order. A topic can hold millions of letters,
   * so a caller that only counts them counts here and keeps none (`keep`). An error it (or `keep`) throws
   * ends the read with that error, its reader disconnected and its group deleted.
   */
  onLetter?: (dl: DeadLetter) => void
  /** Which letters the result holds (all when unset), sorted by topic, partition and offset. */
  keep?: (dl: DeadLetter) => boolean
  /**
   * Stops the read, rejecting with the signal's reason once the reader has disconnected and its group is
   * deleted: the operator's Ctrl-C, which killing the process left a group behind for.
   */
  signal?: AbortSignal | undefined
}

export interface TopicRead {
  topic: string
  exists: boolean
  /** Records read from it (before any filter but the start time). */
  read: number
}

export interface ReadDeadLettersResult {
  deadLetters: DeadLetter[]
  topics: TopicRead[]
}

interface Range { topic: string; partition: number; start: bigint; end: bigint; next: bigint }

const rangeId = (topic: string, partition: number) => `${topic}\u0000${partition}`

/**
 * Reads the dead-letter topics from `sinceMs` (Kafka's offsets-by-timestamp) up to the end offsets taken
 * before the first fetch, so a topic that keeps growing cannot keep the command running. The consumer has
 * a group of its own and never commits: reading changes nothing any service sees. A topic that does not
 * exist is reported, never created.
 */
export async function readDeadLetters(opts: ReadDeadLettersOptions): Promise<ReadDeadLettersResult> {
  const { kafka, logger, timeoutMs = 60_000, signal } = opts
  const topics = [...new Set(opts.topics)]
  const admin = kafka.admin()
  const ranges = new Map<string, Range>()
  const reads = new Map<string, TopicRead>(topics.map((t) => [t, { topic: t, exists: false, read: 0 }]))
  try {
    await untilAborted(signal, admin.connect())
    const existing = new Set(await untilAborted(signal, admin.listTopics()))
    for (const topic of topics) {
      if (!existing.has(topic)) continue
      reads.get(topic)!.exists = true
      const ends = await untilAborted(signal, admin.fetchTopicOffsets(topic))
      const starts = opts.sinceMs === undefined ? undefined : await untilAborted(signal, admin.fetchTopicOffsetsByTimestamp(topic, opts.sinceMs))
      for (const p of ends) {
        const end = BigInt(p.high)
        const fromTime = starts?.find((s) => s.partition === p.partition)?.offset
        // Retention may have removed records since the by-timestamp answer: never start below the low mark.
        const low = BigInt(p.low)
        const start = fromTime === undefined ? low : BigInt(fromTime) > low ? BigInt(fromTime) : low
        if (start < end) ranges.set(rangeId(topic, p.partition), { topic, partition: p.partition, start, end, next: start })
      }
    }
  } catch (err) {
    throw kafkaUnavailable(err)
  } finally {
    await admin.disconnect().catch(() => undefined)
  }

  const deadLetters: DeadLetter[] = []
  const { keep = () => true, onLetter } = opts
  const take = (dl: DeadLetter) => {
    onLetter?.(dl)
    if (keep(dl)) deadLetters.push(dl)
  }
  if (ranges.size > 0) await consumeRanges(kafka, ranges, take, reads, logger, timeoutMs, signal)
  deadLetters.sort((a, b) =>
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1))
  return { deadLetters, topics: [...reads.values()] }
}

async function consumeRanges(kafka: Kafka, ranges: Map<string, Range>, take: (dl: DeadLetter) => void, reads: Map<string, TopicRead>, logger: Logger, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  const groupId = `opsreview-dead-letters-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 })
  const pending = new Set([...ranges.values()].filter((r) => r.next < r.end).map((r) => rangeId(r.topic, r.partition)))
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  try {
    await untilAborted(signal, consumer.connect())
    await untilAborted(signal, consumer.subscribe({ topics: [...new Set([...ranges.values()].map((r) => r.topic))], fromBeginning: true }))
    await new Promise<void>((resolve, reject) => {
      // Rejected, the finally below disconnects the reader and deletes its group before the caller hears of it.
      let failed = false
      const fail = (err: unknown) => { failed = true; reject(err as Error) }
      onAbort = () => fail(signal!.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
      timer = setTimeout(() => {
        const left: PendingPartition[] = [...pending].map((id) => ranges.get(id)!).map((r) => ({ topic: r.topic, partition: r.partition, next: String(r.next), end: String(r.end) }))
        fail(new ReadIncompleteError(`dead-letter topics not read to their end offsets within ${timeoutMs} ms: ${left.map((p) => `${p.topic}/${p.partition} at ${p.next} of ${p.end}`).join(', ')}`, left))
      }, timeoutMs)
      // A transaction's commit or abort marker takes an offset of its own, which kafkajs hands no reader: the
      // last offset read is the batch's, markers and aborted records included, not its last message's. Until
      // 2026-12-07 a topic ending in a marker read as not reaching its end offset (the timeout, exit 69).
      const reached = (range: Range, lastOffset: string) => {
        const after = BigInt(lastOffset) + 1n
        if (after > range.next) range.next = after
        if (range.next >= range.end && pending.delete(rangeId(range.topic, range.partition)) && pending.size === 0) resolve()
      }
      // A join the group refuses for good (GROUP_AUTHORIZATION_FAILED, INCONSISTENT_GROUP_PROTOCOL) comes only
      // as a crash kafkajs does not restart after, run() resolved long before: until 2026-12-07 the read waited
      // out its timeout and failed as ReadIncompleteError (retriable, exit 69), Kafka's answer unsaid. A crash
      // kafkajs restarts after (Kafka unavailable a while) is waited for: the next fetches skip what was read.
      consumer.on(consumer.events.CRASH, ({ payload }) => { if (!payload.restart) fail(readerStopped(payload.error, groupId)) })
      onMessagelessFetch(consumer, (topic, partition, lastOffset) => {
        const range = ranges.get(rangeId(topic, partition))
        if (range) reached(range, lastOffset)
      })
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const range = ranges.get(rangeId(batch.topic, batch.partition))
          if (!range || failed) return
          for (const m of batch.messages) {
            const offset = BigInt(m.offset)
            // Below `next`: read already (a partition's records come in offset order; a fetch may repeat some).
            if (offset < range.next || offset >= range.end) continue
            // The caller's error ends the read. Thrown to kafkajs, it was retried, then the consumer restarted
            // (its seeks lost), and the read failed after its timeout as ReadIncompleteError.
            try {
              take(parseDeadLetter({ topic: batch.topic, partition: batch.partition, offset: m.offset, timestamp: m.timestamp, key: m.key, value: m.value, headers: m.headers }))
            } catch (err) {
              fail(err)
              return
            }
            reads.get(batch.topic)!.read++
            range.next = offset + 1n
          }
          reached(range, batch.lastOffset())
        },
      }).catch(reject)
      // Seeks are kept until the group assigns the partitions; no commit, so no group state outlives us.
      for (const r of ranges.values()) consumer.seek({ topic: r.topic, partition: r.partition, offset: String(r.start) })
    })
  } catch (err) {
    throw kafkaUnavailable(err)
  } finally {
    clearTimeout(timer)
    if (onAbort) signal?.removeEventListener('abort', onAbort)
    await consumer.disconnect().catch((err: unknown) => logger.warn({ err }, 'dead-letter reader did not disconnect cleanly'))
    await deleteGroup(kafka, groupId, logger)
  }
}

// The group never committed, so the broker forgets it soon anyway; deleting it keeps group listings clean.
async function deleteGroup(kafka: Kafka, groupId: string, logger: Logger): Promise<void> {
  const admin = kafka.admin()
  try {
    await admin.connect()
    await admin.deleteGroups([groupId])
  } catch (err) {
    logger.debug({ err, groupId }, 'reader group not deleted')
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}
