// Problems as records: created from a typed signature, linked to incidents.
import { iso, parseTime, type EngineState, type IncidentState } from '../state.ts'
import type { Problem, ProblemSignature } from '../types.ts'
import { canonicalSignature, problemIdOf } from './signature.ts'

/** Indexes a problem by its signature (on creation and on restore). */
export function indexProblem(s: EngineState, p: Problem): void {
  s.problemBySignature.set(p.signature, p)
  if (p.kind === 'flapping') {
    const sig = JSON.parse(p.signature) as { environment: string; source: string; fingerprint: string }
    let byKey = s.flappingAlerts.get(sig.environment)
    if (!byKey) s.flappingAlerts.set(sig.environment, (byKey = new Map()))
    byKey.set(`${sig.source}:${sig.fingerprint}`, p)
  }
}

/** A candidate or confirmed problem: one that still collects incidents. */
export function collecting(p: Problem | undefined): p is Problem {
  return !!p && (p.status === 'candidate' || p.status === 'confirmed')
}

export function findProblem(s: EngineState, canonical: string): Problem | undefined {
  return s.problemBySignature.get(canonical)
}

/** Creates the problem of a signature if it is new (its title is built only then), then links the incidents to it unless it is closed. */
export function upsertProblem(s: EngineState, sig: ProblemSignature, canonical: string, incidents: readonly IncidentState[], title: () => string): void {
  let p = s.problemBySignature.get(canonical)
  if (!p) {
    const id = problemIdOf(canonical)
    const first = incidents[0]?.data.openedAt ?? iso(s.now)
    p = {
      id, kind: sig.kind, status: 'candidate', title: title(), signature: canonical, services: [], environment: sig.environment,
      incidentIds: [], incidentCount: 0, firstSeenAt: first, lastSeenAt: first, owner: null, notes: [], version: 0,
    }
    s.problems.set(id, p)
    indexProblem(s, p)
    s.dirtyProblems.add(p)
  }
  if (!collecting(p)) return
  for (const inc of incidents) link(s, inc, p)
}

export { canonicalSignature }

/**
 * A problem's incident ids and services as sets, beside the lists they mirror: a problem can collect
 * thousands of incidents and hundreds of services (a shared database host), and a scan of the list per
 * link grew with them. Rebuilt when the list is not the one it mirrors (a restore makes new lists).
 */
interface Members { incidentIdsOf: string[]; incidentIds: Set<string>; servicesOf: string[]; services: Set<string> }
const members = new WeakMap<Problem, Members>()
/** Shorter lists are scanned: a set costs more than it saves there. */
const SCAN = 16

function membersOf(p: Problem): Members {
  let m = members.get(p)
  if (!m) members.set(p, (m = { incidentIdsOf: p.incidentIds, incidentIds: new Set(p.incidentIds), servicesOf: p.services, services: new Set(p.services) }))
  if (m.incidentIdsOf !== p.incidentIds || m.incidentIds.size !== p.incidentIds.length) { m.incidentIdsOf = p.incidentIds; m.incidentIds = new Set(p.incidentIds) }
  if (m.servicesOf !== p.services) { m.servicesOf = p.services; m.services = new Set(p.services) }
  return m
}

function hasIncident(p: Problem, id: string): boolean {
  return p.incidentIds.length <= SCAN ? p.incidentIds.includes(id) : membersOf(p).incidentIds.has(id)
}

function hasService(p: Problem, svc: string): boolean {
  return p.services.length <= SCAN ? p.services.includes(svc) : membersOf(p).services.has(svc)
}

export function link(s: EngineState, inc: IncidentState, p: Problem): void {
  // Links are made both ways, here only: an incident that has the problem is in the problem's list too.
  if (inc.data.problemIds.includes(p.id)) return
  if (!hasIncident(p, inc.data.id)) {
    // The set first, so it still mirrors the list when it is looked up (a set that does not is rebuilt).
    if (p.incidentIds.length >= SCAN) membersOf(p).incidentIds.add(inc.data.id)
    p.incidentIds.push(inc.data.id)
    p.incidentCount = p.incidentIds.length
    for (const svc of inc.data.services) {
      if (hasService(p, svc)) continue
      // A new array, never a push: emitted versions share it.
      const m = p.services.length >= SCAN ? membersOf(p) : undefined
      p.services = [...p.services, svc]
      if (m) { m.servicesOf = p.services; m.services.add(svc) }
    }
    if (inc.openedMs < parseTime(p.firstSeenAt)) p.firstSeenAt = inc.data.openedAt
    if (inc.openedMs > parseTime(p.lastSeenAt)) p.lastSeenAt = inc.data.openedAt
    s.dirtyProblems.add(p)
  }
  inc.data.problemIds = [...inc.data.problemIds, p.id]
  s.dirtyIncidents.add(inc)
}
