// Recurring: incidents with one signature (environment, service, alert names) again and again.
import type { EngineState, IncidentState } from '../state.ts'
import type { ProblemSignature } from '../types.ts'
import { canonicalSignature, collecting, findProblem, upsertProblem } from './store.ts'

export function recurringSignature(inc: IncidentState): ProblemSignature & { kind: 'recurring' } {
  return { kind: 'recurring', environment: inc.data.environment, service: inc.data.services[0] ?? '', alertNames: [...inc.names] }
}

/** Runs when an alert joins an incident: the signature changes only when a new alert name joins. */
export function checkRecurring(s: EngineState, inc: IncidentState): void {
  if (inc.members.size === 0 || inc.names.size === inc.recurringNames) return
  const sig = recurringSignature(inc)
  const key = canonicalSignature(sig)
  inc.recurringNames = inc.names.size
  if (key === inc.recurringKey) return
  if (inc.recurringKey !== null) {
    const old = s.bySignature.get(inc.recurringKey)
    if (old) s.bySignature.set(inc.recurringKey, old.filter((o) => o.incidentId !== inc.data.id))
  }
  inc.recurringKey = key
  const { windowMs, minIncidents } = s.cfg.recurring
  const list = (s.bySignature.get(key) ?? []).filter((o) => s.now - o.at <= windowMs)
  list.push({ incidentId: inc.data.id, at: inc.firstOpenedMs })
  s.bySignature.set(key, list)
  const existing = findProblem(s, key)
  if (list.length >= minIncidents || collecting(existing)) {
    const incidents = existing ? [inc] : list.map((o) => s.incidents.get(o.incidentId)).filter((x): x is IncidentState => !!x)
    upsertProblem(s, sig, key, incidents, `${[...sig.alertNames].sort().join(',')} keeps recurring on ${sig.service}`)
  }
}
