// Checkpoints: the whole state of an engine as plain data, and back.
import type { EngineConfig } from './config.ts'
import { SnapshotVersionError } from './errors.ts'
import { Heap } from './heap.ts'
import { awaitsPostmortem, queueEviction } from './incidents.ts'
import { indexProblem, restoredProblem } from './problems/store.ts'
import { SeenIds } from './seen.ts'
import { finish } from './steps.ts'
import {
  createState, flatJoin, intern, iso, markOpen, NEVER, noDeps, noFlaps, timerBefore, type AlertTrack, type DepOpening, type EngineState, type EvictionEntry, type IncidentState, type Opening,
  type Gap, type Gaps, type HeldGap, type Pending, type Timer,
} from './state.ts'
import type { EngineStats, Incident, IncidentAlert, Problem } from './types.ts'
import { FORGET_EVERY_MS, trimAwaitingPostmortem } from './watermark.ts'

/**
 * The version this engine writes. It reads versions 6, 5, 4 and 3 as well (a running correlator's topic holds
 * older snapshots when this engine starts); versions 1 (receive-time clocks) and 2 (event ids as a list of
 * strings) are refused: the partition replays its input instead. Version 5 is version 4 with every
 * event-id key's last word odd (`seen.ts`): an engine of version 4 would miss half the ids in it, so it
 * refuses it and replays, and this one sets that bit on reading a version 4 snapshot. Version 6 is version
 * 5 whose waiting events may hold a redelivery (`Pending.again`) and whose incidents carry
 * `resolutionDecidedAt`: an engine of version 5 would apply such a redelivery as a new event, so it refuses
 * version 6 and replays (an engine rolled back stays right); this one reads version 5 as it is. Version 7 is
 * version 6 whose incidents may carry the gaps before a counted reopening (`incidentGaps`) and whose problems
 * may be capacity forecasts holding their reports: an engine of version 6 would drop the gaps (a late event
 * in one joins the reopened incident) and take a forecast's next report as an incident, so it refuses
 * version 7 and replays; this one reads version 6 as it is (no gaps kept, forecasts opened as incidents
 * stay so); its incidents may also carry their gaps' re-fire ids and the gaps late members hold open
 * (`incidentReopenings`, since 2026-12-06: an engine of version 7 without them reads the gaps as written and
 * only cannot give a held gap back, so no new version). Snapshots of any version written before 27c0263 hold NUL-joined notification-group keys, read
 * as JSON ones (`amGroupKeyOf`).
 */
export const snapshotVersion = 7

/**
 * What snapshots write of an incident's gaps (`IncidentState.gaps`) besides their times (`incidentReopenings`):
 * each gap's re-fire id and whether a person's resolve began it, in the order of the times (`incidentGaps`;
 * no `byPerson` from a writer of 2026-12-06 that kept none), and the held gaps as they are.
 */
interface ReopeningsRecord {
  ids: string[]
  byPerson?: boolean[]
  held: HeldGap[]
}

/** The times of an incident's gaps as `incidentGaps` holds them: `[from, to, from, to, …]`. */
const gapTimes = (closed: readonly Gap[]): number[] => closed.flatMap((g) => [g.from, g.to])

/** The rest of an incident's gaps as `incidentReopenings` holds it: copies, as the engine changes them in place. */
const reopeningsOf = ({ closed, held }: Gaps): ReopeningsRecord => ({
  ids: closed.map((g) => g.refireId), byPerson: closed.map((g) => g.byPerson), held: held.map((h) => ({ ...h, firing: h.firing.map(([k, since]): [string, number] => [k, since]) })),
})

/**
 * An incident's gaps from the two columns. From a writer that kept no `incidentReopenings`, its gaps' re-fires
 * are unknown ('': no firing sorts before one), none was begun by a person (a late firing takes any back, as
 * before) and no gap is held open; a writer that kept no `byPerson` knew of none either.
 */
function restoredGaps(times: number[] | undefined, written: ReopeningsRecord | undefined): Gaps | null {
  if (times === undefined && written === undefined) return null
  const closed: Gap[] = []
  for (let i = 0; times !== undefined && i < times.length; i += 2) {
    closed.push({ from: times[i]!, to: times[i + 1]!, refireId: written?.ids[i / 2] ?? '', byPerson: written?.byPerson?.[i / 2] ?? false })
  }
  return { closed, held: written?.held ?? [] }
}

/** Marks a snapshot that still shares objects with a live engine: restoring it must copy them first. */
const live = Symbol('live snapshot')

/**
 * A member as a tuple: fingerprint, source, name, title, service, severity, resolved (0/1), firstSeenAt,
 * lastSeenAt (0 when it equals firstSeenAt), resolvedAt, flapCount, autoResolved (0/1). Its key is
 * `source:fingerprint`. Members are most of a snapshot: as objects, their field names were half its bytes
 * and of its parse time.
 */
type MemberTuple = [string, IncidentAlert['source'], string, string, string, IncidentAlert['severity'], 0 | 1, string, string | 0, string | null, number, 0 | 1]
/** A track as a tuple: key, incidentId, resolved (0/1), lastChangeAt, lastHeardAt, earlyResolveAt, flapTimes. */
type TrackTuple = [string, string | null, 0 | 1, number, number, number | null, number[]]

type IncidentRecord = Omit<IncidentState, 'positions' | 'deps' | 'amGroups' | 'names' | 'data' | 'dirty' | 'changed' | 'gaps' | 'guessed'> & {
  data: Omit<Incident, 'alerts'> & { alerts: MemberTuple[] }
  deps: string[]
  amGroups: string[]
  names: string[]
}

/** The member object, its fields in the order the engine creates them (the documents' JSON keeps that order). */
const memberOfTuple = (t: MemberTuple): IncidentAlert => ({
  key: flatJoin(':', t[1], t[0]), fingerprint: t[0], source: t[1], name: t[2], title: t[3], service: t[4], severity: t[5],
  status: t[6] === 1 ? 'resolved' : 'firing', firstSeenAt: t[7], lastSeenAt: t[8] === 0 ? t[7] : t[8], resolvedAt: t[9],
  flapCount: t[10], autoResolved: t[11] === 1,
})

/** A version 3 snapshot, as engines before version 4 wrote it: still read. */
export interface EngineSnapshotV3 {
  version: 3
  watermark: number
  highWater: number
  /** The remembered event ids in binary blocks (`seen.ts`), so no string per id is written or parsed. */
  seenKeys: string[]
  seenStamps: string[]
  pending: Pending[]
  /**
   * Late events held by the late-event rule, whether one came since the last tick, whether any tick came,
   * and the high-water mark when the first and the last were held. Optional: a snapshot without them holds none.
   */
  held?: Pending[]
  heldArrivedSinceTick?: boolean
  ticked?: boolean
  heldSince?: number
  heldLastAt?: number
  /**
   * The latest receipt of a held event, which a quiet hold waits for the watermark to reach (since 2026-12-07).
   * An engine without it releases such a hold as soon as it is quiet, as before: no new version.
   */
  heldUntil?: number
  alerts: TrackTuple[]
  incidents: IncidentRecord[]
  openByGroup: [string, string][]
  openByAmGroup: [string, string][]
  problems: Problem[]
  bySignature: [string, Opening[]][]
  recentByDep: [string, DepOpening[]][]
  openingSeq: number
  timers: Timer[]
  evictionQueue: EvictionEntry[]
  commandsSeen: [string, number][]
  nextForgetAt: number
  stats: Omit<EngineStats, 'pending'>
}

/**
 * An incident's id as a snapshot writes it where other parts point at the incident: its position in
 * `incidents`, or the id itself when no retained incident has it.
 */
type IncidentRef = number | string

/**
 * An incident without its members (they are in the member columns); its names, services, group key and
 * recurring signature as string-table indices.
 */
type IncidentRecordV4 = Omit<IncidentState, 'positions' | 'deps' | 'amGroups' | 'names' | 'data' | 'recurringKey' | 'dirty' | 'changed' | 'gaps' | 'guessed'> & {
  recurringKey: number | null
  /** `alerts` holds the number of members, at its place among the fields (the documents' JSON keeps their order). */
  data: Omit<Incident, 'alerts' | 'services' | 'groupKey'> & { alerts: number; services: number[]; groupKey: number }
  deps: string[]
  amGroups: string[]
  names: number[]
}

/**
 * The serialisable state of an engine, for checkpoints (version 7; versions 6, 5 and 4 have the same shape). The per-event parts are columns of
 * numbers and strings instead of a tuple per member and per track: a restore then allocates only the
 * objects the engine keeps, strings the members repeat are written once (`strings`), and references
 * between parts are positions instead of ids to look up.
 */
export interface EngineSnapshot {
  version: typeof snapshotVersion | 6 | 5 | 4
  watermark: number
  highWater: number
  /** The remembered event ids in binary blocks (`seen.ts`), so no string per id is written or parsed. */
  seenKeys: string[]
  seenStamps: string[]
  pending: Pending[]
  /**
   * Late events held by the late-event rule, whether one came since the last tick, whether any tick came,
   * and the high-water mark when the first and the last were held.
   */
  held: Pending[]
  heldArrivedSinceTick: boolean
  ticked: boolean
  heldSince: number
  heldLastAt: number
  heldUntil?: number
  /**
   * Each distinct member source, name, title, service and severity, incident service, alert name, group key
   * and recurring signature, and signature of `bySignature`, once.
   */
  strings: string[]
  incidents: IncidentRecordV4[]
  /**
   * The few incidents closed for a while before a counted reopening (`Gaps.closed`): an incident's
   * position in `incidents`, then its gaps' times. Absent from snapshots written before 2026-12-06, which kept none:
   * an incident reopened before then finds a late event in its gap as open, as it did.
   */
  incidentGaps?: [number, number[]][]
  /**
   * The re-fire ids of those gaps and the gaps late members hold open (the rest of `IncidentState.gaps`): an
   * incident's position in `incidents`, then its record. Absent from older snapshots (before the field),
   * whose gaps' re-fires are then unknown (a late firing at a re-fire's instant finds the incident open, as it
   * did) and which held no gap open.
   */
  incidentReopenings?: [number, ReopeningsRecord][]
  /**
   * The members of every incident, in the order of `incidents` and of each one's `data.alerts`. A member's
   * key (`source:fingerprint`) is written where it first occurs; a later member with the same key (the
   * alert in a later incident) writes the position of that first member instead.
   */
  memberKeys: (string | number)[]
  /** Five string-table indices per member: source, name, title, service, severity. */
  memberStrings: number[]
  /** Per member: resolved (1) + autoResolved (2) + 4 × flapCount. */
  memberFlags: number[]
  /** Three per member: firstSeenAt, lastSeenAt (0 when it equals firstSeenAt), resolvedAt (null when unresolved). */
  memberTimes: (string | 0 | null)[]
  /**
   * The few members with guessed ends (`guessedEnds`): a member's position in the members, then its ends.
   * Absent from snapshots written before 2026-12-06, which had none.
   */
  memberGuessedEnds?: [number, string[]][]
  /** Per track: the position of a member with its key, or the key itself when no member has it. */
  trackKeys: (string | number)[]
  trackIncidents: (IncidentRef | null)[]
  /** Per track: resolved (1) + has an early resolve (2) + 4 × number of flap times. */
  trackFlags: number[]
  /** Three per track: lastChangeAt, lastHeardAt, earlyResolveAt (0 when none). */
  trackTimes: number[]
  /** The flap times of every track in order, as many per track as its flags say. */
  trackFlaps: number[]
  /**
   * The few tracks with a re-fire taken as firing through a staleness guess (`unflapped`): a track's position,
   * then the firing before the guess and the re-fire. Absent from snapshots written before 2026-12-06, which had none.
   */
  trackUnflapped?: [number, number, number][]
  openByGroup: [string, IncidentRef][]
  openByAmGroup: [string, IncidentRef][]
  /** Problems as they are, but for `incidentIds`, which are references. */
  problems: (Omit<Problem, 'incidentIds'> & { incidentIds: IncidentRef[] })[]
  bySignature: [number, { incidentId: IncidentRef; at: number }[]][]
  recentByDep: [string, { incidentId: IncidentRef; at: number; seq: number }[]][]
  openingSeq: number
  timers: { at: number; id: IncidentRef }[]
  /** An incident entry's id is a reference; a track entry's, the position of a member with its key or the key. */
  evictionQueue: { kind: EvictionEntry['kind']; id: string | number; at: number }[]
  commandsSeen: [string, number][]
  nextForgetAt: number
  /** Absent from snapshots written before 2026-12-05: then the watermark less the retention. */
  forgottenBefore?: number
  stats: Omit<EngineStats, 'pending'>
}

/**
 * Shares only what the engine never changes in place (members, and the arrays and objects of incidents and
 * problems, which it replaces on change): no copy of a large state per checkpoint, and later applies do not
 * reach a snapshot taken, so it can be serialised while the engine goes on.
 */
export function takeSnapshot(s: EngineState): EngineSnapshot {
  return finish(snapshotSteps(s))
}

/**
 * `takeSnapshot` in steps of about `membersPerStep` incident members or alert tracks (5,000: some
 * milliseconds): a caller may let the event loop run between them (a large state takes seconds), as long
 * as nothing is applied to the engine until the last.
 */
export function* snapshotSteps(s: EngineState, membersPerStep = 5_000): Generator<undefined, EngineSnapshot> {
  let sinceStep = 0
  const seen = s.seen.toSnapshot()
  const strings: string[] = []
  const stringIndex = new Map<string, number>()
  const str = (v: string): number => {
    let i = stringIndex.get(v)
    if (i === undefined) { i = strings.length; strings.push(v); stringIndex.set(v, i) }
    return i
  }
  const incidentIndex = new Map<string, number>()
  const ref = (id: string): IncidentRef => incidentIndex.get(id) ?? id
  const firstMember = new Map<string, number>()
  const memberKeys: (string | number)[] = []
  const memberStrings: number[] = []
  const memberFlags: number[] = []
  const memberTimes: (string | 0 | null)[] = []
  const memberGuessedEnds: [number, string[]][] = []
  const incidents: IncidentRecordV4[] = []
  const incidentGaps: [number, number[]][] = []
  const incidentReopenings: [number, ReopeningsRecord][] = []
  for (const { positions: _p, dirty: _d, changed: _c, guessed: _g, gaps, deps, amGroups, names, data, recurringKey, ...rest } of s.incidents.values()) {
    if (gaps !== null) {
      if (gaps.closed.length > 0) incidentGaps.push([incidents.length, gapTimes(gaps.closed)])
      incidentReopenings.push([incidents.length, reopeningsOf(gaps)])
    }
    incidentIndex.set(data.id, incidents.length)
    for (const m of data.alerts) {
      const first = firstMember.get(m.key)
      if (first === undefined) { firstMember.set(m.key, memberKeys.length); memberKeys.push(m.key) } else memberKeys.push(first)
      memberStrings.push(str(m.source), str(m.name), str(m.title), str(m.service), str(m.severity))
      memberFlags.push((m.status === 'resolved' ? 1 : 0) + (m.autoResolved ? 2 : 0) + 4 * m.flapCount)
      if (m.guessedEnds !== undefined) memberGuessedEnds.push([memberKeys.length - 1, m.guessedEnds])
      memberTimes.push(m.firstSeenAt, m.lastSeenAt === m.firstSeenAt ? 0 : m.lastSeenAt, m.resolvedAt)
    }
    sinceStep += data.alerts.length + 1
    if (sinceStep >= membersPerStep) { sinceStep = 0; yield }
    incidents.push({
      ...rest, recurringKey: recurringKey === null ? null : str(recurringKey), data: { ...data, alerts: data.alerts.length, services: data.services.map(str), groupKey: str(data.groupKey) },
      deps: deps.slice(), amGroups: amGroups ? [...amGroups] : [], names: Array.from(names, str),
    })
  }
  const trackKeys: (string | number)[] = []
  const trackIncidents: (IncidentRef | null)[] = []
  const trackFlags: number[] = []
  const trackTimes: number[] = []
  const trackFlaps: number[] = []
  const trackUnflapped: [number, number, number][] = []
  for (const [key, a] of s.alerts) {
    if (a.unflapped) trackUnflapped.push([trackKeys.length, a.unflapped[0], a.unflapped[1]])
    trackKeys.push(firstMember.get(key) ?? key)
    trackIncidents.push(a.incidentId === null ? null : ref(a.incidentId))
    trackFlags.push((a.status === 'resolved' ? 1 : 0) + (a.earlyResolveAt === null ? 0 : 2) + 4 * a.flapTimes.length)
    trackTimes.push(a.lastChangeAt, a.lastHeardAt, a.earlyResolveAt ?? 0)
    for (const t of a.flapTimes) trackFlaps.push(t)
    if (++sinceStep >= membersPerStep) { sinceStep = 0; yield }
  }
  const snapshot: EngineSnapshot = {
    version: snapshotVersion,
    watermark: s.watermark,
    highWater: s.highWater,
    seenKeys: seen.keys,
    seenStamps: seen.stamps,
    pending: [...s.pending.items, ...s.queued.slice(s.queuedHead)],
    held: s.held.events.slice(),
    heldArrivedSinceTick: s.held.arrivedSinceTick,
    ticked: s.held.ticked,
    heldSince: s.held.since,
    heldLastAt: s.held.lastAt,
    heldUntil: s.held.until,
    strings,
    incidents,
    incidentGaps,
    incidentReopenings,
    memberKeys, memberStrings, memberFlags, memberTimes, memberGuessedEnds,
    trackKeys, trackIncidents, trackFlags, trackTimes, trackFlaps, trackUnflapped,
    openByGroup: Array.from(s.openByGroup, ([k, id]): [string, IncidentRef] => [k, ref(id)]),
    openByAmGroup: Array.from(s.openByAmGroup, ([k, id]): [string, IncidentRef] => [k, ref(id)]),
    problems: Array.from(s.problems.values(), (p) => ({ ...p, incidentIds: p.incidentIds.map(ref) })),
    bySignature: Array.from(s.bySignature, ([k, os]) => [str(k), os.map((o) => ({ ...o, incidentId: ref(o.incidentId) }))]),
    recentByDep: Array.from(s.recentByDep, ([k, os]) => [k, os.map((o) => ({ ...o, incidentId: ref(o.incidentId) }))]),
    openingSeq: s.openingSeq,
    timers: s.timers.items.map((t) => ({ ...t, id: ref(t.id) })),
    evictionQueue: s.evictionQueue.slice(s.evictionHead).map((e) => ({ ...e, id: e.kind === 'incident' ? ref(e.id) : (firstMember.get(e.id) ?? e.id) })),
    commandsSeen: [...s.commandsSeen],
    nextForgetAt: s.nextForgetAt,
    forgottenBefore: s.forgottenBefore,
    stats: { ...s.stats },
  }
  // Not enumerable: a serialised and parsed copy shares nothing, and is taken over as it is.
  Object.defineProperty(snapshot, live, { value: true })
  return snapshot
}

/**
 * Rebuilds the state of a snapshot of version 7, 6, 5, 4 or 3; throws `SnapshotVersionError` for one of another
 * version. A decoded snapshot is taken over as it is (copying a large state would double the restore's
 * time and heap); one straight from `snapshot()` of a live engine is copied first.
 */
export function restoreSnapshot(cfg: EngineConfig, snapshot: EngineSnapshot | EngineSnapshotV3): EngineState {
  return finish(restoreSteps(cfg, snapshot))
}

/**
 * `restoreSnapshot` in steps of about `membersPerStep` members or tracks (of a version 4 snapshot): a caller
 * may let the event loop run between them, as a large state takes seconds to rebuild.
 */
export function* restoreSteps(cfg: EngineConfig, snapshot: EngineSnapshot | EngineSnapshotV3, membersPerStep = 5_000): Generator<undefined, EngineState> {
  const version = (snapshot as { version?: unknown }).version
  if (version !== snapshotVersion && version !== 6 && version !== 5 && version !== 4 && version !== 3) throw new SnapshotVersionError(version, snapshotVersion)
  const copy = live in snapshot ? structuredClone(snapshot) : snapshot
  const s = createState(cfg)
  s.watermark = copy.watermark
  s.highWater = copy.highWater
  s.now = copy.watermark
  s.seen = yield* SeenIds.restoring({ keys: copy.seenKeys, stamps: copy.seenStamps })
  for (const p of copy.pending) s.pending.push(p)
  s.held = { events: copy.held ?? [], arrivedSinceTick: copy.heldArrivedSinceTick ?? false, ticked: copy.ticked ?? false, since: copy.heldSince ?? NEVER, lastAt: copy.heldLastAt ?? NEVER, until: copy.heldUntil ?? NEVER }
  if (copy.version === 3) restoreV3(s, copy)
  else yield* restoreV4(s, copy, membersPerStep)
  s.openingSeq = copy.openingSeq
  for (const [k, v] of copy.commandsSeen) s.commandsSeen.set(k, v)
  s.nextForgetAt = copy.nextForgetAt
  // What the engine that wrote it had forgotten; a restart with a longer retention forgot no less. Written
  // before it was kept, its last retention run tells it (`nextForgetAt` is that run's horizon and a step).
  s.forgottenBefore = ('forgottenBefore' in copy ? copy.forgottenBefore : undefined) ?? Math.max(copy.nextForgetAt - FORGET_EVERY_MS, copy.watermark - cfg.retentionMs)
  Object.assign(s.stats, copy.stats)
  restoreRetention(s)
  return s
}

/**
 * The retention's state derived from the queue, in one pass over it, as the live engine had it: each
 * incident's latest entry (`latestEviction`); the incidents kept for their post-mortems (`isArchived`):
 * resolved before the horizon, awaiting one, and no longer queued (an entry still queued, held back behind
 * a later one at the queue's head, is not reached yet); and an entry at its decision for a resolved
 * incident queued only before it. Engines before 2026-12-04 queued a resolve by hand at the watermark
 * even when its decision lay ahead of it, and an entry due before the decision is dropped as stale: such
 * an incident would never be forgotten. A snapshot of this engine has one for every resolved incident.
 */
function restoreRetention(s: EngineState): void {
  const queuedUntil = new Map<string, number>()
  for (let i = s.evictionHead; i < s.evictionQueue.length; i++) {
    const e = s.evictionQueue[i]!
    if (e.kind !== 'incident') continue
    s.latestEviction.set(e.id, e)
    if (e.at > (queuedUntil.get(e.id) ?? -Infinity)) queuedUntil.set(e.id, e.at)
  }
  for (const inc of s.incidents.values()) {
    const decided = inc.resolvedDecidedAt
    if (inc.data.status !== 'resolved' || decided === null) continue
    const queued = queuedUntil.get(inc.data.id)
    if (queued === undefined && decided < s.forgottenBefore && awaitsPostmortem(inc)) s.awaitingPostmortem.add(inc.data.id)
    else if (decided > (queued ?? -Infinity)) queueEviction(s, inc.data.id, decided)
  }
  // A restart with a lower OPSREVIEW_POSTMORTEM_KEEP keeps no more than it says.
  trimAwaitingPostmortem(s)
}

/** A version 4 snapshot into `s`, which `restoreSteps` has begun; a step every `membersPerStep` members or tracks. */
function* restoreV4(s: EngineState, copy: EngineSnapshot, membersPerStep: number): Generator<undefined, void> {
  // The table's strings are the ones the live engine shares through its intern table: so they are here.
  const strings = new Array<string>(copy.strings.length)
  for (let i = 0; i < strings.length; i++) {
    strings[i] = intern(s, copy.strings[i]!)
    if (i % membersPerStep === membersPerStep - 1) yield
  }
  const { memberKeys, memberStrings, memberFlags, memberTimes } = copy
  const guessedEnds = new Map(copy.memberGuessedEnds ?? [])
  const gaps = new Map(copy.incidentGaps ?? [])
  const reopenings = new Map(copy.incidentReopenings ?? [])
  // Every member, in order: a later member of the same alert takes its key and fingerprint from the first.
  const members: IncidentAlert[] = new Array<IncidentAlert>(memberKeys.length)
  const ids: string[] = new Array<string>(copy.incidents.length)
  let g = 0
  let sinceStep = 0
  for (let n = 0; n < copy.incidents.length; n++) {
    const i = copy.incidents[n]!
    const count = i.data.alerts
    const alerts = new Array<IncidentAlert>(count)
    let guessed = 0
    for (let j = 0; j < count; j++, g++) {
      const k = memberKeys[g]!
      const source = strings[memberStrings[5 * g]!] as IncidentAlert['source']
      let key: string
      let fingerprint: string
      if (typeof k === 'number') { key = members[k]!.key; fingerprint = members[k]!.fingerprint } else { key = k; fingerprint = k.slice(source.length + 1) }
      const flags = memberFlags[g]!
      const firstSeenAt = memberTimes[3 * g] as string
      const lastSeenAt = memberTimes[3 * g + 1]!
      // The member object, its fields in the order the engine creates them (the documents' JSON keeps that order).
      const m: IncidentAlert = {
        key, fingerprint, source, name: strings[memberStrings[5 * g + 1]!]!, title: strings[memberStrings[5 * g + 2]!]!, service: strings[memberStrings[5 * g + 3]!]!,
        severity: strings[memberStrings[5 * g + 4]!] as IncidentAlert['severity'], status: (flags & 1) === 1 ? 'resolved' : 'firing', firstSeenAt,
        lastSeenAt: lastSeenAt === 0 ? firstSeenAt : lastSeenAt, resolvedAt: memberTimes[3 * g + 2] as string | null, flapCount: Math.floor(flags / 4), autoResolved: (flags & 2) === 2,
      }
      const ends = guessedEnds.get(g)
      if (ends !== undefined) m.guessedEnds = ends
      if (m.autoResolved) guessed++
      members[g] = m
      alerts[j] = m
    }
    // The index of members is built when first needed: most restored incidents are resolved and stay untouched.
    const data: Incident = { ...withResolutionDecidedAt(i), alerts, services: i.data.services.map((v) => strings[v]!), groupKey: strings[i.data.groupKey]! }
    const inc: IncidentState = {
      ...i, recurringKey: i.recurringKey === null ? null : strings[i.recurringKey]!, data, guessed, positions: null, gaps: restoredGaps(gaps.get(n), reopenings.get(n)), openerJoinsAmGroup: i.openerJoinsAmGroup === true, deps: i.deps.length === 0 ? noDeps : i.deps, amGroups: i.amGroups.length === 0 ? null : new Set(i.amGroups.map(amGroupKeyOf)), names: new Set(i.names.map((v) => strings[v]!)),
      dirty: false, changed: false,
    }
    ids[n] = data.id
    s.incidents.set(data.id, inc)
    if (data.status === 'open') markOpen(s, inc)
    sinceStep += count + 1
    if (sinceStep >= membersPerStep) { sinceStep = 0; yield }
  }
  const idOf = (r: IncidentRef): string => (typeof r === 'number' ? ids[r]! : r)
  const keyOf = (k: string | number): string => (typeof k === 'number' ? members[k]!.key : k)
  const { trackKeys, trackIncidents, trackFlags, trackTimes, trackFlaps } = copy
  const unflapped = new Map((copy.trackUnflapped ?? []).map(([t, from, at]): [number, [number, number]] => [t, [from, at]]))
  let f = 0
  for (let t = 0; t < trackKeys.length; t++) {
    const flags = trackFlags[t]!
    const flaps = flags >>> 2
    const incident = trackIncidents[t]!
    const track: AlertTrack = {
      incidentId: incident === null ? null : idOf(incident), status: (flags & 1) === 1 ? 'resolved' : 'firing', lastChangeAt: trackTimes[3 * t]!,
      lastHeardAt: trackTimes[3 * t + 1]!, earlyResolveAt: (flags & 2) === 2 ? trackTimes[3 * t + 2]! : null, flapTimes: flaps === 0 ? noFlaps : trackFlaps.slice(f, f + flaps),
    }
    f += flaps
    const u = unflapped.get(t)
    if (u) track.unflapped = u
    s.alerts.set(keyOf(trackKeys[t]!), track)
    if (++sinceStep >= membersPerStep) { sinceStep = 0; yield }
  }
  for (const [k, v] of copy.openByGroup) s.openByGroup.set(k, idOf(v))
  for (const [k, v] of copy.openByAmGroup) s.openByAmGroup.set(amGroupKeyOf(k), idOf(v))
  for (const stored of copy.problems) {
    const p = restoredProblem(stored as unknown as Problem, stored.incidentIds.map(idOf))
    s.problems.set(p.id, p)
    indexProblem(s, p)
  }
  for (const [k, v] of copy.bySignature) s.bySignature.set(strings[k]!, v.map((o) => { (o as Opening).incidentId = idOf(o.incidentId); return o as Opening }))
  for (const [k, v] of copy.recentByDep) s.recentByDep.set(k, v.map((o) => { (o as DepOpening).incidentId = idOf(o.incidentId); return o as DepOpening }))
  s.timers = new Heap(timerBefore, copy.timers.map((t) => { (t as Timer).id = idOf(t.id); return t as Timer }))
  s.evictionQueue = copy.evictionQueue.map((e) => { (e as EvictionEntry).id = e.kind === 'incident' ? idOf(e.id) : keyOf(e.id); return e as EvictionEntry })
}

/**
 * A notification-group key in the form the engine looks up. Engines before 27c0263 wrote the notification's
 * groupKey, service and environment joined by NUL, in snapshots of the same version: left so, the incident it
 * names would never be found again, and a restored engine would part what the uninterrupted one joins. A JSON
 * key holds no raw NUL. An old key of more than three parts (a NUL in a label) cannot be split surely: it
 * stays, and its incident takes nothing more through its notification group.
 */
function amGroupKeyOf(k: string): string {
  const parts = k.split('\u0000')
  return parts.length === 3 ? JSON.stringify(parts) : k
}

/** A version 3 snapshot (member and track tuples, ids as strings) into `s`, which `restoreCommon` has begun. */
function restoreV3(s: EngineState, copy: EngineSnapshotV3): void {
  // JSON gives every occurrence of a string its own copy, where the live engine shares one (an alert's key
  // between its track and its member, an incident's id between it and its tracks, timers and openings, the
  // titles, names and services members repeat): shared again here, or a restored engine would need more heap.
  const keys = new Map<string, string>()
  for (const track of copy.alerts) keys.set(track[0], track[0])
  const memberOf = (t: MemberTuple): IncidentAlert => {
    const m = memberOfTuple(t)
    m.key = keys.get(m.key) ?? m.key
    m.name = intern(s, m.name)
    m.title = intern(s, m.title)
    m.service = intern(s, m.service)
    return m
  }
  for (const i of copy.incidents) {
    // The index of members is built when first needed: most restored incidents are resolved and stay untouched.
    const data: Incident = { ...withResolutionDecidedAt(i), alerts: i.data.alerts.map(memberOf), services: i.data.services.map((v) => intern(s, v)) }
    // Engines that wrote version 3 kept no gaps; a record that has them (a writer spreading the whole state) keeps them
    // as the state holds them.
    const inc: IncidentState = {
      ...i, data, guessed: data.alerts.filter((m) => m.autoResolved).length, positions: null, gaps: (i as { gaps?: Gaps | null }).gaps ?? null, openerJoinsAmGroup: i.openerJoinsAmGroup === true, deps: i.deps.length === 0 ? noDeps : i.deps, amGroups: i.amGroups.length === 0 ? null : new Set(i.amGroups.map(amGroupKeyOf)), names: new Set(i.names.map((v) => intern(s, v))),
      dirty: false, changed: false,
    }
    s.incidents.set(i.data.id, inc)
    if (inc.data.status === 'open') markOpen(s, inc)
  }
  const idOf = (id: string): string => s.incidents.get(id)?.data.id ?? id
  for (const [key, id, resolved, lastChangeAt, lastHeardAt, earlyResolveAt, flapTimes] of copy.alerts) {
    const incidentId = id === null ? null : idOf(id)
    const track: AlertTrack = { incidentId, status: resolved === 1 ? 'resolved' : 'firing', lastChangeAt, lastHeardAt, earlyResolveAt, flapTimes: flapTimes.length === 0 ? noFlaps : flapTimes }
    s.alerts.set(key, track)
  }
  for (const e of copy.evictionQueue) e.id = e.kind === 'incident' ? idOf(e.id) : (keys.get(e.id) ?? e.id)
  keys.clear()
  for (const [k, v] of copy.openByGroup) s.openByGroup.set(k, idOf(v))
  for (const [k, v] of copy.openByAmGroup) s.openByAmGroup.set(amGroupKeyOf(k), idOf(v))
  for (const stored of copy.problems) {
    const p = restoredProblem(stored, stored.incidentIds.map(idOf))
    s.problems.set(p.id, p)
    indexProblem(s, p)
  }
  for (const [k, v] of copy.bySignature) { for (const o of v) o.incidentId = idOf(o.incidentId); s.bySignature.set(k, v) }
  for (const [k, v] of copy.recentByDep) { for (const o of v) o.incidentId = idOf(o.incidentId); s.recentByDep.set(k, v) }
  for (const t of copy.timers) t.id = idOf(t.id)
  s.timers = new Heap(timerBefore, copy.timers)
  s.evictionQueue = copy.evictionQueue
}

/**
 * An incident of a snapshot written before the document had `resolutionDecidedAt` (2026-12-05) gets it from
 * the state's decision time, in a new incident's key order (after `resolvedBy`), so its versions are alike on the wire.
 */
function withResolutionDecidedAt<D extends { resolutionDecidedAt?: string | null }>(i: { data: D; resolvedDecidedAt: number | null }): D {
  if (i.data.resolutionDecidedAt !== undefined) return i.data
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(i.data)) {
    out[k] = v
    if (k === 'resolvedBy') out.resolutionDecidedAt = i.resolvedDecidedAt === null ? null : iso(i.resolvedDecidedAt)
  }
  return out as D
}
