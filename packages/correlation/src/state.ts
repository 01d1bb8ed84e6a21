// The state one engine (one partition) holds, shared by the modules of the engine, and its small helpers.
import { hash } from 'node:crypto'
import { parseCanonical } from '@opsreview/schemas/time'
import type { EngineConfig } from './config.ts'
import { Heap } from './heap.ts'
import { PairCache } from './pair-cache.ts'
import { SeenIds } from './seen.ts'
import type { AlertEvent, CommandResult, EngineStats, Incident, Problem } from './types.ts'

/** Before any event: a time earlier than every real one that still survives JSON. */
export const NEVER = -8.64e15
/** After every real time, likewise. */
export const FOREVER = 8.64e15

export const iso = (t: number): string => new Date(t).toISOString()

/**
 * The parts joined by `separator` into one flat string, for a key the engine's tables keep. V8 keeps a
 * concatenation of 13 characters or more (`+`, a template literal) as a rope of its parts, and a slice of as
 * many as a view of its parent; a table comparing such a key reads through to the characters, a cache miss
 * more on every look-up in a table of a million keys (alert keys so built cost the engine 7 – 9 %, 2026-12-04).
 */
export const flatJoin = (separator: string, ...parts: string[]): string => parts.join(separator)

/** Ids that leave the engine: a prefix and 24 hex digits of sha256 over the parts. */
export function hashId(prefix: string, ...parts: string[]): string {
  // Each part followed by a NUL, in one call: a Hash object per id cost more than the digest.
  let text = ''
  for (const p of parts) text += `${p}\u0000`
  return flatJoin('-', prefix, hash('sha256', text, 'hex').slice(0, 24))
}

/** The key of an alert (source + fingerprint): its track, its member in an incident. */
export const alertKeyOf = (event: AlertEvent): string => flatJoin(':', event.source, event.fingerprint)

/** What the engine remembers of one alert (source + fingerprint) between its events. Times are event times. */
export interface AlertTrack {
  incidentId: string | null
  status: 'firing' | 'resolved'
  /** Time of the last state change applied: older changes arriving late are stale. */
  lastChangeAt: number
  /** Last time the alert was heard of (redeliveries included), for the staleness timeout. */
  lastHeardAt: number
  /** A resolve that came before any firing: its end time. */
  earlyResolveAt: number | null
  /** Times of each re-fire within the flapping window; `noFlaps` (shared) until the first. */
  flapTimes: number[]
  /**
   * The alert's last firing before a staleness guess and its late re-fire from before the guess was due,
   * taken as firing all along (no flap): a real resolve between the two that comes later still counts the
   * flap. Only on the few tracks that have one.
   */
  unflapped?: [from: number, at: number]
}

/** The flap times of the many alerts that never flapped: one shared, frozen empty list instead of one each. */
export const noFlaps: number[] = Object.freeze([]) as unknown as number[]

/** The latest notes and reports an incident document holds, and notes a problem document holds. */
export const MAX_ENTRIES_IN_DOCUMENT = 100

/**
 * `list` with `entry` appended, as a new array (emitted versions share the old one), holding the latest
 * `MAX_ENTRIES_IN_DOCUMENT`: notes are kept for the documents alone, and a problem is kept for ever, so its
 * notes grew without bound in the state and in every snapshot (5,000 notes, a 5 MB snapshot).
 */
export function withLatest<T>(list: readonly T[], entry: T): T[] {
  const from = Math.max(0, list.length + 1 - MAX_ENTRIES_IN_DOCUMENT)
  return [...list.slice(from), entry]
}

/** The dependencies of an incident with none. */
export const noDeps: readonly string[] = Object.freeze([])

export interface IncidentState {
  data: Incident
  /**
   * Where each member (by key) sits in `data.alerts`, whose members are immutable values, replaced on
   * change, so an emitted document shares them safely. Built on first use (`memberOf`) and dropped once
   * the incident is resolved and emitted: most retained incidents are resolved and never looked into again.
   */
  positions: Map<string, number> | null
  /** Until when a flapping member holds the incident open. */
  flapHoldUntil: number
  /** Members firing now: an incident can resolve when it is 0. */
  firing: number
  /**
   * Members a staleness guess ended (`autoResolved`): only an incident with one has its quiet period wait for
   * a guess (`quietDueOf`), which otherwise read every member of a storm on each settle, and it is what tells a
   * resolve by staleness from one by alerts. Not in a snapshot: counted again on restore.
   */
  guessed: number
  /** Alert names seen, for the recurring signature. */
  names: Set<string>
  /** When every member had resolved; the quiet period runs from here. */
  quietSince: number | null
  /** The event time at which it resolved (end + quiet period, a staleness due, a person's time): the reopen window runs from here. */
  resolvedDecidedAt: number | null
  /** `data.resolvedAt` as a number. */
  resolvedMs: number | null
  /**
   * When it was closed before a counted reopening, and the gaps late members hold open (`Gaps`). A reopening
   * keeps `openedMs` and clears the resolve, so without these a late event whose time falls in a gap found
   * the incident open then. Null while it has neither (never reopened counted): the many such incidents pay
   * one field, and a late event's checks read no more than that.
   */
  gaps: Gaps | null
  /**
   * Time of the event that opened it, or of its first alert when reports opened it: the problem windows
   * compare this, which a late event moving the start back does not move.
   */
  firstOpenedMs: number
  /** `data.openedAt` and `data.lastEventAt` as numbers. */
  openedMs: number
  lastEventMs: number
  /** No firing member goes stale before this (a lower bound: members heard since only move it later). */
  staleDue: number
  /** The due time of the timer queued for it, or NEVER. */
  timerAt: number
  /** Canonical recurring signature it is listed under, and the number of names it had then. */
  recurringKey: string | null
  recurringNames: number
  /** Dependency values of its members (`label=value`): a few, kept exactly (a new one replaces the array; `noDeps` when none). */
  deps: readonly string[]
  /** Notification groups that point here while it is open; null when none (a Set costs ~80 bytes even empty). */
  amGroups: Set<string> | null
  /**
   * Opened by an alert that joins its notification group's incident (grouped by the default `by`): in order,
   * a rule-grouped alert of that group from before the opening would have opened the incident it joined.
   * False once such a late alert has taken it into its group: in event time that alert opened it.
   */
  openerJoinsAmGroup: boolean
  /**
   * In `dirtyIncidents`, and in the engine's changed list awaiting a drain: flags on the incident instead of
   * two Sets, which cost a hash and a fresh table per input. False between inputs; not in snapshots.
   */
  dirty: boolean
  changed: boolean
}

/** An incident's gaps (`IncidentState.gaps`): each a record, so that what belongs to one gap moves with it. */
export interface Gaps {
  /** Each gap from its decided resolve to the re-fire that reopened it, counted, in time order, the latest `MAX_GAPS` (incidents.ts). */
  closed: Gap[]
  /**
   * Gaps a late firing of a member from before them took back (in event time the incident was still open then,
   * so the re-fire after was no reopening), kept while a member that holds one has no known end, and given back
   * (counted again) when their ends come before the re-fire less the quiet period.
   */
  held: HeldGap[]
}

/** A time the incident was closed before a counted reopening (`Gaps.closed`). */
export interface Gap {
  /** Its decided resolve (a late member's end may move it later), and the re-fire's time. */
  from: number
  to: number
  /**
   * The event id of the re-fire that ended it: a late firing at that very instant whose id sorts before it was
   * applied before it in order, and found the incident closed.
   */
  refireId: string
  /**
   * A person's resolve began it: a late firing from before it does not take it back (in order the person closed
   * the incident whatever fired), nor does its end move its start.
   */
  byPerson: boolean
}

/** A gap a late member's firing took back (`Gaps.held`); snapshots write it as it is (`incidentReopenings`). */
export interface HeldGap {
  /** The gap's start, the decided resolve, and its end, the re-fire's time, with its event id. */
  from: number
  to: number
  id: string
  /** The members firing across it with no known end, each with the time of that firing. */
  firing: [key: string, since: number][]
  /** The latest end of a member that held it, plus the quiet period: the incident resolved no earlier. */
  until: number
}

/** An opening under a dependency, numbered in the order the openings came (lists are kept sorted by time). */
export interface DepOpening {
  incidentId: string
  at: number
  seq: number
}

export interface Opening {
  incidentId: string
  at: number
}

/** An event waiting for the watermark, ordered by time, then firing < report < resolve, then id. */
export interface Pending {
  t: number
  iso: string
  rank: number
  id: string
  event: AlertEvent
  /** A released backlog's firing whose resolve was held with it: that resolve's time. */
  firingUntil?: number
  /** A redelivery of a firing that came while its original waited: heard of again once the original is applied. */
  again?: true
}

export interface Timer {
  at: number
  id: string
}

export const pendingBefore = (a: Pending, b: Pending): boolean =>
  a.t !== b.t ? a.t < b.t : a.rank !== b.rank ? a.rank < b.rank : a.id !== b.id ? a.id < b.id : a.again === undefined && b.again === true
export const timerBefore = (a: Timer, b: Timer): boolean => (a.at !== b.at ? a.at < b.at : a.id < b.id)

/** Late events held until the input goes quiet (the late-event rule), and what decides their release. */
export interface LateHold {
  events: Pending[]
  /** A held event arrived since the last tick. */
  arrivedSinceTick: boolean
  /** A tick has come: without ticks nothing would tell the end of a backlog, and no event is held. */
  ticked: boolean
  /** The high-water mark when the first held event came: the hold's clock cap runs from here. */
  since: number
  /** The high-water mark when the last held event came: the quiet time runs from here. */
  lastAt: number
  /**
   * The latest receipt of a held event (clamped to the high-water mark when it came): a quiet hold waits for
   * the watermark to reach it. Behind the watermark already unless there is an allowed lateness.
   */
  until: number
  /** The group keys of the held events, once asked for (not in a snapshot: rebuilt from the events). */
  groups?: Set<string> | null
  /** Their notification groups' keys (`notificationGroupOf`), alike. */
  notificationGroups?: Set<string> | null
}

export interface EvictionEntry {
  kind: 'incident' | 'track'
  id: string
  at: number
}

/** Everything one engine (one partition) holds; the modules of the engine work on it. */
export interface EngineState {
  readonly cfg: EngineConfig
  /** Event time below which timers have fired and events count as late. Only moves forward. */
  watermark: number
  /** The newest event time or tick seen: the watermark is this less the allowed lateness. */
  highWater: number
  /** The event time being applied (the watermark between inputs). */
  now: number
  /** Event ids seen, stamped with the high-water mark when they came, for dedup until the retention forgets them. */
  seen: SeenIds
  /** Events waiting for the watermark: those that came in order in a queue, the others in a heap. */
  pending: Heap<Pending>
  queued: Pending[]
  queuedHead: number
  /** Events far behind the watermark, held to be applied together in event-time order. */
  held: LateHold
  /**
   * The events waiting (queued, in the heap or held) by id, redeliveries apart; null until asked for (`waitingOf`:
   * rebuilt from the three, so not in snapshots), then kept as events wait and are applied.
   */
  waiting: Map<string, Pending> | null
  alerts: Map<string, AlertTrack>
  incidents: Map<string, IncidentState>
  /** Open incidents only: the commands and reopen rules look up the retained resolved ones in `incidents`. */
  openIncidents: Set<IncidentState>
  /** The same by group key, for an event its group's owner does not take (`markOpen`; derived, not in snapshots). */
  openInGroup: Map<string, Set<IncidentState>>
  openByGroup: Map<string, string>
  /** Group keys of the default grouping by service and environment (a cache, not in snapshots). */
  groupKeys: PairCache<string>
  /** Canonical shared-cause signatures by environment and dependency (a cache, not in snapshots). */
  sharedCauseKeys: PairCache<string>
  /**
   * Canonical recurring signatures of incidents of one alert name (every incident's first), by the default
   * group key of their service and environment and the name (a cache, not in snapshots; problems/recurring.ts).
   */
  recurringKeys: PairCache<string>
  /**
   * The incident each notification group's latest alert registered in: open, or resolved since and retained
   * (a late event whose time its span holds joins it); an entry whose incident was forgotten goes at the daily
   * sweep. The name is the snapshots'.
   */
  openByAmGroup: Map<string, string>
  /**
   * Retained resolved incidents per group key, ordered by `resolvedDecidedAt` then id, so a late event
   * finds the one whose span holds it by binary search (derived from `incidents`, not in snapshots).
   */
  resolvedByGroup: Map<string, IncidentState[]> | null
  /**
   * Incidents kept past the retention only for the post-mortem the review has still to schedule
   * (`isArchived`), at most `cfg.maxAwaitingPostmortem` (derived from `incidents`, not in snapshots).
   */
  awaitingPostmortem: Set<string>
  /** Incidents to forget once the input's versions are made (an archived one whose post-mortem was just scheduled). */
  forgetAfterVersion: string[]
  /**
   * Each incident's latest entry in `evictionQueue` (the entry itself: two may share a time): the retention
   * acts on an incident at that entry only, not at an older one a reopen left behind (derived from the
   * queue, not in snapshots).
   */
  latestEviction: Map<string, EvictionEntry>
  problems: Map<string, Problem>
  /** Problems by canonical signature (derived from `problems`, not stored in snapshots). */
  problemBySignature: Map<string, Problem>
  /** Flapping problems by environment, then alert key (`source:fingerprint`): most alerts never flap, and need no signature. */
  flappingAlerts: Map<string, Map<string, Problem>>
  /** Recent openings per canonical recurring signature. */
  bySignature: Map<string, Opening[]>
  /** Recent openings per dependency (`label=value`), for shared-cause detection. */
  recentByDep: Map<string, DepOpening[]>
  /** The next `DepOpening.seq`. */
  openingSeq: number
  timers: Heap<Timer>
  /** Resolved incidents and early resolves in watermark order, so retention evicts from the head. */
  evictionQueue: EvictionEntry[]
  evictionHead: number
  commandsSeen: Map<string, number>
  /** Retention runs when the horizon reaches this. */
  nextForgetAt: number
  /**
   * The latest horizon retention forgot resolved incidents before: an event older than this may belong to
   * an incident the engine made and forgot (`dropAsForgottenHistory` in incidents.ts). Only grows; in snapshots,
   * so a restart with a longer retention still knows what it forgot.
   */
  forgottenBefore: number
  stats: Omit<EngineStats, 'pending'>
  /** Changed by the input being applied (each once: `markDirty`). */
  dirtyIncidents: IncidentState[]
  dirtyProblems: Set<Problem>
  results: CommandResult[]
  /**
   * The id of the late firing being applied, else null: at the instant of a gap's re-fire it found the
   * incident closed if its id sorts first (`closedAt`). Not in snapshots.
   */
  lateFiringId: string | null
  /** One copy of each string the incident documents repeat (`intern`), bounded; not in snapshots. */
  strings: Map<string, string>
}

export function createState(cfg: EngineConfig): EngineState {
  return {
    cfg, watermark: NEVER, highWater: NEVER, now: NEVER,
    seen: new SeenIds(), pending: new Heap(pendingBefore), queued: [], queuedHead: 0, held: { events: [], arrivedSinceTick: false, ticked: false, since: NEVER, lastAt: NEVER, until: NEVER }, waiting: null, alerts: new Map(), incidents: new Map(), openIncidents: new Set(), openInGroup: new Map(),
    openByGroup: new Map(), groupKeys: new PairCache(), sharedCauseKeys: new PairCache(), recurringKeys: new PairCache(), openByAmGroup: new Map(), resolvedByGroup: null, awaitingPostmortem: new Set(), forgetAfterVersion: [], latestEviction: new Map(), problems: new Map(), problemBySignature: new Map(), flappingAlerts: new Map(), bySignature: new Map(),
    recentByDep: new Map(), openingSeq: 0, timers: new Heap(timerBefore), evictionQueue: [], evictionHead: 0, commandsSeen: new Map(), nextForgetAt: NEVER, forgottenBefore: NEVER,
    stats: { late: 0, lateDropped: 0, clamped: 0 }, dirtyIncidents: [], dirtyProblems: new Set(), results: [], lateFiringId: null, strings: new Map(),
  }
}

/** The incident changed: a new version of it goes out after this input. */
export function markDirty(s: EngineState, inc: IncidentState): void {
  if (inc.dirty) return
  inc.dirty = true
  s.dirtyIncidents.push(inc)
}

/** An incident opens (or opens again): in the open set and its group's. */
export function markOpen(s: EngineState, inc: IncidentState): void {
  s.openIncidents.add(inc)
  let group = s.openInGroup.get(inc.data.groupKey)
  if (!group) s.openInGroup.set(inc.data.groupKey, (group = new Set()))
  group.add(inc)
}

/** An open incident changes group (alerts.ts, a late rule-grouped alert that opened it in event time). */
export function moveToGroup(s: EngineState, inc: IncidentState, groupKey: string): void {
  const group = s.openInGroup.get(inc.data.groupKey)
  group?.delete(inc)
  if (group?.size === 0) s.openInGroup.delete(inc.data.groupKey)
  inc.data.groupKey = groupKey
  let next = s.openInGroup.get(groupKey)
  if (!next) s.openInGroup.set(groupKey, (next = new Set()))
  next.add(inc)
}

/** An incident resolves: out of the open set and its group's. */
export function markClosed(s: EngineState, inc: IncidentState): void {
  s.openIncidents.delete(inc)
  const group = s.openInGroup.get(inc.data.groupKey)
  if (!group) return
  group.delete(inc)
  if (group.size === 0) s.openInGroup.delete(inc.data.groupKey)
}

/** At most this many distinct strings are shared: titles that differ per alert must not grow the table for ever. */
const maxInterned = 65_536

/**
 * The engine's one copy of a string that many members repeat (an alert's title, name, service): each event
 * parsed from JSON brings its own copy, and a retained member kept it, ~40 bytes a string. When the table is
 * full it starts again (strings already shared stay shared).
 */
export function intern(s: EngineState, v: string): string {
  const known = s.strings.get(v)
  if (known !== undefined) return known
  if (s.strings.size >= maxInterned) s.strings.clear()
  s.strings.set(v, v)
  return v
}

/**
 * The oldest opening a problem rule with window `windowMs` keeps: its incidents' retention behind the
 * watermark and the window before that, since a late opening may fall next to any of them.
 */
export function openingsHorizon(s: EngineState, windowMs: number): number {
  return s.watermark - s.cfg.retentionMs - windowMs
}

/** Drops a queue's consumed head now and then, so it does not grow without end; returns the new head. */
export function compactHead<T>(queue: T[], head: number): number {
  if (head <= 4096 || head * 2 <= queue.length) return head
  queue.splice(0, head)
  return 0
}

/**
 * Epoch milliseconds of an instant. The receivers' form (`YYYY-MM-DDTHH:MM:SS[.fff]Z`) is read by hand,
 * several times faster than `Date.parse`, which reads every other form (and anything doubtful).
 */
export function parseTime(s: string): number {
  // An event's receipt is read for its time and again for when it was heard of: the second read is free.
  if (s === lastParsed) return lastParsedMs
  const ms = parseTimeOnce(s)
  lastParsed = s
  lastParsedMs = ms
  return ms
}
let lastParsed = ''
let lastParsedMs = Date.parse('')

/** The receivers' form by hand (`parseCanonical`, several times faster than `Date.parse`), anything else by `Date.parse`. */
function parseTimeOnce(s: string): number {
  return parseCanonical(s) ?? Date.parse(s)
}
