// Flapping: one alert firing again and again within a window. Its incident is held open meanwhile.
import { noFlaps, type AlertTrack, type EngineState, type IncidentState } from '../state.ts'
import type { IncidentAlert, Problem, ProblemSignature } from '../types.ts'
import { canonicalSignature, comeBack, link, resolvedMsOf, takes, upsertProblem } from './store.ts'

function flappingSignature(inc: IncidentState, m: Pick<IncidentAlert, 'source' | 'fingerprint'>): ProblemSignature {
  return { kind: 'flapping', environment: inc.data.environment, source: m.source, fingerprint: m.fingerprint }
}

/** Counts a re-fire at `t`; returns whether the alert now flaps. */
export function countFlap(s: EngineState, inc: IncidentState, track: AlertTrack, t: number): boolean {
  const { windowMs, minFlaps } = s.cfg.flapping
  if (track.flapTimes === noFlaps) track.flapTimes = []
  const times = track.flapTimes
  let drop = 0
  while (drop < times.length && t - times[drop]! > windowMs) drop++
  if (drop > 0) times.splice(0, drop)
  times.push(t)
  if (times.length < minFlaps) return false
  if (t + windowMs > inc.flapHoldUntil) inc.flapHoldUntil = t + windowMs
  return true
}

/** `firstFlapAt`: the first re-fire of those that make it flap now. */
export function recordFlapping(s: EngineState, inc: IncidentState, m: IncidentAlert, firstFlapAt: number): void {
  const known = knownFlapping(s, inc, m)
  if (known) {
    // Flapping again, all of it since the review resolved it: the fix did not hold.
    if (known.status === 'resolved' && firstFlapAt > resolvedMsOf(known)) comeBack(s, known)
    if (takes(known, inc)) link(s, inc, known)
    return
  }
  const sig = flappingSignature(inc, m)
  upsertProblem(s, sig, canonicalSignature(sig), [inc], () => `${m.name} on ${m.service} keeps flapping`)
}

/** A new incident whose alert is known to flap is linked to that problem. */
export function linkKnownFlapping(s: EngineState, inc: IncidentState, m: IncidentAlert): void {
  const p = knownFlapping(s, inc, m)
  if (takes(p, inc)) link(s, inc, p)
}

/**
 * The flapping problem of the member's alert in the incident's environment: looked up by the member's key
 * (`source:fingerprint`), whose hash the engine's maps have computed already, not by a string built per event.
 */
function knownFlapping(s: EngineState, inc: IncidentState, m: IncidentAlert): Problem | undefined {
  return s.flappingAlerts.get(inc.data.environment)?.get(m.key)
}
