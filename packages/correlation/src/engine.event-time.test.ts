import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileGroupingRules } from '@opsreview/grouping'
import { CorrelationEngine, EventTimeError, SnapshotVersionError, type EngineSnapshot } from './engine.ts'
import type { CorrelationConfig } from './config.ts'
import type { AlertEvent, EngineInput, Incident, Problem } from './types.ts'
import { hashId } from './state.ts'

const T0 = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const isoOf = (t: number) => new Date(t).toISOString()
/** These tests run with an allowed lateness (the default is 0: events apply on arrival). */
const LATENESS = 5 * MIN
const withLateness: Partial<CorrelationConfig> = { allowedLatenessMs: LATENESS }

interface Ev {
  source?: AlertEvent['source']
  fp: string
  service: string
  status: 'firing' | 'resolved'
  /** Event time. */
  t: number
  name?: string
  host?: string
  env?: string
}

function event(e: Ev, receivedAt: number): AlertEvent {
  const source = e.source ?? 'alertmanager'
  const time = isoOf(e.t)
  const ev: AlertEvent = {
    id: createHash('sha256').update(`${source}|${e.fp}|${e.status}|${time}`).digest('hex').slice(0, 32),
    source, fingerprint: e.fp, status: e.status, severity: e.service === 'payments' ? 'critical' : 'warning', service: e.service,
    environment: e.env ?? 'production', title: `${e.name ?? e.fp} on ${e.service}`,
    labels: { alertname: e.name ?? e.fp, ...(e.host ? { instance: `${e.host}:9100` } : {}) },
    startsAt: e.status === 'firing' ? time : isoOf(e.t - MIN), receivedAt: isoOf(receivedAt), links: [],
    origin: source === 'report' ? { kind: 'customer-complaint', reportedBy: 'support' } : {},
  }
  if (e.status === 'resolved') ev.endsAt = time
  return ev
}
const alertInput = (e: Ev, receivedAt: number): EngineInput => ({ type: 'alert', event: event(e, receivedAt) })
const tickInput = (t: number): EngineInput => ({ type: 'tick', at: isoOf(t) })

/** What must not depend on delivery: ids, membership, boundaries, problems (versions and receipt times may). */
function outcome(engine: CorrelationEngine) {
  const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id))
  return {
    incidents: byId(engine.incidents()).map((i: Incident) => ({
      id: i.id, status: i.status, openedAt: i.openedAt, resolvedAt: i.resolvedAt, resolvedBy: i.resolvedBy, reopenCount: i.reopenCount,
      services: i.services, severity: i.severity, customerImpact: i.customerImpact, reports: i.reports.length, problemIds: i.problemIds,
      postmortem: i.postmortem.required,
      alerts: i.alerts.map((a) => [a.key, a.status, a.firstSeenAt, a.resolvedAt, a.flapCount, a.autoResolved]),
    })),
    problems: byId(engine.problems()).map((p: Problem) => ({ id: p.id, kind: p.kind, status: p.status, incidentIds: p.incidentIds, services: p.services, signature: p.signature })),
  }
}

function deliver(inputs: EngineInput[], config: Partial<CorrelationConfig> = {}) {
  const engine = new CorrelationEngine({ ...withLateness, ...config })
  for (const input of inputs) engine.apply(input)
  return engine
}

/** After the last event: ticks far enough on that every timer (quiet period, staleness) has run. */
const settleTicks = (after: number): EngineInput[] => [tickInput(after + MIN), tickInput(after + 2 * DAY), tickInput(after + 3 * DAY)]

// A random day or so: alerts on a few services and hosts toggling, reports, ticks between them.
const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('alert' as const), fp: fc.constantFrom('a', 'b', 'c', 'd', 'e'), service: fc.constantFrom('checkout', 'search', 'payments'), host: fc.constantFrom('db-1', 'db-2', 'web-1'), firing: fc.boolean(), advance: fc.integer({ min: 0, max: 25 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), advance: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('report' as const), service: fc.constantFrom('checkout', 'search', 'payments'), advance: fc.integer({ min: 0, max: 10 }) }) },
)
type Step = { kind: 'alert'; fp: string; service: string; host: string; firing: boolean; advance: number } | { kind: 'tick'; advance: number } | { kind: 'report'; service: string; advance: number }

interface Timeline { events: Ev[]; ticks: number[]; last: number }

function timeline(steps: Step[]): Timeline {
  let now = T0
  const events: Ev[] = []
  const ticks: number[] = []
  for (const s of steps) {
    now += s.advance * MIN
    if (s.kind === 'tick') ticks.push(now)
    else if (s.kind === 'report') events.push({ source: 'report', fp: `r-${now}-${s.service}`, service: s.service, status: 'firing', t: now, name: 'report:customer-complaint' })
    else events.push({ fp: `${s.fp}-${s.service}`, service: s.service, status: s.firing ? 'firing' : 'resolved', t: now, name: `Alert-${s.fp}`, host: s.host })
  }
  // Two events of one alert at one instant are one event.
  const unique = [...new Map(events.map((e) => [`${e.source ?? ''}|${e.fp}|${e.status}|${e.t}`, e])).values()]
  return { events: unique, ticks, last: now }
}

/** Items ordered by a delivery key: events and ticks interleaved as they would reach the engine. */
function byKey(items: { key: number; order: number; input: EngineInput }[]): EngineInput[] {
  return items.sort((a, b) => a.key - b.key || a.order - b.order).map((i) => i.input)
}

const inOrder = (tl: Timeline): EngineInput[] => [
  ...byKey([
    ...tl.events.map((e, n) => ({ key: e.t, order: n, input: alertInput(e, e.t) })),
    ...tl.ticks.map((t, n) => ({ key: t, order: 1e6 + n, input: tickInput(t) })),
  ]),
  ...settleTicks(tl.last),
]

/** Each event arrives up to `lateness` after its time, so events overtake one another. */
const shuffled = (tl: Timeline, jitter: number[], lateness: number): EngineInput[] => [
  ...byKey([
    ...tl.events.map((e, n) => { const at = e.t + Math.floor((jitter[n % jitter.length] ?? 0) * lateness); return { key: at, order: n, input: alertInput(e, at) } }),
    ...tl.ticks.map((t, n) => ({ key: t, order: 1e6 + n, input: tickInput(t) })),
  ]),
  ...settleTicks(tl.last + lateness),
]

/** Each event arrives hours late (its own delay), in order of receipt, while wall-clock ticks go on. */
const delayed = (tl: Timeline, delays: number[], maxDelay: number): EngineInput[] => [
  ...byKey([
    ...tl.events.map((e, n) => { const at = e.t + Math.floor((delays[n % delays.length] ?? 0) * maxDelay); return { key: at, order: n, input: alertInput(e, at) } }),
    ...tl.ticks.map((t, n) => ({ key: t, order: 1e6 + n, input: tickInput(t) })),
  ]),
  ...settleTicks(tl.last + maxDelay),
]

/** Everything at once, after the last event (a drained spool or an import): ticks only after. */
const burst = (tl: Timeline): EngineInput[] => [...tl.events.map((e) => alertInput(e, tl.last + MIN)), ...settleTicks(tl.last + MIN)]

describe('event time: the same events give the same incidents and problems however they are delivered', () => {
  const unit = fc.double({ min: 0, max: 0.999, noNaN: true })
  it('in order, shuffled within the allowed lateness, delayed by hours, and in one burst', () => {
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), fc.array(unit, { minLength: 1, maxLength: 60 }), fc.array(unit, { minLength: 1, maxLength: 60 }), (steps, jitter, delays) => {
      const tl = timeline(steps as Step[])
      const expected = outcome(deliver(inOrder(tl)))
      expect(outcome(deliver(shuffled(tl, jitter, LATENESS)))).toEqual(expected)
      // Hours of delay are absorbed when the allowed lateness covers them.
      expect(outcome(deliver(delayed(tl, delays, 6 * HOUR), { allowedLatenessMs: 6 * HOUR }))).toEqual(expected)
      expect(outcome(deliver(burst(tl)))).toEqual(expected)
    }), { numRuns: 150 })
  })

  it('a checkpoint taken anywhere in a shuffled delivery resumes to the same outcome', () => {
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 50 }), fc.array(unit, { minLength: 1, maxLength: 50 }), fc.nat(), (steps, jitter, cutAt) => {
      const inputs = shuffled(timeline(steps as Step[]), jitter, LATENESS)
      const cut = cutAt % (inputs.length + 1)
      const first = deliver(inputs.slice(0, cut))
      const resumed = new CorrelationEngine(withLateness, JSON.parse(JSON.stringify(first.snapshot())) as EngineSnapshot)
      for (const input of inputs.slice(cut)) resumed.apply(input)
      expect(outcome(resumed)).toEqual(outcome(deliver(inputs)))
    }), { numRuns: 100 })
  })
})

describe('event time: scenarios', () => {
  const at = (h: number, m = 0) => T0 + h * HOUR + m * MIN
  const summary = (engine: CorrelationEngine) => engine.incidents()
    .sort((a, b) => a.openedAt.localeCompare(b.openedAt))
    .map((i) => ({ services: i.services, alerts: i.alerts.map((a) => a.fingerprint), openedAt: i.openedAt, resolvedAt: i.resolvedAt, status: i.status }))

  it('a day and more posted in one burst: outages hours apart stay apart, a daily disk alert recurs, finished incidents resolve', () => {
    const events: Ev[] = [
      { fp: 'co-5xx', service: 'checkout', status: 'firing', t: at(9), name: 'CheckoutErrors' },
      { fp: 'co-lat', service: 'checkout', status: 'firing', t: at(9, 2), name: 'CheckoutLatency' },
      { fp: 'co-5xx', service: 'checkout', status: 'resolved', t: at(9, 20), name: 'CheckoutErrors' },
      { fp: 'co-lat', service: 'checkout', status: 'resolved', t: at(9, 25), name: 'CheckoutLatency' },
      { fp: 'co-5xx', service: 'checkout', status: 'firing', t: at(14), name: 'CheckoutErrors' },
      { fp: 'co-5xx', service: 'checkout', status: 'resolved', t: at(14, 30), name: 'CheckoutErrors' },
    ]
    for (const day of [0, 1, 2]) {
      events.push({ fp: 'disk-db1', service: 'orders-db', status: 'firing', t: at(24 * day + 3), name: 'DiskFull', host: 'db-1' })
      events.push({ fp: 'disk-db1', service: 'orders-db', status: 'resolved', t: at(24 * day + 3, 40), name: 'DiskFull', host: 'db-1' })
    }
    events.sort((a, b) => a.t - b.t)
    const postedAt = at(72)
    const engine = deliver([...events.map((e) => alertInput(e, postedAt)), tickInput(postedAt), tickInput(postedAt + MIN)])
    expect(summary(engine).filter((i) => i.services[0] === 'checkout')).toEqual([
      { services: ['checkout'], alerts: ['co-5xx', 'co-lat'], openedAt: isoOf(at(9)), resolvedAt: isoOf(at(9, 25)), status: 'resolved' },
      { services: ['checkout'], alerts: ['co-5xx'], openedAt: isoOf(at(14)), resolvedAt: isoOf(at(14, 30)), status: 'resolved' },
    ])
    const disk = summary(engine).filter((i) => i.services[0] === 'orders-db')
    expect(disk.map((i) => [i.openedAt, i.resolvedAt, i.status])).toEqual([0, 1, 2].map((d) => [isoOf(at(24 * d + 3)), isoOf(at(24 * d + 3, 40)), 'resolved']))
    expect(engine.problems()).toMatchObject([{ kind: 'recurring', incidentCount: 3, services: ['orders-db'] }])
    // The same events delivered live give the same incidents.
    const live = deliver([...events.map((e) => alertInput(e, e.t)), tickInput(postedAt), tickInput(postedAt + MIN)])
    expect(outcome(engine)).toEqual(outcome(live))
  })

  it('a backlog after a 30-minute receiver outage: the late alerts give the incidents they would have given live', () => {
    // Ticks go on during the outage (10:00–10:30); the receiver takes the outage's alerts at 10:30.
    const events: Ev[] = [
      { fp: 'auth-1', service: 'auth', status: 'firing', t: at(9, 50) },
      { fp: 'auth-1', service: 'auth', status: 'resolved', t: at(9, 55) },
      { fp: 'co-1', service: 'checkout', status: 'firing', t: at(10, 5), host: 'db-1' },
      { fp: 'se-1', service: 'search', status: 'firing', t: at(10, 7), host: 'db-1' },
      { fp: 'co-1', service: 'checkout', status: 'resolved', t: at(10, 12), host: 'db-1' },
      { fp: 'co-2', service: 'checkout', status: 'firing', t: at(10, 25) },
      { fp: 'se-1', service: 'search', status: 'resolved', t: at(10, 40), host: 'db-1' },
      { fp: 'co-2', service: 'checkout', status: 'resolved', t: at(10, 45) },
    ]
    const ticks = Array.from({ length: 120 }, (_, n) => at(9, 30 + n))
    const received = (e: Ev) => (e.t >= at(10) && e.t < at(10, 30) ? at(10, 30) : e.t)
    const run = (receipt: (e: Ev) => number) => deliver(byKey([
      ...events.map((e, n) => ({ key: receipt(e), order: n, input: alertInput(e, receipt(e)) })),
      ...ticks.map((t, n) => ({ key: t, order: 1e6 + n, input: tickInput(t) })),
    ]))
    const backlog = run(received)
    expect(backlog.stats.late).toBeGreaterThan(0)
    expect(summary(backlog)).toEqual([
      { services: ['auth'], alerts: ['auth-1'], openedAt: isoOf(at(9, 50)), resolvedAt: isoOf(at(9, 55)), status: 'resolved' },
      { services: ['checkout'], alerts: ['co-1'], openedAt: isoOf(at(10, 5)), resolvedAt: isoOf(at(10, 12)), status: 'resolved' },
      { services: ['search'], alerts: ['se-1'], openedAt: isoOf(at(10, 7)), resolvedAt: isoOf(at(10, 40)), status: 'resolved' },
      { services: ['checkout'], alerts: ['co-2'], openedAt: isoOf(at(10, 25)), resolvedAt: isoOf(at(10, 45)), status: 'resolved' },
    ])
    expect(backlog.problems()).toMatchObject([{ kind: 'shared-cause', services: ['checkout', 'search'] }])
    expect(outcome(backlog)).toEqual(outcome(run((e) => e.t)))
  })

  it('a Pingdom spool drained hours late: each outage is its own bounded incident, none resolved by staleness', () => {
    const check = (status: 'firing' | 'resolved', t: number): Ev => ({ source: 'pingdom', fp: 'pingdom:check-42', service: 'shop', status, t, name: 'Shop HTTP' })
    const events = [check('firing', at(2)), check('resolved', at(2, 7)), check('firing', at(3)), check('resolved', at(3, 4))]
    // Ticks all night; the receiver's spool reaches Kafka at 06:00.
    const inputs = byKey([
      ...events.map((e, n) => ({ key: at(6), order: n, input: alertInput(e, at(6)) })),
      ...Array.from({ length: 8 * 12 }, (_, n) => ({ key: at(0, 5 * n), order: 1e6 + n, input: tickInput(at(0, 5 * n)) })),
    ])
    const engine = deliver(inputs)
    expect(summary(engine)).toEqual([
      { services: ['shop'], alerts: ['pingdom:check-42'], openedAt: isoOf(at(2)), resolvedAt: isoOf(at(2, 7)), status: 'resolved' },
      { services: ['shop'], alerts: ['pingdom:check-42'], openedAt: isoOf(at(3)), resolvedAt: isoOf(at(3, 4)), status: 'resolved' },
    ])
    expect(engine.incidents().map((i) => i.resolvedBy)).toEqual(['alerts', 'alerts'])
  })
})

describe('event time: clocks and watermark', () => {
  it('keeps an alert that started months ago open when it is first heard of now: its receipt says it still fires', () => {
    const now = T0 + 90 * DAY
    const engine = new CorrelationEngine()
    engine.apply(tickInput(now))
    engine.apply(alertInput({ fp: 'disk', service: 'storage', status: 'firing', t: T0 }, now))
    engine.apply(tickInput(now + HOUR))
    expect(engine.incidents()).toMatchObject([{ status: 'open', openedAt: isoOf(T0) }])
    // Nothing heard for the staleness timeout after that receipt: now it is stale.
    engine.apply(tickInput(now + DAY + MIN))
    expect(engine.incidents()).toMatchObject([{ status: 'resolved', resolvedBy: 'staleness' }])
  })


  it('clamps a sender time beyond receipt + tolerance, and counts it', () => {
    const engine = deliver([alertInput({ fp: 'a', service: 'checkout', status: 'firing', t: T0 + 2 * HOUR }, T0)])
    expect(engine.stats.clamped).toBe(1)
    expect(engine.clock).toBe(T0 + MIN - LATENESS)
  })

  it('applies an event on arrival by default: a live incident shows at once', () => {
    const engine = new CorrelationEngine()
    expect(engine.apply(alertInput({ fp: 'a', service: 'checkout', status: 'firing', t: T0 }, T0))).toMatchObject([{ type: 'incident', incident: { openedAt: isoOf(T0), status: 'open' } }])
    expect(engine.stats.pending).toBe(0)
  })

  it('holds an event until the watermark passes it, then applies it; a tick moves the watermark', () => {
    const engine = new CorrelationEngine(withLateness)
    expect(engine.apply(alertInput({ fp: 'a', service: 'checkout', status: 'firing', t: T0 }, T0))).toEqual([])
    expect(engine.stats.pending).toBe(1)
    const out = engine.apply(tickInput(T0 + LATENESS))
    expect(out).toMatchObject([{ type: 'incident', incident: { openedAt: isoOf(T0), status: 'open' } }])
    expect(engine.stats.pending).toBe(0)
  })

  it('drops a late resolve for an alert older than the retention, and counts it', () => {
    // Held until the watermark reaches its receipt (the lateness after it), then judged.
    const settle = [1, 2, 6, 7].map((m) => tickInput(T0 + 40 * DAY + m * MIN))
    const engine = deliver([tickInput(T0 + 40 * DAY), alertInput({ fp: 'a', service: 'checkout', status: 'resolved', t: T0 }, T0 + 40 * DAY), ...settle])
    expect(engine.stats).toMatchObject({ late: 1, lateDropped: 1 })
    expect(engine.incidents()).toEqual([])
  })

  it('hears a redelivery of a waiting firing after its original, not before: a closed episode of its alert does not come back', () => {
    // The alert fired a day before and was closed by the staleness timeout; its next firing waits (for the
    // allowed lateness, or in a held backlog) when its redelivery comes. Heard of first, the redelivery
    // reopened the old incident, which took the new firing: one incident where there are two.
    const old = alertInput({ fp: 'x', service: 'search', status: 'firing', t: T0 }, T0)
    const next = (received: number) => alertInput({ fp: 'x', service: 'search', status: 'firing', t: T0 + 29 * HOUR }, received)
    const cases: [Partial<CorrelationConfig>, EngineInput[], EngineInput[]][] = [
      // Waiting for the allowed lateness.
      [withLateness, [old, next(T0 + 29 * HOUR)], [tickInput(T0 + 29 * HOUR + 6 * MIN)]],
      // Held with a backlog (no allowed lateness: the firing came 10 minutes after its time, behind a tick).
      [{ allowedLatenessMs: 0 }, [old, tickInput(T0 + 29 * HOUR + 10 * MIN), next(T0 + 29 * HOUR + 10 * MIN)], [tickInput(T0 + 29 * HOUR + 10 * MIN + 40_000), tickInput(T0 + 29 * HOUR + 10 * MIN + 80_000)]],
    ]
    for (const [config, before, after] of cases) {
      const once = deliver([...before, ...after, ...settleTicks(T0 + 30 * HOUR)], config)
      const twice = deliver([...before, before.at(-1)!, ...after, ...settleTicks(T0 + 30 * HOUR)], config)
      expect(once.incidents().map((i) => i.openedAt)).toEqual([isoOf(T0), isoOf(T0 + 29 * HOUR)])
      expect(outcome(twice)).toEqual(outcome(once))
      expect(twice.stats.pending).toBe(0)
      // Checkpointed while the redelivery waits behind its original, and resumed.
      const before2 = deliver([...before, before.at(-1)!], config)
      expect(before2.stats.pending).toBeGreaterThan(0)
      const resumed = new CorrelationEngine({ ...withLateness, ...config }, JSON.parse(JSON.stringify(before2.snapshot())) as EngineSnapshot)
      for (const input of [...after, ...settleTicks(T0 + 30 * HOUR)]) resumed.apply(input)
      expect(outcome(resumed)).toEqual(outcome(once))
    }
  })

  it('forgets by each event\'s own time: events shuffled within the lateness find the same retained incidents', () => {
    // A short retention (2 days): the first payments incident is forgotten near the time P applies. Forgotten
    // when the watermark passed it, it was gone before P in one delivery and there in another, and P's
    // recurring problem took it in one only.
    const at = (s: string) => Date.parse(s)
    const config: Partial<CorrelationConfig> = { allowedLatenessMs: 5 * MIN, retentionMs: 2 * DAY }
    const whole = alertInput({ fp: 'a', name: 'A', service: 'payments', status: 'resolved', t: at('2026-11-30T00:15:30Z') }, at('2026-11-30T00:15:30Z'))
    if (whole.type === 'alert') whole.event.startsAt = '2026-11-30T00:03:30.000Z'
    const p = alertInput({ source: 'pingdom', fp: 'p', name: 'A', service: 'payments', status: 'firing', t: at('2026-12-02T00:24:30Z') }, at('2026-12-02T00:24:30Z'))
    const q = alertInput({ fp: 'q', name: 'Q', service: 'search', status: 'firing', t: at('2026-12-02T00:26:30Z') }, at('2026-12-02T00:29:31Z'))
    const z = alertInput({ fp: 'z', name: 'Z', service: 'search', status: 'firing', t: at('2026-12-02T00:29:31Z') }, at('2026-12-02T00:29:31Z'))
    const before = [whole, tickInput(at('2026-11-30T00:25:30Z')), alertInput({ fp: 'a', name: 'A', service: 'payments', status: 'firing', t: at('2026-12-01T00:22:52Z') }, at('2026-12-01T00:22:52Z')), p]
    const after = [tickInput(at('2026-12-02T01:00:00Z')), tickInput(at('2026-12-05T00:00:00Z'))]
    const a = deliver([...before, q, z, ...after], config)
    const b = deliver([...before, z, q, ...after], config)
    expect(a.stats.late + b.stats.late).toBe(0)
    expect(a.problems().map((pr) => pr.kind)).toEqual(['recurring'])
    expect(outcome(b)).toEqual(outcome(a))
  })

  it('refuses an event without a readable time before changing anything, and goes on with the next', () => {
    const engine = new CorrelationEngine({ allowedLatenessMs: 0 })
    const bad = alertInput({ fp: 'a', service: 'checkout', status: 'firing', t: T0 }, T0)
    if (bad.type === 'alert') { bad.event.startsAt = 'soon'; bad.event.receivedAt = 'now' }
    expect(() => engine.apply(bad)).toThrow(EventTimeError)
    expect(engine.stats.pending).toBe(0)
    expect(engine.apply(alertInput({ fp: 'b', service: 'checkout', status: 'firing', t: T0 }, T0))).toMatchObject([{ type: 'incident' }])
  })

  it('refuses a version-1 snapshot with an error the caller can act on', () => {
    const old = { version: 1, clock: 0, seen: [], alerts: [], incidents: [] } as unknown as EngineSnapshot
    expect(() => new CorrelationEngine({}, old)).toThrow(SnapshotVersionError)
    try { new CorrelationEngine({}, old) } catch (err) { expect(err).toMatchObject({ code: 'SNAPSHOT_VERSION', retriable: false, found: 1 }) }
  })

  it('refuses a version-2 snapshot (event ids as a list of strings): the partition replays instead', () => {
    const old = { version: 2, watermark: 0, highWater: 0, seen: [['a'.repeat(32), 0]], pending: [], alerts: [], incidents: [] } as unknown as EngineSnapshot
    expect(() => new CorrelationEngine({}, old)).toThrow(SnapshotVersionError)
  })

  it('restores a snapshot taken from a live engine without sharing its state', () => {
    const engine = deliver([alertInput({ fp: 'a', service: 'checkout', status: 'firing', t: T0 }, T0), tickInput(T0 + 10 * MIN)])
    const copy = new CorrelationEngine(withLateness, engine.snapshot())
    engine.apply(alertInput({ fp: 'b', service: 'checkout', status: 'firing', t: T0 + 11 * MIN }, T0 + 11 * MIN))
    engine.apply(tickInput(T0 + 20 * MIN))
    expect(copy.incidents()[0]!.alerts).toHaveLength(1)
    expect(engine.incidents()[0]!.alerts).toHaveLength(2)
  })
})

// Issue 11's scenarios as the correlator runs by default: allowed lateness 0, and wall-clock ticks that
// have already passed every event of a backlog, so each event is late and applied on arrival. The
// labelled corpus (docs/corpus.md) measures the same on the whole pipeline.
describe('event time: scenarios with the default allowed lateness, ticks passed', () => {
  const at = (h: number, m = 0) => T0 + h * HOUR + m * MIN
  const lateness0: Partial<CorrelationConfig> = { allowedLatenessMs: 0 }
  /** Live: each event received at its time, a tick every minute, for `hours` hours. */
  const live = (events: Ev[], hours: number) => deliver(byKey([
    ...events.map((e, n) => ({ key: e.t, order: n, input: alertInput(e, e.t) })),
    ...Array.from({ length: hours * 60 }, (_, n) => ({ key: T0 + (n + 1) * MIN, order: 1e6 + n, input: tickInput(T0 + (n + 1) * MIN) })),
  ]), lateness0)

  it('a backlog after a 30-minute receiver outage, each alert in its own order: the incidents of live delivery', () => {
    const events: Ev[] = [
      { fp: 'co-1', service: 'checkout', status: 'firing', t: at(10, 5), host: 'db-1' },
      { fp: 'se-1', service: 'search', status: 'firing', t: at(10, 7), host: 'db-1' },
      { fp: 'co-1', service: 'checkout', status: 'resolved', t: at(10, 12), host: 'db-1' },
      { fp: 'co-2', service: 'checkout', status: 'firing', t: at(10, 25) },
      { fp: 'se-1', service: 'search', status: 'resolved', t: at(10, 40), host: 'db-1' },
      { fp: 'co-2', service: 'checkout', status: 'resolved', t: at(10, 45) },
    ]
    // The receiver is down 10:00–10:30 and takes the outage's alerts at 10:30, after the ticks of 10:30.
    const received = (e: Ev) => (e.t >= at(10) && e.t < at(10, 30) ? at(10, 30) : e.t)
    const backlog = deliver(byKey([
      ...events.map((e, n) => ({ key: received(e), order: n, input: alertInput(e, received(e)) })),
      ...Array.from({ length: 14 * 60 }, (_, n) => ({ key: T0 + (n + 1) * MIN, order: -1e6 + n, input: tickInput(T0 + (n + 1) * MIN) })),
    ]), lateness0)
    expect(backlog.stats.late).toBe(4)
    expect(outcome(backlog)).toEqual(outcome(live(events, 14)))
  })

  it('a Pingdom spool drained four hours late: each outage its own incident, as live', () => {
    const check = (status: 'firing' | 'resolved', t: number): Ev => ({ source: 'pingdom', fp: 'pingdom:check-42', service: 'shop', status, t, name: 'Shop HTTP' })
    const events = [check('firing', at(2)), check('resolved', at(2, 7)), check('firing', at(3)), check('resolved', at(3, 4))]
    const drained = deliver(byKey([
      ...events.map((e, n) => ({ key: at(6), order: n, input: alertInput(e, at(6)) })),
      ...Array.from({ length: 8 * 60 }, (_, n) => ({ key: T0 + (n + 1) * MIN, order: -1e6 + n, input: tickInput(T0 + (n + 1) * MIN) })),
    ]), lateness0)
    expect(drained.stats.late).toBe(4)
    expect(outcome(drained)).toEqual(outcome(live(events, 8)))
  })

  // The day in one burst, with Alertmanager, Pingdom and a complaint about one outage.
  const day: Ev[] = [
    { fp: 'co-5xx', service: 'checkout', status: 'firing', t: at(9, 0), name: 'CheckoutErrors' },
    { source: 'pingdom', fp: 'check-61207', service: 'checkout', status: 'firing', t: at(9, 2), name: 'Checkout flow' },
    { source: 'report', fp: 'zd-1', service: 'checkout', status: 'firing', t: at(9, 12), name: 'report:customer-complaint' },
    { fp: 'co-5xx', service: 'checkout', status: 'resolved', t: at(9, 31), name: 'CheckoutErrors' },
    { source: 'pingdom', fp: 'check-61207', service: 'checkout', status: 'resolved', t: at(9, 35), name: 'Checkout flow' },
    { fp: 'co-5xx', service: 'checkout', status: 'firing', t: at(14, 0), name: 'CheckoutErrors' },
    { fp: 'co-5xx', service: 'checkout', status: 'resolved', t: at(14, 26), name: 'CheckoutErrors' },
  ]
  const burstAfterTicks = (events: Ev[]) => deliver([tickInput(at(23)), ...events.map((e) => alertInput(e, at(23))), tickInput(at(23, 1)), tickInput(at(23, 2))], lateness0)

  it('a day in one burst, in event-time order: the incidents of live delivery', () => {
    expect(outcome(burstAfterTicks(day))).toEqual(outcome(live(day, 23)))
  })

  // Sender by sender, the Alertmanager alert's resolve comes before Pingdom's firing: applied on arrival,
  // it closed the morning incident at once. The backlog is held and applied in event-time order now.
  it('a day in one burst, each sender in its own order (Alertmanager, Pingdom, reports): the incidents of live delivery', () => {
    const bySender = ['alertmanager', 'pingdom', 'report'].flatMap((src) => day.filter((e) => (e.source ?? 'alertmanager') === src))
    expect(outcome(burstAfterTicks(bySender))).toEqual(outcome(live(day, 23)))
  })
})

describe('event time: repeats and notification groups around a held backlog', () => {
  /** Inputs delivered at `arrival`, ticks at `order` -1 before the events of their instant. */
  const at = (items: { arrival: number; input: EngineInput }[], ticks: number[]) =>
    byKey([...items.map((x, n) => ({ key: x.arrival, order: n, input: x.input })), ...ticks.map((t, n) => ({ key: t, order: -1e6 + n, input: tickInput(t) }))])
  const minutes = (from: number, to: number) => Array.from({ length: (to - from) / MIN + 1 }, (_, i) => from + i * MIN)

  // Alertmanager repeats c every hour (same start, same event id); two hours of staleness. c fires at 00:00,
  // x of its service at 02:01, c's repeat is received at 02:02: live, c's incident was guessed over at 02:00,
  // x opened its own, and the repeat took the guess back.
  const STALE = 2 * HOUR
  const stale: Partial<CorrelationConfig> = { stalenessMs: { alertmanager: STALE, pingdom: 0, report: DAY } }
  const c: Ev = { fp: 'c', service: 'payments', status: 'firing', t: T0, name: 'PaymentsErrors' }
  const x: Ev = { fp: 'x', service: 'payments', status: 'firing', t: T0 + STALE + MIN, name: 'PaymentsLatency' }
  const repeatReceived = T0 + STALE + 2 * MIN
  const repeatRun = (repeatArrives: number, cfg: Partial<CorrelationConfig>, arrival: (t: number) => number = (t) => t) => deliver(at([
    { arrival: arrival(c.t), input: alertInput(c, c.t) },
    { arrival: arrival(x.t), input: alertInput(x, x.t) },
    { arrival: repeatArrives, input: alertInput(c, repeatReceived) },
  ], minutes(T0, T0 + STALE + 30 * MIN)), { ...stale, ...cfg })

  it('hears a repeat at its receipt, not on arrival: the same incidents whether it comes at once or minutes later', () => {
    const members = (e: CorrelationEngine) => e.incidents().map((i) => i.alerts.map((a) => a.fingerprint).join('+')).sort()
    const onTime = repeatRun(repeatReceived, {})
    expect(members(onTime)).toEqual(['c', 'x'])
    // Within the allowed lateness: it was heard before the staleness timeout ran, and took nothing back.
    expect(outcome(repeatRun(repeatReceived + 4 * MIN, {}))).toEqual(outcome(onTime))
    // Lateness 0, a 10-minute Kafka outage drained afterwards: the repeat waits with the held backlog of its group.
    const drained = (t: number) => (t > T0 + STALE - 5 * MIN && t < T0 + STALE + 10 * MIN ? T0 + STALE + 10 * MIN : t)
    const live = repeatRun(repeatReceived, { allowedLatenessMs: 0 })
    expect(members(live)).toEqual(['c', 'x'])
    expect(outcome(repeatRun(drained(repeatReceived), { allowedLatenessMs: 0 }, drained))).toEqual(outcome(live))
  })

  it('judges a repeat whose id retention forgot at its receipt: the incident its guess closed is gone or not whatever minute of the lateness it comes in', () => {
    // Found with a 6-hour retention (engine.delivery.property.test.ts): c's id is kept a retention from its
    // delivery (00:00), its incident a retention from the guess (02:00), so a repeat received at 08:02 is a
    // new event 8 hours late, held. Released as soon as the hold was quiet, it met c's incident still kept
    // when it came at once (it took c back into it) and forgotten when it came 3 minutes later (an incident of
    // its own): now the hold waits for the watermark to reach its receipt.
    const cfg: Partial<CorrelationConfig> = { ...withLateness, ...stale, retentionMs: 6 * HOUR }
    const received = T0 + 8 * HOUR + 2 * MIN
    const run = (arrives: number) => deliver(at([{ arrival: c.t, input: alertInput(c, c.t) }, { arrival: arrives, input: alertInput(c, received) }], minutes(T0, received + 30 * MIN)), cfg)
    const onTime = run(received)
    expect(onTime.stats.late).toBe(1)
    expect(outcome(run(received + 3 * MIN))).toEqual(outcome(onTime))
    expect(outcome(run(received + 4 * MIN))).toEqual(outcome(onTime))
  })

  it('waits for the watermark to reach the held receipts when restored mid-hold, as the live engine does (heldUntil)', () => {
    // A firing from 00:10 received at 01:00 is held (until = 01:00, the watermark 00:55): quiet from the tick of
    // 01:02 on, released at the first tick whose watermark has reached 01:00 (the tick of 01:06, after 01:05's).
    // The restore property's streams seldom have a quiet hold whose receipt is ahead of the watermark: an engine
    // restored without heldUntil went on there as the live one, and released this hold 3 minutes early.
    const received = T0 + HOUR
    const inputs = [...minutes(T0, received).map(tickInput), alertInput({ fp: 'a', service: 'checkout', status: 'firing', t: T0 + 10 * MIN }, received), ...minutes(received + MIN, received + 10 * MIN).map(tickInput)]
    const run = (restoreAt: number) => {
      let engine = new CorrelationEngine(withLateness)
      return inputs.map((input, i) => {
        if (i === restoreAt) engine = new CorrelationEngine(withLateness, JSON.parse(JSON.stringify(engine.snapshot())) as EngineSnapshot)
        const out = JSON.stringify(engine.apply(input))
        return { out, held: engine.stats.pending }
      })
    }
    const live = run(-1)
    const released = live.findIndex((x, i) => i > 61 && x.held === 0)
    expect(inputs[released]).toEqual(tickInput(received + 6 * MIN))
    for (let k = 1; k < inputs.length; k++) expect(run(k), `restored before input ${k}`).toEqual(live)
  })

  it('hears a repeat that comes with its original in a held backlog at its own receipt: the guess before it stands, as live', () => {
    // c fires at 00:00, is guessed over at 02:00; x of its service fires at 02:10 and opens its own incident;
    // c's repeat received at 02:30 takes the guess back. All three reach the correlator at 02:40 in one
    // backlog. Heard right after c's firing, at 00:00, the repeat kept c firing through 02:00: no guess, and
    // x joined c's incident.
    const x2: Ev = { ...x, t: T0 + STALE + 10 * MIN }
    const repeatAt = T0 + STALE + 30 * MIN
    const drainedAt = T0 + STALE + 40 * MIN
    const run = (arrival: (received: number) => number) => deliver(at([
      { arrival: arrival(c.t), input: alertInput(c, c.t) },
      { arrival: arrival(x2.t), input: alertInput(x2, x2.t) },
      { arrival: arrival(repeatAt), input: alertInput(c, repeatAt) },
    ], minutes(T0, T0 + STALE + 60 * MIN)), { ...stale, allowedLatenessMs: 0 })
    const live = run((t) => t)
    expect(live.incidents().map((i) => [i.alerts.map((a) => a.fingerprint).join('+'), i.status]).sort()).toEqual([['c', 'open'], ['x', 'open']])
    const backlog = run(() => drainedAt)
    expect(backlog.stats.late).toBe(2)
    expect(outcome(backlog)).toEqual(outcome(live))
  })

  it("a late alert joins its own group's incident that held its time, resolved since, before its notification group's open one", () => {
    // b, grouped by a rule (team), fires at 05:00 in notification group g1 and stays. x of checkout fires at
    // 05:00 and resolves at 05:12. a of checkout, in g1 too, fired 05:10-05:11 (sent resolved, with its start):
    // live it joins x's incident, the owner of checkout's group. Posted at 05:30, after x's incident resolved,
    // it joined b's incident through g1.
    const grouping = compileGroupingRules({ version: 1, groupBy: { rules: [{ name: 'teams', match: { labels: { team: { present: true } } }, by: ['labels.team'] }] } })
    const cfg: Partial<CorrelationConfig> = { grouping, allowedLatenessMs: 0, lateHold: { afterMs: 5 * MIN, quietMs: 30_000, maxMs: 10 * MIN, maxEvents: 100_000, expectTicks: true } }
    const inG1 = (e: Ev, labels: Record<string, string> = {}): EngineInput => {
      const input = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      input.event.labels = { ...input.event.labels, ...labels }
      input.event.origin = { groupKey: '{}:{namespace="shop"}' }
      if (e.status === 'resolved') input.event.startsAt = isoOf(e.t - MIN)
      return input
    }
    const h = (m: number) => T0 + 5 * HOUR + m * MIN
    const b = inG1({ fp: 'b', service: 'checkout', status: 'firing', t: h(0), name: 'QueueBacklog' }, { team: 'orders' })
    const x0: Ev = { fp: 'x', service: 'checkout', status: 'firing', t: h(0), name: 'CheckoutErrors' }
    const x1: Ev = { ...x0, status: 'resolved', t: h(12) }
    const a = inG1({ fp: 'a', service: 'checkout', status: 'resolved', t: h(11), name: 'CheckoutLatency' })
    const run = (aArrives: number) => deliver(at([
      { arrival: h(0), input: b },
      { arrival: x0.t, input: alertInput(x0, x0.t) },
      { arrival: aArrives, input: a },
      { arrival: x1.t, input: alertInput(x1, x1.t) },
    ], minutes(h(-10), h(60))), cfg)
    const live = run(h(11))
    expect(live.incidents().map((i) => i.alerts.map((m) => m.fingerprint).join('+')).sort()).toEqual(['b', 'x+a'])
    const late = run(h(30))
    expect(late.stats.late).toBe(1)
    expect(outcome(late)).toEqual(outcome(live))
  })

  it("holds an alert of a held alert's notification group with the backlog: a crash loop and its replica mismatch stay one incident", () => {
    // docs/grouping.md's rule: crash loops per workload, whatever service they name; the replica mismatch is
    // grouped by default and joins the crash loop's incident through their notification group.
    const grouping = compileGroupingRules({ version: 1, groupBy: { rules: [{ name: 'crash loops per workload', match: { source: 'alertmanager', labels: { alertname: { regex: 'KubePod.*' }, namespace: { present: true } } }, by: ['labels.namespace', 'labels.container'] }] } })
    const cfg: Partial<CorrelationConfig> = { grouping, allowedLatenessMs: 0, lateHold: { afterMs: 5 * MIN, quietMs: 30_000, maxMs: 10 * MIN, maxEvents: 100_000, expectTicks: true } }
    const kube = (e: Ev, labels: Record<string, string>): EngineInput => {
      const input = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      input.event.labels = { ...input.event.labels, namespace: 'shop', ...labels }
      input.event.origin = { groupKey: '{}/{}:{namespace="shop"}' }
      return input
    }
    const crash = kube({ fp: 'crash', service: 'checkout', status: 'firing', t: T0 + 10 * HOUR, name: 'KubePodCrashLooping' }, { container: 'checkout' })
    const mismatch = kube({ fp: 'mismatch', service: 'checkout', status: 'firing', t: T0 + 10 * HOUR + 9 * MIN, name: 'KubeDeploymentReplicasMismatch' }, { deployment: 'checkout' })
    const ticks = Array.from({ length: 2 * 3600 / 5 + 1 }, (_, i) => T0 + 9 * HOUR + i * 5000)
    const run = (crashArrives: number) => deliver(at([{ arrival: crashArrives, input: crash }, { arrival: T0 + 10 * HOUR + 9 * MIN, input: mismatch }], ticks), cfg)
    const live = run(T0 + 10 * HOUR)
    expect(live.incidents().map((i) => i.alerts.map((a) => a.fingerprint))).toEqual([['crash', 'mismatch']])
    // Retried by Alertmanager after a receiver outage, or both in the one notification it sends at 10:09.
    expect(outcome(run(T0 + 10 * HOUR + 8 * MIN + 50_000))).toEqual(outcome(live))
    expect(outcome(run(T0 + 10 * HOUR + 9 * MIN))).toEqual(outcome(live))
  })
})

describe("event time: a held report from before a person's resolve", () => {
  it('joins the incident they resolved, which owned its group at its time, not an older open one', () => {
    const at = (h: number, m: number) => T0 + h * HOUR + m * MIN
    const cfg: Partial<CorrelationConfig> = { allowedLatenessMs: 0, lateHold: { afterMs: 5 * MIN, quietMs: 30_000, maxMs: 10 * MIN, maxEvents: 100_000, expectTicks: true } }
    // 01:00 a complaint (an incident of reports alone); 01:40 the alert (an incident of its own, which owns
    // the group); 02:00 a second complaint, about the alert's outage; 02:20 a person resolves the alert's incident.
    const r1: Ev = { source: 'report', fp: 'r1', service: 'checkout', status: 'firing', t: at(1, 0), name: 'report:customer-complaint' }
    const errors: Ev = { fp: 'co-5xx', service: 'checkout', status: 'firing', t: at(1, 40), name: 'CheckoutErrors' }
    const r2: Ev = { source: 'report', fp: 'r2', service: 'checkout', status: 'firing', t: at(2, 0), name: 'report:customer-complaint' }
    const resolve: EngineInput = { type: 'command', command: { id: 'c1', type: 'incident.resolve', target: hashId('inc', event(errors, errors.t).id), environment: 'production', actor: 'dana', at: isoOf(at(2, 20)) } }
    const run = (r2Arrives: number) => deliver(byKey([
      { key: r1.t, order: 0, input: alertInput(r1, r1.t) },
      { key: errors.t, order: 0, input: alertInput(errors, errors.t) },
      { key: r2Arrives, order: 0, input: alertInput(r2, r2.t) },
      { key: at(2, 20), order: 1, input: resolve },
      ...Array.from({ length: 4 * 60 + 1 }, (_, n) => ({ key: T0 + n * MIN, order: -1, input: tickInput(T0 + n * MIN) })),
    ]), cfg)
    const live = run(r2.t)
    const withErrors = live.incidents().find((i) => i.alerts.length > 0)!
    expect([withErrors.reports.length, withErrors.customerImpact, withErrors.resolvedBy]).toEqual([1, true, 'manual'])
    // The complaint's tool posted it 19 minutes late: held with the backlog, applied after the person's decision.
    const held = run(at(2, 19))
    expect(held.stats.late).toBe(1)
    expect(outcome(held)).toEqual(outcome(live))
  })
})

describe('event time: a backlog across a staleness guess', () => {
  it("moves the decision to the alerts' when the real resolve in the backlog replaces the guess: a re-fire after it reopens, as live", () => {
    // Nothing lost this time: it resolved at 23:10 and fired again at 23:20, both spooled through the outage.
    // Live, the incident resolved at 23:15 (quiet period) and the re-fire reopened it (counted).
    const events: Ev[] = [
      { fp: 'disk', service: 'payments', status: 'firing', t: T0, name: 'DiskFilling' },
      { fp: 'disk', service: 'payments', status: 'resolved', t: T0 + 23 * HOUR + 10 * MIN, name: 'DiskFilling' },
      { fp: 'disk', service: 'payments', status: 'firing', t: T0 + 23 * HOUR + 20 * MIN, name: 'DiskFilling' },
    ]
    // Alertmanager sends the resolve with the alert's start.
    const input = (e: Ev): EngineInput => {
      const x = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      if (e.status === 'resolved') x.event.startsAt = isoOf(T0)
      return x
    }
    const run = (spoolUntil: number | null) => deliver(byKey([
      ...events.map((e, n) => ({ key: spoolUntil !== null && e.t >= T0 + 23 * HOUR ? spoolUntil : e.t, order: n, input: input(e) })),
      ...Array.from({ length: 50 * 60 + 1 }, (_, n) => ({ key: T0 + n * MIN, order: -1, input: tickInput(T0 + n * MIN) })),
    ]), { allowedLatenessMs: 0, lateHold: { afterMs: 5 * MIN, quietMs: 30_000, maxMs: 10 * MIN, maxEvents: 100_000, expectTicks: true } })
    const live = run(null)
    expect(live.incidents().map((i) => [i.reopenCount, i.alerts[0]!.flapCount])).toEqual([[1, 1]])
    expect(outcome(run(T0 + 24 * HOUR + 30 * MIN))).toEqual(outcome(live))
  })
})

// The late-event tests below: times as hours and minutes, lateness 0 with a backlog held until 30 s of quiet
// ticks, and a tick every minute for `hours`.
const atHM = (h: number, m: number) => T0 + h * HOUR + m * MIN
const heldBacklog: Partial<CorrelationConfig> = { allowedLatenessMs: 0, lateHold: { afterMs: 5 * MIN, quietMs: 30_000, maxMs: 10 * MIN, maxEvents: 100_000, expectTicks: true } }
/** A held backlog in which a complaints' incident closes by the report timeout (3 h) during the backlog. */
const heldBacklogReportTimeout: Partial<CorrelationConfig> = { ...heldBacklog, stalenessMs: { alertmanager: DAY, pingdom: 0, report: 3 * HOUR } }
/**
 * An alert (or, with `source` report, a complaint) of checkout at minute `m` after T0, received then, named
 * after its fingerprint; `from`: its start, for a resolve that carries the whole episode.
 */
function minuteInput(fp: string, status: 'firing' | 'resolved', m: number, from?: number, source?: 'report'): EngineInput {
  const i = alertInput({ source, fp, service: 'checkout', status, t: atHM(0, m), name: source ? 'report:customer-complaint' : fp.toUpperCase() }, atHM(0, m)) as Extract<EngineInput, { type: 'alert' }>
  if (from !== undefined) i.event.startsAt = isoOf(atHM(0, from))
  return i
}
const minuteTicks = (hours: number) => Array.from({ length: hours * 60 + 1 }, (_, n) => ({ key: T0 + n * MIN, order: -1, input: tickInput(T0 + n * MIN) }))

/**
 * Staleness 40 min. b and a fire at 00:00 (one incident; a goes on firing). b resolves at 00:01 and fires
 * again at 00:30 (a whole episode: Alertmanager sends it resolved at 00:31 with its start). The episode and
 * the 00:01 resolve arrive when given (null: on time); `resolve` is the 00:01 resolve's input.
 */
function resolveInFlight(episodeArrives: number | null, resolveArrives: number | null) {
  const cfg: Partial<CorrelationConfig> = { ...heldBacklog, stalenessMs: { alertmanager: 40 * MIN, pingdom: 0, report: 40 * MIN } }
  const b0: Ev = { fp: 'b', service: 'search', status: 'firing', t: atHM(0, 0), name: 'B' }
  const a0: Ev = { fp: 'a', service: 'search', status: 'firing', t: atHM(0, 0), name: 'A' }
  const b1: Ev = { fp: 'b', service: 'search', status: 'resolved', t: atHM(0, 1), name: 'B' }
  const b2: Ev = { fp: 'b', service: 'search', status: 'resolved', t: atHM(0, 31), name: 'B' }
  const resolve = alertInput(b1, b1.t)
  const inputs = byKey([
    { key: b0.t, order: 0, input: alertInput(b0, b0.t) },
    { key: a0.t, order: 1, input: alertInput(a0, a0.t) },
    { key: resolveArrives ?? b1.t, order: 0, input: resolve },
    { key: episodeArrives ?? b2.t, order: 0, input: alertInput(b2, b2.t) },
    ...minuteTicks(4),
  ])
  return { cfg, inputs, resolve }
}

describe('event time: late events that must not move', () => {

  it('a late report stays in the open incident it joined in order, not one that opened only after it', () => {
    // 01:00 a fires, 01:10 it resolves: incident A resolves at 01:15. 01:12 a complaint (A open: it joins A).
    // 01:20 b fires: incident B. 01:25 a fires again: A reopens; B keeps the group. 01:28 b resolves: B resolves
    // at 01:33. The complaint's tool posts it 28 minutes late: B's span reaches back to it, but B opened after it.
    const a1: Ev = { fp: 'a', service: 'checkout', status: 'firing', t: atHM(1, 0), name: 'A' }
    const a1r: Ev = { fp: 'a', service: 'checkout', status: 'resolved', t: atHM(1, 10), name: 'A' }
    const r2: Ev = { source: 'report', fp: 'r2', service: 'checkout', status: 'firing', t: atHM(1, 12), name: 'report:customer-complaint' }
    const b1: Ev = { fp: 'b', service: 'checkout', status: 'firing', t: atHM(1, 20), name: 'B' }
    const a2: Ev = { fp: 'a', service: 'checkout', status: 'firing', t: atHM(1, 25), name: 'A' }
    const b1r: Ev = { fp: 'b', service: 'checkout', status: 'resolved', t: atHM(1, 28), name: 'B' }
    const input = (e: Ev): EngineInput => {
      const x = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      if (e.status === 'resolved') x.event.startsAt = isoOf(e.fp === 'a' ? a1.t : b1.t)
      return x
    }
    const run = (r2Arrives: number) => deliver(byKey([
      ...[a1, a1r, b1, a2, b1r].map((e, n) => ({ key: e.t, order: n, input: input(e) })),
      { key: r2Arrives, order: 0, input: input(r2) },
      ...minuteTicks(3),
    ]), heldBacklog)
    const live = run(r2.t)
    expect(live.incidents().filter((i) => i.reports.length > 0).map((i) => i.alerts.map((m) => m.fingerprint))).toEqual([['a']])
    const late = run(atHM(1, 40))
    expect(late.stats.late).toBe(1)
    expect(outcome(late)).toEqual(outcome(live))
  })

  it('a late report keeps an incident of reports alone open from its time, as live, when the report timeout closed it meanwhile', () => {
    // Report timeout 2 h. A complaint at 00:00 opens an incident of reports alone; a second one at 01:30 joins
    // it and, live, keeps it open until 03:30 (resolved at 01:30). Its tool posts it at 02:30, after the
    // timeout closed the incident at 02:00 from the first: it only added to it, resolved at 00:00.
    const cfg: Partial<CorrelationConfig> = { ...heldBacklog, stalenessMs: { alertmanager: DAY, pingdom: 0, report: 2 * HOUR } }
    const r1: Ev = { source: 'report', fp: 'r1', service: 'checkout', status: 'firing', t: atHM(0, 0), name: 'report:customer-complaint' }
    const r2: Ev = { source: 'report', fp: 'r2', service: 'checkout', status: 'firing', t: atHM(1, 30), name: 'report:customer-complaint' }
    const run = (r2Arrives: number) => deliver(byKey([
      { key: r1.t, order: 0, input: alertInput(r1, r1.t) },
      { key: r2Arrives, order: 0, input: alertInput(r2, r2.t) },
      ...minuteTicks(5),
    ]), cfg)
    const live = run(r2.t)
    expect(live.incidents().map((i) => [i.reports.length, i.status, i.resolvedAt])).toEqual([[2, 'resolved', isoOf(atHM(1, 30))]])
    const late = run(atHM(2, 30))
    expect(late.stats.late).toBe(1)
    expect(outcome(late)).toEqual(outcome(live))
  })

  it("a re-fire after a staleness guess whose earlier real resolve is still in flight counts its flap, as live", () => {
    // `resolveInFlight`: two receivers' spools bring the episode at 00:39, after the guess, and the 00:01
    // resolve at 00:41:30.
    const run = (episodeArrives: number | null, resolveArrives: number | null) => {
      const { cfg, inputs } = resolveInFlight(episodeArrives, resolveArrives)
      return deliver(inputs, cfg)
    }
    const live = run(null, null)
    expect(live.incidents().map((i) => i.alerts.map((m) => [m.fingerprint, m.flapCount]))).toEqual([[['b', 1], ['a', 0]]])
    expect(outcome(run(atHM(0, 39), atHM(0, 41) + 30_000))).toEqual(outcome(live))
  })
})

describe('event time: a late event among incidents that resolved during the backlog', () => {

  it('a late report goes to the newest incident its time falls in, as live, when both resolved during the backlog', () => {
    // Report timeout 3 h. c fires at 05:00; a complaint at 09:48, when c's incident has been quiet longer than
    // the join window, opens an incident of reports alone, the newest of the group, which owns it. c ends at
    // 10:44 and fires again at 10:45 in its incident; it resolves at 12:00. A second complaint at 11:45 joins
    // the owner live. Spooled until 13:00, when c's incident (decided 12:05) and the complaints' (12:48, the
    // timeout) have both resolved: it joined c's, the first decided after it, where c had just fired again.
    const cfg = heldBacklogReportTimeout
    const c0: Ev = { fp: 'c', service: 'search', status: 'firing', t: atHM(5, 0), name: 'C' }
    const r1: Ev = { source: 'report', fp: 'r1', service: 'search', status: 'firing', t: atHM(9, 48), name: 'report:customer-complaint' }
    const c1: Ev = { fp: 'c', service: 'search', status: 'resolved', t: atHM(10, 44), name: 'C' }
    const c2: Ev = { fp: 'c', service: 'search', status: 'firing', t: atHM(10, 45), name: 'C' }
    const r2: Ev = { source: 'report', fp: 'r2', service: 'search', status: 'firing', t: atHM(11, 45), name: 'report:customer-complaint' }
    const c3: Ev = { fp: 'c', service: 'search', status: 'resolved', t: atHM(12, 0), name: 'C' }
    const input = (e: Ev): EngineInput => {
      const x = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      if (e === c1) x.event.startsAt = isoOf(c0.t)
      if (e === c3) x.event.startsAt = isoOf(c2.t)
      return x
    }
    const run = (r2Arrives: number) => deliver(byKey([
      ...[c0, r1, c1, c2, c3].map((e, n) => ({ key: e.t, order: n, input: input(e) })),
      { key: r2Arrives, order: 0, input: input(r2) },
      ...minuteTicks(18),
    ]), cfg)
    const live = run(r2.t)
    expect(live.incidents().map((i) => [i.alerts.length, i.reports.length])).toEqual([[1, 0], [0, 2]])
    const spooled = run(atHM(13, 0))
    expect(spooled.stats.late).toBe(1)
    expect(outcome(spooled)).toEqual(outcome(live))
  })

  it('a late alert goes to the incident that held it then, not to a newer one opened after its time that takes it by a report', () => {
    // a fires at 00:00 and ends at 00:01; a complaint at 00:02 joins its incident; b fires at 00:03 and ends at
    // 00:04: live it joins too, and the incident resolves at 00:09. A complaint at 00:10 opens an incident of
    // reports alone, which the 3-hour report timeout closes at 03:10. b's two events, spooled until 03:30, found
    // both resolved: the complaints' incident, the newest, takes b (a complaint within the report window,
    // after b), though it opened only after b's time; live b was in a's.
    const cfg = heldBacklogReportTimeout
    const a0: Ev = { fp: 'a', service: 'search', status: 'firing', t: atHM(0, 0), name: 'A' }
    const a1: Ev = { fp: 'a', service: 'search', status: 'resolved', t: atHM(0, 1), name: 'A' }
    const r1: Ev = { source: 'report', fp: 'r1', service: 'search', status: 'firing', t: atHM(0, 2), name: 'report:customer-complaint' }
    const b0: Ev = { fp: 'b', service: 'search', status: 'firing', t: atHM(0, 3), name: 'B' }
    const b1: Ev = { fp: 'b', service: 'search', status: 'resolved', t: atHM(0, 4), name: 'B' }
    const r2: Ev = { source: 'report', fp: 'r2', service: 'search', status: 'firing', t: atHM(0, 10), name: 'report:customer-complaint' }
    const input = (e: Ev): EngineInput => {
      const x = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      if (e === a1) x.event.startsAt = isoOf(a0.t)
      if (e === b1) x.event.startsAt = isoOf(b0.t)
      return x
    }
    const run = (bArrives: number | null) => deliver(byKey([
      ...[a0, a1, r1, b0, b1, r2].map((e, n) => ({ key: bArrives !== null && (e === b0 || e === b1) ? bArrives : e.t, order: n, input: input(e) })),
      ...minuteTicks(5),
    ]), cfg)
    const live = run(null)
    expect(live.incidents().map((i) => [i.alerts.map((m) => m.fingerprint), i.reports.length])).toEqual([[['a', 'b'], 1], [[], 1]])
    const spooled = run(atHM(3, 30))
    expect(spooled.stats.late).toBe(2)
    expect(outcome(spooled)).toEqual(outcome(live))
  })
  it('a late whole episode goes to the incident open at its end, not to one that had resolved before it', () => {
    // Report timeout 3 h. A complaint at 00:02 opens an incident of reports alone. e fires at 00:39 and ends at
    // 00:40: an incident of its own (37 minutes after the complaint, out of the report window), resolved at
    // 00:45, when the complaints' incident owns the group again. a fired from 00:00 to 00:48 between two flushes:
    // Alertmanager sends it once, resolved, with its start. Live at 00:48 it joins the complaints' incident,
    // open. Spooled until 03:10, after the report timeout closed that incident at 03:02, it found both resolved
    // and opened after its start, and joined e's, the first decided, which had resolved before it ended.
    const cfg = heldBacklogReportTimeout
    const r: Ev = { source: 'report', fp: 'r', service: 'checkout', status: 'firing', t: atHM(0, 2), name: 'report:customer-complaint' }
    const e0: Ev = { fp: 'e', service: 'checkout', status: 'firing', t: atHM(0, 39), name: 'E' }
    const e1: Ev = { fp: 'e', service: 'checkout', status: 'resolved', t: atHM(0, 40), name: 'E' }
    const a: Ev = { fp: 'a', service: 'checkout', status: 'resolved', t: atHM(0, 48), name: 'A' }
    const input = (x: Ev): EngineInput => {
      const i = alertInput(x, x.t) as Extract<EngineInput, { type: 'alert' }>
      if (x === e1) i.event.startsAt = isoOf(e0.t)
      if (x === a) i.event.startsAt = isoOf(atHM(0, 0))
      return i
    }
    const run = (aArrives: number) => deliver(byKey([
      ...[r, e0, e1].map((x, n) => ({ key: x.t, order: n, input: input(x) })),
      { key: aArrives, order: 0, input: input(a) },
      ...minuteTicks(5),
    ]), cfg)
    const live = run(a.t)
    expect(live.incidents().map((i) => [i.alerts.map((m) => m.fingerprint), i.reports.length])).toEqual([[['a'], 1], [['e'], 0]])
    const spooled = run(atHM(3, 10))
    expect(spooled.stats.late).toBe(1)
    expect(outcome(spooled)).toEqual(outcome(live))
  })
  /**
   * Report timeout 3 h. a fires at 00:00 and goes on firing. A complaint at 04:10, more than the join window
   * after a's last word, opens an incident of reports alone, the newest of the group, which owns it. e fired
   * from 03:30 to 04:20 between two flushes: live at 04:20 it joins the owner, the complaints' incident (it
   * overlaps the complaint). `shortOutages` of checkout from 07:11, each its own incident resolved a minute
   * later, are decided after the complaints' incident. Returns the live run and one with e arriving at `spooledTo`.
   */
  function complaintAndEpisode(shortOutages: number, spooledTo: number) {
    const cfg = heldBacklogReportTimeout
    const a: Ev = { fp: 'a', service: 'checkout', status: 'firing', t: atHM(0, 0), name: 'A' }
    const r: Ev = { source: 'report', fp: 'r', service: 'checkout', status: 'firing', t: atHM(4, 10), name: 'report:customer-complaint' }
    const e: Ev = { fp: 'e', service: 'checkout', status: 'resolved', t: atHM(4, 20), name: 'E' }
    const short = Array.from({ length: shortOutages }, (_, i): Ev[] => [
      { fp: `g${i}`, service: 'checkout', status: 'firing', t: atHM(7, 11 + 10 * i), name: `G${i}` },
      { fp: `g${i}`, service: 'checkout', status: 'resolved', t: atHM(7, 12 + 10 * i), name: `G${i}` },
    ]).flat()
    const input = (x: Ev): EngineInput => {
      const i = alertInput(x, x.t) as Extract<EngineInput, { type: 'alert' }>
      if (x === e) i.event.startsAt = isoOf(atHM(3, 30))
      else if (x.status === 'resolved') i.event.startsAt = isoOf(x.t - MIN)
      return i
    }
    const run = (eArrives: number) => deliver(byKey([
      ...[a, r, ...short].map((x, n) => ({ key: x.t, order: n, input: input(x) })),
      { key: eArrives, order: 0, input: input(e) },
      ...minuteTicks(10),
    ]), cfg)
    return { live: run(e.t), spooled: run(spooledTo) }
  }
  it("a late whole episode goes to the group's newest incident open at its end, resolved since, not to an older one still open", () => {
    // Spooled until 07:15, after the report timeout closed the complaints' incident at 07:10, e joined a's,
    // still open and active at 03:30.
    const { live, spooled } = complaintAndEpisode(0, atHM(7, 15))
    expect(live.incidents().map((i) => [i.alerts.map((m) => m.fingerprint), i.reports.length])).toEqual([[['a'], 0], [['e'], 1]])
    expect(spooled.stats.late).toBe(1)
    expect(outcome(spooled)).toEqual(outcome(live))
  })
  it('finds the incident open at the late episode\'s end among many of its group resolved after it during the backlog', () => {
    // With eight short outages and e spooled until 09:40, the complaints' incident is no longer among the last
    // decided of the group, and was looked for only there.
    const { live, spooled } = complaintAndEpisode(8, atHM(9, 40))
    expect(live.incidents().find((i) => i.alerts.some((m) => m.fingerprint === 'e'))?.reports).toHaveLength(1)
    expect(spooled.stats.late).toBe(1)
    expect(outcome(spooled)).toEqual(outcome(live))
  })
})

describe('event time: late events judged before a staleness guess was due', () => {

  it('a late new alert finds the alert the guess ended still firing at its time, as live: one incident, not two', () => {
    // Staleness 2 h. a fires at 00:00; the Pingdom check of its service goes down at 00:40; a resolves at 00:40
    // and has a whole episode 01:39–01:40. Everything after 00:01 is drained at 02:06, after the 02:00 tick
    // guessed a over (its end: last seen, 00:00). Live, the check joined a's incident, firing then.
    const cfg: Partial<CorrelationConfig> = { ...heldBacklog, stalenessMs: { alertmanager: 2 * HOUR, pingdom: 0, report: 2 * HOUR } }
    const a0: Ev = { fp: 'a', service: 'checkout', status: 'firing', t: atHM(0, 0), name: 'A' }
    const p0: Ev = { source: 'pingdom', fp: 'pingdom:p', service: 'checkout', status: 'firing', t: atHM(0, 40), name: 'Checkout HTTP' }
    const a1: Ev = { fp: 'a', service: 'checkout', status: 'resolved', t: atHM(0, 40), name: 'A' }
    const a2: Ev = { fp: 'a', service: 'checkout', status: 'resolved', t: atHM(1, 40), name: 'A' }
    const input = (e: Ev): EngineInput => {
      const x = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      if (e === a1) x.event.startsAt = isoOf(a0.t)
      return x
    }
    const run = (drainedAt: number | null) => deliver(byKey([
      ...[a0, p0, a1, a2].map((e, n) => ({ key: drainedAt !== null && e.t > atHM(0, 1) ? drainedAt : e.t, order: n, input: input(e) })),
      ...minuteTicks(4),
    ]), cfg)
    const live = run(null)
    expect(live.incidents().map((i) => i.alerts.map((m) => [m.fingerprint, m.flapCount]))).toEqual([[['a', 1], ['pingdom:p', 0]]])
    const drained = run(atHM(2, 6))
    expect(drained.stats.late).toBe(3)
    expect(outcome(drained)).toEqual(outcome(live))
  })

  it('a late re-fire of the alert the guess ended, from before the guess was due, stays in its incident uncounted, as live', () => {
    // The alert fires at 00:00 and is not repeated; Alertmanager sends it with a new start at 23:15 (it ended
    // and fired again between two flushes, the resolve lost). Kafka is down 23:00–00:30: the receiver spools
    // the 23:15 firing and drains it after the ticks of 00:30, by when the staleness timeout (24 h) ran.
    const disk = (t: number): Ev => ({ fp: 'disk', service: 'payments', status: 'firing', t, name: 'DiskFilling' })
    const again = disk(atHM(23, 15))
    const run = (arrives: number) => deliver(byKey([
      { key: T0, order: 0, input: alertInput(disk(T0), T0) },
      { key: arrives, order: 0, input: alertInput(again, again.t) },
      ...minuteTicks(50),
    ]), heldBacklog)
    const live = run(again.t)
    expect(live.incidents().map((i) => [i.openedAt, i.resolvedAt, i.resolvedBy, i.reopenCount, i.alerts[0]!.flapCount])).toEqual([[isoOf(T0), isoOf(again.t), 'staleness', 0, 0]])
    const spooled = run(atHM(24, 30))
    expect(spooled.stats.late).toBe(1)
    expect(outcome(spooled)).toEqual(outcome(live))
  })
  it('a checkpoint between a re-fire taken as firing through the guess and its earlier resolve still counts the flap', () => {
    // The delivery of "a re-fire after a staleness guess whose earlier real resolve is still in flight" above,
    // restored from a snapshot taken after the episode was applied and before the 00:01 resolve came.
    const { cfg, inputs, resolve } = resolveInFlight(atHM(0, 39), atHM(0, 41) + 30_000)
    const cut = inputs.indexOf(resolve)
    const first = deliver(inputs.slice(0, cut), cfg)
    const resumed = new CorrelationEngine({ ...withLateness, ...cfg }, JSON.parse(JSON.stringify(first.snapshot())) as EngineSnapshot)
    for (const input of inputs.slice(cut)) resumed.apply(input)
    expect(resumed.incidents().map((i) => i.alerts.map((m) => [m.fingerprint, m.flapCount]))).toEqual([[['b', 1], ['a', 0]]])
    expect(outcome(resumed)).toEqual(outcome(deliver(inputs, cfg)))
  })
  it('a flap a later real resolve reveals holds the incident open as the flapping in order did: a re-fire after it is no reopening', () => {
    // Staleness 1 h; an alert flaps at its second re-fire within the hour. x fires at 00:00, ends at 00:20, fires
    // at 00:23, ends at 00:40, fires at 00:43 (flapping: held open until 01:43), ends at 00:50, fires at 01:30 in
    // the held incident. Two spools: 00:23-00:50 drained at 01:10, after the guess of 01:00; the 00:20 resolve
    // at 01:15. The 00:23 re-fire was taken as firing through the guess, so nothing flapped and the incident
    // resolved at 00:55; the 00:20 resolve counted the flap but left it resolved (and held it from 00:23 on,
    // the flap it counted, not 00:43, until 01:23), and the 01:30 firing reopened it.
    const cfg: Partial<CorrelationConfig> = { ...heldBacklog, stalenessMs: { alertmanager: HOUR, pingdom: 0, report: HOUR }, flapping: { minFlaps: 2, windowMs: HOUR } }
    const x = (t: number, status: 'firing' | 'resolved'): Ev => ({ fp: 'x', service: 'search', status, t, name: 'X' })
    const evs = [x(atHM(0, 0), 'firing'), x(atHM(0, 20), 'resolved'), x(atHM(0, 23), 'firing'), x(atHM(0, 40), 'resolved'), x(atHM(0, 43), 'firing'), x(atHM(0, 50), 'resolved'), x(atHM(1, 30), 'firing'), x(atHM(1, 35), 'resolved')]
    const input = (e: Ev, n: number): EngineInput => {
      const i = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      if (e.status === 'resolved') i.event.startsAt = isoOf(evs[n - 1]!.t)
      return i
    }
    const arrival = (n: number) => (n === 1 ? atHM(1, 15) : n >= 2 && n <= 5 ? atHM(1, 10) : evs[n]!.t)
    const run = (spooled: boolean) => deliver(byKey([...evs.map((e, n) => ({ key: spooled ? arrival(n) : e.t, order: n, input: input(e, n) })), ...minuteTicks(4)]), cfg)
    const live = run(false)
    expect(live.incidents().map((i) => [i.reopenCount, i.alerts[0]!.flapCount])).toEqual([[0, 3]])
    expect(live.problems().map((p) => p.kind)).toEqual(['flapping'])
    const spooled = run(true)
    expect(spooled.stats.late).toBe(5)
    expect(outcome(spooled)).toEqual(outcome(live))
  })
})

/** `outcome`, and when each incident's resolution was decided (the reopen window runs from there). */
const decided = (engine: CorrelationEngine) => ({ ...outcome(engine), decidedAt: engine.incidents().map((i) => [i.id, i.resolutionDecidedAt]).sort() })

describe("event time: a late event in the gap between a reopened incident's resolve and its reopening", () => {
  /**
   * a fires at 00:00 and ends at 00:02: its incident resolves, decided at 00:07. a fires again at 00:12, within
   * the reopen window: the same incident reopens, counted, and a ends again at 00:14 (resolved again, decided
   * 00:19). `gap` (a new alert b, its episode 00:08–00:09, or a complaint at 00:09) comes in between: live it
   * found a's incident resolved and opened an incident of its own. Arriving at `arrives` (null: on time), after
   * a's re-fire, it found the incident open again (or resolved since, its span holding 00:08) and joined it: the
   * reopened incident had forgotten that it was closed between 00:07 and 00:12.
   */
  function gapRun(gap: 'alert' | 'report', arrives: number | null, restoredAt?: number) {
    const cfg = heldBacklogReportTimeout
    const a = (t: number, status: 'firing' | 'resolved'): Ev => ({ fp: 'a', service: 'checkout', status, t, name: 'A' })
    const evs = [a(atHM(0, 0), 'firing'), a(atHM(0, 2), 'resolved'), a(atHM(0, 12), 'firing'), a(atHM(0, 14), 'resolved')]
    const late: Ev[] = gap === 'alert'
      ? [{ fp: 'b', service: 'checkout', status: 'firing', t: atHM(0, 8), name: 'B' }, { fp: 'b', service: 'checkout', status: 'resolved', t: atHM(0, 9), name: 'B' }]
      : [{ source: 'report', fp: 'r', service: 'checkout', status: 'firing', t: atHM(0, 9), name: 'report:customer-complaint' }]
    const input = (e: Ev, n: number): EngineInput => {
      const i = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      if (e.status === 'resolved') i.event.startsAt = isoOf(e.fp === 'a' ? evs[n - 1]!.t : atHM(0, 8))
      return i
    }
    const inputs = byKey([
      ...evs.map((e, n) => ({ key: e.t, order: n, input: input(e, n) })),
      ...late.map((e, n) => ({ key: arrives ?? e.t, order: 10 + n, input: input(e, 0) })),
      ...minuteTicks(2),
    ])
    if (restoredAt === undefined) return deliver(inputs, cfg)
    // Restored from a snapshot taken after the tick of `restoredAt`.
    const cut = inputs.findIndex((x) => x.type === 'tick' && x.at === isoOf(restoredAt)) + 1
    const first = deliver(inputs.slice(0, cut), cfg)
    const resumed = new CorrelationEngine({ ...withLateness, ...cfg }, JSON.parse(JSON.stringify(first.snapshot())) as EngineSnapshot)
    for (const input of inputs.slice(cut)) resumed.apply(input)
    return resumed
  }
  const members = (engine: CorrelationEngine) => engine.incidents().map((i) => [i.alerts.map((m) => m.fingerprint), i.reports.length, i.reopenCount])

  it('a new alert slightly late, applied at once while the incident is open again, opens its own incident, as live', () => {
    const live = gapRun('alert', null)
    expect(members(live)).toEqual([[['a'], 0, 1], [['b'], 0, 0]])
    // At 00:12:00, after a's re-fire: 4 minutes behind, applied at once, not held.
    const late = gapRun('alert', atHM(0, 12))
    expect(late.stats.late).toBe(2)
    expect(outcome(late)).toEqual(outcome(live))
  })
  it('a new alert spooled past the second resolve, in a held backlog, opens its own incident, as live', () => {
    const late = gapRun('alert', atHM(0, 40))
    expect(late.stats.late).toBe(2)
    expect(outcome(late)).toEqual(outcome(gapRun('alert', null)))
  })
  it('a complaint spooled past the second resolve opens its own incident, as live (the span of the incident resolved again)', () => {
    const live = gapRun('report', null)
    expect(members(live)).toEqual([[['a'], 0, 1], [[], 1, 0]])
    const late = gapRun('report', atHM(0, 40))
    expect(late.stats.late).toBe(1)
    expect(outcome(late)).toEqual(outcome(live))
    // A complaint slightly late, while the incident is open again.
    expect(outcome(gapRun('report', atHM(0, 12)))).toEqual(outcome(live))
  })
  it('a checkpoint after the reopening still knows the gap', () => {
    const live = gapRun('alert', null)
    // Restored after the tick of 00:20 (the second resolve decided), before the spooled alert comes.
    expect(outcome(gapRun('alert', atHM(0, 40), atHM(0, 20)))).toEqual(outcome(live))
  })
  /**
   * Report timeout 3 h. A complaint at 00:00 opens an incident of reports alone. a fires at 00:40 (out of the
   * report window: an incident of its own, the newest) and ends at 00:42: resolved, decided 00:47. x fired from
   * 00:20 to 00:48 between two flushes: live at 00:48 it joins the complaints' incident, the group's only open
   * one then (x overlaps a's incident, but that was closed). a fires again at 00:50: reopened, counted; with
   * `aEndsAgain` it ends at 00:52 (resolved again, decided 00:57), else it goes on firing. x spooled until
   * `arrives`: a's incident was open at x's start and, by its opening, still at 00:48.
   */
  function episodeAcrossGap(aEndsAgain: boolean, arrives: number | null) {
    const cfg = heldBacklogReportTimeout
    const r: Ev = { source: 'report', fp: 'r', service: 'checkout', status: 'firing', t: atHM(0, 0), name: 'report:customer-complaint' }
    const a = (m: number, status: 'firing' | 'resolved'): Ev => ({ fp: 'a', service: 'checkout', status, t: atHM(0, m), name: 'A' })
    const x: Ev = { fp: 'x', service: 'checkout', status: 'resolved', t: atHM(0, 48), name: 'X' }
    const evs = [r, a(40, 'firing'), a(42, 'resolved'), a(50, 'firing'), ...(aEndsAgain ? [a(52, 'resolved')] : [])]
    const input = (e: Ev, n: number): EngineInput => {
      const i = alertInput(e, e.t) as Extract<EngineInput, { type: 'alert' }>
      if (e === x) i.event.startsAt = isoOf(atHM(0, 20))
      else if (e.status === 'resolved') i.event.startsAt = isoOf(evs[n - 1]!.t)
      return i
    }
    return deliver(byKey([
      ...evs.map((e, n) => ({ key: e.t, order: n, input: input(e, n) })),
      { key: arrives ?? x.t, order: 10, input: input(x, 0) },
      ...minuteTicks(4),
    ]), cfg)
  }
  it("a late whole episode ending in the gap goes to the incident open at its end, not to the reopened one resolved since", () => {
    const live = episodeAcrossGap(true, null)
    expect(members(live)).toEqual([[['x'], 1, 0], [['a'], 0, 1]])
    const late = episodeAcrossGap(true, atHM(1, 30))
    expect(late.stats.late).toBe(1)
    expect(outcome(late)).toEqual(outcome(live))
  })
  it('a late whole episode ending in the gap goes to the incident open at its end, not to the reopened one open now', () => {
    const live = episodeAcrossGap(false, null)
    // Spooled past the report timeout of the complaints' incident (03:00), while a's fires on.
    const late = episodeAcrossGap(false, atHM(3, 10))
    expect(late.stats.late).toBe(1)
    expect(outcome(late)).toEqual(outcome(live))
  })
  it('a random event in or near the gap of a counted reopening, late or spooled, gives the incidents of live delivery', () => {
    // a fires at 00:00 and ends at `aEnd`: the incident resolves a quiet period later (D). a fires again at
    // D + `refire` (within the reopen window: counted) and ends after `aAgain` minutes, or fires on (0). Another
    // event comes at D + `at` (from 00:02; up to 12 minutes before D: in order it may keep the incident open past
    // a's re-fire, which is then no reopening): a new alert b (for `bFor` minutes, or firing on), a complaint, or
    // a re-fire of c, a's fellow member (00:00–00:01; ending in the gap, live a reopening of its own). Delivered
    // on time, right after a's re-fire (`lag` minutes later: applied at once), or spooled past everything (held).
    // Compared with when each resolution was decided, too.
    const cfg = heldBacklogReportTimeout
    let inGap = 0
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 29 }), fc.integer({ min: 0, max: 5 }), fc.constantFrom('alert', 'report', 'member'),
      fc.integer({ min: -12, max: 33 }), fc.integer({ min: 0, max: 3 }), fc.constantFrom('late', 'spooled'), fc.integer({ min: 0, max: 4 }),
      (aEnd, refire, aAgain, kind, atRaw, bFor, how, lag) => {
        const D = aEnd + 5
        const at = Math.max(2, D + Math.min(atRaw, refire + 3))
        const ev = minuteInput
        const base = [ev('a', 'firing', 0), ev('c', 'firing', 0), ev('c', 'resolved', 1, 0), ev('a', 'resolved', aEnd, 0), ev('a', 'firing', D + refire), ...(aAgain > 0 ? [ev('a', 'resolved', D + refire + aAgain, D + refire)] : [])]
        const other = kind === 'report' ? [ev('r', 'firing', at, undefined, 'report')]
          : [ev(kind === 'alert' ? 'b' : 'c', 'firing', at), ...(bFor > 0 ? [ev(kind === 'alert' ? 'b' : 'c', 'resolved', at + bFor, at)] : [])]
        const time = (i: EngineInput) => Date.parse((i as Extract<EngineInput, { type: 'alert' }>).event.receivedAt)
        const arrives = how === 'late' ? Math.max(at, D + refire) + lag : D + refire + 60
        // Only an event late behind a's re-fire: one that comes before it is in order.
        if (arrives <= D + refire && how === 'late') return
        // One instant's events in the engine's order (firing, report, resolve, then event id): in order, as the
        // engine applies events that wait; with no allowed lateness it applies them in arrival order.
        const event = (i: EngineInput) => (i as Extract<EngineInput, { type: 'alert' }>).event
        const rank = (i: EngineInput) => (event(i).source === 'report' ? 1 : event(i).status === 'firing' ? 0 : 2)
        const canonical = [...base, ...other].sort((x, y) => time(x) - time(y) || rank(x) - rank(y) || (event(x).id < event(y).id ? -1 : 1))
        const run = (late: boolean) => deliver(byKey([
          ...base.map((input) => ({ key: time(input), order: canonical.indexOf(input), input })),
          ...other.map((input) => ({ key: late ? atHM(0, arrives) + (how === 'late' ? 30_000 : 0) : time(input), order: canonical.indexOf(input), input })),
          ...minuteTicks(3),
        ]), cfg)
        if (at >= D && at < D + refire) inGap++
        expect(decided(run(true))).toEqual(decided(run(false)))
      }), { numRuns: 300 })
    // Most runs put the event in the gap (about 90 of the 300 do).
    expect(inGap).toBeGreaterThan(50)
  }, 60_000)
  it("a member's late re-fire in the gap reopened the incident then, as live: it stays in it, and a new alert after it joins", () => {
    // a fires 00:00–00:40, c 00:00–00:01: the incident resolves, decided 00:45. Live, c fires again at 00:50
    // (ending 00:51) and reopens it, counted; b, new, fires at 00:55 and joins it; a fires again at 01:00 in it.
    // c's re-fire and b, spooled until 01:30, came after a's re-fire had reopened it (counted) and it had
    // resolved again: c's re-fire, 49 minutes after c ended, fell in the gap, and b after it.
    const cfg = heldBacklogReportTimeout
    const ev = minuteInput
    const spooled = [ev('c', 'firing', 50), ev('c', 'resolved', 51, 50), ev('b', 'firing', 55), ev('b', 'resolved', 56, 55)]
    const run = (arrives: number | null) => deliver(byKey([
      ...[ev('a', 'firing', 0), ev('c', 'firing', 0), ev('c', 'resolved', 1, 0), ev('a', 'resolved', 40, 0), ev('a', 'firing', 60), ev('a', 'resolved', 62, 60)]
        .map((input, n) => ({ key: Date.parse((input as Extract<EngineInput, { type: 'alert' }>).event.receivedAt), order: n, input })),
      ...spooled.map((input, n) => ({ key: arrives ?? Date.parse((input as Extract<EngineInput, { type: 'alert' }>).event.receivedAt), order: 10 + n, input })),
      ...minuteTicks(3),
    ]), cfg)
    const live = run(null)
    expect(members(live)).toEqual([[['a', 'c', 'b'], 0, 1]])
    const late = run(atHM(1, 30))
    expect(late.stats.late).toBe(4)
    expect(outcome(late)).toEqual(outcome(live))
  })
  /**
   * docs/grouping.md's rule: crash loops per workload (rule-grouped); the replica mismatch m is grouped by
   * default and opens M, which its notification group points to. m fires 00:10–00:12 (M resolves, decided
   * 00:17) and again at 00:22 (M reopens, counted; gap 00:17–00:22) until 00:24. The crash loop fired
   * 00:08–00:19, sent once resolved with its start (a whole episode): live, applied at 00:19, it found M closed
   * and opened an incident of its own. Spooled past M's second resolve, it found M reopened (or resolved
   * since, decided after 00:19) and went into it as a rule-grouped alert from before its opening.
   */
  it("a late crash loop's whole episode ending in the gap of its notification group's reopened incident opens its own, as live", () => {
    const grouping = compileGroupingRules({ version: 1, groupBy: { rules: [{ name: 'crash loops per workload', match: { source: 'alertmanager', labels: { alertname: { regex: 'KubePod.*' }, namespace: { present: true } } }, by: ['labels.namespace', 'labels.container'] }] } })
    const cfg: Partial<CorrelationConfig> = { ...heldBacklog, grouping }
    const kube = (fp: string, name: string, status: 'firing' | 'resolved', m: number, from: number, labels: Record<string, string>): EngineInput => {
      const input = alertInput({ fp, service: 'checkout', status, t: atHM(0, m), name }, atHM(0, m)) as Extract<EngineInput, { type: 'alert' }>
      input.event.labels = { ...input.event.labels, namespace: 'shop', ...labels }
      input.event.origin = { groupKey: '{}/{}:{namespace="shop"}' }
      input.event.startsAt = isoOf(atHM(0, from))
      return input
    }
    const mm = (status: 'firing' | 'resolved', m: number, from: number) => kube('mismatch', 'KubeDeploymentReplicasMismatch', status, m, from, { deployment: 'checkout' })
    const crash = kube('crash', 'KubePodCrashLooping', 'resolved', 19, 8, { container: 'checkout' })
    const run = (crashArrives: number | null, aEndsAgain = true) => deliver(byKey([
      ...[mm('firing', 10, 10), mm('resolved', 12, 10), mm('firing', 22, 22), ...(aEndsAgain ? [mm('resolved', 24, 22)] : [])]
        .map((input, n) => ({ key: Date.parse((input as Extract<EngineInput, { type: 'alert' }>).event.receivedAt), order: n, input })),
      { key: crashArrives ?? atHM(0, 19), order: 10, input: crash },
      ...minuteTicks(2),
    ]), cfg)
    const live = run(null)
    expect(members(live)).toEqual([[['mismatch'], 0, 1], [['crash'], 0, 0]])
    const late = run(atHM(0, 40))
    expect(late.stats.late).toBe(1)
    expect(outcome(late)).toEqual(outcome(live))
    // Spooled while M is open again (m fires on).
    expect(outcome(run(atHM(0, 40), false))).toEqual(outcome(run(null, false)))
  })
})

describe('event time: a late event that changes whether a re-fire was a counted reopening', () => {
  const cfg = heldBacklogReportTimeout
  const ev = minuteInput
  const receipt = (input: EngineInput) => Date.parse((input as Extract<EngineInput, { type: 'alert' }>).event.receivedAt)
  /** `base` on time, `other` on time (null) or all arriving at `arrives` (minutes, plus 30 s), a tick a minute for `hours`. */
  const run = (base: EngineInput[], other: EngineInput[], arrives: number | null, hours = 2) => deliver(byKey([
    ...base.map((input, n) => ({ key: receipt(input), order: n, input })),
    ...other.map((input, n) => ({ key: arrives === null ? receipt(input) : atHM(0, arrives) + 30_000, order: 10 + n, input })),
    ...minuteTicks(hours),
  ]), cfg)
  const members = (engine: CorrelationEngine) => engine.incidents().map((i) => [i.alerts.map((m) => m.fingerprint), i.reopenCount])

  /**
   * a fires at 00:00 and ends at 00:02: alone, its incident resolves, decided 00:07. b, new, fires at 00:05 and
   * ends at `bEnd`. a fires again at 00:12 and ends at 00:14. In order b kept the incident open until `bEnd` plus
   * the quiet period: past 00:12, a's re-fire found it open (no reopening); before it, the incident resolved then
   * and the re-fire reopened it, counted, its gap from b's end plus the quiet period.
   */
  const aAgain = [ev('a', 'firing', 0), ev('a', 'resolved', 2, 0), ev('a', 'firing', 12), ev('a', 'resolved', 14, 12)]
  const b = (bEnd: number) => [ev('b', 'firing', 5), ev('b', 'resolved', bEnd, 5)]
  it('a new alert spooled from before the resolve was decided, that kept the incident open past the re-fire, undoes the reopening', () => {
    const live = run(aAgain, b(10), null)
    expect(members(live)).toEqual([[['a', 'b'], 0]])
    const late = run(aAgain, b(10), 40)
    expect(late.stats.late).toBe(2)
    expect(decided(late)).toEqual(decided(live))
  })
  it('the same alert still firing when the backlog comes undoes the reopening', () => {
    const live = run(aAgain, [ev('b', 'firing', 5)], null)
    expect(members(live)).toEqual([[['a', 'b'], 0]])
    expect(decided(run(aAgain, [ev('b', 'firing', 5)], 40))).toEqual(decided(live))
  })
  it('a new alert from before the resolve that ended before the re-fire leaves the reopening counted, its gap from its end', () => {
    // a fires again at 00:25 instead. b ends at 00:06: the incident resolved at 00:11, so c, new, at 00:08 joined it
    // open, as live, and kept it open until 00:14; a's re-fire reopened it, counted. Without b, the gap began at
    // 00:07 and c opened its own incident.
    const base = [ev('a', 'firing', 0), ev('a', 'resolved', 2, 0), ev('a', 'firing', 25), ev('a', 'resolved', 27, 25)]
    const c = [ev('c', 'firing', 8), ev('c', 'resolved', 9, 8)]
    const live = run(base, [...b(6), ...c], null)
    expect(members(live)).toEqual([[['a', 'b', 'c'], 1]])
    expect(decided(run(base, [...b(6), ...c], 40))).toEqual(decided(live))
    // b on time, only c spooled: c finds the gap from 00:11.
    expect(decided(run([...base, ...b(6)], c, 40))).toEqual(decided(live))
  })
  it('a new alert from before the resolve, slightly late (applied at once) after the re-fire, undoes the reopening', () => {
    // a ends at 00:08 (decided 00:13) and fires again at 00:14; b fires from 00:10 to 00:16 and arrives at
    // 00:14:30, 4.5 minutes late: applied at once, not held.
    const base = [ev('a', 'firing', 0), ev('a', 'resolved', 8, 0), ev('a', 'firing', 14), ev('a', 'resolved', 15, 14)]
    const bLate = [ev('b', 'firing', 10), ev('b', 'resolved', 16, 10)]
    const live = run(base, bLate, null)
    expect(members(live)).toEqual([[['a', 'b'], 0]])
    const late = deliver(byKey([
      ...base.map((input, n) => ({ key: receipt(input), order: n, input })),
      { key: atHM(0, 14) + 30_000, order: 10, input: bLate[0]! },
      { key: receipt(bLate[1]!), order: 11, input: bLate[1]! },
      ...minuteTicks(2),
    ]), cfg)
    expect(late.stats.late).toBe(1)
    expect(decided(late)).toEqual(decided(live))
  })
  /**
   * a fires at 00:00 and ends at 00:02 (resolved, decided 00:07) and fires again at 00:12, counted. `fp`, new,
   * fires at 00:12 too: of two firings at one instant, the one whose event id sorts first is applied first.
   */
  const tie = (fp: string) => [ev(fp, 'firing', 12), ev(fp, 'resolved', 13, 12)]
  it('a new alert at the counted re-fire\'s instant, ordered before it, spooled, opens its own incident, as live', () => {
    const id = (input: EngineInput) => (input as Extract<EngineInput, { type: 'alert' }>).event.id
    expect(id(tie('b')[0]!) < id(aAgain[2]!)).toBe(true)
    // In order: b first (with no allowed lateness, events of one instant are applied in arrival order).
    const live = deliver(byKey([...[...aAgain, ...tie('b')].map((input, n) => ({ key: receipt(input), order: n < 4 ? n : n - 4.5, input })), ...minuteTicks(2)]), cfg)
    expect(members(live)).toEqual([[['a'], 1], [['b'], 0]])
    expect(decided(run(aAgain, tie('b'), 40))).toEqual(decided(live))
    // Slightly late, applied at once (at 00:13:30; at 00:12:30 it is no later than the watermark, and one instant's
    // events that are not late are applied in arrival order).
    expect(decided(run(aAgain, tie('b'), 13))).toEqual(decided(live))
  })
  it('a new alert at the counted re-fire\'s instant, ordered after it, joins the reopened incident, late or not', () => {
    const id = (input: EngineInput) => (input as Extract<EngineInput, { type: 'alert' }>).event.id
    expect(id(tie('new')[0]!) > id(aAgain[2]!)).toBe(true)
    const live = run(aAgain, tie('new'), null)
    expect(members(live)).toEqual([[['a', 'new'], 1]])
    expect(decided(run(aAgain, tie('new'), 40))).toEqual(decided(live))
  })
  it("a member's late re-fire in a gap that ended again a quiet period before the counted re-fire counts a reopening of its own", () => {
    // a fires 00:00–00:02 and c 00:00–00:01: resolved, decided 00:07. c fires again 00:15–00:16: live it reopened
    // the incident (counted), which resolved again, decided 00:21; a's re-fire at 00:30 reopened it again (counted).
    // c's episode spooled until 01:30 fell in the gap a's re-fire had counted, 00:07–00:30.
    const base = [ev('a', 'firing', 0), ev('c', 'firing', 0), ev('c', 'resolved', 1, 0), ev('a', 'resolved', 2, 0), ev('a', 'firing', 30), ev('a', 'resolved', 32, 30)]
    const cAgain = [ev('c', 'firing', 15), ev('c', 'resolved', 16, 15)]
    const live = run(base, cAgain, null)
    expect(members(live)).toEqual([[['a', 'c'], 2]])
    expect(decided(run(base, cAgain, 90))).toEqual(decided(live))
    // c's re-fire ending within the quiet period before a's: one reopening, live and late.
    const cLonger = [ev('c', 'firing', 15), ev('c', 'resolved', 27, 15)]
    expect(members(run(base, cLonger, null))).toEqual([[['a', 'c'], 1]])
    expect(decided(run(base, cLonger, 90))).toEqual(decided(run(base, cLonger, null)))
  })
  it("a checkpoint while a member's late re-fire holds the rest of the gap open still counts the reopening its end gives back", () => {
    // As above; c's re-fire (00:15) comes held at 00:33:30, its end (00:16) at 00:40:30, and the engine is
    // restored from a snapshot taken after the tick of 00:36, between the two.
    const base = [ev('a', 'firing', 0), ev('c', 'firing', 0), ev('c', 'resolved', 1, 0), ev('a', 'resolved', 2, 0), ev('a', 'firing', 30), ev('a', 'resolved', 32, 30)]
    const [cFires, cEnds] = [ev('c', 'firing', 15), ev('c', 'resolved', 16, 15)]
    const inputs = byKey([
      ...base.map((input, n) => ({ key: receipt(input), order: n, input })),
      { key: atHM(0, 33) + 30_000, order: 10, input: cFires! },
      { key: atHM(0, 40) + 30_000, order: 11, input: cEnds! },
      ...minuteTicks(2),
    ])
    const cut = inputs.findIndex((x) => x.type === 'tick' && x.at === isoOf(atHM(0, 36))) + 1
    const first = deliver(inputs.slice(0, cut), cfg)
    expect(first.stats.late).toBe(1)
    const resumed = new CorrelationEngine({ ...withLateness, ...cfg }, JSON.parse(JSON.stringify(first.snapshot())) as EngineSnapshot)
    for (const input of inputs.slice(cut)) resumed.apply(input)
    const live = run(base, [cFires!, cEnds!], null)
    expect(members(live)).toEqual([[['a', 'c'], 2]])
    expect(decided(resumed)).toEqual(decided(live))
    expect(decided(deliver(inputs, cfg))).toEqual(decided(live))
  })
  /**
   * a fires at 00:00 and ends at 00:02 (resolved, decided 00:07) and again 00:12–00:14: reopened, counted. b fired
   * from 00:05 to `bEnd` between two flushes of its notification group: Alertmanager sends it once, resolved, with
   * its start (a whole episode), at `bEnd`, and the engine applies it then.
   */
  const episode = (bEnd: number) => [ev('b', 'resolved', bEnd, 5)]
  it('a whole episode from before the gap that comes on time after the re-fire leaves the reopening counted, as before', () => {
    // In order it came at 00:13, after a's re-fire had reopened the incident, counted.
    const live = run(aAgain, episode(13), null)
    expect(members(live)).toEqual([[['a', 'b'], 1]])
    const late = run(aAgain, episode(13), 40)
    expect(late.stats.late).toBe(1)
    expect(decided(late)).toEqual(decided(live))
  })
  it('a whole episode from before the gap that ended before the re-fire, spooled, takes the reopening back, as in order', () => {
    // In order it came at 00:10 and kept the incident open until 00:15: a's re-fire at 00:12 was no reopening.
    const live = run(aAgain, episode(10), null)
    expect(members(live)).toEqual([[['a', 'b'], 0]])
    expect(decided(run(aAgain, episode(10), 40))).toEqual(decided(live))
  })
  /**
   * a fires at 00:00 and ends at 00:02; a person resolves its incident at 00:04, before the quiet period would
   * have; a fires again at 00:12, within the reopen window: reopened, counted, closed from 00:04 by the person.
   * `others`: alerts from before the decision, on time or all arriving at 00:40:30.
   */
  const byPersonInputs = (others: EngineInput[], arrives: number | null) => {
    const resolve: EngineInput = { type: 'command', command: { id: 'c1', type: 'incident.resolve', target: hashId('inc', (aAgain[0] as Extract<EngineInput, { type: 'alert' }>).event.id), environment: 'production', actor: 'dana', at: isoOf(atHM(0, 4)) } }
    return byKey([
      ...aAgain.map((input, n) => ({ key: receipt(input), order: n, input })),
      { key: atHM(0, 4), order: 5, input: resolve },
      ...others.map((input, n) => ({ key: arrives === null ? receipt(input) : atHM(0, arrives) + 30_000, order: 10 + n, input })),
      ...minuteTicks(2),
    ])
  }
  const byPerson = (others: EngineInput[], arrives: number | null) => deliver(byPersonInputs(others, arrives), cfg)
  it('a new alert from before a person\'s resolve, spooled, leaves the reopening after that resolve counted', () => {
    // b fires at 00:01 and fires on: in order it was in what the person resolved, and a's re-fire reopened it.
    const b = [ev('b', 'firing', 1)]
    const live = byPerson(b, null)
    expect(members(live)).toEqual([[['a', 'b'], 1]])
    const late = byPerson(b, 40)
    expect(late.stats.late).toBe(1)
    expect(decided(late)).toEqual(decided(live))
    // So too from a checkpoint taken after the reopening, before b came: the snapshot says who began the gap.
    const inputs = byPersonInputs(b, 40)
    const cut = inputs.findIndex((x) => x.type === 'tick' && x.at === isoOf(atHM(0, 20))) + 1
    const resumed = new CorrelationEngine({ ...withLateness, ...cfg }, JSON.parse(JSON.stringify(deliver(inputs.slice(0, cut), cfg).snapshot())) as EngineSnapshot)
    for (const input of inputs.slice(cut)) resumed.apply(input)
    expect(decided(resumed)).toEqual(decided(live))
  })
  it('a new alert from before a person\'s resolve that ended before it leaves the gap from the resolve', () => {
    // b fires 00:01–00:03. x, new, at 00:06, found the incident resolved by the person: an incident of its own.
    const others = [ev('b', 'firing', 1), ev('b', 'resolved', 3, 1), ev('x', 'firing', 6), ev('x', 'resolved', 7, 6)]
    const live = byPerson(others, null)
    expect(members(live)).toEqual([[['a', 'b'], 1], [['x'], 0]])
    expect(decided(byPerson(others, 40))).toEqual(decided(live))
  })
})

describe('event time: a late resolve and the quiet period', () => {
  it("times the quiet period from the last end among the incident's members, as in order, not from its own earlier end", () => {
    // a and b fire at 00:00; b ends at 00:10, on time; a's end at 00:05 comes at 00:12:30, slightly late (applied
    // at once). In order the incident was quiet from 00:10 and resolved at 00:15; timed from a's end, at 00:10.
    const cfg = heldBacklogReportTimeout
    const ev = minuteInput
    const evs = [ev('a', 'firing', 0), ev('b', 'firing', 0), ev('a', 'resolved', 5, 0), ev('b', 'resolved', 10, 0)]
    const receipt = (input: EngineInput) => Date.parse((input as Extract<EngineInput, { type: 'alert' }>).event.receivedAt)
    const run = (aEndArrives: number | null) => deliver(byKey([
      ...evs.map((input, n) => ({ key: n === 2 && aEndArrives !== null ? aEndArrives : receipt(input), order: n, input })),
      ...minuteTicks(1),
    ]), cfg)
    const live = run(null)
    expect(live.incidents().map((i) => i.resolutionDecidedAt)).toEqual([isoOf(atHM(0, 15))])
    const late = run(atHM(0, 12) + 30_000)
    expect(late.stats.late).toBe(1)
    expect(decided(late)).toEqual(decided(live))
  })
})

describe('event time: a drained spool that begins with a repeat of a firing applied live', () => {
  // The staleness guess ran live while the receiver spooled; the spool's first record, a repeat of the
  // firing, says the alert still fired then, before the guess was due.
  const config: Partial<CorrelationConfig> = { allowedLatenessMs: 0, stalenessMs: { alertmanager: 2 * HOUR, pingdom: 0, report: DAY } }
  const a = (status: 'firing' | 'resolved', minute: number) => ({ fp: 'a', service: 'checkout', status, t: T0 + minute * MIN })
  const spooled = [[a('firing', 0), 100], [a('resolved', 160), 160], [a('firing', 162), 162], [a('resolved', 163), 163]] as const

  it('is held with the backlog and heard at its receipt: no guess, one incident whose alert flapped, as live', () => {
    const live = [alertInput(a('firing', 0), T0)]
    for (let m = 1; m <= 300; m++) {
      live.push(tickInput(T0 + m * MIN))
      for (const [e, rx] of spooled) if (rx === m) live.push(alertInput(e, T0 + rx * MIN))
    }
    const expected = outcome(deliver([...live, ...settleTicks(T0 + 300 * MIN)], config))
    expect(expected.incidents).toHaveLength(1)
    const drainAt = T0 + 281 * MIN
    const drained = [alertInput(a('firing', 0), T0), ...Array.from({ length: 281 }, (_, m) => tickInput(T0 + (m + 1) * MIN))]
    drained.push(...spooled.map(([e, rx]) => alertInput(e, T0 + rx * MIN)), ...Array.from({ length: 35 }, (_, n) => tickInput(drainAt + (n + 1) * 1000)))
    // Until 2026-12-07 the repeat was heard on arrival, judged at the watermark hours after its receipt: the guess
    // stood, and the re-fire behind it, held, opened a second incident.
    expect(outcome(deliver([...drained, ...settleTicks(T0 + 300 * MIN)], config))).toEqual(expected)
  })
})

describe('event time: a staleness guess and an outage longer than its timeout', () => {
  const config: Partial<CorrelationConfig> = { allowedLatenessMs: 0, stalenessMs: { alertmanager: 2 * HOUR, pingdom: 0, report: 3 * HOUR } }
  const ev = (fp: string, status: 'firing' | 'resolved', minute: number, source?: 'report'): Ev => ({ fp, service: 'checkout', status, t: T0 + minute * MIN, source })
  /** Live, a tick a minute and each event at its receipt; drained, the `spooled` ones at `drainAt` (in that order), ticks going on. */
  function bothWays(sent: [Ev, number][], spooled: [Ev, number][], drainAt: number, until: number) {
    const live: EngineInput[] = []
    const drained: EngineInput[] = []
    for (let m = 0; m <= until; m++) {
      live.push(tickInput(T0 + m * MIN))
      drained.push(tickInput(T0 + m * MIN))
      for (const [e, rx] of sent) if (rx === m) { live.push(alertInput(e, T0 + rx * MIN)); drained.push(alertInput(e, T0 + rx * MIN)) }
      for (const [e, rx] of spooled) if (rx === m) live.push(alertInput(e, T0 + rx * MIN))
      if (m === drainAt) drained.push(...spooled.map(([e, rx]) => alertInput(e, T0 + rx * MIN)), ...Array.from({ length: 35 }, (_, n) => tickInput(T0 + m * MIN + (n + 1) * 1000)))
    }
    return { live: outcome(deliver([...live, ...settleTicks(T0 + until * MIN)], config)), drained: outcome(deliver([...drained, ...settleTicks(T0 + until * MIN)], config)) }
  }

  it('a repeat that takes the guess back waits with the spool for the complaints before it', () => {
    // The guess closed the alert's incident at 2 h; a complaint at 2:01 opened its own, and the repeat received
    // at 2:02 took the guess back. Spooled repeat first, it was heard on arrival and the complaint joined the alert's.
    const { live, drained } = bothWays([[ev('a', 'firing', 0), 0]], [[ev('a', 'firing', 0), 122], [ev('c', 'firing', 121, 'report'), 121]], 130, 200)
    expect(live.incidents).toHaveLength(2)
    expect(drained).toEqual(live)
  })

  it('a late end of the last other member leaves the incident open until the guess was due', () => {
    // e's guess was due at 2 h; a ended at 1 h and again at 1:41 (a flap in the open incident), and its next
    // episode, after the guess closed the incident, reopened it. Spooled through the guess, a's end closed the
    // incident a quiet period after it, and its re-fire at 1:40 counted a reopening.
    const sent: [Ev, number][] = [[ev('e', 'firing', 0), 0], [ev('a', 'firing', 30), 30]]
    const spooled: [Ev, number][] = [[ev('a', 'resolved', 60), 60], [ev('a', 'firing', 100), 100], [ev('a', 'resolved', 101), 101], [ev('a', 'firing', 130), 130], [ev('a', 'resolved', 131), 131]]
    const { live, drained } = bothWays(sent, spooled, 149, 300)
    expect(live.incidents).toHaveLength(1)
    expect(live.incidents[0]!.reopenCount).toBe(1)
    expect(drained).toEqual(live)
  })

  it('a late end of the last other member leaves the incident open until the guess was due, after a restart too', () => {
    // As above, the engine restored from its snapshot after every input: which members a guess ended is
    // counted again on restore (not kept in the snapshot), and the guess still holds the quiet period back.
    const sent: [Ev, number][] = [[ev('e', 'firing', 0), 0], [ev('a', 'firing', 30), 30]]
    const spooled: [Ev, number][] = [[ev('a', 'resolved', 60), 60], [ev('a', 'firing', 100), 100], [ev('a', 'resolved', 101), 101], [ev('a', 'firing', 130), 130], [ev('a', 'resolved', 131), 131]]
    const drained: EngineInput[] = []
    for (let m = 0; m <= 300; m++) {
      drained.push(tickInput(T0 + m * MIN))
      for (const [e, rx] of sent) if (rx === m) drained.push(alertInput(e, T0 + rx * MIN))
      if (m === 149) drained.push(...spooled.map(([e, rx]) => alertInput(e, T0 + rx * MIN)), ...Array.from({ length: 35 }, (_, n) => tickInput(T0 + m * MIN + (n + 1) * 1000)))
    }
    const full = { ...withLateness, ...config }
    let engine = new CorrelationEngine(full)
    for (const input of [...drained, ...settleTicks(T0 + 300 * MIN)]) {
      engine.apply(input)
      engine = new CorrelationEngine(full, JSON.parse(JSON.stringify(engine.snapshot())) as EngineSnapshot)
    }
    expect(outcome(engine)).toEqual(bothWays(sent, spooled, 149, 300).live)
  })

  it('a late end from before the guess decides the incident as its members would have, earlier or later than the guess', () => {
    // a's guess came due at 2:30 as the spool drained, its end of 0:45 in the spool; e's guess, due at 2 h,
    // closed the incident live, and a's episode at 2:10 reopened it. Decided at a's guess, the incident took
    // that episode in its span.
    const sent: [Ev, number][] = [[ev('e', 'firing', 0), 0], [ev('a', 'firing', 30), 30]]
    const spooled: [Ev, number][] = [[ev('a', 'resolved', 45), 45], [ev('a', 'firing', 130), 130], [ev('a', 'resolved', 131), 131]]
    const { live, drained } = bothWays(sent, spooled, 150, 300)
    expect(live.incidents[0]!.reopenCount).toBe(1)
    expect(drained).toEqual(live)
  })
})
