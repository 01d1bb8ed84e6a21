// Every incident and problem the engine publishes is what schemas/incident.v1.json and problem.v1.json say:
// the indexer's mappings, the review and the generated types all rely on those two files. Inputs are kept
// within the engine's own contract (valid alert events and commands), so a failure here is a disagreement
// between the engine and a schema, not a bad input.
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { recordSchemas, validateAlertEvent, validateCommand, validateIncident, validateProblem } from '@opsreview/schemas'
import { CorrelationEngine } from './engine.ts'
import type { AlertEvent, Command, CommandType, EngineInput, EngineOutput, Incident, Problem } from './types.ts'

const T0 = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000
const iso = (t: number) => new Date(t).toISOString()
const hex = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n)

function alertEvent(o: { fp: string; service: string; firing: boolean; at: number; rx: number; severity?: AlertEvent['severity']; labels?: Record<string, string>; source?: AlertEvent['source']; origin?: Record<string, unknown> }): EngineInput {
  const source = o.source ?? 'alertmanager'
  const status = o.firing ? 'firing' : 'resolved'
  const event: AlertEvent = {
    id: hex(`${source}|${o.fp}|${status}|${o.at}`, 32), source, fingerprint: o.fp, status, severity: o.severity ?? 'warning',
    service: o.service, environment: 'production', title: `${o.fp} on ${o.service}`, labels: { alertname: o.fp, ...o.labels },
    startsAt: iso(o.firing ? o.at : o.at - MIN), receivedAt: iso(o.rx), links: [], origin: o.origin ?? {},
  }
  if (!o.firing) event.endsAt = iso(o.at)
  return { type: 'alert', event }
}

const report = (service: string, kind: string, at: number): EngineInput =>
  alertEvent({ fp: `report-${kind}-${at}`, service, firing: true, at, rx: at, severity: 'critical', source: 'report', origin: { kind, reportedBy: 'support desk' } })

const command = (type: CommandType, target: string, at: number, extra: Partial<Command> = {}): EngineInput =>
  ({ type: 'command', command: { id: `cmd-${hex(`${type}|${target}|${at}|${JSON.stringify(extra)}`, 24)}`, type, target, environment: 'production', actor: 'alice', at: iso(at), ...extra } })

/** Applies the inputs, checking each is valid input, and returns what the engine published. */
function publish(engine: CorrelationEngine, input: EngineInput): EngineOutput[] {
  if (input.type === 'alert') expect(validateAlertEvent(input.event)).toEqual({ ok: true, value: input.event })
  if (input.type === 'command') expect(validateCommand(input.command)).toEqual({ ok: true, value: input.command })
  return engine.apply(input)
}

/** The schema errors of every published incident and problem, by id and version: empty when all conform. */
function violations(outputs: EngineOutput[]): { id: string; version: number; errors: unknown }[] {
  const out: { id: string; version: number; errors: unknown }[] = []
  for (const o of outputs) {
    const record: Incident | Problem | undefined = o.type === 'incident' ? o.incident : o.type === 'problem' ? o.problem : undefined
    if (!record) continue
    // Through JSON, as Kafka carries it: what the indexer and the review read.
    const doc: unknown = JSON.parse(JSON.stringify(record))
    const v = o.type === 'incident' ? validateIncident(doc) : validateProblem(doc)
    if (!v.ok) out.push({ id: record.id, version: record.version, errors: v.errors })
  }
  return out
}

describe('engine output against schemas/incident.v1.json and problem.v1.json', () => {
  it('a morning of every rule and every decision publishes only conforming records, and reaches every status, resolution and kind the schemas name', () => {
    const engine = new CorrelationEngine()
    const outputs: EngineOutput[] = []
    const at = (minutes: number) => T0 + minutes * MIN
    const apply = (input: EngineInput) => outputs.push(...publish(engine, input))
    const tick = (minutes: number) => apply({ type: 'tick', at: iso(at(minutes)) })
    const incidentOf = (service: string) => engine.incidents().filter((i) => i.services.includes(service)).at(-1)!
    const problemOf = (kind: Problem['kind']) => engine.problems().find((p) => p.kind === kind)!

    // Recurring: the same alert on checkout, three incidents an hour apart, each resolved by its alert.
    for (const start of [0, 60, 120]) {
      apply(alertEvent({ fp: 'HighLatency', service: 'checkout', firing: true, at: at(start), rx: at(start), severity: 'critical' }))
      apply(alertEvent({ fp: 'HighLatency', service: 'checkout', firing: false, at: at(start + 10), rx: at(start + 10) }))
      tick(start + 20)
    }
    // Flapping: one alert on search firing again and again within the hour.
    for (let i = 0; i < 6; i++) {
      apply(alertEvent({ fp: 'Flappy', service: 'search', firing: true, at: at(200 + 4 * i), rx: at(200 + 4 * i) }))
      apply(alertEvent({ fp: 'Flappy', service: 'search', firing: false, at: at(202 + 4 * i), rx: at(202 + 4 * i) }))
    }
    // Shared cause: two services failing together on one database host.
    apply(alertEvent({ fp: 'AuthErrors', service: 'auth', firing: true, at: at(300), rx: at(300), labels: { instance: 'db-9:9100' } }))
    apply(alertEvent({ fp: 'BillingErrors', service: 'billing', firing: true, at: at(301), rx: at(301), labels: { host: 'db-9' } }))
    // Reports: one hurting customers, one only forecasting.
    apply(report('auth', 'customer-complaint', at(302)))
    apply(report('inventory', 'capacity-forecast', at(303)))

    // The review's decisions.
    const auth = incidentOf('auth').id
    apply(command('incident.assign', auth, at(305), { owner: 'bob' }))
    apply(command('incident.acknowledge', auth, at(306)))
    apply(command('incident.note', auth, at(307), { text: 'db-9 is swapping' }))
    apply(command('incident.schedule-postmortem', auth, at(308), { scheduledFor: iso(at(24 * 60)), owner: 'carol' }))
    apply(command('incident.link-problem', auth, at(309), { problemId: problemOf('recurring').id }))
    apply(command('incident.resolve', auth, at(310)))
    apply(command('problem.confirm', problemOf('recurring').id, at(311)))
    apply(command('problem.resolve', problemOf('recurring').id, at(312)))
    apply(command('problem.dismiss', problemOf('flapping').id, at(313)))
    apply(command('problem.assign', problemOf('shared-cause').id, at(314), { owner: 'dba team' }))
    apply(command('problem.note', problemOf('shared-cause').id, at(315), { text: 'move billing off db-9' }))
    // Staleness: the billing alert is never resolved by its sender.
    tick(302 + 2 * 24 * 60)

    expect(violations(outputs)).toEqual([])

    // The scenario covers every value the schemas allow for these fields, so none of them is untested.
    const incidents = outputs.flatMap((o) => (o.type === 'incident' ? [o.incident] : []))
    const problems = outputs.flatMap((o) => (o.type === 'problem' ? [o.problem] : []))
    const values = <T>(xs: T[]) => [...new Set(xs)].sort()
    const { incident: incidentSchema, problem: problemSchema } = recordSchemas
    expect(values(incidents.map((i) => i.status))).toEqual(values(incidentSchema.definitions.incidentStatus.enum))
    expect(values(incidents.map((i) => i.resolvedBy))).toEqual(values(incidentSchema.properties.resolvedBy.enum))
    expect(values(problems.map((p) => p.kind))).toEqual(values(problemSchema.definitions.problemKind.enum))
    expect(values(problems.map((p) => p.status))).toEqual(values(problemSchema.definitions.problemStatus.enum))
    expect(incidents.some((i) => i.customerImpact && i.reports.length > 0 && i.notes.length > 0 && i.postmortem.scheduledFor !== null && i.acknowledgedBy === 'alice')).toBe(true)
  })

  // A random stream of alerts, reports, ticks and decisions on whatever the engine holds at that point.
  const step = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('alert' as const), fp: fc.constantFrom('a', 'b', 'c', 'd'), service: fc.constantFrom('checkout', 'search', 'auth'), host: fc.constantFrom('db-1', 'db-2', 'web-1'), severity: fc.constantFrom('critical', 'warning', 'info' as const), firing: fc.boolean(), advance: fc.integer({ min: 0, max: 20 }), lateBy: fc.integer({ min: 0, max: 3 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), advance: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constant(25 * 60)) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('report' as const), service: fc.constantFrom('checkout', 'search', 'auth'), reportKind: fc.constantFrom('customer-complaint', 'internal-complaint', 'manual', 'capacity-forecast'), advance: fc.integer({ min: 0, max: 10 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('command' as const), type: fc.constantFrom<CommandType>('incident.assign', 'incident.acknowledge', 'incident.note', 'incident.resolve', 'incident.link-problem', 'incident.schedule-postmortem', 'problem.confirm', 'problem.dismiss', 'problem.resolve', 'problem.assign', 'problem.note'), pick: fc.nat(), other: fc.nat(), text: fc.string({ minLength: 1, maxLength: 40 }) }) },
  )

  it('every version published over a random stream of alerts, reports, ticks and decisions conforms', () => {
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => {
      const engine = new CorrelationEngine()
      const outputs: EngineOutput[] = []
      let now = T0
      for (const s of steps) {
        if (s.kind !== 'command') now += s.advance * MIN
        let input: EngineInput | undefined
        if (s.kind === 'tick') input = { type: 'tick', at: iso(now) }
        if (s.kind === 'alert') input = alertEvent({ fp: `${s.fp}-${s.service}`, service: s.service, firing: s.firing, at: now - s.lateBy * MIN, rx: now, severity: s.severity, labels: { instance: `${s.host}:9100` } })
        if (s.kind === 'report') input = report(s.service, s.reportKind, now)
        if (s.kind === 'command') {
          const incidents = engine.incidents()
          const problems = engine.problems()
          const targets = s.type.startsWith('incident.') ? incidents : problems
          if (targets.length === 0) continue
          const target = targets[s.pick % targets.length]!.id
          const extra: Partial<Command> =
            s.type === 'incident.link-problem' ? (problems.length ? { problemId: problems[s.other % problems.length]!.id } : {})
            : s.type === 'incident.schedule-postmortem' ? { scheduledFor: iso(now + s.other * MIN), owner: s.text }
            : s.type.endsWith('.assign') ? { owner: s.text }
            : s.type.endsWith('.note') ? { text: s.text }
            : {}
          if (s.type === 'incident.link-problem' && !extra.problemId) continue
          input = command(s.type, target, now, extra)
        }
        outputs.push(...publish(engine, input!))
      }
      expect(violations(outputs)).toEqual([])
    }), { numRuns: 300 })
  })
})
