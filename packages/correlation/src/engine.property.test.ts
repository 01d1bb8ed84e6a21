import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { defaultCorrelationConfig, type CorrelationConfig } from './config.ts'
import { CorrelationEngine } from './engine.ts'
import type { AlertEvent, EngineInput } from './types.ts'

/** The late-event hold's quiet time, in the one-second ticks these deliveries use. */
const QUIET_S = defaultCorrelationConfig.lateHold.quietMs / 1000

const T0 = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000

/** A random but plausible stream: a few alerts on a few services and hosts, firing and resolving, with ticks and reports. */
const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('alert' as const), fp: fc.constantFrom('a', 'b', 'c', 'd', 'e'), service: fc.constantFrom('checkout', 'search', 'auth'), host: fc.constantFrom('db-1', 'db-2', 'web-1'), firing: fc.boolean(), advance: fc.integer({ min: 0, max: 20 }), lateBy: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), advance: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('report' as const), service: fc.constantFrom('checkout', 'search', 'auth'), advance: fc.integer({ min: 0, max: 10 }) }) },
)

function toInputs(steps: Array<Record<string, unknown>>): EngineInput[] {
  let now = T0
  return steps.map((s) => {
    now += (s.advance as number) * MIN
    if (s.kind === 'tick') return { type: 'tick', at: new Date(now).toISOString() }
    const source = s.kind === 'report' ? 'report' : 'alertmanager'
    const fp = s.kind === 'report' ? `r-${now}` : `${s.fp as string}-${s.service as string}`
    const status = s.kind === 'report' || s.firing ? 'firing' : 'resolved'
    // Event time may lag the receipt: senders batch and retry.
    const eventAt = new Date(now - ((s.lateBy as number | undefined) ?? 0) * MIN).toISOString()
    const event: AlertEvent = {
      id: createHash('sha256').update(`${source}|${fp}|${status}|${eventAt}`).digest('hex').slice(0, 32),
      source, fingerprint: fp, status, severity: fp.startsWith('a') ? 'critical' : 'warning', service: s.service as string,
      environment: 'production', title: fp, labels: { alertname: `Alert-${fp[0]}`, instance: `${(s.host as string | undefined) ?? 'x'}:9100` },
      startsAt: eventAt, receivedAt: new Date(now).toISOString(), links: [],
      origin: s.kind === 'report' ? { kind: 'customer-complaint', reportedBy: 'support' } : {},
    }
    if (status === 'resolved') event.endsAt = eventAt
    return { type: 'alert', event }
  })
}

function finalState(inputs: EngineInput[], config: Partial<CorrelationConfig> = {}) {
  const engine = new CorrelationEngine(config)
  const outputs = inputs.flatMap((i) => engine.apply(i))
  const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id))
  return { outputs, incidents: byId(engine.incidents()), problems: byId(engine.problems()), engine }
}

const streams = fc.array(step, { minLength: 1, maxLength: 60 })

describe('correlation properties', () => {
  it('redelivering any events, any number of times, later in the stream, never changes the result', () => {
    fc.assert(fc.property(streams, fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 20 }), (steps, dupes) => {
      const inputs = toInputs(steps as Array<Record<string, unknown>>)
      const withDupes = [...inputs]
      for (const [from, offset] of dupes) {
        const i = from % inputs.length
        if (inputs[i]!.type !== 'alert') continue
        // A redelivery comes after the original, at any later point, unchanged.
        const pos = Math.min(withDupes.length, withDupes.indexOf(inputs[i]!) + 1 + (offset % (withDupes.length + 1)))
        withDupes.splice(pos, 0, structuredClone(inputs[i]!))
      }
      // Also while the originals wait (an allowed lateness), with episodes the staleness timeout closes: a
      // redelivery heard of before its original reopened the alert's closed episode (until 2026-12-05).
      for (const config of [{}, { allowedLatenessMs: 5 * MIN, stalenessMs: { ...defaultCorrelationConfig.stalenessMs, alertmanager: 2 * 60 * MIN } }]) {
        const a = finalState(inputs, config)
        const b = finalState(withDupes, config)
        expect(b.incidents).toEqual(a.incidents)
        expect(b.problems).toEqual(a.problems)
      }
    }), { numRuns: 300 })
  })

  it('replaying the same input log gives identical outputs', () => {
    fc.assert(fc.property(streams, (steps) => {
      const inputs = toInputs(steps as Array<Record<string, unknown>>)
      expect(finalState(inputs).outputs).toEqual(finalState(structuredClone(inputs)).outputs)
    }), { numRuns: 200 })
  })

  it('a checkpoint taken anywhere resumes to the same incidents and problems', () => {
    fc.assert(fc.property(streams, fc.nat(), (steps, cutAt) => {
      const inputs = toInputs(steps as Array<Record<string, unknown>>)
      const cut = cutAt % (inputs.length + 1)
      const first = new CorrelationEngine()
      inputs.slice(0, cut).forEach((i) => first.apply(i))
      const resumed = new CorrelationEngine({}, JSON.parse(JSON.stringify(first.snapshot())))
      const rest = inputs.slice(cut).flatMap((i) => resumed.apply(i))
      const whole = finalState(inputs)
      expect(rest).toEqual(whole.outputs.slice(whole.outputs.length - rest.length))
      expect(resumed.incidents().sort((a, b) => a.id.localeCompare(b.id))).toEqual(whole.incidents)
    }), { numRuns: 200 })
  })

  it('every incident version is newer than the last one emitted for it', () => {
    fc.assert(fc.property(streams, (steps) => {
      const last = new Map<string, number>()
      for (const o of finalState(toInputs(steps as Array<Record<string, unknown>>)).outputs) {
        if (o.type !== 'incident') continue
        expect(o.incident.version).toBeGreaterThan(last.get(o.incident.id) ?? 0)
        last.set(o.incident.id, o.incident.version)
      }
    }), { numRuns: 200 })
  })
})

// The delivery the correlator sees by default: allowed lateness 0 and wall-clock ticks, so a backlog (a
// receiver or Kafka outage, a drained spool, an import) arrives wholly behind the watermark. Live delivery
// (each event at its time, a tick a minute) is the reference; a burst an hour after the last event, in
// each sender's order or reordered as Kafka may (each alert's events in order, alerts interleaved), must
// give identical incidents and problems (docs/correlation-event-time.md, "The late-event rule").
describe('correlation properties: a backlog in one burst gives the incidents of live delivery', () => {
  const HOUR = 60 * MIN
  const DAY = 24 * HOUR
  const event = fc.oneof(
    { weight: 6, arbitrary: fc.record({ source: fc.constantFrom('alertmanager' as const, 'pingdom' as const), fp: fc.constantFrom('a', 'b', 'c', 'd'), service: fc.constantFrom('checkout', 'search'), host: fc.constantFrom('db-1', 'db-2'), firing: fc.boolean(), advance: fc.integer({ min: 0, max: 20 }) }) },
    { weight: 1, arbitrary: fc.record({ source: fc.constant('report' as const), fp: fc.constant('r'), service: fc.constantFrom('checkout', 'search'), host: fc.constant(''), firing: fc.constant(true), advance: fc.integer({ min: 0, max: 10 }) }) },
  )
  type Step = { source: AlertEvent['source']; fp: string; service: string; host: string; firing: boolean; advance: number }

  /** Events at distinct times (ties would be broken by arrival live and by id in a batch), under 20 h in all. */
  function events(steps: Step[]): AlertEvent[] {
    let now = T0
    const lastFiring = new Map<string, string>()
    return steps.map((s, n) => {
      now += s.advance * MIN + 1000
      const at = new Date(now).toISOString()
      const fp = s.source === 'report' ? `r-${n}` : `${s.source}-${s.fp}-${s.service}`
      const status = s.firing ? 'firing' : 'resolved'
      // A resolve carries its alert's start, as Alertmanager sends it; one never heard firing started a minute before.
      const startsAt = s.firing ? at : s.source === 'pingdom' ? at : (lastFiring.get(fp) ?? new Date(now - MIN).toISOString())
      if (s.firing) lastFiring.set(fp, at)
      const e: AlertEvent = {
        id: createHash('sha256').update(`${s.source}|${fp}|${status}|${at}`).digest('hex').slice(0, 32),
        source: s.source, fingerprint: fp, status, severity: 'warning', service: s.service, environment: 'production', title: fp,
        labels: s.source === 'report' ? {} : { alertname: `Alert-${s.fp}`, instance: `${s.host}:9100` }, startsAt, receivedAt: at, links: [],
        origin: s.source === 'report' ? { kind: 'customer-complaint', reportedBy: 'support' } : {},
      }
      if (status === 'resolved') e.endsAt = at
      return e
    })
  }
  const tickAt = (t: number): EngineInput => ({ type: 'tick', at: new Date(t).toISOString() })
  const last = (es: AlertEvent[]) => Date.parse(es[es.length - 1]!.receivedAt)
  /** Ticks far enough on that every quiet period and staleness timeout has run. */
  const settleTicks = (es: AlertEvent[]) => [tickAt(last(es) + 2 * DAY), tickAt(last(es) + 3 * DAY)]

  function live(es: AlertEvent[]): EngineInput[] {
    const out: EngineInput[] = []
    let clock = T0
    for (const e of es) {
      for (; clock + MIN <= Date.parse(e.receivedAt); clock += MIN) out.push(tickAt(clock + MIN))
      out.push({ type: 'alert', event: e })
    }
    return [...out, ...settleTicks(es)]
  }
  /** An hour after the last event, ticks every second: the burst, then the ticks up to the one that finds it drained (the hold's quiet time). */
  function burst(es: AlertEvent[], order: AlertEvent[]): EngineInput[] {
    const at = last(es) + HOUR
    const received = order.map((e): EngineInput => ({ type: 'alert', event: { ...e, receivedAt: new Date(at).toISOString() } }))
    return [tickAt(at), ...received, ...Array.from({ length: QUIET_S }, (_, n) => tickAt(at + (n + 1) * 1000)), ...settleTicks(es)]
  }
  /** Interleaves queues at random, each queue's order kept. */
  function interleave(queues: AlertEvent[][], picks: number[]): AlertEvent[] {
    const qs = queues.map((q) => [...q]).filter((q) => q.length > 0)
    const out: AlertEvent[] = []
    for (let n = 0; qs.length > 0; n++) {
      const i = (picks[n % picks.length] ?? 0) % qs.length
      out.push(qs[i]!.shift()!)
      if (qs[i]!.length === 0) qs.splice(i, 1)
    }
    return out
  }
  const groupedBy = (es: AlertEvent[], key: (e: AlertEvent) => string) => {
    const m = new Map<string, AlertEvent[]>()
    for (const e of es) m.set(key(e), [...(m.get(key(e)) ?? []), e])
    return [...m.values()]
  }
  const bySender = (es: AlertEvent[], picks: number[]) => interleave(groupedBy(es, (e) => e.source), picks)
  const byKafka = (es: AlertEvent[], picks: number[]) => interleave(groupedBy(es, (e) => `${e.source}:${e.fingerprint}`), picks)

  function run(inputs: EngineInput[]) {
    const engine = new CorrelationEngine()
    const outputs = inputs.flatMap((i) => engine.apply(i))
    return { engine, outputs }
  }
  /** What must not depend on delivery: ids, membership, boundaries, reopenings, problems (versions and receipt times may). */
  function outcome(engine: CorrelationEngine) {
    const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id))
    return {
      incidents: byId(engine.incidents()).map((i) => ({
        id: i.id, status: i.status, openedAt: i.openedAt, resolvedAt: i.resolvedAt, resolvedBy: i.resolvedBy, reopenCount: i.reopenCount,
        reports: i.reports.length, problemIds: [...i.problemIds].sort(), postmortem: i.postmortem.required,
        alerts: i.alerts.map((a) => [a.key, a.status, a.firstSeenAt, a.resolvedAt, a.flapCount]).sort(),
      })),
      problems: byId(engine.problems()).map((p) => ({ id: p.id, kind: p.kind, status: p.status, incidentIds: [...p.incidentIds].sort(), signature: p.signature })),
    }
  }
  const streams = fc.array(event, { minLength: 1, maxLength: 50 })
  const picks = fc.array(fc.nat(), { minLength: 1, maxLength: 50 })

  it('in each sender\'s order and reordered as Kafka may: identical incidents and problems', () => {
    fc.assert(fc.property(streams, picks, picks, (steps, senderPicks, kafkaPicks) => {
      const es = events(steps as Step[])
      const expected = outcome(run(live(es)).engine)
      const sent = run(burst(es, bySender(es, senderPicks))).engine
      expect(sent.stats.pending).toBe(0)
      expect(outcome(sent)).toEqual(expected)
      expect(outcome(run(burst(es, byKafka(es, kafkaPicks))).engine)).toEqual(expected)
    }), { numRuns: 200 })
  })

  it('a checkpoint taken while the backlog is held resumes to the same outputs', () => {
    fc.assert(fc.property(streams, picks, fc.nat(), (steps, kafkaPicks, cutAt) => {
      const es = events(steps as Step[])
      const inputs = burst(es, byKafka(es, kafkaPicks))
      // Within the burst: after the first tick, before the tick that releases it.
      const cut = 2 + (cutAt % (es.length + 1))
      const first = new CorrelationEngine()
      const before = inputs.slice(0, cut).flatMap((i) => first.apply(i))
      expect(first.stats.pending).toBeGreaterThan(0)
      const resumed = new CorrelationEngine({}, JSON.parse(JSON.stringify(first.snapshot())))
      const after = inputs.slice(cut).flatMap((i) => resumed.apply(i))
      const whole = run(inputs)
      expect([...before, ...after]).toEqual(whole.outputs)
      expect(outcome(resumed)).toEqual(outcome(whole.engine))
    }), { numRuns: 100 })
  })
})

describe('the late-event hold', () => {
  const HOUR = 60 * MIN
  const at = T0 + 10 * HOUR
  const old = (fp: string, status: 'firing' | 'resolved', t: number): EngineInput => {
    const time = new Date(t).toISOString()
    const event: AlertEvent = {
      id: createHash('sha256').update(`${fp}|${status}|${time}`).digest('hex').slice(0, 32), source: 'alertmanager', fingerprint: fp, status,
      severity: 'warning', service: 'checkout', environment: 'production', title: fp, labels: { alertname: fp }, startsAt: time,
      receivedAt: new Date(at).toISOString(), links: [], origin: {},
    }
    if (status === 'resolved') event.endsAt = time
    return { type: 'alert', event }
  }
  const tickAt = (t: number): EngineInput => ({ type: 'tick', at: new Date(t).toISOString() })

  it('holds a backlog through a stall shorter than the quiet time, and releases it at the first tick after that', () => {
    const engine = new CorrelationEngine()
    engine.apply(tickAt(at))
    engine.apply(old('a', 'firing', T0))
    // A 3 s stall of the input, ticked every second: still held.
    for (const n of [1, 2, 3]) expect(engine.apply(tickAt(at + n * 1000))).toEqual([])
    engine.apply(old('b', 'firing', T0 + MIN))
    engine.apply(old('a', 'resolved', T0 + 5 * MIN))
    engine.apply(old('b', 'resolved', T0 + 6 * MIN))
    expect(engine.stats.pending).toBe(4)
    for (let n = 4; n < 3 + QUIET_S; n++) expect(engine.apply(tickAt(at + n * 1000))).toEqual([])
    // The quiet time of clock since the last arrival (at the third second), and none since the previous tick.
    expect(engine.apply(tickAt(at + (3 + QUIET_S) * 1000))).toMatchObject([{ type: 'incident', incident: { status: 'resolved', alertCount: 2 } }])
    expect(engine.stats.pending).toBe(0)
  })

  it('releases at the count cap, and after the clock cap however steadily the backlog keeps coming', () => {
    const capped = new CorrelationEngine({ lateHold: { afterMs: 5 * MIN, quietMs: 5000, maxMs: 10 * MIN, maxEvents: 2 } })
    capped.apply(tickAt(at))
    expect(capped.apply(old('a', 'firing', T0))).toEqual([])
    expect(capped.apply(old('b', 'firing', T0 + MIN))).toMatchObject([{ type: 'incident' }])
    const steady = new CorrelationEngine()
    steady.apply(tickAt(at))
    for (let n = 0; n < 10 * 60; n++) {
      steady.apply(old(`x${n}`, 'firing', T0 + n * 1000))
      if (steady.apply(tickAt(at + (n + 1) * 1000)).length > 0) {
        expect(n + 1).toBe(10 * 60)
        return
      }
    }
    expect.unreachable('the hold never released')
  })

  it('holds nothing without ticks: a deep-late event is applied on arrival', () => {
    const engine = new CorrelationEngine()
    engine.apply(old('now', 'firing', at))
    expect(engine.apply(old('a', 'firing', T0))).toMatchObject([{ type: 'incident' }])
  })
})
