// Alert tracking: what one event (a firing, a resolve, a report) does to its alert and its incident,
// applied at the event's own time `s.now`.
import { groupRuleOf, incidentKeyGroupOf } from '@opsreview/grouping'
import {
  absorb, addMember, closedAt, depsOf, endedAcross, heldOpenBy, lastEndOf, expireUntilDecision, dropAsForgottenHistory, guessDueOf, heardAtOf, isArchived, joinsAt, memberOf, openAt, openHolding, memberWith, extendStart, groupKeyOf, openIncident, quietDueOf, refreshEnd, regroup, reopenIncident, replaceMember, resolveIncident, resolvedHolding, resolvedOpenAt, newer, reopenedEarlier, settle,
  stalenessOf, touch, withGuessedEnd,
} from './incidents.ts'
import { checkRecurring } from './problems/recurring.ts'
import { countFlap, linkKnownFlapping, recordFlapping } from './problems/flapping.ts'
import { FORECAST_REPORT_KIND, recordForecast } from './problems/forecast.ts'
import { checkSharedCause } from './problems/shared-cause.ts'
import { alertKeyOf, intern, iso, noFlaps, parseTime, type AlertTrack, type EngineState, type IncidentState } from './state.ts'
import type { AlertEvent, IncidentAlert } from './types.ts'

/**
 * Applies one event at its time `t` (= `s.now`); returns the incident it touched. `firingUntil`: for a
 * firing, when it is known to have ended, if that is known before its resolve is applied (a backlog's).
 */
export function applyEvent(s: EngineState, event: AlertEvent, t: number, at: string, firingUntil?: number): IncidentState | undefined {
  if (event.source === 'report') return onReport(s, event, t, at)
  const key = alertKeyOf(event)
  const track = s.alerts.get(key)
  if (event.status === 'firing') {
    if (t >= s.watermark) return onFiring(s, event, key, track, t, at, firingUntil)
    // Late: at a gap's re-fire instant, its id tells whether it came before that re-fire in order (`closedAt`).
    s.lateFiringId = event.id
    try {
      return onFiring(s, event, key, track, t, at, firingUntil)
    } finally {
      s.lateFiringId = null
    }
  }
  if (event.source === 'alertmanager' && (track ? track.status === 'resolved' : t >= s.forgottenBefore)) {
    // Alertmanager sends an alert that fired and ended between two flushes of its group once, resolved,
    // with its start: a whole episode. Applied as its firing at `startsAt`, then its resolve.
    const start = parseTime(event.startsAt)
    if (start < t && (!track || start > track.lastChangeAt)) {
      // The firing's rules (shared cause, recurring, flapping) look at windows around its own time, not the resolve's.
      s.now = start
      onFiring(s, { ...event, status: 'firing' }, key, track, start, event.startsAt, t, t)
      s.now = t
      return onResolve(s, key, s.alerts.get(key), t, at)
    }
  }
  return onResolve(s, key, track, t, at)
}

/**
 * A redelivered firing says the alert still fires at `heardAt`: the staleness timeout counts it. Heard after
 * that timeout resolved the alert, it proves the guess wrong (a warning an inhibition kept out of the
 * notifications for a day, then repeated every repeat_interval): the alert fires again in its incident,
 * reopened if the guess had resolved it, as a real resolve replaces the guess too. Returns the incident it
 * revived, whose timers need scheduling.
 */
export function hearAgain(s: EngineState, event: AlertEvent, heardAt: number): IncidentState | undefined {
  if (event.status !== 'firing' || event.source === 'report') return undefined
  const key = alertKeyOf(event)
  const track = s.alerts.get(key)
  if (!track) return undefined
  if (track.status === 'firing') {
    if (heardAt > track.lastHeardAt) track.lastHeardAt = heardAt
    return undefined
  }
  const guessed = guessedMemberOf(s, key, track, heardAt)
  // Heard in time, the repeat would have kept it firing until now; a repeat heard only before that (a
  // redelivery, a retry delivered late) would have let the guess stand, and does.
  if (!guessed || heardAt + guessed.staleness <= s.now) return undefined
  const { inc, member } = guessed
  settle(s, inc, s.now)
  if (inc.data.status === 'resolved') {
    // A person's decision stands.
    if (inc.data.resolvedBy !== 'staleness') return undefined
    reopenIncident(s, inc, false)
  }
  // Firing since its start all along: no flap, no change of its start.
  track.status = 'firing'
  // refire hears it at its receipt, as here, and times the staleness from there. The guess is undone, not
  // kept as an end: the alert fired all along.
  refire(s, inc, key, track, event, track.lastChangeAt, member.lastSeenAt, false)
  return inc
}

/**
 * Whether a repeat heard at `heardAt` may take a staleness guess back (`hearAgain`): its answer then depends
 * on what came before it in event time, and deep late it is held with the backlog.
 */
export function mayTakeBackGuess(s: EngineState, event: AlertEvent, heardAt: number): boolean {
  if (event.status !== 'firing' || event.source === 'report') return false
  const key = alertKeyOf(event)
  const track = s.alerts.get(key)
  return track !== undefined && guessedMemberOf(s, key, track, heardAt) !== undefined
}

/**
 * The member of a resolved alert that a repeat heard at `heardAt` may fire again: one a staleness guess ended
 * (an alert that sent its resolve stays resolved whatever repeats of its firing come late), the repeat newer
 * than its last sighting and within two timeouts of it (one weeks later, a route changed back, does not bring
 * back a long-closed incident).
 */
function guessedMemberOf(s: EngineState, key: string, track: AlertTrack, heardAt: number): { inc: IncidentState; member: IncidentAlert; staleness: number } | undefined {
  if (track.status === 'firing' || heardAt <= track.lastHeardAt || track.incidentId === null) return undefined
  const inc = s.incidents.get(track.incidentId)
  const member = inc && memberOf(inc, key)
  if (!inc || !member?.autoResolved) return undefined
  const staleness = stalenessOf(s, member.source)
  return heardAt <= track.lastHeardAt + 2 * staleness ? { inc, member, staleness } : undefined
}

/**
 * The open incident of its group an event joins (`joinsAt`): its group's owner, else the newest other open
 * incident of its group that takes it.
 */
function joinable(s: EngineState, groupKey: string, t: number, report: boolean, until = t): IncidentState | undefined {
  const ownerId = s.openByGroup.get(groupKey)
  const owner = ownerId === undefined ? undefined : s.incidents.get(ownerId)
  if (owner) {
    settle(s, owner, s.now)
    if (owner.data.status === 'open' && joinsAt(s, owner, t, report, until)) return owner
  }
  return openHolding(s, groupKey, t, report, until)
}

/**
 * A resolved incident a late firing joins from within its span opens again, uncounted (in event time it had
 * not resolved yet), unless a person resolved it: they resolved it with the firing in it, and that stands.
 */
function openForLateFiring(s: EngineState, inc: IncidentState): void {
  if (inc.data.resolvedBy !== 'manual') reopenIncident(s, inc, false)
}

/**
 * The incident of its group a firing joins as an open one: `joinable`, and for a late firing the newest
 * incident of its group open at `seenAt` that has resolved since (a held backlog's timers ran before the
 * firing), unless an open one newer than it takes the firing. In event time that one owned the group then and
 * took the firing first: a whole episode spooled through an outage, after the report timeout closed the
 * complaint's incident it joined live, went to an older incident of its service still open. It opens again,
 * uncounted, as by its span (`joinBySpan`).
 */
function joinableAt(s: EngineState, groupKey: string, t: number, until: number, seenAt: number): IncidentState | undefined {
  const open = joinable(s, groupKey, t, false, until)
  if (t >= s.watermark) return open
  const then = resolvedOpenAt(s, groupKey, t, until, seenAt)
  if (!then || (open && openAt(s, open, seenAt) && newer(open, then))) return open
  openForLateFiring(s, then)
  return then
}

/**
 * The open incident of its Alertmanager notification group that takes the event (`joinsAt`), when its own
 * group has none. Not one a rule-grouped alert opened after its time: such an alert never joins a
 * notification group's incident, so in order the two were apart.
 */
function joinableByNotification(s: EngineState, amGroupKey: string, t: number, until: number): IncidentState | undefined {
  const inc = registeredIncident(s, amGroupKey)
  if (!inc || (t < inc.openedMs && !inc.openerJoinsAmGroup)) return undefined
  if (inc.data.status === 'open') return joinsAt(s, inc, t, false, until) ? inc : undefined
  // Resolved since, its span holding a late event's time: in event time it was open then, and took the event
  // (a whole episode spooled through an outage, after the rule-grouped alert's incident it joined live resolved).
  if (t >= s.watermark || t >= inc.resolvedDecidedAt! || !joinsAt(s, inc, t, false, until)) return undefined
  openForLateFiring(s, inc)
  return inc
}

/**
 * The incident the notification group points to, open or resolved since (`openByAmGroup`), settled to now.
 * Not one the retention reached and keeps only for its post-mortem (`isArchived`): the group still names it,
 * and a late alert of the group reopened it and became a member of it (a second member of one key, for a
 * repeat whose id was forgotten with it), where an incident the retention forgot outright left it its own.
 */
function registeredIncident(s: EngineState, amGroupKey: string): IncidentState | undefined {
  const id = s.openByAmGroup.get(amGroupKey)
  const inc = id === undefined ? undefined : s.incidents.get(id)
  if (!inc || isArchived(s, inc)) return undefined
  settle(s, inc, s.now)
  return inc
}

/** Forgets the notification groups whose incident retention forgot (the daily sweep). */
export function forgetNotificationGroups(s: EngineState): void {
  for (const [key, id] of s.openByAmGroup) if (!s.incidents.has(id)) s.openByAmGroup.delete(key)
}

/**
 * A late rule-grouped alert from before the opening of its notification group's open incident, which a
 * default-grouped alert opened: in order the late alert opened its own incident first, and that alert (and
 * those after it) joined it through the notification group. It joins that incident, which takes its group,
 * as its own would have had; the incident keeps its id (an emitted incident is never renamed).
 */
function joinOpenedAfter(s: EngineState, groupKey: string, amGroupKey: string, t: number, until: number, seenAt: number): IncidentState | undefined {
  const inc = registeredIncident(s, amGroupKey)
  if (!inc || t >= inc.openedMs || !inc.openerJoinsAmGroup) return undefined
  // Resolved since, but still open when live would have applied the late alert (a held backlog's timers ran
  // first): in order it was joined then (a whole episode spooled through an outage opened its own incident).
  if (inc.data.status !== 'open' && (t >= s.watermark || seenAt >= inc.resolvedDecidedAt! || inc.data.resolvedBy === 'manual')) return undefined
  // Closed then, before a counted reopening (in one of its gaps): live the whole episode, applied at its end,
  // found it resolved and opened its own incident.
  if (closedAt(s, inc, seenAt)) return undefined
  if (!joinsAt(s, inc, t, false, until)) return undefined
  if (inc.data.status !== 'open') reopenIncident(s, inc, false)
  regroup(s, inc, groupKey)
  // In event time a rule-grouped alert opened it now: no other late alert from before it joins it through the
  // notification group (in order it had met only the late alert's own incident, which no other rule group and
  // no default-grouped alert from before it joins).
  inc.openerJoinsAmGroup = false
  return inc
}

/**
 * A late event joins the resolved incident of its group whose span holds its time, as it would have
 * joined it open in event time. A firing opens it again (no reopening: it had not resolved yet at `t`),
 * unless a person resolved it (they would have resolved it with the firing in it); a report only adds to
 * it, as reports never keep an incident open.
 */
function joinBySpan(s: EngineState, groupKey: string, t: number, firing: boolean, until = t): IncidentState | undefined {
  if (t >= s.watermark) return undefined
  const inc = resolvedHolding(s, groupKey, t, !firing, until)
  if (inc && firing) openForLateFiring(s, inc)
  return inc
}

/**
 * `until`: until when the alert is known to have fired: the end of a whole episode (an alert first heard
 * of resolved) or of a backlog's firing whose resolve is in the backlog, else a resolve already applied
 * after it, else its receipt (Alertmanager and Pingdom send the state at the time they send). A late alert
 * joins the incident of its group that it overlaps, not only one that its start falls into. `seenAt`: when
 * in event time the firing is known, a whole episode's end (it is applied then), else `t`.
 */
function onFiring(s: EngineState, event: AlertEvent, key: string, track: AlertTrack | undefined, t: number, at: string, until?: number, seenAt = t): IncidentState | undefined {
  if (track?.incidentId) {
    const inc = s.incidents.get(track.incidentId)
    if (inc) {
      settle(s, inc, s.now)
      const decided = inc.resolvedDecidedAt
      const resolved = inc.data.status === 'resolved' && decided !== null
      const started = t >= inc.openedMs - s.cfg.quietPeriodMs
      // A late firing within the resolved incident's span: in event time the incident had not resolved yet,
      // and it is judged as the open incident would have judged it (below).
      const inSpan = resolved && started && t < decided
      const open = inc.data.status === 'open'
      // An open incident keeps a re-fire as soon after the alert ended as a resolved one would reopen for
      // it (end, quiet period, reopen window), or while a flapping member holds it open; later, only if it
      // is still active, as for a new alert: a quiet incident the alert once joined does not take its next
      // outage, nor bridge to it the alerts that follow.
      // A staleness guess due only after `t` had not ended the alert yet at `t`: in event time it still fired
      // (its re-fire, spooled through an outage longer than the timeout, opened a second incident).
      const throughGuess = track.status === 'resolved' && firingThroughGuess(s, inc, key, t)
      const kept = (open || inSpan) && (track.status === 'firing' || throughGuess || t - track.lastChangeAt <= s.cfg.quietPeriodMs + s.cfg.reopenWindowMs
        || t < inc.flapHoldUntil || joinsAt(s, inc, t, false))
      const withinReopen = resolved && !inSpan && started && t - decided <= s.cfg.reopenWindowMs
      // In a gap of the incident (closed before a counted reopening): live, this re-fire reopened it, within
      // the reopen window, and the later re-fire counted since found it open. The reopening is counted once
      // already; the incident was open from `t` on.
      const inGap = closedAt(s, inc, t)
      if (inGap) reopenedEarlier(s, inc, key, t, event.id)
      if (kept || withinReopen || inGap) {
        if (t < track.lastChangeAt) {
          // A firing older than the change already applied (the alert's resolve, or its later firing, which
          // Alertmanager sends with a new start when the alert ended and fired again between two flushes):
          // only its start is news. Applied as a re-fire, it set the member's last firing before its first.
          extendStart(s, inc, key, t, at)
          return inc
        }
        // Within the span it opens again uncounted, unless a person resolved it: in order the firing would
        // have come before their decision, and they resolved it with the firing in it.
        if (withinReopen || (inSpan && inc.data.resolvedBy !== 'manual')) reopenIncident(s, inc, withinReopen, t, event.id)
        if (throughGuess) {
          // Firing all along, as far as is known: no flap, unless a real resolve between comes later (onResolve).
          track.unflapped = [track.lastChangeAt, t]
          track.status = 'firing'
        }
        refire(s, inc, key, track, event, t, at, true)
        // A late re-fire kept the incident open from its time: gaps after it may not have been (a whole episode's
        // only those whose re-fire came after its end: in order it came then).
        if (t < s.watermark && inc.gaps !== null) heldOpenBy(s, inc, key, t, null, seenAt)
        expireUntilDecision(s, inc)
        return inc
      }
    }
  }
  // A new alert, or one whose incident is long resolved: it joins the open incident of its group or opens one.
  const groupKey = groupKeyOf(s, event)
  const amGroup = notificationGroupRole(s, event)
  const amGroupKey = amGroup ? notificationGroupKeyOf(event) : null
  const heardAt = heardAtOf(s, event, t)
  // A resolve already applied after it (a retried firing, a resolve that came first) ends what it overlaps.
  const ended = track?.status === 'resolved' && track.lastChangeAt >= t ? track.lastChangeAt : undefined
  const firedUntil = until ?? ended ?? heardAt
  // Older than its alert's incident, and running into it until the resolve already applied there: in order
  // it would have opened that incident. Only its start is news (joined as a new alert, it was a second member
  // of one key).
  const own = ended !== undefined && track!.incidentId !== null ? s.incidents.get(track!.incidentId) : undefined
  if (own && memberOf(own, key) && joinsAt(s, own, t, false, firedUntil)) {
    extendStart(s, own, key, t, at)
    touch(s, own, t, at)
    return own
  }
  // Its own group's incident that held its time, open or resolved since, before its notification group's: in
  // event time that one took it first (a late alert joined an incident of another rule's group through its
  // notification while the incident of its service, resolved during the backlog, had held it).
  const inc = joinableAt(s, groupKey, t, firedUntil, seenAt) ?? joinBySpan(s, groupKey, t, true, firedUntil)
    ?? (amGroup === 'join' ? joinableByNotification(s, amGroupKey!, t, firedUntil) : undefined)
    ?? (amGroup === 'register' ? joinOpenedAfter(s, groupKey, amGroupKey!, t, firedUntil, seenAt) : undefined)
    ?? (dropAsForgottenHistory(s, t, heardAt) ? undefined : openIncident(s, event, groupKey, t, at, amGroup === 'join'))
  if (!inc) return undefined
  // A resolved incident (one a person resolved, joined late) takes nothing more from its notification group.
  if (amGroupKey && inc.data.status === 'open') { (inc.amGroups ??= new Set()).add(amGroupKey); s.openByAmGroup.set(amGroupKey, inc.data.id) }

  const earlyResolve = track?.earlyResolveAt ?? null
  const member: IncidentAlert = {
    key, fingerprint: event.fingerprint, source: event.source, name: intern(s, event.labels.alertname ?? event.title),
    title: intern(s, event.title), service: serviceOf(s, inc, event), severity: event.severity, status: 'firing',
    firstSeenAt: at, lastSeenAt: at, resolvedAt: null, flapCount: 0, autoResolved: false,
  }
  const next: AlertTrack = { incidentId: inc.data.id, status: 'firing', lastChangeAt: t, lastHeardAt: heardAt, earlyResolveAt: null, flapTimes: noFlaps }
  if (earlyResolve !== null && earlyResolve >= t) {
    // Its resolve came first: the alert fired and ended before we heard of the firing.
    member.status = 'resolved'
    member.resolvedAt = iso(earlyResolve)
    next.status = 'resolved'
    next.lastChangeAt = earlyResolve
  }
  s.alerts.set(key, next)
  addMember(s, inc, member, heardAt)
  // A late alert kept the incident open from its time until a quiet period after its end: a gap after it, and
  // the reopening that ended it, may not have been (an alert from before the resolve was decided, firing past
  // the re-fire: in order no reopening).
  if (t < s.watermark && inc.gaps !== null) heldOpenBy(s, inc, key, t, next.status === 'resolved' ? next.lastChangeAt : null, seenAt)
  // The first alert of an incident of reports alone: the problem rules time the incident by it, as they
  // would had it come first and opened the incident (a complaint filed before a backlog of alerts is applied).
  if (inc.data.alerts.length === 1) inc.firstOpenedMs = t
  if (inc.firing === 0 && inc.data.status === 'open') inc.quietSince = Math.max(inc.quietSince ?? earlyResolve ?? t, earlyResolve ?? t)
  else inc.quietSince = null
  let newDeps: string[] | undefined
  for (const dep of depsOf(s, event)) {
    if (inc.deps.includes(dep)) continue
    inc.deps = [...inc.deps, dep]
    ;(newDeps ??= []).push(dep)
  }
  // A new member starts at `t` (its firstSeenAt): only the incident's start can move.
  extendStart(s, inc, null, t, at)
  touch(s, inc, t, at)
  linkKnownFlapping(s, inc, member)
  checkRecurring(s, inc)
  if (newDeps) checkSharedCause(s, inc, newDeps)
  expireUntilDecision(s, inc)
  return inc
}

/**
 * What the event does with its Alertmanager notification group: 'join' (find the group's open incident and
 * be found in it), 'register' (only be found), or nothing. Only alerts the default `by` groups join: a group
 * rule is the user's own word on what belongs together, which a notification group (kube-prometheus-stack's
 * routes group by namespace) would otherwise overrule, merging a rule's groups (two nodes). The incident a
 * rule-grouped alert opens is still its service's incident in that notification, so default-grouped alerts
 * of that service find it (a deployment's replica mismatch, the crash loops a rule groups per container). An
 * incident key is a name for one incident alone: its incident is neither joined nor found.
 */
function notificationGroupRole(s: EngineState, event: AlertEvent): 'join' | 'register' | null {
  if (typeof event.origin.groupKey !== 'string') return null
  const rules = s.cfg.grouping
  if (!rules.groupBy.joinAlertmanagerGroups || incidentKeyGroupOf(event, rules) !== undefined) return null
  return rules.groupBy.rules.length === 0 || groupRuleOf(event, rules) === undefined ? 'join' : 'register'
}

/**
 * The key an incident is found by through the event's Alertmanager notification group. A notification group
 * can span environments (a route grouping by alertname and service): an incident never does. JSON, as group
 * keys are: a label value may hold any separator, and two services must not pose as one.
 */
function notificationGroupKeyOf(event: AlertEvent): string {
  return JSON.stringify([event.origin.groupKey, event.service, event.environment])
}

/**
 * The notification-group key of an event that joins or registers in its notification group's incident, else
 * null: a held backlog holds the events of its notification groups too (`waitsForBacklog`).
 */
export function notificationGroupOf(s: EngineState, event: AlertEvent): string | null {
  return notificationGroupRole(s, event) === null ? null : notificationGroupKeyOf(event)
}

/** The incident's own copy of the event's service when it is its first (nearly always), else the shared one. */
function serviceOf(s: EngineState, inc: IncidentState, event: AlertEvent): string {
  const first = inc.data.services[0]
  return first === event.service ? first : intern(s, event.service)
}

/** The member of the alert was ended by a staleness guess due after `t` (`guessDueOf`): at `t` it still fired. */
function firingThroughGuess(s: EngineState, inc: IncidentState, key: string, t: number): boolean {
  const member = memberOf(inc, key)
  return member !== undefined && member.autoResolved && t < guessDueOf(s, inc, member)
}

/**
 * A real resolve older than its alert's re-fire that was taken as firing through a staleness guess, and
 * later than the firing before that guess: in order it ended the alert, and the re-fire was a flap. Counted
 * now, at the re-fire's time (a re-fire held in one spool, its earlier resolve in another).
 */
function countUnflapped(s: EngineState, inc: IncidentState, key: string, track: AlertTrack, t: number): void {
  const u = track.unflapped
  if (!u || t < u[0] || t >= u[1]) return
  delete track.unflapped
  const member = memberOf(inc, key)
  if (!member) return
  const next = memberWith(member, member.status, member.resolvedAt, member.autoResolved, member.flapCount + 1)
  replaceMember(s, inc, key, next)
  if (!countFlap(s, inc, track, u[1])) return
  recordFlapping(s, inc, next, Math.min(...track.flapTimes))
  // In order the alert flapped from its latest re-fire in the window on (countFlap holds from the one counted
  // now, the older), and the hold kept the incident open: one its alerts or the guess resolved before the
  // hold ended opens again, uncounted, and resolves when the hold ends (a firing between took it as a
  // reopening, where in order it was no reopening).
  const hold = Math.max(...track.flapTimes) + s.cfg.flapping.windowMs
  if (hold > inc.flapHoldUntil) inc.flapHoldUntil = hold
  if (inc.data.status === 'resolved' && inc.data.resolvedBy !== 'manual' && inc.resolvedDecidedAt! < inc.flapHoldUntil) {
    const end = inc.resolvedMs!
    reopenIncident(s, inc, false)
    if (inc.firing === 0) inc.quietSince = end
  }
}

/**
 * The alert fires again in its incident. `guessStands`: a staleness guess that ended it stays an end (a
 * firing with a new start: the resolve of the episode before was lost), kept in `guessedEnds`, since the
 * member's own end is now its new episode's; else (a repeat proving the alert never stopped) it is dropped.
 */
function refire(s: EngineState, inc: IncidentState, key: string, track: AlertTrack, event: AlertEvent, t: number, at: string, guessStands: boolean): void {
  const old = memberOf(inc, key)
  if (!old) return
  const heardAt = heardAtOf(s, event, t)
  if (old.status === 'resolved') {
    inc.firing += 1
    const due = heardAt + stalenessOf(s, old.source)
    if (due < inc.staleDue) inc.staleDue = due
  }
  let flapCount = old.flapCount
  let flapping = false
  if (track.status === 'resolved') {
    flapCount += 1
    flapping = countFlap(s, inc, track, t)
  }
  // Its title is nearly always the one it had: the member's copy, without a look-up in the string table.
  const title = event.title === old.title ? old.title : intern(s, event.title)
  // A late firing from before the guess was due would, in order, have come before it: no guess to keep.
  const guessedEnd = guessStands && old.autoResolved && t >= track.lastHeardAt + stalenessOf(s, old.source) ? old.resolvedAt : null
  const guessedEnds = guessedEnd === null ? old.guessedEnds : withGuessedEnd(old.guessedEnds, guessedEnd)
  const member = memberWith(old, 'firing', null, false, flapCount, event.severity, title, old.firstSeenAt, at, guessedEnds)
  replaceMember(s, inc, key, member)
  absorb(inc, member)
  track.status = 'firing'
  track.lastChangeAt = t
  if (heardAt > track.lastHeardAt) track.lastHeardAt = heardAt
  inc.quietSince = null
  touch(s, inc, t, at)
  // Late re-fires are counted at their own time: the earliest is not always the first in the list.
  if (flapping) recordFlapping(s, inc, member, Math.min(...track.flapTimes))
}

function onResolve(s: EngineState, key: string, track: AlertTrack | undefined, t: number, at: string): IncidentState | undefined {
  if (!track || !track.incidentId) {
    // Older than anything the engine still remembers: its alert may have been forgotten, whenever it was heard of.
    if (dropAsForgottenHistory(s, t, t)) return undefined
    // Resolved before we saw it fire: remember, so a later firing is known to be over.
    s.alerts.set(key, {
      incidentId: null, status: 'resolved', lastChangeAt: t, lastHeardAt: t,
      earlyResolveAt: Math.max(t, track?.earlyResolveAt ?? t), flapTimes: noFlaps,
    })
    s.evictionQueue.push({ kind: 'track', id: key, at: t })
    return undefined
  }
  const inc = s.incidents.get(track.incidentId)
  const member = inc && memberOf(inc, key)
  if (!inc || !member) return undefined
  settle(s, inc, s.now)
  // The end of a late firing that held gaps open (`heldOpenBy`), also when a later firing of the alert came first.
  if (inc.gaps !== null && inc.gaps.held.length > 0) endedAcross(s, inc, key, t)
  if (t < track.lastChangeAt) {
    // Older than what we know, but it may tell that a re-fire was a flap.
    countUnflapped(s, inc, key, track, t)
    return inc
  }
  if (track.status === 'resolved' && !member.autoResolved) return inc
  if (member.status === 'firing') inc.firing -= 1
  replaceMember(s, inc, key, memberWith(member, 'resolved', at, false))
  track.status = 'resolved'
  track.lastChangeAt = t
  if (t > track.lastHeardAt) track.lastHeardAt = t
  // A late resolve can come before its fellow members' ends (in an incident a late firing opened again, or
  // one whose other members ended while this one was still firing as far as was known): the quiet period runs
  // from the last of them, as in order (from its own end, the incident resolved before they had ended).
  if (inc.data.status === 'open' && inc.firing === 0) inc.quietSince = Math.max(inc.quietSince ?? t, t < s.watermark ? lastEndOf(inc, t) : t)
  if (inc.data.status === 'resolved') {
    refreshEnd(s, inc)
    // A real end replaces the staleness guess.
    const auto = inc.guessed > 0
    if (inc.data.resolvedBy === 'staleness' && t < inc.resolvedDecidedAt!) {
      // An end from before the guess decided it: in order the alert ended before any guess, and the incident
      // was decided when its members' ends and the other members' guesses decide it (`quietDueOf`), earlier or
      // later than the guess (one that came due while this resolve was held, in the half-minute the hold
      // waits for quiet, closed it an hour early, and a re-fire in that hour joined it, where live it counted
      // a reopening; decided at the guess, a re-fire within the quiet period after this end counted one,
      // where live it joined the open incident).
      resolveIncident(s, inc, auto ? 'staleness' : 'alerts', inc.resolvedMs!, inc.data.resolvedAt!, quietDueOf(s, inc, inc.resolvedMs!))
    } else if (inc.data.resolvedBy === 'staleness' && !auto) {
      // Its alerts would have resolved it a quiet period after their end: earlier than the guess when the
      // resolve waited in a backlog while the ticks ran the timeout. Decided then, a re-fire after it reopens
      // it, as live, instead of falling within its span.
      const byAlerts = Math.max(inc.resolvedMs! + s.cfg.quietPeriodMs, inc.flapHoldUntil)
      if (byAlerts < inc.resolvedDecidedAt!) resolveIncident(s, inc, 'alerts', inc.resolvedMs!, inc.data.resolvedAt!, byAlerts)
      else inc.data.resolvedBy = 'alerts'
    }
  }
  touch(s, inc, t, at)
  settle(s, inc, s.now)
  return inc
}

function onReport(s: EngineState, event: AlertEvent, t: number, at: string): IncidentState | undefined {
  const kind = String(event.origin.kind ?? event.labels.report_kind ?? 'manual')
  // A capacity forecast predicts trouble: a problem of its service, never an incident (no customer is hurt).
  if (kind === FORECAST_REPORT_KIND) {
    recordForecast(s, event, kind, t, at)
    return undefined
  }
  const groupKey = groupKeyOf(s, event)
  const open = joinable(s, groupKey, t, true)
  const spanned = joinBySpan(s, groupKey, t, false)
  // A late report takes the open incident that opened after it (customers notice first) only if no
  // incident was going on at its time, open or resolved: the outage it is about comes first.
  const during = open && t < open.openedMs ? openHolding(s, groupKey, t, true, t, t) ?? spanned : undefined
  // One whose span holds it, opened by its time and after the open one it would join, owned its group then
  // (a person resolved it since, while the report was held in a backlog): in order the report joined it.
  const owner = open && spanned && open.openedMs < spanned.openedMs && spanned.openedMs <= t ? spanned : undefined
  const inc = owner ?? during ?? open ?? spanned ?? (dropAsForgottenHistory(s, t, heardAtOf(s, event, t)) ? undefined : openIncident(s, event, groupKey, t, at))
  if (!inc) return undefined
  // An incident of reports alone that the report staleness timeout closed after this report's time: in event
  // time it was still open, and the report would have kept it so (its timeout runs from the latest report).
  // It opens again, not counted as a reopening, and the timeout runs from this report.
  if (inc === spanned && inc.data.alerts.length === 0 && inc.data.resolvedBy === 'staleness' && t > inc.lastEventMs) reopenIncident(s, inc, false)
  // New arrays, never a push: emitted documents share them (copyIncident).
  inc.data.reports = [...inc.data.reports, { eventId: event.id, kind, title: event.title, reportedBy: String(event.origin.reportedBy ?? ''), at }]
  // Every report that reaches an incident (all but forecasts) says someone is hurt now.
  inc.data.customerImpact = true
  if (!inc.data.services.includes(event.service)) inc.data.services = [...inc.data.services, intern(s, event.service)]
  extendStart(s, inc, null, t, at)
  touch(s, inc, t, at)
  return inc
}
