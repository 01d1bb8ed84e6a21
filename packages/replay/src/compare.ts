// The comparison of a replay with the live run: pure, over plain incident and problem records, so that it
// is tested with hand-built ones and knows nothing of Kafka or Elasticsearch.
import { alertIntervals, availabilityPctOf, completeChanges, hadServiceTime, serviceTimes, type MemberRecord, type TimedChange } from '@opsreview/review/availability'
import { defaultDegradedRule, isDegraded, type DegradedRule } from '@opsreview/review/degraded'

/** One member alert of an incident, as both the engine's output and the live index hold it. */
export interface MemberAlert {
  /** `source:fingerprint`: the engine's alert key. */
  key: string
  source: string
  /** The alertname (or the title when it has none). */
  name: string
  service: string
  severity: string
  firstSeenAt: string
  lastSeenAt: string
  resolvedAt: string | null
  /** Resolved by the staleness timeout: its resolve was lost, and its end is where it was last seen. */
  autoResolved: boolean
  /** Ends of its earlier episodes the staleness timeout guessed before it fired again. */
  guessedEnds?: readonly string[]
}

/** What the comparison needs of an incident. */
export interface ComparedIncident {
  id: string
  title: string
  status: string
  services: string[]
  environment: string
  openedAt: string
  resolvedAt: string | null
  /** `manual` when a person resolved it: a member they left firing is down until then (`membersOf`). */
  resolvedBy: string | null
  alerts: MemberAlert[]
  /** Reports attached: a report-only incident has no alerts, and its reports' event ids identify it. */
  reports: { eventId: string }[]
}

/** What the comparison needs of a problem. */
export interface ComparedProblem {
  id: string
  kind: string
  /** Canonical JSON of the problem's typed signature; the id is its hash. */
  signature: string
  status: string
  title: string
  incidentCount: number
  firstSeenAt: string
  lastSeenAt: string
}

export interface Run {
  incidents: readonly ComparedIncident[]
  problems: readonly ComparedProblem[]
  /**
   * The critical alerts' state changes read from the log, each with the service this run gave it: the
   * downtime is when they fired, as the review counts it, not the span of the incidents that hold them.
   */
  changes: readonly TimedChange[]
}

export interface IncidentRef {
  id: string
  title: string
  openedAt: string
}

export interface ProblemRef {
  id: string
  kind: string
  title: string
  signature: string
  status: string
  incidentCount: number
}

export interface ServiceAvailability {
  service: string
  liveDowntimeMs: number
  replayDowntimeMs: number
  /** Replay minus live: positive when the replay counts more downtime. */
  deltaDowntimeMs: number
  liveAvailabilityPct: number
  replayAvailabilityPct: number
  /** Replay minus live, in percentage points, two decimals. */
  deltaPct: number
}

export interface Comparison {
  range: { from: string; to: string }
  /**
   * `live` and `replay` count the incidents opened in the range. The lists judge every incident open in it
   * (opened before its end, not resolved before its start), so an incident opened during the warm-up that
   * a changed window kept open into the range is judged too, on both sides.
   */
  incidents: {
    /** Incidents opened in the range. */
    live: number
    replay: number
    /** Replay minus live. */
    delta: number
    /** Live incidents open in the range whose alerts form exactly one replayed incident, and that incident only theirs. */
    unchanged: number
    /** Replayed incidents open in the range whose alerts came from two or more live incidents. */
    merged: { replay: IncidentRef; live: IncidentRef[] }[]
    /** Live incidents open in the range whose alerts landed in two or more replayed incidents. */
    split: { live: IncidentRef; replay: IncidentRef[] }[]
    /** Live incidents open in the range none of whose alerts or reports is in any replayed incident. */
    onlyLive: IncidentRef[]
    /** Replayed incidents open in the range none of whose alerts or reports is in any live incident. */
    onlyReplay: IncidentRef[]
  }
  problems: {
    /** Problems seen in the range (first seen before its end, last seen after its start). */
    live: number
    replay: number
    /** In the replay, not live (by id: the hash of kind and signature). */
    found: ProblemRef[]
    /** Live, not in the replay. */
    lost: ProblemRef[]
    /** In both. */
    kept: number
  }
  /**
   * Per service, as the review counts it: downtime is the union of the times a critical alert was firing
   * (not degraded), within the range, from the alert changes completed by the run's members (a staleness
   * end, an opening before the log).
   */
  availability: ServiceAvailability[]
}

interface Interval {
  from: number
  to: number
}

const ms = (iso: string) => Date.parse(iso)

/** When a member alert was firing within its incident: from its first sighting to its end, or to `until` while it fires. */
function memberInterval(a: MemberAlert, until: number): Interval {
  const from = ms(a.firstSeenAt)
  return { from, to: a.resolvedAt === null ? Math.max(from, until) : Math.max(from, ms(a.resolvedAt)) }
}

const overlaps = (a: Interval, b: Interval) => a.from <= b.to && b.from <= a.to

/** Incidents that touch [from, to): opened before its end, and not resolved before its start. */
function touching(incidents: readonly ComparedIncident[], from: number, to: number): ComparedIncident[] {
  return incidents.filter((i) => ms(i.openedAt) < to && (i.resolvedAt === null || ms(i.resolvedAt) >= from))
}

/**
 * Which incidents of the other run share an alert or a report with each incident. An alert is the same
 * occurrence in both runs when its key matches and its firing intervals overlap: the same alert firing
 * again next week is another occurrence, and belongs to another incident in both runs.
 */
function sharing(subjects: readonly ComparedIncident[], others: readonly ComparedIncident[], until: number): Map<string, Set<string>> {
  const byKey = new Map<string, { id: string; interval: Interval }[]>()
  const byReport = new Map<string, string>()
  for (const o of others) {
    for (const a of o.alerts) {
      const list = byKey.get(a.key) ?? []
      list.push({ id: o.id, interval: memberInterval(a, until) })
      byKey.set(a.key, list)
    }
    for (const r of o.reports) byReport.set(r.eventId, o.id)
  }
  const out = new Map<string, Set<string>>()
  for (const s of subjects) {
    const ids = new Set<string>()
    for (const a of s.alerts) {
      const interval = memberInterval(a, until)
      for (const o of byKey.get(a.key) ?? []) if (overlaps(interval, o.interval)) ids.add(o.id)
    }
    for (const r of s.reports) {
      const id = byReport.get(r.eventId)
      if (id !== undefined) ids.add(id)
    }
    out.set(s.id, ids)
  }
  return out
}

const incidentRef = (i: ComparedIncident): IncidentRef => ({ id: i.id, title: i.title, openedAt: i.openedAt })
const problemRef = (p: ComparedProblem): ProblemRef => ({ id: p.id, kind: p.kind, title: p.title, signature: p.signature, status: p.status, incidentCount: p.incidentCount })
const byOpened = (a: IncidentRef, b: IncidentRef) => a.openedAt.localeCompare(b.openedAt) || a.id.localeCompare(b.id)

/**
 * An incident's members as the review completes the alert changes with them: one left firing in an incident
 * a person resolved ends at their resolve (until 2026-12-06 the replay's figures ran it to the range's end).
 */
const membersOf = (i: ComparedIncident): MemberRecord[] => {
  const resolvedByHandAt = i.resolvedBy === 'manual' ? i.resolvedAt : null
  return i.alerts.map((a) => ({ ...a, resolvedByHandAt }))
}

/**
 * Downtime per service in [from, to) (the review's serviceTimes), of the services down or degraded in it.
 * `inherited`: members the run did not make but whose openings it must count (see `compareRuns`).
 */
function downtimeOf(changes: readonly TimedChange[], incidents: readonly ComparedIncident[], from: number, to: number, rule: DegradedRule, inherited: readonly MemberRecord[] = []): Map<string, number> {
  const completed = completeChanges(changes, [...incidents.flatMap(membersOf), ...inherited])
  const times = serviceTimes(alertIntervals(completed, to, (labels) => isDegraded(rule, { labels })), from, to)
  return new Map([...times].filter(([, t]) => hadServiceTime(t)).map(([service, t]) => [service, t.downtimeMs]))
}

/** The range a comparison reports on, and where the replay's input starts (`from` less the warm-up). */
export interface CompareRange {
  from: string
  to: string
  readFrom: string
}

/**
 * Compares a replay with the live run over [from, to). Counts are of incidents opened in the range. Merges
 * and splits are judged on the incidents of each run open in the range, by alert membership against every
 * incident of the other run open in [readFrom, to): the homes of an incident's alerts can lie before `from`
 * (a live incident resolved just before it, whose alert a longer reopen window keeps in a replayed incident
 * open in the range, is merged into it), and both runs are judged over the same spans. Problems are
 * compared by id, which is the hash of their kind and signature.
 */
export function compareRuns(live: Run, replay: Run, range: CompareRange, degraded: DegradedRule = defaultDegradedRule): Comparison {
  const from = ms(range.from)
  const to = ms(range.to)
  const readFrom = ms(range.readFrom)
  const opened = (i: ComparedIncident) => ms(i.openedAt) >= from && ms(i.openedAt) < to
  const liveWide = touching(live.incidents, readFrom, to)
  const replayWide = touching(replay.incidents, readFrom, to)
  const liveAll = touching(liveWide, from, to)
  const replayAll = touching(replayWide, from, to)
  const liveIn = liveAll.filter(opened)
  const replayIn = replayAll.filter(opened)
  const liveById = new Map(liveWide.map((i) => [i.id, i]))
  const replayById = new Map(replayWide.map((i) => [i.id, i]))

  const homesOfReplay = sharing(replayWide, liveWide, to)
  const homesOfLive = sharing(liveWide, replayWide, to)

  const merged: Comparison['incidents']['merged'] = []
  const onlyReplay: IncidentRef[] = []
  for (const r of replayAll) {
    const homes = homesOfReplay.get(r.id)!
    if (homes.size === 0) onlyReplay.push(incidentRef(r))
    else if (homes.size >= 2) merged.push({ replay: incidentRef(r), live: [...homes].map((id) => incidentRef(liveById.get(id)!)).sort(byOpened) })
  }
  const split: Comparison['incidents']['split'] = []
  const onlyLive: IncidentRef[] = []
  let unchanged = 0
  for (const l of liveAll) {
    const homes = homesOfLive.get(l.id)!
    if (homes.size === 0) onlyLive.push(incidentRef(l))
    else if (homes.size >= 2) split.push({ live: incidentRef(l), replay: [...homes].map((id) => incidentRef(replayById.get(id)!)).sort(byOpened) })
    else {
      const [only] = homes
      if (homesOfReplay.get(only!)!.size === 1) unchanged++
    }
  }

  const seen = (p: ComparedProblem) => ms(p.firstSeenAt) < to && ms(p.lastSeenAt) >= from
  const liveProblems = new Map(live.problems.filter(seen).map((p) => [p.id, p]))
  const replayProblems = new Map(replay.problems.filter(seen).map((p) => [p.id, p]))
  const found = [...replayProblems.values()].filter((p) => !liveProblems.has(p.id)).map(problemRef)
  const lost = [...liveProblems.values()].filter((p) => !replayProblems.has(p.id)).map(problemRef)
  const byKind = (a: ProblemRef, b: ProblemRef) => a.kind.localeCompare(b.kind) || a.signature.localeCompare(b.signature)

  // Completed from every incident since the read began, as the review reads members a look-back before its
  // window: an alert the staleness timeout ended during the warm-up has its end in an incident resolved then.
  // An alert that opened before the log both runs read (a Pingdom check down since before the warm-up) is
  // known only from the live run's members: a replay that never saw it fire has none, and without them the
  // report credited the configuration with removing that outage. The replay inherits them, under its own
  // service for the alert where its changes name one, unless it has a member of the alert that began as
  // early (it saw that opening); a later occurrence of the alert in the range is another episode.
  const replayEarliest = new Map<string, number>()
  for (const a of replayWide.flatMap((i) => i.alerts)) replayEarliest.set(a.key, Math.min(replayEarliest.get(a.key) ?? Infinity, ms(a.firstSeenAt)))
  const replayServices = new Map(replay.changes.map((c) => [c.key, c.service]))
  const inherited = liveWide.flatMap(membersOf)
    .filter((a) => ms(a.firstSeenAt) < readFrom && !((replayEarliest.get(a.key) ?? Infinity) <= ms(a.firstSeenAt)))
    .map((a) => ({ ...a, service: replayServices.get(a.key) ?? a.service }))
  const liveDown = downtimeOf(live.changes, liveWide, from, to, degraded)
  const replayDown = downtimeOf(replay.changes, replayWide, from, to, degraded, inherited)
  const windowMs = to - from
  const availability = [...new Set([...liveDown.keys(), ...replayDown.keys()])].sort().map((service): ServiceAvailability => {
    const l = liveDown.get(service) ?? 0
    const r = replayDown.get(service) ?? 0
    // Rounded down, as the review and a dataset's dashboard show it: 99.895 % is no 99.9 % target met.
    const livePct = availabilityPctOf(l, windowMs)
    const replayPct = availabilityPctOf(r, windowMs)
    return { service, liveDowntimeMs: l, replayDowntimeMs: r, deltaDowntimeMs: r - l, liveAvailabilityPct: livePct, replayAvailabilityPct: replayPct, deltaPct: Math.round((replayPct - livePct) * 100) / 100 }
  })

  return {
    range: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
    incidents: {
      live: liveIn.length, replay: replayIn.length, delta: replayIn.length - liveIn.length, unchanged,
      merged: merged.sort((a, b) => byOpened(a.replay, b.replay)),
      split: split.sort((a, b) => byOpened(a.live, b.live)),
      onlyLive: onlyLive.sort(byOpened),
      onlyReplay: onlyReplay.sort(byOpened),
    },
    problems: {
      live: liveProblems.size, replay: replayProblems.size,
      found: found.sort(byKind), lost: lost.sort(byKind), kept: [...replayProblems.keys()].filter((id) => liveProblems.has(id)).length,
    },
    availability,
  }
}
