/**
 * Instants as the review API accepts them in query strings and decisions: an RFC 3339 date-time with an
 * offset (`2026-12-01T08:00:00Z`, `2026-12-01T09:00:00.5+01:00`) or a calendar date (`2026-12-01`, UTC
 * midnight), between 1970-01-01 and 9999-12-31 UTC.
 *
 * Stricter than `Date.parse`, which reads `1` as 2001, a date-time without offset in the server's time
 * zone, and six-digit years Elasticsearch cannot store; and which has no leap seconds (`23:59:60` is
 * NaN, and a NaN `Date` throws a RangeError from `toISOString()`).
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2})))?$/

export const EARLIEST_MS = 0
/** 9999-12-31T23:59:59.999Z: the last instant with a four-digit year. */
export const LATEST_MS = 253_402_300_799_999

export type Instant = { ok: true; ms: number; iso: string } | { ok: false; message: string }

const daysIn = (year: number, month: number) =>
  month === 2 ? ((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31

/** Reads an instant, or says in a message for the caller's field error why it is not one. */
export function parseInstant(value: string): Instant {
  const m = DATE_TIME.exec(value)
  const bad: Instant = { ok: false, message: 'must be an RFC 3339 date-time with offset (2026-12-01T08:00:00Z) or a date (2026-12-01)' }
  if (!m) return bad
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return bad
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)]
  if (second === 60) return { ok: false, message: 'must not be a leap second (23:59:60): use 23:59:59 or the next minute' }
  if (hour > 23 || minute > 59 || second > 59) return bad
  let offsetMinutes = 0
  if (m[9]) {
    const [oh, om] = [Number(m[10]), Number(m[11])]
    if (oh > 23 || om > 59) return bad
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om)
  }
  const millis = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0
  // Date.UTC would read years 0–99 as 1900–1999; setUTCFullYear does not.
  const d = new Date(0)
  d.setUTCFullYear(year, month - 1, day)
  d.setUTCHours(hour, minute, second, millis)
  const ms = d.getTime() - offsetMinutes * 60_000
  if (!(ms >= EARLIEST_MS && ms <= LATEST_MS)) return { ok: false, message: 'must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' }
  return { ok: true, ms, iso: new Date(ms).toISOString() }
}
