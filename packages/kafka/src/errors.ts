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
