// Problems as records: created from a typed signature, linked to incidents.
import { iso, type EngineState, type IncidentState } from '../state.ts'
import type { Problem, ProblemSignature } from '../types.ts'
import { canonicalSignature, problemIdOf } from './signature.ts'

/** The id of a canonical signature, remembered: rules look it up on every re-fire. */
export function problemIdFor(s: EngineState, canonical: string): string {
  let id = s.problemIds.get(canonical)
  if (!id) {
    id = problemIdOf(canonical)
    s.problemIds.set(canonical, id)
  }
  return id
}

/** A candidate or confirmed problem: one that still collects incidents. */
export function collecting(p: Problem | undefined): p is Problem {
  return !!p && (p.status === 'candidate' || p.status === 'confirmed')
}

export function findProblem(s: EngineState, canonical: string): Problem | undefined {
  return s.problems.get(problemIdFor(s, canonical))
}

/** Creates the problem of a signature if it is new, then links the incidents to it unless it is closed. */
export function upsertProblem(s: EngineState, sig: ProblemSignature, canonical: string, incidents: readonly IncidentState[], title: string): void {
  const id = problemIdFor(s, canonical)
  let p = s.problems.get(id)
  if (!p) {
    const first = incidents[0]?.data.openedAt ?? iso(s.now)
    p = {
      id, kind: sig.kind, status: 'candidate', title, signature: canonical, services: [], environment: sig.environment,
      incidentIds: [], incidentCount: 0, firstSeenAt: first, lastSeenAt: first, owner: null, notes: [], version: 0,
    }
    s.problems.set(id, p)
    s.dirtyProblems.add(p)
  }
  if (!collecting(p)) return
  for (const inc of incidents) link(s, inc, p)
}

export { canonicalSignature }

export function link(s: EngineState, inc: IncidentState, p: Problem): void {
  if (!p.incidentIds.includes(inc.data.id)) {
    p.incidentIds.push(inc.data.id)
    p.incidentCount = p.incidentIds.length
    for (const svc of inc.data.services) if (!p.services.includes(svc)) p.services.push(svc)
    if (inc.openedMs < Date.parse(p.firstSeenAt)) p.firstSeenAt = inc.data.openedAt
    if (inc.openedMs > Date.parse(p.lastSeenAt)) p.lastSeenAt = inc.data.openedAt
    s.dirtyProblems.add(p)
  }
  if (!inc.data.problemIds.includes(p.id)) {
    inc.data.problemIds.push(p.id)
    s.dirtyIncidents.add(inc)
  }
}
