import { describe, expect, it } from 'vitest'
import { LATEST_MS, parseInstant } from './time.ts'

describe('parseInstant', () => {
  it('reads RFC 3339 date-times with an offset, and dates as UTC midnight', () => {
    expect(parseInstant('2026-12-01T08:00:00Z')).toEqual({ ok: true, ms: Date.parse('2026-12-01T08:00:00Z'), iso: '2026-12-01T08:00:00.000Z' })
    expect(parseInstant('2026-12-01T09:00:00.123456+01:00')).toMatchObject({ ok: true, iso: '2026-12-01T08:00:00.123Z' })
    expect(parseInstant('2026-12-01')).toMatchObject({ ok: true, iso: '2026-12-01T00:00:00.000Z' })
    expect(parseInstant('9999-12-31T23:59:59.999Z')).toMatchObject({ ok: true, ms: LATEST_MS })
    expect(parseInstant('1970-01-01T00:00:00Z')).toMatchObject({ ok: true, ms: 0 })
  })

  it('refuses what Date reads leniently, cannot hold, or Elasticsearch cannot store', () => {
    for (const v of ['1', 'now', '2026-12-01T08:00:00', '2026-12-01 08:00:00Z', '2026-02-30', '2026-13-01', '2026-12-01T24:00:00Z', '2026-12-01T08:00:00+24:00',
      '+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '275760-09-13T00:00:00Z', '0000-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '9999-12-31T23:59:59-01:00', '']) {
      expect(parseInstant(v).ok, v).toBe(false)
    }
  })

  it('names the range, not the form, of a well-formed date-time its offset carries past 9999', () => {
    const range = { ok: false, message: 'must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' }
    expect(parseInstant('9999-12-31T23:59:59.999-01:00')).toEqual(range)
    expect(parseInstant('9999-12-31T23:30:00-0100')).toEqual(range)
    expect(parseInstant('1969-12-31T23:59:59Z')).toEqual(range)
    // Malformed ones keep the form's message: a bad offset, a day the month lacks.
    for (const v of ['9999-12-31T23:59:59-24:00', '2026-02-30T08:00:00+01:00', '2026-12-01T08:00:00']) expect(parseInstant(v), v).toEqual({ ok: false, message: expect.stringContaining('RFC 3339') })
  })

  it('names the leap second for what it is', () => {
    expect(parseInstant('2016-12-31T23:59:60Z')).toEqual({ ok: false, message: expect.stringContaining('leap second') })
  })
})
