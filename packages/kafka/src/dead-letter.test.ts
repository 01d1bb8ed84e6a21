import type { IHeaders } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { deadLetterMessage, MAX_DEAD_LETTER_ERRORS, MAX_DEAD_LETTER_VALUE_BYTES, OMITTED_REPLAY_HEAD_CHARS, recordReplay, replayedMessage, type DeadLetterEnvelope } from './dead-letter.ts'
import { DEAD_LETTER_MAX_MESSAGE_BYTES } from './topics.ts'

const envelope = (errors: unknown[]): DeadLetterEnvelope => ({
  stage: 'receiver', reason: 'schema-invalid', error: 'invalid', at: '2026-12-04T00:00:00.000Z', detail: { status: 400, errors },
  replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: '{}' },
})
const fieldErrors = (n: number) => Array.from({ length: n }, (_, i) => ({ path: `/k${i}`, message: 'must NOT have additional properties' }))

describe('deadLetterMessage', () => {
  it('lists every field error up to the limit, the envelope as it is', () => {
    const e = envelope(fieldErrors(MAX_DEAD_LETTER_ERRORS))
    expect(JSON.parse(deadLetterMessage('k', e).value as string)).toEqual(e)
  })

  it('lists the first field errors past the limit and counts the rest, in the same envelope', () => {
    const errors = fieldErrors(MAX_DEAD_LETTER_ERRORS + 250)
    const message = deadLetterMessage('k', envelope(errors))
    const parsed = JSON.parse(message.value as string) as DeadLetterEnvelope
    expect(parsed.detail).toEqual({ status: 400, errors: errors.slice(0, MAX_DEAD_LETTER_ERRORS), errorsOmitted: 250 })
    expect(Object.keys(parsed)).toEqual(['stage', 'reason', 'error', 'at', 'detail', 'replay'])
    expect(parsed.replay).toEqual({ kind: 'webhook', path: '/webhooks/alertmanager', body: '{}' })
    expect(message.headers).toEqual({ 'opsreview-stage': 'receiver', 'opsreview-reason': 'schema-invalid' })
  })

  it('goes without its record when the record would take it past the dead-letter topic\'s limit, naming its size, hash and head', () => {
    // 9 MB of text on a topic is possible: the broker checks a batch's compressed size.
    const value = `not json ${'x'.repeat(9_000_000)}`
    const e: DeadLetterEnvelope = { stage: 'correlator', reason: 'undecodable', error: 'record is not JSON', at: '2026-12-05T00:00:00.000Z', origin: { topic: 'alerts', partition: 2, offset: '41' }, replay: { kind: 'record', topic: 'alerts', key: 'k', value } }
    const message = deadLetterMessage('alerts/2/41', e)
    expect(Buffer.byteLength(message.value as string)).toBeLessThan(MAX_DEAD_LETTER_VALUE_BYTES)
    expect(MAX_DEAD_LETTER_VALUE_BYTES).toBeLessThan(DEAD_LETTER_MAX_MESSAGE_BYTES)
    const parsed = JSON.parse(message.value as string) as DeadLetterEnvelope
    expect(parsed).toEqual({
      stage: 'correlator', reason: 'undecodable', error: 'record is not JSON', at: e.at, origin: e.origin,
      detail: { replayOmitted: { kind: 'record', bytes: 9_000_009, sha256: createHash('sha256').update(value).digest('hex'), head: value.slice(0, OMITTED_REPLAY_HEAD_CHARS) } },
    })
    // Just within the limit, it keeps the record.
    const fits = { ...e, replay: { kind: 'record' as const, topic: 'alerts', key: 'k', value: 'y'.repeat(MAX_DEAD_LETTER_VALUE_BYTES - 1000) } }
    expect(JSON.parse(deadLetterMessage('k', fits).value as string)).toEqual(fits)
  })

  it('cuts its texts when even without its record it would not fit: 100 field errors each naming a 110 KB field', () => {
    const errors = Array.from({ length: 100 }, (_, i) => ({ path: `/${'n'.repeat(110_000)}${i}`, message: 'must NOT have additional properties' }))
    const e: DeadLetterEnvelope = {
      stage: 'correlator', reason: 'schema-invalid', error: 'record is not a valid alert event', at: '2026-12-05T00:00:00.000Z',
      origin: { topic: 'alerts', partition: 0, offset: '7' }, detail: { errors }, replay: { kind: 'record', topic: 'alerts', key: null, value: 'x'.repeat(100) },
    }
    const message = deadLetterMessage('alerts/0/7', e)
    expect(Buffer.byteLength(message.value as string)).toBeLessThan(MAX_DEAD_LETTER_VALUE_BYTES)
    const parsed = JSON.parse(message.value as string) as DeadLetterEnvelope & { detail: { errors: { path: string; message: string }[]; replayOmitted: { bytes: number } } }
    expect(parsed.detail.errors).toHaveLength(100)
    expect(parsed.detail.errors[0]).toEqual({ path: `/${'n'.repeat(1022)}…`, message: 'must NOT have additional properties' })
    expect(parsed.detail.replayOmitted).toMatchObject({ kind: 'record', bytes: 100 })
    expect(parsed).toMatchObject({ stage: 'correlator', reason: 'schema-invalid', origin: e.origin })
  })
})

describe('recordReplay', () => {
  const bytes = (m: { key?: unknown; value?: unknown }, part: 'key' | 'value') => { const v = m[part]; return v === null || v === undefined ? v : Buffer.from(v as Buffer | string) }

  it('keeps text records as text, readable in the letter, and puts the same bytes back', () => {
    const record = { key: Buffer.from('checkout'), value: Buffer.from('{"service":"café ☕"}'), headers: { trace: Buffer.from('abc') } }
    const replay = recordReplay('alerts', record)
    expect(replay).toEqual({ kind: 'record', topic: 'alerts', key: 'checkout', value: '{"service":"café ☕"}', headers: { trace: ['abc'] } })
    const back = replayedMessage(JSON.parse(JSON.stringify(replay)))
    expect(bytes(back, 'value')).toEqual(record.value)
    expect(back.headers).toEqual({ trace: ['abc'] })
  })

  it('carries bytes that are not UTF-8 (and so the whole record) in base64, and puts them back unchanged', () => {
    // An Avro-framed value and a header of raw bytes: as text, each invalid byte would come back as U+FFFD.
    const record = { key: Buffer.from('k'), value: Buffer.from([0x00, 0x00, 0x00, 0x00, 0x07, 0xff, 0xfe, 0x80]), headers: { id: [Buffer.from([0xc3, 0x28]), Buffer.from('x')] } }
    const replay = recordReplay('alerts', record)
    expect(replay).toMatchObject({ encoding: 'base64', key: 'aw==', value: 'AAAAAAf//oA=' })
    const back = replayedMessage(JSON.parse(JSON.stringify(replay)))
    expect(bytes(back, 'key')).toEqual(record.key)
    expect(bytes(back, 'value')).toEqual(record.value)
    expect(back.headers).toEqual({ id: record.headers.id })
  })

  it('keeps a header without a value (another client wrote it; kafkajs reads it as null), as text or among bytes', () => {
    const nullValued = { traceparent: null } as unknown as IHeaders
    expect(recordReplay('alerts', { key: null, value: Buffer.from('not json'), headers: nullValued })).toEqual({ kind: 'record', topic: 'alerts', key: null, value: 'not json', headers: { traceparent: [null] } })
    const binary = recordReplay('alerts', { key: null, value: Buffer.from([0xff]), headers: nullValued })
    expect(binary).toMatchObject({ encoding: 'base64', value: '/w==', headers: { traceparent: [null] } })
    expect(replayedMessage(binary).headers).toEqual({ traceparent: [null] })
  })

  it('says the head of a record too large to carry is base64 when its bytes are not text', () => {
    const value = Buffer.alloc(7 * 1024 * 1024, 0xff)
    const e: DeadLetterEnvelope = { stage: 'correlator', reason: 'undecodable', error: 'not JSON', at: '2026-12-05T00:00:00.000Z', replay: recordReplay('alerts', { key: null, value }) }
    const parsed = JSON.parse(deadLetterMessage('alerts/0/1', e).value as string) as DeadLetterEnvelope
    expect(parsed.replay).toBeUndefined()
    expect(parsed.detail!.replayOmitted).toEqual({ kind: 'record', bytes: value.length, sha256: createHash('sha256').update(value).digest('hex'), head: value.toString('base64').slice(0, OMITTED_REPLAY_HEAD_CHARS), encoding: 'base64' })
  })

  it('keeps a tombstone a tombstone and a null key null, and leaves out headers a record has none of', () => {
    const replay = recordReplay('alerts', { key: null, value: null, headers: {} })
    expect(replay).toEqual({ kind: 'record', topic: 'alerts', key: null, value: null })
    expect(replayedMessage(replay)).toEqual({ key: null, value: null })
  })
})
