/**
 * RFC 3339 date-times as opsreview accepts them: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)`.
 *
 * Stricter than ajv-formats' `date-time`, which also takes what JavaScript's `Date` cannot hold or reads
 * differently: a leap second (`23:59:60`), an offset of hours only (`+01`), or an instant outside years
 * 0000–9999 once the offset is applied (`9999-12-31T23:59:59-23:59`, whose `toISOString()` is
 * `+010000-…`). Every string accepted here means one instant, and `new Date(s)` reads that same instant.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/

/** The first and last instants with a four-digit year, which `toISOString()` renders as RFC 3339. */
export const MIN_INSTANT_MS = -62_167_219_200_000
export const MAX_INSTANT_MS = 253_402_300_799_999

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return [4, 6, 9, 11].includes(month) ? 30 : 31
}

/** The instant a date-time string names, in ms since the epoch, or undefined when opsreview does not accept it. */
export function parseDateTime(value: string): number | undefined {
  const m = DATE_TIME.exec(value)
  if (!m) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  // No leap seconds: `Date` has none, and Go's time (Alertmanager, Prometheus) never writes one.
  if (hour > 23 || minute > 59 || second > 59) return undefined
  let offsetMinutes = 0
  if (!m[8]) {
    const offHours = Number(m[10])
    const offMinutes = Number(m[11])
    if (offHours > 23 || offMinutes > 59) return undefined
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offHours * 60 + offMinutes)
  }
  const millis = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  const d = new Date(0)
  d.setUTCFullYear(year, month - 1, day)
  d.setUTCHours(hour, minute, second, millis)
  const ms = d.getTime() - offsetMinutes * 60_000
  if (!(ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS)) return undefined
  // The promise to every reader of a validated value: `new Date(s)` reads this same instant.
  if (Date.parse(value) !== ms) return undefined
  return ms
}

/** The `date-time` format of every schema in schemas/. */
export function isDateTime(value: string): boolean {
  return parseDateTime(value) !== undefined
}
