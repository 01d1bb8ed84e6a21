// Forecasts: a capacity forecast (a report of kind capacity-forecast) predicts a problem of its service. It
// hurts no customer, so it opens no incident and joins none: taken as a complaint, it opened an incident of
// its own that counted among the day's incidents and the service's availability until a person closed it.
import { MAX_ENTRIES_IN_DOCUMENT, parseTime, type EngineState } from '../state.ts'
import type { AlertEvent, IncidentReport, ProblemSignature } from '../types.ts'
import { canonicalSignature, comeBack, createProblem, findProblem, resolvedMsOf } from './store.ts'

/** The report kind that predicts trouble instead of telling of it. */
export const FORECAST_REPORT_KIND = 'capacity-forecast'

/** The newest forecast is the review's picture of what is coming. */
const titleOf = (service: string, newest: IncidentReport): string => `Forecast for ${service}: ${newest.title}`

/**
 * Opens (a candidate) or updates the forecast problem of the report's service and environment. The result
 * depends only on the set of forecasts, not on the order they came in (late, redelivered, spooled): the
 * reports are kept in time order, then by event id, the title is the newest's, and the first and last seen
 * are the earliest and the latest. A dismissed problem keeps the forecast and stays dismissed; a resolved one
 * comes back, confirmed, for a forecast made after the review resolved it (one made before changes only the
 * list), as the other kinds come back when their rule finds them again after the resolve.
 */
export function recordForecast(s: EngineState, event: AlertEvent, kind: string, t: number, at: string): void {
  const sig: ProblemSignature = { kind: 'forecast', environment: event.environment, service: event.service }
  const canonical = canonicalSignature(sig)
  const entry: IncidentReport = { eventId: event.id, kind, title: event.title, reportedBy: String(event.origin.reportedBy ?? ''), at }
  const p = findProblem(s, canonical)
  if (!p) {
    createProblem(s, sig, canonical, titleOf(sig.service, entry), at, [sig.service], [entry])
    return
  }
  const known = p.reports ?? []
  // A redelivery the dedup no longer remembers (past the retention) changes nothing.
  for (const r of known) if (r.eventId === event.id) return
  let changed = false
  const reports = withForecast(known, entry, t)
  if (reports !== known) {
    p.reports = reports
    p.title = titleOf(sig.service, reports[reports.length - 1]!)
    changed = true
  }
  if (t < parseTime(p.firstSeenAt)) { p.firstSeenAt = at; changed = true }
  if (t > parseTime(p.lastSeenAt)) { p.lastSeenAt = at; changed = true }
  if (p.status === 'resolved' && t > resolvedMsOf(p)) comeBack(s, p)
  if (changed) s.dirtyProblems.add(p)
}

const before = (t: number, eventId: string, r: IncidentReport): boolean => {
  const rt = parseTime(r.at)
  return t !== rt ? t < rt : eventId < r.eventId
}

/**
 * The reports with `entry` (at `t`) in its place by time, then event id, as a new array (emitted versions
 * share the old one), the latest `MAX_ENTRIES_IN_DOCUMENT`; the same list when the entry is older than all of
 * a full list (in order it would have been pushed out).
 */
function withForecast(list: readonly IncidentReport[], entry: IncidentReport, t: number): IncidentReport[] {
  let i = list.length
  while (i > 0 && before(t, entry.eventId, list[i - 1]!)) i--
  if (i === 0 && list.length >= MAX_ENTRIES_IN_DOCUMENT) return list as IncidentReport[]
  const next = [...list.slice(0, i), entry, ...list.slice(i)]
  return next.length > MAX_ENTRIES_IN_DOCUMENT ? next.slice(next.length - MAX_ENTRIES_IN_DOCUMENT) : next
}
