import type { DeadLetter } from './record.ts'

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const

/**
 * `--since`: a duration back from `now` (`90m`, `24h`, `7d`) or an ISO 8601 time. Returns epoch ms, or
 * an error naming what was expected.
 */
export function parseSince(value: string, now: number): { ok: true; ms: number } | { ok: false; error: string } {
  const v = value.trim()
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(v)
  // Within what a Date holds: further back, the letters' times were compared with an invalid one (exit 70).
  if (m) {
    const ms = now - Number(m[1]) * UNITS[m[2] as keyof typeof UNITS]
    if (ms >= -8.64e15) return { ok: true, ms }
  }
  // Only full dates or date-times: Date.parse alone would take "5" or "June" as a time, and 2026-02-31 as 3 March.
  // A date-time only with its offset: without one Date.parse takes the zone of the machine it runs on.
  const date = /^(\d{4})-(\d{2})-(\d{2})([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.exec(v)
  if (date) {
    const [year, month, day] = [Number(date[1]), Number(date[2]), Number(date[3])]
    const ms = Date.parse(v)
    // The month's last day: Date.UTC reads years 0-99 as 1900-1999, setUTCFullYear does not.
    const last = new Date(0)
    last.setUTCFullYear(year, month, 0)
    if (!Number.isNaN(ms) && month >= 1 && month <= 12 && day >= 1 && day <= last.getUTCDate()) return { ok: true, ms }
  }
  return { ok: false, error: `--since must be a duration like 30m, 24h or 7d, or an ISO time like 2026-12-01T06:00:00Z; got ${JSON.stringify(value)}` }
}

export interface Selection {
  /** Only dead letters at or after this time (epoch ms). */
  sinceMs?: number | undefined
  /** Only these reason codes (exact match); all when empty. */
  reasons?: readonly string[] | undefined
  /** Only these topics; all when empty. */
  topics?: readonly string[] | undefined
}

export function selects(selection: Selection, dl: DeadLetter): boolean {
  if (selection.sinceMs !== undefined && !(dl.at >= selection.sinceMs)) return false
  if (selection.reasons && selection.reasons.length > 0 && !selection.reasons.includes(dl.reason)) return false
  if (selection.topics && selection.topics.length > 0 && !selection.topics.includes(dl.topic)) return false
  return true
}

export interface ReasonGroup {
  topic: string
  reason: string
  count: number
  /**
   * How many of them `dead-letters replay` would put back: those that carry a replay, less the record
   * replays bound for a compacted topic, which it refuses (see `compactedTarget`).
   */
  replayable: number
  /** Of those carrying a replay, how many are records for a compacted topic: not replayable, re-indexed instead. */
  compactedTarget: number
  /** Earliest and latest dead-letter time, ISO 8601. */
  first: string
  last: string
  /** The stages that wrote them (usually one). */
  stages: string[]
}

/**
 * Counts per topic and reason; topics in name order, within a topic the largest count first. A record
 * replay bound for one of `compactedTopics` is not replayable, as `dead-letters replay` refuses it.
 */
export function summarize(deadLetters: Iterable<DeadLetter>, compactedTopics: ReadonlySet<string> = new Set()): ReasonGroup[] {
  const counts = new ReasonCounts()
  for (const dl of deadLetters) counts.add(dl)
  return counts.groups(compactedTopics)
}

/** `summarize` one letter at a time, holding only the counts: a listing reads every letter and keeps none. */
export class ReasonCounts {
  readonly #groups = new Map<string, { topic: string; reason: string; count: number; replayable: number; recordTargets: Map<string, number>; first: number; last: number; stages: Set<string> }>()

  add(dl: DeadLetter): void {
    const id = JSON.stringify([dl.topic, dl.reason])
    let g = this.#groups.get(id)
    if (!g) this.#groups.set(id, (g = { topic: dl.topic, reason: dl.reason, count: 0, replayable: 0, recordTargets: new Map(), first: dl.at, last: dl.at, stages: new Set() }))
    g.count++
    if (dl.replay) g.replayable++
    // Whether a record's target is compacted is known only once every letter is read (one look-up for all).
    if (dl.replay?.kind === 'record') g.recordTargets.set(dl.replay.topic, (g.recordTargets.get(dl.replay.topic) ?? 0) + 1)
    if (dl.at < g.first) g.first = dl.at
    if (dl.at > g.last) g.last = dl.at
    if (dl.stage) g.stages.add(dl.stage)
  }

  /** The record topics the counted letters would be replayed to: what to ask `cleanup.policy` of. */
  recordTargets(): Set<string> {
    return new Set([...this.#groups.values()].flatMap((g) => [...g.recordTargets.keys()]))
  }

  /** The groups; a record replay bound for one of `compactedTopics` is counted as not replayable, as the replay refuses it. */
  groups(compactedTopics: ReadonlySet<string> = new Set()): ReasonGroup[] {
    return [...this.#groups.values()]
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : b.count - a.count || (a.reason < b.reason ? -1 : 1)))
      .map((g) => {
        const compactedTarget = [...g.recordTargets].reduce((n, [topic, count]) => n + (compactedTopics.has(topic) ? count : 0), 0)
        return { topic: g.topic, reason: g.reason, count: g.count, replayable: g.replayable - compactedTarget, compactedTarget, first: isoOrInvalid(g.first), last: isoOrInvalid(g.last), stages: [...g.stages].sort() }
      })
  }
}

// A record with a nonsense timestamp still counts; its time says so instead of throwing.
const isoOrInvalid = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString() : 'invalid time')

/** The listing as an operator reads it in a terminal. */
export function formatSummary(groups: readonly ReasonGroup[], opts: { sinceMs?: number | undefined; topics: readonly { topic: string; exists: boolean; read: number }[] }): string {
  const lines: string[] = []
  lines.push(`dead letters${opts.sinceMs !== undefined ? ` since ${new Date(opts.sinceMs).toISOString()}` : ''}`)
  for (const t of opts.topics) if (!t.exists) lines.push(`  ${t.topic}: no such topic (nothing was dead-lettered there yet)`)
  if (groups.length === 0) {
    lines.push('  none')
    return `${lines.join('\n')}\n`
  }
  const header = ['topic', 'reason', 'count', 'replayable', 'first', 'last']
  const rows = groups.map((g) => [g.topic, g.reason, String(g.count), String(g.replayable), g.first, g.last])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const numeric = new Set([2, 3])
  const line = (cells: string[]) => `  ${cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()}`
  lines.push(line(header))
  for (const r of rows) lines.push(line(r))
  const total = groups.reduce((s, g) => s + g.count, 0)
  const replayable = groups.reduce((s, g) => s + g.replayable, 0)
  lines.push(`  total ${total} (${replayable} replayable)`)
  const compacted = groups.reduce((s, g) => s + g.compactedTarget, 0)
  if (compacted > 0) lines.push(`  ${compacted} of them carry a record for a compacted topic: not replayable (a replay would replace a newer version); once the cause is fixed, pnpm opsreview reindex`)
  return `${lines.join('\n')}\n`
}
