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
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'KafkaRecordRejectedError'
  }
}
