/** A state change of one alert, as the alerts index holds it. */
export interface AlertChange {
  fingerprint: string
  source: string
  status: 'firing' | 'resolved'
  startsAt: string
  endsAt?: string
}

export interface Interval {
  from: number
  to: number
}

/**
 * One alert's firing intervals from its changes in time order: a firing opens an interval, the next resolve
 * closes it; one still firing at `until` runs to `until`. The changes of one instant are taken together,
 * from the state before it, as their order within the instant is unknown: an alert down before it stays down
 * if a firing is among them (it recovered and failed again at once: a Pingdom DOWN, UP, DOWN within its
 * one-second times), and an alert up before it stays up if a resolve is among them (a blip of no length,
 * which would otherwise stay down until `until`). Redelivered and repeated firings change nothing. A resolve
 * decided for the alert (`decided`) comes after the instant's other changes: it is timed at the last firing
 * the correlator heard of, which it ends.
 */
function intervalsOf(changes: readonly Pick<TimedChange, 'status' | 'at' | 'decided'>[], until: number): Interval[] {
  const out: Interval[] = []
  let open: number | null = null
  for (let i = 0; i < changes.length;) {
    const at = changes[i]!.at
    let firing = false
    let resolved = false
    let decidedResolve = false
    do {
      const c = changes[i]!
      if (c.status === 'firing') firing = true
      else if (c.decided) decidedResolve = true
      else resolved = true
      i++
    } while (i < changes.length && changes[i]!.at === at)
    if (open === null) {
      if (firing && !resolved) open = at
    } else if (!firing) {
      out.push({ from: open, to: at })
      open = null
    }
    if (decidedResolve && open !== null) {
      out.push({ from: open, to: at })
      open = null
    }
  }
  if (open !== null && open < until) out.push({ from: open, to: until })
  return out
}

/** When each alert was firing, from its state changes: a firing at its start, a resolve at its end (`intervalsOf`). */
export function firingIntervals(changes: readonly AlertChange[], until: number): Interval[] {
  const byAlert = new Map<string, { status: AlertChange['status']; at: number }[]>()
  for (const c of changes) {
    const key = `${c.source}:${c.fingerprint}`
    const change = { status: c.status, at: Date.parse(c.status === 'resolved' ? (c.endsAt ?? c.startsAt) : c.startsAt) }
    const list = byAlert.get(key)
    if (list) list.push(change)
    else byAlert.set(key, [change])
  }
  return [...byAlert.values()].flatMap((list) => intervalsOf(list.sort((a, b) => a.at - b.at), until))
}

/** The union of intervals, clipped to [from, to), as disjoint sorted intervals. */
export function unionWithin(intervals: readonly Interval[], from: number, to: number): Interval[] {
  const clipped = intervals
    .map((i) => ({ from: Math.max(i.from, from), to: Math.min(i.to, to) }))
    .filter((i) => i.to > i.from)
    .sort((a, b) => a.from - b.from)
  const out: Interval[] = []
  for (const i of clipped) {
    const last = out.at(-1)
    if (last && i.from <= last.to) last.to = Math.max(last.to, i.to)
    else out.push({ ...i })
  }
  return out
}

export interface Availability {
  /** Percent of the window without downtime, rounded down to two decimals (`availabilityPctOf`). */
  availabilityPct: number
  downtimeMs: number
  /** Separate stretches of downtime: the interruptions the review talks about. */
  interruptions: number
  longestInterruptionMs: number
}

/**
 * The share of the window without downtime, in percent, rounded down to the hundredth: 99.8999 % rounded
 * to 99.90 % would read as a 99.9 % target met. In integers (milliseconds times 10,000, exact for windows
 * of decades), so that 99.9 % exactly is not floored to 99.89 by a binary fraction.
 */
export function availabilityPctOf(downtimeMs: number, windowMs: number): number {
  return Math.floor(((windowMs - downtimeMs) * 10_000) / windowMs) / 100
}

/** Downtime is the union of the intervals in which one of the service's critical alerts was firing. */
export function availability(changes: readonly AlertChange[], from: number, to: number): Availability {
  const down = unionWithin(firingIntervals(changes, to), from, to)
  const downtimeMs = down.reduce((sum, i) => sum + (i.to - i.from), 0)
  const windowMs = Math.max(1, to - from)
  return {
    availabilityPct: availabilityPctOf(downtimeMs, windowMs),
    downtimeMs,
    interruptions: down.length,
    longestInterruptionMs: down.reduce((m, i) => Math.max(m, i.to - i.from), 0),
  }
}

/**
 * One alert's state change with what service levels need of it: its service, and the labels the
 * degraded rule reads. Times are epoch milliseconds: a firing's start, a resolve's end.
 */
export interface TimedChange {
  /** `<source>:<fingerprint>`, as incidents key their members. */
  key: string
  status: 'firing' | 'resolved'
  at: number
  service: string
  labels?: Readonly<Record<string, string>>
  /** Taken from an incident's member record, not the alert index: its labels are the alertname alone. */
  inferred?: true
  /** A resolve's alert start (its `startsAt`), when before its end: an episode sent only resolved began there. */
  startedAt?: number
  /**
   * A resolve nobody heard the alert send: the staleness timeout's guess, or a person resolving its incident
   * (`completeChanges`). Not a resolve the index lacks, which is the alert's own and goes by the instant's rule.
   */
  decided?: true
}

/** An alert as a member of an incident (incident.v1 `alerts[]`): what the correlator concluded about it. */
export interface MemberRecord {
  key: string
  service: string
  severity: string
  /** The alertname (or the title when it has none). */
  name: string
  source: string
  firstSeenAt: string
  resolvedAt: string | null
  autoResolved: boolean
  /**
   * When a person resolved the member's incident (its `resolvedAt` when `resolvedBy` is manual), else null:
   * a member they left firing (a Pingdom check whose UP was lost) is down until then, not until the end of
   * every window that still reads its DOWN.
   */
  resolvedByHandAt?: string | null
  /** Ends of its earlier episodes the staleness timeout guessed before it fired again (the incident's `guessedEnds`). */
  guessedEnds?: readonly string[]
}

export const timedChange = (c: AlertChange & { service: string; labels?: Record<string, string> }): TimedChange => {
  const at = Date.parse(c.status === 'resolved' ? (c.endsAt ?? c.startsAt) : c.startsAt)
  const startedAt = c.status === 'resolved' ? Date.parse(c.startsAt) : NaN
  return {
    key: `${c.source}:${c.fingerprint}`, status: c.status, at, service: c.service,
    ...(c.labels ? { labels: c.labels } : {}), ...(startedAt < at ? { startedAt } : {}),
  }
}

/**
 * The alert index's changes, completed with what the incidents know and the index cannot say:
 * - a member the correlator resolved by staleness (its resolve was lost) ends where the incident says
 *   (its `resolvedAt`, when it was last seen), not at the end of the window;
 * - a member whose opening is not among the changes (it started before the look-back, or its firing was
 *   lost) opens at its `firstSeenAt`, and ends at its `resolvedAt` when it has one;
 * - a member still firing in an incident a person resolved ends at their resolve (review-time.md);
 * - a member that went stale and then fired again with a new start ends each earlier episode at the end
 *   the correlator guessed for it (`guessedEnds`): the index holds the two firings and no resolve between.
 * Only critical members count, as only critical alerts are read from the index.
 */
export function completeChanges(changes: readonly TimedChange[], members: readonly MemberRecord[]): TimedChange[] {
  const byKey = new Map<string, TimedChange[]>()
  for (const c of changes) {
    const list = byKey.get(c.key)
    if (list) list.push(c)
    else byKey.set(c.key, [c])
  }
  /**
   * The alert's first change in [from, to], a resolve before a firing of the same instant: such an instant
   * opens nothing from up (`intervalsOf`), so an alert down since before it still lacks its opening.
   */
  const firstWithin = (key: string, from: number, to: number): TimedChange | undefined => {
    let first: TimedChange | undefined
    for (const c of byKey.get(key) ?? []) {
      if (c.at < from || c.at > to) continue
      if (!first || c.at < first.at || (c.at === first.at && c.status === 'resolved')) first = c
    }
    return first
  }
  const out = [...changes]
  for (const m of members) {
    if (m.severity !== 'critical') continue
    const opened = Date.parse(m.firstSeenAt)
    const byHand = m.resolvedAt === null && m.resolvedByHandAt ? Date.parse(m.resolvedByHandAt) : null
    const resolved = m.resolvedAt === null ? byHand : Date.parse(m.resolvedAt)
    const labels = m.source === 'alertmanager' ? { alertname: m.name } : undefined
    const synthetic = (status: 'firing' | 'resolved', at: number): TimedChange => ({ key: m.key, status, at, service: m.service, inferred: true, ...(labels ? { labels } : {}) })
    // Each member's own span: an alert that fired and ended between two flushes of its group is sent once,
    // resolved, and a blip after the alert's first change lacks its opening too (until 2026-12-04 only that
    // first change was looked at, and later blips counted no downtime). A member that re-fired spans several
    // episodes: its opening is missing when the first change in its span is a resolve, even if a re-fire follows.
    // With guessed ends, its first episode ends at the first of them.
    const firstEnd = m.guessedEnds?.[0]
    const missingOpening = firstWithin(m.key, opened, firstEnd === undefined ? resolved ?? Infinity : Date.parse(firstEnd))?.status !== 'firing'
    if (missingOpening) out.push(synthetic('firing', opened))
    const ends = m.guessedEnds ?? []
    for (let k = 0; k < ends.length; k++) {
      const end = Math.max(opened, Date.parse(ends[k]!))
      out.push({ ...synthetic('resolved', end), decided: true })
      // The episode after a guess, sent only resolved (it fired and ended between two flushes of its group),
      // lacks its opening too: it began at that resolve's start.
      const next = k + 1 < ends.length ? Date.parse(ends[k + 1]!) : resolved ?? Infinity
      const first = firstWithin(m.key, end + 1, next)
      if (first?.status === 'resolved' && first.startedAt !== undefined && first.startedAt > end) out.push(synthetic('firing', first.startedAt))
    }
    const decided = m.autoResolved || byHand !== null
    if (resolved !== null && (missingOpening || decided)) out.push({ ...synthetic('resolved', Math.max(opened, resolved)), ...(decided ? { decided: true as const } : {}) })
  }
  return out
}

/** One alert's firing intervals, and whether the degraded rule picked it. */
export interface AlertIntervals {
  key: string
  service: string
  degraded: boolean
  intervals: Interval[]
}

/**
 * Firing intervals per alert (`intervalsOf`), each alert classified down or degraded by `isDegraded` on the
 * labels of its latest change in the alert index (of its member record when the index has none).
 */
export function alertIntervals(changes: readonly TimedChange[], until: number, isDegraded: (labels: Readonly<Record<string, string>> | undefined, key: string) => boolean): AlertIntervals[] {
  const byKey = new Map<string, TimedChange[]>()
  for (const c of changes) {
    const list = byKey.get(c.key)
    if (list) list.push(c)
    else byKey.set(c.key, [c])
  }
  const out: AlertIntervals[] = []
  for (const [key, list] of byKey) {
    // Within an instant, resolves last: the labels and service of the latest change, whatever order the index gave.
    list.sort((a, b) => a.at - b.at || (a.status === 'firing' ? -1 : 1) - (b.status === 'firing' ? -1 : 1))
    let labels: Readonly<Record<string, string>> | undefined
    let fromIndex = false
    for (const c of list) {
      // The alert index's labels are the whole set; a member record's only its alertname.
      if (c.labels && (!c.inferred || !fromIndex)) { labels = c.labels; fromIndex = !c.inferred }
    }
    out.push({ key, service: list.at(-1)!.service, degraded: isDegraded(labels, key), intervals: intervalsOf(list, until) })
  }
  return out
}

/** Intervals of `a` with the parts covered by `b` taken out; both disjoint and sorted. */
export function subtract(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = []
  let j = 0
  for (const i of a) {
    let from = i.from
    while (j < b.length && b[j]!.to <= from) j++
    let k = j
    while (k < b.length && b[k]!.from < i.to) {
      if (b[k]!.from > from) out.push({ from, to: b[k]!.from })
      from = Math.max(from, b[k]!.to)
      k++
    }
    if (from < i.to) out.push({ from, to: i.to })
  }
  return out
}

export interface ServiceTime extends Availability {
  /** Time the service was degraded (a degraded-rule alert firing) and not down: reported apart from downtime. */
  degradedMs: number
}

const sum = (xs: readonly Interval[]) => xs.reduce((s, i) => s + (i.to - i.from), 0)

/** Whether the service was down or degraded at all in the window. */
export const hadServiceTime = (t: Pick<ServiceTime, 'downtimeMs' | 'degradedMs'>): boolean => t.downtimeMs > 0 || t.degradedMs > 0

/** A service's time in a window where none of its alerts fired. */
export const fullyAvailable: ServiceTime = Object.freeze({ availabilityPct: 100, downtimeMs: 0, interruptions: 0, longestInterruptionMs: 0, degradedMs: 0 })

/**
 * The order service levels are listed in, worst first: the least available, then the longest degraded
 * (slow at 100 % is worse than fine at 100 %), then the most interrupted, then by name.
 */
export function worstFirst(a: Pick<ServiceTime, 'availabilityPct' | 'degradedMs' | 'interruptions'> & { service: string }, b: typeof a): number {
  return a.availabilityPct - b.availabilityPct || b.degradedMs - a.degradedMs || b.interruptions - a.interruptions || a.service.localeCompare(b.service)
}

/**
 * Per service over [from, to): downtime is the union of its down alerts' intervals; degraded time the
 * union of its degraded alerts' intervals outside downtime (down outranks slow). Availability counts
 * downtime only.
 */
export function serviceTimes(alerts: readonly AlertIntervals[], from: number, to: number): Map<string, ServiceTime> {
  const byService = new Map<string, { down: Interval[]; degraded: Interval[] }>()
  for (const a of alerts) {
    let s = byService.get(a.service)
    if (!s) byService.set(a.service, (s = { down: [], degraded: [] }))
    ;(a.degraded ? s.degraded : s.down).push(...a.intervals)
  }
  const windowMs = Math.max(1, to - from)
  const out = new Map<string, ServiceTime>()
  for (const [service, s] of byService) {
    const down = unionWithin(s.down, from, to)
    const degraded = subtract(unionWithin(s.degraded, from, to), down)
    const downtimeMs = sum(down)
    out.set(service, {
      availabilityPct: availabilityPctOf(downtimeMs, windowMs),
      downtimeMs,
      interruptions: down.length,
      longestInterruptionMs: down.reduce((m, i) => Math.max(m, i.to - i.from), 0),
      degradedMs: sum(degraded),
    })
  }
  return out
}
