import { createRequire } from 'node:module'
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError, KafkaJSSASLAuthenticationError } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { isKafkaUnavailable } from './errors.ts'

// The protocol errors as kafkajs builds them from a broker's error code (src/protocol/error.js).
interface ProtocolErrorCode { type: string; code: number; retriable: boolean; message: string }
const { errorCodes, createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { errorCodes: ProtocolErrorCode[]; createErrorFromCode: (code: number) => Error & ProtocolErrorCode }
const TOPIC_AUTHORIZATION_FAILED = 29
const SASL_AUTHENTICATION_FAILED = 58
const LEADER_NOT_AVAILABLE = 5

/** kafkajs's retrier giving up after its retries of `e` (src/retry/index.js). */
const retriesSpent = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 5, retryTime: 3000 })
/** kafkajs's retrier refusing to retry `e`: an outer retrier meeting an inner one's spent retries, say. */
// kafkajs's types leave out the options its constructor takes.
const notRetried = (e: Error & { cause?: unknown }) => Reflect.construct(KafkaJSNonRetriableError, [e, { cause: e.cause ?? e }]) as Error

describe('isKafkaUnavailable', () => {
  it('is true of what kafkajs retries: no connection, no answer in time, a leader being elected', () => {
    expect(isKafkaUnavailable(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'))).toBe(true)
    expect(isKafkaUnavailable(new KafkaJSRequestTimeoutError('Request Metadata(key: 3, version: 6) timed out'))).toBe(true)
    expect(isKafkaUnavailable(createErrorFromCode(LEADER_NOT_AVAILABLE))).toBe(true)
  })

  it('is true once kafkajs spent its retries of a retriable error, also as an outer retrier wraps that', () => {
    const spent = retriesSpent(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'))
    expect(isKafkaUnavailable(spent)).toBe(true)
    expect(isKafkaUnavailable(notRetried(spent))).toBe(true)
  })

  it('is false once kafkajs spent its retries of an error that is not Kafka being unavailable', () => {
    // kafkajs retries any error not marked `retriable: false`, one thrown by our eachBatch among them.
    expect(isKafkaUnavailable(retriesSpent(new Error('Unexpected token } in JSON')))).toBe(false)
    expect(isKafkaUnavailable(retriesSpent(createErrorFromCode(TOPIC_AUTHORIZATION_FAILED)))).toBe(false)
  })

  it('is false of a refusal no retry changes: topic authorization, a refused login', () => {
    const topicRefused = createErrorFromCode(TOPIC_AUTHORIZATION_FAILED)
    expect(topicRefused).toMatchObject({ name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false })
    expect(isKafkaUnavailable(topicRefused)).toBe(false)
    expect(isKafkaUnavailable(notRetried(topicRefused))).toBe(false)
    // As saslAuthenticate's response parser throws it, with the broker's message.
    const saslCode = errorCodes.find((e) => e.code === SASL_AUTHENTICATION_FAILED)!
    const saslRefused = new KafkaJSProtocolError({ ...saslCode, message: 'Authentication failed: Invalid username or password' } as unknown as Error)
    expect(saslRefused).toMatchObject({ type: 'SASL_AUTHENTICATION_FAILED', retriable: false })
    expect(isKafkaUnavailable(saslRefused)).toBe(false)
    expect(isKafkaUnavailable(notRetried(saslRefused))).toBe(false)
    // kafkajs's types give this class no constructor arguments; it takes the message as its others do.
    expect(isKafkaUnavailable(Reflect.construct(KafkaJSSASLAuthenticationError, ['SASL SCRAM SHA512 authentication failed']))).toBe(false)
  })

  it('is false of what is not a kafkajs error, whatever it says of itself', () => {
    expect(isKafkaUnavailable(Object.assign(new Error('ECONNREFUSED'), { retriable: true }))).toBe(false)
    expect(isKafkaUnavailable(undefined)).toBe(false)
    expect(isKafkaUnavailable('KafkaJSConnectionError')).toBe(false)
  })
})
