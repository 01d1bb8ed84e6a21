/**
 * What can go wrong listing or replaying dead letters. `retriable` says whether running the same command
 * again later can help (Kafka or the receiver was unavailable) or whether the input must change first.
 */
import { isKafkaUnavailable, kafkaErrorType, KafkaUnavailableError } from '@opsreview/kafka/errors'

export { KafkaUnavailableError }

/**
 * Kafka not answering (isKafkaUnavailable) as KafkaUnavailableError; anything else as it is, a kafkajs
 * refusal too (topic authorization, a refused login): running the command again would meet it again.
 */
export function kafkaUnavailable(err: unknown): unknown {
  if (err instanceof Error && isKafkaUnavailable(err)) return new KafkaUnavailableError(`Kafka is unavailable: ${err.message}`, { cause: err })
  return err
}

/** The command line is wrong: every problem found, so the operator fixes it in one go. */
export class UsageError extends Error {
  readonly code = 'USAGE'
  readonly retriable = false
  override readonly name = 'UsageError'
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(problems.join('; '))
    this.problems = problems
  }
}

export interface PendingPartition { topic: string; partition: number; next: string; end: string }

/** The read did not reach the end offsets taken at its start in time: Kafka is slow or a partition is unavailable. */
export class ReadIncompleteError extends Error {
  readonly code = 'READ_INCOMPLETE'
  readonly retriable = true
  override readonly name = 'ReadIncompleteError'
  readonly pending: readonly PendingPartition[]
  constructor(message: string, pending: readonly PendingPartition[]) {
    super(message)
    this.pending = pending
  }
}

/**
 * Kafka stopped the reader's consumer for good and kafkajs will not restart it: the group refused it
 * (GROUP_AUTHORIZATION_FAILED, INCONSISTENT_GROUP_PROTOCOL: another member holds the group with another
 * assigner). Running the command again meets the same answer (exit 70).
 */
export class ReadRefusedError extends Error {
  readonly code = 'READ_REFUSED'
  readonly retriable = false
  override readonly name = 'ReadRefusedError'
  /** Kafka's error type (INCONSISTENT_GROUP_PROTOCOL), when the cause names one. */
  readonly kafkaType: string | undefined
  constructor(message: string, kafkaType: string | undefined, options?: { cause?: unknown }) {
    super(message, options)
    this.kafkaType = kafkaType
  }
}

/**
 * What the read fails with when kafkajs stopped its consumer and will not restart it (its CRASH event,
 * `restart: false`): Kafka not answering as KafkaUnavailableError (exit 69), anything else, a refusal, as
 * ReadRefusedError naming Kafka's cause (exit 70). Until 2026-12-07 the read waited out its timeout instead
 * and failed as ReadIncompleteError, retriable, the cause unsaid.
 */
export function readerStopped(err: unknown, groupId: string): Error {
  const unavailable = kafkaUnavailable(err)
  if (unavailable instanceof KafkaUnavailableError) return unavailable
  const type = kafkaErrorType(err)
  const message = err instanceof Error ? err.message : String(err)
  return new ReadRefusedError(`Kafka stopped the dead-letter reader (group ${groupId}) for good: ${type ? `${type}: ` : ''}${message}`, type, { cause: err })
}

/**
 * One dead letter's replay failed. `retriable`: the target was unavailable (network, 5xx, Kafka down),
 * so replaying again later may work; otherwise it was refused for what it is (a 4xx: the fix did not
 * cover it) and a replay will fail the same way.
 */
export class ReplayFailedError extends Error {
  readonly code = 'REPLAY_FAILED'
  override readonly name = 'ReplayFailedError'
  readonly retriable: boolean
  /** The receiver's HTTP status, for a webhook replay it answered. */
  readonly status: number | undefined
  constructor(message: string, retriable: boolean, options?: { cause?: unknown; status?: number }) {
    super(message, options)
    this.retriable = retriable
    this.status = options?.status
  }
}
