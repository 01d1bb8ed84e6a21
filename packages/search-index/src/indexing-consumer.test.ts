import type { Client } from '@elastic/elasticsearch'
import { KafkaJSProtocolError, type Consumer, type EachBatchPayload } from 'kafkajs'
import { captureLogs } from '@opsreview/testing'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import type { CommitOffset } from './durable-offsets.ts'
import type { BulkPipelineOptions } from './bulk-pipeline.ts'
import { IndexingConsumer } from './indexing-consumer.ts'

// What kafkajs throws when the group's coordinator moved (a broker restart): built from the broker's error code.
const notCoordinator = () => new KafkaJSProtocolError(Object.assign(new Error('This is not the correct coordinator for this group'), { type: 'NOT_COORDINATOR_FOR_GROUP', code: 16, retriable: true }))

/** A kafkajs consumer as far as IndexingConsumer uses it; commits fail while `failing()` says so. */
function fakeConsumer(failing: (attempt: number) => boolean) {
  const committed: CommitOffset[][] = []
  const attemptsAt: number[] = []
  const consumer = {
    events: { GROUP_JOIN: 'consumer.group_join' },
    on: () => () => undefined,
    pause: () => undefined,
    disconnect: async () => undefined,
    commitOffsets: async (offsets: CommitOffset[]) => {
      attemptsAt.push(Date.now())
      if (failing(attemptsAt.length)) throw notCoordinator()
      committed.push(offsets)
    },
  }
  return { consumer: consumer as unknown as Consumer, committed, attemptsAt }
}

/** Elasticsearch taking every document at once, except those `held` names, which it never answers. */
function elasticsearch(held: (id: string) => boolean = () => false) {
  const bulk = async ({ operations }: { operations: unknown[] }) => {
    const ids = operations.filter((_, i) => i % 2 === 0).map((a) => (a as { index: { _id: string } }).index._id)
    if (ids.some(held)) await new Promise(() => undefined)
    return { errors: false, items: [] }
  }
  return { bulk } as unknown as Client
}

/** One partition's records, as kafkajs hands them to `eachBatch`. */
function batchOf(topic: string, partition: number, offsets: number[]): EachBatchPayload {
  const messages = offsets.map((o) => ({ offset: String(o), key: null, value: Buffer.from(`p${partition}-${o}`), timestamp: '0' }))
  return { batch: { topic, partition, messages }, resolveOffset: () => undefined, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false } as unknown as EachBatchPayload
}

function indexingConsumer(consumer: Consumer, es: Client = elasticsearch(), pipeline: Partial<BulkPipelineOptions> = {}) {
  const { logger, lines } = captureLogs()
  const processed: string[] = []
  const indexing = new IndexingConsumer({
    consumer, logger, commitIntervalMs: 10, commitRetryMaxMs: 40,
    documentFor: () => (value) => ({ index: 'alerts-test', id: value, document: '{}' }),
    progress: { fetched: () => undefined, processed: (topic, partition, offset) => { processed.push(`${topic}/${partition}/${offset}`) } },
    pipeline: { es, logger, deadLetter: async () => undefined, minBackoffMs: 1, maxBackoffMs: 2, ...pipeline },
  })
  return { indexing, lines, processed }
}

describe('IndexingConsumer close', () => {
  it('leaves the group when a lane broke, and throws what broke it after', async () => {
    const { consumer } = fakeConsumer(() => false)
    let disconnected = false
    consumer.disconnect = async () => { disconnected = true }
    const defect = new Error('a defect where the accepted documents are counted')
    const { indexing } = indexingConsumer(consumer, elasticsearch(), { onIndexed: () => { throw defect } })
    await indexing.handler(batchOf('alerts', 0, [0]))
    // Until 2026-12-06 it threw at the broken lane's drain, and never stopped the lanes, committed or left the group.
    await expect(indexing.close(['alerts'], 1_000)).rejects.toBe(defect)
    expect(disconnected).toBe(true)
  })

  it('throws what broke the lane, not the failure to leave the group that followed', async () => {
    const { consumer } = fakeConsumer(() => false)
    consumer.disconnect = async () => { throw new Error('the coordinator is gone') }
    const defect = new Error('a defect where the accepted documents are counted')
    const { indexing, lines } = indexingConsumer(consumer, elasticsearch(), { onIndexed: () => { throw defect } })
    await indexing.handler(batchOf('alerts', 0, [0]))
    await expect(indexing.close(['alerts'], 1_000)).rejects.toBe(defect)
    expect(lines.map((l) => l.msg)).toContain('leaving the group failed after a lane broke')
  })
})

describe('IndexingConsumer commits', () => {
  it('commits durable progress after a failed commit by itself, without waiting for new records', async () => {
    const kafka = fakeConsumer((attempt) => attempt === 1)
    const { indexing, lines, processed } = indexingConsumer(kafka.consumer)
    onTestFinished(() => indexing.close(['alerts']))
    await indexing.handler(batchOf('alerts', 0, [0, 1, 2]))
    // Nothing else arrives: before the fix, the offsets stayed uncommitted until the next durable batch.
    await expect.poll(() => kafka.committed, { timeout: 2_000 }).toEqual([[{ topic: 'alerts', partition: 0, offset: '3' }]])
    expect(kafka.attemptsAt).toHaveLength(2)
    expect(processed).toEqual(['alerts/0/3'])
    const failed = lines.find((l) => l.msg === 'offset commit failed; retrying')
    expect(failed).toMatchObject({ offsets: [{ topic: 'alerts', partition: 0, offset: '3' }], failures: 1 })
  })

  it('keeps retrying a failing commit with back-off, and stops at close', async () => {
    // The commit timers on fake time: the test says how long passes, and sees what is still scheduled.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    onTestFinished(() => { vi.useRealTimers() })
    const kafka = fakeConsumer(() => true)
    const { indexing, lines } = indexingConsumer(kafka.consumer)
    await indexing.handler(batchOf('alerts', 0, [0]))
    // Each retry comes within commitRetryMaxMs (40 ms) of the last failure.
    for (let i = 0; i < 10 && kafka.attemptsAt.length < 4; i++) await vi.advanceTimersByTimeAsync(40)
    expect(kafka.attemptsAt.length).toBeGreaterThanOrEqual(4)
    // Logged once, not once per attempt.
    expect(lines.filter((l) => l.msg === 'offset commit failed; retrying')).toHaveLength(1)
    await indexing.close(['alerts'])
    const afterClose = kafka.attemptsAt.length
    expect(lines.at(-1)).toMatchObject({ msg: 'offset commit failed at shutdown; those records are read again on start', offsets: [{ topic: 'alerts', partition: 0, offset: '1' }] })
    // No retry is left scheduled, and none comes however long passes (past every back-off: 40 ms at most).
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(10 * 40)
    expect(kafka.attemptsAt).toHaveLength(afterClose)
  })

  it('commits new durable progress on time when the clock steps back an hour after the last commit (an NTP step)', async () => {
    const kafka = fakeConsumer(() => false)
    const { indexing } = indexingConsumer(kafka.consumer)
    onTestFinished(() => indexing.close(['alerts']))
    await indexing.handler(batchOf('alerts', 0, [0]))
    for (let i = 0; i < 200 && kafka.committed.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(kafka.committed).toEqual([[{ topic: 'alerts', partition: 0, offset: '1' }]])
    const realNow = Date.now.bind(Date)
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000)
    onTestFinished(() => { spy.mockRestore() })
    await indexing.handler(batchOf('alerts', 0, [1]))
    // Real timers, which no step of the wall clock moves: the commit is due within commitIntervalMs (10 ms).
    // Before the fix it waited for the hour the clock went back as well, and a restart meanwhile read it all again.
    for (let i = 0; i < 200 && kafka.committed.length === 1; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(kafka.committed.at(-1)).toEqual([{ topic: 'alerts', partition: 0, offset: '2' }])
  })

  it('names, when the shutdown drain times out, the records of each partition that are read again', async () => {
    const kafka = fakeConsumer(() => false)
    // Partition 0's second batch is never answered; partition 1 is written.
    const { indexing, lines } = indexingConsumer(kafka.consumer, elasticsearch((id) => id === 'p0-2'))
    await indexing.handler(batchOf('alerts', 0, [0, 1]))
    await expect.poll(() => kafka.committed.flat(), { timeout: 2_000 }).toContainEqual({ topic: 'alerts', partition: 0, offset: '2' })
    await indexing.handler(batchOf('alerts', 0, [2, 3]))
    await indexing.handler(batchOf('alerts', 1, [7]))
    await indexing.close(['alerts'], 100)
    const timedOut = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('shutdown: elasticsearch did not take everything in time'))
    expect(timedOut?.notDurable).toEqual([{ topic: 'alerts', partition: 0, from: '2', to: '3' }])
  })
})
