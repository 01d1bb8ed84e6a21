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

/** ECMAScript's own date-time string format, which every engine's `Date.parse` must read as specified. */
const ECMASCRIPT_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?(?:Z|[+-]\d{2}:\d{2})$/

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil), for any year 0–9999. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}

/** The instant a date-time string names, in ms since the epoch, or undefined when opsreview does not accept it. */
export function parseDateTime(value: string): number | undefined {
  // `toISOString()`'s form (what opsreview writes, and Go's RFC 3339 whenever the fraction has three digits
  // or none) is read by hand. A receiver reads several times per alert, and the regular expression, its
  // match array and the digit strings were about a third of the intake's CPU on such times.
  const fast = parseCanonical(value)
  if (fast !== undefined) return fast
  const m = DATE_TIME.exec(value)
  if (!m) return undefined
  const year = Number(m[1]), month = Number(m[2]), day = Number(m[3])
  const hour = Number(m[4]), minute = Number(m[5]), second = Number(m[6])
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
  // Integer arithmetic rather than a Date per call: this runs several times for every alert received.
  const ms = daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis
  if (!(ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS)) return undefined
  // The promise to every reader of a validated value: `new Date(s)` reads this same instant. For
  // ECMAScript's own format the language defines that reading, and it is the one computed above; any other
  // accepted spelling (lower-case t or z, other fraction lengths, an offset without a colon) is read by
  // the engine's own rules, so it is asked.
  if (!ECMASCRIPT_DATE_TIME.test(value) && Date.parse(value) !== ms) return undefined
  return ms
}

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ` or `YYYY-MM-DDTHH:MM:SSZ`, ECMAScript's own format in UTC, whose reading by
 * `Date` the language defines: its instant, or undefined for any other string (which the regular
 * expression then judges, so this only ever agrees with it). The correlation engine reads its event times
 * with it too (`@opsreview/schemas/time`, without the validators of the package's index).
 */
export function parseCanonical(value: string): number | undefined {
  const n = value.length
  if ((n !== 24 && n !== 20) || value.charCodeAt(n - 1) !== 90 /* Z */) return undefined
  if (value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45 || value.charCodeAt(10) !== 84 || value.charCodeAt(13) !== 58 || value.charCodeAt(16) !== 58) return undefined
  if (n === 24 && value.charCodeAt(19) !== 46) return undefined
  const year = digitsAt(value, 0, 4), month = digitsAt(value, 5, 2), day = digitsAt(value, 8, 2)
  const hour = digitsAt(value, 11, 2), minute = digitsAt(value, 14, 2), second = digitsAt(value, 17, 2)
  const millis = n === 24 ? digitsAt(value, 20, 3) : 0
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || millis < 0) return undefined
  return daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + millis
}

/** The decimal number of `count` digits at `from`, or -1 when one is not a digit. */
function digitsAt(s: string, from: number, count: number): number {
  let v = 0
  for (let i = from; i < from + count; i++) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    v = v * 10 + c
  }
  return v
}

/** The `date-time` format of every schema in schemas/. */
export function isDateTime(value: string): boolean {
  return parseDateTime(value) !== undefined
}
