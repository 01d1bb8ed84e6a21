/**
 * Kafka-side errors say whether a retry can help: the caller answers 503 (the sender retries) for a
 * retriable one, and never retries a programmer error.
 */
export class KafkaUnavailableError extends Error {
  readonly code = 'KAFKA_UNAVAILABLE'
  readonly retriable = true
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'KafkaUnavailableError'
  }
}

/**
 * A message Kafka will never take, whatever the retries: larger than the broker's or topic's limit, or
 * otherwise refused for what it is. Only its own caller fails; the messages batched with it are sent.
 */
export class KafkaRecordRejectedError extends Error {
  readonly code = 'KAFKA_RECORD_REJECTED'
  readonly retriable = false
  /**
   * From `publish`: which of the call's messages Kafka will not take (their indexes, in order) and why;
   * every other message of the call was acknowledged. A caller that sends again must send only these.
   */
  readonly refused: readonly { index: number; reason: string }[] | undefined
  constructor(message: string, options?: { cause?: unknown; refused?: readonly { index: number; reason: string }[] }) {
    super(message, options)
    this.name = 'KafkaRecordRejectedError'
    this.refused = options?.refused
  }
}

/**
 * kafkajs 2.2.4 types (src/protocol/error.js) of a broker refusing the records themselves: too large for
 * the topic or broker, or failing the broker's validation (a null key on a compacted topic). All three are
 * `retriable: false` there and no retry or reconnection can change the answer. (`CORRUPT_MESSAGE`, a CRC
 * failure, is left out: kafkajs retries it, as the bytes may have been corrupted on the way.)
 */
export const RECORD_REFUSALS: ReadonlySet<string> = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD'])

/**
 * Broker answers that say the request itself can never succeed as made (a topic name it refuses, a request
 * or version it does not take, a policy): the same call later meets the same answer. Not
 * REBALANCE_IN_PROGRESS and the group's other answers, which kafkajs marks as not to retry too, nor
 * INVALID_TIMESTAMP, which the producer's clock gives and a clock set right takes away.
 */
export const REQUEST_REFUSALS: ReadonlySet<string> = new Set([
  'INVALID_TOPIC_EXCEPTION', 'UNSUPPORTED_VERSION', 'INVALID_REQUEST', 'POLICY_VIOLATION', 'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT', 'UNSUPPORTED_COMPRESSION_TYPE',
])

/**
 * An error and what it wraps, outermost first (up to 8): kafkajs wraps a protocol error in
 * KafkaJSNonRetriableError / KafkaJSNumberOfRetriesExceeded as `cause`, older errors as `originalError`.
 */
export function kafkaCauses(err: unknown): object[] {
  const chain: object[] = []
  for (let e: unknown = err; e !== null && typeof e === 'object' && chain.length < 8; ) {
    chain.push(e)
    const next = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError
    if (next === e) break
    e = next
  }
  return chain
}

/** The first kafkajs error type in an error and what it wraps, among `types` when given. */
export function kafkaErrorType(err: unknown, types?: ReadonlySet<string>): string | undefined {
  for (const e of kafkaCauses(err)) {
    const type = (e as { type?: unknown }).type
    if (typeof type === 'string' && (!types || types.has(type))) return type
  }
  return undefined
}

/** The kafkajs error type when the broker refused the records themselves, else undefined. */
export function recordRefusal(err: unknown): string | undefined {
  return kafkaErrorType(err, RECORD_REFUSALS)
}

/**
 * Kafka did not answer, so the same call later may work: an error kafkajs marks retriable (a connection
 * refused or closed, a request timed out, a broker not found, a leader being elected), or kafkajs giving up
 * on one, its retries of it spent (KafkaJSNumberOfRetriesExceeded; an outer retrier wraps that in a
 * KafkaJSNonRetriableError with the same cause). Not an error kafkajs never retries (a refused login,
 * TOPIC_AUTHORIZATION_FAILED), nor its retries spent on an error of ours (thrown in an eachBatch): running
 * again meets them again. By name: kafkajs's error classes are not named exports under Node's ESM.
 */
export function isKafkaUnavailable(err: unknown): boolean {
  let e = err as { name?: unknown; retriable?: unknown; cause?: unknown } | undefined
  for (let depth = 0; depth < 8; depth++) {
    if (!e || typeof e !== 'object' || typeof e.name !== 'string' || !e.name.startsWith('KafkaJS')) return false
    if (e.retriable === true) return true
    if (e.name !== 'KafkaJSNumberOfRetriesExceeded' && e.name !== 'KafkaJSNonRetriableError') return false
    if (e.cause === e) return false
    e = e.cause as typeof e
  }
  return false
}
