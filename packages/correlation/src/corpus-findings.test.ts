// Findings of the labelled corpus (docs/corpus.md): the engine's failures on it, each reduced to the
// fewest events that show it. Each was marked `it.fails` while not fixed; all are fixed now, and each
// test keeps the fix.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { defaultCorrelationConfig, type CorrelationConfig } from './config.ts'
import { CorrelationEngine } from './engine.ts'
import type { AlertEvent, EngineInput } from './types.ts'

const T0 = Date.parse('2026-11-08T09:00:00.000Z')
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const isoOf = (t: number) => new Date(t).toISOString()

interface Ev {
  source?: AlertEvent['source']
  fp: string
  service: string
  status: 'firing' | 'resolved'
  /** Event time: startsAt of a firing, endsAt of a resolve. */
  t: number
  /** A resolve's startsAt, when it is not a minute before its end. */
  startsAt?: number
  name?: string
  env?: string
  /** Alertmanager's notification group. */
  amGroup?: string
  /** A dependency: the database host the alert's service uses. */
  host?: string
}

function event(e: Ev, receivedAt: number): AlertEvent {
  const source = e.source ?? 'alertmanager'
  const time = isoOf(e.t)
  const ev: AlertEvent = {
    id: createHash('sha256').update(`${source}|${e.fp}|${e.status}|${time}`).digest('hex').slice(0, 32),
    source, fingerprint: e.fp, status: e.status, severity: 'warning', service: e.service, environment: e.env ?? 'production',
    title: `${e.name ?? e.fp} on ${e.service}`, labels: { alertname: e.name ?? e.fp, ...(e.host ? { database: e.host } : {}) },
    startsAt: e.status === 'firing' ? time : isoOf(e.startsAt ?? e.t - MIN), receivedAt: isoOf(receivedAt), links: [],
    origin: source === 'report' ? { kind: 'customer-complaint', reportedBy: 'support' } : e.amGroup ? { receiver: 'opsreview', groupKey: e.amGroup } : {},
  }
  if (e.status === 'resolved') ev.endsAt = time
  return ev
}
const alert = (e: Ev, receivedAt: number): EngineInput => ({ type: 'alert', event: event(e, receivedAt) })
const tick = (t: number): EngineInput => ({ type: 'tick', at: isoOf(t) })

function run(inputs: EngineInput[], config: Partial<CorrelationConfig> = {}): CorrelationEngine {
  const engine = new CorrelationEngine(config)
  for (const i of inputs) engine.apply(i)
  return engine
}

/** Incidents by the fingerprints they hold, and whether resolved: what must not depend on delivery. */
const membership = (engine: CorrelationEngine) =>
  engine.incidents().map((i) => ({ alerts: i.alerts.map((a) => a.fingerprint).sort(), reports: i.reports.length, status: i.status })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))

/** Live: each event at its own time, with a tick every minute; then ticks an hour on. */
function live(events: Ev[]): EngineInput[] {
  const sorted = [...events].sort((a, b) => a.t - b.t)
  const out: EngineInput[] = []
  let clock = sorted[0]!.t - MIN
  for (const e of sorted) {
    for (; clock + MIN <= e.t; clock += MIN) out.push(tick(clock + MIN))
    out.push(alert(e, e.t))
  }
  for (const end = clock + HOUR; clock < end; clock += MIN) out.push(tick(clock + MIN))
  return out
}

/** Live as received: each event at its receipt, in receipt order, a tick a minute; then ticks an hour on. */
function liveAt(events: [Ev, number][], tickMs = MIN): EngineInput[] {
  const sorted = [...events].sort((a, b) => a[1] - b[1])
  const out: EngineInput[] = []
  let clock = Math.floor(sorted[0]![1] / tickMs) * tickMs
  for (const [e, rx] of sorted) {
    for (; clock + tickMs <= rx; clock += tickMs) out.push(tick(clock + tickMs))
    out.push(alert(e, rx))
  }
  for (const end = clock + HOUR; clock < end; clock += tickMs) out.push(tick(clock + tickMs))
  return out
}

/**
 * A drained spool a day later: the correlator's wall-clock ticks have long passed every event, which arrive
 * in the order given; ticks every second go on, and the one the hold's quiet time after the burst finds it drained.
 */
const quietTicks = (at: number) => Array.from({ length: defaultCorrelationConfig.lateHold.quietMs / 1000 }, (_, n) => tick(at + (n + 1) * 1000))
const burst = (events: Ev[], at = T0 + DAY): EngineInput[] => [tick(at), ...events.map((e) => alert(e, at)), ...quietTicks(at)]

describe('corpus findings: one incident seen by several senders, delivered in one burst', () => {
  // The checkout outage of the corpus, cut down: an Alertmanager alert, a Pingdom check, a complaint.
  const am: Ev[] = [
    { fp: 'co-errors', service: 'checkout', status: 'firing', t: T0 + 20_000, name: 'CheckoutErrors' },
    { fp: 'co-errors', service: 'checkout', status: 'resolved', t: T0 + 31 * MIN, name: 'CheckoutErrors' },
  ]
  const pingdom: Ev[] = [
    { source: 'pingdom', fp: 'check-61207', service: 'checkout', status: 'firing', t: T0 + 2 * MIN, name: 'Checkout: guest purchase flow' },
    { source: 'pingdom', fp: 'check-61207', service: 'checkout', status: 'resolved', t: T0 + 35 * MIN, name: 'Checkout: guest purchase flow' },
  ]
  const report: Ev[] = [{ source: 'report', fp: 'zd-48113', service: 'checkout', status: 'firing', t: T0 + 12 * MIN, name: 'report:customer-complaint' }]

  it('live: one incident with both alerts and the report', () => {
    expect(membership(run(live([...am, ...pingdom, ...report])))).toEqual([{ alerts: ['check-61207', 'co-errors'], reports: 1, status: 'resolved' }])
  })

  it('in a burst in event-time order: also one incident', () => {
    const inOrder = [...am, ...pingdom, ...report].sort((a, b) => a.t - b.t)
    expect(membership(run(burst(inOrder)))).toEqual([{ alerts: ['check-61207', 'co-errors'], reports: 1, status: 'resolved' }])
  })

  // Was broken: every event is late (the ticks passed them a day ago) and was applied on arrival, so the
  // first sender's incident was applied and, with its resolve, closed at once; the complaint and the other
  // sender's alert then opened incidents of their own. Now the backlog is held until a tick finds it drained
  // and applied in event-time order (watermark.ts), and a late event joins the resolved incident of its
  // group whose span holds it (incidents.ts, `resolvedHolding`).
  it('in a burst sender by sender, Pingdom and the report first: still one incident', () => {
    expect(membership(run(burst([...pingdom, ...report, ...am])))).toEqual([{ alerts: ['check-61207', 'co-errors'], reports: 1, status: 'resolved' }])
  })

  // Was broken in the pipeline: a burst posted right after the correlator started reached the engine before
  // its first tick, and an engine that has seen no tick holds nothing (without ticks a hold would never be
  // released), so the burst was applied on arrival and chained. The correlator says that ticks will come.
  it('in a burst that reaches a fresh engine before its first tick: still one incident, when ticks are expected', () => {
    const at = T0 + DAY
    const noTickFirst = burst([...pingdom, ...report, ...am], at).slice(1)
    const expectTicks = { lateHold: { ...defaultCorrelationConfig.lateHold, expectTicks: true } }
    expect(membership(run(noTickFirst, expectTicks))).toEqual([{ alerts: ['check-61207', 'co-errors'], reports: 1, status: 'resolved' }])
    // Before any tick, the told engine holds what lies deep behind; one not told applies it on arrival.
    const events = noTickFirst.filter((i) => i.type === 'alert')
    expect(run(events, expectTicks).stats.pending).toBeGreaterThan(0)
    expect(run(events).stats.pending).toBe(0)
  })
})

describe('corpus findings: an Alertmanager group spanning environments', () => {
  // Was broken, live too: a route grouping by [alertname, service] puts staging's and production's
  // CheckoutErrors in one notification group, and the join on it (keyed groupKey + service) took the
  // staging alert into the production incident. Incidents never span environments: the key has the
  // environment now (alerts.ts, onFiring).
  it('keeps a staging alert out of the production incident of the same notification group', () => {
    const group = '{}:{alertname="CheckoutErrors", service="checkout"}'
    const engine = run(live([
      { fp: 'co-prod', service: 'checkout', status: 'firing', t: T0, name: 'CheckoutErrors', amGroup: group },
      { fp: 'co-stg', service: 'checkout', status: 'firing', t: T0 + 5 * MIN, name: 'CheckoutErrors', amGroup: group, env: 'staging' },
    ]))
    expect(engine.incidents().map((i) => [i.environment, i.alerts.map((a) => a.fingerprint)]).sort()).toEqual([['production', ['co-prod']], ['staging', ['co-stg']]])
  })
})

describe('corpus findings: an alert Alertmanager only ever reports as resolved', () => {
  // Was broken, live too: Alertmanager flushes a group every group_interval (5 min by default); an alert
  // that starts and ends between two flushes is sent once, as resolved, with its startsAt and endsAt. It
  // was kept as an early resolve, waiting for a firing that never comes. Now such a resolve is a whole
  // episode: its firing at startsAt, then its resolve (alerts.ts, applyEvent).
  it('places the resolved-only alert in the incident of its group', () => {
    const group = '{}:{alertname="PriceFeedStale", service="pricing"}'
    const engine = run(live([
      { fp: 'pricing-1', service: 'pricing', status: 'firing', t: T0, name: 'PriceFeedStale', amGroup: group },
      { fp: 'pricing-2', service: 'pricing', status: 'resolved', startsAt: T0 + MIN, t: T0 + 3.5 * MIN, name: 'PriceFeedStale', amGroup: group },
      { fp: 'pricing-1', service: 'pricing', status: 'resolved', t: T0 + 20 * MIN, name: 'PriceFeedStale', amGroup: group },
    ]))
    expect(membership(engine)).toEqual([{ alerts: ['pricing-1', 'pricing-2'], reports: 0, status: 'resolved' }])
  })
})

describe('corpus findings: an alert only ever reported resolved, over another incident of its group', () => {
  // Second probe, after a receiver outage: Alertmanager retried until the receiver was back, and by then
  // 'queue-lag' (10:00-10:20) had ended, so it came only resolved, with its start. 'queue-errors' had
  // fired at 10:07. The episode overlaps that incident, but its start lies more than the quiet period
  // before it opened, and the join looked at the start alone: two incidents.
  const lag: Ev = { fp: 'queue-lag', service: 'queue', status: 'resolved', startsAt: T0, t: T0 + 20 * MIN, name: 'QueueLag' }
  const errorsFiring: Ev = { fp: 'queue-errors', service: 'queue', status: 'firing', t: T0 + 7 * MIN, name: 'QueueErrors' }
  const oneIncident = (status: string) => [{ alerts: ['queue-errors', 'queue-lag'], reports: 0, status }]

  it('live, while that incident is open: one incident, opened at the episode start', () => {
    const engine = run(live([errorsFiring, lag]))
    expect(membership(engine)).toEqual(oneIncident('open'))
    expect(engine.incidents()[0]!.openedAt).toBe(isoOf(T0))
  })

  it('live and in a burst, when that incident has resolved inside the episode: one incident', () => {
    const errors: Ev[] = [errorsFiring, { fp: 'queue-errors', service: 'queue', status: 'resolved', t: T0 + 10 * MIN, name: 'QueueErrors' }]
    expect(membership(run(live([...errors, lag])))).toEqual(oneIncident('resolved'))
    expect(membership(run(burst([...errors, lag])))).toEqual(oneIncident('resolved'))
    expect(membership(run(burst([lag, ...errors])))).toEqual(oneIncident('resolved'))
  })

  it('an episode that ends before the incident opens (less the quiet period) stays apart, however late', () => {
    const early: Ev = { fp: 'queue-lag', service: 'queue', status: 'resolved', startsAt: T0 - 30 * MIN, t: T0 - 20 * MIN, name: 'QueueLag' }
    expect(membership(run(liveAt([[errorsFiring, errorsFiring.t], [early, T0 + 8 * MIN]])))).toEqual([
      { alerts: ['queue-errors'], reports: 0, status: 'open' }, { alerts: ['queue-lag'], reports: 0, status: 'resolved' },
    ])
  })
})

describe('corpus findings: a late alert still firing, over another incident of its group', () => {
  // Third probe: a silence expires (or a receiver outage ends) and Alertmanager sends an alert firing since
  // T0-15 at T0+20, while the incident of another alert of its group has been open since T0. The alert
  // has fired through that incident's whole life, but its start lies more than the quiet period before
  // the incident opened: live, it opened a second incident; in a burst, in event-time order, one.
  const events: [Ev, number][] = [
    [{ fp: 'latency', service: 'checkout', status: 'firing', t: T0, name: 'CheckoutLatencyHigh' }, T0 + 30_000],
    [{ fp: 'errors', service: 'checkout', status: 'firing', t: T0 - 15 * MIN, name: 'CheckoutErrors' }, T0 + 20 * MIN + 30_000],
    [{ fp: 'latency', service: 'checkout', status: 'resolved', t: T0 + 35 * MIN, name: 'CheckoutLatencyHigh' }, T0 + 35 * MIN + 30_000],
    [{ fp: 'errors', service: 'checkout', status: 'resolved', t: T0 + 40 * MIN, name: 'CheckoutErrors' }, T0 + 40 * MIN + 30_000],
  ]
  const expected = [{ alerts: ['errors', 'latency'], reports: 0, status: 'resolved' }]

  it('live, as received: one incident, opened at the late alert\'s start', () => {
    const engine = run(liveAt(events))
    expect(membership(engine)).toEqual(expected)
    expect(engine.incidents()[0]!.openedAt).toBe(isoOf(T0 - 15 * MIN))
  })

  it('in a burst: the same', () => {
    expect(membership(run(burst(events.map(([e]) => e))))).toEqual(expected)
  })

  it('a backlog holding the late alert\'s resolve too, from before the incident opened: apart', () => {
    // A spool drained at T0+20: the alert fired at T0-40 and ended at T0-30. Its receipt says nothing of
    // when it stopped; its held resolve does.
    const rx = T0 + 20 * MIN
    const inputs: EngineInput[] = [tick(T0), alert(events[0]![0], T0 + 30_000), tick(T0 + MIN), tick(rx),
      alert({ fp: 'errors', service: 'checkout', status: 'firing', t: T0 - 40 * MIN, name: 'CheckoutErrors' }, rx),
      alert({ fp: 'errors', service: 'checkout', status: 'resolved', t: T0 - 30 * MIN, name: 'CheckoutErrors' }, rx), ...quietTicks(rx)]
    expect(membership(run(inputs))).toEqual([{ alerts: ['errors'], reports: 0, status: 'resolved' }, { alerts: ['latency'], reports: 0, status: 'open' }])
  })
})

describe('corpus findings: an alert on time while a backlog is held', () => {
  // Third probe: after a receiver outage, Alertmanager's retry brings at T0+0:18 the resolve (T0-34) of
  // an alert that fired at T0-48; it is 52 minutes late and held with the backlog. A new alert of the
  // group fires on time at T0+1, before the hold is released: applied at once, it joined the incident
  // whose end was waiting in the hold. In event time that incident had ended 35 minutes before.
  const events: [Ev, number][] = [
    [{ fp: 'labels', service: 'shipping', status: 'firing', t: T0 - 48 * MIN, name: 'ShippingLabelErrors' }, T0 - 47 * MIN - 30_000],
    [{ fp: 'labels', service: 'shipping', status: 'resolved', t: T0 - 34 * MIN, name: 'ShippingLabelErrors' }, T0 + 18_000],
    [{ fp: 'rates', service: 'shipping', status: 'firing', t: T0 + MIN, name: 'ShippingRateTimeouts' }, T0 + 90_000],
    [{ fp: 'rates', service: 'shipping', status: 'resolved', t: T0 + 18 * MIN, name: 'ShippingRateTimeouts' }, T0 + 18 * MIN + 30_000],
  ]
  const expected = [{ alerts: ['labels'], reports: 0, status: 'resolved' }, { alerts: ['rates'], reports: 0, status: 'resolved' }]

  it('live, with a tick a minute: waits for the backlog, and gives the incidents of event time', () => {
    expect(membership(run(liveAt(events)))).toEqual(expected)
  })

  it('in a burst: the same', () => {
    expect(membership(run(burst(events.map(([e]) => e))))).toEqual(expected)
  })

  it('with an allowed lateness, an alert queued before its group\'s backlog came waits for it too', () => {
    // rates (T0-2) waits in the queue for the 5-minute lateness; labels' resolve comes at T0+0:30, held;
    // another service's backlog keeps the hold open past T0+3, when the watermark passes rates.
    const other: [Ev, number][] = Array.from({ length: 18 }, (_, k) => [
      { fp: `other-${k}`, service: 'billing', status: 'firing', t: T0 - 40 * MIN + k * 10_000, name: 'BillingErrors' }, T0 + 30_000 + k * 20_000,
    ])
    const lateness: [Ev, number][] = [
      [events[0]![0], events[0]![1]],
      [{ fp: 'rates', service: 'shipping', status: 'firing', t: T0 - 2 * MIN, name: 'ShippingRateTimeouts' }, T0 - 100_000],
      [events[1]![0], T0 + 30_000],
      [{ fp: 'rates', service: 'shipping', status: 'resolved', t: T0 + 18 * MIN, name: 'ShippingRateTimeouts' }, T0 + 18 * MIN + 30_000],
      ...other,
    ]
    const shipping = (engine: CorrelationEngine) => membership(engine).filter((i) => !i.alerts[0]!.startsWith('other'))
    expect(shipping(run(liveAt(lateness, 10_000), { allowedLatenessMs: 5 * MIN }))).toEqual(expected)
  })

  it('a group whose events join the backlog after its groups were first looked up waits too', () => {
    // billing's late event starts the hold; checkout's on-time alert looks the held groups up; shipping's
    // resolve joins the hold after that; shipping's new alert must still wait for it.
    const inputs: [Ev, number][] = [
      [events[0]![0], events[0]![1]],
      [{ fp: 'billing', service: 'billing', status: 'firing', t: T0 - 30 * MIN, name: 'BillingErrors' }, T0 + 10_000],
      [{ fp: 'checkout', service: 'checkout', status: 'firing', t: T0 + 20_000, name: 'CheckoutErrors' }, T0 + 20_000],
      [events[1]![0], T0 + 30_000],
      [{ fp: 'rates', service: 'shipping', status: 'firing', t: T0 + 50_000, name: 'ShippingRateTimeouts' }, T0 + 50_000],
      [{ fp: 'rates', service: 'shipping', status: 'resolved', t: T0 + 18 * MIN, name: 'ShippingRateTimeouts' }, T0 + 18 * MIN + 30_000],
    ]
    const shipping = (engine: CorrelationEngine) => membership(engine).filter((i) => i.alerts[0] === 'labels' || i.alerts[0] === 'rates')
    expect(shipping(run(liveAt(inputs)))).toEqual(expected)
  })
})

describe('corpus findings: recurring openings that arrive out of order', () => {
  // Three incidents of one signature on days 0, 5 and 10: no 7-day window holds three, so no problem.
  const printer = (fp: string, day: number): Ev[] => [
    { fp, service: 'shipping', status: 'firing', t: T0 + day * DAY, name: 'LabelPrinterErrors' },
    { fp, service: 'shipping', status: 'resolved', t: T0 + day * DAY + 20 * MIN, name: 'LabelPrinterErrors' },
  ]
  const days = { 0: printer('printer-1', 0), 5: printer('printer-2', 5), 10: printer('printer-3', 10) }

  it('live: no recurring problem', () => {
    expect(run(live([...days[0], ...days[5], ...days[10]])).problems()).toEqual([])
  })

  it('in a burst, day 10 first, then day 0, then day 5: still no recurring problem', () => {
    expect(run(burst([...days[10], ...days[0], ...days[5]], T0 + 11 * DAY)).problems()).toEqual([])
  })
})

describe('corpus findings: shared-cause openings that arrive out of order', () => {
  // orders-api and payments-api on one database at 11:00 and 11:02: a shared cause. inventory on it at
  // 11:30 is linked too, as a later incident matching the candidate problem.
  const db = (fp: string, service: string, minute: number): Ev[] => [
    { fp, service, status: 'firing', t: T0 + 2 * HOUR + minute * MIN, name: `${service}-db`, host: 'pg-orders-main' },
    { fp, service, status: 'resolved', t: T0 + 2 * HOUR + (minute + 15) * MIN, name: `${service}-db`, host: 'pg-orders-main' },
  ]
  const orders = db('orders', 'orders-api', 0)
  const payments = db('payments', 'payments-api', 2)
  const inventory = db('inventory', 'inventory', 30)
  const shared = (engine: CorrelationEngine) => engine.problems().map((p) => [p.kind, [...p.services].sort()])

  it('live: one shared cause', () => {
    expect(shared(run(live([...orders, ...payments, ...inventory])))).toEqual([['shared-cause', ['inventory', 'orders-api', 'payments-api']]])
  })

  // Before the fix, 11:30 dropped 11:00 from the recent openings of the dependency (more than 5 min
  // older), so 11:02 found no partner: no problem at all. And 11:30, come first, was not linked.
  it('in a burst, 11:00 first, then 11:30, then 11:02: the same shared cause', () => {
    expect(shared(run(burst([...orders, ...inventory, ...payments])))).toEqual([['shared-cause', ['inventory', 'orders-api', 'payments-api']]])
  })
})
