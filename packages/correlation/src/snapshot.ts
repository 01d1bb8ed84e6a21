// Checkpoints: the whole state of an engine as plain data, and back.
import type { EngineConfig } from './config.ts'
import { SnapshotVersionError } from './errors.ts'
import { Heap } from './heap.ts'
import { indexProblem } from './problems/store.ts'
import { SeenIds } from './seen.ts'
import {
  createState, intern, NEVER, noDeps, noFlaps, timerBefore, type AlertTrack, type DepOpening, type EngineState, type EvictionEntry, type IncidentState, type Opening,
  type Pending, type Timer,
} from './state.ts'
import type { EngineStats, Incident, IncidentAlert, Problem } from './types.ts'

/**
 * The version this engine writes and reads. Version 1 (receive-time clocks) and version 2 (event ids as a
 * list of strings) are refused: the partition replays its input instead.
 */
export const snapshotVersion = 3

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

type IncidentRecord = Omit<IncidentState, 'positions' | 'deps' | 'amGroups' | 'names' | 'data'> & {
  data: Omit<Incident, 'alerts'> & { alerts: MemberTuple[] }
  deps: string[]
  amGroups: string[]
  names: string[]
}

const memberTuple = (m: IncidentAlert): MemberTuple => [
  m.fingerprint, m.source, m.name, m.title, m.service, m.severity, m.status === 'resolved' ? 1 : 0, m.firstSeenAt,
  m.lastSeenAt === m.firstSeenAt ? 0 : m.lastSeenAt, m.resolvedAt, m.flapCount, m.autoResolved ? 1 : 0,
]

/** The member object, its fields in the order the engine creates them (the documents' JSON keeps that order). */
const memberOfTuple = (t: MemberTuple): IncidentAlert => ({
  key: `${t[1]}:${t[0]}`, fingerprint: t[0], source: t[1], name: t[2], title: t[3], service: t[4], severity: t[5],
  status: t[6] === 1 ? 'resolved' : 'firing', firstSeenAt: t[7], lastSeenAt: t[8] === 0 ? t[7] : t[8], resolvedAt: t[9],
  flapCount: t[10], autoResolved: t[11] === 1,
})

/** The serialisable state of an engine, for checkpoints. */
export interface EngineSnapshot {
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

/** Shares structure with the live state (no copy of a large state per checkpoint): serialise it before the next `apply`. */
export function takeSnapshot(s: EngineState): EngineSnapshot {
  const seen = s.seen.toSnapshot()
  const snapshot: EngineSnapshot = {
    version: snapshotVersion,
    watermark: s.watermark,
    highWater: s.highWater,
    seenKeys: seen.keys,
    seenStamps: seen.stamps,
    pending: [...s.pending.items, ...s.queued.slice(s.queuedHead)],
    held: s.held.events,
    heldArrivedSinceTick: s.held.arrivedSinceTick,
    ticked: s.held.ticked,
    heldSince: s.held.since,
    heldLastAt: s.held.lastAt,
    alerts: Array.from(s.alerts, ([k, a]): TrackTuple => [k, a.incidentId, a.status === 'resolved' ? 1 : 0, a.lastChangeAt, a.lastHeardAt, a.earlyResolveAt, a.flapTimes]),
    incidents: Array.from(s.incidents.values(), ({ positions: _p, deps, amGroups, names, data, ...rest }) => ({
      ...rest, data: { ...data, alerts: data.alerts.map(memberTuple) }, deps: deps.slice(), amGroups: amGroups ? [...amGroups] : [], names: [...names],
    })),
    openByGroup: [...s.openByGroup],
    openByAmGroup: [...s.openByAmGroup],
    problems: [...s.problems.values()],
    bySignature: [...s.bySignature],
    recentByDep: [...s.recentByDep],
    openingSeq: s.openingSeq,
    timers: s.timers.items.slice(),
    evictionQueue: s.evictionQueue.slice(s.evictionHead),
    commandsSeen: [...s.commandsSeen],
    nextForgetAt: s.nextForgetAt,
    stats: { ...s.stats },
  }
  // Not enumerable: a serialised and parsed copy shares nothing, and is taken over as it is.
  Object.defineProperty(snapshot, live, { value: true })
  return snapshot
}

/**
 * Rebuilds the state of a snapshot; throws `SnapshotVersionError` for one of another version. A decoded
 * snapshot is taken over as it is (copying a large state would double the restore's time and heap); one
 * straight from `snapshot()` of a live engine is copied first.
 */
export function restoreSnapshot(cfg: EngineConfig, snapshot: EngineSnapshot): EngineState {
  const version = (snapshot as { version?: unknown }).version
  if (version !== snapshotVersion) throw new SnapshotVersionError(version, snapshotVersion)
  const copy = live in snapshot ? structuredClone(snapshot) : snapshot
  const s = createState(cfg)
  s.watermark = copy.watermark
  s.highWater = copy.highWater
  s.now = copy.watermark
  s.seen = SeenIds.fromSnapshot({ keys: copy.seenKeys, stamps: copy.seenStamps })
  for (const p of copy.pending) s.pending.push(p)
  s.held = { events: copy.held ?? [], arrivedSinceTick: copy.heldArrivedSinceTick ?? false, ticked: copy.ticked ?? false, since: copy.heldSince ?? NEVER, lastAt: copy.heldLastAt ?? NEVER }
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
    const data: Incident = { ...i.data, alerts: i.data.alerts.map(memberOf), services: i.data.services.map((v) => intern(s, v)) }
    const inc: IncidentState = {
      ...i, data, positions: null, deps: i.deps.length === 0 ? noDeps : i.deps, amGroups: i.amGroups.length === 0 ? null : new Set(i.amGroups), names: new Set(i.names.map((v) => intern(s, v))),
    }
    s.incidents.set(i.data.id, inc)
    if (inc.data.status === 'open') s.openIncidents.add(inc)
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
  for (const [k, v] of copy.openByAmGroup) s.openByAmGroup.set(k, idOf(v))
  for (const p of copy.problems) {
    p.incidentIds = p.incidentIds.map(idOf)
    s.problems.set(p.id, p)
    indexProblem(s, p)
  }
  for (const [k, v] of copy.bySignature) { for (const o of v) o.incidentId = idOf(o.incidentId); s.bySignature.set(k, v) }
  for (const [k, v] of copy.recentByDep) { for (const o of v) o.incidentId = idOf(o.incidentId); s.recentByDep.set(k, v) }
  for (const t of copy.timers) t.id = idOf(t.id)
  s.openingSeq = copy.openingSeq
  s.timers = new Heap(timerBefore, copy.timers)
  s.evictionQueue = copy.evictionQueue
  for (const [k, v] of copy.commandsSeen) s.commandsSeen.set(k, v)
  s.nextForgetAt = copy.nextForgetAt
  Object.assign(s.stats, copy.stats)
  return s
}
