// The same events delivered several ways give the same incidents and problems: streams richer than
// engine.event-time.test.ts's (whole episodes, Alertmanager repeats of a firing under its id, Pingdom checks,
// reports, a group rule and notification groups, an incident key, a staleness timeout of hours), delivered in
// order, shuffled within the allowed lateness, in one held burst, and (lateness 0) with an outage window
// drained after its end; each also restored from a snapshot anywhere. Found by hC's audit (2026-12-06): a
// repeat held with its original, a report held across its incident's report timeout, a late alert and its
// notification group. Capacity forecasts among the reports since they became problems (2026-12-06).
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileGroupingRules } from '@opsreview/grouping'
import { CorrelationEngine, type EngineSnapshot } from './engine.ts'
import type { CorrelationConfig } from './config.ts'
import type { AlertEvent, EngineInput } from './types.ts'

const T0 = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const isoOf = (t: number) => new Date(t).toISOString()
const idOf = (...parts: string[]) => createHash('sha256').update(parts.join('|')).digest('hex').slice(0, 32)

const grouping = compileGroupingRules({ version: 1, groupBy: { rules: [{ name: 'team', match: { labels: { team: { present: true } } }, by: ['labels.team'] }] } })

interface AlertSpec { source: 'alertmanager' | 'pingdom'; fp: string; service: string; labels: Record<string, string>; groupKey?: string }
const ALERTS: AlertSpec[] = [
  { source: 'alertmanager', fp: 'a', service: 'checkout', labels: { alertname: 'A', instance: 'db-1:9100' }, groupKey: 'g1' },
  { source: 'alertmanager', fp: 'b', service: 'checkout', labels: { alertname: 'B', team: 'x' }, groupKey: 'g1' },
  { source: 'alertmanager', fp: 'c', service: 'search', labels: { alertname: 'C', instance: 'db-1:9100' }, groupKey: 'g2' },
  { source: 'alertmanager', fp: 'd', service: 'search', labels: { alertname: 'D', incident_key: 'INC-1' } },
  { source: 'pingdom', fp: 'p', service: 'checkout', labels: { alertname: 'P' } },
  { source: 'alertmanager', fp: 'e', service: 'checkout', labels: { alertname: 'A', instance: 'db-2:9100' }, groupKey: 'g3' },
]

type Step =
  | { kind: 'alert'; alert: number; firing: boolean; advance: number; lag: number; startBack: number }
  | { kind: 'repeat'; alert: number; advance: number }
  | { kind: 'report'; service: number; advance: number; lag: number }
  | { kind: 'gap'; advance: number }

const stepArb = (maxLag: number): fc.Arbitrary<Step> => fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('alert' as const), alert: fc.nat(ALERTS.length - 1), firing: fc.boolean(), advance: fc.constantFrom(0, 0, 1, 2, 3, 5, 8, 13, 20, 40), lag: fc.constantFrom(0, 0, 0, ...(maxLag > 0 ? [1, maxLag] : [])), startBack: fc.constantFrom(1, 2, 10, 50) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('repeat' as const), alert: fc.nat(ALERTS.length - 1), advance: fc.constantFrom(0, 1, 30, 60, 100) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('report' as const), service: fc.nat(1), advance: fc.constantFrom(0, 1, 5, 20), lag: fc.constantFrom(0, 0, ...(maxLag > 0 ? [maxLag] : [])) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gap' as const), advance: fc.constantFrom(60, 119, 121, 240) }) },
)

interface Sent { event: AlertEvent; t: number; receipt: number; key: string; repeat?: true }

/** The events of a stream: each with its event time and receipt (whole minutes). */
function eventsOf(steps: Step[], distinct = false): { events: Sent[]; last: number } {
  let now: number
  const firingSince = new Map<string, { start: number; id: string; event: AlertEvent }>()
  const events: Sent[] = []
  const seenIds = new Set<string>()
  let n = 0
  let minute = T0
  for (const s of steps) {
    minute += s.advance * MIN
    n++
    // Distinct instants (lateness 0 applies ties in arrival order, as documented): half a second per step.
    now = distinct ? minute + n * 500 : minute
    if (s.kind === 'gap') continue
    if (s.kind === 'report') {
      const t = now - s.lag * MIN
      const service = ['checkout', 'search'][s.service]!
      // Every third a capacity forecast (by its step, so the streams fast-check draws stay as they were): a
      // problem of its service, whose reports, title and times must not depend on the delivery either.
      const kind = n % 3 === 0 ? 'capacity-forecast' : 'customer-complaint'
      const event: AlertEvent = {
        id: idOf('report', String(n), service), source: 'report', fingerprint: `r-${n}`, status: 'firing', severity: 'warning', service,
        environment: 'production', title: `${kind} ${n}`, labels: { alertname: 'complaint' }, startsAt: isoOf(t), receivedAt: isoOf(now), links: [],
        origin: { kind, reportedBy: 'support' },
      }
      events.push({ event, t, receipt: now, key: `report:r-${n}` })
      continue
    }
    const spec = ALERTS[s.alert]!
    const key = `${spec.source}:${spec.fp}`
    if (s.kind === 'repeat') {
      const f = firingSince.get(key)
      if (!f || spec.source !== 'alertmanager') continue
      events.push({ event: { ...f.event, receivedAt: isoOf(now) }, t: f.start, receipt: now, key, repeat: true })
      continue
    }
    const t = now - s.lag * MIN
    const status = s.firing ? 'firing' : 'resolved'
    const f = firingSince.get(key)
    if (s.firing && f) continue // already firing: a repeat would be the kind above
    if (!s.firing && !f && spec.source === 'pingdom') continue
    const startsAt = s.firing ? t : spec.source === 'pingdom' ? t : f ? f.start : t - s.startBack * MIN
    if (!s.firing && startsAt >= t && spec.source === 'alertmanager' && !f) continue
    if (f && !s.firing && f.start >= t) continue
    const id = idOf(spec.source, spec.fp, status, isoOf(t))
    if (seenIds.has(id)) continue
    seenIds.add(id)
    const event: AlertEvent = {
      id, source: spec.source, fingerprint: spec.fp, status, severity: spec.fp === 'a' ? 'critical' : 'warning', service: spec.service,
      environment: 'production', title: `${spec.labels.alertname} on ${spec.service}`, labels: spec.labels, startsAt: isoOf(startsAt), receivedAt: isoOf(now), links: [],
      origin: spec.groupKey ? { groupKey: spec.groupKey } : {},
    }
    if (!s.firing) event.endsAt = isoOf(t)
    if (s.firing) firingSince.set(key, { start: t, id, event })
    else firingSince.delete(key)
    events.push({ event, t, receipt: now, key })
  }
  return { events, last: minute + MIN }
}

const tickInput = (t: number): EngineInput => ({ type: 'tick', at: isoOf(t) })

/** Inputs arriving at their times; a tick every minute, before the events of its instant; then settle ticks. */
function delivery(items: { arrival: number; order: number; input: EngineInput }[], from: number, to: number): EngineInput[] {
  const ticks = []
  for (let t = from; t <= to; t += MIN) ticks.push({ arrival: t, order: -1e9 + t / MIN, input: tickInput(t) })
  const all = [...items, ...ticks].sort((a, b) => a.arrival - b.arrival || a.order - b.order).map((x) => x.input)
  return [...all, tickInput(to + 3 * DAY), tickInput(to + 6 * DAY)]
}

function outcome(engine: CorrelationEngine) {
  const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id))
  return {
    incidents: byId(engine.incidents()).map((i) => ({
      id: i.id, status: i.status, openedAt: i.openedAt, resolvedAt: i.resolvedAt, resolvedBy: i.resolvedBy, reopenCount: i.reopenCount,
      services: [...i.services].sort(), severity: i.severity, customerImpact: i.customerImpact, reports: i.reports.map((r) => r.eventId).sort(), problemIds: [...i.problemIds].sort(),
      lastEventAt: i.lastEventAt,
      alerts: i.alerts.map((a) => [a.key, a.status, a.firstSeenAt, a.lastSeenAt, a.resolvedAt, a.flapCount, a.autoResolved, a.guessedEnds ?? []]).sort(),
    })),
    problems: byId(engine.problems()).map((p) => ({
      id: p.id, kind: p.kind, status: p.status, incidentIds: [...p.incidentIds].sort(), signature: p.signature,
      // A forecast's reports in their kept order (time, then event id), and what they decide.
      ...(p.kind === 'forecast' ? { title: p.title, firstSeenAt: p.firstSeenAt, lastSeenAt: p.lastSeenAt, reports: p.reports } : {}),
    })),
  }
}

function run(inputs: EngineInput[], config: Partial<CorrelationConfig>, cut = -1) {
  let engine = new CorrelationEngine(config)
  inputs.forEach((input, i) => {
    if (i === cut) engine = new CorrelationEngine(config, JSON.parse(JSON.stringify(engine.snapshot())) as EngineSnapshot)
    engine.apply(input)
  })
  return engine
}

/** Interleaves queues at random, each queue's order kept. */
function interleave<T>(queues: T[][], picks: number[]): T[] {
  const qs = queues.map((q) => [...q]).filter((q) => q.length > 0)
  const out: T[] = []
  for (let n = 0; qs.length > 0; n++) {
    const i = (picks[n % picks.length] ?? 0) % qs.length
    out.push(qs[i]!.shift()!)
    if (qs[i]!.length === 0) qs.splice(i, 1)
  }
  return out
}
function groupedBy<T>(xs: T[], key: (x: T) => string): T[][] {
  const m = new Map<string, T[]>()
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x])
  return [...m.values()]
}


const stale = { alertmanager: 2 * HOUR, pingdom: 0, report: 3 * HOUR }
const L = 5 * MIN

type Examples = [Step[], number[], number[], number][]

/**
 * In order, shuffled within the lateness, in one held burst, each restored anywhere: the same outcome. The
 * burst comes an hour after the last event; with a retention shorter than the stream, an event that began
 * further back than the retention is, delivered then, older than what retention forgot and given an
 * incident of its own (docs/correlation-event-time.md): such a burst is left out.
 */
function deliveriesAgree(cfg: Partial<CorrelationConfig>, runs: { numRuns: number; seed?: number; examples?: Examples }) {
  const unit = fc.double({ min: 0, max: 1, noNaN: true })
  const retention = cfg.retentionMs ?? Infinity
  fc.assert(fc.property(fc.array(stepArb(2), { minLength: 5, maxLength: 70, size: 'max' }), fc.array(unit, { minLength: 1, maxLength: 50 }), fc.array(fc.nat(), { minLength: 1, maxLength: 50 }), fc.nat(), (steps, jitter, picks, cutAt) => {
    const { events, last } = eventsOf(steps)
    if (events.length === 0) return
    const inOrder = delivery(events.map((e, n) => ({ arrival: e.receipt, order: n, input: { type: 'alert', event: e.event } })), T0, last + 10 * MIN)
    const expected = outcome(run(inOrder, cfg))
    // Up to the lateness after its time (a repeat: after its receipt, when it is heard), whole minutes, the bound included.
    const arrival = (e: Sent, n: number) => {
      const room = (e.repeat ? L : e.t + L - e.receipt) - MIN
      return e.receipt + Math.floor((jitter[n % jitter.length]! * room) / MIN) * MIN
    }
    const shuffled = delivery(events.map((e, n) => ({ arrival: arrival(e, n), order: n, input: { type: 'alert', event: e.event } })), T0, last + 10 * MIN)
    expect(outcome(run(shuffled, cfg)), 'shuffled').toEqual(expected)
    const cut = cutAt % (inOrder.length + 1)
    expect(outcome(run(inOrder, cfg, cut)), 'in order restored').toEqual(expected)
    expect(outcome(run(shuffled, cfg, cutAt % (shuffled.length + 1))), 'shuffled restored').toEqual(expected)
    const burstAt = last + HOUR
    if (burstAt - Math.min(...events.map((e) => Date.parse(e.event.startsAt))) >= retention) return
    const order = interleave(groupedBy(events, (e) => e.key), picks)
    const burst = [tickInput(T0), tickInput(burstAt), ...order.map((e): EngineInput => ({ type: 'alert', event: e.event })), ...Array.from({ length: 40 }, (_, n) => tickInput(burstAt + (n + 1) * 1000)), tickInput(burstAt + 3 * DAY), tickInput(burstAt + 6 * DAY)]
    expect(outcome(run(burst, cfg)), 'burst').toEqual(expected)
    expect(outcome(run(burst, cfg, 2 + (cutAt % (events.length + 1)))), 'burst restored').toEqual(expected)
  }), runs)
}

describe('delivery: allowed lateness 5 min', () => {
  it('in order, shuffled within the lateness, in one held burst, each restored anywhere', () => {
    deliveriesAgree({ grouping, allowedLatenessMs: L, stalenessMs: stale }, { numRuns: 100 })
  }, 120_000)

  // A retention of 6 hours, shorter than the streams (a reviewer's harness, 2026-12-07): an alert's id is
  // forgotten a retention after its delivery, the incident a staleness guess closed a retention after the
  // guess, so a repeat in between is a new event hours late. The example is the search's shrunk counterexample
  // (seed 1, run 636): the repeat of b, 8 hours after it fired, took b's incident back in order and joined a's
  // once retention had forgotten b's (engine.event-time.test.ts, "judges a repeat whose id retention forgot").
  const shrunk: Examples = [[[
    { kind: 'report', service: 0, advance: 0, lag: 0 }, { kind: 'alert', alert: 0, firing: false, advance: 0, lag: 0, startBack: 1 }, { kind: 'alert', alert: 0, firing: false, advance: 3, lag: 0, startBack: 1 },
    { kind: 'alert', alert: 0, firing: false, advance: 0, lag: 1, startBack: 1 }, { kind: 'alert', alert: 0, firing: false, advance: 20, lag: 0, startBack: 1 }, { kind: 'alert', alert: 0, firing: false, advance: 8, lag: 0, startBack: 1 },
    { kind: 'alert', alert: 1, firing: true, advance: 0, lag: 0, startBack: 1 }, { kind: 'alert', alert: 2, firing: false, advance: 0, lag: 0, startBack: 1 }, { kind: 'report', service: 0, advance: 5, lag: 0 },
    { kind: 'alert', alert: 0, firing: false, advance: 5, lag: 0, startBack: 1 }, { kind: 'alert', alert: 0, firing: false, advance: 13, lag: 0, startBack: 1 }, { kind: 'report', service: 0, advance: 0, lag: 0 },
    { kind: 'alert', alert: 0, firing: false, advance: 1, lag: 0, startBack: 1 }, { kind: 'alert', alert: 0, firing: false, advance: 1, lag: 1, startBack: 1 }, { kind: 'alert', alert: 2, firing: false, advance: 20, lag: 0, startBack: 1 },
    { kind: 'alert', alert: 0, firing: false, advance: 1, lag: 0, startBack: 1 }, { kind: 'repeat', alert: 0, advance: 100 }, { kind: 'alert', alert: 2, firing: false, advance: 2, lag: 0, startBack: 1 },
    { kind: 'alert', alert: 0, firing: true, advance: 20, lag: 0, startBack: 1 }, { kind: 'alert', alert: 2, firing: false, advance: 13, lag: 0, startBack: 1 }, { kind: 'repeat', alert: 2, advance: 1 },
    { kind: 'gap', advance: 240 }, { kind: 'repeat', alert: 0, advance: 30 }, { kind: 'repeat', alert: 1, advance: 30 }, { kind: 'alert', alert: 0, firing: false, advance: 0, lag: 0, startBack: 1 },
    { kind: 'alert', alert: 0, firing: false, advance: 0, lag: 0, startBack: 1 }, { kind: 'alert', alert: 0, firing: false, advance: 0, lag: 0, startBack: 1 }, { kind: 'alert', alert: 0, firing: false, advance: 0, lag: 0, startBack: 1 },
  ], [0, 0, 0, 0.75, 0, 0, 0, 0], [0], 0]]
  it.each([
    ['staleness of 2 hours', stale],
    ['staleness of a day', { alertmanager: DAY, pingdom: 0, report: DAY }],
  ])('with a retention of 6 hours and a %s: the same', (_name, stalenessMs) => {
    deliveriesAgree({ grouping, allowedLatenessMs: L, stalenessMs, retentionMs: 6 * HOUR }, { numRuns: 500, seed: 20261207, examples: shrunk })
  }, 120_000)
})


// A fixed sample: wider searches found rare counterexamples (2026-12-06: one in about 6,000 runs), which a
// random seed made a failure of one CI run in fifty. Each one fixed is a scenario of its own in
// engine.event-time.test.ts (seed 922238157: "a late whole episode goes to the incident open at its end";
// seed 1148929165: "... to the group's newest incident open at its end, resolved since"; seed 270130088, in
// grouping.late.test.ts: "a late rule-grouped whole episode takes the incident its notification group opened
// after its start, resolved since"). With the first two fixed, 156,000 runs at lateness 0 and 42,000 at 5 min
// found no other.
// Raise numRuns and drop the seed to search.
const OUTAGE_SEED = 20261206

describe('delivery: allowed lateness 0, live against backlogs', () => {
  const cfg: Partial<CorrelationConfig> = { grouping, allowedLatenessMs: 0, stalenessMs: { alertmanager: 0, pingdom: 0, report: 3 * HOUR } }
  it('a whole backlog, and an outage window drained at its end', () => {
    fc.assert(fc.property(fc.array(stepArb(0), { minLength: 5, maxLength: 70, size: 'max' }), fc.array(fc.nat(), { minLength: 1, maxLength: 50 }), fc.nat(), fc.nat(), fc.nat(), (steps, picks, a, b, cutAt) => {
      const { events, last } = eventsOf(steps, true)
      if (events.length === 0) return
      const end = last + 2 * HOUR
      const live = delivery(events.map((e, n) => ({ arrival: e.receipt, order: n, input: { type: 'alert', event: e.event } })), T0, end)
      const expected = outcome(run(live, cfg))
      // A window of receipts [from, to) drained at `to`, in Kafka's order (each alert's own kept), ticks going on.
      const span = last - T0 + MIN
      const from = T0 + Math.floor(((a % 1000) / 1000) * span / MIN) * MIN
      const to = Math.min(end, from + (10 + (b % 300)) * MIN)
      // Drained 6 minutes after the window, nothing received meanwhile: every event of it deep late (slightly
      // late ones are applied on arrival, in arrival order, as documented).
      const drainAt = to + 6 * MIN
      if (events.some((e) => e.receipt >= to && e.receipt < drainAt)) return
      if (drainAt + 10 * MIN > end) return
      const inWindow = events.filter((e) => e.receipt >= from && e.receipt < to)
      const order = interleave(groupedBy(inWindow, (e) => e.key), picks)
      const items = [
        ...events.filter((e) => !(e.receipt >= from && e.receipt < to)).map((e, n) => ({ arrival: e.receipt, order: n, input: { type: 'alert', event: e.event } as EngineInput })),
        ...order.map((e, n) => ({ arrival: drainAt, order: -1000 + n, input: { type: 'alert', event: e.event } as EngineInput })),
      ]
      // Seconds of ticks after the drain, so the hold is released before the next minute's events.
      const drained = delivery(items, T0, end)
      const at = drained.findIndex((x) => x.type === 'tick' && x.at === new Date(drainAt).toISOString())
      expect(at).toBeGreaterThan(0)
      const withQuiet = [...drained.slice(0, at + 1 + order.length), ...Array.from({ length: 35 }, (_, n) => tickInput(drainAt + (n + 1) * 1000)), ...drained.slice(at + 1 + order.length)]
      expect(outcome(run(withQuiet, cfg)), `window ${new Date(from).toISOString()}..${new Date(to).toISOString()}`).toEqual(expected)
      expect(outcome(run(withQuiet, cfg, cutAt % (withQuiet.length + 1))), 'window restored').toEqual(expected)
    }), { numRuns: 100, seed: OUTAGE_SEED })
  }, 120_000)
})

