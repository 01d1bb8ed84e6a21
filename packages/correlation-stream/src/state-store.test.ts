import { randomBytes } from 'node:crypto'
import type { Kafka, Producer } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import type { EngineSnapshot } from '@opsreview/correlation/engine'
import { classifyFailure } from './errors.ts'
import { KafkaStateStore } from './state-store.ts'

type Sent = { key: string; value: Buffer | string | null }

/** A producer whose `failAt`-th send (1-based) times out as SerialProducer's do, recording every record it took. */
function producerFailing(failAt: number | undefined) {
  const sent: Sent[] = []
  let sends = 0
  const producer = {
    send: async ({ messages }: { messages: Sent[] }) => {
      if (++sends === failAt) throw Object.assign(new Error('kafka send (state) did not finish within 10000 ms'), { name: 'KafkaUnavailableError' })
      sent.push(...messages)
      return []
    },
  }
  return { producer: producer as unknown as Pick<Producer, 'send'>, sent }
}

// Incompressible: several chunks of at most 2 KiB each.
const snapshot = { version: 6, blob: Array.from({ length: 8 }, () => randomBytes(1500).toString('base64')) } as unknown as EngineSnapshot
const isChunk = (key: string) => key.split('/').length === 4

/** How many chunks `snapshot` is written as, at most 2 KiB each. */
async function chunkCount(): Promise<number> {
  const { producer, sent } = producerFailing(undefined)
  await new KafkaStateStore({} as Kafka, producer, 'state', { maxChunkBytes: 2048 }).save({ inputTopic: 'in', partition: 0, offset: '10', snapshot })
  return sent.filter((m) => isChunk(m.key)).length
}

describe('KafkaStateStore saving', () => {
  it.each([
    // The third chunk's send: two chunks acknowledged before it.
    ['a chunk', () => 3, () => 2],
    // Every chunk acknowledged, no manifest naming them.
    ['the manifest', (chunks: number) => chunks + 1, (chunks: number) => chunks],
  ])('tombstones, after its next snapshot, the chunks a save left behind when sending %s failed', async (_what, failAt, left) => {
    const chunks = await chunkCount()
    expect(chunks).toBeGreaterThan(3)
    const { producer, sent } = producerFailing(failAt(chunks))
    const store = new KafkaStateStore({} as Kafka, producer, 'state', { maxChunkBytes: 2048 })
    await expect(store.save({ inputTopic: 'in', partition: 0, offset: '10', snapshot })).rejects.toThrow('did not finish')
    const orphans = sent.map((m) => m.key)
    expect(orphans).toHaveLength(left(chunks))
    // The partition's next checkpoint, of a later offset: until 2026-12-06 the chunks the failed save had sent
    // were never tombstoned by this writer, and no manifest names them.
    await store.save({ inputTopic: 'in', partition: 0, offset: '20', snapshot })
    expect(sent.filter((m) => m.value === null).map((m) => m.key)).toEqual(expect.arrayContaining(orphans))
  })

  it('tombstones the chunks of a save that failed while a read of the topic ran, which read to before them', async () => {
    const sent: Sent[] = []
    let failing = false
    let failingSends = 0
    const producer = {
      send: async ({ messages }: { messages: Sent[] }) => {
        if (failing && ++failingSends === 3) throw Object.assign(new Error('kafka send (state) did not finish within 10000 ms'), { name: 'KafkaUnavailableError' })
        sent.push(...messages)
        return []
      },
    } as unknown as Pick<Producer, 'send'>
    // The read (another partition's restore after a rebalance) ends at the topic's end when it began, and
    // hands over its records only once the test lets it.
    let release!: () => void
    const released = new Promise<void>((resolve) => { release = resolve })
    let atReadStart: Sent[] = []
    const kafka = {
      admin: () => ({ connect: async () => undefined, disconnect: async () => undefined, fetchTopicOffsets: async () => { atReadStart = [...sent]; return [{ partition: 0, offset: String(atReadStart.length), high: String(atReadStart.length), low: '0' }] } }),
      consumer: () => ({
        events: { CRASH: 'consumer.crash' }, on: () => () => undefined,
        connect: async () => undefined, subscribe: async () => undefined, disconnect: async () => undefined,
        run: async ({ eachMessage }: { eachMessage: (p: { partition: number; message: { key: Buffer; value: Buffer | null; offset: string } }) => Promise<void> }) => {
          await released
          let offset = 0
          for (const m of atReadStart) await eachMessage({ partition: 0, message: { key: Buffer.from(m.key), value: m.value === null ? null : Buffer.from(m.value as never), offset: String(offset++) } })
        },
      }),
    } as unknown as Kafka
    const store = new KafkaStateStore(kafka, producer, 'state', { maxChunkBytes: 2048 })
    await store.save({ inputTopic: 'in', partition: 0, offset: '10', snapshot })
    const reading = store.loadAll({ idleTimeoutMs: 5000 })
    await new Promise((resolve) => setTimeout(resolve, 20))
    failing = true
    await expect(store.save({ inputTopic: 'in', partition: 0, offset: '20', snapshot })).rejects.toThrow('did not finish')
    failing = false
    const orphans = sent.filter((m) => isChunk(m.key) && m.key.includes('/20.')).map((m) => m.key)
    expect(orphans).toHaveLength(2)
    release()
    await reading
    // Until 2026-12-06 the read's end forgot the partition's entry, orphans recorded after its start included.
    await store.save({ inputTopic: 'in', partition: 0, offset: '30', snapshot })
    expect(sent.filter((m) => m.value === null).map((m) => m.key)).toEqual(expect.arrayContaining(orphans))
  })
})

/**
 * A Kafka whose state topic holds records, and whose reader consumers do what `run` says: kafkajs 2.2.4
 * refused a join catches it in runner.start(), disconnects, emits CRASH with restart: false, and run()
 * resolves; no message ever comes.
 */
function kafkaWithReader(run: (crash: (payload: { error: Error; restart: boolean }) => void) => Promise<void>) {
  const groups: string[] = []
  const kafka = {
    admin: () => ({ connect: async () => undefined, disconnect: async () => undefined, fetchTopicOffsets: async () => [{ partition: 0, offset: '5', high: '5', low: '0' }] }),
    consumer: ({ groupId }: { groupId: string }) => {
      groups.push(groupId)
      const crashListeners: ((e: { payload: { error: Error; restart: boolean } }) => void)[] = []
      return {
        events: { CRASH: 'consumer.crash' },
        on: (_event: string, listener: (e: { payload: { error: Error; restart: boolean } }) => void) => { crashListeners.push(listener); return () => undefined },
        connect: async () => undefined, subscribe: async () => undefined, disconnect: async () => undefined,
        run: () => run((payload) => { for (const l of crashListeners) l({ payload }) }),
      }
    },
  } as unknown as Kafka
  return { kafka, groups }
}

describe('KafkaStateStore reading', () => {
  it('fails with the refusal when Kafka refuses the reader its group, instead of waiting out the idle time as Kafka unavailable', async () => {
    const refusal = Object.assign(new Error('Not authorized to access group'), { name: 'KafkaJSProtocolError', type: 'GROUP_AUTHORIZATION_FAILED', retriable: false })
    const { kafka } = kafkaWithReader(async (crash) => {
      crash({ error: Object.assign(new Error(refusal.message), { name: 'KafkaJSNonRetriableError', cause: refusal }), restart: false })
    })
    const store = new KafkaStateStore(kafka, { send: async () => [] }, 'state')
    const err = await store.loadAll({ idleTimeoutMs: 200 }).catch((e: unknown) => e)
    // Retriable, it was retried for ever, and the service never stopped on a refusal no retry can change.
    expect(classifyFailure(err)).toMatchObject({ code: 'KAFKA_ACCESS_REFUSED', retriable: false })
  })

  it('waits on through a crash kafkajs restarts the reader after', async () => {
    const { kafka } = kafkaWithReader(async (crash) => {
      crash({ error: Object.assign(new Error('Connection closed'), { name: 'KafkaJSConnectionError', retriable: true }), restart: true })
    })
    const store = new KafkaStateStore(kafka, { send: async () => [] }, 'state')
    await expect(store.loadAll({ idleTimeoutMs: 50 })).rejects.toThrow('no snapshot record from state for 50 ms')
  })

  it('names its reader groups from the prefix it is given, so that group ACLs on the service\'s prefix cover them', async () => {
    const { kafka, groups } = kafkaWithReader(async () => undefined)
    await new KafkaStateStore(kafka, { send: async () => [] }, 'state', { readerGroupPrefix: 'team-a-correlator-state-reader' }).loadAll({ idleTimeoutMs: 10 }).catch(() => undefined)
    expect(groups).toEqual([expect.stringMatching(/^team-a-correlator-state-reader-\d+-\d+$/)])
  })
})
