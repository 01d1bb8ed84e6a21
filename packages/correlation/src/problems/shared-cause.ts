// Shared cause: incidents in several services opening close together that share a dependency value.
import { openingsHorizon, type DepOpening, type EngineState, type IncidentState } from '../state.ts'
import type { ProblemSignature } from '../types.ts'
import { canonicalSignature, collecting, comeBack, findProblem, link, resolvedMsOf, takesLate, upsertProblem } from './store.ts'

/** The first position in `list` (sorted by time) whose time is at least `at`. */
function lowerBound(list: readonly DepOpening[], at: number): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (list[mid]!.at < at) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The first position in `list` whose time is after `at`. */
function upperBound(list: readonly DepOpening[], at: number): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (list[mid]!.at <= at) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** `lowerBound`, walking back from the end: for a time near the newest, a few steps. */
function startFromEnd(list: readonly DepOpening[], at: number): number {
  let i = list.length
  while (i > 0 && list[i - 1]!.at >= at) i--
  return i
}

const bySeq = (a: DepOpening, b: DepOpening) => a.seq - b.seq

/**
 * Checks the dependencies (`label=value`) an incident just gained against the incidents opened near it.
 *
 * A dependency's openings are kept sorted by time, each numbered in the order it came: the window around an
 * opening is a binary search away, and the rules see the openings in the order they came, as a list in
 * arrival order would give them. (Kept as a list in arrival order and filtered on every check, a database
 * host shared by many services cost time in proportion to its 30 days of openings, on every opening.)
 */
export function checkSharedCause(s: EngineState, inc: IncidentState, deps: readonly string[]): void {
  const { windowMs, minServices } = s.cfg.sharedCause
  if (s.now - inc.firstOpenedMs > windowMs) return
  // Openings arrive in any order (a late event applies at its own time): one that came later may belong
  // next to any of them, so they are kept as long as their incidents, not for the window after the newest.
  const horizon = openingsHorizon(s, windowMs)
  const at = inc.firstOpenedMs
  // A dependency's openings are listed across the environments this engine holds (they share a partition
  // of the input, and their hosts may share names); a problem takes only those of the incident's own.
  const environment = inc.data.environment
  const ofEnvironment = (o: DepOpening): IncidentState | undefined => {
    const other = s.incidents.get(o.incidentId)
    return other?.data.environment === environment ? other : undefined
  }
  for (const dep of deps) {
    let list = s.recentByDep.get(dep)
    if (!list) s.recentByDep.set(dep, (list = []))
    dropBefore(list, horizon)
    // Openings nearly always come in time order: the new one goes last, and every search is a short walk
    // back from there (a binary search over a long list is a cache miss per step: the openings are
    // objects all over the heap).
    const appended = list.length === 0 || list[list.length - 1]!.at < at
    const opening = { incidentId: inc.data.id, at, seq: s.openingSeq++ }
    if (appended) list.push(opening)
    else {
      // Its own earlier opening under this dependency, if any, sits among those at its opening time.
      for (let i = lowerBound(list, at); i < list.length && list[i]!.at === at; i++) {
        if (list[i]!.incidentId === inc.data.id) { list.splice(i, 1); break }
      }
      list.splice(upperBound(list, at), 0, opening)
    }
    const key = sharedCauseKey(s, environment, dep)
    const existing = findProblem(s, key)
    if (existing && existing.status !== 'resolved') {
      // A known problem decides alone: one still collecting takes the incident, a dismissed one nothing (the
      // incidents near it and their services would only name a new problem, which this is not).
      if (collecting(existing)) link(s, inc, existing)
      continue
    }
    // A resolved one counts only the incidents opened since it was resolved: sharing the value again, they
    // are a fix that did not hold.
    const since = existing ? resolvedMsOf(existing) : -Infinity
    if (at <= since) {
      if (takesLate(existing!, inc)) link(s, inc, existing!)
      continue
    }
    const hi = appended ? list.length : upperBound(list, at + windowMs)
    let lo = appended ? startFromEnd(list, at - windowMs) : lowerBound(list, at - windowMs)
    if (since !== -Infinity) lo = Math.max(lo, upperBound(list, since))
    // Alone in its window (nearly always): no two incidents to share anything.
    if (hi - lo < 2) continue
    const near = list.slice(lo, hi).sort(bySeq)
    const sharing = near.map(ofEnvironment).filter((o): o is IncidentState => !!o)
    const services = new Set(sharing.flatMap((o) => o.data.services))
    // Several incidents: one incident of several services (an incident_key across them) shares a value with
    // nothing but itself.
    if (sharing.length >= 2 && services.size >= minServices) {
      if (existing) comeBack(s, existing)
      const eq = dep.indexOf('=')
      const sig: ProblemSignature = { kind: 'shared-cause', environment, label: dep.slice(0, eq), value: dep.slice(eq + 1) }
      // Live, every incident opening after these would have been linked as it came: those that came first are linked now.
      const later = list.slice(hi).sort(bySeq).map(ofEnvironment).filter((o): o is IncidentState => !!o)
      upsertProblem(s, sig, key, [...sharing, ...later], () => `${[...services].sort().join(', ')} failing together on ${dep}`)
    }
  }
}

/**
 * Forgets the openings of every dependency past `openingsHorizon`, and dependencies left with none.
 * `checkSharedCause` trims only the lists of the dependencies it checks: a value seen once (a pod's
 * address, new with every restart) was otherwise kept for ever.
 */
export function forgetDependencyOpenings(s: EngineState): void {
  const before = openingsHorizon(s, s.cfg.sharedCause.windowMs)
  for (const [dep, list] of s.recentByDep) {
    dropBefore(list, before)
    if (list.length === 0) s.recentByDep.delete(dep)
  }
}

/** Removes the openings before `horizon` (the list is in time order). */
function dropBefore(list: DepOpening[], horizon: number): void {
  if (list.length === 0 || list[0]!.at >= horizon) return
  const expired = lowerBound(list, horizon)
  if (expired > 0) list.splice(0, expired)
}

/**
 * The canonical signature of a dependency in an environment, remembered: every incident checks its
 * dependencies (an instance's host at least), and building the JSON each time cost more than the check.
 */
function sharedCauseKey(s: EngineState, environment: string, dep: string): string {
  const known = s.sharedCauseKeys.get(environment, dep)
  if (known !== undefined) return known
  const eq = dep.indexOf('=')
  return s.sharedCauseKeys.set(environment, dep, canonicalSignature({ kind: 'shared-cause', environment, label: dep.slice(0, eq), value: dep.slice(eq + 1) }))
}
