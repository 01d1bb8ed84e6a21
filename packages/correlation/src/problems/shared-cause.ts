// Shared cause: incidents in several services opening close together that share a dependency value.
import type { EngineState, IncidentState } from '../state.ts'
import type { ProblemSignature } from '../types.ts'
import { canonicalSignature, collecting, findProblem, upsertProblem } from './store.ts'

/** Checks the dependencies (`label=value`) an incident just gained against the incidents opened near it. */
export function checkSharedCause(s: EngineState, inc: IncidentState, deps: readonly string[]): void {
  const { windowMs, minServices } = s.cfg.sharedCause
  if (s.now - inc.firstOpenedMs > windowMs) return
  // Openings arrive in any order (a late event applies at its own time): one that came later may belong
  // next to any of them, so they are kept as long as their incidents, not for the window after the newest.
  const horizon = s.watermark - s.cfg.retentionMs - windowMs
  for (const dep of deps) {
    const recent = (s.recentByDep.get(dep) ?? []).filter((o) => o.at >= horizon && o.incidentId !== inc.data.id)
    recent.push({ incidentId: inc.data.id, at: inc.firstOpenedMs })
    s.recentByDep.set(dep, recent)
    const eq = dep.indexOf('=')
    const sig: ProblemSignature = { kind: 'shared-cause', environment: inc.data.environment, label: dep.slice(0, eq), value: dep.slice(eq + 1) }
    const key = canonicalSignature(sig)
    const near = recent.filter((o) => Math.abs(o.at - inc.firstOpenedMs) <= windowMs)
    const sharing = near.map((o) => s.incidents.get(o.incidentId)).filter((o): o is IncidentState => !!o)
    const services = new Set(sharing.flatMap((o) => o.data.services))
    const existing = findProblem(s, key)
    if (services.size >= minServices || collecting(existing)) {
      // Live, every incident opening after these would have been linked as it came: those that came first are linked now.
      const newest = Math.max(...near.map((o) => o.at))
      const later = existing ? [] : recent.filter((o) => o.at > newest).map((o) => s.incidents.get(o.incidentId)).filter((o): o is IncidentState => !!o)
      upsertProblem(s, sig, key, existing ? [inc] : [...sharing, ...later], `${[...services].sort().join(', ')} failing together on ${dep}`)
    }
  }
}
