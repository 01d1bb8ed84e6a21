import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { IHeaders } from 'kafkajs'
import { deadLetterMessage, recordReplay, replayedMessage, type DeadLetterEnvelope, type RecordReplay } from '@opsreview/kafka/dead-letter'
import { parseDeadLetter, type RawDeadLetterRecord } from './record.ts'

const KAFKA_TIME = Date.parse('2026-12-01T10:00:00.000Z')

function raw(value: string | Buffer | null, extra: Partial<RawDeadLetterRecord> = {}): RawDeadLetterRecord {
  return { topic: 'dlq', partition: 0, offset: '7', timestamp: String(KAFKA_TIME), key: 'k', value, ...extra }
}

const envelope: DeadLetterEnvelope = {
  stage: 'correlator',
  reason: 'schema-invalid',
  error: 'severity must be one of critical, warning, info',
  at: '2026-12-01T09:59:58.500Z',
  origin: { topic: 'opsreview.alerts.v1', partition: 2, offset: '41' },
  detail: { errors: [{ path: '/severity' }] },
  replay: { kind: 'record', topic: 'opsreview.alerts.v1', key: 'checkout', value: '{"id":"e1"}' },
}

describe('parseDeadLetter', () => {
  it('reads the shared envelope, as deadLetterMessage writes it, with its replay', () => {
    const m = deadLetterMessage('opsreview.alerts.v1/2/41', envelope)
    const dl = parseDeadLetter(raw(m.value as string, { key: m.key as string, headers: m.headers }))
    expect(dl).toMatchObject({
      format: 'envelope', reason: 'schema-invalid', stage: 'correlator', error: envelope.error,
      at: Date.parse(envelope.at), key: 'opsreview.alerts.v1/2/41', notReplayable: undefined,
      replay: { kind: 'record', topic: 'opsreview.alerts.v1', key: 'checkout', value: '{"id":"e1"}' },
    })
  })

  it('reads a webhook replay', () => {
    const dl = parseDeadLetter(raw(JSON.stringify({ ...envelope, stage: 'receiver', reason: 'validation_failed', replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: '{"alerts":[]}' } })))
    expect(dl.replay).toEqual({ kind: 'webhook', path: '/webhooks/alertmanager', body: '{"alerts":[]}' })
  })

  it('counts an envelope without replay as not replayable', () => {
    const { replay: _replay, ...noReplay } = envelope
    const dl = parseDeadLetter(raw(JSON.stringify(noReplay)))
    expect(dl).toMatchObject({ format: 'envelope', reason: 'schema-invalid', replay: undefined, notReplayable: 'no replay in the record' })
  })

  it('says why a dead letter written without its too large record cannot be replayed, and where the record is', () => {
    const value = `{"id":"e1","pad":"${'x'.repeat(9_000_000)}"}`
    const m = deadLetterMessage('opsreview.alerts.v1/2/41', { ...envelope, replay: { kind: 'record', topic: 'opsreview.alerts.v1', key: 'checkout', value } })
    const dl = parseDeadLetter(raw(m.value as string))
    expect(dl.replay).toBeUndefined()
    expect(dl.notReplayable).toMatch(/^the record \(9000020 bytes, sha256 [0-9a-f]{64}\) was too large to carry: read it at its origin$/)
    expect(dl).toMatchObject({ format: 'envelope', reason: 'schema-invalid', stage: 'correlator' })
  })

  it("counts a receiver's letter whose body was cut or never read as not replayable, as letters before 2026-12-06 carried it", () => {
    const receiver = (detail: Record<string, unknown>, body: string) => parseDeadLetter(raw(JSON.stringify({
      ...envelope, stage: 'receiver', reason: 'schema-invalid', detail: { source: 'alertmanager', ...detail }, replay: { kind: 'webhook', path: '/webhooks/alertmanager', body },
    })))
    // Sent, the first 16 KiB of a body failed as invalid JSON, and an empty one likewise: a new letter of another reason each run.
    expect(receiver({ bodyBytes: 20_078, bodyTruncated: true }, '{"alerts":[')).toMatchObject({
      replay: undefined, notReplayable: "the request's body was cut (20078 bytes, the first kept to be read): its sender must send it again",
    })
    expect(receiver({ bodyBytes: 0, bodyTruncated: false, contentLength: 2_000_000 }, '')).toMatchObject({
      replay: undefined, notReplayable: 'the request was refused before its body was read (too large, or not JSON): its sender must send it again',
    })
    expect(receiver({ bodyBytes: 13, bodyTruncated: false }, '{"alerts":[]}').replay).toEqual({ kind: 'webhook', path: '/webhooks/alertmanager', body: '{"alerts":[]}' })
    // As the receiver writes them now: no replay, and the same reasons.
    const written = (detail: Record<string, unknown>) => parseDeadLetter(raw(JSON.stringify({ ...envelope, stage: 'receiver', replay: undefined, detail }))).notReplayable
    expect(written({ bodyBytes: 20_078, bodyTruncated: true, bodyHead: '{"alerts":[' })).toMatch(/^the request's body was cut/)
    expect(written({ bodyBytes: 0, bodyTruncated: false })).toMatch(/^the request was refused before its body was read/)
  })

  it('says that a letter sent without its replay, which Kafka refused, holds none', () => {
    const { replay: _replay, ...slim } = envelope
    const dl = parseDeadLetter(raw(JSON.stringify({ ...slim, detail: { replayDropped: 'The request included a message larger than the max message size the server will accept' } })))
    expect(dl.notReplayable).toBe('the replay was left out for its size (The request included a message larger than the max message size the server will accept): read the input at its origin')
  })

  it.each([
    [{ kind: 'record', key: 'k', value: 'v' }, 'replay.topic is missing'],
    [{ kind: 'record', topic: 't', key: 3, value: 'v' }, 'replay.key must be a string or null'],
    [{ kind: 'record', topic: 't', key: null, value: { a: 1 } }, 'replay.value must be a string or null'],
    [{ kind: 'record', topic: 't', key: null, value: 'not base64!', encoding: 'base64' }, 'replay.value must be a base64 string or null'],
    [{ kind: 'record', topic: 't', key: 'QQ=', value: null, encoding: 'base64' }, 'replay.key must be a base64 string or null'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', encoding: 'hex' }, 'replay.encoding must be base64 or absent'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', headers: ['trace'] }, 'replay.headers must be an object'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', headers: { trace: 'abc' } }, 'replay.headers.trace must be a list of strings or nulls'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', base64: { value: true }, encoding: 'base64' }, 'replay.base64 and replay.encoding cannot both be set'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', base64: ['value'] }, 'replay.base64 must be an object'],
    [{ kind: 'record', topic: 't', key: null, value: 'dg==', base64: { timestamp: true } }, 'replay.base64.timestamp is not a part of a record'],
    [{ kind: 'record', topic: 't', key: 'k', value: 'dg==', base64: { value: 'yes' } }, 'replay.base64.value must be true or absent'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', base64: { key: true } }, 'replay.base64.key names a null key'],
    [{ kind: 'record', topic: 't', key: 'k', value: 'not base64!', base64: { value: true } }, 'replay.value must be a base64 string or null'],
    [{ kind: 'record', topic: 't', key: 'QQ=', value: 'v', base64: { key: true } }, 'replay.key must be a base64 string or null'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', base64: { headers: [] } }, 'replay.base64.headers must be an object'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', base64: { headers: { trace: [0] } } }, 'replay.base64.headers.trace names a header the replay does not have'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', headers: {}, base64: { headers: { constructor: [0] } } }, 'replay.base64.headers.constructor names a header the replay does not have'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', headers: { trace: ['YWJj'] }, base64: { headers: { trace: [1] } } }, 'replay.base64.headers.trace must list positions of values in replay.headers.trace'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', headers: { trace: [null] }, base64: { headers: { trace: [0] } } }, 'replay.base64.headers.trace must list positions of values in replay.headers.trace'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', headers: { trace: ['YWJj'] }, base64: { headers: { trace: 0 } } }, 'replay.base64.headers.trace must list positions of values in replay.headers.trace'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', headers: { trace: ['x', 'not base64!'] }, base64: { headers: { trace: [1] } } }, 'replay.headers.trace[1] must be a base64 string'],
    [{ kind: 'record', topic: 't', key: null, value: 'v', headers: { trace: ['not base64!'] }, encoding: 'base64' }, 'replay.value must be a base64 string or null'],
    [{ kind: 'record', topic: 't', key: null, value: 'dg==', headers: { trace: ['not base64!'] }, encoding: 'base64' }, 'replay.headers.trace must be a list of base64 strings or nulls'],
    [{ kind: 'webhook', path: 'https://elsewhere.example/x', body: '{}' }, 'replay.path must be a path starting with /'],
    [{ kind: 'webhook', path: '/webhooks/pingdom' }, 'replay.body must be a string'],
    [{ kind: 'email' }, 'unknown replay kind "email"'],
    ['back to alerts', 'replay is not an object'],
  ])('a malformed replay %j is not replayable: %s', (replay, why) => {
    const dl = parseDeadLetter(raw(JSON.stringify({ ...envelope, replay })))
    expect(dl.replay).toBeUndefined()
    expect(dl.notReplayable).toBe(why)
    expect(dl.reason).toBe('schema-invalid')
  })

  it('keeps a record-kind replay with a null key', () => {
    const dl = parseDeadLetter(raw(JSON.stringify({ ...envelope, replay: { kind: 'record', topic: 't', key: null, value: 'v' } })))
    expect(dl.replay).toEqual({ kind: 'record', topic: 't', key: null, value: 'v' })
  })

  it('keeps a tombstone, and bytes and headers in base64, as recordReplay writes them', () => {
    const replay = { kind: 'record', topic: 't', key: 'AP8=', value: null, encoding: 'base64', headers: { trace: ['YWJj', ''], empty: [null] } }
    expect(parseDeadLetter(raw(JSON.stringify({ ...envelope, replay }))).replay).toEqual(replay)
  })

  it('keeps a replay with only its bytes in base64, as recordReplay writes it, and puts back the bytes it was read as', () => {
    const record = { key: Buffer.from('checkout'), value: Buffer.from('{"id":"e1"}'), headers: { trace: [Buffer.from([0xc3, 0x28]), Buffer.from('x')], empty: null } as unknown as IHeaders }
    const m = deadLetterMessage('o/0/1', { ...envelope, replay: recordReplay('t', record) })
    const replay = parseDeadLetter(raw(m.value as string)).replay as RecordReplay
    expect(replay).toEqual({ kind: 'record', topic: 't', key: 'checkout', value: '{"id":"e1"}', headers: { trace: ['wyg=', 'x'], empty: [null] }, base64: { headers: { trace: [0] } } })
    expect(replayedMessage(replay)).toEqual({ key: 'checkout', value: '{"id":"e1"}', headers: { trace: [Buffer.from([0xc3, 0x28]), 'x'], empty: [null] } })
  })

  it('reads a letter of the older all-base64 shape as written, and it puts back the same bytes as one written today', () => {
    // How a record with one part that is not UTF-8 was dead-lettered before per-part base64.
    const key = Buffer.from('checkout')
    const value = Buffer.from('{"id":"e1","service":"café"}')
    const trace = Buffer.from([0xc3, 0x28])
    const old = { kind: 'record', topic: 't', key: key.toString('base64'), value: value.toString('base64'), encoding: 'base64', headers: { trace: [trace.toString('base64')], empty: [null] } }
    const oldReplay = parseDeadLetter(raw(JSON.stringify({ ...envelope, replay: old }))).replay as RecordReplay
    expect(oldReplay).toEqual(old)
    const m = deadLetterMessage('o/0/1', { ...envelope, replay: recordReplay('t', { key, value, headers: { trace, empty: null } as unknown as IHeaders }) })
    const newReplay = parseDeadLetter(raw(m.value as string)).replay as RecordReplay
    const asBytes = (msg: ReturnType<typeof replayedMessage>) => ({
      key: msg.key === null ? null : Buffer.from(msg.key!), value: msg.value === null ? null : Buffer.from(msg.value!),
      headers: Object.fromEntries(Object.entries(msg.headers ?? {}).map(([n, vs]) => [n, (vs as (Buffer | string | null)[]).map((v) => (v === null ? null : Buffer.from(v)))])),
    })
    expect(asBytes(replayedMessage(oldReplay))).toEqual({ key, value, headers: { trace: [trace], empty: [null] } })
    expect(asBytes(replayedMessage(newReplay))).toEqual(asBytes(replayedMessage(oldReplay)))
  })

  it('puts back any record byte for byte through the letter: text, bytes, nulls, repeated headers', () => {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)), fc.string({ unit: 'grapheme', maxLength: 12 }).map((t) => Buffer.from(t)))
    const part = fc.option(bytes, { nil: null })
    const headers = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.array(part, { minLength: 1, maxLength: 3 }), { maxKeys: 4 })
    const asBytes = (v: unknown) => (v === null || v === undefined ? null : Buffer.from(v as Buffer | string))
    fc.assert(fc.property(part, part, headers, (key, value, hs) => {
      const m = deadLetterMessage('o/0/1', { ...envelope, replay: recordReplay('t', { key, value, headers: hs as unknown as IHeaders }) })
      const dl = parseDeadLetter(raw(m.value as string))
      expect(dl.notReplayable).toBeUndefined()
      const back = replayedMessage(dl.replay as RecordReplay)
      expect(asBytes(back.key)).toEqual(key)
      expect(asBytes(back.value)).toEqual(value)
      expect(Object.fromEntries(Object.entries(back.headers ?? {}).map(([n, vs]) => [n, (vs as unknown[]).map(asBytes)]))).toEqual(hs)
    }))
  })

  it("counts the rekey stage's older {reason, error, value} under its reason, at the Kafka time", () => {
    const dl = parseDeadLetter(raw(JSON.stringify({ reason: 'invalid', error: 'not JSON', value: 'garbage' })))
    expect(dl).toMatchObject({ format: 'legacy', reason: 'invalid', error: 'not JSON', at: KAFKA_TIME, stage: undefined, replay: undefined })
  })

  it("counts the receiver's older rejected record under its reason", () => {
    const old = { reason: 'validation_failed', status: 422, source: 'alertmanager', path: '/webhooks/alertmanager', requestId: 'r1', receivedAt: '2026-11-30T08:00:00.000Z', detail: 'alerts[0].status is required', bodyBytes: 10, body: '{"x":1}', bodyTruncated: false }
    const dl = parseDeadLetter(raw(JSON.stringify(old)))
    expect(dl).toMatchObject({ format: 'legacy', reason: 'validation_failed', error: 'alerts[0].status is required', at: KAFKA_TIME, replay: undefined })
  })

  it('counts a JSON object without a reason as unknown', () => {
    expect(parseDeadLetter(raw('{"status":500}'))).toMatchObject({ format: 'legacy', reason: 'unknown' })
    expect(parseDeadLetter(raw('{"reason":"  "}')).reason).toBe('unknown')
  })

  it('counts a value that is not a JSON object, using the reason header when there is one', () => {
    expect(parseDeadLetter(raw('not json'))).toMatchObject({ format: 'unparseable', reason: 'unknown', at: KAFKA_TIME })
    expect(parseDeadLetter(raw(null))).toMatchObject({ format: 'unparseable', reason: 'unknown' })
    expect(parseDeadLetter(raw('[1,2]'))).toMatchObject({ format: 'unparseable' })
    const withHeader = parseDeadLetter(raw(Buffer.from([0xff, 0x00]), { headers: { 'opsreview-reason': Buffer.from('record-too-large'), 'opsreview-stage': 'indexer' } }))
    expect(withHeader).toMatchObject({ format: 'unparseable', reason: 'record-too-large', stage: 'indexer' })
  })

  it('takes an envelope with an unreadable time as legacy, at the Kafka time', () => {
    const dl = parseDeadLetter(raw(JSON.stringify({ ...envelope, at: 'yesterday' })))
    expect(dl).toMatchObject({ format: 'legacy', at: KAFKA_TIME, reason: 'schema-invalid' })
  })

  it('never throws, whatever the bytes, and always names a reason', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.json(), fc.uint8Array().map((a) => Buffer.from(a))), (value) => {
      const dl = parseDeadLetter(raw(value))
      expect(dl.reason.length).toBeGreaterThan(0)
      expect(dl.replay === undefined).toBe(dl.notReplayable !== undefined)
    }))
  })
})
