// Event time and the watermark: events wait until the watermark passes their time and are then applied in
// event-time order, interleaved with the timers due before them; late events follow one rule (a backlog
// is held until the input goes quiet, with the on-time events of its groups, then applied the same way);
// retention forgets what lies too far behind the watermark.
import { applyEvent, forgetNotificationGroups, hearAgain, mayTakeBackGuess, notificationGroupOf } from './alerts.ts'
import { EventTimeError } from './errors.ts'
import { eventTimeOf, rankOf, type EventTime } from './event-time.ts'
import { awaitsPostmortem, groupKeyOf, onTimer, recompute, schedule, unindexResolved } from './incidents.ts'
import { forgetOpenings } from './problems/recurring.ts'
import { forgetDependencyOpenings } from './problems/shared-cause.ts'
import { alertKeyOf, compactHead, iso, markDirty, NEVER, parseTime, pendingBefore, type EngineState, type IncidentState, type Pending } from './state.ts'
import type { AlertEvent } from './types.ts'

const DAY = 86_400_000
/** Retention is coarse: once per minute of watermark is enough, and spares every event a scan. */
export const FORGET_EVERY_MS = 60_000

/** An alert event arrives: dropped if seen; if late, applied at once or held (the late-event rule); else it waits for the watermark. */
export function arrive(s: EngineState, event: AlertEvent): void {
  if (s.seen.has(event.id)) {
    // Remembered for a retention from its last delivery, not its first: Alertmanager repeats a firing under
    // one id for as long as it fires, and once the id was forgotten with its incident (a person resolved it,
    // the alert fired on) the next repeat opened that incident again under the same id, at version 1, open,
    // without the person's decision.
    s.seen.add(event.id, seenStamp(s, event, s.highWater))
    const original = somethingWaits(s) ? waitingOf(s).get(event.id) : undefined
    if (original) {
      // Its original waits for the watermark or in a held backlog: heard of now, it met the alert's earlier
      // episode (an incident the staleness timeout had closed came back, and the original joined it, instead
      // of opening its own). It is heard of right after its original is applied, as in order.
      if (event.status === 'firing' && event.source !== 'report') waitBehind(s, original, event)
      return
    }
    // A redelivery says the alert still fires (Alertmanager repeats firing notifications), which the
    // staleness timeout counts, and which can prove its guess wrong; never later than the time seen so far.
    // It is heard at that time, in event time: ahead of the watermark it waits for it, and behind a held
    // backlog of its group it waits with it. Heard on arrival, a repeat received just after a staleness
    // timeout took the guess back or not, and an alert of its service joined its incident or not, by how
    // late the repeat came. Deep late (a drained spool's) and able to take a staleness guess back, it is a
    // backlog's: heard on arrival, the first record of a spool, judged at the watermark hours after its
    // receipt, let the guess stand (its alert's resolve and re-fire behind it, held, then opened a second
    // incident where live the alert flapped in one), or took the guess back before the backlog's earlier
    // events of its group (complaints from before it joined the incident that live had closed).
    const heardAt = Math.min(parseTime(event.receivedAt), s.highWater)
    if (event.status === 'firing' && event.source !== 'report') {
      const waits = waitsForBacklog(s, event)
      const backlog = !waits && heardAt < s.watermark && holdsLate(s, heardAt) && mayTakeBackGuess(s, event, heardAt)
      if (waits || backlog || heardAt > s.watermark) {
        const p: Pending = { t: heardAt, iso: iso(heardAt), rank: rankOf(event), id: event.id, event, again: true }
        if (waits) holdWithBacklog(s, p)
        else if (backlog) hold(s, p)
        else enqueue(s, p)
        return
      }
    }
    const revived = hearAgain(s, event, heardAt)
    if (revived) schedule(s, revived)
    return
  }
  // Before the first tick, an engine told that ticks will come takes the first event's receipt (the
  // receiver's clock) as one: a burst reaching a fresh correlator before its first tick is then a backlog
  // like any other, instead of a stream whose newest sender moves the watermark past the other senders'
  // alerts and fires their timers before their own events have come.
  if (!s.held.ticked && s.cfg.lateHold.expectTicks) tick(s, parseTime(event.receivedAt))
  const time = eventTimeOf(event, s.cfg.futureToleranceMs)
  // It would wait forever at the head of the queue, and everything behind it with it.
  if (!Number.isFinite(time.t)) throw new EventTimeError(event.id)
  s.seen.add(event.id, seenStamp(s, event, time.t))
  if (time.clamped) s.stats.clamped += 1
  if (time.t < s.watermark) {
    applyLate(s, pendingOf(s, event, time))
    return
  }
  if (waitsForBacklog(s, event)) {
    holdWithBacklog(s, pendingOf(s, event, time))
    advance(s, time.t)
    return
  }
  if (s.queued.length === s.queuedHead && s.pending.size === 0) {
    raise(s, time.t)
    if (time.t <= s.watermark) {
      // Nothing waits and the watermark has passed it (no allowed lateness, the usual case): applied now,
      // as the drain would apply it, without a wait in the queue (an object and an array per event).
      applyNow(s, event, time.t, time.iso)
      return
    }
  }
  enqueue(s, pendingOf(s, event, time))
  advance(s, time.t)
}

/**
 * When an id is remembered from: the high-water mark (which only grows, so the retention forgets the oldest
 * first), and never before the event's receipt (up to a retention past the times seen). An id is then forgotten only once retention has forgotten
 * everything up to its receipt (`forgottenBefore`), so a delivery of the same record after that is history
 * (`dropAsForgottenHistory`). Stamped at a high-water mark behind its receipt (an engine not ticking, a quiet
 * partition), the id went before the incident it opened, and a redelivery made that incident again.
 */
function seenStamp(s: EngineState, event: AlertEvent, t: number): number {
  const received = parseTime(event.receivedAt)
  const seen = Math.max(s.highWater, t)
  // A receiver whose clock runs far ahead would have its ids kept for ever: a retention past the times seen at most.
  return Number.isFinite(received) ? Math.max(seen, Math.min(received, seen + s.cfg.retentionMs)) : seen
}

/** Into the queue when it goes last there (most events come in order: no heap work), else into the heap. */
function enqueue(s: EngineState, p: Pending): void {
  const last = s.queued.length > s.queuedHead ? s.queued[s.queued.length - 1]! : undefined
  if (!last || pendingBefore(last, p)) s.queued.push(p)
  else s.pending.push(p)
}

/** An event's entry in the queue, the heap or the hold: it waits from now until `drain` applies it. */
function pendingOf(s: EngineState, event: AlertEvent, time: EventTime): Pending {
  const p: Pending = { t: time.t, iso: time.iso, rank: rankOf(event), id: event.id, event }
  s.waiting?.set(p.id, p)
  return p
}

const somethingWaits = (s: EngineState): boolean => s.queued.length > s.queuedHead || s.pending.size > 0 || s.held.events.length > 0

/** The waiting events by id (redeliveries apart), built from the queue, the heap and the hold on first use. */
function waitingOf(s: EngineState): Map<string, Pending> {
  if (s.waiting) return s.waiting
  const waiting = new Map<string, Pending>()
  for (const list of [s.queued.slice(s.queuedHead), s.pending.items, s.held.events]) for (const p of list) if (!p.again) waiting.set(p.id, p)
  return (s.waiting = waiting)
}

/**
 * A redelivered firing waits behind its original, wherever the original waits: at its receipt in event time
 * (as a repeat of an applied firing is heard), never before the original. Heard right after an original
 * hours older in a held backlog, a repeat told the alert's incident it fired until the repeat's receipt from
 * the original's time on: no staleness guess in between, and an alert of its group firing after the guess
 * joined the incident that live delivery had closed.
 */
function waitBehind(s: EngineState, original: Pending, event: AlertEvent): void {
  const heardAt = Math.max(original.t, Math.min(parseTime(event.receivedAt), s.highWater))
  const p: Pending = { t: heardAt, iso: heardAt === original.t ? original.iso : iso(heardAt), rank: original.rank, id: event.id, event, again: true }
  if (waitsForBacklog(s, event)) holdWithBacklog(s, p)
  else enqueue(s, p)
}

/**
 * The drain of one event when it is the only one waiting and due: the timers due at or before its time
 * first (a timer at the event's instant runs first: the event sees its outcome), then the event, then the
 * rest of the drain.
 */
function applyNow(s: EngineState, event: AlertEvent, t: number, iso: string): void {
  const timers = s.timers
  const retention = s.cfg.retentionMs
  for (;;) {
    const tm = timers.peek()
    if (!tm || tm.at > t) break
    timers.pop()
    evictUntil(s, tm.at - retention)
    s.now = tm.at
    onTimer(s, tm.id, tm.at)
  }
  evictUntil(s, t - retention)
  s.now = t
  const inc = applyEvent(s, event, t, iso)
  if (inc) schedule(s, inc)
  drain(s)
}

/**
 * The late-event rule (docs/correlation-event-time.md): an event whose time the watermark has passed is
 * late. One less than `lateHold.afterMs` behind (a sender's usual delay) is applied at once, at its own
 * time, with the timers it causes up to the watermark; a late alert that already ended gives an incident
 * that is already resolved. One further behind is a backlog's: once ticks come (they tell when the
 * backlog has drained) it is held, and so is every late event after it until the hold is released, so
 * that the backlog is applied in event-time order, not in the order its senders' spools and Kafka's
 * partitions brought it.
 */
function applyLate(s: EngineState, p: Pending): void {
  s.stats.late += 1
  if (!holdsLate(s, p.t)) {
    s.pending.push(p)
    drain(s)
    return
  }
  hold(s, p)
}

/** Whether a late event at `t` is held: a hold lasts, or it is deep late once ticks come. */
function holdsLate(s: EngineState, t: number): boolean {
  const hold = s.held
  // Before the first tick, only an engine told that ticks will come holds: a burst right after a start
  // (the correlator's first tick can follow its first records) is held like any other.
  return hold.events.length > 0 || ((hold.ticked || s.cfg.lateHold.expectTicks === true) && t < s.watermark - s.cfg.lateHold.afterMs)
}

/** A late arrival starts or extends the hold. */
function hold(s: EngineState, p: Pending): void {
  const hold = s.held
  if (hold.events.length === 0) hold.since = s.highWater
  hold.events.push(p)
  if (hold.groups) noteHeld(s, p.event)
  hold.lastAt = s.highWater
  const heard = Math.min(parseTime(p.event.receivedAt), s.highWater)
  if (heard > hold.until) hold.until = heard
  hold.arrivedSinceTick = true
  if (hold.events.length >= s.cfg.lateHold.maxEvents) release(s)
}

/**
 * A tick releases the held events when the backlog has drained: none came since the previous tick, nor
 * for `lateHold.quietMs` of the engine's clock (a short stall of the input in the middle of a backlog
 * does not cut it, whatever the tick interval), and the watermark has reached their receipts; or when the
 * hold has lasted `lateHold.maxMs`.
 */
function tickHold(s: EngineState, at: number): void {
  const hold = s.held
  hold.ticked = true
  const clock = Math.max(s.highWater, at)
  const cfg = s.cfg.lateHold
  // With an allowed lateness, a held event received after the watermark is applied to the state of its
  // receipt, not of whichever minute of the lateness it came in: a repeat whose id retention had forgot, 8
  // hours late by its start, took the incident its guess closed back when released at a watermark of 08:03,
  // and opened one of its own at 08:06, once retention had forgotten that incident at 08:04.
  const quiet = !hold.arrivedSinceTick && clock - hold.lastAt >= cfg.quietMs && s.watermark >= hold.until
  if (hold.events.length > 0 && (quiet || clock - hold.since >= cfg.maxMs)) release(s)
  hold.arrivedSinceTick = false
}

/**
 * Applies the held events in event-time order, each at its own time, interleaved with the timers they
 * cause: the drain does it, as every timer still queued lies after the watermark and every held event before it.
 */
function release(s: EngineState): void {
  const hold = s.held
  // A held firing is known to have fired until its resolve when that is held too: not until its receipt,
  // which in a backlog can be hours after the resolve.
  const resolves = new Map<string, number[]>()
  for (const p of hold.events) {
    if (p.event.status !== 'resolved' || p.event.source === 'report') continue
    const key = alertKeyOf(p.event)
    const times = resolves.get(key)
    if (times) times.push(p.t)
    else resolves.set(key, [p.t])
  }
  // Sorted once, searched per firing: a check flapping thousands of times in one backlog stays linear-ish.
  for (const times of resolves.values()) times.sort((a, b) => a - b)
  for (const p of hold.events) {
    const times = p.event.status === 'firing' ? resolves.get(alertKeyOf(p.event)) : undefined
    const next = times ? firstAtOrAfter(times, p.t) : undefined
    s.pending.push(next === undefined ? p : { ...p, firingUntil: next })
  }
  hold.events = []
  hold.groups = null
  hold.notificationGroups = null
  hold.since = NEVER
  hold.lastAt = NEVER
  hold.until = NEVER
  drain(s)
}

/** The first of the sorted `times` at or after `t`. */
function firstAtOrAfter(times: readonly number[], t: number): number | undefined {
  let lo = 0
  let hi = times.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (times[mid]! < t) lo = mid + 1
    else hi = mid
  }
  return times[lo]
}

/**
 * While a backlog is held, an event of a group with held events waits with them: applied before them, it
 * would meet an incident whose events are still held (an alert joining an incident whose resolve is in
 * the backlog). So does one of a notification group with held events, through which it would join their
 * incident (a deployment's replica mismatch, its crash loop held: it opened an incident of its own, and
 * the crash loop another). Other groups go on.
 */
function waitsForBacklog(s: EngineState, event: AlertEvent): boolean {
  if (s.held.events.length === 0) return false
  const { groups, notificationGroups } = heldKeys(s)
  const group = groupKeyOf(s, event)
  if (groups.has(group)) return true
  const notification = notificationGroupOf(s, event)
  if (notification !== null && notificationGroups.has(notification)) return true
  // An open incident of its group that a default-grouped alert of a held notification group opened: a held
  // rule-grouped alert from before it may take it into its own group (alerts.ts, `joinOpenedAfter`), and in
  // order the event, applied after that, would not have joined it (a Pingdom check of the service).
  const open = s.openInGroup.get(group)
  if (open) for (const inc of open) if (inc.openerJoinsAmGroup && inc.amGroups) for (const g of inc.amGroups) if (notificationGroups.has(g)) return true
  return false
}

/**
 * An on-time event joins the held backlog; it does not extend the hold (only late arrivals do). Its groups
 * are held from now on too: an event of its group must not overtake it.
 */
function holdWithBacklog(s: EngineState, p: Pending): void {
  s.held.events.push(p)
  if (s.held.groups) noteHeld(s, p.event)
  if (s.held.events.length >= s.cfg.lateHold.maxEvents) release(s)
}

/** The group and notification-group keys of the held events; kept while the hold lasts, rebuilt after a restore. */
function heldKeys(s: EngineState): { groups: Set<string>; notificationGroups: Set<string> } {
  const hold = s.held
  if (!hold.groups || !hold.notificationGroups) {
    hold.groups = new Set()
    hold.notificationGroups = new Set()
    for (const p of hold.events) noteHeld(s, p.event)
  }
  return { groups: hold.groups, notificationGroups: hold.notificationGroups! }
}

/** Adds a held event's keys to the hold's sets (which exist). */
function noteHeld(s: EngineState, event: AlertEvent): void {
  s.held.groups!.add(groupKeyOf(s, event))
  const notification = notificationGroupOf(s, event)
  if (notification !== null) s.held.notificationGroups!.add(notification)
}

/** A tick at wall time `at` says event time has reached at least `at` less the allowed lateness. */
export function tick(s: EngineState, at: number): void {
  if (!Number.isFinite(at)) return
  tickHold(s, at)
  advance(s, at)
}

/** Moves the high-water mark (and so the watermark) and applies everything the watermark has passed. */
function advance(s: EngineState, time: number): void {
  raise(s, time)
  drain(s)
}

function raise(s: EngineState, time: number): void {
  if (time > s.highWater) s.highWater = time
  const w = s.highWater - s.cfg.allowedLatenessMs
  if (w > s.watermark) s.watermark = w
}

function drain(s: EngineState): void {
  const w = s.watermark
  const pending = s.pending
  const queued = s.queued
  const timers = s.timers
  for (;;) {
    const h = pending.peek()
    const q = queued[s.queuedHead]
    const fromQueue = q !== undefined && (h === undefined || pendingBefore(q, h))
    const p = fromQueue ? q : h
    const tm = timers.peek()
    const pt = p && p.t <= w ? p.t : Infinity
    const tt = tm && tm.at <= w ? tm.at : Infinity
    if (pt === Infinity && tt === Infinity) break
    // Each timer and event sees what the retention has forgotten by its own time, not by a watermark some
    // delivery reached before it: the same incidents are there to join and link whatever the delivery.
    evictUntil(s, Math.min(tt, pt) - s.cfg.retentionMs)
    // A timer due at the same instant as an event runs first: the event sees its outcome.
    if (tt <= pt) {
      timers.pop()
      s.now = tt
      onTimer(s, tm!.id, tt)
    } else {
      if (fromQueue) s.queuedHead++
      else pending.pop()
      // Queued before its group's backlog came (an allowed lateness): it waits for the backlog too.
      if (waitsForBacklog(s, p!.event)) { holdWithBacklog(s, p!); continue }
      s.now = pt
      if (p!.again) {
        // Heard of when it came, as `arrive` hears a redelivery of an event already applied.
        const revived = hearAgain(s, p!.event, Math.min(parseTime(p!.event.receivedAt), s.highWater))
        if (revived) schedule(s, revived)
        continue
      }
      s.waiting?.delete(p!.id)
      const inc = applyEvent(s, p!.event, pt, p!.iso, p!.firingUntil)
      if (inc) schedule(s, inc)
    }
  }
  if (s.queuedHead === queued.length) { queued.length = 0; s.queuedHead = 0 } else s.queuedHead = compactHead(queued, s.queuedHead)
  s.now = w
  const horizon = w - s.cfg.retentionMs
  if (horizon >= s.nextForgetAt) {
    // Once a day of watermark, the problem rules' opening lists too: a sweep of all of them, which per
    // minute would cost more than the few it frees. The day is the horizon's, so a restored engine sweeps
    // when the one it continues would have.
    const newDay = Math.floor(horizon / DAY) !== Math.floor((s.nextForgetAt - FORGET_EVERY_MS) / DAY)
    s.nextForgetAt = horizon + FORGET_EVERY_MS
    forget(s, horizon)
    if (newDay) {
      forgetOpenings(s)
      forgetDependencyOpenings(s)
      forgetNotificationGroups(s)
    }
  }
}

/** Forgets event ids, commands, resolved incidents and early resolves from before the retention horizon. */
function forget(s: EngineState, horizon: number): void {
  s.seen.forget(horizon)
  pruneOldest(s.commandsSeen, horizon)
  evictUntil(s, horizon)
}

/** Forgets the resolved incidents and early resolves queued before `horizon` (a look at the queue's head when none is). */
function evictUntil(s: EngineState, horizon: number): void {
  if (horizon > s.forgottenBefore) s.forgottenBefore = horizon
  const q = s.evictionQueue
  let head = s.evictionHead
  while (head < q.length && q[head]!.at < horizon) {
    const entry = q[head++]!
    const { kind, id } = entry
    if (kind === 'track') {
      const track = s.alerts.get(id)
      if (track && track.incidentId === null && track.lastHeardAt < horizon) s.alerts.delete(id)
      continue
    }
    // An older entry of an incident reopened and resolved since: its latest acts for it. Acting at whichever
    // came first, an incident whose latest entry waited behind another was kept for its post-mortem live and
    // not in an engine restored meanwhile, which can tell only from the entries still queued.
    if (s.latestEviction.get(id) !== entry) continue
    s.latestEviction.delete(id)
    const inc = s.incidents.get(id)
    // Reopened since it was queued: queued again when it resolves.
    if (!inc || inc.data.status !== 'resolved' || inc.resolvedDecidedAt === null || inc.resolvedDecidedAt >= horizon) continue
    // Whether it requires a post-mortem is made current with its version; this input may have resolved it.
    if (inc.dirty) recompute(s, inc)
    unindexResolved(s, inc)
    // One whose post-mortem the review has still to schedule stays, for that command alone (`isArchived`):
    // forgotten, it left the review's queue with an item no decision could take off it for the index's 25 months.
    if (awaitsPostmortem(inc)) keepForPostmortem(s, id, entry.at + s.cfg.retentionMs)
    else letGo(s, inc, entry.at + s.cfg.retentionMs)
    for (const { key } of inc.data.alerts) if (s.alerts.get(key)?.incidentId === id) s.alerts.delete(key)
  }
  s.evictionHead = compactHead(q, head)
}

/** Keeps a forgotten incident for its post-mortem, within `maxAwaitingPostmortem`. */
function keepForPostmortem(s: EngineState, id: string, at: number): void {
  s.awaitingPostmortem.add(id)
  trimAwaitingPostmortem(s, at)
}

/**
 * Members of the incidents kept for their post-mortems, at most, per incident the cap allows: as many as an
 * incident document embeds. A storm incident of thousands of alerts is kept whole (its schedule's version
 * counts them all), and a team that never scheduled the post-mortems of its storms grew the state by
 * thousands of members each (until 2026-12-06 only the incidents were counted).
 */
const KEPT_MEMBERS_PER_INCIDENT = 100

/**
 * Forgets the oldest incidents kept for their post-mortems (by decided resolve, then id: the same after a
 * restore, whatever order they were kept in) until at most `maxAwaitingPostmortem` are left, with at most
 * `KEPT_MEMBERS_PER_INCIDENT` times as many members in all; one with more members than that alone first.
 */
export function trimAwaitingPostmortem(s: EngineState, at = s.now): void {
  const kept = s.awaitingPostmortem
  const maxMembers = s.cfg.maxAwaitingPostmortem * KEPT_MEMBERS_PER_INCIDENT
  let members = 0
  for (const k of kept) {
    const inc = s.incidents.get(k)!
    // One larger than all the room alone goes by itself: room made for it by forgetting the older ones
    // would not have been enough, and they went for nothing.
    if (inc.data.alerts.length > maxMembers) forgetKept(s, inc, at)
    else members += inc.data.alerts.length
  }
  while (kept.size > s.cfg.maxAwaitingPostmortem || members > maxMembers) {
    let oldest: IncidentState | undefined
    for (const k of kept) {
      const inc = s.incidents.get(k)!
      if (!oldest || inc.resolvedDecidedAt! < oldest.resolvedDecidedAt! || (inc.resolvedDecidedAt === oldest.resolvedDecidedAt && k < oldest.data.id)) oldest = inc
    }
    forgetKept(s, oldest!, at)
    members -= oldest!.data.alerts.length
  }
}

/**
 * Forgets an incident kept for its post-mortem, with a last version that says so (`postmortem.forgottenAt`)
 * at `at`: pushed out by a newer one kept, when the retention reached that one (its entry's time plus the
 * retention, as `letGo`), not `s.now`, which at an eviction is whatever the delivery applied last (a drained
 * spool and live delivery stamped it a minute apart). Forgotten silently, it stayed in the review's queue
 * with a post-mortem no decision could schedule any more ("unknown incident"), and in the index for ever.
 * Trimmed by a restore (a restart with a lower cap), it goes out with the first input's versions, at the
 * restored engine's clock.
 */
function forgetKept(s: EngineState, inc: IncidentState, at: number): void {
  s.awaitingPostmortem.delete(inc.data.id)
  inc.data.postmortem = { ...inc.data.postmortem, forgottenAt: iso(at) }
  letGo(s, inc, at)
}

/**
 * Forgets an incident with a last version that says when (`forgottenAt`): the review then refuses decisions
 * on it, which the engine would refuse as an unknown incident, and the dashboard offers none. Let go
 * silently, it stayed in the index for its 25 months looking like any resolved incident, and a note or an
 * owner for it was answered only by a refusal after the fact. `at`: when it goes; by the retention, when that
 * reached it (its entry's time plus the retention), not when an input noticed: the same however the events
 * were delivered.
 * Out of `incidents` at once, so that no event or command of this input finds it; the version is made from
 * the dirty list, which holds it still.
 */
function letGo(s: EngineState, inc: IncidentState, at: number): void {
  s.incidents.delete(inc.data.id)
  inc.data.forgottenAt = iso(at)
  markDirty(s, inc)
}

/** Ids are inserted in watermark order, so the expired ones are a prefix: stop at the first that is not. */
function pruneOldest(map: Map<string, number>, horizon: number): void {
  for (const [id, t] of map) {
    if (t >= horizon) return
    map.delete(id)
  }
}
