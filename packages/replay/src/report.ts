import type { Comparison, IncidentRef, ProblemRef } from './compare.ts'
import type { WrittenDataset } from './dataset.ts'
import type { ReplayStats } from './replay.ts'

/** What `opsreview replay` prints: the `--json` shape, and the text below. */
export interface ReplayReport {
  range: { from: string; to: string }
  /** The grouping rules file replayed with; null for the live grouping. */
  rules: string | null
  /** Engine settings that differ from the engine's defaults (from the correlator's variables). */
  settings: Record<string, unknown>
  replay: ReplayStats
  comparison: Comparison
  dataset: WrittenDataset | null
  /**
   * What the operator must know to read the report: the retained log starting after `--from` (the report
   * covers less than its range) or after the warm-up's start (windows start cold). Also on stderr.
   */
  warnings: string[]
}

/**
 * Warnings for input partitions whose retained log starts after where the replay read from (`cut`): past
 * `--from`, the range itself is cut and the report covers less than asked, silently until 2026-12-06;
 * between the warm-up's start and `--from`, only the warm-up is. Each names the earliest time the log
 * still holds, overall (the latest of the partitions' starts: from then on every partition is whole) and
 * per partition.
 */
export function coverageWarnings(fromMs: number, cut: ReplayStats['cut'], readFrom: string): string[] {
  const startsAfter = (c: ReplayStats['cut'][number], ms: number) => c.earliest === null || Date.parse(c.earliest) > ms
  const late = cut.filter((c) => startsAfter(c, Date.parse(readFrom)))
  if (late.length === 0) return []
  const partitions = late.map((c) => `${c.topic}/${c.partition} ${c.earliest === null ? 'holds none' : `from ${c.earliest}`} (${c.logStartOffset} removed)`).join(', ')
  const known = late.flatMap((c) => (c.earliest === null ? [] : [c.earliest])).sort()
  const overall = known.at(-1)
  const from = new Date(fromMs).toISOString()
  if (late.some((c) => startsAfter(c, fromMs))) {
    const whole = overall ? `every input partition is whole only from ${overall}` : 'an input partition retains no record'
    return [`the retained log starts after --from ${from}: ${whole} (retention removed what came before), so the report covers less than its range; per partition: ${partitions}`]
  }
  return [`the retained log starts after the warm-up's start ${readFrom} (at ${overall}, before --from ${from}): windows that reach back before then (recurring problems, reopening) start cold; per partition: ${partitions}`]
}

const LIST = 20
const signed = (n: number, digits = 0) => `${n > 0 ? '+' : n < 0 ? '−' : '±'}${Math.abs(n).toFixed(digits)}`
const minutes = (ms: number) => Math.round(ms / 6000) / 10
const incident = (i: IncidentRef) => `${i.id} ${i.openedAt} ${JSON.stringify(i.title)}`
const problem = (p: ProblemRef) => `${p.kind.padEnd(12)} ${p.id} ${JSON.stringify(p.title)} (${p.incidentCount} incidents, ${p.status})`

function section<T>(title: string, items: readonly T[], line: (item: T) => string[]): string[] {
  if (items.length === 0) return []
  const out = [`  ${title}:`]
  for (const item of items.slice(0, LIST)) out.push(...line(item).map((l, i) => `    ${i === 0 ? '' : '  '}${l}`))
  if (items.length > LIST) out.push(`    … and ${items.length - LIST} more (--json lists them all)`)
  return out
}

/** The report as text for a terminal: the figures first, then up to 20 examples of each change. */
export function renderReport(r: ReplayReport): string {
  const c = r.comparison
  const s = r.replay
  const lines = [
    `What-if replay of ${r.range.from} → ${r.range.to}`,
    `  rules: ${r.rules ?? 'live grouping'}; settings: ${Object.keys(r.settings).length === 0 ? 'engine defaults' : Object.entries(r.settings).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`,
    `  read from ${s.readFrom} (warm-up): ${s.alerts} alerts, ${s.commands} decisions (${s.commandsRefused} refused), ${s.invalid} invalid, ${s.relabelled} relabelled; ${(s.elapsedMs / 1000).toFixed(1)} s, ${s.recordsPerSecond} records/s`,
    ...r.warnings.map((w) => `  warning: ${w}`),
    '',
    `Incidents opened in the range: live ${c.incidents.live}, replay ${c.incidents.replay} (${signed(c.incidents.delta)})`,
    `  among incidents open in it (opened before it too): unchanged ${c.incidents.unchanged}, merged ${c.incidents.merged.length}, split ${c.incidents.split.length}, only live ${c.incidents.onlyLive.length}, only replay ${c.incidents.onlyReplay.length}`,
    ...section('merged (replayed ← live)', c.incidents.merged, (m) => [incident(m.replay), ...m.live.map((l) => `← ${incident(l)}`)]),
    ...section('split (live → replayed)', c.incidents.split, (m) => [incident(m.live), ...m.replay.map((x) => `→ ${incident(x)}`)]),
    ...section('only live', c.incidents.onlyLive, (i) => [incident(i)]),
    ...section('only replay', c.incidents.onlyReplay, (i) => [incident(i)]),
    '',
    `Problems seen in the range: live ${c.problems.live}, replay ${c.problems.replay}; found ${c.problems.found.length}, lost ${c.problems.lost.length}, kept ${c.problems.kept}`,
    ...section('found', c.problems.found, (p) => [problem(p)]),
    ...section('lost', c.problems.lost, (p) => [problem(p)]),
    '',
    'Availability per service (critical alert time within the range):',
  ]
  if (c.availability.length === 0) lines.push('  no critical alert in the range')
  else {
    const width = Math.max(7, ...c.availability.map((a) => a.service.length))
    lines.push(`  ${'service'.padEnd(width)}  ${'live'.padStart(8)}  ${'replay'.padStart(8)}  ${'delta'.padStart(9)}  downtime min live → replay`)
    for (const a of c.availability) {
      lines.push(`  ${a.service.padEnd(width)}  ${a.liveAvailabilityPct.toFixed(2).padStart(6)} %  ${a.replayAvailabilityPct.toFixed(2).padStart(6)} %  ${signed(a.deltaPct, 2).padStart(6)} pp  ${minutes(a.liveDowntimeMs)} → ${minutes(a.replayDowntimeMs)} (${signed(minutes(a.deltaDowntimeMs), 1)})`)
    }
  }
  if (r.dataset) {
    lines.push('', `Written to what-if dataset ${r.dataset.dataset}: ${r.dataset.incidents.count} incidents, ${r.dataset.problems.count} problems; open with ?dataset=${r.dataset.dataset}, delete with opsreview replay --drop ${r.dataset.dataset}`)
  }
  return `${lines.join('\n')}\n`
}
