import { describe, expect, it } from 'vitest'
import { deadLetterMessage, MAX_DEAD_LETTER_ERRORS, type DeadLetterEnvelope } from './dead-letter.ts'

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
})
