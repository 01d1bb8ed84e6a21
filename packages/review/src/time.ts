import { MAX_INSTANT_MS, parseDateTime } from '@opsreview/schemas'

/**
 * Instants as the review API accepts them in query strings and decisions: an RFC 3339 date-time with an
 * offset, as every schema takes it (`2026-12-01T08:00:00Z`, `2026-12-01T09:00:00.5+01:00`), or a calendar
 * date (`2026-12-01`, UTC midnight here; the routes read it in their zone with `parseZonedInstant`), between
 * 1970-01-01 and 9999-12-31 UTC.
 *
 * Stricter than `Date.parse`, which reads `1` as 2001, a date-time without offset in the server's time
 * zone, and six-digit years Elasticsearch cannot store; and which has no leap seconds (`23:59:60` is
 * NaN, and a NaN `Date` throws a RangeError from `toISOString()`).
 */
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const LEAP_SECOND = /[Tt]\d{2}:\d{2}:60/
/** A date-time's wall time and its offset (hours up to 23, minutes up to 59), as RFC 3339 writes them. */
const WITH_OFFSET = /^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)[+-](?:[01]\d|2[0-3]):?[0-5]\d$/
const RANGE = 'must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z'

export const EARLIEST_MS = 0
/** 9999-12-31T23:59:59.999Z: the last instant with a four-digit year. */
export const LATEST_MS = MAX_INSTANT_MS

export type Instant = { ok: true; ms: number; iso: string } | { ok: false; message: string }

/** Reads an instant, or says in a message for the caller's field error why it is not one. */
export function parseInstant(value: string): Instant {
  const ms = parseDateTime(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value)
  if (ms === undefined) {
    if (LEAP_SECOND.test(value)) return { ok: false, message: 'must not be a leap second (23:59:60): use 23:59:59 or the next minute' }
    // A well-formed date-time whose offset carries it past the last instant (9999-12-31T23:30:00-01:00): its
    // fault is the range, not the form it has.
    const wall = WITH_OFFSET.exec(value)?.[1]
    if (wall !== undefined && parseDateTime(`${wall}Z`) !== undefined) return { ok: false, message: RANGE }
    return { ok: false, message: 'must be an RFC 3339 date-time with offset (2026-12-01T08:00:00Z) or a date (2026-12-01)' }
  }
  if (ms < EARLIEST_MS) return { ok: false, message: RANGE }
  return { ok: true, ms, iso: new Date(ms).toISOString() }
}
