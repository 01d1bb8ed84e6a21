import { describe, expect, it } from 'vitest'
import { parseReviewWindow } from './window.ts'

const NOW = Date.parse('2026-12-01T08:00:00.000Z')

describe('parseReviewWindow', () => {
  it('is the last 24 h by default, since a duration, or from/to with either left out', () => {
    // `now` is the report's clock, which service levels stop at (report.ts).
    expect(parseReviewWindow({}, NOW)).toEqual({ ok: true, value: { from: '2026-11-30T08:00:00.000Z', to: '2026-12-01T08:00:00.000Z', timeZone: 'UTC', now: '2026-12-01T08:00:00.000Z' } })
    expect(parseReviewWindow({ since: '90m' }, NOW)).toMatchObject({ value: { from: '2026-12-01T06:30:00.000Z' } })
    expect(parseReviewWindow({ to: '2026-11-01' }, NOW)).toMatchObject({ value: { from: '2026-10-31T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' } })
    expect(parseReviewWindow({ from: '2026-11-01T00:00:00Z' }, NOW)).toMatchObject({ value: { from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T08:00:00.000Z' } })
    expect(parseReviewWindow({ to: '1970-01-02T00:00:00Z' }, NOW)).toMatchObject({ value: { from: '1970-01-01T00:00:00.000Z' } })
  })

  it('starts a window that ends on a calendar date at the local day before it, however long that day was', () => {
    // 25 October 2026 in Berlin lasted 25 h (the clocks went back), 29 March 23 h.
    expect(parseReviewWindow({ to: '2026-10-26', tz: 'Europe/Berlin' }, NOW)).toMatchObject({ ok: true, value: { from: '2026-10-24T22:00:00.000Z', to: '2026-10-25T23:00:00.000Z' } })
    expect(parseReviewWindow({ to: '2026-03-30', tz: 'Europe/Berlin' }, NOW)).toMatchObject({ ok: true, value: { from: '2026-03-28T23:00:00.000Z', to: '2026-03-29T22:00:00.000Z' } })
    // Apia skipped 30 December 2011: the day that ends at 31 December's midnight is the 29th.
    expect(parseReviewWindow({ to: '2011-12-31', tz: 'Pacific/Apia' }, NOW)).toMatchObject({ ok: true, value: { from: '2011-12-29T10:00:00.000Z', to: '2011-12-30T10:00:00.000Z' } })
    // A date-time is an instant: 24 h before it.
    expect(parseReviewWindow({ to: '2026-10-26T00:00:00+01:00', tz: 'Europe/Berlin' }, NOW)).toMatchObject({ ok: true, value: { from: '2026-10-24T23:00:00.000Z' } })
  })

  it('refuses a to whose default from (the day before) falls before 1970, naming /to: no instant of the API is before the epoch', () => {
    const beforeEpoch = { ok: false, errors: [{ path: '/to', message: 'must be at least a day after 1970-01-01T00:00:00Z when from is left out (from is then the day before to)' }] }
    for (const to of ['1970-01-01', '1970-01-01T00:00:00Z', '1970-01-01T23:59:59.999Z', '1970-01-02T00:59:59+01:00']) expect(parseReviewWindow({ to }, NOW), to).toEqual(beforeEpoch)
    expect(parseReviewWindow({ to: '1970-01-02', tz: 'America/New_York' }, NOW)).toMatchObject({ ok: true, value: { from: '1970-01-01T05:00:00.000Z' } })
    // With from given, from is the window's start: 1970-01-01 itself is in range.
    expect(parseReviewWindow({ from: '1970-01-01', to: '1970-01-01T00:00:01Z' }, NOW)).toMatchObject({ ok: true, value: { from: '1970-01-01T00:00:00.000Z' } })
    expect(parseReviewWindow({ from: '1970-01-01', to: '1970-01-01' }, NOW)).toEqual({ ok: false, errors: [{ path: '/from', message: 'must be before to' }] })
  })

  it('takes the last instants of 9999 and refuses past them, or a from after now with to left out', () => {
    expect(parseReviewWindow({ to: '9999-12-31T23:59:59.999Z' }, NOW)).toMatchObject({ ok: true, value: { from: '9999-12-30T23:59:59.999Z', to: '9999-12-31T23:59:59.999Z' } })
    expect(parseReviewWindow({ from: '9999-12-31', to: '9999-12-31T23:59:59.999Z' }, NOW)).toMatchObject({ ok: true })
    expect(parseReviewWindow({ to: '10000-01-01T00:00:00Z' }, NOW)).toMatchObject({ ok: false, errors: [{ path: '/to' }] })
    expect(parseReviewWindow({ to: '+010000-01-01T00:00:00.000Z' }, NOW)).toMatchObject({ ok: false, errors: [{ path: '/to' }] })
    expect(parseReviewWindow({ from: '9999-12-30' }, NOW)).toEqual({ ok: false, errors: [{ path: '/from', message: 'must be before to' }] })
  })

  it('names every fault', () => {
    expect(parseReviewWindow({ since: ['24h', '7d'] }, NOW)).toEqual({ ok: false, errors: [{ path: '/since', message: 'must be given once' }] })
    // With from or to, since was read by nothing, whatever it said: a bad or repeated one went unnoticed.
    expect(parseReviewWindow({ from: '2026-11-30T00:00:00Z', since: 'banana' }, NOW)).toEqual({ ok: false, errors: [{ path: '/since', message: 'must not be given with from or to' }] })
    expect(parseReviewWindow({ to: '2026-12-01T00:00:00Z', since: ['1d', '7d'] }, NOW)).toEqual({ ok: false, errors: [{ path: '/since', message: 'must not be given with from or to' }] })
    expect(parseReviewWindow({ from: '2026-11-30T00:00:00Z', since: '' }, NOW)).toMatchObject({ ok: true })
    expect(parseReviewWindow({ since: '367d' }, NOW)).toMatchObject({ errors: [{ path: '/since' }] })
    expect(parseReviewWindow({ since: '0h' }, NOW)).toMatchObject({ errors: [{ path: '/since' }] })
    expect(parseReviewWindow({ since: '99999999999999999999d' }, NOW)).toMatchObject({ errors: [{ path: '/since' }] })
    expect(parseReviewWindow({ from: '2026-12-02', to: '2026-12-01' }, NOW)).toEqual({ ok: false, errors: [{ path: '/from', message: 'must be before to' }] })
    expect(parseReviewWindow({ from: 'x', to: '-271821-04-20T00:00:00.000Z' }, NOW)).toMatchObject({ errors: [{ path: '/from' }, { path: '/to' }] })
  })

  it('refuses from/to more than 366 days apart, as since, with to left out meaning now', () => {
    const tooLong = { ok: false, errors: [{ path: '/from', message: 'must be at most 366 days before to (now when to is left out)' }] }
    expect(parseReviewWindow({ from: '1970-01-01', to: '9999-12-31' }, NOW)).toEqual(tooLong)
    expect(parseReviewWindow({ from: '2025-11-30T07:59:59.999Z', to: '2026-12-01T08:00:00Z' }, NOW)).toEqual(tooLong)
    expect(parseReviewWindow({ from: '2025-11-30T07:59:59.999Z' }, NOW)).toEqual(tooLong)
    expect(parseReviewWindow({ from: '2024-12-01', to: '2025-12-03', tz: 'Europe/Berlin' }, NOW)).toEqual(tooLong)
    // 366 days exactly, in UTC and across both of a year's DST changes in Berlin (a leap year's 1 January to 1 January).
    expect(parseReviewWindow({ from: '2025-11-30T08:00:00Z' }, NOW)).toMatchObject({ ok: true, value: { from: '2025-11-30T08:00:00.000Z', to: '2026-12-01T08:00:00.000Z' } })
    expect(parseReviewWindow({ from: '2024-01-01', to: '2025-01-01', tz: 'Europe/Berlin' }, NOW)).toMatchObject({ ok: true, value: { from: '2023-12-31T23:00:00.000Z', to: '2024-12-31T23:00:00.000Z' } })
    expect(parseReviewWindow({ since: '366d' }, NOW)).toMatchObject({ ok: true, value: { from: '2025-11-30T08:00:00.000Z' } })
  })

  it('reads local days in the request zone, else the default zone, and names the zone', () => {
    // 08:00Z is 09:00 in Berlin: yesterday 09:00 is exactly 24 h ago in winter.
    expect(parseReviewWindow({ since: 'yesterday-09:00', tz: 'Europe/Berlin' }, NOW)).toEqual({ ok: true, value: { from: '2026-11-30T08:00:00.000Z', to: '2026-12-01T08:00:00.000Z', timeZone: 'Europe/Berlin', now: '2026-12-01T08:00:00.000Z' } })
    expect(parseReviewWindow({ since: 'today' }, NOW, 'Europe/Berlin')).toMatchObject({ value: { from: '2026-11-30T23:00:00.000Z', timeZone: 'Europe/Berlin' } })
    expect(parseReviewWindow({ since: 'yesterday', tz: 'America/New_York' }, NOW)).toMatchObject({ value: { from: '2026-11-30T05:00:00.000Z' } })
    expect(parseReviewWindow({ since: 'yesterday-09:00' }, NOW)).toMatchObject({ value: { from: '2026-11-30T09:00:00.000Z', timeZone: 'UTC' } })
    // The request's zone wins over the default; a calendar date is local midnight.
    expect(parseReviewWindow({ from: '2026-11-30', to: '2026-12-01', tz: 'Europe/Berlin' }, NOW, 'Asia/Tokyo')).toMatchObject({ value: { from: '2026-11-29T23:00:00.000Z', to: '2026-11-30T23:00:00.000Z', timeZone: 'Europe/Berlin' } })
  })

  it('counts yesterday across a DST change by the calendar, not as 24 h', () => {
    // The morning after clocks went forward (29 March) and back (25 October) in Berlin.
    const spring = Date.parse('2026-03-30T07:00:00Z') // 09:00 CEST on the 30th
    expect(parseReviewWindow({ since: 'yesterday-09:00', tz: 'Europe/Berlin' }, spring)).toMatchObject({ value: { from: '2026-03-29T07:00:00.000Z' } })
    expect(parseReviewWindow({ since: 'yesterday', tz: 'Europe/Berlin' }, spring)).toMatchObject({ value: { from: '2026-03-28T23:00:00.000Z' } })
    const autumn = Date.parse('2026-10-26T08:00:00Z') // 09:00 CET on the 26th
    expect(parseReviewWindow({ since: 'yesterday-09:00', tz: 'Europe/Berlin' }, autumn)).toMatchObject({ value: { from: '2026-10-25T08:00:00.000Z' } })
    expect(parseReviewWindow({ since: 'yesterday', tz: 'Europe/Berlin' }, autumn)).toMatchObject({ value: { from: '2026-10-24T22:00:00.000Z' } })
  })

  it('reads yesterday-now as this instant yesterday by the zone\'s clock on the wall: 24 h, or 23 or 25 across a clock change', () => {
    // The dashboard's "since this time yesterday": the server's clock, not the browser's, gives the time of day.
    expect(parseReviewWindow({ since: 'yesterday-now', tz: 'Europe/Berlin' }, NOW)).toEqual({ ok: true, value: { from: '2026-11-30T08:00:00.000Z', to: '2026-12-01T08:00:00.000Z', timeZone: 'Europe/Berlin', now: '2026-12-01T08:00:00.000Z' } })
    // To the millisecond, not the minute: the window is the whole day, none of its first minute left out.
    expect(parseReviewWindow({ since: 'yesterday-now' }, Date.parse('2026-12-01T08:17:42.250Z'))).toMatchObject({ value: { from: '2026-11-30T08:17:42.250Z', timeZone: 'UTC' } })
    // 09:00 in Berlin on 29 March, the clocks gone forward that night (23 h), and on 25 October, gone back (25 h).
    expect(parseReviewWindow({ since: 'yesterday-now', tz: 'Europe/Berlin' }, Date.parse('2026-03-29T07:00:00Z'))).toMatchObject({ value: { from: '2026-03-28T08:00:00.000Z' } })
    expect(parseReviewWindow({ since: 'yesterday-now', tz: 'Europe/Berlin' }, Date.parse('2026-10-25T08:00:00Z'))).toMatchObject({ value: { from: '2026-10-24T07:00:00.000Z' } })
    // Plain `yesterday` is still its midnight, and only yesterday has a now: today-now would be an empty window.
    expect(parseReviewWindow({ since: 'yesterday', tz: 'Europe/Berlin' }, NOW)).toMatchObject({ value: { from: '2026-11-29T23:00:00.000Z' } })
    for (const since of ['today-now', 'yesterday-NOW', 'now']) expect(parseReviewWindow({ since }, NOW), since).toMatchObject({ errors: [{ path: '/since' }] })
  })

  it('reads yesterday-now on the day after one the zone skipped as the day before that, never as an empty window', () => {
    // Samoa went from UTC-10 to +14 skipping 30 December 2011: all of local 31 December, "this time on the 30th"
    // fell in the gap, and was read as now itself (from = to, a 200 of an empty review). The last day that had
    // this time on its clock is the 29th: 24 h.
    expect(parseReviewWindow({ since: 'yesterday-now', tz: 'Pacific/Apia' }, Date.parse('2011-12-30T10:30:00Z'))).toMatchObject({ ok: true, value: { from: '2011-12-29T10:30:00.000Z', to: '2011-12-30T10:30:00.000Z' } })
    expect(parseReviewWindow({ since: 'yesterday-now', tz: 'Pacific/Apia' }, Date.parse('2011-12-31T09:59:59.500Z'))).toMatchObject({ ok: true, value: { from: '2011-12-30T09:59:59.500Z' } })
    // And the first day after it, as any other: 1 January 2012 10:30 back to 31 December 10:30, 24 h.
    expect(parseReviewWindow({ since: 'yesterday-now', tz: 'Pacific/Apia' }, Date.parse('2011-12-31T20:30:00Z'))).toMatchObject({ ok: true, value: { from: '2011-12-30T20:30:00.000Z' } })
  })

  it('refuses an unknown zone, a malformed local day and one that has not come yet, naming the field', () => {
    expect(parseReviewWindow({ tz: 'Mars/Olympus_Mons' }, NOW)).toEqual({ ok: false, errors: [{ path: '/tz', message: expect.stringContaining('IANA') }] })
    expect(parseReviewWindow({ tz: ['UTC', 'UTC'] }, NOW)).toMatchObject({ errors: [{ path: '/tz', message: 'must be given once' }] })
    expect(parseReviewWindow({ tz: 'Nowhere', since: 'x' }, NOW)).toMatchObject({ errors: [{ path: '/tz' }, { path: '/since' }] })
    for (const since of ['yesterday-9:00', 'yesterday-24:00', 'tomorrow', 'today-09:60', 'yesterday 09:00']) expect(parseReviewWindow({ since }, NOW), since).toMatchObject({ errors: [{ path: '/since' }] })
    expect(parseReviewWindow({ since: 'today-10:00', tz: 'Europe/Berlin' }, NOW)).toMatchObject({ errors: [{ path: '/since', message: expect.stringContaining('before now') }] })
  })

  it('takes 366 local days across an autumn clock change (366 × 24 h + 1 h) as it takes them in UTC, and refuses 367', () => {
    const now = Date.parse('2026-12-01T08:00:00Z')
    expect(parseReviewWindow({ from: '2025-12-01', to: '2026-12-02', tz: 'UTC' }, now).ok).toBe(true)
    expect(parseReviewWindow({ from: '2025-10-25', to: '2026-10-26', tz: 'Europe/Berlin' }, now)).toMatchObject({ ok: true, value: { from: '2025-10-24T22:00:00.000Z', to: '2026-10-25T23:00:00.000Z' } })
    expect(parseReviewWindow({ from: '2025-10-24', to: '2026-10-26', tz: 'Europe/Berlin' }, now)).toMatchObject({ ok: false, errors: [{ path: '/from' }] })
    expect(parseReviewWindow({ from: '2025-10-25T00:00:00+02:00', to: '2026-10-26T00:00:01+01:00', tz: 'Europe/Berlin' }, now)).toMatchObject({ ok: false, errors: [{ path: '/from' }] })
  })
})
