import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSSASLAuthenticationError } from 'kafkajs'
import { classifyFailure, EngineRejectedError, KafkaAccessRefusedError, KafkaRecordRejectedError, KafkaUnavailableError, SchemaInvalidError } from './errors.ts'

// What kafkajs makes of the broker's error codes (its protocol/error.js table).
const protocolErrors = {
  UNKNOWN_TOPIC_OR_PARTITION: { type: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3, retriable: true, message: 'This server does not host this topic-partition' },
  MESSAGE_TOO_LARGE: { type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false, message: 'The request included a message larger than the max message size the server will accept' },
}
const protocolError = (name: keyof typeof protocolErrors) => new KafkaJSProtocolError(protocolErrors[name] as never)
// How kafkajs's retrier gives up on an error it may not retry (retry/index.js): the original as `cause`.
const bailedOut = (e: Error) => Object.assign(new KafkaJSNonRetriableError(e), { cause: e })
// The broker's error code as kafkajs turns it into an error when a response carries it.
const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => KafkaJSProtocolError }

describe('classifyFailure', () => {
  it('calls Kafka being away retriable, however kafkajs wraps it', () => {
    const connection = new KafkaJSConnectionError('Connection closed')
    expect(classifyFailure(connection)).toBeInstanceOf(KafkaUnavailableError)
    expect(classifyFailure(new KafkaJSNumberOfRetriesExceeded(connection, { retryCount: 5, retryTime: 3000 })).retriable).toBe(true)
    expect(classifyFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' })).retriable).toBe(true)
    // UNKNOWN_TOPIC_OR_PARTITION: a topic deleted or not created yet is an outage, not the record's fault.
    expect(classifyFailure(new KafkaJSNumberOfRetriesExceeded(protocolError('UNKNOWN_TOPIC_OR_PARTITION'), { retryCount: 5, retryTime: 3000 })).retriable).toBe(true)
  })

  it('never retries a record Kafka refuses, nor poison, nor a programmer error', () => {
    const tooLarge = classifyFailure(bailedOut(protocolError('MESSAGE_TOO_LARGE')))
    expect(tooLarge).toBeInstanceOf(KafkaRecordRejectedError)
    expect(tooLarge.retriable).toBe(false)
    expect(classifyFailure(new EngineRejectedError('no')).retriable).toBe(false)
    expect(classifyFailure(new SchemaInvalidError('no')).retriable).toBe(false)
    const bug = new TypeError("Cannot read properties of undefined (reading 'offset')")
    expect(classifyFailure(bug)).toBe(bug)
    expect(bug).toMatchObject({ retriable: false })
  })

  it('never retries Kafka refusing the credentials or permissions, and says so', () => {
    // TOPIC_, GROUP_, CLUSTER_, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, SASL_AUTHENTICATION_FAILED
    for (const code of [29, 30, 31, 53, 58]) {
      const refused = createErrorFromCode(code)
      // As kafkajs gives up on it, and as the rekeyer's publisher reports a send that failed.
      for (const err of [refused, bailedOut(refused), new KafkaUnavailableError('Kafka did not acknowledge', { cause: bailedOut(refused) })]) {
        const failure = classifyFailure(err)
        expect(failure, refused.type).toBeInstanceOf(KafkaAccessRefusedError)
        expect(failure).toMatchObject({ retriable: false, code: 'KAFKA_ACCESS_REFUSED' })
        expect(failure.message).toContain(`credentials or permissions (${refused.type})`)
      }
    }
    // A failed SASL handshake carries the broker's answer in its message only.
    // (kafkajs's types leave out the message its authenticators pass.)
    const sasl = new (KafkaJSSASLAuthenticationError as new (message: string) => Error)('SASL SCRAM SHA512 authentication failed: SASL Authentication failed')
    expect(classifyFailure(sasl)).toBeInstanceOf(KafkaAccessRefusedError)
    expect(classifyFailure(Object.assign(new KafkaJSNonRetriableError(sasl), { cause: sasl })).retriable).toBe(false)
    // Not every protocol error kafkajs will not retry is a refusal: REBALANCE_IN_PROGRESS is not one.
    expect(classifyFailure(createErrorFromCode(27))).toBeInstanceOf(KafkaUnavailableError)
  })

  it('never retries what Kafka refuses for good, however wrapped', () => {
    // INVALID_TOPIC_EXCEPTION, INVALID_REQUIRED_ACKS, UNSUPPORTED_VERSION, INVALID_REQUEST, UNSUPPORTED_FOR_MESSAGE_FORMAT, POLICY_VIOLATION
    for (const code of [17, 21, 35, 42, 43, 44]) {
      const refused = createErrorFromCode(code)
      for (const err of [refused, bailedOut(refused), new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 3000 }), new KafkaUnavailableError('Kafka did not acknowledge', { cause: bailedOut(refused) })]) {
        const failure = classifyFailure(err)
        expect(failure.retriable, refused.type).toBe(false)
        expect(failure.message).toContain(`Kafka refused the request for good (${refused.type})`)
      }
    }
    // Kafka away, wrapped the same ways, stays retriable.
    expect(classifyFailure(new KafkaUnavailableError('Kafka did not acknowledge', { cause: bailedOut(new KafkaJSConnectionError('Connection closed')) })).retriable).toBe(true)
    expect(classifyFailure(createErrorFromCode(27)).retriable).toBe(true)
    // INVALID_TIMESTAMP: the producer's clock outside a topic's bounds, which setting the clock right ends.
    expect(classifyFailure(bailedOut(createErrorFromCode(32))).retriable).toBe(true)
  })

  it('gives every poison record a stable reason code', () => {
    expect(new EngineRejectedError('x')).toMatchObject({ reason: 'engine-rejected', code: 'ENGINE_REJECTED', retriable: false })
    expect(new SchemaInvalidError('x', { detail: { errors: [] } })).toMatchObject({ reason: 'schema-invalid', detail: { errors: [] } })
  })
})
