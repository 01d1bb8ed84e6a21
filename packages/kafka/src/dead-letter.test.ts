import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { deadLetterMessage, MAX_DEAD_LETTER_ERRORS, MAX_DEAD_LETTER_VALUE_BYTES, OMITTED_REPLAY_HEAD_CHARS, type DeadLetterEnvelope } from './dead-letter.ts'
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
