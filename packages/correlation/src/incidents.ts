// Incident lifecycle: opening, joining, resolving (quiet period, flapping hold, staleness), reopening,
// and the incident document. Every time here is an event time.
import { groupKeyOf as groupingKeyOf, incidentKeyGroupOf, serviceEnvironmentKey } from '@opsreview/grouping'
import { flatJoin, FOREVER, hashId, iso, markClosed, markDirty, markOpen, moveToGroup, NEVER, noDeps, parseTime, type EngineState, type EvictionEntry, type HeldGap, type IncidentState } from './state.ts'
import { POSTMORTEM_MIN_SERVICES } from './config.ts'
import type { AlertEvent, Incident, IncidentAlert, Severity } from './types.ts'

const severityRank: Record<Severity, number> = { info: 0, warning: 1, critical: 2 }
const DAY = 86_400_000

/** How long a source's firing alert stays firing without word; Infinity for a source that never goes stale (0). */
export function stalenessOf(s: EngineState, source: string): number {
  const ms = s.cfg.stalenessMs[source] ?? s.cfg.stalenessMs.alertmanager ?? DAY
  return ms > 0 ? ms : Infinity
}

/** The group an event belongs to, by the grouping rules: canonical JSON, so no value can pose as two. */
export function groupKeyOf(s: EngineState, event: AlertEvent): string {
  const rules = s.cfg.grouping
  if (!rules.groupBy.byServiceAndEnvironment) return groupingKeyOf(event, rules)
  const explicit = incidentKeyGroupOf(event, rules)
  if (explicit !== undefined) return explicit
  return serviceEnvironmentKeyOf(s, event.service, event.environment)
}

/** The default group key of a service and environment: on every event, remembered rather than built each time. */
export function serviceEnvironmentKeyOf(s: EngineState, service: string, environment: string): string {
  return s.groupKeys.get(service, environment) ?? s.groupKeys.set(service, environment, serviceEnvironmentKey(service, environment))
}

/** Dependency label values (`label=value`; label names cannot hold `=`): what two services can share when one cause hurts both. */
export function depsOf(s: EngineState, event: AlertEvent): string[] {
  const out: string[] = []
  const labels = s.cfg.sharedCause.labels
  for (const label of labels) {
    const v = event.labels[label]
    if (v) out.push(flatJoin('=', label, v))
  }
  const instance = event.labels.instance
  const job = event.labels.job
  if (instance && !event.labels.host && labels.includes('host') && !(job && s.cfg.sharedCause.exporterJobs?.includes(job))) {
    const host = instance.startsWith('[') ? instance.slice(1, instance.indexOf(']')) : withoutPort(instance)
    if (host) out.push(flatJoin('=', 'host', host))
  }
  return out
}

/** `host:9100` → `host`; a value without a numeric port stays as it is, and so does a bare IPv6 address (its last group is no port). */
function withoutPort(instance: string): string {
  const colon = instance.lastIndexOf(':')
  if (colon < 0 || colon === instance.length - 1 || instance.indexOf(':') !== colon) return instance
  for (let i = colon + 1; i < instance.length; i++) {
    const c = instance.charCodeAt(i)
    if (c < 48 || c > 57) return instance
  }
  return instance.slice(0, colon)
}

// An incident's reports, notes, problem ids and post-mortem are replaced, never changed in place (emitted
// versions share them): a new incident starts with these shared empty ones, not six objects of its own.
const noEntries = Object.freeze([]) as unknown as never[]
const noPostmortem: Incident['postmortem'] = Object.freeze({ required: false, reasons: noEntries, scheduledFor: null, owner: null })

/**
 * When a firing was last heard of: its receipt says it still fired then, however long ago it started (an
 * alert firing since March, first heard of today, is not stale today). Clamped to the newest time the
 * engine has seen, so a late delivery cannot move the staleness clock past the events around it.
 */
export function heardAtOf(s: EngineState, event: AlertEvent, t: number): number {
  const received = parseTime(event.receivedAt)
  return Number.isFinite(received) ? Math.max(t, Math.min(received, s.highWater)) : t
}

/**
 * Drops (counts in `stats.lateDropped`, returns true) an event that is history the engine may have applied
 * and forgotten: older than what retention forgot (`forgottenBefore`), and heard of only before that (a
 * record replayed after a month keeps its receipt). Made again under its id, an incident's version 1
 * replaced the forgotten one's latest document on the compacted topic, the review's owner, notes and
 * resolve with it. A resolve of an alert no longer tracked is dropped by its time alone (`heardAt` = `t`).
 */
export function dropAsForgottenHistory(s: EngineState, t: number, heardAt: number): boolean {
  if (t >= s.forgottenBefore || heardAt >= s.forgottenBefore) return false
  s.stats.lateDropped += 1
  return true
}

/** `openerJoinsAmGroup`: the event joins its notification group's incident (state.ts). */
export function openIncident(s: EngineState, event: AlertEvent, groupKey: string, t: number, at: string, openerJoinsAmGroup = false): IncidentState {
  const data: Incident = {
    // Older than what retention forgot, yet heard of since (an alert silenced for longer than the retention
    // that fires on): news, but its event's id may be that of a forgotten incident, whose documents it must
    // not replace. An engine that forgot nothing (a rebuild from the input log) keeps the event's id.
    id: t < s.forgottenBefore ? hashId('inc', event.id, event.receivedAt) : hashId('inc', event.id), title: event.title, status: 'open', severity: event.severity,
    services: [event.service], environment: event.environment, groupKey,
    openedAt: at, resolvedAt: null, resolvedBy: null, resolutionDecidedAt: null, lastEventAt: at,
    alertCount: 0, alerts: [], reports: noEntries, customerImpact: false, owner: null, acknowledgedAt: null, acknowledgedBy: null,
    problemIds: noEntries, postmortem: noPostmortem, notes: noEntries, reopenCount: 0, version: 0,
  }
  const inc: IncidentState = {
    data, positions: new Map(), flapHoldUntil: NEVER, firing: 0, guessed: 0, names: new Set(), quietSince: null,
    resolvedDecidedAt: null, resolvedMs: null, gaps: null, firstOpenedMs: t, openedMs: t, lastEventMs: t, staleDue: FOREVER, timerAt: NEVER,
    recurringKey: null, recurringNames: 0, deps: noDeps, amGroups: null, openerJoinsAmGroup, dirty: false, changed: false,
  }
  s.incidents.set(data.id, inc)
  markOpen(s, inc)
  claimGroup(s, inc)
  markDirty(s, inc)
  return inc
}

/** The group's owner resolved: the newest open incident left in it owns it now, or none. */
function handOverGroup(s: EngineState, groupKey: string): void {
  let next: IncidentState | undefined
  for (const inc of s.openInGroup.get(groupKey) ?? []) if (!next || newer(inc, next)) next = inc
  if (next) s.openByGroup.set(groupKey, next.data.id)
  else s.openByGroup.delete(groupKey)
}

/** Opened later, or at the same time with the greater id: a total order, whatever order the incidents are held in. */
export const newer = (a: IncidentState, b: IncidentState): boolean => a.openedMs > b.openedMs || (a.openedMs === b.openedMs && a.data.id > b.data.id)

/**
 * The newest open incident of a group owns it and takes its events first (`joinable`; an older one that
 * holds an event still gets it). An incident opened or reopened takes its group when the group is free or
 * its owner opened before it (one of reports alone, or one quiet for longer than the join window); a late
 * event's incident never takes it from a newer one.
 */
function claimGroup(s: EngineState, inc: IncidentState): void {
  const owner = s.openByGroup.get(inc.data.groupKey)
  const current = owner === undefined ? undefined : s.incidents.get(owner)
  if (!current || current.openedMs < inc.openedMs) s.openByGroup.set(inc.data.groupKey, inc.data.id)
}

/**
 * The open incident takes another group, its events and its ownership, as the incident a late event opened
 * in event time would have had (alerts.ts); its old group goes to its next newest open incident.
 */
export function regroup(s: EngineState, inc: IncidentState, groupKey: string): void {
  const from = inc.data.groupKey
  if (from === groupKey) return
  moveToGroup(s, inc, groupKey)
  if (s.openByGroup.get(from) === inc.data.id) handOverGroup(s, from)
  claimGroup(s, inc)
  markDirty(s, inc)
}

/**
 * Opens a resolved incident again. `counted` is false when a late event falls within its span: in event
 * time it had not resolved yet, so that is no reopening. A counted one, by a re-fire at `at` (event `id`),
 * leaves a gap: from its decided resolve to `at` the incident was closed, and an event of that time found it
 * so live.
 */
export function reopenIncident(s: EngineState, inc: IncidentState, counted = true, at = s.now, id = ''): void {
  if (counted) {
    inc.data.reopenCount += 1
    if (at > inc.resolvedDecidedAt!) addGap(inc, inc.resolvedDecidedAt!, at, id, inc.data.resolvedBy === 'manual')
  }
  unindexResolved(s, inc)
  inc.data.status = 'open'
  inc.data.resolvedAt = null
  inc.data.resolvedBy = null
  inc.data.resolutionDecidedAt = null
  inc.resolvedDecidedAt = null
  inc.resolvedMs = null
  markOpen(s, inc)
  claimGroup(s, inc)
  markDirty(s, inc)
}

/**
 * The most gaps an incident keeps (the latest), and gaps held open by late members: a late event reaches back
 * hours, not through dozens of reopenings; one in an older gap finds the incident open then, as before gaps
 * were kept.
 */
export const MAX_GAPS = 8

/**
 * Adds the gap `[from, to)`, ended by the re-fire `refireId` (begun by a person's resolve: `byPerson`), in time
 * order; the oldest goes beyond `MAX_GAPS`.
 */
function addGap(inc: IncidentState, from: number, to: number, refireId: string, byPerson = false): void {
  const closed = (inc.gaps ??= { closed: [], held: [] }).closed
  // Nearly always the latest: a reopening now, or one given back just before it.
  let i = closed.length
  while (i > 0 && closed[i - 1]!.from > from) i--
  closed.splice(i, 0, { from, to, refireId, byPerson })
  if (closed.length > MAX_GAPS) closed.shift()
}

/** Drops the incident's `gaps` once it holds none, closed or held. */
function tidyGaps(inc: IncidentState): void {
  const gaps = inc.gaps
  if (gaps !== null && gaps.closed.length === 0 && gaps.held.length === 0) inc.gaps = null
}

/**
 * Whether `t` falls in one of the incident's gaps (`Gaps.closed`): it was closed then. At a gap's end, the
 * re-fire's instant, so is a late firing (`lateFiringId`) whose id sorts before the re-fire's: the engine applies
 * one instant's firings by id, and in order that one came while the incident was still closed.
 */
export function closedAt(s: EngineState, inc: IncidentState, t: number): boolean {
  if (inc.gaps === null) return false
  const closed = inc.gaps.closed
  // The latest first: a late event is nearly always recent.
  for (let i = closed.length - 1; i >= 0; i--) {
    const gap = closed[i]!
    if (t > gap.to) return false
    if (t === gap.to) return s.lateFiringId !== null && s.lateFiringId < gap.refireId
    if (t >= gap.from) return true
  }
  return false
}

/**
 * A member's late re-fire at `t` (event `id`) in a gap of its incident: in event time it reopened the incident
 * then (the reopen counted once, by the later re-fire already applied), so the gap ends at `t`. What is left of
 * the gap the member holds open until its end is known (`heldOpenBy`): ended a quiet period before the later
 * re-fire, the incident resolved again, and that re-fire reopened it again, counted.
 */
export function reopenedEarlier(s: EngineState, inc: IncidentState, key: string, t: number, id: string): void {
  const closed = inc.gaps!.closed
  for (let i = closed.length - 1; i >= 0; i--) {
    const gap = closed[i]!
    const { from, to, refireId } = gap
    if (t < from || t > to) continue
    if (t === from) closed.splice(i, 1)
    else { gap.to = t; gap.refireId = id }
    if (t < to) holdGap(s, inc, { from: t, to, id: refireId, firing: [[key, t]], until: t })
    return
  }
}

/** Keeps a gap held open by late members, the latest `MAX_GAPS`. */
function holdGap(s: EngineState, inc: IncidentState, held: HeldGap): void {
  const list = (inc.gaps ??= { closed: [], held: [] }).held
  list.push(held)
  if (list.length > MAX_GAPS) {
    let oldest = 0
    for (let j = 1; j < list.length; j++) if (list[j]!.to < list[oldest]!.to) oldest = j
    list.splice(oldest, 1)
  }
  markDirty(s, inc)
}

/**
 * A late firing of a member at `t`, ended at `end` if that is known (else firing on, as far as is known): in
 * event time it kept the incident open from `t` until a quiet period after its end, so a gap after `t` began no
 * earlier than that, and one the re-fire ending it found open was no reopening: taken back (uncounted), and,
 * while the end is unknown, held, to be given back if that end comes early enough (`endedAcross`). Gaps already
 * held wait for its end too. `knownAt`: when in event time the firing is known (a whole episode's end): a re-fire
 * by then came before it in order too, and its reopening stands.
 */
export function heldOpenBy(s: EngineState, inc: IncidentState, key: string, t: number, end: number | null, knownAt = t): void {
  const q = s.cfg.quietPeriodMs
  const gaps = inc.gaps
  if (gaps !== null) {
    const closed = gaps.closed
    for (let i = closed.length - 1; i >= 0 && closed[i]!.from > t; i--) {
      const gap = closed[i]!
      // A person closed it then, whatever fired: in order, too, the re-fire after reopened it.
      if (gap.byPerson) continue
      if (gap.to <= knownAt) continue
      if (end !== null && end + q < gap.to) {
        if (end + q > gap.from) gap.from = end + q
        continue
      }
      closed.splice(i, 1)
      // Resolved at the re-fire's very instant, its timer first: still a reopening, with no time closed.
      if (end !== null && end + q === gap.to) continue
      inc.data.reopenCount -= 1
      if (end === null) holdGap(s, inc, { from: gap.from, to: gap.to, id: gap.refireId, firing: [[key, t]], until: gap.from })
    }
    for (const h of gaps.held) {
      if (h.to <= knownAt) continue
      if (end !== null) { if (end + q > h.until) h.until = end + q }
      else if (!h.firing.some(([k]) => k === key)) h.firing.push([key, t])
    }
    tidyGaps(inc)
  }
  markDirty(s, inc)
}

/**
 * A member that held gaps open (`heldOpenBy`) ended at `t`: a gap none of its members holds any more comes back
 * from a quiet period after their latest end, counted again, when that is before the re-fire that ended it.
 */
export function endedAcross(s: EngineState, inc: IncidentState, key: string, t: number): void {
  const held = inc.gaps!.held
  const q = s.cfg.quietPeriodMs
  for (let j = held.length - 1; j >= 0; j--) {
    const h = held[j]!
    const at = h.firing.findIndex(([k, since]) => k === key && since <= t)
    if (at < 0) continue
    h.firing.splice(at, 1)
    if (t + q > h.until) h.until = t + q
    if (h.firing.length > 0) continue
    held.splice(j, 1)
    if (h.until > h.to) continue
    inc.data.reopenCount += 1
    if (h.until < h.to) addGap(inc, Math.max(h.from, h.until), h.to, h.id)
    markDirty(s, inc)
  }
  tidyGaps(inc)
}

export function resolveIncident(s: EngineState, inc: IncidentState, by: 'alerts' | 'staleness' | 'manual', atMs: number, at: string, decidedAt: number): void {
  if (inc.data.status === 'resolved') unindexResolved(s, inc)
  inc.data.status = 'resolved'
  inc.data.resolvedAt = at
  inc.data.resolvedBy = by
  inc.data.resolutionDecidedAt = iso(decidedAt)
  inc.resolvedMs = atMs
  inc.resolvedDecidedAt = decidedAt
  inc.quietSince = null
  markClosed(s, inc)
  // At its decision, or at the time being applied when that is later (an incident settled by a later event):
  // event times, so that it is forgotten at the same point of event time however the events were delivered
  // (at the watermark, it was forgotten before an event in one delivery and after it in another). A resolve
  // by hand at the review's clock may lie ahead: an entry that comes due before the incident's latest
  // decision is then always a stale one, a newer entry following.
  queueEviction(s, inc.data.id, Math.max(s.now, decidedAt))
  if (s.openByGroup.get(inc.data.groupKey) === inc.data.id) handOverGroup(s, inc.data.groupKey)
  // Its notification groups still point here, for a late event whose time its span holds (alerts.ts); a firing
  // that joins after a reopen adds its own.
  inc.amGroups = null
  indexResolved(s, inc)
  markDirty(s, inc)
}

// The span index: a late event joins the retained resolved incident of its group whose event-time span
// holds it, found by binary search in its group's list (ordered by resolvedDecidedAt, then id), never by
// a scan of all incidents. Built on the first late lookup (a restore and an engine that never sees a late
// event build none), then kept up to date at each resolve, reopen and eviction.

const spanBefore = (a: IncidentState, b: IncidentState): boolean =>
  a.resolvedDecidedAt! !== b.resolvedDecidedAt! ? a.resolvedDecidedAt! < b.resolvedDecidedAt! : a.data.id < b.data.id

/** The first position in `list` not before `inc`. */
function lowerBound(list: IncidentState[], inc: IncidentState): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (spanBefore(list[mid]!, inc)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * An incident the retention reached that is kept only for its post-mortem (`evictUntil`, watermark.ts):
 * out of every index, so no event finds it; only the review's commands, by its id.
 */
export function isArchived(s: EngineState, inc: IncidentState): boolean {
  return s.awaitingPostmortem.has(inc.data.id)
}

/** A resolved incident that requires a post-mortem nobody has scheduled yet: the review still has to. */
export function awaitsPostmortem(inc: IncidentState): boolean {
  return inc.data.postmortem.required && inc.data.postmortem.scheduledFor === null
}

function spanIndex(s: EngineState): Map<string, IncidentState[]> {
  if (s.resolvedByGroup) return s.resolvedByGroup
  const index = new Map<string, IncidentState[]>()
  for (const inc of s.incidents.values()) {
    if (inc.data.status !== 'resolved' || inc.resolvedDecidedAt === null || isArchived(s, inc)) continue
    const list = index.get(inc.data.groupKey)
    if (list) list.push(inc)
    else index.set(inc.data.groupKey, [inc])
  }
  for (const list of index.values()) list.sort((a, b) => (spanBefore(a, b) ? -1 : spanBefore(b, a) ? 1 : 0))
  return (s.resolvedByGroup = index)
}

function indexResolved(s: EngineState, inc: IncidentState): void {
  const index = s.resolvedByGroup
  if (!index || inc.resolvedDecidedAt === null) return
  const list = index.get(inc.data.groupKey)
  if (!list) { index.set(inc.data.groupKey, [inc]); return }
  // Incidents resolve in watermark order: nearly always at the end.
  const last = list[list.length - 1]
  if (!last || spanBefore(last, inc)) list.push(inc)
  else list.splice(lowerBound(list, inc), 0, inc)
}

/** Queues an incident for the retention at `at`, its latest entry (`latestEviction`). */
export function queueEviction(s: EngineState, id: string, at: number): void {
  const entry: EvictionEntry = { kind: 'incident', id, at }
  s.evictionQueue.push(entry)
  s.latestEviction.set(id, entry)
}

/** Takes a resolved incident out of the span index (before it reopens or is forgotten). */
export function unindexResolved(s: EngineState, inc: IncidentState): void {
  const list = s.resolvedByGroup?.get(inc.data.groupKey)
  if (!list || inc.resolvedDecidedAt === null) return
  const at = lowerBound(list, inc)
  if (list[at] !== inc) return
  list.splice(at, 1)
  if (list.length === 0) s.resolvedByGroup!.delete(inc.data.groupKey)
}

/**
 * Whether an event at `t` falls within the incident, for joining it.
 * - A report: no earlier than its start less the report window (customers often notice first).
 * - An alert: no earlier than its start less the quiet period; into an incident of reports alone, only
 *   within the report window of one of its reports, before or after (a complaint in the morning is not the
 *   incident of an alert at night), so that the same incident comes out whichever arrives first.
 * - Either, into an incident with alerts: within the join window of the incident's activity at `t`
 *   (`activeWithin`): a warning firing quietly for days does not take a new outage of its service, nor a
 *   complaint about it, nor does an outage that joined it and ended bridge it to the next one.
 * `until`: an alert known to have fired from `t` to `until` (a late one) joins as at its first instant the
 * incident was open, when it began earlier (within the join window): it overlapped the incident even if
 * its start did not.
 */
export function joinsAt(s: EngineState, inc: IncidentState, t: number, report: boolean, until = t): boolean {
  const w = s.cfg.joinWindowMs
  // Only within the join window of its start: in order, an incident opening later than that would not
  // have joined the alert's own incident either.
  if (until > t && (w <= 0 || inc.openedMs - t <= w)) t = Math.max(t, Math.min(until, inc.openedMs))
  // Closed at `t` before a counted reopening: live, the event found it resolved.
  if (closedAt(s, inc, t)) return false
  const lead = report ? Math.max(s.cfg.quietPeriodMs, s.cfg.reportWindowMs) : s.cfg.quietPeriodMs
  if (inc.data.alerts.length === 0) {
    // Complaints hours apart are not one incident: the join window holds between reports as well.
    if (report) return t >= inc.openedMs - lead && (w <= 0 || t <= inc.openedMs || activeWithin(s, inc, t, w))
    for (const r of inc.data.reports) if (Math.abs(t - parseTime(r.at)) <= s.cfg.reportWindowMs) return true
    return false
  }
  if (t < inc.openedMs - lead) return false
  if (w <= 0 || t <= inc.openedMs) return true
  if (t >= inc.lastEventMs) {
    // A resolve counts for the quiet period after it, which may be longer than the window.
    if (t - inc.lastEventMs > Math.max(w, s.cfg.quietPeriodMs)) return false
    // Every member still fires: the latest event is a firing of one of them (or a report).
    if (inc.firing === inc.data.alerts.length) return true
  }
  return activeWithin(s, inc, t, w)
}

/**
 * Whether the incident was active within `w` before `t`, as it was at `t` (a late event does not see the
 * events after it): a member firing at `t` fired or fired again then, a member that had ended did so
 * within the quiet period before `t` (its incident would still be open for it alone), or a report came.
 * Members keep their first and latest firing and latest resolve, which is what is judged.
 */
function activeWithin(s: EngineState, inc: IncidentState, t: number, w: number): boolean {
  const alerts = inc.data.alerts
  // From both ends: an event in order is answered by the newest members, a late one in a storm by the
  // oldest (the newest fired after it), so neither scans the whole incident per event.
  for (let i = 0, j = alerts.length - 1; i <= j; i++, j--) {
    if (memberActive(s, inc, alerts[j]!, t, w) || (i < j && memberActive(s, inc, alerts[i]!, t, w))) return true
  }
  for (const r of inc.data.reports) {
    const at = parseTime(r.at)
    if (at <= t && t - at <= w) return true
  }
  return false
}

/**
 * A member firing at `t` that fired (again) within `w` before it, or one that ended within the quiet period
 * before it. A staleness guess ends a member at its last sighting, but only once the timeout is due: before
 * that, in event time, nothing had ended it, and a late event finds it firing, as live (a check going down
 * 40 minutes after an alert of its service, held in a backlog while the 2-hour guess ran, opened an incident
 * of its own; live it joined the alert's).
 */
function memberActive(s: EngineState, inc: IncidentState, m: IncidentAlert, t: number, w: number): boolean {
  const first = parseTime(m.firstSeenAt)
  if (first > t) return false
  let resolved = m.resolvedAt === null ? Infinity : parseTime(m.resolvedAt)
  if (m.autoResolved && resolved <= t && t < guessDueOf(s, inc, m)) resolved = Infinity
  if (resolved <= t) return t - resolved <= s.cfg.quietPeriodMs
  const seen = parseTime(m.lastSeenAt)
  return t - (seen <= t ? seen : first) <= w
}

/**
 * When the staleness guess that ended a member was due (`expireStale`): its alert's last word plus the
 * timeout. The alert's track holds that word while it still points to this incident (anything heard since
 * would have undone or replaced the guess); else the member's last sighting.
 */
export function guessDueOf(s: EngineState, inc: IncidentState, m: IncidentAlert): number {
  const track = s.alerts.get(m.key)
  const heard = track && track.incidentId === inc.data.id ? track.lastHeardAt : parseTime(m.lastSeenAt)
  return heard + stalenessOf(s, m.source)
}

/**
 * The newest open incident of the group that takes an event at `t` (`joinsAt`), when its owner does not:
 * one a late event opened, one quieter than the join window, one of reports alone, or one left open when
 * the owner resolved. The group's open incidents are few; each is settled first, so one due to resolve
 * by now is not joined.
 */
export function openHolding(s: EngineState, groupKey: string, t: number, report: boolean, until = t, openedBy = Infinity): IncidentState | undefined {
  const open = s.openInGroup.get(groupKey)
  if (!open) return undefined
  let best: IncidentState | undefined
  // A copy: settling can resolve an incident, which leaves the set.
  for (const inc of [...open]) {
    settle(s, inc, s.now)
    if (inc.data.status !== 'open' || inc.openedMs > openedBy || !joinsAt(s, inc, t, report, until)) continue
    if (!best || newer(inc, best)) best = inc
  }
  return best
}

/** Spans that overlap in one group are rare (an incident opened by a late event): a few candidates are looked at. */
const SPAN_CANDIDATES = 8

/**
 * The retained resolved incident of the group whose span holds `t`: one `joinsAt` `t` (for a `report` or
 * an alert), not yet resolved at `t` (its resolution was decided after `t`), by its alerts, its staleness
 * or a person (an event before the person's decision was, in event time, part of what they resolved); of
 * several, the newest opened by `t`, else the first decided.
 */
export function resolvedHolding(s: EngineState, groupKey: string, t: number, report: boolean, until = t): IncidentState | undefined {
  const list = spanIndex(s).get(groupKey)
  if (!list) return undefined
  const lo = firstDecidedAfter(list, t)
  // The newest that takes it, as among open incidents (`openHolding`): at `t` it owned the group, and live
  // the event went to it first (a complaint held in a backlog went to the first decided, an incident quiet
  // for hours whose alert had just fired again, not to the complaints' own incident that took it live). Only
  // one opened by `t` owned anything then: one opened after it (taking it by a report that came after it,
  // or by its overlap) is joined only when none opened by `t` takes it, and then the first decided (an alert
  // went to an incident of reports alone opened after it, not to the one that held it live).
  let best: IncidentState | undefined
  let after: IncidentState | undefined
  for (let i = lo; i < list.length && i < lo + SPAN_CANDIDATES; i++) {
    const inc = list[i]!
    if (inc.openedMs > t) { if (!best && !after && joinsAt(s, inc, t, report, until)) after = inc }
    else if ((!best || newer(inc, best)) && joinsAt(s, inc, t, report, until)) best = inc
  }
  return best ?? after
}

/** Where in a group's list (by decided resolve) the incidents decided after `t` begin. */
function firstDecidedAfter(list: readonly IncidentState[], t: number): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (list[mid]!.resolvedDecidedAt! <= t) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The newest retained resolved incident of the group still open at `seenAt` (opened by then, its resolution
 * decided after, and not in a gap before a counted reopening then) that takes an alert at `t` (`joinsAt`): in event time the group's newest open incident then,
 * which owned it. Such incidents are among the first decided after `seenAt`, not the last: those opened since
 * and resolved during a long backlog are decided after them (until 2026-12-06 only the list's last few were
 * looked at, and eight short incidents resolved during the backlog hid the one open at `seenAt`).
 */
export function resolvedOpenAt(s: EngineState, groupKey: string, t: number, until: number, seenAt: number): IncidentState | undefined {
  const list = spanIndex(s).get(groupKey)
  if (!list) return undefined
  const lo = firstDecidedAfter(list, seenAt)
  let found: IncidentState | undefined
  for (let i = lo; i < list.length && i < lo + SPAN_CANDIDATES; i++) {
    const inc = list[i]!
    if (openAt(s, inc, seenAt) && (!found || newer(inc, found)) && joinsAt(s, inc, t, false, until)) found = inc
  }
  return found
}

/** Opened by `t` and not closed then (in a gap before a counted reopening); whether it had resolved by `t` is the caller's. */
export const openAt = (s: EngineState, inc: IncidentState, t: number): boolean => inc.openedMs <= t && !closedAt(s, inc, t)

function positionsOf(inc: IncidentState): Map<string, number> {
  if (inc.positions) return inc.positions
  const positions = new Map<string, number>()
  inc.data.alerts.forEach((a, i) => positions.set(a.key, i))
  return (inc.positions = positions)
}

/** The member of the incident with this key. */
export function memberOf(inc: IncidentState, key: string): IncidentAlert | undefined {
  const at = positionsOf(inc).get(key)
  return at === undefined ? undefined : inc.data.alerts[at]
}

/** A resolved incident is rarely looked into again: its index is rebuilt if it is. */
export function compactResolved(inc: IncidentState): void {
  if (inc.data.status !== 'resolved') return
  inc.positions = null
  // A growing array keeps room for half as many again plus 16; a resolved incident rarely grows, and a copy
  // holds its members and services exactly (6-10 bytes per remembered event).
  const d = inc.data
  if (d.alerts.length > 0) d.alerts = d.alerts.slice()
  if (d.services.length > 1) d.services = d.services.slice()
}

/**
 * A member with some fields changed: a new object (emitted documents share members), built whole in the
 * order the engine creates members (the documents' JSON keeps it), without a spread of a change object.
 */
export function memberWith(
  m: IncidentAlert, status: IncidentAlert['status'], resolvedAt: string | null, autoResolved: boolean,
  flapCount = m.flapCount, severity = m.severity, title = m.title, firstSeenAt = m.firstSeenAt, lastSeenAt = m.lastSeenAt,
  guessedEnds = m.guessedEnds,
): IncidentAlert {
  const next: IncidentAlert = {
    key: m.key, fingerprint: m.fingerprint, source: m.source, name: m.name, title, service: m.service, severity, status,
    firstSeenAt, lastSeenAt, resolvedAt, flapCount, autoResolved,
  }
  // Only on the few members that have them: the others keep one shape, and their documents no empty list.
  if (guessedEnds !== undefined) next.guessedEnds = guessedEnds
  return next
}

/** The most guessed ends a member keeps (the schema's `maxItems`). */
export const MAX_GUESSED_ENDS = 20

/** A member's guessed ends with `end` last, the oldest dropped beyond `MAX_GUESSED_ENDS`. */
export function withGuessedEnd(ends: readonly string[] | undefined, end: string): string[] {
  const next = ends === undefined ? [end] : [...ends, end]
  return next.length > MAX_GUESSED_ENDS ? next.slice(next.length - MAX_GUESSED_ENDS) : next
}

/** Replaces the member with this key by `next` (from `memberWith`). */
export function replaceMember(s: EngineState, inc: IncidentState, key: string, next: IncidentAlert): void {
  const at = positionsOf(inc).get(key)
  if (at === undefined) return
  inc.guessed += Number(next.autoResolved) - Number(inc.data.alerts[at]!.autoResolved)
  inc.data.alerts[at] = next
  markDirty(s, inc)
}

/** Adds a member (a new alert of the incident). */
export function addMember(s: EngineState, inc: IncidentState, member: IncidentAlert, heardAt: number): void {
  positionsOf(inc).set(member.key, inc.data.alerts.length)
  inc.data.alerts.push(member)
  if (member.autoResolved) inc.guessed += 1
  if (member.status === 'firing') {
    inc.firing += 1
    const due = heardAt + stalenessOf(s, member.source)
    if (due < inc.staleDue) inc.staleDue = due
  }
  absorb(inc, member)
  markDirty(s, inc)
}

/** Folds a member into the incident's severity (the maximum), services and names. */
export function absorb(inc: IncidentState, m: IncidentAlert): void {
  const d = inc.data
  if (inc.data.alerts.length === 1 || severityRank[m.severity] > severityRank[d.severity]) d.severity = m.severity
  // A new array, never a push: emitted documents share it (copyIncident).
  if (!d.services.includes(m.service)) d.services = [...d.services, m.service]
  inc.names.add(m.name)
}

/** Moves the start back for an event older than the incident (or than the member's first firing). */
export function extendStart(s: EngineState, inc: IncidentState, key: string | null, t: number, at: string): void {
  if (key) {
    const member = memberOf(inc, key)
    if (member && t < parseTime(member.firstSeenAt)) {
      replaceMember(s, inc, key, memberWith(member, member.status, member.resolvedAt, member.autoResolved, member.flapCount, member.severity, member.title, at))
    }
  }
  if (t < inc.openedMs) { inc.data.openedAt = at; inc.openedMs = t; markDirty(s, inc) }
}

export function touch(s: EngineState, inc: IncidentState, t: number, at: string): void {
  if (t > inc.lastEventMs) { inc.data.lastEventAt = at; inc.lastEventMs = t }
  // A late event from before a person's resolve: had it come first, the resolve would have been timed no
  // earlier than it (commands.ts).
  if (inc.data.resolvedBy === 'manual' && t > inc.resolvedMs! && t < inc.resolvedDecidedAt!) { inc.resolvedMs = t; inc.data.resolvedAt = at }
  markDirty(s, inc)
}

/** The last end among the members, or `fallback` when none has one. */
function endOf(inc: IncidentState, fallback: number): { ms: number; at: string } {
  let end = NEVER
  let at = ''
  for (const m of inc.data.alerts) {
    if (m.resolvedAt === null) continue
    const t = parseTime(m.resolvedAt)
    if (t > end) { end = t; at = m.resolvedAt }
  }
  return end === NEVER ? { ms: fallback, at: iso(fallback) } : { ms: end, at }
}

/** The last end among the members, and no earlier than `t`. */
export function lastEndOf(inc: IncidentState, t: number): number {
  return Math.max(t, endOf(inc, t).ms)
}

/** A resolved incident whose members changed afterwards (a late resolve) ends at its new last end. */
export function refreshEnd(s: EngineState, inc: IncidentState): void {
  if (inc.data.status !== 'resolved' || inc.data.resolvedBy === 'manual') return
  const end = endOf(inc, inc.resolvedMs ?? s.now)
  if (end.ms !== inc.resolvedMs) { inc.data.resolvedAt = end.at; inc.resolvedMs = end.ms; markDirty(s, inc) }
}

/**
 * For a firing a late event brought into an incident a person resolved: in order it was in the open
 * incident, whose staleness timeout ended it by their decision if it was not heard of for that long.
 */
export function expireUntilDecision(s: EngineState, inc: IncidentState): void {
  if (inc.data.resolvedBy !== 'manual') return
  expireStale(s, inc, inc.resolvedDecidedAt!)
  // Resolved: no quiet period runs.
  inc.quietSince = null
}

/** Resolves firing members not heard of for their source's staleness timeout by `now`. */
function expireStale(s: EngineState, inc: IncidentState, now: number): void {
  let next = FOREVER
  let lastDue = NEVER
  for (const m of inc.data.alerts) {
    if (m.status !== 'firing') continue
    const track = s.alerts.get(m.key)
    const due = (track?.lastHeardAt ?? parseTime(m.lastSeenAt)) + stalenessOf(s, m.source)
    if (due > now) { if (due < next) next = due; continue }
    replaceMember(s, inc, m.key, memberWith(m, 'resolved', m.lastSeenAt, true))
    if (track) track.status = 'resolved'
    inc.firing -= 1
    if (due > lastDue) lastDue = due
  }
  inc.staleDue = next
  // The last firing member went silent at its due time: the quiet period has long passed by then.
  if (inc.firing === 0 && lastDue !== NEVER) inc.quietSince = lastDue - s.cfg.quietPeriodMs
}

/**
 * Applies the incident's timers due by `now`, each at its own time: staleness of members, then the quiet
 * period (held while a member flaps), and the timeout of an incident opened by a report alone.
 */
export function settle(s: EngineState, inc: IncidentState, now: number): void {
  if (inc.data.status !== 'open') return
  if (inc.data.alerts.length === 0) {
    // Opened by a report: nothing will resolve it but a person or the staleness timeout.
    const due = inc.lastEventMs + stalenessOf(s, 'report')
    if (now >= due) resolveIncident(s, inc, 'staleness', inc.lastEventMs, inc.data.lastEventAt, due)
    return
  }
  if (inc.staleDue <= now) expireStale(s, inc, now)
  if (inc.firing > 0 || inc.quietSince === null) return
  const due = quietDueOf(s, inc, inc.quietSince)
  if (due > now) return
  const end = endOf(inc, due)
  resolveIncident(s, inc, inc.guessed > 0 ? 'staleness' : 'alerts', end.ms, end.at, due)
}

/**
 * When the quiet period from `quietSince` resolves the incident, not before a flapping hold ends. A member a
 * staleness guess ended whose guess was due after `quietSince` fired on until then, in order, and the guess
 * resolved the incident at once (`expireStale`): a late resolve of its last other member, applied after the
 * guess ran (a spool drained after an outage longer than the timeout), closed it a quiet period after its
 * own end instead, and the next re-fire of that member in the spool was judged against the wrong decision.
 * In order every guess is due before the quiet period starts, and this changes nothing.
 */
export function quietDueOf(s: EngineState, inc: IncidentState, quietSince: number): number {
  let guessed = NEVER
  if (inc.guessed > 0) for (const m of inc.data.alerts) if (m.autoResolved) guessed = Math.max(guessed, guessDueOf(s, inc, m))
  return Math.max(guessed > quietSince ? guessed : quietSince + s.cfg.quietPeriodMs, inc.flapHoldUntil)
}

/** When the incident next needs its timers applied, after `now`. */
function nextDue(s: EngineState, inc: IncidentState, now: number): number {
  if (inc.data.status !== 'open') return FOREVER
  if (inc.data.alerts.length === 0) return inc.lastEventMs + stalenessOf(s, 'report')
  let due = inc.staleDue
  if (inc.firing === 0 && inc.quietSince !== null) due = Math.min(due, quietDueOf(s, inc, inc.quietSince))
  // Open long enough for a post-mortem: a new version says so (only a duration condition that is on, for a
  // severity that needs one, can make it so).
  const pm = s.cfg.postmortem
  const long = inc.openedMs + pm.minDurationMs
  if (pm.minDurationMs > 0 && !inc.data.postmortem.required && long > now && pm.severities.includes(inc.data.severity)) due = Math.min(due, long)
  return due
}

/** Queues the incident's next timer, unless an earlier one is queued already. */
export function schedule(s: EngineState, inc: IncidentState): void {
  const due = nextDue(s, inc, s.now)
  if (due >= FOREVER) return
  if (due < inc.timerAt || inc.timerAt <= s.now) {
    inc.timerAt = due
    s.timers.push({ at: due, id: inc.data.id })
  }
}

/** A timer came due: apply what is due, note a newly required post-mortem, and queue the next one. */
export function onTimer(s: EngineState, id: string, at: number): void {
  const inc = s.incidents.get(id)
  if (!inc) return
  // Spent whatever the status: a resolved incident reopened later must not find it still queued.
  if (inc.timerAt === at) inc.timerAt = NEVER
  if (inc.data.status !== 'open') return
  settle(s, inc, at)
  if (inc.data.status === 'open' && !inc.data.postmortem.required && postmortemReasons(s, inc).length > 0) markDirty(s, inc)
  schedule(s, inc)
}

/**
 * Why the incident needs a post-mortem, empty when it does not: a configured severity and, of the conditions
 * turned on, at least one that holds (config.ts `postmortem`). The reasons name the severity and each one.
 */
function postmortemReasons(s: EngineState, inc: IncidentState): readonly string[] {
  const d = inc.data
  const pm = s.cfg.postmortem
  // Most incidents need none: one shared empty list, not a new one per version.
  if (!pm.severities.includes(d.severity)) return noReasons
  const minServices = pm.minServices ?? POSTMORTEM_MIN_SERVICES
  // Every version of a critical incident asks: the reasons are counted first and built from remembered
  // strings, so the usual answer (the same as the last version's) costs one small list and no strings.
  let lasted = -1
  if (pm.minDurationMs > 0) {
    const end = d.status === 'resolved' && inc.resolvedMs !== null ? inc.resolvedMs : Math.max(s.now, inc.lastEventMs)
    if (end - inc.openedMs >= pm.minDurationMs) lasted = Math.round((end - inc.openedMs) / 60_000)
  }
  const customers = pm.whenCustomerImpact && d.customerImpact
  const hit = minServices > 0 && d.services.length >= minServices ? d.services.length : -1
  const anyOn = pm.minDurationMs > 0 || pm.whenCustomerImpact || minServices > 0
  const count = 1 + (lasted >= 0 ? 1 : 0) + (customers ? 1 : 0) + (hit >= 0 ? 1 : 0)
  if (anyOn && count === 1) return noReasons
  const reasons = new Array<string>(count)
  let n = 0
  reasons[n++] = remembered(severityReasons, d.severity, () => `severity ${d.severity}`)
  if (lasted >= 0) reasons[n++] = lasted < 100_000 ? (lastedReasons[lasted] ??= `lasted ${lasted} min or more`) : `lasted ${lasted} min or more`
  if (customers) reasons[n++] = 'customers affected'
  if (hit >= 0) reasons[n] = hit < 10_000 ? (servicesReasons[hit] ??= `${hit} services hit`) : `${hit} services hit`
  return reasons
}

const noReasons: readonly string[] = Object.freeze([])
const severityReasons = new Map<string, string>()
const lastedReasons: (string | undefined)[] = []
const servicesReasons: (string | undefined)[] = []

function remembered(table: Map<string, string>, key: string, make: () => string): string {
  let v = table.get(key)
  if (v === undefined) table.set(key, (v = make()))
  return v
}

/** Brings the derived fields up to date before a version is emitted. */
export function recompute(s: EngineState, inc: IncidentState): void {
  const d = inc.data
  const count = d.alerts.length
  d.alertCount = count
  const first = d.alerts[0]
  if (first) d.title = count > 1 ? titleOf(d.title, first.title, count) : first.title
  const reasons = postmortemReasons(s, inc)
  const pm = d.postmortem
  // Emitted documents share the post-mortem object: a change makes a new one, and no change (most
  // versions) makes nothing.
  if (pm.required !== reasons.length > 0 || !sameStrings(pm.reasons, reasons)) d.postmortem = { ...pm, required: reasons.length > 0, reasons: reasons as string[] }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const moreSuffixes: (string | undefined)[] = new Array<string | undefined>(1024)

/** `first (+n more)`: the title of the previous version when it already says so (most versions), built only when it changes. */
function titleOf(previous: string, first: string, count: number): string {
  const more = count < moreSuffixes.length ? (moreSuffixes[count] ??= ` (+${count - 1} more)`) : ` (+${count - 1} more)`
  return previous.length === first.length + more.length && previous.endsWith(more) && previous.startsWith(first) ? previous : first + more
}

/** A copy of the incident document: later changes do not reach an emitted version. */
export function copyIncident(d: Incident, maxAlerts: number, maxEntries: number): Incident {
  // A storm incident can gather thousands of alerts; the document keeps the first ones (alertCount has them
  // all). Notes and reports keep the latest: a document must stay a record Kafka takes.
  // The engine never changes the services, reports, notes, problem ids or post-mortem arrays and objects
  // of an incident in place (a change makes a new one), so a version shares them instead of copying five
  // of them on every version; only the members change in place (updateMember, addMember) and are copied.
  // Members are immutable values already. The object keeps the document's key order.
  return {
    ...d,
    alerts: d.alerts.length <= maxAlerts ? d.alerts.slice() : d.alerts.slice(0, maxAlerts),
    reports: d.reports.length <= maxEntries ? d.reports : d.reports.slice(-maxEntries),
    notes: d.notes.length <= maxEntries ? d.notes : d.notes.slice(-maxEntries),
  }
}
