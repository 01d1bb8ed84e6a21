import type { FieldError } from '@opsreview/schemas'
import { EARLIEST_MS, parseInstant } from './time.ts'
import { addDays, canonicalZone, instantOf, localTime, offsetAt, startOfDayAt } from './zone.ts'

export interface ReviewWindow {
  from: string
  to: string
  /** The IANA time zone the window was read in (`since=yesterday-09:00`), and the trend's days are. */
  timeZone: string
}

/**
 * A window as read from a query, with the report's clock: time after `now` has not happened, so no service
 * level is measured past it (a `to` in the future is the end of the window, not of the downtime).
 */
export interface ReviewWindowAt extends ReviewWindow {
  now: string
}

const DURATION = /^(\d{1,6})(m|h|d)$/
const UNIT = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const DAY = UNIT.d
/**
 * The longest window, by `since` or by `from`/`to`: service levels read the alert index in 7-day slices,
 * so an unbounded span (1970 to 9999) would be hundreds of thousands of searches.
 */
const MAX_SPAN_MS = 366 * DAY
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/
/** `today`, `yesterday`, optionally with a local wall time: `yesterday-09:00`. */
const LOCAL_DAY = /^(today|yesterday)(?:-([01]\d|2[0-3]):([0-5]\d))?$/
/**
 * This instant yesterday on the zone's clock on the wall: the dashboard's "since this time yesterday". The
 * server resolves it, so the time of day is the review's clock's; the page took it from the browser's.
 */
const THIS_TIME_YESTERDAY = 'yesterday-now'

export type Once = (name: string) => string | undefined

/** A reader of query parameters that records `must be given once` for a repeated one. */
export function onceReader(raw: Record<string, unknown>, errors: FieldError[]): Once {
  return (name) => {
    const v = raw[name]
    if (v === undefined || v === '') return undefined
    if (typeof v !== 'string') { errors.push({ path: `/${name}`, message: 'must be given once' }); return undefined }
    return v
  }
}

/**
 * `?tz=`: an IANA time zone (`Europe/Berlin`), else the service's default. An unknown one is a fault of
 * `/tz`; the answer is then the default, so the other parameters are still checked.
 */
export function parseZone(once: Once, errors: FieldError[], defaultZone: string): string {
  const raw = once('tz')
  if (raw === undefined) return defaultZone
  const zone = canonicalZone(raw)
  if (zone === undefined) { errors.push({ path: '/tz', message: 'must be an IANA time zone such as UTC or Europe/Berlin' }); return defaultZone }
  return zone
}

/**
 * An instant of `from`/`to`: an RFC 3339 date-time with offset as `parseInstant` reads it, or a calendar
 * date, which is midnight in the request's time zone (UTC midnight without one, as before).
 */
export function parseZonedInstant(value: string, zone: string): { ok: true; ms: number } | { ok: false; message: string } {
  const d = DATE_ONLY.exec(value)
  const t = parseInstant(value)
  if (!t.ok) return t
  if (!d || zone === 'UTC') return { ok: true, ms: t.ms }
  const ms = instantOf(zone, { year: Number(d[1]), month: Number(d[2]), day: Number(d[3]), hour: 0, minute: 0 })
  return ms >= 0 ? { ok: true, ms } : { ok: false, message: 'must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' }
}

/**
 * The window of a review from its query (docs/review-api.md):
 * - `from`/`to`: either may be left out: `to` defaults to now, `from` to the day before `to` (not before 1970): the local
 *   calendar day before a calendar date (23 or 25 h across a DST change), 24 h before a date-time; at most 366 days apart;
 * - else `since` (never with `from` or `to`): a duration up to a year ending now (`90m`, `24h`, `7d`), or a
 *   local day with an optional wall time, from then until now (`today`, `yesterday`, `yesterday-09:00`), or this
 *   time yesterday (`yesterday-now`);
 * - else the last 24 h.
 * Local means in `tz` (an IANA zone) or the service's default zone. Each parameter at most once; every fault is named.
 */
export function parseReviewWindow(raw: Record<string, unknown>, nowMs: number, defaultZone = 'UTC'): { ok: true; value: ReviewWindowAt } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = []
  const once = onceReader(raw, errors)
  const timeZone = parseZone(once, errors, defaultZone)
  const instant = (name: string): number | undefined => {
    const v = once(name)
    if (v === undefined) return undefined
    const t = parseZonedInstant(v, timeZone)
    if (!t.ok) { errors.push({ path: `/${name}`, message: t.message }); return undefined }
    return t.ms
  }
  const fromRaw = raw.from
  const toRaw = raw.to
  let to = nowMs
  let from = nowMs - DAY
  if ((fromRaw !== undefined && fromRaw !== '') || (toRaw !== undefined && toRaw !== '')) {
    // Two windows asked for at once: answering either would be a window the caller did not ask for.
    if (raw.since !== undefined && raw.since !== '') errors.push({ path: '/since', message: 'must not be given with from or to' })
    const f = instant('from')
    const t = instant('to')
    if (errors.length === 0) {
      to = t ?? nowMs
      // `to=2026-10-26` is a local day's end: the day before it is the local day that ends there, whatever its
      // length (until 2026-12-05, 24 h, which left out an hour of a 25-hour day and took one of the day before a
      // 23-hour day). Read at the instant before `to`, not as the calendar's day before: a day a zone skipped
      // (30 December 2011 in Apia) has no start, and its start would have been `to` itself.
      from = f ?? (typeof toRaw === 'string' && DATE_ONLY.test(toRaw) ? startOfDayAt(timeZone, to - 1) : to - DAY)
      // A given from is in range already; the default one, the day before a to on 1 January 1970, is not, and
      // a window reaching into 1969 is an instant no other parameter of the API could name.
      if (from < EARLIEST_MS) errors.push({ path: '/to', message: 'must be at least a day after 1970-01-01T00:00:00Z when from is left out (from is then the day before to)' })
      else if (from >= to) errors.push({ path: '/from', message: 'must be before to' })
      // On the zone's wall clock: 366 local days across an autumn change are 366 × 24 h + 1 h, and were refused
      // in Berlin while the same dates passed in UTC. The hour more is no search more (the slices are 7 days).
      else if ((to + offsetAt(timeZone, to)) - (from + offsetAt(timeZone, from)) > MAX_SPAN_MS) errors.push({ path: '/from', message: 'must be at most 366 days before to (now when to is left out)' })
    }
  } else {
    const since = once('since')
    if (since !== undefined) {
      const s = sinceStart(since, nowMs, timeZone)
      if (!s.ok) errors.push({ path: '/since', message: s.message })
      else from = s.ms
    }
  }
  if (errors.length > 0) return { ok: false, errors }
  return { ok: true, value: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), timeZone, now: new Date(nowMs).toISOString() } }
}

/** Where `since` starts: a duration before now, or a local day's wall time (`yesterday-09:00`, `yesterday-now`) in `zone`. */
export function sinceStart(since: string, nowMs: number, zone: string): { ok: true; ms: number } | { ok: false; message: string } {
  const m = DURATION.exec(since)
  if (m) {
    const ms = Number(m[1]) * UNIT[m[2] as keyof typeof UNIT]
    return ms > 0 && ms <= MAX_SPAN_MS ? { ok: true, ms: nowMs - ms } : { ok: false, message: 'must be a duration like 90m, 24h or 7d, at most a year' }
  }
  if (since === THIS_TIME_YESTERDAY) {
    const t = localTime(zone, nowMs)
    // A calendar day back, never 24 h: 23 or 25 h across a clock change. The milliseconds are kept (offsets
    // are whole minutes), so the window does not start at a whole second and leave part of the day out.
    const back = (days: number) => instantOf(zone, { ...t, ...addDays(t, -days) }) + (((nowMs % 1000) + 1000) % 1000)
    // A day the zone skipped (30 December 2011 in Apia) has no such time: its gap reads as now itself, an
    // empty window. The last day that had this time on its clock is the one before.
    const ms = back(1)
    return { ok: true, ms: ms < nowMs ? ms : back(2) }
  }
  const d = LOCAL_DAY.exec(since)
  if (!d) return { ok: false, message: 'must be a duration (90m, 24h, 7d) or a local day with an optional time (today, yesterday, yesterday-09:00, yesterday-now)' }
  const date = addDays(localTime(zone, nowMs), d[1] === 'yesterday' ? -1 : 0)
  const ms = instantOf(zone, { ...date, hour: Number(d[2] ?? 0), minute: Number(d[3] ?? 0) })
  return ms < nowMs ? { ok: true, ms } : { ok: false, message: `must be before now (${since} in ${zone} has not come yet)` }
}
