import { errors as esErrors } from '@elastic/elasticsearch'
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { KafkaUnavailableError } from '@opsreview/kafka/errors'
import { ReadIncompleteError, ReadRefusedError } from '@opsreview/dead-letters'
import { failureExitCode } from './exit-codes.ts'

// The errors as kafkajs and the Elasticsearch client build them: the mapping reads their names, causes and
// flags, which a stand-in object would only copy.
const refused = () => new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1')
/** kafkajs's retrier giving up after its retries of `e` (src/retry/index.js): itself `retriable: false`. */
const retriesSpent = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 3, retryTime: 1000 })

describe('failureExitCode', () => {
  it('is 69 when kafkajs spent its retries on Kafka not answering, also as an outer retrier wraps that, not 70 as `retriable: false` said', () => {
    const spent = retriesSpent(refused())
    expect(spent).toMatchObject({ retriable: false })
    expect(failureExitCode(spent)).toBe(69)
    expect(failureExitCode(Reflect.construct(KafkaJSNonRetriableError, [spent, { cause: refused() }]))).toBe(69)
    expect(failureExitCode(refused())).toBe(69)
  })

  it('is 70 when kafkajs spent its retries on an error of ours: running again meets it again', () => {
    expect(failureExitCode(retriesSpent(new Error('Unexpected token } in JSON')))).toBe(70)
  })

  it('is 69 for Elasticsearch unavailable and for our own errors that say they are worth trying again', () => {
    expect(failureExitCode(new esErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:1'))).toBe(69)
    expect(failureExitCode(new KafkaUnavailableError('Kafka is unavailable: Connection error', { cause: refused() }))).toBe(69)
  })

  it('is 70 for anything else', () => {
    expect(failureExitCode(new Error('rebuild: the aliases kept changing while they were being moved'))).toBe(70)
    expect(failureExitCode(undefined)).toBe(70)
  })

  it('is 70 for a dead-letter read Kafka refused for good, 69 for one not done in time', () => {
    expect(failureExitCode(new ReadRefusedError('Kafka stopped the dead-letter reader (group g) for good: GROUP_AUTHORIZATION_FAILED: Not authorized to access group', 'GROUP_AUTHORIZATION_FAILED'))).toBe(70)
    expect(failureExitCode(new ReadIncompleteError('dead-letter topics not read to their end offsets within 60000 ms: t/0 at 0 of 1', []))).toBe(69)
  })
})
