import { errors as esErrors } from '@elastic/elasticsearch'
import { describe, expect, it } from 'vitest'
import { elasticsearchUnavailable, ReplayError } from './errors.ts'

const meta = { context: null, name: 'es', request: { params: { method: 'POST', path: '/_bulk' }, options: {}, id: 1 }, connection: null, attempts: 0, aborted: false }
const response = (statusCode: number) => new esErrors.ResponseError({
  statusCode, body: { error: { type: statusCode === 429 ? 'es_rejected_execution_exception' : 'some_exception', reason: 'no' } }, headers: {}, warnings: null, meta,
})

describe('elasticsearchUnavailable', () => {
  it('makes no connection, no answer in time, a 429 and a 5xx retriable (exit 69)', () => {
    for (const err of [new esErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200'), new esErrors.TimeoutError('Request timed out'), new esErrors.NoLivingConnectionsError('none', { body: undefined, statusCode: 0, headers: {}, warnings: null, meta }), response(429), response(500), response(503)]) {
      const e = elasticsearchUnavailable(err)
      expect(e, err.message).toBeInstanceOf(ReplayError)
      expect(e).toMatchObject({ code: 'UNAVAILABLE', retriable: true, cause: err })
      expect((e as Error).message).toMatch(/^Elasticsearch is unavailable: /)
    }
  })

  it('leaves a 4xx and errors not of Elasticsearch as they are', () => {
    for (const err of [response(400), response(404), new Error('ours'), new ReplayError('DATASET_NOT_FOUND', 'no'), 'a string']) expect(elasticsearchUnavailable(err)).toBe(err)
  })
})
