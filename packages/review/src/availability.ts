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
 * When each alert was firing, from its state changes: a firing opens an interval at its start, the next
 * resolve closes it at its end; one still firing at `until` runs to `until`. Redeliveries and repeated
 * firings of an already open interval change nothing.
 */
export function firingIntervals(changes: readonly AlertChange[], until: number): Interval[] {
  const byAlert = new Map<string, AlertChange[]>()
  for (const c of changes) {
    const key = `${c.source}:${c.fingerprint}`
    const list = byAlert.get(key)
    if (list) list.push(c)
    else byAlert.set(key, [c])
  }
  const out: Interval[] = []
  for (const list of byAlert.values()) {
    const at = (c: AlertChange) => Date.parse(c.status === 'resolved' ? (c.endsAt ?? c.startsAt) : c.startsAt)
    list.sort((a, b) => at(a) - at(b) || (a.status === 'firing' ? -1 : 1))
    let open: number | null = null
    for (const c of list) {
      if (c.status === 'firing') open ??= at(c)
      else if (open !== null) {
        out.push({ from: open, to: Math.max(open, at(c)) })
        open = null
      }
    }
    if (open !== null && open < until) out.push({ from: open, to: until })
  }
  return out
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
  /** Percent of the window without downtime, two decimals. */
  availabilityPct: number
  downtimeMs: number
  /** Separate stretches of downtime: the interruptions the review talks about. */
  interruptions: number
  longestInterruptionMs: number
}

/** Downtime is the union of the intervals in which one of the service's critical alerts was firing. */
export function availability(changes: readonly AlertChange[], from: number, to: number): Availability {
  const down = unionWithin(firingIntervals(changes, to), from, to)
  const downtimeMs = down.reduce((sum, i) => sum + (i.to - i.from), 0)
  const windowMs = Math.max(1, to - from)
  return {
    availabilityPct: Math.round((1 - downtimeMs / windowMs) * 10_000) / 100,
    downtimeMs,
    interruptions: down.length,
    longestInterruptionMs: down.reduce((m, i) => Math.max(m, i.to - i.from), 0),
  }
}
