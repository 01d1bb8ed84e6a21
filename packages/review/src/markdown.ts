import type { IncidentSummary, Review } from './report.ts'

const pct = (n: number) => `${n.toFixed(2)} %`
function duration(ms: number | null): string {
  if (ms === null) return '–'
  const m = Math.round(ms / 60_000)
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`
}
/**
 * Text from alerts, reports and people, made inert for a Markdown table cell: `&`, `<` and `>` become
 * entities (no HTML, no `<…>` autolinks, no character references), and every character that can open
 * inline syntax (emphasis, code spans, links and images, strikethrough) or end the cell is
 * backslash-escaped, so the text renders as typed. Line breaks and other control characters become
 * spaces, so no text starts a line of its own, where `#`, `-` or `>` would mean something.
 */
export function markdownText(s: string): string {
  return s
    .replace(/[\p{Cc}\u2028\u2029]+/gu, ' ')
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}
const cell = (s: string | null | undefined) => (s === null || s === undefined ? '–' : markdownText(s))
const when = (iso: string | null) => (iso ? markdownText(iso.slice(0, 16).replace('T', ' ')) : '–')
/** Ids are ours and plain, but one with a backtick or a line break would break out of its code span. */
const code = (s: string) => (/^[\w.-]+$/.test(s) ? `\`${s}\`` : cell(s))

function incidentRows(items: IncidentSummary[]): string[] {
  if (items.length === 0) return ['_None._']
  return [
    '| severity | incident | services | opened | owner | state |',
    '| --- | --- | --- | --- | --- | --- |',
    ...items.map((i) => `| ${cell(i.severity)} | ${cell(i.title)} (${code(i.id)}) | ${cell(i.services.join(', '))} | ${when(i.openedAt)} | ${cell(i.owner)} | ${cell(i.status)}${i.acknowledgedAt ? ', acknowledged' : ''}${i.customerImpact ? ', customers affected' : ''} |`),
  ]
}

/** The review as Markdown, to paste into the meeting notes. */
export function reviewMarkdown(r: Review): string {
  const lines: string[] = []
  lines.push(`# Operations review ${when(r.window.from)} – ${when(r.window.to)} UTC`, '')
  const s = r.newIncidents.bySeverity
  lines.push(`**${r.newIncidents.total} new incidents** (${s.critical} critical, ${s.warning} warning, ${s.info} info), **${r.resolvedIncidents.total} resolved**, **${r.openIncidents.total} still open**, **${r.problems.total} problems** to review, **${r.postmortems.total} post-mortems** needed (${r.postmortems.scheduled} scheduled).`, '')
  lines.push('## Still open', '', ...incidentRows(r.openIncidents.items), '')
  lines.push('## New in the window', '', ...incidentRows(r.newIncidents.items), '')
  lines.push('## Problems', '')
  if (r.problems.items.length === 0) lines.push('_None._')
  else lines.push('| kind | status | problem | services | incidents | owner |', '| --- | --- | --- | --- | --- | --- |',
    ...r.problems.items.map((p) => `| ${cell(p.kind)} | ${cell(p.status)} | ${cell(p.title)} (${code(p.id)}) | ${cell(p.services.join(', '))} | ${p.incidentCount} | ${cell(p.owner)} |`))
  lines.push('', '## Post-mortems', '')
  if (r.postmortems.items.length === 0) lines.push('_None._')
  else lines.push('| incident | why | scheduled | owner |', '| --- | --- | --- | --- |',
    ...r.postmortems.items.map((i) => `| ${cell(i.title)} (${code(i.id)}) | ${cell(i.postmortem.reasons.join(', '))} | ${i.postmortem.scheduledFor ? when(i.postmortem.scheduledFor) : '**not scheduled**'} | ${cell(i.postmortem.owner)} |`))
  lines.push('', '## Service levels', '')
  if (r.serviceLevels.length === 0) lines.push('_No service had alerts or incidents._')
  else lines.push('| service | availability | downtime | interruptions | incidents | MTTA | MTTR |', '| --- | --- | --- | --- | --- | --- | --- |',
    ...r.serviceLevels.map((l) => `| ${cell(l.service)} | ${pct(l.availabilityPct)} | ${duration(l.downtimeMs)} | ${l.interruptions} | ${l.incidents} | ${duration(l.mttaMs)} | ${duration(l.mttrMs)} |`))
  lines.push('', '## Last 30 days', '', '| day | incidents | critical |', '| --- | --- | --- |', ...r.trend.map((d) => `| ${cell(d.day)} | ${d.total} | ${d.critical} |`), '')
  return lines.join('\n')
}
