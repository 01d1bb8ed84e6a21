import { createRequire } from 'node:module'
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { kafkaUnavailable, KafkaUnavailableError, readerStopped, ReadRefusedError } from './errors.ts'

const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error }
const TOPIC_AUTHORIZATION_FAILED = 29
const GROUP_AUTHORIZATION_FAILED = 30

describe('kafkaUnavailable', () => {
  it('makes Kafka not answering, once kafkajs spent its retries, retriable (the CLI exits 69)', () => {
    const spent = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { retryCount: 2, retryTime: 500 })
    expect(kafkaUnavailable(spent)).toMatchObject({ name: 'KafkaUnavailableError', retriable: true, message: 'Kafka is unavailable: Connection error: connect ECONNREFUSED 127.0.0.1:9092', cause: spent })
  })

  it('leaves a refusal as it is, so the CLI exits 70 instead of telling the operator to run it again', () => {
    // What describeConfigs rejects with when the user may not describe the topic (kafkajs bails on it).
    const refused = createErrorFromCode(TOPIC_AUTHORIZATION_FAILED)
    expect(kafkaUnavailable(refused)).toBe(refused)
    // As kafkajs's retrier wraps an error it will not retry; its types leave out the options.
    const wrapped = Reflect.construct(KafkaJSNonRetriableError, [refused, { cause: refused }]) as Error
    expect(kafkaUnavailable(wrapped)).toBe(wrapped)
    expect(kafkaUnavailable(wrapped)).not.toBeInstanceOf(KafkaUnavailableError)
  })
})

describe('readerStopped', () => {
  it('names the refusal kafkajs crashed the reader on, not retriable (the CLI exits 70)', () => {
    // As the crash reaches the read: kafkajs's retrier wraps the join's refusal, which it does not retry.
    const refused = createErrorFromCode(GROUP_AUTHORIZATION_FAILED)
    const crash = Reflect.construct(KafkaJSNonRetriableError, [refused, { cause: refused }]) as Error
    const err = readerStopped(crash, 'opsreview-dead-letters-x')
    expect(err).toBeInstanceOf(ReadRefusedError)
    expect(err).toMatchObject({
      retriable: false, kafkaType: 'GROUP_AUTHORIZATION_FAILED', cause: crash,
      message: 'Kafka stopped the dead-letter reader (group opsreview-dead-letters-x) for good: GROUP_AUTHORIZATION_FAILED: Not authorized to access group: Group authorization failed',
    })
  })

  it('makes Kafka not answering retriable (exit 69)', () => {
    const spent = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { retryCount: 2, retryTime: 500 })
    expect(readerStopped(spent, 'g')).toMatchObject({ name: 'KafkaUnavailableError', retriable: true, cause: spent })
  })
})
