// Problems as records: created from a typed signature, linked to incidents.
import { iso, parseTime, type EngineState, type IncidentState } from '../state.ts'
import type { Problem, ProblemSignature } from '../types.ts'
import { canonicalSignature, problemIdOf } from './signature.ts'

/** Indexes a problem by its signature (on creation and on restore). */
export function indexProblem(s: EngineState, p: Problem): void {
  s.problemBySignature.set(p.signature, p)
  if (p.kind === 'flapping') {
    const sig = JSON.parse(p.signature) as { environment: string; source: string; fingerprint: string }
    s.flappingAlerts.set(`${sig.environment}\u0000${sig.source}:${sig.fingerprint}`, p)
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

export function link(s: EngineState, inc: IncidentState, p: Problem): void {
  // Links are made both ways, here only: an incident that has the problem is in the problem's list too.
  if (inc.data.problemIds.includes(p.id)) return
  if (!p.incidentIds.includes(inc.data.id)) {
    p.incidentIds.push(inc.data.id)
    p.incidentCount = p.incidentIds.length
    // A new array, never a push: emitted versions share it.
    for (const svc of inc.data.services) if (!p.services.includes(svc)) p.services = [...p.services, svc]
    if (inc.openedMs < parseTime(p.firstSeenAt)) p.firstSeenAt = inc.data.openedAt
    if (inc.openedMs > parseTime(p.lastSeenAt)) p.lastSeenAt = inc.data.openedAt
    s.dirtyProblems.add(p)
  }
  inc.data.problemIds = [...inc.data.problemIds, p.id]
  s.dirtyIncidents.add(inc)
}
