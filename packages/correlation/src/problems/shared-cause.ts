// Shared cause: incidents in several services opening close together that share a dependency value.
import type { EngineState, IncidentState } from '../state.ts'
import type { ProblemSignature } from '../types.ts'
import { canonicalSignature, collecting, findProblem, upsertProblem } from './store.ts'

/** Checks the dependencies (`label=value`) an incident just gained against the incidents opened near it. */
export function checkSharedCause(s: EngineState, inc: IncidentState, deps: readonly string[]): void {
  const { windowMs, minServices } = s.cfg.sharedCause
  if (s.now - inc.firstOpenedMs > windowMs) return
  for (const dep of deps) {
    const recent = (s.recentByDep.get(dep) ?? []).filter((o) => s.now - o.at <= windowMs && o.incidentId !== inc.data.id)
    recent.push({ incidentId: inc.data.id, at: inc.firstOpenedMs })
    s.recentByDep.set(dep, recent)
    const eq = dep.indexOf('=')
    const sig: ProblemSignature = { kind: 'shared-cause', environment: inc.data.environment, label: dep.slice(0, eq), value: dep.slice(eq + 1) }
    const key = canonicalSignature(sig)
    const sharing = recent
      .map((o) => s.incidents.get(o.incidentId))
      .filter((o): o is IncidentState => !!o && Math.abs(o.firstOpenedMs - inc.firstOpenedMs) <= windowMs)
    const services = new Set(sharing.flatMap((o) => o.data.services))
    const existing = findProblem(s, key)
    if (services.size >= minServices || collecting(existing)) {
      upsertProblem(s, sig, key, existing ? [inc] : sharing, `${[...services].sort().join(', ')} failing together on ${dep}`)
    }
  }
}
