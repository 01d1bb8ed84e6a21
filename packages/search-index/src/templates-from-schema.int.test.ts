// The records the engine publishes conform to their schemas and index, as they are, into indices created from
// the templates (strict mappings) on the real Elasticsearch. The engine and the validators are imported by
// path: search-index does not depend on them, and only this test needs them.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { indicesOfTest } from '@opsreview/testing'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { AlertEvent, Command, CommandType, EngineInput, Incident, Problem } from '@opsreview/correlation/types'
import { validateIncident, validateProblem } from '@opsreview/schemas'
import { bulkAction, incidentDocument, problemDocument, type IndexOperation } from './documents.ts'
import { ensureIndices, indexNames } from './templates.ts'

const T0 = Date.parse('2026-11-30T06:00:00.000Z')
const MIN = 60_000
const iso = (minutes: number) => new Date(T0 + minutes * MIN).toISOString()
const hex = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n)

function alert(fp: string, service: string, firing: boolean, minutes: number, labels: Record<string, string> = {}, source: AlertEvent['source'] = 'alertmanager', origin: Record<string, unknown> = {}): EngineInput {
  const status = firing ? 'firing' : 'resolved'
  const event: AlertEvent = {
    id: hex(`${fp}|${status}|${minutes}`, 32), source, fingerprint: fp, status, severity: 'critical', service, environment: 'production',
    title: `${fp} on ${service}`, labels: { alertname: fp, ...labels }, startsAt: iso(firing ? minutes : minutes - 1), receivedAt: iso(minutes), links: [], origin,
  }
  if (!firing) event.endsAt = iso(minutes)
  return { type: 'alert', event }
}

const command = (type: CommandType, target: string, minutes: number, extra: Partial<Command> = {}): EngineInput =>
  ({ type: 'command', command: { id: `cmd-${hex(`${type}|${target}|${minutes}`, 24)}`, type, target, environment: 'production', actor: 'alice', at: iso(minutes), ...extra } })

/** A morning's worth of engine output: recurring, shared-cause and forecast problems, a report, decisions; the last version of each. */
function engineRecords(): { incidents: Incident[]; problems: Problem[] } {
  const engine = new CorrelationEngine()
  const incidents = new Map<string, Incident>()
  const problems = new Map<string, Problem>()
  const apply = (input: EngineInput) => {
    for (const o of engine.apply(input)) {
      if (o.type === 'incident') incidents.set(o.incident.id, o.incident)
      if (o.type === 'problem') problems.set(o.problem.id, o.problem)
    }
  }
  for (const start of [0, 60, 120]) {
    apply(alert('HighLatency', 'checkout', true, start))
    apply(alert('HighLatency', 'checkout', false, start + 10))
    apply({ type: 'tick', at: iso(start + 20) })
  }
  apply(alert('AuthErrors', 'auth', true, 300, { instance: 'db-9:9100' }))
  apply(alert('BillingErrors', 'billing', true, 301, { host: 'db-9' }))
  apply(alert('report-1', 'auth', true, 302, {}, 'report', { kind: 'customer-complaint', reportedBy: 'support desk' }))
  // A capacity forecast: a problem with its report, no incident.
  apply(alert('disk-forecast', 'storage', true, 302, {}, 'report', { kind: 'capacity-forecast', reportedBy: 'dana' }))
  const auth = [...incidents.values()].find((i) => i.services.includes('auth'))!.id
  const shared = [...problems.values()].find((p) => p.kind === 'shared-cause')!.id
  apply(command('incident.assign', auth, 303, { owner: 'bob' }))
  apply(command('incident.acknowledge', auth, 304))
  apply(command('incident.note', auth, 305, { text: 'db-9 is swapping hard' }))
  apply(command('incident.schedule-postmortem', auth, 306, { scheduledFor: iso(24 * 60), owner: 'carol' }))
  apply(command('problem.confirm', shared, 307))
  apply(command('problem.note', shared, 308, { text: 'move billing off db-9' }))
  // An outage whose post-mortem nobody scheduled, forgotten past the retention by an engine that keeps none.
  const forgetful = new CorrelationEngine({ retentionMs: 86_400_000, maxAwaitingPostmortem: 0 })
  for (const input of [alert('DiskFull', 'storage', true, 0), alert('DiskFull', 'storage', false, 45), { type: 'tick', at: iso(3 * 24 * 60) } as const]) {
    for (const o of forgetful.apply(input)) if (o.type === 'incident') incidents.set(o.incident.id, o.incident)
  }
  return { incidents: [...incidents.values()], problems: [...problems.values()] }
}

describe('engine records in indices created from the templates', () => {
  it('conform to the schemas and index without a mapping error; a field outside the schema is refused', async () => {
    const { incidents, problems } = engineRecords()
    expect(incidents.length).toBeGreaterThanOrEqual(5)
    expect(problems.map((p) => p.kind).sort()).toEqual(['forecast', 'recurring', 'shared-cause'])
    for (const i of incidents) expect(validateIncident(JSON.parse(JSON.stringify(i)))).toMatchObject({ ok: true })
    for (const p of problems) expect(validateProblem(JSON.parse(JSON.stringify(p)))).toMatchObject({ ok: true })

    const { prefix, es } = indicesOfTest('records')
    await ensureIndices(es, prefix)
    const n = indexNames(prefix)
    // The concrete indices took the strict mappings from the templates.
    for (const index of [n.incidents.first, n.problems.first]) {
      const mapping = await es.indices.getMapping({ index })
      expect(mapping[index]?.mappings.dynamic).toBe('strict')
    }

    // Written as the live indexer writes them: the record's JSON, through the alias, with its version.
    const ops: IndexOperation[] = [
      ...incidents.map((i) => incidentDocument(n.incidents.alias)(JSON.stringify(i))),
      ...problems.map((p) => problemDocument(n.problems.alias)(JSON.stringify(p))),
    ]
    const bulk = await es.bulk({ refresh: true, require_alias: true, operations: ops.flatMap((op) => [bulkAction(op), JSON.parse(op.document) as object]) })
    expect(bulk.items.filter((item) => item.index?.error).map((item) => item.index?.error)).toEqual([])
    expect((await es.count({ index: n.incidents.alias })).count).toBe(incidents.length)
    expect((await es.count({ index: n.problems.alias })).count).toBe(problems.length)
    // Text fields are searchable as text, the people as keywords, the instants as dates.
    const found = await es.search<Incident>({ index: n.incidents.alias, query: { bool: { must: [{ match: { 'notes.text': 'swapping' } }], filter: [{ term: { acknowledgedBy: 'alice' } }, { range: { 'postmortem.scheduledFor': { gte: iso(0) } } }] } } })
    expect(found.hits.hits.map((h) => h._source?.services)).toEqual([['auth']])
    // A forecast's reports: the title as text, the filer a keyword, the time a date.
    const forecasts = await es.search<Problem>({ index: n.problems.alias, query: { bool: { must: [{ match: { 'reports.title': 'forecast' } }], filter: [{ term: { 'reports.reportedBy': 'dana' } }, { range: { 'reports.at': { gte: iso(302), lte: iso(302) } } }] } } })
    expect(forecasts.hits.hits.map((h) => [h._source?.kind, h._source?.services])).toEqual([['forecast', ['storage']]])
    const forgotten = await es.search<Incident>({ index: n.incidents.alias, query: { range: { 'postmortem.forgottenAt': { gte: iso(0) } } } })
    expect(forgotten.hits.hits.map((h) => h._source?.services)).toEqual([['storage']])

    // Strictness is real: a field no schema has is refused, so the writes above were checked.
    const stray = { ...incidents[0]!, version: incidents[0]!.version + 1, reviewer: 'mallory' }
    const refused = await es.bulk({ require_alias: true, operations: [bulkAction(incidentDocument(n.incidents.alias)(JSON.stringify(stray))), stray] })
    expect(refused.items[0]?.index?.error?.type).toBe('strict_dynamic_mapping_exception')
  })
})
