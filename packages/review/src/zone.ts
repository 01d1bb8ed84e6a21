/**
 * Local time in an IANA time zone with the platform's `Intl` (Node has full ICU): no dependency, and the
 * zone rules are the runtime's. Instants are epoch milliseconds; local wall times are calendar fields.
 *
 * Local days are not 24 h long: across a DST change they last 23 or 25 h, and a local midnight can fall
 * in a gap (the clocks skip it). Every day boundary here is computed from the calendar, never by adding
 * 24 h to an instant.
 */

export interface LocalTime {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
/** IANA names: `UTC`, `Europe/Berlin`, `America/Argentina/Buenos_Aires`, `Etc/GMT+1`. Offsets such as `+01:00` are not zones. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/

const formatters = new Map<string, Intl.DateTimeFormat>()
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short' })
    formatters.set(zone, f)
  }
  return f
}

/**
 * The zone's name as the runtime's ICU spells it (case corrected; an alias may come back as its ICU
 * canonical name, `America/Argentina/Buenos_Aires` as `America/Buenos_Aires`, which Elasticsearch also
 * knows), or undefined when the runtime knows no such zone.
 */
export function canonicalZone(raw: string): string | undefined {
  if (raw.length > 64 || !ZONE_NAME.test(raw)) return undefined
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: raw }).resolvedOptions().timeZone
  } catch {
    return undefined
  }
}

/** The calendar fields of an instant in a zone. */
export function localTime(zone: string, ms: number): LocalTime {
  const parts: Record<string, string> = {}
  for (const p of formatter(zone).formatToParts(ms)) parts[p.type] = p.value
  const year = Number(parts.year)
  return {
    year: parts.era === 'BC' || parts.era === 'B' ? 1 - year : year,
    month: Number(parts.month), day: Number(parts.day), hour: Number(parts.hour), minute: Number(parts.minute), second: Number(parts.second),
  }
}

/** 400 Gregorian years, after which the calendar repeats day for day. */
const GREGORIAN_CYCLE = 146_097 * DAY
/** Calendar fields read as if in UTC. Date.UTC takes the years 0–99 as 1900–1999: those are read 400 years on. */
function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  return year >= 0 && year <= 99 ? Date.UTC(year + 400, month - 1, day, hour, minute, second) - GREGORIAN_CYCLE : Date.UTC(year, month - 1, day, hour, minute, second)
}
const asUtc = (t: LocalTime) => utcMs(t.year, t.month, t.day, t.hour, t.minute, t.second)

/** The zone's offset from UTC at an instant, in milliseconds (+1 h for Berlin in winter). */
export function offsetAt(zone: string, ms: number): number {
  const whole = Math.floor(ms / 1000) * 1000
  return asUtc(localTime(zone, whole)) - whole
}

/**
 * The instant of a local wall time. A time the clocks skip (02:30 on the spring-forward day) is moved
 * forward by the gap (03:30); a time that happens twice (02:30 on the fall-back day) is its first
 * occurrence. Temporal calls this disambiguation `compatible`.
 */
export function instantOf(zone: string, t: Omit<LocalTime, 'second'> & { second?: number }): number {
  const wall = asUtc({ second: 0, ...t })
  // Offsets change at most once or twice a day; the offsets a day either side bracket every candidate.
  const before = offsetAt(zone, wall - DAY)
  const after = offsetAt(zone, wall + DAY)
  const candidates = [...new Set([before, after, offsetAt(zone, wall - before), offsetAt(zone, wall - after)])]
    .map((o) => wall - o)
    .filter((ms) => asUtc(localTime(zone, ms)) === wall)
    .sort((a, b) => a - b)
  if (candidates.length > 0) return candidates[0]!
  // In a gap: read the wall time with the offset in force before it, which lands after the gap.
  return wall - before
}

/** A calendar date plus days (no time zone involved: the proleptic Gregorian calendar). */
export function addDays(date: { year: number; month: number; day: number }, days: number): { year: number; month: number; day: number } {
  const d = new Date(utcMs(date.year, date.month, date.day) + days * DAY)
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() }
}

/** The first instant of a local calendar day (its midnight, or the end of a gap that swallowed it). */
export function startOfDay(zone: string, date: { year: number; month: number; day: number }): number {
  return instantOf(zone, { year: date.year, month: date.month, day: date.day, hour: 0, minute: 0 })
}

/** The first instant of the local day `ms` falls in. */
export function startOfDayAt(zone: string, ms: number): number {
  return startOfDay(zone, localTime(zone, ms))
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0')

/** `2026-12-01`: a calendar date as written. */
export const dateText = (d: { year: number; month: number; day: number }): string => `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)}`

/** `2026-12-01`: the local calendar date of an instant. */
export function localDate(zone: string, ms: number): string {
  return dateText(localTime(zone, ms))
}

/** `2026-12-01T09:00:00+01:00`: RFC 3339 with the zone's offset at that instant (`Z` for UTC). */
export function localIso(zone: string, ms: number): string {
  const t = localTime(zone, ms)
  const off = Math.round(offsetAt(zone, ms) / 60_000)
  const sign = off < 0 ? '-' : '+'
  const abs = Math.abs(off)
  const offset = zone === 'UTC' ? 'Z' : `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  return `${pad(t.year, 4)}-${pad(t.month)}-${pad(t.day)}T${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}${offset}`
}

/** `2026-12-01 09:00`: a local wall time for people (Markdown). */
export function localMinute(zone: string, ms: number): string {
  const t = localTime(zone, ms)
  return `${pad(t.year, 4)}-${pad(t.month)}-${pad(t.day)} ${pad(t.hour)}:${pad(t.minute)}`
}
