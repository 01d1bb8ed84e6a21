// The review's decisions on incidents and problems. Commands are applied when they arrive: they act on
// the state the review was shown.
import { isArchived, resolveIncident, settle } from './incidents.ts'
import { collecting, comeBack, link } from './problems/store.ts'
import { iso, markDirty, parseTime, withLatest, type EngineState } from './state.ts'
import type { Command, Problem } from './types.ts'

export function applyCommand(s: EngineState, c: Command): void {
  if (s.commandsSeen.has(c.id)) return
  s.commandsSeen.set(c.id, s.highWater)
  const error = c.type.startsWith('incident.') ? incidentCommand(s, c) : problemCommand(s, c)
  s.results.push(error ? { commandId: c.id, type: c.type, target: c.target, ok: false, error } : { commandId: c.id, type: c.type, target: c.target, ok: true })
}

function incidentCommand(s: EngineState, c: Command): string | undefined {
  const inc = s.incidents.get(c.target)
  if (!inc) return `unknown incident ${c.target}`
  if (c.environment !== inc.data.environment) return `incident ${c.target} is of environment ${inc.data.environment}, the command of ${c.environment}`
  settle(s, inc, s.now)
  const d = inc.data
  switch (c.type) {
    case 'incident.assign':
      if (!c.owner) return 'owner is required'
      d.owner = c.owner
      break
    case 'incident.acknowledge':
      if (d.acknowledgedAt) return undefined
      // Someone taking on an incident that is over would only skew the time to acknowledge.
      if (d.status === 'resolved') return 'incident is resolved: nothing to acknowledge'
      // Never before the opening: a review clock behind gave an acknowledgement before it (and a time to
      // acknowledge the indexer floored at 0). Not held to the newest event time, as a resolve is: without a
      // tick since (ticks off, or commands applied before the first tick after an outage) that would cut a
      // real half hour to acknowledge to the minute after the last event.
      d.acknowledgedAt = iso(Math.max(stampedTime(s, c.at), inc.openedMs))
      d.acknowledgedBy = c.actor
      break
    case 'incident.note':
      if (!c.text) return 'text is required'
      // A new array, never a push: emitted documents share it (copyIncident).
      d.notes = withLatest(d.notes, { at: c.at, author: c.actor, text: c.text })
      break
    case 'incident.resolve': {
      if (d.status === 'resolved') return 'incident is already resolved'
      // Never before the incident's last event (a review clock behind would shorten it, and withdraw a
      // post-mortem its length required), nor further ahead than an event may be (its eviction and reopen
      // window run from it).
      const t = decisionTime(s, c.at, inc.lastEventMs)
      // The reopen window runs from the decision, never from before the state the person saw.
      resolveIncident(s, inc, 'manual', t, iso(t), Math.max(t, s.now))
      break
    }
    case 'incident.link-problem': {
      const p = c.problemId ? s.problems.get(c.problemId) : undefined
      if (!p) return `unknown problem ${c.problemId ?? '(none)'}`
      // A problem is one environment's (its signature says which): a staging cause does not explain production.
      if (p.environment !== d.environment) return `problem ${p.id} is of environment ${p.environment}, the incident of ${d.environment}`
      // As the rules link: only to a problem still collecting. A dismissed one collects nothing more; a
      // resolved one comes back by its rule, or is confirmed again by a person, not by a link.
      const { status } = p
      // The refusal says how on for a resolved one: the meeting linking an incident to it found its fix did not hold.
      if (!collecting(p)) return `problem ${c.problemId} is ${status}: it takes no incident${status === 'resolved' ? '; confirm it again first if its fix did not hold' : ''}`
      link(s, inc, p)
      break
    }
    case 'incident.schedule-postmortem':
      if (!c.scheduledFor) return 'scheduledFor is required'
      d.postmortem = { ...d.postmortem, scheduledFor: c.scheduledFor, owner: c.owner ?? d.postmortem.owner }
      // Kept past the retention for this alone: this version is its last (it is no longer the engine's to
      // change), forgotten once made, so that the result can still say which version shows it.
      if (isArchived(s, inc)) {
        s.awaitingPostmortem.delete(d.id)
        s.forgetAfterVersion.push(d.id)
        d.forgottenAt = iso(s.now)
      }
      break
    default:
      return `unknown command ${c.type}`
  }
  markDirty(s, inc)
  return undefined
}

/**
 * When a person's resolve stands: the time their review stamped (the engine's clock when it has none), never
 * before `notBefore`, nor further ahead of the newest event time than an event may be.
 */
function decisionTime(s: EngineState, at: string, notBefore: number): number {
  return Math.min(Math.max(stampedTime(s, at), notBefore), s.highWater + s.cfg.futureToleranceMs)
}

/** The time a person's review stamped on a command, or the engine's clock when it stamped none it can read. */
function stampedTime(s: EngineState, at: string): number {
  const stamped = parseTime(at)
  return Number.isFinite(stamped) ? stamped : s.now
}

function problemCommand(s: EngineState, c: Command): string | undefined {
  const p = s.problems.get(c.target)
  if (!p) return `unknown problem ${c.target}`
  if (c.environment !== p.environment) return `problem ${c.target} is of environment ${p.environment}, the command of ${c.environment}`
  const move = (from: Problem['status'][], to: Problem['status']) => {
    if (!from.includes(p.status)) return `cannot ${c.type.slice(8)} a ${p.status} problem`
    p.status = to
    return undefined
  }
  let error: string | undefined
  switch (c.type) {
    case 'problem.confirm':
      // A resolved problem confirmed again is the review saying the fix did not hold (an incident it knows the
      // problem caused): it comes back as its rule would bring it back, without waiting for the rule's count.
      if (p.status === 'resolved') comeBack(s, p)
      else error = move(['candidate'], 'confirmed')
      break
    case 'problem.dismiss': error = move(['candidate'], 'dismissed'); break
    case 'problem.resolve': {
      error = move(['confirmed'], 'resolved')
      // As an incident's resolve: never before the state the person saw, nor further ahead than an event may
      // be: the rules count only incidents opened after it, and a review clock ahead kept the problem from
      // coming back for the incidents of those hours. Incidents its rule finds after this bring it back
      // (problems/store.ts, comeBack).
      if (!error) p.resolvedAt = iso(decisionTime(s, c.at, s.now))
      break
    }
    case 'problem.assign':
      if (!c.owner) return 'owner is required'
      p.owner = c.owner
      break
    case 'problem.note':
      if (!c.text) return 'text is required'
      p.notes = withLatest(p.notes, { at: c.at, author: c.actor, text: c.text })
      break
    default:
      return `unknown command ${c.type}`
  }
  if (!error) s.dirtyProblems.add(p)
  return error
}
