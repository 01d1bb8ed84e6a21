import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseTime } from './state.ts'

describe('parseTime', () => {
  it('reads every instant exactly as Date.parse does', () => {
    // From year 0: Date.UTC reads years 0–99 as 1900–1999, which the parser must not.
    const instant = fc.integer({ min: Date.parse('0000-01-01T00:00:00Z'), max: Date.parse('2200-01-01T00:00:00Z') })
    fc.assert(fc.property(instant, fc.boolean(), (t, withMs) => {
      const text = withMs ? new Date(t).toISOString() : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z')
      expect(parseTime(text)).toBe(Date.parse(text))
    }), { numRuns: 2000 })
  })

  it.each([
    '2026-02-30T10:00:00Z', '2026-13-01T10:00:00Z', '2026-11-30T24:00:00Z', '2026-11-30T10:00:60Z', '2026-11-30T10:00:00+02:00',
    '2026-11-30T10:00:00.5Z', '2026-11-30 10:00:00Z', '2026-1a-30T10:00:00Z', 'not a time', '',
  ])('leaves %j to Date.parse', (text) => {
    expect(Object.is(parseTime(text), Date.parse(text))).toBe(true)
  })
})
