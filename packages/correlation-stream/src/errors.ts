import { kafkaCauses, kafkaErrorType, KafkaRecordRejectedError, KafkaUnavailableError, recordRefusal, REQUEST_REFUSALS } from '@opsreview/kafka/errors'

export { KafkaRecordRejectedError, KafkaUnavailableError }

/**
 * A record no retry can fix (poison): it goes to the correlator's dead-letter topic under `reason`, a
 * stable code the dead-letter tools count by, and the consumer moves on.
 */
export abstract class PoisonRecordError extends Error {
  abstract readonly code: string
  abstract readonly reason: string
  readonly retriable = false
  /** What else is known, for the envelope's `detail` (field errors). */
  readonly detail: Record<string, unknown> | undefined

  constructor(message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options)
    this.detail = options?.detail
  }
}

/** Not JSON at all. */
export class UndecodableRecordError extends PoisonRecordError {
  readonly code = 'UNDECODABLE_RECORD'
  readonly reason = 'undecodable'
  override readonly name = 'UndecodableRecordError'
}

/** JSON, but neither a valid alert event nor a valid command. */
export class SchemaInvalidError extends PoisonRecordError {
  readonly code = 'SCHEMA_INVALID'
  readonly reason = 'schema-invalid'
  override readonly name = 'SchemaInvalidError'
}

/** An engine input the correlation engine threw on. */
export class EngineRejectedError extends PoisonRecordError {
  readonly code = 'ENGINE_REJECTED'
  readonly reason = 'engine-rejected'
  override readonly name = 'EngineRejectedError'
}

/** A record Kafka refuses to take onward (too large for the topic): dead-lettered, not retried. */
export class RecordRejectedError extends PoisonRecordError {
  readonly code = 'RECORD_REJECTED'
  readonly reason = 'record-rejected'
  override readonly name = 'RecordRejectedError'
}

/**
 * Kafka refused this client: its credentials (SASL) or its permissions (ACLs) on a topic, the group, the
 * cluster. No retry can change that, and it is not the record's fault either (a dead letter would be refused
 * the same way): a configuration failure, which stops the consumer loudly, as a programmer error does.
 */
export class KafkaAccessRefusedError extends Error {
  readonly code = 'KAFKA_ACCESS_REFUSED'
  readonly retriable = false
  override readonly name = 'KafkaAccessRefusedError'
}

/**
 * kafkajs 2.2.4 types (src/protocol/error.js) of the broker refusing the client itself, all `retriable:
 * false` there. A failed SASL handshake reaches us as KafkaJSSASLAuthenticationError instead, with the
 * broker's answer in its message only.
 */
const ACCESS_REFUSALS: ReadonlySet<string> = new Set([
  'TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'DELEGATION_TOKEN_AUTHORIZATION_FAILED', 'SASL_AUTHENTICATION_FAILED',
])

/** What Kafka refused this client for (a kafkajs error type) in an error or what it wraps, else undefined. */
export function accessRefusal(err: unknown): string | undefined {
  const type = kafkaErrorType(err, ACCESS_REFUSALS)
  if (type) return type
  return kafkaCauses(err).some((e) => (e as { name?: unknown }).name === 'KafkaJSSASLAuthenticationError') ? 'SASL_AUTHENTICATION_FAILED' : undefined
}


/**
 * The one place an error becomes retriable or not. Kafka being unreachable, slow, electing leaders or
 * missing a topic is an outage: retriable, and the consumer backs off and tries again. A record Kafka
 * refuses is never retriable (`KafkaRecordRejectedError`); neither is poison, nor Kafka refusing this
 * client's credentials or permissions (`KafkaAccessRefusedError`), nor a programmer error (anything
 * else). Those last two stop the consumer loudly rather than loop on it.
 */
export function classifyFailure(err: unknown): Error & { retriable: boolean } {
  if (err instanceof PoisonRecordError || err instanceof KafkaAccessRefusedError || err instanceof KafkaRecordRejectedError) return err
  // Before trusting a KafkaUnavailableError: the rekeyer's publisher wraps whatever kafkajs threw in one.
  const refused = accessRefusal(err)
  if (refused) return new KafkaAccessRefusedError(`Kafka refused this client's credentials or permissions (${refused}): ${(err as Error).message}`, { cause: err })
  const refusal = recordRefusal(err)
  if (refusal) return new KafkaRecordRejectedError(`Kafka refused the record: ${refusal}`, { cause: err })
  // Retried, they would stall the partition in back-off for good (until 2026-12-05 they did: any error with
  // a kafkajs error in its chain counted as Kafka being away).
  const requestRefusal = kafkaErrorType(err, REQUEST_REFUSALS)
  if (requestRefusal) return Object.assign(new Error(`Kafka refused the request for good (${requestRefusal}): ${(err as Error).message}`, { cause: err }), { retriable: false })
  if (err instanceof KafkaUnavailableError) return err
  // Any other error with a kafkajs one in its chain is taken for Kafka being away, even one of ours that
  // kafkajs's retrier wrapped: kafkajs itself throws TypeErrors in a broker's failover, and stopping the
  // service on one would be worse than retrying it.
  const chain = kafkaCauses(err)
  if (chain.some((e) => typeof (e as { name?: unknown }).name === 'string' && (e as Error).name.startsWith('KafkaJS'))) {
    return new KafkaUnavailableError(`Kafka is unavailable: ${(err as Error).message}`, { cause: err })
  }
  // Node's own socket errors can escape kafkajs during a broker restart.
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN)$/.test(code)) {
    return new KafkaUnavailableError(`Kafka is unavailable: ${(err as Error).message}`, { cause: err })
  }
  return Object.assign(err instanceof Error ? err : new Error(String(err)), { retriable: false })
}

/** The group request answers that say the group went on without this member. */
export const EVICTIONS: ReadonlySet<string> = new Set(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE_ID'])

/**
 * Whether a group request's answer says the group went on without this member: another may own its
 * partitions already. A rebalance in progress is not that: the broker checks membership and generation
 * first, so the member still owns its partitions until it rejoins. Wrapped or not: a commit's answer comes
 * through kafkajs's retrier, which wraps an error it may not retry (KafkaJSNonRetriableError, the original
 * as `cause`), where a heartbeat's comes bare.
 */
export function evictedFromGroup(err: unknown): boolean {
  return kafkaErrorType(err, EVICTIONS) !== undefined
}
