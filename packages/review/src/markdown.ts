import type { IncidentSummary, Review } from './report.ts'

const pct = (n: number) => `${n.toFixed(2)} %`
function duration(ms: number | null): string {
  if (ms === null) return '–'
  const m = Math.round(ms / 60_000)
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`
}
const cell = (s: string | null | undefined) => (s ?? '–').replaceAll('|', '\\|').replaceAll('\n', ' ')
const when = (iso: string | null) => (iso ? iso.slice(0, 16).replace('T', ' ') : '–')

function incidentRows(items: IncidentSummary[]): string[] {
  if (items.length === 0) return ['_None._']
  return [
    '| severity | incident | services | opened | owner | state |',
    '| --- | --- | --- | --- | --- | --- |',
    ...items.map((i) => `| ${i.severity} | ${cell(i.title)} (\`${i.id}\`) | ${cell(i.services.join(', '))} | ${when(i.openedAt)} | ${cell(i.owner)} | ${i.status}${i.acknowledgedAt ? ', acknowledged' : ''}${i.customerImpact ? ', customers affected' : ''} |`),
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
    ...r.problems.items.map((p) => `| ${p.kind} | ${p.status} | ${cell(p.title)} (\`${p.id}\`) | ${cell(p.services.join(', '))} | ${p.incidentCount} | ${cell(p.owner)} |`))
  lines.push('', '## Post-mortems', '')
  if (r.postmortems.items.length === 0) lines.push('_None._')
  else lines.push('| incident | why | scheduled | owner |', '| --- | --- | --- | --- |',
    ...r.postmortems.items.map((i) => `| ${cell(i.title)} (\`${i.id}\`) | ${cell(i.postmortem.reasons.join(', '))} | ${i.postmortem.scheduledFor ? when(i.postmortem.scheduledFor) : '**not scheduled**'} | ${cell(i.postmortem.owner)} |`))
  lines.push('', '## Service levels', '')
  if (r.serviceLevels.length === 0) lines.push('_No service had alerts or incidents._')
  else lines.push('| service | availability | downtime | interruptions | incidents | MTTA | MTTR |', '| --- | --- | --- | --- | --- | --- | --- |',
    ...r.serviceLevels.map((l) => `| ${cell(l.service)} | ${pct(l.availabilityPct)} | ${duration(l.downtimeMs)} | ${l.interruptions} | ${l.incidents} | ${duration(l.mttaMs)} | ${duration(l.mttrMs)} |`))
  lines.push('', '## Last 30 days', '', '| day | incidents | critical |', '| --- | --- | --- |', ...r.trend.map((d) => `| ${d.day} | ${d.total} | ${d.critical} |`), '')
  return lines.join('\n')
}
