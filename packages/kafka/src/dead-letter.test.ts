import type { IHeaders } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { deadLetterMessage, MAX_DEAD_LETTER_ERRORS, MAX_DEAD_LETTER_VALUE_BYTES, OMITTED_REPLAY_HEAD_CHARS, recordReplay, replayedMessage, replayValueEncoding, type DeadLetterEnvelope, type RecordReplay } from './dead-letter.ts'
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

describe('deadLetterMessage, cutting texts', () => {
  const emoji = '\u{1F600}'
  it('never ends a head or a cut text inside a surrogate pair', () => {
    // One unit before a run of emoji: the record's head of 4,096 units and a field name's 1,023 would each end on a first half.
    const value = `x${emoji.repeat(5_000_000)}`
    const e: DeadLetterEnvelope = { stage: 'correlator', reason: 'undecodable', error: 'not JSON', at: '2026-12-05T00:00:00.000Z', replay: { kind: 'record', topic: 'alerts', key: null, value } }
    const omitted = (JSON.parse(deadLetterMessage('k', e).value as string) as { detail: { replayOmitted: { head: string } } }).detail.replayOmitted
    expect(omitted.head).toBe(`x${emoji.repeat(2047)}`)
    expect(omitted.head.isWellFormed()).toBe(true)
    const errors = Array.from({ length: 100 }, () => ({ path: `/x${emoji.repeat(60_000)}`, message: 'must NOT have additional properties' }))
    const cut = deadLetterMessage('k', { stage: 'correlator', reason: 'schema-invalid', error: 'invalid', at: e.at, detail: { errors } })
    expect(cut.value).not.toMatch(/\\ud[89ab]/i)
    const path = (JSON.parse(cut.value as string) as { detail: { errors: { path: string }[] } }).detail.errors[0]!.path
    expect(path).toBe(`/x${emoji.repeat(510)}…`)
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

  it('carries only the parts that are not UTF-8 in base64, names them, and puts every part back unchanged', () => {
    // An Avro-framed value and a header of raw bytes: as text, each invalid byte would come back as U+FFFD.
    const record = { key: Buffer.from('k'), value: Buffer.from([0x00, 0x00, 0x00, 0x00, 0x07, 0xff, 0xfe, 0x80]), headers: { id: [Buffer.from([0xc3, 0x28]), Buffer.from('x')] } }
    const replay = recordReplay('alerts', record)
    expect(replay).toEqual({ kind: 'record', topic: 'alerts', key: 'k', value: 'AAAAAAf//oA=', headers: { id: ['wyg=', 'x'] }, base64: { value: true, headers: { id: [0] } } })
    const back = replayedMessage(JSON.parse(JSON.stringify(replay)))
    expect(bytes(back, 'key')).toEqual(record.key)
    expect(bytes(back, 'value')).toEqual(record.value)
    expect((back.headers!.id as (Buffer | string)[]).map((v) => Buffer.from(v))).toEqual(record.headers.id)
  })

  it('round-trips every mix of text, bytes and nulls in key, value and header values byte for byte', () => {
    const text = Buffer.from('{"service":"café ☕"}')
    const binary = Buffer.from([0xff, 0x00, 0xc3, 0x28, 0xed, 0xa0, 0x80]) // invalid UTF-8, a NUL, an encoded surrogate
    const kinds = [null, text, binary, Buffer.alloc(0)]
    for (const key of kinds) {
      for (const value of kinds) {
        // A header named like an Object.prototype member must not be read as one.
        const headers = { trace: [binary, null, text], constructor: text, empty: null } as unknown as IHeaders
        const replay = JSON.parse(JSON.stringify(recordReplay('alerts', { key, value, headers }))) as RecordReplay
        const back = replayedMessage(replay)
        expect(bytes(back, 'key')).toEqual(key)
        expect(bytes(back, 'value')).toEqual(value)
        const asBytes = (v: unknown) => (v === null ? null : Buffer.from(v as Buffer | string))
        expect((back.headers!.trace as unknown[]).map(asBytes)).toEqual([binary, null, text])
        expect((back.headers!.constructor as unknown as unknown[]).map(asBytes)).toEqual([text])
        expect(back.headers!.empty).toEqual([null])
        expect(replay.base64?.headers).toEqual({ trace: [0] })
      }
    }
  })

  it('puts back a letter of the older shape (every part base64, encoding: base64) as the bytes it was written from', () => {
    // As recordReplay wrote it until per-part base64: such letters stay on the dead-letter topics for 30 days.
    const old: RecordReplay = { kind: 'record', topic: 'alerts', key: 'aw==', value: 'AAAAAAf//oA=', encoding: 'base64', headers: { id: ['wyg=', 'eA=='], empty: [null] } }
    const back = replayedMessage(old)
    expect(back).toEqual({ key: Buffer.from('k'), value: Buffer.from([0x00, 0x00, 0x00, 0x00, 0x07, 0xff, 0xfe, 0x80]), headers: { id: [Buffer.from([0xc3, 0x28]), Buffer.from('x')], empty: [null] } })
    // The same record written today puts back the same bytes.
    const now = replayedMessage(recordReplay('alerts', { key: Buffer.from('k'), value: back.value as Buffer, headers: { id: [Buffer.from([0xc3, 0x28]), Buffer.from('x')], empty: null } as unknown as IHeaders }))
    expect(bytes(now, 'key')).toEqual(back.key)
    expect(bytes(now, 'value')).toEqual(back.value)
    expect((now.headers!.id as unknown[]).map((v) => Buffer.from(v as Buffer | string))).toEqual(back.headers!.id)
    expect(replayValueEncoding(old)).toBe('base64')
    expect(replayValueEncoding({ ...old, encoding: undefined, base64: { key: true } })).toBeUndefined()
  })

  it('keeps a header without a value (another client wrote it; kafkajs reads it as null), as text or among bytes', () => {
    const nullValued = { traceparent: null } as unknown as IHeaders
    expect(recordReplay('alerts', { key: null, value: Buffer.from('not json'), headers: nullValued })).toEqual({ kind: 'record', topic: 'alerts', key: null, value: 'not json', headers: { traceparent: [null] } })
    const binary = recordReplay('alerts', { key: null, value: Buffer.from([0xff]), headers: nullValued })
    expect(binary).toEqual({ kind: 'record', topic: 'alerts', key: null, value: '/w==', headers: { traceparent: [null] }, base64: { value: true } })
    expect(replayedMessage(binary).headers).toEqual({ traceparent: [null] })
  })

  it('says the head of a record too large to carry is base64 when its bytes are not text', () => {
    const value = Buffer.alloc(7 * 1024 * 1024, 0xff)
    const e: DeadLetterEnvelope = { stage: 'correlator', reason: 'undecodable', error: 'not JSON', at: '2026-12-05T00:00:00.000Z', replay: recordReplay('alerts', { key: null, value }) }
    const parsed = JSON.parse(deadLetterMessage('alerts/0/1', e).value as string) as DeadLetterEnvelope
    expect(parsed.replay).toBeUndefined()
    expect(parsed.detail!.replayOmitted).toEqual({ kind: 'record', bytes: value.length, sha256: createHash('sha256').update(value).digest('hex'), head: value.toString('base64').slice(0, OMITTED_REPLAY_HEAD_CHARS), encoding: 'base64' })
  })

  it('keeps the replay of a 6 MiB text value whose one header is not text: only the header is base64', () => {
    // Base64 of the whole record would be 8 MiB, past MAX_DEAD_LETTER_VALUE_BYTES (8 MiB less 64 KiB): the replay was lost.
    const value = Buffer.from(`{"id":"e1","pad":"${'x'.repeat(6 * 1024 * 1024)}"}`)
    const trace = Buffer.from([0xc3, 0x28, 0xff])
    const record = { key: Buffer.from('checkout'), value, headers: { trace, 'content-type': 'application/json' } }
    const e: DeadLetterEnvelope = { stage: 'correlator', reason: 'schema-invalid', error: 'invalid', at: '2026-12-05T00:00:00.000Z', replay: recordReplay('alerts', record) }
    const letter = deadLetterMessage('alerts/0/1', e)
    expect(Buffer.byteLength(letter.value as string)).toBeLessThan(MAX_DEAD_LETTER_VALUE_BYTES)
    const parsed = JSON.parse(letter.value as string) as DeadLetterEnvelope
    expect(Object.keys(parsed)).not.toContain('detail') // no replayOmitted
    const replay = parsed.replay as RecordReplay
    expect(replay.value).toBe(value.toString())
    expect(replay.key).toBe('checkout')
    expect(replay.headers).toEqual({ trace: [trace.toString('base64')], 'content-type': ['application/json'] })
    expect(replay.base64).toEqual({ headers: { trace: [0] } })
    const back = replayedMessage(replay)
    expect(bytes(back, 'value')).toEqual(value)
    expect(bytes(back, 'key')).toEqual(record.key)
    expect(back.headers).toEqual({ trace: [trace], 'content-type': ['application/json'] })
  })

  it('keeps a tombstone a tombstone and a null key null, and leaves out headers a record has none of', () => {
    const replay = recordReplay('alerts', { key: null, value: null, headers: {} })
    expect(replay).toEqual({ kind: 'record', topic: 'alerts', key: null, value: null })
    expect(replayedMessage(replay)).toEqual({ key: null, value: null })
  })
})
