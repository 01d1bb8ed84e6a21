import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { Kafka, Producer } from 'kafkajs'
import type { DeadLetterReplay } from '@opsreview/kafka/dead-letter'
import { lazyRecordTarget } from './commands.ts'
import type { DeadLetter } from './record.ts'
import { replayDeadLetters } from './replay.ts'

const logger = pino({ level: 'silent' })

/** Producers that connect as told (by the producer's number) and record what they send. */
function fakeKafka(connect: (producerNo: number) => Promise<void>) {
  const producers: { connects: number; connected: boolean; sent: string[] }[] = []
  const kafka = {
    producer: () => {
      const no = producers.length
      const state = { connects: 0, connected: false, sent: [] as string[] }
      producers.push(state)
      return {
        connect: async () => { state.connects++; await connect(no); state.connected = true },
        disconnect: async () => { state.connected = false },
        send: async ({ messages }: { messages: { value: string }[] }) => {
          if (!state.connected) throw Object.assign(new Error('The producer is disconnected'), { name: 'KafkaJSError', retriable: true })
          state.sent.push(...messages.map((m) => m.value))
          return []
        },
      } as unknown as Producer
    },
  } satisfies Pick<Kafka, 'producer'>
  return { kafka, producers }
}

let offset = 0
const letter = (value: string): DeadLetter => {
  const replay: DeadLetterReplay = { kind: 'record', topic: 'alerts', key: 'k', value }
  return { topic: 'dlq', partition: 0, offset: String(offset++), key: null, at: 0, reason: 'schema-invalid', stage: 'correlator', error: undefined, format: 'envelope', replay, notReplayable: undefined }
}

describe('lazyRecordTarget', () => {
  it('reports a producer that cannot connect as Kafka unavailable, and connects afresh for the next record', async () => {
    const refused = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError', retriable: true })
    const { kafka, producers } = fakeKafka(async (no) => { if (no === 0) throw refused })
    // No wait for a retry: the first producer's connect fails for good.
    const records = lazyRecordTarget(kafka, logger, { timeoutMs: 0 })
    const report = await replayDeadLetters([letter('a'), letter('b')], {
      targets: { record: records.record, webhook: async () => undefined }, dryRun: false, logger,
    })
    expect(report).toMatchObject({ replayed: 0, failed: 2 })
    expect(report.outcomes[0]).toMatchObject({ outcome: 'failed', retriable: true, error: 'Kafka is unavailable: Connection error: connect ECONNREFUSED 127.0.0.1:9092' })
    expect(report.outcomes[1]).toMatchObject({ outcome: 'failed', retriable: true, error: 'not tried: Kafka is unavailable: Connection error: connect ECONNREFUSED 127.0.0.1:9092' })

    // The next record (a later run of the same target) does not go through the disconnected producer.
    await records.record({ kind: 'record', topic: 'alerts', key: 'k', value: 'c' })
    expect(producers.map((p) => [p.connects, p.sent])).toEqual([[1, []], [1, ['c']]])
    await records.close()
    expect(producers[1]!.connected).toBe(false)
  })
})
