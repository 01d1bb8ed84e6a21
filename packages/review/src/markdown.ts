import type { Lookback, LookbackResponseTimes } from './lookback.ts'
import type { IncidentSummary, Review } from './report.ts'
import type { ResponseTimes } from './response-times.ts'
import { describeScope, type Scope } from './scope.ts'
import { localDate, localMinute } from './zone.ts'

// Availabilities come rounded down to the hundredth (availabilityPctOf): shown as they are.
const pct = (n: number) => `${n.toFixed(2)} %`
function duration(ms: number | null): string {
  if (ms === null) return '–'
  // Seconds under a minute: a 29-second outage read "0 min" beside an availability below 100 %.
  if (ms > 0 && ms < 59_500) return `${Math.max(1, Math.round(ms / 1000))} s`
  const m = Math.round(ms / 60_000)
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`
}
/** A count with its noun: `1 problem`, `2 problems` (a summary line read "1 problems"). */
const counted = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`
/**
 * The count of interruptions, with the longest when there were several: the meeting asks which outage was
 * the major issue, and of one, the downtime beside it says already.
 */
function interruptions(l: { interruptions: number; longestInterruptionMs: number }): string {
  return l.interruptions > 1 ? `${l.interruptions} (longest ${duration(l.longestInterruptionMs)})` : String(l.interruptions)
}
/**
 * A zero-width non-joiner: invisible, and not a character a GFM autolink (`https://`, `www.`, an e-mail
 * address) may contain, so one inside `://`, before the `.` of `www.` and after `@` leaves the text
 * looking as typed but no longer a link. A backslash escape would not do: remark-gfm finds autolinks in
 * the text after escapes are resolved (`https\://x` is a link there), and cmark-gfm, GitHub's, still
 * links `a\@b.example`.
 */
// After `@`, not before: Mattermost splits a mention off at any character but a letter or digit, so
// `\u200c@channel` still notified the whole channel of every digest whose alert title said @channel.
const ZWNJ = '\u200c'

/**
 * Text from alerts, reports and people, made inert for a Markdown table cell: `&`, `<` and `>` become
 * entities (no HTML, no `<…>` autolinks, no character references), and every character that can open
 * inline syntax (emphasis, code spans, links and images, strikethrough) or end the cell is
 * backslash-escaped, so the text renders as typed. GFM's autolinks of bare URLs, `www.` and e-mail
 * addresses are broken by an invisible ZWNJ. Line breaks and other control characters become
 * spaces, so no text starts a line of its own, where `#`, `-` or `>` would mean something.
 */
export function markdownText(s: string): string {
  return s
    .replace(/[\p{Cc}\u2028\u2029]+/gu, ' ')
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replaceAll('://', `:${ZWNJ}//`).replace(/(www)\./gi, `$1${ZWNJ}.`).replaceAll('@', `@${ZWNJ}`)
    .replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}
const cell = (s: string | null | undefined) => (s === null || s === undefined ? '–' : markdownText(s))

/** A problem's status, and how often it came back after the review resolved it. */
const problemStatus = (p: { status: string; reopenCount: number }) => (p.reopenCount > 0 ? `${p.status}, came back ${p.reopenCount}×` : p.status)
/** A time for people: the wall time in the review's zone, to the minute. */
const whenIn = (zone: string) => (iso: string | null) => {
  const ms = iso ? Date.parse(iso) : NaN
  return Number.isFinite(ms) ? markdownText(localMinute(zone, ms)) : '–'
}
/** Ids are ours and plain, but one with a backtick or a line break would break out of its code span. */
const code = (s: string) => (/^[\w.-]+$/.test(s) ? `\`${s}\`` : cell(s))

/** A list the review cut at its limit says so under its table: the rows are not all there are. */
const cutNote = (list: { total: number; items: unknown[] }) => (list.items.length < list.total ? ['', `_${list.items.length} of ${list.total} shown._`] : [])

function incidentRows(list: { total: number; items: IncidentSummary[] }, when: (iso: string | null) => string): string[] {
  if (list.items.length === 0) return ['_None._']
  return [
    '| severity | incident | services | opened | owner | state |',
    '| --- | --- | --- | --- | --- | --- |',
    ...list.items.map((i) => `| ${cell(i.severity)} | ${cell(i.title)} (${code(i.id)}) | ${cell(i.services.join(', '))} | ${when(i.openedAt)} | ${cell(i.owner)} | ${cell(i.status)}${i.status === 'resolved' && i.resolvedAt ? ` ${when(i.resolvedAt)}` : ''}${i.acknowledgedAt ? ', acknowledged' : ''}${i.customerImpact ? ', customers affected' : ''} |`),
    ...cutNote(list),
  ]
}

/** Milliseconds to the tenth as Prometheus gave them; a service without requests has none. */
const ms = (n: number | null) => (n === null ? '–' : `${n} ms`)

/** What the review and the look-back say instead of a table: no Prometheus, none from it, or no requests. */
function responseTimeNote(t: ResponseTimes | LookbackResponseTimes): string {
  if (t.status === 'not-configured') return '_Not configured (OPSREVIEW_PROMETHEUS_URL)._'
  if (t.status === 'unavailable') return `_No response times from Prometheus: ${markdownText(t.error)}._`
  return '_No requests measured._'
}

function responseTimeRows(t: ResponseTimes): string[] {
  if (t.status !== 'ok' || t.items.length === 0) return [responseTimeNote(t)]
  return [`| service | ${cell(t.name)} |`, '| --- | --- |', ...t.items.map((i) => `| ${cell(i.service)} | ${ms(i.ms)} |`)]
}

/** The review as Markdown, to paste into the meeting notes. */
export function reviewMarkdown(r: Review): string {
  const lines: string[] = []
  const when = whenIn(r.window.timeZone)
  lines.push(`# Operations review ${when(r.window.from)} – ${when(r.window.to)} ${markdownText(r.window.timeZone)}`, '')
  const s = r.newIncidents.bySeverity
  lines.push(`**${counted(r.newIncidents.total, 'new incident')}** (${s.critical} critical, ${s.warning} warning, ${s.info} info), **${r.resolvedIncidents.total} resolved**, **${r.openIncidents.total} still open**, **${counted(r.problems.total, 'problem')}** to review, **${counted(r.postmortems.total, 'post-mortem')}** needed (${r.postmortems.scheduled} scheduled).`, '')
  lines.push('## Still open', '', ...incidentRows(r.openIncidents, when), '')
  const late = r.newIncidents.late ?? 0
  const carried = r.newIncidents.carried ?? 0
  const lateNote = late > 0 ? [`${late} of them opened in an earlier digest's window, and were not listed by it: indexed only after it was posted, or more than it records.`, ''] : []
  const carriedNote = carried > 0 ? [`${carried} more than a digest records: the next digest lists them.`, ''] : []
  lines.push('## New in the window', '', ...lateNote, ...carriedNote, ...incidentRows(r.newIncidents, when), '')
  lines.push('## Problems', '')
  if (r.problems.items.length === 0) lines.push('_None._')
  else lines.push('| kind | status | problem | services | incidents | owner |', '| --- | --- | --- | --- | --- | --- |',
    ...r.problems.items.map((p) => `| ${cell(p.kind)} | ${cell(problemStatus(p))} | ${cell(p.title)} (${code(p.id)}) | ${cell(p.services.join(', '))} | ${p.incidentCount} | ${cell(p.owner)} |`), ...cutNote(r.problems))
  lines.push('', '## Post-mortems', '')
  if (r.postmortems.items.length === 0) lines.push('_None._')
  else lines.push('| incident | why | scheduled | owner |', '| --- | --- | --- | --- |',
    ...r.postmortems.items.map((i) => `| ${cell(i.title)} (${code(i.id)}) | ${cell(i.postmortem.reasons.join(', '))} | ${i.postmortem.scheduledFor ? when(i.postmortem.scheduledFor) : '**not scheduled**'} | ${cell(i.postmortem.owner)} |`), ...cutNote(r.postmortems))
  const { forgotten } = r.postmortems
  // Said where the queue is: out of it, they would otherwise leave it unexplained.
  if (forgotten.total > 0) {
    lines.push('', `**${forgotten.total} can no longer be scheduled here**: forgotten by the correlator, pushed out by newer post-mortems awaited past its retention (OPSREVIEW_POSTMORTEM_KEEP); a decision on them is refused. Hold them outside the review if they are still wanted.`, '',
      '| incident | why | forgotten |', '| --- | --- | --- |',
      ...forgotten.items.map((i) => `| ${cell(i.title)} (${code(i.id)}) | ${cell(i.postmortem.reasons.join(', '))} | ${i.postmortem.forgottenAt ? when(i.postmortem.forgottenAt) : ''} |`), ...cutNote(forgotten))
  }
  lines.push('', '## Service levels', '')
  if (!r.window.complete) lines.push(`_The window runs past now: service levels and response times up to ${when(r.window.until)} ${markdownText(r.window.timeZone)}._`, '')
  if (r.serviceLevels.length === 0) lines.push('_No service had alerts or incidents._')
  else lines.push('| service | availability | downtime | degraded | interruptions | incidents | MTTA | MTTR |', '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.serviceLevels.map((l) => `| ${cell(l.service)} | ${pct(l.availabilityPct)} | ${duration(l.downtimeMs)} | ${duration(l.degradedMs)} | ${interruptions(l)} | ${l.incidents} | ${duration(l.mttaMs)} | ${duration(l.mttrMs)} |`))
  lines.push('', 'Availability counts downtime only; degraded time (slow, not down) is reported apart.')
  lines.push('', '## Response times', '', ...responseTimeRows(r.responseTimes))
  // After what the meeting acts on: the digest is cut at its limit, and these rows repeat the new ones that ended.
  lines.push('', '## Resolved in the window', '', ...incidentRows(r.resolvedIncidents, when))
  lines.push('', `## Last 30 days (${markdownText(r.window.timeZone)})`, '', '| day | incidents | critical |', '| --- | --- | --- |', ...r.trend.map((d) => `| ${cell(d.day)} | ${d.total} | ${d.critical} |`), '')
  return lines.join('\n')
}

const signed = (n: number | null, fmt: (n: number) => string) => (n === null ? '–' : n === 0 ? '±0' : `${n > 0 ? '+' : '−'}${fmt(Math.abs(n))}`)
const pp = (n: number) => `${n.toFixed(2)} pp`

function lookbackResponseTimeRows(t: LookbackResponseTimes, previousLabel: string): string[] {
  if (t.status !== 'ok' || t.items.length === 0) return [responseTimeNote(t)]
  return [`| service | ${cell(t.name)} this period | previous (${markdownText(previousLabel)}) | change |`, '| --- | --- | --- | --- |',
    ...t.items.map((i) => `| ${cell(i.service)} | ${ms(i.ms)} | ${ms(i.previousMs)} | ${signed(i.change, (n) => `${n} ms`)} |`)]
}

/** The monthly or quarterly look-back as Markdown, with the change from the previous period. */
export function lookbackMarkdown(l: Lookback): string {
  const lines: string[] = []
  const zone = markdownText(l.period.timeZone)
  // The period's last day, not its end: dates alone read as inclusive, and "2026-11-01 – 2026-12-01" took a day of December.
  lines.push(`# ${l.period.kind === 'month' ? 'Monthly' : 'Quarterly'} look-back ${markdownText(l.period.label)} (${markdownText(l.period.localFrom.slice(0, 10))} – ${markdownText(localDate(l.period.timeZone, Date.parse(l.period.to) - 1))} ${zone})`, '')
  if (!l.period.complete) lines.push(`_The period is still running: service levels and response times up to ${markdownText(localMinute(l.period.timeZone, Date.parse(l.period.until)))} ${zone}._`, '')
  const t = l.totals
  const s = t.incidents
  lines.push(`**${counted(s.total, 'incident')}** (${s.critical} critical, ${s.warning} warning, ${s.info} info; ${signed(t.change.incidents, String)} on ${markdownText(l.previous.label)}), MTTA ${duration(t.mttaMs)}, MTTR ${duration(t.mttrMs)}, **${counted(t.postmortems.required, 'post-mortem')} required**, ${t.postmortems.scheduled} scheduled (${t.postmortems.unscheduled} not${t.postmortems.forgotten > 0 ? `, ${t.postmortems.forgotten} of them forgotten by the correlator: no longer schedulable here` : ''}), **${counted(t.problems, 'problem')}** behind them.`, '')
  lines.push('## Service levels', '')
  if (l.services.length === 0) lines.push('_No service had alerts or incidents._')
  else lines.push(
    `| service | availability | change | downtime | degraded | interruptions | incidents (critical) | MTTA | MTTR | previous (${markdownText(l.previous.label)}) |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...l.services.map((v) => `| ${cell(v.service)} | ${pct(v.availabilityPct)} | ${signed(v.change.availabilityPct, pp)} | ${duration(v.downtimeMs)} | ${duration(v.degradedMs)} | ${v.interruptions} | ${v.incidents.total} (${v.incidents.critical}) | ${duration(v.mttaMs)} | ${duration(v.mttrMs)} | ${pct(v.previous.availabilityPct)}, ${duration(v.previous.downtimeMs)} down, ${duration(v.previous.degradedMs)} degraded, ${counted(v.previous.incidents.total, 'incident')} |`),
  )
  lines.push('', 'Availability counts downtime only; degraded time (slow, not down) is reported apart.', '')
  lines.push('## Response times', '', ...lookbackResponseTimeRows(l.responseTimes, l.previous.label), '')
  lines.push('## Problems', '')
  if (l.problems.items.length === 0) lines.push('_None._')
  else lines.push('| kind | status | problem | services | incidents in period | previous | all time | owner |', '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...l.problems.items.map((p) => `| ${cell(p.kind)} | ${cell(problemStatus(p))} | ${cell(p.title)} (${code(p.id)}) | ${cell(p.services.join(', '))} | ${p.incidentsInPeriod} | ${p.incidentsInPrevious} | ${p.incidentCount} | ${cell(p.owner)} |`), ...cutNote(l.problems))
  lines.push('', `## Change from ${markdownText(l.previous.label)}`, '',
    '| | this period | previous | change |', '| --- | --- | --- | --- |',
    `| incidents | ${s.total} | ${t.previous.incidents.total} | ${signed(t.change.incidents, String)} |`,
    `| downtime, summed over services | ${duration(t.downtimeMs)} | ${duration(t.previous.downtimeMs)} | ${signed(t.change.downtimeMs, duration)} |`,
    `| degraded, summed over services | ${duration(t.degradedMs)} | ${duration(t.previous.degradedMs)} | ${signed(t.change.degradedMs, duration)} |`,
    `| MTTA | ${duration(t.mttaMs)} | ${duration(t.previous.mttaMs)} | ${signed(t.change.mttaMs, duration)} |`,
    `| MTTR | ${duration(t.mttrMs)} | ${duration(t.previous.mttrMs)} | ${signed(t.change.mttrMs, duration)} |`,
    `| post-mortems required | ${t.postmortems.required} | ${t.previous.postmortems.required} | ${signed(t.change.postmortemsRequired, String)} |`,
    `| problems | ${t.problems} | ${t.previous.problems} | ${signed(t.change.problems, String)} |`, '')
  return lines.join('\n')
}

/** The scope line the Markdown answers open with: the meeting sees what the report covers. */
export const scopeMarkdown = (scope: Scope): string => `> Scope: ${markdownText(describeScope(scope))}.\n\n`
