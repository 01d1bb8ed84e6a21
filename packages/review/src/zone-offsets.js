// @ts-check
/**
 * The offset math of zone.ts: an IANA zone's offset at an instant, and the instant of a local wall time.
 * Plain JavaScript, typed by JSDoc, because the dashboard's page (no build step) imports this very file, as
 * the review service serves it (`/zone-offsets.js`): the times typed on the page and the API's windows are
 * read by one piece of code. So: no imports but of types, nothing Node has and a browser has not.
 *
 * @import { LocalTime } from './zone.ts'
 */

export const DAY = 86_400_000
/** 400 Gregorian years, after which the calendar repeats day for day. */
const GREGORIAN_CYCLE = 146_097 * DAY

/** @type {Map<string, Intl.DateTimeFormat>} */
const formatters = new Map()
/** @param {string} zone */
function formatter(zone) {
  let f = formatters.get(zone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short' })
    formatters.set(zone, f)
  }
  return f
}

/**
 * The calendar fields of an instant in a zone.
 * @param {string} zone
 * @param {number} ms
 * @returns {LocalTime}
 */
export function localTime(zone, ms) {
  /** @type {Record<string, string>} */
  const parts = {}
  for (const p of formatter(zone).formatToParts(ms)) parts[p.type] = p.value
  const year = Number(parts.year)
  return {
    year: parts.era === 'BC' || parts.era === 'B' ? 1 - year : year,
    month: Number(parts.month), day: Number(parts.day), hour: Number(parts.hour), minute: Number(parts.minute), second: Number(parts.second),
  }
}

/**
 * Calendar fields read as if in UTC. Date.UTC takes the years 0–99 as 1900–1999: those are read 400 years on.
 * @param {number} year
 * @param {number} month
 * @param {number} day
 * @returns {number}
 */
export function utcMs(year, month, day, hour = 0, minute = 0, second = 0) {
  return year >= 0 && year <= 99 ? Date.UTC(year + 400, month - 1, day, hour, minute, second) - GREGORIAN_CYCLE : Date.UTC(year, month - 1, day, hour, minute, second)
}
/** @param {LocalTime} t */
const asUtc = (t) => utcMs(t.year, t.month, t.day, t.hour, t.minute, t.second)

/**
 * The zone's offset from UTC at an instant, in milliseconds (+1 h for Berlin in winter).
 * @param {string} zone
 * @param {number} ms
 * @returns {number}
 */
export function offsetAt(zone, ms) {
  const whole = Math.floor(ms / 1000) * 1000
  return asUtc(localTime(zone, whole)) - whole
}

/**
 * The instant of a local wall time. A time the clocks skip (02:30 on the spring-forward day) is moved
 * forward by the gap (03:30); a time that happens twice (02:30 on the fall-back day) is its first
 * occurrence. Temporal calls this disambiguation `compatible`.
 * @param {string} zone
 * @param {Omit<LocalTime, 'second'> & { second?: number }} t
 * @returns {number}
 */
export function instantOf(zone, t) {
  const wall = asUtc({ second: 0, ...t })
  // Offsets change at most once or twice a day; the offsets a day either side bracket every candidate.
  const before = offsetAt(zone, wall - DAY)
  const after = offsetAt(zone, wall + DAY)
  const candidates = [...new Set([before, after, offsetAt(zone, wall - before), offsetAt(zone, wall - after)])]
    .map((o) => wall - o)
    .filter((ms) => asUtc(localTime(zone, ms)) === wall)
    .sort((a, b) => a - b)
  // None: in a gap. Read the wall time with the offset in force before it, which lands after the gap.
  return candidates[0] ?? wall - before
}
