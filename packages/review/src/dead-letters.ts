import { settleWithin } from '@opsreview/lifecycle/deadline'
import { DeadLetterCountError } from './errors.ts'

/** The part of a kafkajs `Admin` the count needs. */
export interface OffsetsAdmin {
  listTopics(): Promise<string[]>
  fetchTopicOffsetsByTimestamp(topic: string, timestamp?: number): Promise<{ partition: number; offset: string }[]>
  fetchTopicOffsets(topic: string): Promise<{ partition: number; offset: string; high: string; low: string }[]>
}

export interface DeadLetterTopicCount {
  topic: string
  /** Records written to the topic in the window. */
  count: number
  /** False when the topic does not exist (yet): nothing was dead-lettered there, the count is 0. */
  exists: boolean
}

export interface DeadLetterSummary {
  /** The start of the window, and when the count was taken. */
  since: string
  at: string
  windowMs: number
  total: number
  topics: DeadLetterTopicCount[]
}

/**
 * Counts the records each dead-letter topic received since `nowMs - windowMs`: per partition, the end
 * offset minus the first offset whose timestamp is in the window (Kafka's time index, so nothing is
 * read). Topics that do not exist count 0 and are never asked for, so the count cannot create them.
 */
export async function countDeadLetters(admin: OffsetsAdmin, topics: readonly string[], nowMs: number, windowMs: number): Promise<DeadLetterSummary> {
  const since = nowMs - windowMs
  const existing = new Set(await admin.listTopics())
  const counts = await Promise.all(topics.map(async (topic): Promise<DeadLetterTopicCount> => {
    if (!existing.has(topic)) return { topic, count: 0, exists: false }
    // First the offsets at the window's start, then the ends: a record written between the two calls is
    // counted, never one that was not written (the first call returns the end where no record is newer).
    const startOffsets = await admin.fetchTopicOffsetsByTimestamp(topic, since)
    const ends = await admin.fetchTopicOffsets(topic)
    let count = 0
    for (const end of ends) {
      const start = startOffsets.find((s) => s.partition === end.partition)
      const from = Math.max(Number(start?.offset ?? end.high), Number(end.low))
      count += Math.max(0, Number(end.high) - from)
    }
    return { topic, count, exists: true }
  }))
  return {
    since: new Date(since).toISOString(), at: new Date(nowMs).toISOString(), windowMs,
    total: counts.reduce((sum, c) => sum + c.count, 0), topics: counts,
  }
}

export interface CachedCount {
  summary: DeadLetterSummary
  /** True when Kafka did not answer this time and the summary is the last one that it did. */
  stale: boolean
}

/**
 * The count, taken at most every `ttlMs` and by one caller at a time, however many dashboards ask.
 * When Kafka fails or is slower than `timeoutMs`, the last good count is served as stale; with none,
 * the error (retriable) goes to the caller.
 */
export function cachedDeadLetterCount(take: (nowMs: number) => Promise<DeadLetterSummary>, opts: { ttlMs: number; timeoutMs: number; clock: () => number }): () => Promise<CachedCount> {
  let last: { summary: DeadLetterSummary; takenAt: number } | undefined
  let pending: Promise<CachedCount> | undefined
  const refresh = async (): Promise<CachedCount> => {
    const now = opts.clock()
    try {
      const summary = await settleWithin(take(now), opts.timeoutMs, () => new DeadLetterCountError(`Kafka did not answer within ${opts.timeoutMs} ms`))
      last = { summary, takenAt: now }
      return { summary, stale: false }
    } catch (err) {
      if (last) return { summary: last.summary, stale: true }
      throw err instanceof DeadLetterCountError ? err : new DeadLetterCountError('Kafka could not count the dead letters', { cause: err })
    }
  }
  return () => {
    if (last && opts.clock() - last.takenAt < opts.ttlMs) return Promise.resolve({ summary: last.summary, stale: false })
    pending ??= refresh().finally(() => { pending = undefined })
    return pending
  }
}
