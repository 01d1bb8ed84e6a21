// Recurring: incidents with one signature (environment, service, alert names) again and again.
import { serviceEnvironmentKeyOf } from '../incidents.ts'
import { openingsHorizon, type EngineState, type IncidentState, type Opening } from '../state.ts'
import type { ProblemSignature } from '../types.ts'
import { canonicalSignature, collecting, comeBack, findProblem, link, resolvedMsOf, takesLate, upsertProblem } from './store.ts'

export function recurringSignature(inc: IncidentState): ProblemSignature & { kind: 'recurring' } {
  return { kind: 'recurring', environment: inc.data.environment, service: inc.data.services[0] ?? '', alertNames: [...inc.names] }
}

/**
 * The most openings in one window of `windowMs` that holds `at`. Openings arrive in any order (a late
 * event applies at its own time), so the window may lie on either side of `at`.
 */
function busiestWindow(openings: readonly Opening[], at: number, windowMs: number): Opening[] {
  if (isSorted(openings)) return busiestWindowSorted(openings, at, windowMs)
  const near = openings.filter((o) => Math.abs(o.at - at) <= windowMs).sort((a, b) => a.at - b.at)
  let best: Opening[] = []
  for (let i = 0; i < near.length && near[i]!.at <= at; i++) {
    let j = i
    while (j < near.length && near[j]!.at - near[i]!.at <= windowMs) j++
    if (j - i > best.length) best = near.slice(i, j)
  }
  return best
}

function isSorted(openings: readonly Opening[]): boolean {
  for (let i = 1; i < openings.length; i++) if (openings[i - 1]!.at > openings[i]!.at) return false
  return true
}

/**
 * `busiestWindow` of openings already in time order (nearly always: openings come in event-time order
 * but for late events): the openings near `at` are a run of the list, and only the answer is copied.
 */
function busiestWindowSorted(openings: readonly Opening[], at: number, windowMs: number): Opening[] {
  let lo = 0
  while (lo < openings.length && at - openings[lo]!.at > windowMs) lo++
  let hi = lo
  while (hi < openings.length && openings[hi]!.at - at <= windowMs) hi++
  let bestFrom = 0
  let bestTo = 0
  for (let i = lo; i < hi && openings[i]!.at <= at; i++) {
    let j = i
    while (j < hi && openings[j]!.at - openings[i]!.at <= windowMs) j++
    if (j - i > bestTo - bestFrom) { bestFrom = i; bestTo = j }
  }
  return openings.slice(bestFrom, bestTo)
}

/**
 * The most distinct alert names a recurring signature holds. An incident of more is a storm, not a
 * pattern that comes back the same; and each new name rebuilds the signature of all (an incident of
 * 20,000 distinct names took a minute).
 */
const MAX_RECURRING_NAMES = 32

/** Runs when an alert joins an incident: the signature changes only when a new alert name joins. */
export function checkRecurring(s: EngineState, inc: IncidentState): void {
  if (inc.data.alerts.length === 0 || inc.names.size === inc.recurringNames) return
  inc.recurringNames = inc.names.size
  const key = inc.names.size > MAX_RECURRING_NAMES ? null : inc.names.size === 1 ? singleNameKeyOf(s, inc) : canonicalSignature(recurringSignature(inc))
  if (key === inc.recurringKey) return
  if (inc.recurringKey !== null) {
    const old = s.bySignature.get(inc.recurringKey)
    // In place: the lists are the engine's own (a snapshot is serialised before the next input).
    if (old) removeOpenings(old, inc.data.id)
    // Most signatures an incident passes through as its first alerts come are its alone: left until the
    // daily sweep, their empty lists made the table a few times larger than the signatures in use.
    if (old?.length === 0) s.bySignature.delete(inc.recurringKey)
  }
  inc.recurringKey = key
  // A storm is in no signature's list.
  if (key === null) return
  const { windowMs, minIncidents } = s.cfg.recurring
  const opening = { incidentId: inc.data.id, at: inc.firstOpenedMs }
  let list = s.bySignature.get(key)
  // A list of one, not an empty one pushed to (which takes room for 17): most signatures never get a second.
  if (!list) s.bySignature.set(key, (list = [opening]))
  else {
    dropBefore(list, openingsHorizon(s, windowMs))
    list.push(opening)
  }
  const existing = findProblem(s, key)
  if (existing && takesLate(existing, inc)) {
    link(s, inc, existing)
    return
  }
  // A resolved problem counts only the openings since it was resolved: a window of those is a fix that did not hold.
  const since = existing?.status === 'resolved' ? resolvedMsOf(existing) : null
  const counted = since === null ? list : list.filter((o) => o.at > since)
  const window = busiestWindow(counted, inc.firstOpenedMs, windowMs)
  const collected = collecting(existing)
  if (window.length >= minIncidents || collected) {
    const sig = recurringSignature(inc)
    if (existing && since !== null) comeBack(s, existing)
    // Live, every opening after the window would have been linked as it came: those that came first are linked now.
    const newest = Math.max(...window.map((o) => o.at))
    const incidents = collected ? [inc] : [...window, ...counted.filter((o) => o.at > newest)].map((o) => s.incidents.get(o.incidentId)).filter((x): x is IncidentState => !!x)
    upsertProblem(s, sig, key, incidents, () => `${[...sig.alertNames].sort().join(',')} keeps recurring on ${sig.service}`)
  }
}

/**
 * The canonical signature of an incident of one alert name, from `recurringKeys` by its service and
 * environment (their default group key) and the name. Built afresh for every new incident, the JSON and its
 * two look-ups in the signature tables were ~8 % of the engine's profile (2026-12-07): a cached key's hash
 * is computed once, and is mostly the very string the tables hold.
 */
function singleNameKeyOf(s: EngineState, inc: IncidentState): string {
  const place = serviceEnvironmentKeyOf(s, inc.data.services[0] ?? '', inc.data.environment)
  const [name] = inc.names
  return s.recurringKeys.get(place, name!) ?? s.recurringKeys.set(place, name!, canonicalSignature(recurringSignature(inc)))
}

/** Removes the incident's openings from the list, keeping the order of the others. */
function removeOpenings(list: Opening[], incidentId: string): void {
  let n = 0
  for (let i = 0; i < list.length; i++) if (list[i]!.incidentId !== incidentId) list[n++] = list[i]!
  list.length = n
}

/**
 * Forgets the openings of every signature past `openingsHorizon`, and signatures left with none.
 * `checkRecurring` trims only the list of the signature it checks: one seen once (an incident's unusual mix
 * of alert names) was otherwise kept for ever.
 */
export function forgetOpenings(s: EngineState): void {
  const before = openingsHorizon(s, s.cfg.recurring.windowMs)
  for (const [key, list] of s.bySignature) {
    dropBefore(list, before)
    if (list.length === 0) s.bySignature.delete(key)
  }
}

/** Removes the openings before `horizon`, keeping the order of the others. */
function dropBefore(list: Opening[], horizon: number): void {
  let n = 0
  for (let i = 0; i < list.length; i++) if (list[i]!.at >= horizon) list[n++] = list[i]!
  list.length = n
}
