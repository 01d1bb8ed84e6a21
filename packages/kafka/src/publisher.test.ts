import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { Message } from 'kafkajs'
import { recordRefusal } from './errors.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, estimateMessageBytes } from './publisher.ts'

// kafkajs's own encoders (produce v3+ request, src/protocol/requests/produce/v3/request.js): the bytes a
// single-record batch really takes on the broker, which is what max.message.bytes limits.
const require = createRequire(import.meta.url)
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: object) => unknown
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (b: object) => Promise<{ size(): number }> }

async function encodedBatchBytes(m: Message): Promise<number> {
  const batch = await RecordBatch({ records: [Record({ ...m, offsetDelta: 0, timestampDelta: 0 })], lastOffsetDelta: 0 })
  return batch.size()
}

const bytesOrString = (max: number) => fc.oneof(fc.string({ maxLength: max, unit: 'grapheme' }), fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a)))

describe('estimateMessageBytes', () => {
  it('is never below the size kafkajs encodes for the message in a batch of its own', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        key: fc.option(bytesOrString(300), { nil: null }),
        value: fc.option(bytesOrString(70_000), { nil: null }),
        headers: fc.option(fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(bytesOrString(50), fc.array(bytesOrString(50), { maxLength: 3 })), { maxKeys: 4 }), { nil: undefined }),
      }),
      async (m) => {
        const message: Message = { key: m.key, value: m.value, ...(m.headers ? { headers: m.headers } : {}) }
        expect(estimateMessageBytes(message)).toBeGreaterThanOrEqual(await encodedBatchBytes(message))
      },
    ), { numRuns: 200 })
  })

  it('counts a value of exactly the default limit as over it', () => {
    expect(estimateMessageBytes({ key: null, value: 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES) })).toBeGreaterThan(DEFAULT_MAX_MESSAGE_BYTES)
    expect(estimateMessageBytes({ key: 'k', value: 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES - 200) })).toBeLessThanOrEqual(DEFAULT_MAX_MESSAGE_BYTES)
  })

  it('keeps the default limit under Kafka\'s default max.message.bytes (1048588)', () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBeLessThan(1048588)
  })
})

describe('recordRefusal', () => {
  it('finds the refusal in kafkajs errors and their causes, and nothing in unavailability', () => {
    expect(recordRefusal({ name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE' })).toBe('MESSAGE_TOO_LARGE')
    expect(recordRefusal({ name: 'KafkaJSNonRetriableError', cause: { type: 'INVALID_RECORD' } })).toBe('INVALID_RECORD')
    expect(recordRefusal({ name: 'KafkaJSNumberOfRetriesExceeded', cause: { cause: { type: 'RECORD_LIST_TOO_LARGE' } } })).toBe('RECORD_LIST_TOO_LARGE')
    expect(recordRefusal({ name: 'KafkaJSProtocolError', type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' })).toBeUndefined()
    expect(recordRefusal({ name: 'KafkaJSProtocolError', type: 'CORRUPT_MESSAGE' })).toBeUndefined()
    expect(recordRefusal({ name: 'KafkaJSError', originalError: { type: 'MESSAGE_TOO_LARGE' } })).toBe('MESSAGE_TOO_LARGE')
    expect(recordRefusal(new Error('Connection error: ECONNREFUSED'))).toBeUndefined()
    expect(recordRefusal(undefined)).toBeUndefined()
  })
})
