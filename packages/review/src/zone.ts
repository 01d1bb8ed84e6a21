/**
 * Local time in an IANA time zone with the platform's `Intl` (Node has full ICU): no dependency, and the
 * zone rules are the runtime's. Instants are epoch milliseconds; local wall times are calendar fields.
 *
 * Local days are not 24 h long: across a DST change they last 23 or 25 h, and a local midnight can fall
 * in a gap (the clocks skip it). Every day boundary here is computed from the calendar, never by adding
 * 24 h to an instant.
 */
import { DAY, instantOf, localTime, offsetAt, utcMs } from './zone-offsets.js'

// The offset math is plain JavaScript beside this file, as the dashboard imports it too.
export { instantOf, localTime, offsetAt }

export interface LocalTime {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

/** IANA names: `UTC`, `Europe/Berlin`, `America/Argentina/Buenos_Aires`, `Etc/GMT+1`. Offsets such as `+01:00` are not zones. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/

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
