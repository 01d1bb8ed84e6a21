import { describe, expect, it } from 'vitest'
import { addDays, canonicalZone, instantOf, localDate, localIso, localMinute, offsetAt, startOfDay, startOfDayAt } from './zone.ts'

const H = 3_600_000
const B = 'Europe/Berlin'
const Z = (s: string) => Date.parse(s)

describe('time zones', () => {
  it('knows IANA zones by their canonical names and nothing else', () => {
    expect(canonicalZone('Europe/Berlin')).toBe('Europe/Berlin')
    expect(canonicalZone('UTC')).toBe('UTC')
    expect(canonicalZone('europe/berlin')).toBe('Europe/Berlin')
    expect(canonicalZone('America/Argentina/Buenos_Aires')).toMatch(/Buenos_Aires$/)
    for (const bad of ['Mars/Olympus_Mons', 'Europe/Berlinn', '+01:00', 'UTC+1', '', 'Europe/../etc', 'x'.repeat(100), 'Europe/Berlin\n']) expect(canonicalZone(bad), bad).toBeUndefined()
  })

  it('gives the offset on either side of the DST changes of 2026 in Berlin', () => {
    expect(offsetAt(B, Z('2026-03-29T00:59:59Z'))).toBe(H)
    expect(offsetAt(B, Z('2026-03-29T01:00:00Z'))).toBe(2 * H)
    expect(offsetAt(B, Z('2026-10-25T00:59:59Z'))).toBe(2 * H)
    expect(offsetAt(B, Z('2026-10-25T01:00:00Z'))).toBe(H)
  })

  it('has a 23-hour local day in spring and a 25-hour one in autumn', () => {
    const day = (d: string) => { const [y, m, dd] = d.split('-').map(Number) as [number, number, number]; const date = { year: y, month: m, day: dd }; return startOfDay(B, addDays(date, 1)) - startOfDay(B, date) }
    expect(startOfDay(B, { year: 2026, month: 3, day: 29 })).toBe(Z('2026-03-28T23:00:00Z'))
    expect(day('2026-03-28')).toBe(24 * H)
    expect(day('2026-03-29')).toBe(23 * H)
    expect(day('2026-10-25')).toBe(25 * H)
    expect(startOfDay(B, { year: 2026, month: 10, day: 26 })).toBe(Z('2026-10-25T23:00:00Z'))
    expect(startOfDayAt(B, Z('2026-10-25T22:59:59Z'))).toBe(Z('2026-10-24T22:00:00Z'))
    expect(localDate(B, Z('2026-10-25T22:59:59Z'))).toBe('2026-10-25')
    expect(localDate(B, Z('2026-10-25T23:00:00Z'))).toBe('2026-10-26')
  })

  it('moves a wall time the clocks skip forward, and takes the first of one that happens twice', () => {
    // 02:30 does not exist on 29 March: it is read as 03:30 CEST.
    expect(instantOf(B, { year: 2026, month: 3, day: 29, hour: 2, minute: 30 })).toBe(Z('2026-03-29T01:30:00Z'))
    // 02:30 happens twice on 25 October: first in CEST (00:30Z), then in CET (01:30Z).
    expect(instantOf(B, { year: 2026, month: 10, day: 25, hour: 2, minute: 30 })).toBe(Z('2026-10-25T00:30:00Z'))
    expect(instantOf(B, { year: 2026, month: 10, day: 25, hour: 9, minute: 0 })).toBe(Z('2026-10-25T08:00:00Z'))
    // A midnight that falls in a gap (Santiago, 2026-09-06): the day starts at 01:00.
    expect(localMinute('America/Santiago', startOfDay('America/Santiago', { year: 2026, month: 9, day: 6 }))).toBe('2026-09-06 01:00')
  })

  it('writes instants with the offset in force then', () => {
    expect(localIso(B, Z('2026-12-01T08:00:00Z'))).toBe('2026-12-01T09:00:00+01:00')
    expect(localIso(B, Z('2026-07-01T08:00:00Z'))).toBe('2026-07-01T10:00:00+02:00')
    expect(localIso('UTC', Z('2026-07-01T08:00:00Z'))).toBe('2026-07-01T08:00:00Z')
    expect(localIso('America/St_Johns', Z('2026-12-01T08:00:00Z'))).toBe('2026-12-01T04:30:00-03:30')
    expect(localMinute(B, Z('2026-12-01T08:00:00Z'))).toBe('2026-12-01 09:00')
  })

  it('reads the years 0–99 as themselves, not as 1900–1999', () => {
    const year = (y: number, iso: string) => { const d = new Date(Z(`2000-${iso}`)); d.setUTCFullYear(y); return d.getTime() }
    expect(offsetAt('UTC', year(50, '06-01T12:00:00Z'))).toBe(0)
    expect(instantOf('UTC', { year: 50, month: 6, day: 1, hour: 12, minute: 0 })).toBe(year(50, '06-01T12:00:00Z'))
    // Berlin kept local mean time then: +0:53:28, as ICU has it.
    expect(offsetAt(B, year(1, '01-01T00:00:00Z'))).toBe((53 * 60 + 28) * 1000)
    expect(startOfDay(B, { year: 1, month: 1, day: 1 })).toBe(year(1, '01-01T00:00:00Z') - (53 * 60 + 28) * 1000)
    expect(localIso(B, startOfDay(B, { year: 99, month: 12, day: 31 }))).toBe('0099-12-31T00:00:00+00:53')
    // Year 0 (1 BC) is a leap year; so is 2000 and not 1900.
    expect(addDays({ year: 0, month: 2, day: 28 }, 1)).toEqual({ year: 0, month: 2, day: 29 })
    expect(addDays({ year: 99, month: 12, day: 31 }, 1)).toEqual({ year: 100, month: 1, day: 1 })
  })
})
