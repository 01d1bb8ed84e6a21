import { errors as esErrors } from '@elastic/elasticsearch'
import CircuitBreaker from 'opossum'
import { describe, expect, it, onTestFinished } from 'vitest'
import { classifyItemError, classifyRequestError, INDEXER_FAILURES, IndexerError, isElasticsearchUnavailable } from './errors.ts'

// Item errors as Elasticsearch 8.19 returned them (bodies trimmed to type, reason and causes).
const measured = {
  yearTenThousandDate: { type: 'document_parsing_exception', reason: "[1:22] failed to parse field [startsAt] of type [date] in document with id '1'. Preview of field's value: '+010000-01-01T23:58:59.000Z'", caused_by: { type: 'illegal_argument_exception', reason: 'failed to parse date field [+010000-01-01T23:58:59.000Z] with format [strict_date_optional_time||epoch_millis]', caused_by: { type: 'date_time_parse_exception', reason: 'Failed to parse with all enclosed parsers' } } },
  immenseKeyword: { type: 'document_parsing_exception', reason: "[1:21] failed to parse field [service] of type [keyword] in document with id '2'. Preview of field's value: 'xxxx'", caused_by: { type: 'illegal_argument_exception', reason: 'Document contains at least one immense term in field="service" (whose UTF8 encoding is longer than the max length 32766), all of which were skipped. Please correct the analyzer to not produce such terms.' } },
  immenseFlattened: { type: 'document_parsing_exception', reason: "[1:31] failed to parse field [labels] of type [flattened] in document with id '3'.", caused_by: { type: 'illegal_argument_exception', reason: 'Flattened field [labels] contains one immense field whose keyed encoding is longer than the allowed max length of 32766 bytes. Key length: 7, value length: 40000 for key starting with [service]' } },
  objectForKeyword: { type: 'document_parsing_exception', reason: "[1:28] failed to parse field [severity] of type [keyword] in document with id '4'. Preview of field's value: '{a=1}'", caused_by: { type: 'illegal_argument_exception', reason: 'Expected text at 1:22 but found START_OBJECT' } },
  strict: { type: 'strict_dynamic_mapping_exception', reason: '[1:18] mapping set to strict, dynamic introduction of [nope] within [_doc] is not allowed' },
  missingAlias: { type: 'index_not_found_exception', reason: 'no such index [x-alerts-+010.01] and [require_alias] request flag is [true] and [x-alerts-+010.01] is not an alias' },
  invalidIndex: { type: 'invalid_index_name_exception', reason: 'Invalid index name [x-BAD], must be lowercase' },
  writeBlock: { type: 'cluster_block_exception', reason: 'index [x-ok-000001] blocked by: [FORBIDDEN/8/index write (api)];' },
  floodStage: { type: 'cluster_block_exception', reason: 'index [x-ok-000001] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];' },
}

describe('the indexer error catalogue', () => {
  it.each([
    ['a date in year 10000', 400, measured.yearTenThousandDate, 'mapping-rejected', false],
    ['a 40 KB keyword', 400, measured.immenseKeyword, 'term-too-long', false],
    ['a 40 KB flattened label', 400, measured.immenseFlattened, 'term-too-long', false],
    ['an object for a keyword', 400, measured.objectForKeyword, 'mapping-rejected', false],
    ['an unknown field under strict mapping', 400, measured.strict, 'mapping-rejected', false],
    ['an older immense-term refusal', 400, { type: 'illegal_argument_exception', reason: 'x', caused_by: { type: 'max_bytes_length_exceeded_exception', reason: 'bytes can be at most 32766 in length; got 40000' } }, 'term-too-long', false],
    ['an invalid index name', 400, measured.invalidIndex, 'invalid-target', false],
    ['an invalid alias name', 400, { type: 'invalid_alias_name_exception', reason: "Invalid alias name [_bad]: must not start with '_', '-', or '+'" }, 'invalid-target', false],
    ['an unknown 4xx', 400, { type: 'something_new_exception', reason: 'x' }, 'document-rejected', false],
    ['a missing write alias', 404, measured.missingAlias, 'alias-missing', true],
    ['no permission to write', 403, { type: 'security_exception', reason: 'action [indices:data/write/bulk[s]] is unauthorized for API key id [k]' }, 'es-refused', true],
    ['bad credentials', 401, { type: 'security_exception', reason: 'unable to authenticate with provided credentials' }, 'es-refused', true],
    ['an alias left without a write index', 400, { type: 'illegal_argument_exception', reason: 'no write index is defined for alias [x-alerts-2026.11]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index' }, 'es-refused', true],
    ['a closed index', 400, { type: 'index_closed_exception', reason: 'closed' }, 'es-blocked', true],
    ['the shard limit at a new index', 400, { type: 'validation_exception', reason: 'Validation Failed: 1: this action would add [2] shards, but this cluster currently has [1000]/[1000] maximum normal shards open;' }, 'es-refused', true],
    ['a write block', 403, measured.writeBlock, 'es-blocked', true],
    ['a flood-stage block', 429, measured.floodStage, 'es-blocked', true],
    ['a rejected execution', 429, { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation' }, 'es-overloaded', true],
    ['a circuit breaker', 429, { type: 'circuit_breaking_exception', reason: '[parent] Data too large' }, 'es-overloaded', true],
    ['an unavailable shard', 503, { type: 'unavailable_shards_exception', reason: 'primary shard is not active' }, 'es-unavailable', true],
    ['an unknown 5xx', 500, { type: 'something_new_exception', reason: 'x' }, 'es-unavailable', true],
    ['no error body', 502, undefined, 'es-unavailable', true],
  ] as const)('%s is %s', (_what, status, error, code, retriable) => {
    expect(classifyItemError(status, error)).toMatchObject({ code, retriable })
  })

  it('says whether each code is retriable, and only load and outages are', () => {
    const retriable = Object.entries(INDEXER_FAILURES).filter(([, f]) => f.retriable).map(([code]) => code).sort()
    expect(retriable).toEqual(['alias-missing', 'breaker-open', 'es-blocked', 'es-overloaded', 'es-refused', 'es-unavailable', 'kafka-unavailable'])
  })

  it('classifies whole-request failures: connection errors and timeouts are outages, a response error by its body, ours by its code', () => {
    expect(classifyRequestError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { name: 'ConnectionError' }))).toMatchObject({ code: 'es-unavailable', retriable: true })
    expect(classifyRequestError(Object.assign(new Error('Request timed out'), { name: 'TimeoutError' }))).toMatchObject({ code: 'es-unavailable', retriable: true })
    expect(classifyRequestError(Object.assign(new Error('invalid_index_name_exception'), { name: 'ResponseError', meta: { statusCode: 400, body: { error: measured.invalidIndex, status: 400 } } }))).toMatchObject({ code: 'invalid-target', retriable: false })
    expect(classifyRequestError(Object.assign(new Error('x'), { name: 'ResponseError', meta: { statusCode: 429, body: { error: { type: 'es_rejected_execution_exception' } } } }))).toMatchObject({ code: 'es-overloaded', retriable: true })
    expect(classifyRequestError(new IndexerError('invalid-target', 'no month'))).toMatchObject({ code: 'invalid-target', retriable: false })
    // What we cannot tell apart is never treated as poison.
    expect(classifyRequestError('something odd')).toMatchObject({ code: 'es-unavailable', retriable: true })
  })

  it('recognises what opossum rejects with while its breaker is open', async () => {
    const breaker = new CircuitBreaker(async () => 'written')
    onTestFinished(() => breaker.shutdown())
    breaker.open()
    const rejection = await breaker.fire().then(() => undefined, (err: unknown) => err)
    // A plain Error (name 'Error') with a code: there is no OpenCircuitError to look for.
    expect(rejection).toMatchObject({ name: 'Error', code: 'EOPENBREAKER' })
    expect(classifyRequestError(rejection)).toMatchObject({ code: 'breaker-open', retriable: true })
  })
})

describe('isElasticsearchUnavailable', () => {
  const meta = { context: null, name: 'es', request: { params: { method: 'GET', path: '/_search' }, options: {}, id: 1 }, connection: null, attempts: 0, aborted: false }
  const response = (statusCode: number) => new esErrors.ResponseError({ statusCode, body: { error: { type: 'some_exception', reason: 'no' }, status: statusCode }, headers: {}, warnings: null, meta })

  it('is no connection, no answer in time, no node alive, a 429 and a 5xx', () => {
    for (const err of [new esErrors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200'), new esErrors.TimeoutError('Request timed out'), new esErrors.NoLivingConnectionsError('none', { body: undefined, statusCode: 0, headers: {}, warnings: null, meta }), response(429), response(500), response(503)]) {
      expect(isElasticsearchUnavailable(err), err.message).toBe(true)
    }
  })

  it('is not a 4xx, another error of the client (a request aborted) or an error not of the client', () => {
    for (const err of [response(400), response(404), new esErrors.RequestAbortedError('Request aborted'), new Error('connect ECONNREFUSED'), 'a string', undefined]) {
      expect(isElasticsearchUnavailable(err), String(err)).toBe(false)
    }
  })
})

