// Problems as records: created from a typed signature, linked to incidents.
import { iso, markDirty, parseTime, type EngineState, type IncidentState } from '../state.ts'
import type { IncidentReport, Problem, ProblemSignature } from '../types.ts'
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

/**
 * A resolved problem still takes an incident that opened while it collected (since it was first seen, until
 * it was resolved) and whose events came after the review's resolve: in order it was linked as it opened.
 * It does not bring the problem back: the rules count only incidents opened after the resolve.
 */
export function takesLate(p: Problem, inc: IncidentState): boolean {
  return p.status === 'resolved' && inc.firstOpenedMs <= resolvedMsOf(p) && inc.firstOpenedMs >= parseTime(p.firstSeenAt)
}

/** Whether the problem takes the incident: it collects, or it is resolved and takes it late (`takesLate`). */
export function takes(p: Problem | undefined, inc: IncidentState): p is Problem {
  return collecting(p) || (p !== undefined && takesLate(p, inc))
}

export function findProblem(s: EngineState, canonical: string): Problem | undefined {
  return s.problemBySignature.get(canonical)
}

/** Creates the problem of a signature if it is new (its title is built only then), then links the incidents to it unless it is closed. */
export function upsertProblem(s: EngineState, sig: ProblemSignature, canonical: string, incidents: readonly IncidentState[], title: () => string): void {
  const p = s.problemBySignature.get(canonical) ?? createProblem(s, sig, canonical, title(), incidents[0]?.data.openedAt ?? iso(s.now), [])
  if (!collecting(p)) return
  for (const inc of incidents) link(s, inc, p)
}

/** A new candidate problem of the signature, seen first and last at `seenAt`, in the engine's state. */
export function createProblem(s: EngineState, sig: ProblemSignature, canonical: string, title: string, seenAt: string, services: string[], reports: IncidentReport[] = []): Problem {
  const id = problemIdOf(canonical)
  const p: Problem = {
    id, kind: sig.kind, status: 'candidate', title, signature: canonical, services, environment: sig.environment,
    incidentIds: [], incidentCount: 0, firstSeenAt: seenAt, lastSeenAt: seenAt, owner: null, notes: [], reports, resolvedAt: null, reopenCount: 0, version: 0,
  }
  s.problems.set(id, p)
  indexProblem(s, p)
  s.dirtyProblems.add(p)
  return p
}

export { canonicalSignature }

/**
 * A problem as a snapshot stored it, as this engine keeps it: the fields of engines before `resolvedAt` and
 * `reopenCount` (2026-12-02) and `reports` (2026-12-06) added in the order a new problem has them, so its
 * versions are alike on the wire; a list of incidents of an engine that kept them all cut to the latest.
 */
export function restoredProblem(stored: Problem, incidentIds: string[]): Problem {
  const { id, kind, status, title, signature, services, environment, incidentCount, firstSeenAt, lastSeenAt, owner, notes, version } = stored
  return {
    id, kind, status, title, signature, services, environment, incidentIds: incidentIds.slice(-maxIncidentIdsInProblem), incidentCount, firstSeenAt, lastSeenAt,
    owner, notes, reports: stored.reports ?? [], resolvedAt: stored.resolvedAt ?? null, reopenCount: stored.reopenCount ?? 0, version,
  }
}

/**
 * When the review resolved the problem: incidents opened after it are news. A problem resolved by an engine
 * that did not record the time (a snapshot from before 2026-12-02) was resolved after its latest incident.
 */
export function resolvedMsOf(p: Problem): number {
  return parseTime(p.resolvedAt ?? p.lastSeenAt)
}

/**
 * The rule that found a problem finds it again in incidents opened after the review resolved it: the fix did
 * not hold. It is confirmed again (its cause is known; its owner stays) and collects incidents.
 */
export function comeBack(s: EngineState, p: Problem): void {
  p.status = 'confirmed'
  p.resolvedAt = null
  p.reopenCount = (p.reopenCount ?? 0) + 1
  s.dirtyProblems.add(p)
}

/**
 * The incidents a problem document names, the latest linked: a problem of a database host many services
 * share collects thousands over its life, and a list of all of them grew the engine's state and every
 * version of the problem (each a copy of it) without bound. `incidentCount` counts all; the incidents name
 * their problems (`problemIds`), which is how the review finds them all.
 */
export const maxIncidentIdsInProblem = 100

/**
 * A problem's services and its latest incident ids, each also as a set beside its list: a problem of a
 * database host many services share collects hundreds of services and links an incident every few minutes,
 * and a scan of the lists per link grew with them (the scan of the incident ids, 100 string headers read
 * from memory, was 1.7 % of a CPU profile's samples).
 */
interface Mirror { of: string[]; set: Set<string> }
const servicesSets = new WeakMap<Problem, Mirror>()
const incidentSets = new WeakMap<Problem, Mirror>()
/** Shorter lists are scanned: a set costs more than it saves there. */
const SCAN = 16

/**
 * The set of the list, rebuilt when it does not hold the list's values: when the list was replaced, or when
 * the list repeats a value (an engine of 2026-12-02 linked an incident twice, and its snapshots restore the
 * repeat; dropping one copy from the front would take the value out of the set while the list still holds
 * it). The set only ever holds values of the list, so equal sizes mean the same values.
 */
function mirrorOf(mirrors: WeakMap<Problem, Mirror>, p: Problem, list: string[]): Mirror {
  let m = mirrors.get(p)
  if (!m) mirrors.set(p, (m = { of: list, set: new Set(list) }))
  if (m.of !== list || m.set.size !== list.length) { m.of = list; m.set = new Set(list) }
  return m
}

const listHas = (mirrors: WeakMap<Problem, Mirror>, p: Problem, list: string[], v: string): boolean =>
  list.length <= SCAN ? list.includes(v) : mirrorOf(mirrors, p, list).set.has(v)

/**
 * `[p.id]`, one array for all the incidents that name this problem alone (nearly all that name one): an
 * incident's list is replaced on change, never changed in place, so they can share it.
 */
const ownLists = new WeakMap<Problem, readonly string[]>()
function onlyThe(p: Problem): string[] {
  let list = ownLists.get(p)
  if (!list) ownLists.set(p, (list = Object.freeze([p.id])))
  return list as string[]
}

export function link(s: EngineState, inc: IncidentState, p: Problem): void {
  // Links are made both ways, here only; but an incident retention forgot, made again by its first event
  // delivered late, has the same id and names nothing yet: the problem's list may still hold it.
  if (inc.data.problemIds.includes(p.id)) return
  if (!listHas(incidentSets, p, p.incidentIds, inc.data.id)) addIncident(s, p, inc)
  inc.data.problemIds = inc.data.problemIds.length === 0 ? onlyThe(p) : [...inc.data.problemIds, p.id]
  markDirty(s, inc)
}

/** The problem's side of a link: its latest incidents, their count, services and times. */
function addIncident(s: EngineState, p: Problem, inc: IncidentState): void {
  // Changed in place (emitted versions copy it), so its set follows each change; from 16 on, as this push
  // makes 17 and `listHas` asks the set from then.
  const ids = p.incidentIds
  const idSet = ids.length >= SCAN ? mirrorOf(incidentSets, p, ids).set : undefined
  ids.push(inc.data.id)
  idSet?.add(inc.data.id)
  if (ids.length > maxIncidentIdsInProblem) {
    const dropped = ids.splice(0, ids.length - maxIncidentIdsInProblem)
    if (idSet) for (const id of dropped) idSet.delete(id)
  }
  p.incidentCount += 1
  for (const svc of inc.data.services) {
    if (listHas(servicesSets, p, p.services, svc)) continue
    // A new array, never a push: emitted versions share it.
    const m = p.services.length >= SCAN ? mirrorOf(servicesSets, p, p.services) : undefined
    p.services = [...p.services, svc]
    if (m) { m.of = p.services; m.set.add(svc) }
  }
  if (inc.openedMs < parseTime(p.firstSeenAt)) p.firstSeenAt = inc.data.openedAt
  if (inc.openedMs > parseTime(p.lastSeenAt)) p.lastSeenAt = inc.data.openedAt
  s.dirtyProblems.add(p)
}
