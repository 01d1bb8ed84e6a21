import type { KafkaMessage, Message } from 'kafkajs'
import { deadLetterMessage, recordReplay, type DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import type { PoisonRecordError } from './errors.ts'

/** Where a record was read from. */
export interface RecordOrigin {
  topic: string
  partition: number
  offset: string
}

/**
 * The correlator's dead letter for a poison record: the reason from the error catalogue, where it was
 * read, and the record as it was (its bytes and headers), so that `replay` can put it back on its topic once the cause is fixed.
 * Keyed by origin, so a record dead-lettered again after a replay of its partition is recognisably the same.
 */
export function poisonDeadLetter(err: PoisonRecordError, origin: RecordOrigin, record: Pick<KafkaMessage, 'key' | 'value' | 'headers'>, at: Date): Message {
  const envelope: DeadLetterEnvelope = {
    stage: 'correlator',
    reason: err.reason,
    error: err.message,
    at: at.toISOString(),
    origin,
    ...(err.detail ? { detail: err.detail } : {}),
    replay: recordReplay(origin.topic, record),
  }
  return deadLetterMessage(`${origin.topic}/${origin.partition}/${origin.offset}`, envelope)
}
