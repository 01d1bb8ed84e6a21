import { createRequire } from 'node:module'
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { kafkaUnavailable, KafkaUnavailableError } from './errors.ts'

const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => Error }
const TOPIC_AUTHORIZATION_FAILED = 29

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
