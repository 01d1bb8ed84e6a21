import { describe, expect, it } from 'vitest'
import { parseLookbackQuery } from './period.ts'

const NOW = Date.parse('2026-12-01T08:00:00.000Z')
const iso = (ms: number) => new Date(ms).toISOString()

describe('parseLookbackQuery', () => {
  it('reads a month and a quarter in the zone, with the period before', () => {
    const m = parseLookbackQuery({ period: 'month', at: '2026-11' }, NOW)
    expect(m.ok && { from: iso(m.value.period.from), to: iso(m.value.period.to), label: m.value.period.label, previous: m.value.previous.label }).toEqual({ from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z', label: '2026-11', previous: '2026-10' })
    // Q4 in Berlin starts at CEST midnight (22:00Z) and ends at CET midnight (23:00Z): 92 days and an hour.
    const q = parseLookbackQuery({ period: 'quarter', at: '2026-Q4', tz: 'Europe/Berlin' }, NOW)
    expect(q.ok && { from: iso(q.value.period.from), to: iso(q.value.period.to), previous: [q.value.previous.label, iso(q.value.previous.from), iso(q.value.previous.to)], tz: q.value.timeZone })
      .toEqual({ from: '2026-09-30T22:00:00.000Z', to: '2026-12-31T23:00:00.000Z', previous: ['2026-Q3', '2026-06-30T22:00:00.000Z', '2026-09-30T22:00:00.000Z'], tz: 'Europe/Berlin' })
    const jan = parseLookbackQuery({ period: 'month', at: '2027-01' }, NOW)
    expect(jan.ok && [jan.value.previous.label, iso(jan.value.previous.from)]).toEqual(['2026-12', '2026-12-01T00:00:00.000Z'])
    const q1 = parseLookbackQuery({ period: 'quarter', at: '2027-Q1' }, NOW)
    expect(q1.ok && q1.value.previous.label).toBe('2026-Q4')
  })

  it('defaults to the last complete period in the zone', () => {
    expect(parseLookbackQuery({ period: 'month' }, NOW)).toMatchObject({ value: { period: { label: '2026-11' } } })
    expect(parseLookbackQuery({ period: 'quarter' }, NOW)).toMatchObject({ value: { period: { label: '2026-Q3' }, previous: { label: '2026-Q2' } } })
    // 2026-12-31T23:30Z is already January in Berlin: the last complete month there is December.
    expect(parseLookbackQuery({ period: 'month', tz: 'Europe/Berlin' }, Date.parse('2026-12-31T23:30:00Z'))).toMatchObject({ value: { period: { label: '2026-12' } } })
  })

  it('names the faulty field', () => {
    expect(parseLookbackQuery({}, NOW)).toEqual({ ok: false, errors: [{ path: '/period', message: expect.stringContaining('required') }] })
    expect(parseLookbackQuery({ period: 'week' }, NOW)).toEqual({ ok: false, errors: [{ path: '/period', message: 'must be month or quarter' }] })
    expect(parseLookbackQuery({ period: 'month', at: '2026-Q4' }, NOW)).toMatchObject({ errors: [{ path: '/at' }] })
    expect(parseLookbackQuery({ period: 'quarter', at: '2026-11' }, NOW)).toMatchObject({ errors: [{ path: '/at' }] })
    for (const at of ['2026-13', '2026-00', '2026-Q5', '1969-12', '26-11', '2026-11-01']) expect(parseLookbackQuery({ period: at.includes('Q') ? 'quarter' : 'month', at }, NOW), at).toMatchObject({ errors: [{ path: '/at' }] })
    expect(parseLookbackQuery({ period: 'month', tz: 'Europe/Nowhere' }, NOW)).toMatchObject({ errors: [{ path: '/tz' }] })
    expect(parseLookbackQuery({ period: ['month', 'quarter'] }, NOW)).toMatchObject({ errors: [{ path: '/period', message: 'must be given once' }] })
  })

  it('refuses a period whose previous one, its comparison, starts before 1970, naming /at and the first it takes in the zone', () => {
    const refused = (first: string, zone: string) => ({ ok: false, errors: [{ path: '/at', message: `must be a period whose previous one (its comparison) starts in 1970 or later: ${first} or later in ${zone}` }] })
    expect(parseLookbackQuery({ period: 'month', at: '1970-01' }, NOW)).toEqual(refused('1970-02', 'UTC'))
    expect(parseLookbackQuery({ period: 'quarter', at: '1970-Q1' }, NOW)).toEqual(refused('1970-Q2', 'UTC'))
    // East of UTC, local 1 January 1970 is still 1969 in UTC: the first month it takes is March.
    expect(parseLookbackQuery({ period: 'month', at: '1970-02', tz: 'Europe/Berlin' }, NOW)).toEqual(refused('1970-03', 'Europe/Berlin'))
    expect(parseLookbackQuery({ period: 'quarter', at: '1970-Q2', tz: 'Asia/Tokyo' }, NOW)).toEqual(refused('1970-Q3', 'Asia/Tokyo'))
    expect(parseLookbackQuery({ period: 'month', at: '1970-02' }, NOW)).toMatchObject({ ok: true, value: { previous: { label: '1970-01', from: 0 } } })
    expect(parseLookbackQuery({ period: 'month', at: '1970-02', tz: 'America/New_York' }, NOW)).toMatchObject({ ok: true, value: { previous: { from: 5 * 3_600_000 } } })
    expect(parseLookbackQuery({ period: 'month', at: '1970-03', tz: 'Europe/Berlin' }, NOW)).toMatchObject({ ok: true })
    expect(parseLookbackQuery({ period: 'quarter', at: '9998-Q4', tz: 'Pacific/Kiritimati' }, NOW)).toMatchObject({ ok: true })
  })
})
