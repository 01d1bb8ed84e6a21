// A capacity forecast (a report of kind capacity-forecast) predicts a problem: it opens or updates the forecast
// problem of its service and environment, never an incident (until 2026-12-06 it joined an open incident of
// its service as evidence, or opened one of its own that counted among the day's incidents).
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CorrelationEngine, type EngineSnapshot } from './engine.ts'
import type { AlertEvent, Command, EngineInput, EngineOutput, Problem } from './types.ts'

const T0 = Date.parse('2026-11-30T08:00:00.000Z')
const MIN = 60_000
const HOUR = 60 * MIN
const at = (minutes: number) => new Date(T0 + minutes * MIN).toISOString()

interface Forecast {
  /** Event time (its occurredAt), minutes after T0. */
  t: number
  /** Received, minutes after T0 (default: the event time). */
  rx?: number
  title?: string
  service?: string
  env?: string
  by?: string
  /** The event id's seed (default: the title and time): two forecasts at one time differ by it. */
  seed?: string
}

function forecast(f: Forecast): EngineInput {
  const title = f.title ?? `db-main disk full (forecast at ${f.t})`
  const event: AlertEvent = {
    id: createHash('sha256').update(`forecast|${f.seed ?? `${title}|${f.t}`}`).digest('hex').slice(0, 32), source: 'report',
    fingerprint: `report-${f.seed ?? f.t}`, status: 'firing', severity: 'warning', service: f.service ?? 'checkout', environment: f.env ?? 'production',
    title, labels: {}, startsAt: at(f.t), receivedAt: at(f.rx ?? f.t), links: [], origin: { kind: 'capacity-forecast', reportedBy: f.by ?? 'dana' },
  }
  return { type: 'alert', event }
}

function alert(fp: string, t: number, status: 'firing' | 'resolved' = 'firing'): EngineInput {
  const time = at(t)
  const event: AlertEvent = {
    id: createHash('sha256').update(`alertmanager|${fp}|${status}|${time}`).digest('hex').slice(0, 32), source: 'alertmanager', fingerprint: fp,
    status, severity: 'critical', service: 'checkout', environment: 'production', title: `${fp} on checkout`, labels: { alertname: fp },
    startsAt: status === 'firing' ? time : at(t - 1), receivedAt: time, links: [], origin: {},
  }
  if (status === 'resolved') event.endsAt = time
  return { type: 'alert', event }
}

const tick = (minutes: number): EngineInput => ({ type: 'tick', at: at(minutes) })
let commandSeq = 0
const command = (type: Command['type'], target: string, t: number, extra: Partial<Command> = {}): EngineInput =>
  ({ type: 'command', command: { id: `cmd-forecast-${++commandSeq}`, type, target, environment: 'production', actor: 'alice', at: at(t), ...extra } })

const config = { allowedLatenessMs: 0 }
function run(inputs: EngineInput[], engine = new CorrelationEngine(config)) {
  const outputs: EngineOutput[] = []
  for (const input of inputs) outputs.push(...engine.apply(input))
  return { engine, outputs, incidents: engine.incidents(), problems: engine.problems() }
}

const idOf = (input: EngineInput) => (input.type === 'alert' ? input.event.id : '')
const onlyProblem = (problems: Problem[]): Problem => {
  expect(problems).toHaveLength(1)
  return problems[0]!
}
/** A problem as the review reads it, without the version (which counts the changes the delivery made). */
const unversioned = ({ version: _, ...p }: Problem) => p

describe('a capacity forecast', () => {
  it('opens a candidate forecast problem of its service, and no incident, when none is open', () => {
    const f = forecast({ t: 10, title: 'db-main disk full in 9 days' })
    const { incidents, problems, outputs } = run([f])
    expect(incidents).toEqual([])
    expect(outputs.filter((o) => o.type === 'incident')).toEqual([])
    expect(onlyProblem(problems)).toMatchObject({
      kind: 'forecast', status: 'candidate', title: 'Forecast for checkout: db-main disk full in 9 days', services: ['checkout'], environment: 'production',
      signature: JSON.stringify({ kind: 'forecast', environment: 'production', service: 'checkout' }), incidentIds: [], incidentCount: 0,
      firstSeenAt: at(10), lastSeenAt: at(10), owner: null, notes: [], resolvedAt: null, reopenCount: 0, version: 1,
      reports: [{ eventId: idOf(f), kind: 'capacity-forecast', title: 'db-main disk full in 9 days', reportedBy: 'dana', at: at(10) }],
    })
  })

  it('leaves the open incident of its service alone: no evidence, no new version, no customer impact', () => {
    const { engine } = run([alert('HighLatency', 0)])
    const before = engine.incidents()[0]!
    const version = before.version
    const outputs = engine.apply(forecast({ t: 1 }))
    expect(outputs.map((o) => o.type)).toEqual(['problem'])
    const inc = engine.incident(before.id)!
    expect(inc).toMatchObject({ reports: [], customerImpact: false, version, problemIds: [] })
    expect(engine.incidents()).toHaveLength(1)
    expect(onlyProblem(engine.problems())).toMatchObject({ kind: 'forecast', incidentIds: [], incidentCount: 0 })
  })

  it('does not count among the incidents, nor resolve as one: a day later there is still only the problem', () => {
    const { incidents, problems } = run([forecast({ t: 0 }), tick(60), tick(25 * 60)])
    expect(incidents).toEqual([])
    expect(onlyProblem(problems).status).toBe('candidate')
  })

  it('repeated, updates the one problem of its service and environment: the reports in time order, the newest\'s title, first and last seen', () => {
    const { problems } = run([
      forecast({ t: 0, title: 'db-main disk full in 9 days' }),
      forecast({ t: 60, title: 'db-main disk full in 8 days', by: 'erin' }),
      forecast({ t: 90, title: 'search shards full in 3 days', service: 'search' }),
      forecast({ t: 120, title: 'db-main disk full in 9 days', env: 'staging' }),
    ])
    expect(problems).toHaveLength(3)
    const checkout = problems.find((p) => p.environment === 'production' && p.services[0] === 'checkout')!
    expect(checkout).toMatchObject({ title: 'Forecast for checkout: db-main disk full in 8 days', firstSeenAt: at(0), lastSeenAt: at(60), status: 'candidate', version: 2 })
    expect(checkout.reports!.map((r) => [r.title, r.reportedBy, r.at])).toEqual([['db-main disk full in 9 days', 'dana', at(0)], ['db-main disk full in 8 days', 'erin', at(60)]])
    expect(new Set(problems.map((p) => p.id)).size).toBe(3)
  })

  it('delivered again (same event id) changes nothing, also after the dedup forgot the id', () => {
    const f = forecast({ t: 0 })
    const { engine } = run([f, forecast({ t: 5 })])
    const before = structuredClone(engine.problems())
    expect(onlyProblem(before).reports).toHaveLength(2)
    expect(engine.apply(f)).toEqual([])
    // The dedup remembers ids for the retention: past it, the problem still knows the forecast.
    const short = new CorrelationEngine({ ...config, retentionMs: HOUR })
    run([f, forecast({ t: 5 }), tick(240), tick(300), tick(400), tick(600)], short)
    const kept = structuredClone(short.problems())
    expect(onlyProblem(kept).reports).toHaveLength(2)
    // Held as a late backlog, then applied once the input is quiet.
    run([{ type: 'alert', event: { ...(f as { event: AlertEvent }).event, receivedAt: at(600) } }, tick(601), tick(602)], short)
    expect(short.stats).toMatchObject({ late: 1, lateDropped: 0, pending: 0 })
    expect(short.problems()).toEqual(kept)
    expect(engine.problems()).toEqual(before)
  })

  it('on a dismissed problem: kept in its reports, the problem stays dismissed', () => {
    const { engine, problems } = run([forecast({ t: 0 })])
    const id = problems[0]!.id
    engine.apply(command('problem.dismiss', id, 1))
    engine.apply(forecast({ t: 30, title: 'db-main disk full in 2 days' }))
    expect(engine.problem(id)).toMatchObject({ status: 'dismissed', title: 'Forecast for checkout: db-main disk full in 2 days', lastSeenAt: at(30), reopenCount: 0 })
    expect(engine.problem(id)!.reports).toHaveLength(2)
  })

  it('on a resolved problem: one made after the resolve brings it back, confirmed; one made before it (late) is only kept', () => {
    const { engine, problems } = run([forecast({ t: 0 })])
    const id = problems[0]!.id
    engine.apply(command('problem.confirm', id, 1))
    engine.apply(tick(10))
    engine.apply(command('problem.resolve', id, 10))
    expect(engine.problem(id)).toMatchObject({ status: 'resolved', resolvedAt: at(10) })
    // Made at 7, filed at 11: the resolve at 10 came after it.
    engine.apply(forecast({ t: 7, rx: 11 }))
    expect(engine.problem(id)).toMatchObject({ status: 'resolved', resolvedAt: at(10), reopenCount: 0 })
    expect(engine.problem(id)!.reports!.map((r) => r.at)).toEqual([at(0), at(7)])
    engine.apply(forecast({ t: 40 }))
    expect(engine.problem(id)).toMatchObject({ status: 'confirmed', resolvedAt: null, reopenCount: 1, lastSeenAt: at(40) })
    expect(engine.problem(id)!.reports).toHaveLength(3)
  })

  it('is linked by the review to the incident the predicted trouble became, as any problem', () => {
    const { engine, problems } = run([forecast({ t: 0 }), alert('DiskFull', 60)])
    const inc = engine.incidents()[0]!
    engine.apply(command('incident.link-problem', inc.id, 61, { problemId: problems[0]!.id }))
    expect(engine.problem(problems[0]!.id)).toMatchObject({ incidentIds: [inc.id], incidentCount: 1, services: ['checkout'], firstSeenAt: at(0), lastSeenAt: at(60) })
    expect(engine.incident(inc.id)).toMatchObject({ problemIds: [problems[0]!.id], reports: [], customerImpact: false })
  })

  describe('whatever the delivery order', () => {
    // Forecasts of one service, two at one time (ordered by event id), received in order, late, or shuffled.
    const made = [0, 30, 30, 90, 200, 201].map((t, i) => ({ t, title: `forecast ${i}`, seed: `f${i}` }))
    const inOrder = run(made.map((f) => forecast(f))).problems

    const orders: [string, Forecast[]][] = [
      ['reversed, each late', [...made].reverse().map((f) => ({ ...f, rx: 300 }))],
      ['the newest first, the rest late in a shuffled order', [made[5]!, made[2]!, made[0]!, made[4]!, made[1]!, made[3]!].map((f, i) => ({ ...f, rx: 201 + i }))],
      ['the two of one time swapped', [made[0]!, made[2]!, made[1]!, made[3]!, made[4]!, made[5]!].map((f) => ({ ...f, rx: Math.max(f.t, 31) }))],
    ]
    it.each(orders)('%s: the same problem', (_, delivered) => {
      const { problems } = run(delivered.map((f) => forecast(f)))
      expect(problems.map(unversioned)).toEqual(inOrder.map(unversioned))
      expect(onlyProblem(problems).reports!.map((r) => r.title)).toEqual(made.map((f) => f.title))
    })

    it('with allowed lateness and ticks between, the same problem', () => {
      const engine = new CorrelationEngine({ allowedLatenessMs: 10 * MIN })
      const inputs: EngineInput[] = [tick(0), ...[made[3]!, made[0]!, made[5]!, made[1]!, made[4]!, made[2]!].map((f) => forecast({ ...f, rx: 202 })), tick(205), tick(300)]
      const { problems } = run(inputs, engine)
      expect(onlyProblem(problems).reports).toHaveLength(made.length)
      expect(problems.map(unversioned)).toEqual(inOrder.map(unversioned))
    })

    it('keeps the newest 100 in time order, whichever came first', () => {
      const many = Array.from({ length: 120 }, (_, i) => ({ t: i, title: `forecast ${i}`, seed: `m${i}` }))
      const shuffled = [...many].sort((a, b) => ((a.t * 37) % 120) - ((b.t * 37) % 120)).map((f) => ({ ...f, rx: 200 }))
      const a = run(many.map((f) => forecast(f))).problems
      const b = run(shuffled.map((f) => forecast(f))).problems
      expect(b.map(unversioned)).toEqual(a.map(unversioned))
      const p = onlyProblem(a)
      expect(p.reports!.map((r) => r.at)).toEqual(many.slice(20).map((f) => at(f.t)))
      expect(p).toMatchObject({ firstSeenAt: at(0), lastSeenAt: at(119), title: 'Forecast for checkout: forecast 119' })
    })
  })

  it('survives a snapshot: the restored engine goes on as the one that kept running', () => {
    const first = [forecast({ t: 0 }), forecast({ t: 10, by: 'erin' })]
    const rest = [forecast({ t: 5, rx: 20 }), forecast({ t: 30 })]
    const { engine } = run(first)
    const restored = new CorrelationEngine(config, JSON.parse(JSON.stringify(engine.snapshot())) as EngineSnapshot)
    expect(restored.problems()).toEqual(engine.problems())
    run(rest, engine)
    run(rest, restored)
    expect(restored.problems()).toEqual(engine.problems())
    expect(onlyProblem(restored.problems()).reports).toHaveLength(4)
  })
})
