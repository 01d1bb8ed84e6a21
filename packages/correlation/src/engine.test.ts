import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { compileGroupingRules } from '@opsreview/grouping'
import { CorrelationEngine, EngineCapacityError, type EngineSnapshot } from './engine.ts'
import type { AlertEvent, Command, EngineInput, EngineOutput, Incident, Problem } from './types.ts'
import { createHash } from 'node:crypto'

const T0 = Date.parse('2026-11-30T08:00:00.000Z')
const MIN = 60_000
const HOUR = 60 * MIN
const at = (minutes: number) => new Date(T0 + minutes * MIN).toISOString()

interface Ev {
  fp: string
  status?: 'firing' | 'resolved'
  /** Event time, minutes after T0. */
  t: number
  /** Received, minutes after T0 (default: the event time). */
  rx?: number
  service?: string
  env?: string
  name?: string
  severity?: AlertEvent['severity']
  labels?: Record<string, string>
  source?: AlertEvent['source']
  origin?: Record<string, unknown>
}

function alert(e: Ev): EngineInput {
  const status = e.status ?? 'firing'
  const source = e.source ?? 'alertmanager'
  const time = at(e.t)
  const id = createHash('sha256').update(`${source}|${e.fp}|${status}|${time}`).digest('hex').slice(0, 32)
  const event: AlertEvent = {
    id, source, fingerprint: e.fp, status, severity: e.severity ?? 'warning', service: e.service ?? 'checkout',
    environment: e.env ?? 'production', title: `${e.name ?? e.fp} on ${e.service ?? 'checkout'}`,
    labels: { alertname: e.name ?? e.fp, ...e.labels }, startsAt: status === 'firing' ? time : at(e.t - 1),
    receivedAt: at(e.rx ?? e.t), links: [], origin: e.origin ?? {},
  }
  if (status === 'resolved') event.endsAt = time
  return { type: 'alert', event }
}

function report(t: number, o: { service?: string; kind?: string; title?: string; rx?: number } = {}): EngineInput {
  const kind = o.kind ?? 'customer-complaint'
  return alert({ fp: `report-${t}-${kind}`, t, rx: o.rx, service: o.service, source: 'report', name: `report:${kind}`, origin: { kind, reportedBy: 'support' } })
}

const tick = (minutes: number): EngineInput => ({ type: 'tick', at: at(minutes) })
let commandSeq = 0
function command(type: Command['type'], target: string, extra: Partial<Command> = {}): EngineInput {
  return { type: 'command', command: { id: `cmd-${++commandSeq}`, type, target, environment: 'production', actor: 'alice', at: at(0), ...extra } }
}

/**
 * The rules are tested without allowed lateness: each event is applied as it arrives, in event time (an
 * event behind the newest one is late). Lateness has tests of its own in engine.event-time.test.ts.
 */
function run(inputs: EngineInput[], config: ConstructorParameters<typeof CorrelationEngine>[0] = {}) {
  const engine = new CorrelationEngine({ allowedLatenessMs: 0, ...config })
  const outputs: EngineOutput[] = []
  for (const input of inputs) outputs.push(...engine.apply(input))
  const incidents = engine.incidents().sort((a, b) => a.openedAt.localeCompare(b.openedAt) || a.id.localeCompare(b.id))
  return { engine, outputs, incidents, problems: engine.problems() }
}

/** The engine a correlator restarts with: `engine`'s snapshot through JSON, as the state topic keeps it. */
function restore(engine: CorrelationEngine, config: ConstructorParameters<typeof CorrelationEngine>[0] = {}): CorrelationEngine {
  return new CorrelationEngine({ allowedLatenessMs: 0, ...config }, JSON.parse(JSON.stringify(engine.snapshot())) as EngineSnapshot)
}

/** Schedules incident `id`'s post-mortem, then notes it, in each engine. */
function scheduleThenNote(engines: readonly CorrelationEngine[], id: string): void {
  for (const engine of engines) {
    engine.apply(command('incident.schedule-postmortem', id, { scheduledFor: '2026-12-31T10:00:00Z' }))
    engine.apply(command('incident.note', id, { text: 'after the post-mortem was set' }))
  }
}

/** Each incident as its members' fingerprints, sorted, in a sorted list: membership, whatever the ids. */
const members = (incidents: Incident[]) => incidents.map((i) => i.alerts.map((a) => a.fingerprint).sort().join('+')).sort()
/** The same with the count of reports: `fingerprints|reports`. */
const withReports = (incidents: Incident[]) => incidents.map((i) => `${i.alerts.map((a) => a.fingerprint).sort().join('+')}|${i.reports.length}`).sort()

const only = (incidents: Incident[]): Incident => {
  expect(incidents).toHaveLength(1)
  return incidents[0]!
}

describe('grouping', () => {
  it('joins alerts of one service and environment, and opens another incident for another service', () => {
    const { incidents } = run([alert({ fp: 'a', t: 0 }), alert({ fp: 'b', t: 1 }), alert({ fp: 'c', t: 2, service: 'search' })])
    expect(incidents.map((i) => [i.services, i.alertCount])).toEqual([[['checkout'], 2], [['search'], 1]])
  })

  it('keeps environments apart', () => {
    expect(run([alert({ fp: 'a', t: 0 }), alert({ fp: 'b', t: 1, env: 'staging' })]).incidents).toHaveLength(2)
  })

  it('lets an incident_key label override the group key', () => {
    const { incidents } = run([
      alert({ fp: 'a', t: 0, service: 'db', labels: { incident_key: 'INC-7' } }),
      alert({ fp: 'b', t: 1, service: 'api', labels: { incident_key: 'INC-7' } }),
    ])
    expect(only(incidents).services).toEqual(['db', 'api'])
  })

  it('groups by the configured labels, and by Alertmanager notification group within a service', () => {
    const cfg = { grouping: compileGroupingRules({ version: 1, groupBy: { default: ['service', 'environment', 'labels.cluster'] } }) }
    const apart = run([alert({ fp: 'a', t: 0, labels: { cluster: 'eu' } }), alert({ fp: 'b', t: 1, labels: { cluster: 'us' } })], cfg)
    expect(apart.incidents).toHaveLength(2)
    const amGroup = { groupKey: '{}:{alertname="X"}' }
    const together = run([alert({ fp: 'a', t: 0, labels: { cluster: 'eu' }, origin: amGroup }), alert({ fp: 'b', t: 1, labels: { cluster: 'us' }, origin: amGroup })], cfg)
    expect(only(together.incidents).alertCount).toBe(2)
    // Also into an incident that does not own its group (an older one, which the newest left when it resolved).
    const eu = { cluster: 'eu' }
    const older = run([
      alert({ fp: 'x', t: 0, labels: eu }), alert({ fp: 'y', t: 1, labels: eu }), alert({ fp: 'y', t: 590, status: 'resolved', labels: eu }),
      alert({ fp: 'a', t: 600, labels: eu }), alert({ fp: 'y', t: 605, labels: eu }), alert({ fp: 'a', t: 610, status: 'resolved', labels: eu }), tick(616),
      alert({ fp: 'b', t: 620, labels: eu, origin: amGroup }), alert({ fp: 'c', t: 621, labels: { cluster: 'us' }, origin: amGroup }),
    ], cfg)
    expect(older.incidents.map((i) => i.alerts.map((m) => m.fingerprint).sort().join('+')).sort()).toEqual(['a', 'b+c+x+y'])
  })

  it('takes the maximum severity of its members', () => {
    const { incidents } = run([alert({ fp: 'a', t: 0, severity: 'info' }), alert({ fp: 'b', t: 1, severity: 'critical' }), alert({ fp: 'c', t: 2 })])
    expect(only(incidents).severity).toBe('critical')
  })
})

describe('dedup', () => {
  it('ignores an event whose id was already seen: no output, no change', () => {
    const e = alert({ fp: 'a', t: 0 })
    const { engine } = run([e])
    expect(engine.apply(e)).toEqual([])
    expect(only(engine.incidents()).version).toBe(1)
  })

  it('updates the alert inside its incident when a known fingerprint changes status', () => {
    const { incidents } = run([alert({ fp: 'a', t: 0 }), alert({ fp: 'b', t: 0 }), alert({ fp: 'a', t: 3, status: 'resolved' })])
    const inc = only(incidents)
    expect(inc.alerts.map((a) => [a.fingerprint, a.status])).toEqual([['a', 'resolved'], ['b', 'firing']])
    expect(inc.status).toBe('open')
  })
})

describe('lifecycle', () => {
  it.each([
    ['before the quiet period ends', 4 + 4.9, 'open'],
    ['once the quiet period has passed', 4 + 5, 'resolved'],
  ])('after every member resolved, an incident is still %s', (_when, tickAt, status) => {
    const { engine } = run([alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 4, status: 'resolved' }), tick(tickAt)])
    const inc = only(engine.incidents())
    expect(inc.status).toBe(status)
    if (status === 'resolved') expect(inc).toMatchObject({ resolvedAt: at(4), resolvedBy: 'alerts' })
  })

  it('does not split an incident when a member fires again within the quiet period', () => {
    const { incidents } = run([alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 2, status: 'resolved' }), alert({ fp: 'a', t: 4 }), tick(10)])
    const inc = only(incidents)
    expect(inc).toMatchObject({ status: 'open', reopenCount: 0 })
    expect(inc.alerts[0]).toMatchObject({ status: 'firing', flapCount: 1 })
  })

  it('reopens the same incident when a member fires again within the reopen window', () => {
    const { incidents } = run([alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 2, status: 'resolved' }), tick(8), alert({ fp: 'a', t: 30 })])
    expect(only(incidents)).toMatchObject({ status: 'open', reopenCount: 1, resolvedAt: null })
  })

  it('opens a new incident when the member fires again after the reopen window', () => {
    const { incidents } = run([alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 2, status: 'resolved' }), tick(8), alert({ fp: 'a', t: 40 })])
    expect(incidents.map((i) => i.status)).toEqual(['resolved', 'open'])
  })

  it.each([
    [24 * 60 - 1, 'open'],
    [24 * 60, 'resolved'],
  ])('auto-resolves an alert that never sends a resolve after 24 h without news (tick at %i min: %s)', (tickAt, status) => {
    const inc = only(run([alert({ fp: 'a', t: 0 }), tick(tickAt)]).incidents)
    expect(inc.status).toBe(status)
    if (status === 'resolved') expect(inc).toMatchObject({ resolvedBy: 'staleness', resolvedAt: at(0) })
  })

  it('keeps a new outage out of an incident that has only been firing quietly for longer than the join window', () => {
    // A certificate warning firing for days, repeated by Alertmanager but never changing; an outage of the
    // same service 6 h in opens its own incident, and its next alert joins that one.
    const { incidents } = run([alert({ fp: 'cert', t: 0 }), tick(6 * 60), alert({ fp: '5xx', t: 6 * 60 }), alert({ fp: '5xx-b', t: 6 * 60 + 3 })])
    expect(incidents.map((i) => i.alerts.map((a) => a.fingerprint))).toEqual([['cert'], ['5xx', '5xx-b']])
    // Within the window it is the same incident; with no window, always.
    expect(only(run([alert({ fp: 'cert', t: 0 }), alert({ fp: '5xx', t: 3 * 60 })]).incidents).alertCount).toBe(2)
    expect(only(run([alert({ fp: 'cert', t: 0 }), alert({ fp: '5xx', t: 6 * 60 })], { joinWindowMs: 0 }).incidents).alertCount).toBe(2)
  })

  it('keeps two outages apart that a warning firing across both would bridge', () => {
    // Third probe: a cache warning fires all day; api errors at 2 h 30 (35 min) join it, within the join
    // window of its start. Search timeouts at 6 h came 2 h 55 after the api errors ended: only the api
    // errors' events were recent, and they are over. The warning's own last event is 6 h old.
    const outages = [
      alert({ fp: 'cache', t: 0 }), alert({ fp: 'api', t: 150, severity: 'critical' }), alert({ fp: 'api', t: 185, status: 'resolved' }),
      alert({ fp: 'search', t: 360, severity: 'critical' }), alert({ fp: 'search', t: 395, status: 'resolved' }), alert({ fp: 'cache', t: 870, status: 'resolved' }),
    ]
    expect(members(run(outages).incidents)).toEqual(['api+cache', 'search'])
    // A resolve counts while its incident would still be open, in the quiet period after it: no longer.
    const after = (t: number) => members(run([alert({ fp: 'cache', t: 0 }), alert({ fp: 'api', t: 200 }), alert({ fp: 'api', t: 240, status: 'resolved' }), alert({ fp: 'db', t })]).incidents)
    expect(after(243)).toEqual(['api+cache+db'])
    expect(after(250)).toEqual(['api+cache', 'db'])
  })

  it('keeps a re-fire out of a quiet incident it once joined, beyond the join window: it does not bridge it either', () => {
    // Fourth probe: x joined the warning's incident at 2 h and ended at 2 h 20; it fires again at 7 h, when
    // the incident has been quiet for longer than the join window, and y follows it.
    const { incidents } = run([
      alert({ fp: 'warn', t: 0 }), alert({ fp: 'x', t: 120 }), alert({ fp: 'x', t: 140, status: 'resolved' }),
      alert({ fp: 'x', t: 420 }), alert({ fp: 'y', t: 422 }), alert({ fp: 'y', t: 432, status: 'resolved' }), alert({ fp: 'x', t: 435, status: 'resolved' }),
    ])
    expect(members(incidents)).toEqual(['warn+x', 'x+y'])
  })

  it('keeps a re-fire in its open incident as long as a resolved one would reopen for it, and while a flap holds it', () => {
    const flaps = [0, 2, 4, 6, 8].flatMap((t) => [alert({ fp: 'x', t }), alert({ fp: 'x', t: t + 1, status: 'resolved' })])
    // Flapping from 0 to 9, held open for the flapping window; a re-fire at 46 is still that incident.
    const held = run([...flaps, alert({ fp: 'x', t: 46 })]).incidents
    expect(only(held).alerts[0]).toMatchObject({ fingerprint: 'x', flapCount: 5 })
    // A quiet warning keeps the incident open: x ending at 305 and firing again at 336 is a re-fire (and a
    // flap), as it would have reopened the incident without the warning.
    const warned = run([alert({ fp: 'w', t: 80 }), ...[300, 302, 304].flatMap((t) => [alert({ fp: 'x', t }), alert({ fp: 'x', t: t + 1, status: 'resolved' })]), alert({ fp: 'x', t: 336 })]).incidents
    expect(only(warned).alerts.find((a) => a.fingerprint === 'x')).toMatchObject({ flapCount: 3 })
  })

  it('keeps complaints hours apart in incidents of their own, as alerts are', () => {
    expect(withReports(run([report(0), report(6 * 60), alert({ fp: 'latency', t: 6 * 60 + 15 })]).incidents)).toEqual(['latency|1', '|1'])
    // Within the join window of the last one, a complaint joins the incident of complaints.
    expect(withReports(run([report(0), report(3 * 60)]).incidents)).toEqual(['|2'])
  })

  it('applies the join window to a complaint as well, whichever of it and the alert arrives first', () => {
    const inOrder = run([alert({ fp: 'cert', t: 0 }), report(6 * 60), alert({ fp: '5xx', t: 6 * 60 + 10 })]).incidents
    const filedLate = run([alert({ fp: 'cert', t: 0 }), alert({ fp: '5xx', t: 6 * 60 + 10 }), report(6 * 60, { rx: 6 * 60 + 11 })]).incidents
    expect(withReports(inOrder)).toEqual(['5xx|1', 'cert|0'])
    expect(withReports(filedLate)).toEqual(withReports(inOrder))
  })

  it('judges a late alert by the incident as it was at its time, not by the events after it', () => {
    // cert fires at 0 and y at 1 (resolved at 2); y fires again at 10 h, into an incident of its own (cert's
    // is quiet). n at 5 h came 3 h after the last event then, in order an incident of its own; arriving
    // after y's re-fire, it must not join either.
    const start = [alert({ fp: 'cert', t: 0 }), alert({ fp: 'y', t: 1 }), alert({ fp: 'y', t: 2, status: 'resolved' })]
    const inOrder = run([...start, alert({ fp: 'n', t: 5 * 60 }), alert({ fp: 'y', t: 10 * 60 })]).incidents
    const late = run([...start, alert({ fp: 'y', t: 10 * 60 }), alert({ fp: 'n', t: 5 * 60, rx: 10 * 60 + 1 })]).incidents
    expect(members(inOrder)).toEqual(['cert+y', 'n', 'y'])
    expect(members(late)).toEqual(members(inOrder))
  })

  it('lets a new alert join an open incident of its group when the owner has resolved', () => {
    // x fires at 0 and stays; y joins at 1 and resolves at 9 h 50. At 10 h a (a new incident, x being quiet)
    // fires and y fires again into x, 15 min after it ended; a resolves; b at 10 h 20 joins x, active by y.
    const { incidents } = run([
      alert({ fp: 'x', t: 0 }), alert({ fp: 'y', t: 1 }), alert({ fp: 'y', t: 590, status: 'resolved' }),
      alert({ fp: 'a', t: 600 }), alert({ fp: 'y', t: 605 }), alert({ fp: 'a', t: 610, status: 'resolved' }), tick(616), alert({ fp: 'b', t: 620 }),
    ])
    expect(incidents.map((i) => i.alerts.map((a) => a.fingerprint).sort().join('+')).sort()).toEqual(['a', 'b+x+y'])
  })

  it('takes the staleness timeout per source', () => {
    const cfg = { stalenessMs: { alertmanager: 24 * HOUR, pingdom: HOUR, report: 24 * HOUR } }
    const { incidents } = run([alert({ fp: 'p', t: 0, source: 'pingdom', service: 'shop' }), alert({ fp: 'a', t: 0 }), tick(61)], cfg)
    expect(Object.fromEntries(incidents.map((i) => [i.services[0], i.status]))).toEqual({ shop: 'resolved', checkout: 'open' })
  })

  it('keeps a Pingdom check that is still down open however long: Pingdom sends state changes only', () => {
    const down = alert({ fp: 'check-1', t: 0, source: 'pingdom', service: 'shop' })
    const inc = only(run([down, tick(30 * 60)]).incidents)
    expect(inc.status).toBe('open')
    // Its UP ends it at the UP's time, not at the DOWN's.
    const ended = only(run([down, tick(30 * 60), alert({ fp: 'check-1', t: 30 * 60, source: 'pingdom', service: 'shop', status: 'resolved' }), tick(30 * 60 + 6)]).incidents)
    expect(ended).toMatchObject({ status: 'resolved', resolvedBy: 'alerts', resolvedAt: at(30 * 60) })
  })

  it('counts a redelivery as a sign of life for the staleness timeout, and as nothing else', () => {
    const fire = alert({ fp: 'a', t: 0, severity: 'critical' })
    const later = structuredClone(fire) as Extract<EngineInput, { type: 'alert' }>
    later.event.receivedAt = at(20 * 60)
    const { incidents, outputs } = run([fire, tick(20 * 60), later, tick(24 * 60 + 10)])
    expect(only(incidents).status).toBe('open')
    expect(outputs.filter((o) => o.type === 'incident')).toHaveLength(2) // opened, and the post-mortem flag of a critical incident at 30 min
  })

  it('keeps a staleness guess as an end when the alert fires again with a new start, in its reopened or still open incident', () => {
    // Its resolve was lost: guessed ended at its last firing (0) a day later; then it fires anew at 24 h 20 min,
    // within the reopen window. The member's own end is now the new episode's; the guessed one stays listed.
    const fire = alert({ fp: 'db', t: 0, severity: 'critical' })
    const again = alert({ fp: 'db', t: 24 * 60 + 20, severity: 'critical' })
    const reopened = run([fire, tick(24 * 60), tick(24 * 60 + 20), again])
    expect(only(reopened.incidents)).toMatchObject({ status: 'open', reopenCount: 1 })
    expect(only(reopened.incidents).alerts[0]).toMatchObject({ status: 'firing', autoResolved: false, resolvedAt: null, firstSeenAt: at(0), lastSeenAt: at(24 * 60 + 20), guessedEnds: [at(0)] })
    // Its real resolve later ends the new episode; the guessed end of the first stays, through a restart too.
    reopened.engine.apply(alert({ fp: 'db', t: 25 * 60, status: 'resolved', severity: 'critical' }))
    const restored = restore(reopened.engine)
    for (const e of [reopened.engine, restored]) {
      expect(only(e.incidents()).alerts[0]).toMatchObject({ status: 'resolved', autoResolved: false, resolvedAt: at(25 * 60), guessedEnds: [at(0)] })
    }

    // Kept open by another alert heard all along (ten minutes of staleness), the incident never resolved: the same.
    const config = { stalenessMs: { alertmanager: 10 * MIN } }
    const keep = (minutes: number) => [tick(minutes), alert({ fp: 'api', t: 0, rx: minutes, severity: 'critical' })]
    const open = run([fire, alert({ fp: 'api', t: 0, severity: 'critical' }), ...keep(5), tick(11), ...keep(14), alert({ fp: 'db', t: 20, severity: 'critical' })], config)
    expect(only(open.incidents).status).toBe('open')
    expect(only(open.incidents).alerts.find((a) => a.fingerprint === 'db')).toMatchObject({ status: 'firing', flapCount: 1, guessedEnds: [at(0)] })
  })

  it('keeps the latest 20 guessed ends of a member', () => {
    // Ten minutes of staleness; one alert heard every five keeps the incident open while the other goes
    // silent and comes back with a new start 25 times.
    const config = { stalenessMs: { alertmanager: 10 * MIN } }
    const inputs: EngineInput[] = [alert({ fp: 'api', t: 0 })]
    for (let k = 0; k < 25; k++) {
      const start = k * 20
      inputs.push(alert({ fp: 'db', t: start }))
      for (let m = 5; m <= 20; m += 5) inputs.push(tick(start + m), alert({ fp: 'api', t: 0, rx: start + m }))
    }
    inputs.push(alert({ fp: 'db', t: 25 * 20 }))
    const db = only(run(inputs, config).incidents).alerts.find((a) => a.fingerprint === 'db')!
    expect(db.guessedEnds).toEqual(Array.from({ length: 20 }, (_, i) => at((i + 5) * 20)))
  })

  it('takes back a staleness resolve when a repeat of the firing comes after it, and only then', () => {
    // A warning an inhibition kept out of the notifications for 30 h, then repeated every 4 h (same start,
    // same event id) until its resolve: firing all along, so the guess is undone, with no reopen and no flap.
    const fire = alert({ fp: 'pvc', t: 0 })
    // The same firing (same start, same event id), received later.
    const repeat = (receivedMinutes: number) => alert({ fp: 'pvc', t: 0, rx: receivedMinutes })
    // Ticked up to its receipt, as a live correlator is: a repeat counts as heard no later than the engine's time.
    const repeatAt = (minutes: number): EngineInput[] => [tick(minutes), repeat(minutes)]
    const guessed = run([fire, tick(30 * 60)])
    expect(only(guessed.incidents)).toMatchObject({ status: 'resolved', resolvedBy: 'staleness' })
    const revived = run([fire, tick(30 * 60), ...repeatAt(34 * 60), tick(36 * 60)])
    expect(only(revived.incidents)).toMatchObject({ status: 'open', resolvedAt: null, resolvedBy: null, reopenCount: 0, openedAt: at(0) })
    expect(only(revived.incidents).alerts[0]).toMatchObject({ status: 'firing', autoResolved: false, resolvedAt: null, flapCount: 0 })
    // The guess was wrong, not an end: nothing of it stays.
    expect(only(revived.incidents).alerts[0]!.guessedEnds).toBeUndefined()
    // Heard at 34 h, it goes stale again 24 h later, not at once.
    expect(only(run([fire, tick(30 * 60), ...repeatAt(34 * 60), tick(34 * 60 + 24 * 60 - 1)]).incidents).status).toBe('open')
    expect(only(run([fire, tick(30 * 60), ...repeatAt(34 * 60), tick(34 * 60 + 24 * 60)]).incidents)).toMatchObject({ status: 'resolved', resolvedBy: 'staleness' })
    // Its real resolve then ends it.
    const ended = run([fire, tick(30 * 60), ...repeatAt(34 * 60), alert({ fp: 'pvc', t: 47 * 60, status: 'resolved' }), tick(47 * 60 + 10)])
    expect(only(ended.incidents)).toMatchObject({ status: 'resolved', resolvedBy: 'alerts', resolvedAt: at(47 * 60) })
    // A repeat that says nothing newer changes nothing: the original redelivered. Nor does one weeks after the guess.
    for (const stale of [[fire], repeatAt(30 * 24 * 60)]) {
      const r = run([fire, tick(30 * 60), ...stale, tick(30 * 60 + 10)])
      expect(only(r.incidents)).toMatchObject({ status: 'resolved', resolvedBy: 'staleness' })
      expect(r.outputs.filter((o) => o.type === 'incident')).toHaveLength(guessed.outputs.filter((o) => o.type === 'incident').length)
    }
    // A repeat received at 4 h, delivered after the guess: in order it put the guess off to 28 h, where it
    // still ran, and so it does late, held as a backlog's (until 2026-12-07 the guess stood at 24 h, decided
    // 4 h before in-order delivery decided it). The guess at 24 h went out before the repeat came: one version more.
    const inOrder = only(run([fire, ...repeatAt(4 * 60), tick(30 * 60)]).incidents)
    const late = run([fire, tick(30 * 60), repeat(4 * 60), tick(30 * 60 + 10)])
    expect(only(late.incidents)).toEqual({ ...inOrder, resolutionDecidedAt: at(28 * 60), version: inOrder.version + 1 })
    // An alert that sent its resolve stays resolved, and a person's resolve stands.
    const sentItsResolve = run([fire, alert({ fp: 'pvc', t: 60, status: 'resolved' }), tick(30 * 60), ...repeatAt(34 * 60)])
    expect(only(sentItsResolve.incidents)).toMatchObject({ status: 'resolved', resolvedBy: 'alerts' })
    const id = only(guessed.incidents).id
    const byPerson = run([fire, tick(60), command('incident.resolve', id, { at: at(60) }), tick(30 * 60), ...repeatAt(34 * 60)])
    expect(only(byPerson.incidents)).toMatchObject({ status: 'resolved', resolvedBy: 'manual' })
  })

  it('handles a resolve that arrives before its fire', () => {
    const { incidents } = run([alert({ fp: 'a', t: 5, status: 'resolved' }), alert({ fp: 'a', t: 0, rx: 6 }), tick(12)])
    const inc = only(incidents)
    expect(inc).toMatchObject({ status: 'resolved', openedAt: at(0), resolvedAt: at(5) })
    expect(inc.alerts[0]).toMatchObject({ status: 'resolved', resolvedAt: at(5) })
  })

  it('moves the start back for a late event older than the incident, within its quiet period', () => {
    const { incidents } = run([alert({ fp: 'a', t: 10 }), alert({ fp: 'b', t: 6, rx: 11 })])
    expect(only(incidents).openedAt).toBe(at(6))
  })

  it('lets a late alert still firing join the open incident it overlaps, however much older its start, as in order', () => {
    // b fired at 2 and, sent at 11, still fires: it fired through a's start at 10. In order it would have
    // opened the incident that a joined.
    const late = run([alert({ fp: 'a', t: 10 }), alert({ fp: 'b', t: 2, rx: 11 })]).incidents
    expect(late.map((i) => [i.openedAt, i.alerts.map((a) => a.fingerprint).sort()])).toEqual([[at(2), ['a', 'b']]])
    expect(run([alert({ fp: 'b', t: 2 }), alert({ fp: 'a', t: 10 })]).incidents.map((i) => [i.openedAt, i.alerts.map((a) => a.fingerprint).sort()])).toEqual([[at(2), ['a', 'b']]])
  })

  it('keeps a late alert apart from an incident that opened beyond the join window after its start, as in order', () => {
    // A warning firing since 0 comes at 320 (a silence expired); latency opened an incident at 300. In
    // order, latency would not have joined the warning's incident, 5 h quiet: the warning does not join it.
    const inOrder = run([alert({ fp: 'warn', t: 0 }), alert({ fp: 'latency', t: 300 }), alert({ fp: 'latency', t: 330, status: 'resolved' })]).incidents
    const late = run([alert({ fp: 'latency', t: 300 }), alert({ fp: 'warn', t: 0, rx: 320 }), alert({ fp: 'latency', t: 330, status: 'resolved' })]).incidents
    expect(members(inOrder)).toEqual(['latency', 'warn'])
    expect(members(late)).toEqual(members(inOrder))
  })

  it('judges a late firing by the resolve already applied after it, not by its receipt', () => {
    // A Pingdom check down at 20 and up at 30; the DOWN webhook, retried, comes at 62, after latency
    // opened an incident at 60. The check ended half an hour before: apart, as in order.
    const check = (t: number, status: 'firing' | 'resolved', rx = t) => alert({ fp: 'check', t, rx, status, source: 'pingdom' })
    const inOrder = run([check(20, 'firing'), check(30, 'resolved'), alert({ fp: 'latency', t: 60 })]).incidents
    const retried = run([check(30, 'resolved'), alert({ fp: 'latency', t: 60 }), check(20, 'firing', 62)]).incidents
    expect(members(inOrder)).toEqual(['check', 'latency'])
    expect(members(retried)).toEqual(members(inOrder))
  })

  it('counts a resolve for the quiet period after it even when the join window is shorter, late or not', () => {
    const config = { quietPeriodMs: 5 * MIN, joinWindowMs: 2 * MIN }
    const start = [alert({ fp: 'a', t: 0 }), alert({ fp: 'b', t: 1 }), alert({ fp: 'b', t: 2, status: 'resolved' })]
    const inOrder = run([...start, alert({ fp: 'c', t: 4.5 }), alert({ fp: 'a', t: 6, status: 'resolved' })], config).incidents
    const late = run([...start, alert({ fp: 'a', t: 6, status: 'resolved' }), alert({ fp: 'c', t: 4.5, rx: 6.5 })], config).incidents
    expect(members(inOrder)).toEqual(['a+b+c'])
    expect(members(late)).toEqual(members(inOrder))
  })

  it('gives a late alert that ended before the open incident, by more than the quiet period, an incident of its own', () => {
    // Sent once, resolved (it fired at 2 and ended at 3, between two flushes of its group), at 11.
    const { incidents } = run([alert({ fp: 'a', t: 10 }), alert({ fp: 'b', t: 3, rx: 11, status: 'resolved' })])
    expect(incidents.map((i) => [i.openedAt, i.alerts.map((a) => a.fingerprint)])).toEqual([[at(2), ['b']], [at(10), ['a']]])
  })

  it('judges a late re-fire within a resolved incident\'s span as the open incident would have: a new outage when nothing was active then', () => {
    // `b` keeps the incident open until the staleness timeout ends it (1441 min); `a`, ended at 2, fires again
    // at 1000, with nothing in the incident active within the join window then.
    const base = [alert({ fp: 'a', t: 0 }), alert({ fp: 'b', t: 1 }), alert({ fp: 'a', t: 2, status: 'resolved' })]
    const refire = (rx?: number) => alert({ fp: 'a', t: 1000, rx })
    const inOrder = run([...base, tick(999), refire(), tick(1500), tick(1502)])
    const late = run([...base, tick(1500), refire(1501), tick(1502), tick(1503), tick(1504)])
    const shape = (incidents: Incident[]) => incidents.map((i) => [i.openedAt, i.status, i.resolvedBy, i.reopenCount, i.alerts.map((m) => m.fingerprint).join('+')])
    expect(shape(inOrder.incidents)).toEqual([[at(0), 'resolved', 'staleness', 0, 'a+b'], [at(1000), 'open', null, 0, 'a']])
    expect(shape(late.incidents)).toEqual(shape(inOrder.incidents))
  })

  it('ignores a late firing older than the resolve already applied', () => {
    const { incidents } = run([alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 10, status: 'resolved' }), alert({ fp: 'a', t: 5, rx: 11 })])
    expect(only(incidents).alerts[0]).toMatchObject({ status: 'resolved', flapCount: 0 })
  })

  it('takes a late firing older than the alert\'s later firing as its start only, as in order', () => {
    // Alertmanager sends a firing with a new start when the alert resolved and fired again between two
    // flushes; the first notification, retried, comes after the second. Staleness ends both at the later one.
    const first = (rx?: number) => alert({ fp: 'a', t: 0, rx })
    const shape = (incidents: Incident[]) => incidents.map((i) => [i.openedAt, i.resolvedAt, i.alerts.map((m) => [m.firstSeenAt, m.lastSeenAt, m.flapCount])])
    const inOrder = run([first(), alert({ fp: 'a', t: 5 }), tick(6), tick(3 * 24 * 60)]).incidents
    const late = run([alert({ fp: 'a', t: 5 }), first(6), tick(6), tick(3 * 24 * 60)]).incidents
    expect(shape(inOrder)).toEqual([[at(0), at(5), [[at(0), at(5), 0]]]])
    expect(shape(late)).toEqual(shape(inOrder))
  })

  it('times the quiet period on the receiver clock, so a sender with a skewed clock cannot end it early', () => {
    // The second sender's clock runs two hours ahead: its event times say +120 min, it was received at +3.
    const { incidents } = run([
      alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 2, status: 'resolved' }),
      alert({ fp: 'skewed', t: 120, rx: 3, service: 'search' }),
    ])
    expect(incidents.find((i) => i.services[0] === 'checkout')?.status).toBe('open')
  })
})

describe('reports', () => {
  it('attach to the open incident of their service as evidence of customer impact, not as members', () => {
    const { incidents } = run([alert({ fp: 'a', t: 0 }), report(1), alert({ fp: 'a', t: 2, status: 'resolved' }), tick(8)])
    const inc = only(incidents)
    expect(inc).toMatchObject({ customerImpact: true, alertCount: 1, status: 'resolved' })
    expect(inc.reports).toHaveLength(1)
  })

  it('open their own incident when none is open, resolved by a person or by staleness', () => {
    const manual = run([report(0)])
    const id = only(manual.incidents).id
    manual.engine.apply(command('incident.resolve', id))
    expect(manual.engine.incident(id)).toMatchObject({ status: 'resolved', resolvedBy: 'manual' })
    const stale = run([report(0), tick(24 * 60 + 1)])
    expect(only(stale.incidents)).toMatchObject({ status: 'resolved', resolvedBy: 'staleness' })
  })

  it('join the incident an alert opens within the report window after them: customers often notice first', () => {
    const shape = (incidents: Incident[]) => incidents.map((i) => ({ alerts: i.alerts.map((a) => a.fingerprint), reports: i.reports.length, openedAt: i.openedAt }))
    // A complaint about 08:00 filed at 08:20, after the alert of 08:10: the same incident as when it comes first.
    const filedLate = run([alert({ fp: 'a', t: 10 }), report(0, { rx: 20 })])
    const inOrder = run([report(0), alert({ fp: 'a', t: 10 })])
    expect(shape(filedLate.incidents)).toEqual([{ alerts: ['a'], reports: 1, openedAt: at(0) }])
    expect(shape(inOrder.incidents)).toEqual(shape(filedLate.incidents))
    // Beyond the window they are two incidents, whichever comes first.
    expect(run([alert({ fp: 'a', t: 40 }), report(0, { rx: 41 })]).incidents).toHaveLength(2)
    expect(run([report(0), alert({ fp: 'a', t: 40 })]).incidents).toHaveLength(2)
  })

  it('keep a morning complaint out of an alert at night: an incident of reports alone takes alerts only within the window', () => {
    const { incidents } = run([report(0), alert({ fp: 'oom', t: 11 * 60 }), alert({ fp: 'oom-2', t: 11 * 60 + 5 }), report(11 * 60 + 10)])
    expect(incidents.map((i) => ({ alerts: i.alerts.map((a) => a.fingerprint), reports: i.reports.length }))).toEqual([
      { alerts: [], reports: 1 },
      // The alerts' incident took the group: the second alert and the evening report join it.
      { alerts: ['oom', 'oom-2'], reports: 1 },
    ])
  })

  it('give the in-order incidents when a report or an alert comes late, either side of the other', () => {
    const byReportTimes = (incidents: Incident[]) => incidents.map((i) => `${i.alerts.map((a) => a.fingerprint).join('+')}|${i.reports.map((r) => r.at).join('+')}`).sort()
    // An alert 10 min before a complaint that came first: one incident, as in order.
    expect(byReportTimes(run([report(10), alert({ fp: 'a', t: 0, rx: 11 })]).incidents)).toEqual(byReportTimes(run([alert({ fp: 'a', t: 0 }), report(10)]).incidents))
    expect(run([report(10), alert({ fp: 'a', t: 0, rx: 11 })]).incidents).toHaveLength(1)
    // A second complaint about the morning, filed after an alert at night took the group: it still finds the
    // morning's incident.
    const late = run([report(0), alert({ fp: 'a', t: 100 }), report(5, { rx: 101 })])
    expect(byReportTimes(late.incidents)).toEqual(byReportTimes(run([report(0), report(5), alert({ fp: 'a', t: 100 })]).incidents))
    expect(byReportTimes(late.incidents)).toEqual([`a|`, `|${at(0)}+${at(5)}`].sort())
  })

  it('go late to the resolved incident their time falls in, not to an open incident of complaints opened after it', () => {
    // An outage from 0 to 40; a complaint at 60; a complaint about 35, filed at 70. In order it joins the outage.
    const outage = [alert({ fp: 'errors', t: 0 }), alert({ fp: 'errors', t: 40, status: 'resolved' }), tick(46)]
    const inOrder = run([...outage.slice(0, 1), report(35), ...outage.slice(1), report(60)]).incidents
    const late = run([...outage, report(60, { rx: 62 }), report(35, { rx: 70 }), tick(71), tick(72)]).incidents
    expect(withReports(inOrder)).toEqual(['errors|1', '|1'])
    expect(withReports(late)).toEqual(withReports(inOrder))
  })

  it('go late to an open incident going on at their time before one that opened after them', () => {
    // w fires at 0 and stays; x at 250 opens an incident of its own (w quiet for over 4 h); a complaint
    // about 230 comes at 270: it is about w's incident, open at its time.
    const { incidents } = run([alert({ fp: 'w', t: 0 }), alert({ fp: 'x', t: 250 }), report(230, { rx: 270 })])
    expect(withReports(incidents)).toEqual(['w|1', 'x|0'])
  })

  it('but a capacity forecast: it neither joins nor marks customer impact (it goes to a forecast problem, engine.forecast.test.ts)', () => {
    expect(only(run([alert({ fp: 'a', t: 0 }), report(1, { kind: 'capacity-forecast' })]).incidents)).toMatchObject({ reports: [], customerImpact: false })
  })
})

describe('post-mortem flag', () => {
  const crit = { severity: 'critical' } as const
  const off = { postmortem: { severities: ['critical'], minDurationMs: 0, whenCustomerImpact: false, minServices: 0 } }
  it.each([
    ['a short critical incident on one service', [alert({ fp: 'a', t: 0, ...crit }), alert({ fp: 'a', t: 10, status: 'resolved', ...crit }), tick(20)], {}, false, []],
    ['a short warning', [alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 10, status: 'resolved' }), tick(20)], {}, false, []],
    ['a critical one that lasted 30 minutes', [alert({ fp: 'a', t: 0, ...crit }), alert({ fp: 'a', t: 30, status: 'resolved', ...crit }), tick(40)], {}, true, ['severity critical', 'lasted 30 min or more']],
    ['a critical one still open at 30 minutes', [alert({ fp: 'a', t: 0, ...crit }), tick(30)], {}, true, ['severity critical', 'lasted 30 min or more']],
    ['a critical one still open at 29 minutes', [alert({ fp: 'a', t: 0, ...crit }), tick(29)], {}, false, []],
    ['a warning that lasted 30 minutes', [alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 30, status: 'resolved' }), tick(40)], {}, false, []],
    ['a critical one that hurt customers', [alert({ fp: 'a', t: 0, ...crit }), report(1)], {}, true, ['severity critical', 'customers affected']],
    ['a warning that hurt customers', [alert({ fp: 'a', t: 0 }), report(1)], {}, false, []],
    ['a critical one on two services', [alert({ fp: 'a', t: 0, service: 'db', labels: { incident_key: 'INC-7' }, ...crit }), alert({ fp: 'b', t: 1, service: 'api', labels: { incident_key: 'INC-7' } })], {}, true, ['severity critical', '2 services hit']],
    ['a critical one on two services, that condition off', [alert({ fp: 'a', t: 0, service: 'db', labels: { incident_key: 'INC-7' }, ...crit }), alert({ fp: 'b', t: 1, service: 'api', labels: { incident_key: 'INC-7' } })], { postmortem: { ...off.postmortem, whenCustomerImpact: true } }, false, []],
    ['a critical one that hurt customers, that condition off', [alert({ fp: 'a', t: 0, ...crit }), report(1)], { postmortem: { severities: ['critical'], minDurationMs: 30 * MIN, whenCustomerImpact: false } }, false, []],
    ['a short critical one, every condition off', [alert({ fp: 'a', t: 0, ...crit }), alert({ fp: 'a', t: 10, status: 'resolved', ...crit }), tick(20)], off, true, ['severity critical']],
    ['a critical one with a lower duration threshold', [alert({ fp: 'a', t: 0, ...crit }), alert({ fp: 'a', t: 10, status: 'resolved', ...crit })], { postmortem: { severities: ['critical'], minDurationMs: 10 * MIN, whenCustomerImpact: true } }, true, ['severity critical', 'lasted 10 min or more']],
    ['a warning when warnings are configured', [alert({ fp: 'a', t: 0 }), report(1)], { postmortem: { severities: ['warning', 'critical'], minDurationMs: 30 * MIN, whenCustomerImpact: true } }, true, ['severity warning', 'customers affected']],
  ] as const)('for %s as configured', (_name, inputs, config, required, reasons) => {
    const inc = run([...inputs], config).incidents[0]!
    expect(inc.postmortem.required).toBe(required)
    expect(inc.postmortem.reasons).toEqual(reasons)
  })

  it('a critical incident still open becomes required at the duration with a new version, a warning does not', () => {
    const engine = new CorrelationEngine({ allowedLatenessMs: 0 })
    engine.apply(alert({ fp: 'a', t: 0, ...crit }))
    engine.apply(alert({ fp: 'b', t: 0, service: 'search' }))
    const later = engine.apply(tick(31)).flatMap((o) => (o.type === 'incident' ? [o.incident] : []))
    expect(later.map((i) => [i.services[0], i.postmortem.required])).toEqual([['checkout', true]])
  })
})

describe('candidate problems', () => {
  const episode = (start: number, fp = 'a', service = 'checkout'): EngineInput[] =>
    [alert({ fp, t: start, service, name: 'HighLatency' }), alert({ fp, t: start + 2, status: 'resolved', service, name: 'HighLatency' }), tick(start + 40)]

  it('finds a recurring problem: three incidents with one signature within seven days', () => {
    const { problems, incidents } = run([...episode(0), ...episode(2 * 24 * 60), ...episode(5 * 24 * 60)])
    expect(incidents).toHaveLength(3)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatchObject({ kind: 'recurring', status: 'candidate', incidentCount: 3, services: ['checkout'] })
    expect(JSON.parse(problems[0]!.signature)).toEqual({ kind: 'recurring', environment: 'production', service: 'checkout', alertNames: ['HighLatency'] })
    for (const inc of incidents) expect(inc.problemIds).toEqual([problems[0]!.id])
  })

  it('names the latest 100 incidents in the problem document and counts them all, so a long-lived problem stays a record Kafka takes', () => {
    const count = 130
    const { outputs, incidents } = run(Array.from({ length: count }, (_, k) => episode(k * 3 * 60)).flat())
    expect(incidents).toHaveLength(count)
    const versions = outputs.flatMap((o) => (o.type === 'problem' ? [o.problem] : []))
    const last = versions.at(-1)!
    expect(last).toMatchObject({ kind: 'recurring', incidentCount: count })
    expect(last.incidentIds).toEqual(incidents.slice(-100).map((i) => i.id))
    expect(Math.max(...versions.map((p) => p.incidentIds.length))).toBe(100)
    // The review finds all of them by the incidents' side of the link.
    for (const inc of incidents) expect(inc.problemIds).toEqual([last.id])
  })

  it('gives an incident of more distinct alert names than a signature holds no recurring signature: a storm is not a pattern', () => {
    // Each new name rebuilt the signature of all: an incident of 20,000 distinct names took a minute.
    const storm = (day: number, names: number) => Array.from({ length: names }, (_, k) => [
      alert({ fp: `d${day}-${k}`, t: day * 24 * 60 + k / 10, name: `Alert${k}` }), alert({ fp: `d${day}-${k}`, t: day * 24 * 60 + 20, status: 'resolved' }),
    ]).flat()
    const days = (names: number) => run([...storm(0, names), ...storm(2, names), ...storm(4, names)])
    expect(days(32).problems).toMatchObject([{ kind: 'recurring', incidentCount: 3 }])
    expect(days(33).problems).toEqual([])
  })

  it('does not call incidents spread over more than seven days recurring', () => {
    expect(run([...episode(0), ...episode(4 * 24 * 60), ...episode(8 * 24 * 60)]).problems).toEqual([])
  })

  it('links later incidents to a confirmed problem', () => {
    // Two hours apart: past the reopen window, so each episode is an incident of its own.
    const r = run([...episode(0), ...episode(120), ...episode(240)])
    const problem = r.problems[0]!
    r.engine.apply(command('problem.confirm', problem.id))
    for (const input of episode(20 * 24 * 60)) r.engine.apply(input)
    const latest = r.engine.incidents().at(-1)!
    expect(latest.problemIds).toEqual([problem.id])
    expect(r.engine.problem(problem.id)).toMatchObject({ status: 'confirmed', incidentCount: 4 })
  })

  describe('a resolved problem its rule finds again', () => {
    const DAY = 24 * 60
    const decide = (r: ReturnType<typeof run>, id: string, t: number) => {
      // The correlator's clock at the decision (a live one ticks every few seconds): a resolve never stands further ahead of it than an event may.
      r.engine.apply(tick(t))
      r.engine.apply(command('problem.confirm', id, { at: at(t) }))
      r.engine.apply(command('problem.resolve', id, { at: at(t) }))
      expect(r.engine.problem(id)).toMatchObject({ status: 'resolved', resolvedAt: at(t), reopenCount: 0 })
    }
    const feed = (r: ReturnType<typeof run>, inputs: EngineInput[]) => inputs.flatMap((i) => r.engine.apply(i))

    it('comes back confirmed when incidents opened since it was resolved recur again, and counts only those', () => {
      const r = run([...episode(0), ...episode(120), ...episode(240)])
      const id = r.problems[0]!.id
      decide(r, id, 300)
      // With the three before the fix, two more within 7 days would make a window: only those since count.
      feed(r, [...episode(DAY), ...episode(2 * DAY)])
      expect(r.engine.problem(id)).toMatchObject({ status: 'resolved', incidentCount: 3 })
      const outputs = feed(r, episode(3 * DAY))
      const back = r.engine.problem(id)!
      expect(back).toMatchObject({ status: 'confirmed', resolvedAt: null, reopenCount: 1, incidentCount: 6 })
      expect(outputs.filter((o) => o.type === 'problem').map((o) => o.type === 'problem' && o.problem.status)).toEqual(['confirmed'])
      for (const inc of r.engine.incidents()) expect(inc.problemIds).toEqual([id])
    })

    it('takes an incident that opened before it was resolved and came after, as in order, without coming back', () => {
      const linked = (late: boolean) => {
        const r = run([...episode(0), ...episode(120), ...episode(240)])
        const id = r.problems[0]!.id
        r.engine.apply(command('problem.confirm', id, { at: at(260) }))
        const fourth = alert({ fp: 'a', t: 300, service: 'checkout', name: 'HighLatency' })
        if (!late) feed(r, [fourth])
        feed(r, [tick(302), command('problem.resolve', id, { at: at(302) })])
        if (late) feed(r, [fourth])
        feed(r, [alert({ fp: 'a', t: 305, status: 'resolved', service: 'checkout', name: 'HighLatency' }), tick(350)])
        const inc = r.engine.incidents().find((i) => i.openedAt === at(300))!
        return { problem: r.engine.problem(id), problemIds: inc.problemIds }
      }
      const inOrder = linked(false)
      expect(inOrder).toMatchObject({ problem: { status: 'resolved', incidentCount: 4, reopenCount: 0 }, problemIds: [inOrder.problem!.id] })
      expect(linked(true)).toEqual(inOrder)
    })

    it('comes back when a person confirms it again, and then takes the incident they link to it', () => {
      const r = run([...episode(0), ...episode(120), ...episode(240)])
      const id = r.problems[0]!.id
      decide(r, id, 300)
      feed(r, [alert({ fp: 'a', t: 400, service: 'checkout', name: 'HighLatency' })])
      const latest = r.engine.incidents().at(-1)!
      expect(feed(r, [command('incident.link-problem', latest.id, { problemId: id, at: at(401) })]).find((o) => o.type === 'command-result')).toMatchObject({ result: { ok: false } })
      // The fix did not hold, and the review says so before the rule's count: confirmed again, counted as a come-back.
      const outputs = feed(r, [command('problem.confirm', id, { at: at(402) })])
      expect(outputs.find((o) => o.type === 'command-result')).toMatchObject({ result: { ok: true } })
      expect(r.engine.problem(id)).toMatchObject({ status: 'confirmed', resolvedAt: null, reopenCount: 1 })
      feed(r, [command('incident.link-problem', latest.id, { problemId: id, at: at(403) })])
      expect(r.engine.problem(id)).toMatchObject({ status: 'confirmed', incidentCount: 4 })
      expect(r.engine.incident(latest.id)!.problemIds).toEqual([id])
    })

    it('is resolved no later than an event may be, by a review clock ahead, and still comes back for the incidents after', () => {
      const r = run([...episode(0), ...episode(120), ...episode(240)])
      const id = r.problems[0]!.id
      r.engine.apply(command('problem.confirm', id, { at: at(300) }))
      // The review's clock two hours ahead of the newest event (the tick at 280).
      r.engine.apply(command('problem.resolve', id, { at: at(400) }))
      expect(r.engine.problem(id)).toMatchObject({ status: 'resolved', resolvedAt: at(281) })
      feed(r, [...episode(290), ...episode(330), ...episode(370)])
      expect(r.engine.problem(id)).toMatchObject({ status: 'confirmed', reopenCount: 1, incidentCount: 6 })
    })

    it('comes back when its alert flaps again after it was resolved', () => {
      const flaps = (t0: number): EngineInput[] => [
        alert({ fp: 'f', t: t0 }),
        ...[1, 2, 3, 4].flatMap((i) => [alert({ fp: 'f', t: t0 + i * 10 - 5, status: 'resolved' }), alert({ fp: 'f', t: t0 + i * 10 })]),
        alert({ fp: 'f', t: t0 + 45, status: 'resolved' }), tick(t0 + 120),
      ]
      const r = run(flaps(0))
      const id = r.problems[0]!.id
      decide(r, id, 130)
      feed(r, flaps(DAY))
      expect(r.engine.problem(id)).toMatchObject({ kind: 'flapping', status: 'confirmed', reopenCount: 1, incidentCount: 2 })
    })

    /** One alert re-firing four times in its incident (0–40), its flapping problem resolved at 41. */
    const flappedThenResolved = () => {
      const inputs: EngineInput[] = [alert({ fp: 'f', t: 0 })]
      for (let i = 1; i <= 4; i++) inputs.push(alert({ fp: 'f', t: i * 10 - 5, status: 'resolved' }), alert({ fp: 'f', t: i * 10 }))
      const r = run(inputs)
      const id = r.problems[0]!.id
      decide(r, id, 41)
      return { r, id }
    }

    it('stays resolved for an alert that flapped right through the resolve: not all of its flapping came after', () => {
      const { r, id } = flappedThenResolved()
      feed(r, [alert({ fp: 'f', t: 45, status: 'resolved' }), alert({ fp: 'f', t: 50 }), alert({ fp: 'f', t: 55, status: 'resolved' }), alert({ fp: 'f', t: 60 })])
      expect(r.engine.problem(id)).toMatchObject({ status: 'resolved', reopenCount: 0 })
    })

    it('comes back for an alert still flapping an hour after the resolve, in the incident it flapped in before', () => {
      const { r, id } = flappedThenResolved()
      for (let t = 50; t <= 130; t += 10) feed(r, [alert({ fp: 'f', t: t - 5, status: 'resolved' }), alert({ fp: 'f', t })])
      expect(r.engine.incidents()).toHaveLength(1)
      expect(r.engine.problem(id)).toMatchObject({ status: 'confirmed', reopenCount: 1, incidentCount: 1 })
    })

    /**
     * The first event of the incident of `start` delivered again at `t`, older than the retention in event
     * time as every event of its incident and received then: history the engine may have applied and
     * forgotten, dropped (made again under its id, its version 1 replaced the incident's documents).
     */
    const deliverAgain = (r: ReturnType<typeof run>, start: number, t: number) => {
      expect(feed(r, [episode(start)[0]!, tick(t), tick(t + 1)]).filter((o) => o.type === 'incident')).toEqual([])
      expect(r.engine.incidents()).toHaveLength(0)
    }

    it('drops the late first event of an incident retention forgot: no incident made again, nothing counted twice', () => {
      const r = run([...episode(0), ...episode(120), ...episode(240)], { retentionMs: 2 * DAY * MIN })
      const id = r.problems[0]!.id
      feed(r, [tick(4 * DAY)])
      expect(r.engine.incidents()).toHaveLength(0)
      const ids = r.engine.problem(id)!.incidentIds
      deliverAgain(r, 0, 4 * DAY + 1)
      expect(r.engine.problem(id)).toMatchObject({ incidentCount: 3, incidentIds: ids })
      expect(r.engine.stats.lateDropped).toBe(1)
    })

    it('drops a late event of such an incident that did not open it, too: the problem does not count the incident twice', () => {
      // Two alerts per incident; the second one's firing delivered again.
      const pair = (start: number): EngineInput[] => [
        alert({ fp: 'a', t: start, name: 'HighLatency' }), alert({ fp: 'b', t: start + 1, name: 'HighLatency' }),
        alert({ fp: 'a', t: start + 2, status: 'resolved', name: 'HighLatency' }), alert({ fp: 'b', t: start + 2, status: 'resolved', name: 'HighLatency' }), tick(start + 40),
      ]
      const r = run([...pair(0), ...pair(120), ...pair(240)], { retentionMs: 2 * DAY * MIN })
      const id = r.problems[0]!.id
      feed(r, [tick(4 * DAY)])
      const out = feed(r, [pair(120)[1]!, tick(4 * DAY + 1), tick(4 * DAY + 2)])
      expect(out).toEqual([])
      expect(r.engine.problem(id)).toMatchObject({ incidentCount: 3 })
      expect(r.engine.stats.lateDropped).toBe(1)
    })

    it('drops such events for a problem with more incidents than its document names, named or not', () => {
      // Past 16 ids a problem asks a set beside its list whether it names an incident.
      const starts = Array.from({ length: 105 }, (_, k) => k * 3 * 60)
      const last = starts.at(-1)!
      const r = run(starts.flatMap((t) => episode(t)), { retentionMs: 2 * DAY * MIN })
      const id = r.problems[0]!.id
      feed(r, [tick(last + 4 * DAY)])
      const ids = r.engine.problem(id)!.incidentIds
      expect(ids).toHaveLength(100)
      // The incident of starts[50] is among the 100 the document names; that of starts[0] fell off.
      deliverAgain(r, starts[50]!, last + 4 * DAY + 1)
      deliverAgain(r, starts[0]!, last + 4 * DAY + 3)
      expect(r.engine.problem(id)).toMatchObject({ incidentCount: 105, incidentIds: ids })
    })

    it('comes back when services fail together on the dependency again; a dismissed one stays dismissed', () => {
      // Services x and y fail together on each host at `t`.
      const together = (t: number, hosts: string[]): EngineInput[] => [
        ...hosts.flatMap((host) => [alert({ fp: `x${host}${t}`, t, service: 'x', labels: { host } }), alert({ fp: `y${host}${t}`, t: t + 1, service: 'y', labels: { host } })]),
        ...hosts.flatMap((host) => ['x', 'y'].map((svc) => alert({ fp: `${svc}${host}${t}`, t: t + 5, status: 'resolved', service: svc, labels: { host } }))),
        tick(t + 60),
      ]
      const r = run(together(0, ['h', 'g']))
      const [h, g] = ['h', 'g'].map((v) => r.problems.find((p) => JSON.parse(p.signature).value === v)!.id)
      decide(r, h!, 70)
      r.engine.apply(command('problem.dismiss', g!))
      // One service alone on it again is no shared cause, nor one that opened before the resolve and one after.
      feed(r, [alert({ fp: 'c', t: 69, service: 'x', labels: { host: 'h' } }), alert({ fp: 'd', t: 72, service: 'y', labels: { host: 'h' } })])
      feed(r, [alert({ fp: 'e', t: DAY, service: 'x', labels: { host: 'h' } })])
      expect(r.engine.problem(h!)!.status).toBe('resolved')
      feed(r, together(2 * DAY, ['h', 'g']))
      expect(r.engine.problem(h!)).toMatchObject({ status: 'confirmed', reopenCount: 1, resolvedAt: null })
      expect(r.engine.problem(g!)).toMatchObject({ status: 'dismissed', incidentCount: 2 })
    })
  })

  it('finds flapping: one alert firing again four times within an hour keeps one incident open', () => {
    const inputs: EngineInput[] = [alert({ fp: 'f', t: 0 })]
    for (let i = 1; i <= 4; i++) inputs.push(alert({ fp: 'f', t: i * 10 - 5, status: 'resolved' }), alert({ fp: 'f', t: i * 10 }))
    inputs.push(alert({ fp: 'f', t: 45, status: 'resolved' }), tick(60))
    const { incidents, problems } = run(inputs)
    const inc = only(incidents)
    expect(inc.alerts[0]!.flapCount).toBe(4)
    expect(inc.status).toBe('open') // held open while flapping
    expect(problems).toMatchObject([{ kind: 'flapping', incidentIds: [inc.id] }])
    const later = run([...inputs, tick(45 + 61)])
    expect(only(later.incidents).status).toBe('resolved')
  })

  it('finds a shared cause: two services opening within five minutes on one host', () => {
    const { problems } = run([
      alert({ fp: 'a', t: 0, service: 'checkout', labels: { instance: 'db-1:9100' } }),
      alert({ fp: 'b', t: 3, service: 'search', labels: { instance: 'db-1:9187' } }),
    ])
    expect(problems).toMatchObject([{ kind: 'shared-cause', services: ['checkout', 'search'], incidentCount: 2 }])
    expect(JSON.parse(problems[0]!.signature)).toEqual({ kind: 'shared-cause', environment: 'production', label: 'host', value: 'db-1' })
  })

  it('finds no shared cause between environments that one engine holds, and one within each', () => {
    // Environments share a partition of the input, and their hosts may share names.
    const onDb1 = (fp: string, t: number, service: string, env: string) => alert({ fp, t, service, env, labels: { instance: 'db-1:9100' } })
    expect(run([onDb1('a', 0, 'checkout', 'production'), onDb1('b', 2, 'search', 'staging')]).problems).toEqual([])
    expect(run([onDb1('b', 0, 'search', 'staging'), onDb1('a', 0, 'checkout', 'production')]).problems).toEqual([])
    const both = run([onDb1('a', 0, 'checkout', 'production'), onDb1('b', 1, 'search', 'staging'), onDb1('c', 2, 'cart', 'production'), onDb1('d', 3, 'tax', 'staging')])
    expect(both.problems.map((p) => [p.environment, [...p.services].sort(), p.incidentCount]).sort()).toEqual([['production', ['cart', 'checkout'], 2], ['staging', ['search', 'tax'], 2]])
    for (const i of both.incidents) expect(both.problems.find((p) => p.id === i.problemIds[0])?.environment).toBe(i.environment)
  })

  it('times an incident of reports alone by its first alert: a complaint applied before the alerts it follows', () => {
    const db = { instance: 'db-main:9187' }
    const { incidents, problems } = run([
      report(20, { service: 'checkout' }),
      alert({ fp: 'pay', t: 8, rx: 21, service: 'checkout', labels: db }), alert({ fp: 'search', t: 10, rx: 21, service: 'search', labels: db }),
    ])
    expect(incidents.map((i) => `${i.services.join()}:${i.alerts.length}:${i.reports.length}`)).toEqual(['checkout:1:1', 'search:1:0'])
    expect(problems).toMatchObject([{ kind: 'shared-cause', services: ['checkout', 'search'] }])
  })

  it('finds no shared cause within one incident of several services', () => {
    const keyed = (fp: string, t: number, service: string) => alert({ fp, t, service, labels: { incident_key: 'fraud-review', instance: `${service}-1:9100` } })
    const { incidents, problems } = run([keyed('a', 0, 'checkout'), keyed('b', 1, 'risk'), keyed('c', 2, 'checkout')])
    expect(only(incidents).services).toEqual(['checkout', 'risk'])
    expect(problems).toEqual([])
  })

  it('takes no cause from labels every alert of a Prometheus carries (cluster, region)', () => {
    const external = { cluster: 'prod-eu-1', region: 'eu-west-1' }
    const { problems } = run([
      alert({ fp: 'a', t: 0, service: 'checkout', labels: external }),
      alert({ fp: 'b', t: 2, service: 'search', labels: external }),
    ])
    expect(problems).toEqual([])
  })

  it("takes no host from kube-state-metrics' instance, which is the exporter's own address on all its alerts", () => {
    const ksm = (fp: string, t: number, container: string) => alert({
      fp, t, service: container, name: 'KubePodCrashLooping', labels: { job: 'kube-state-metrics', instance: '10.244.1.17:8080', namespace: 'shop', container },
    })
    expect(run([ksm('a', 0, 'cart'), ksm('b', 2, 'payments')]).problems).toEqual([])
    // The exporters are a setting: with none, the address is a host like any other.
    const noExporters = { sharedCause: { windowMs: 5 * MIN, minServices: 2, labels: ['host'], exporterJobs: [] } }
    expect(run([ksm('a', 0, 'cart'), ksm('b', 2, 'payments')], noExporters).problems).toMatchObject([{ kind: 'shared-cause' }])
    // The same two alerts from a job whose instance is the host they are about do share it.
    const node = (fp: string, t: number, service: string) => alert({ fp, t, service, labels: { job: 'node-exporter', instance: '10.0.0.5:9100' } })
    expect(run([node('a', 0, 'cart'), node('b', 2, 'payments')]).problems).toMatchObject([{ kind: 'shared-cause', services: ['cart', 'payments'] }])
  })

  it('takes a bare IPv6 instance whole as its host: its last group is no port', () => {
    const v6 = (fp: string, t: number, service: string, instance: string) => alert({ fp, t, service, labels: { instance } })
    expect(run([v6('a', 0, 'geo', '2001:db8:10::5'), v6('b', 1, 'tax', '2001:db8:10::9')]).problems).toEqual([])
    expect(run([v6('a', 0, 'geo', '2001:db8:10::5'), v6('b', 1, 'tax', '2001:db8:10::5')]).problems).toMatchObject([{ kind: 'shared-cause', signature: expect.stringContaining('"value":"2001:db8:10::5"') }])
    expect(run([v6('a', 0, 'geo', '[2001:db8:10::5]:9100'), v6('b', 1, 'tax', '[2001:db8:10::5]:9200')]).problems).toMatchObject([{ kind: 'shared-cause', signature: expect.stringContaining('"value":"2001:db8:10::5"') }])
  })

  it.each([
    ['more than five minutes apart', 6, 'search'],
    ['in the same service', 3, 'checkout'],
  ])('finds no shared cause for incidents %s', (_name, t, service) => {
    const { problems } = run([
      alert({ fp: 'a', t: 0, service: 'checkout', labels: { database: 'orders' } }),
      alert({ fp: 'b', t, service, labels: { database: 'orders', incident_key: 'separate' } }),
    ])
    expect(problems).toEqual([])
  })
})

describe('the review decisions', () => {
  it('applies owner, acknowledgement, notes, problem links and post-mortems, each a new version', () => {
    const r = run([alert({ fp: 'a', t: 0 })])
    const id = only(r.incidents).id
    const versions = [r.engine.incident(id)!.version]
    const apply = (input: EngineInput) => { const out = r.engine.apply(input); versions.push(r.engine.incident(id)!.version); return out }
    expect(apply(command('incident.assign', id, { owner: 'bob' }))).toContainEqual({ type: 'command-result', result: expect.objectContaining({ ok: true }) })
    apply(command('incident.acknowledge', id, { at: at(3) }))
    apply(command('incident.note', id, { text: 'rolled back' }))
    apply(command('incident.schedule-postmortem', id, { scheduledFor: '2026-12-02T10:00:00Z', owner: 'carol' }))
    expect(r.engine.incident(id)).toMatchObject({
      owner: 'bob', acknowledgedAt: at(3), acknowledgedBy: 'alice', notes: [{ author: 'alice', text: 'rolled back' }],
      postmortem: { scheduledFor: '2026-12-02T10:00:00Z', owner: 'carol' },
    })
    expect(versions).toEqual([1, 2, 3, 4, 5])
  })

  it('says in each accepted result the version of its target that shows it, and none in a refusal', () => {
    const r = run([alert({ fp: 'a', t: 0, service: 'x', labels: { host: 'h' } }), alert({ fp: 'b', t: 1, service: 'y', labels: { host: 'h' } })])
    const inc = r.incidents[0]!.id
    const prb = r.problems[0]!.id
    const result = (input: EngineInput) => r.engine.apply(input).find((o) => o.type === 'command-result')
    const before = r.engine.incident(inc)!.version
    expect(result(command('incident.assign', inc, { owner: 'bob' }))).toEqual({ type: 'command-result', result: expect.objectContaining({ ok: true, version: before + 1 }) })
    // A command that changes nothing is shown by the version there is.
    expect(result(command('incident.acknowledge', inc))).toMatchObject({ result: { ok: true, version: before + 2 } })
    expect(result(command('incident.acknowledge', inc))).toMatchObject({ result: { ok: true, version: before + 2 } })
    expect(result(command('problem.confirm', prb))).toMatchObject({ result: { ok: true, version: r.engine.problem(prb)!.version } })
    const refused = result(command('problem.resolve', `prb-${'0'.repeat(24)}`))
    expect(refused).toMatchObject({ result: { ok: false } })
    expect(refused?.type === 'command-result' && 'version' in refused.result).toBe(false)
    // Batched as the correlator applies records: the result says the version the drain emits.
    r.engine.applyBuffered(command('incident.note', inc, { text: 'one' }))
    r.engine.applyBuffered(command('incident.note', inc, { text: 'two' }))
    const drained = r.engine.drainOutputs()
    const emitted = drained.find((o) => o.type === 'incident')
    const results = drained.flatMap((o) => (o.type === 'command-result' ? [o.result.version] : []))
    expect(emitted?.type === 'incident' && emitted.incident.version).toBe(before + 4)
    expect(results).toEqual([before + 3, before + 4])
  })

  it('moves problems candidate → confirmed → resolved, and refuses what the state does not allow', () => {
    const r = run([
      alert({ fp: 'a', t: 0, service: 'x', labels: { host: 'h' } }), alert({ fp: 'b', t: 1, service: 'y', labels: { host: 'h' } }),
    ])
    const id = r.problems[0]!.id
    const result = (input: EngineInput) => r.engine.apply(input).find((o) => o.type === 'command-result')
    expect(result(command('problem.resolve', id))).toMatchObject({ result: { ok: false, error: 'cannot resolve a candidate problem' } })
    expect(result(command('problem.confirm', id))).toMatchObject({ result: { ok: true } })
    expect(result(command('problem.dismiss', id))).toMatchObject({ result: { ok: false } })
    expect(result(command('problem.resolve', id))).toMatchObject({ result: { ok: true } })
    expect(r.engine.problem(id)!.status).toBe('resolved')
  })

  it('keeps an incident past the retention until the post-mortem it requires is scheduled, for that decision alone', () => {
    const DAY = 24 * 60
    const config = { retentionMs: 2 * 86_400_000 }
    // A critical outage of 45 minutes (a post-mortem required) and a short warning of another service.
    const r = run([
      alert({ fp: 'big', t: 0, severity: 'critical', service: 'checkout' }), alert({ fp: 'small', t: 0, service: 'search' }),
      alert({ fp: 'small', t: 5, status: 'resolved', service: 'search' }), alert({ fp: 'big', t: 45, status: 'resolved', severity: 'critical', service: 'checkout' }),
      tick(4 * DAY),
    ], config)
    const [big, small] = ['checkout', 'search'].map((svc) => r.outputs.flatMap((o) => (o.type === 'incident' && o.incident.services[0] === svc ? [o.incident.id] : []))[0]!)
    expect(r.engine.incident(small!)).toBeUndefined()
    // The one not kept went with a last version that says when the retention reached it (after its resolution
    // was decided), so that the review takes no decision on it; before, it went silently.
    const smallVersions = r.outputs.flatMap((o) => (o.type === 'incident' && o.incident.id === small ? [o.incident] : []))
    const decided = Date.parse(smallVersions.at(-2)!.resolutionDecidedAt!)
    expect(smallVersions.at(-1)).toEqual({ ...smallVersions.at(-2), version: smallVersions.at(-2)!.version + 1, forgottenAt: new Date(decided + 2 * 86_400_000).toISOString() })
    expect(smallVersions.slice(0, -1).every((i) => i.forgottenAt === undefined)).toBe(true)
    expect(r.engine.incident(big!)).toMatchObject({ status: 'resolved', postmortem: { required: true, scheduledFor: null } })
    // No event finds it: the same alert firing again opens an incident of its own, and leaves it as it was.
    const version = r.engine.incident(big!)!.version
    r.engine.apply(alert({ fp: 'big', t: 4 * DAY + 1, severity: 'critical', service: 'checkout' }))
    expect(r.engine.incidents().filter((i) => i.services[0] === 'checkout').map((i) => i.status).sort()).toEqual(['open', 'resolved'])
    expect(r.engine.incident(big!)!.version).toBe(version)
    // Restored from a snapshot, it is still kept; scheduled, its version is its last, and it is forgotten.
    const restored = restore(r.engine, config)
    expect(restored.incident(big!)).toBeDefined()
    const scheduled = restored.apply(command('incident.schedule-postmortem', big!, { scheduledFor: '2026-12-10T10:00:00Z', owner: 'carol' }))
    expect(scheduled).toContainEqual({ type: 'incident', incident: expect.objectContaining({ id: big, postmortem: expect.objectContaining({ scheduledFor: '2026-12-10T10:00:00Z', owner: 'carol' }), forgottenAt: at(4 * DAY + 1) }) })
    const last = scheduled.flatMap((o) => (o.type === 'incident' ? [o.incident.version] : []))
    expect(last).toHaveLength(1)
    // The result still says the version that shows it, though the incident is forgotten with it.
    expect(scheduled).toContainEqual({ type: 'command-result', result: expect.objectContaining({ ok: true, version: last[0] }) })
    expect(restored.incident(big!)).toBeUndefined()
    expect(restored.apply(command('incident.note', big!, { text: 'late' }))).toContainEqual({ type: 'command-result', result: expect.objectContaining({ ok: false, error: `unknown incident ${big}` }) })
  })

  it('keeps an incident kept for its post-mortem from the late alerts of its notification group too', () => {
    const DAY = 24 * 60
    const g1 = { groupKey: 'g1' }
    const r = run([
      alert({ fp: 'big', t: 0, severity: 'critical', origin: g1 }), alert({ fp: 'big', t: 45, status: 'resolved', severity: 'critical', origin: g1 }),
      tick(4 * DAY),
    ], { retentionMs: 2 * 86_400_000 })
    const [big] = r.engine.incidents()
    expect(big).toMatchObject({ status: 'resolved', postmortem: { required: true, scheduledFor: null } })
    const version = big!.version
    // Spooled through the days: a crash loop of the notification group from the outage's middle, and the
    // outage's own firing again (its id forgotten with it). Until 2026-12-07 the group still named the kept
    // incident: the crash loop opened it again, and the firing became a second member of key alertmanager:big.
    r.engine.apply(alert({ fp: 'crash', t: 20, rx: 4 * DAY, origin: g1 }))
    r.engine.apply(alert({ fp: 'big', t: 0, rx: 4 * DAY, severity: 'critical', origin: g1 }))
    r.engine.apply(tick(4 * DAY + 1))
    r.engine.apply(tick(4 * DAY + 2))
    expect(r.engine.stats.pending).toBe(0)
    expect(r.engine.incident(big!.id)).toMatchObject({ status: 'resolved', alertCount: 1, version })
    expect(r.engine.incidents().filter((i) => i.id !== big!.id).map((i) => i.alerts.map((a) => a.key).sort())).toEqual([['alertmanager:big', 'alertmanager:crash']])
  })

  it('keeps at most maxAwaitingPostmortem incidents for their post-mortems, forgetting the oldest, after a restart with fewer too', () => {
    const DAY = 24 * 60
    const outage = (svc: string, t: number) => [alert({ fp: svc, t, severity: 'critical', service: svc }), alert({ fp: svc, t: t + 45, status: 'resolved', severity: 'critical', service: svc })]
    const config = { retentionMs: 2 * 86_400_000, maxAwaitingPostmortem: 2 }
    const r = run([...outage('a', 0), ...outage('b', 60), ...outage('c', 120), tick(4 * DAY)], config)
    expect(r.engine.incidents().map((i) => i.services[0]).sort()).toEqual(['b', 'c'])
    const restored = restore(r.engine, { ...config, maxAwaitingPostmortem: 1 })
    expect(restored.incidents().map((i) => i.services[0])).toEqual(['c'])
  })

  it('emits a last version saying when it forgot an incident kept for its post-mortem that the cap pushed out', () => {
    const DAY = 24 * 60
    const outage = (svc: string, t: number) => [alert({ fp: svc, t, severity: 'critical', service: svc }), alert({ fp: svc, t: t + 45, status: 'resolved', severity: 'critical', service: svc })]
    const config = { retentionMs: 2 * 86_400_000, maxAwaitingPostmortem: 1 }
    const r = run([...outage('a', 0), ...outage('b', 60), tick(200)], config)
    const [a, b] = r.incidents.map((i) => i.id)
    const before = r.engine.incident(a!)!.version
    // The retention reaches both: b, resolved last, is kept; a is pushed out, and the review is told when: as the
    // retention reached b (its resolution decided, plus the retention), not at the tick that found it, whose
    // time depends on the delivery.
    const out = r.engine.apply(tick(4 * DAY))
    const versions = out.flatMap((o) => (o.type === 'incident' ? [o.incident] : []))
    const pushedOutAt = new Date(Date.parse(r.engine.incident(b!)!.resolutionDecidedAt!) + 2 * 86_400_000).toISOString()
    expect(versions).toEqual([expect.objectContaining({ id: a, version: before + 1, status: 'resolved', postmortem: { required: true, reasons: expect.any(Array), scheduledFor: null, owner: null, forgottenAt: pushedOutAt }, forgottenAt: pushedOutAt })])
    expect(r.engine.incidents().map((i) => i.id)).toEqual([b])
    expect(r.engine.incident(b!)!.postmortem).not.toHaveProperty('forgottenAt')
    // Once: later retention runs have nothing more to say of it.
    expect(r.engine.apply(tick(5 * DAY))).toEqual([])
    // A restart with room for none forgets b too, and says so with its first input's versions.
    const restored = restore(r.engine, { ...config, maxAwaitingPostmortem: 0 })
    expect(restored.incidents()).toEqual([])
    const next = restored.apply(tick(5 * DAY + 1)).flatMap((o) => (o.type === 'incident' ? [o.incident] : []))
    expect(next).toEqual([expect.objectContaining({ id: b, postmortem: expect.objectContaining({ scheduledFor: null, forgottenAt: at(5 * DAY) }) })])
    expect(restored.apply(tick(5 * DAY + 2))).toEqual([])
  })

  it('restored before or after the input that forgets an incident kept for its post-mortem, emits its last version once, as live', () => {
    const DAY = 24 * 60
    const outage = (svc: string, t: number) => [alert({ fp: svc, t, severity: 'critical', service: svc }), alert({ fp: svc, t: t + 45, status: 'resolved', severity: 'critical', service: svc })]
    const config = { retentionMs: 2 * 86_400_000, maxAwaitingPostmortem: 1 }
    const inputs = [...outage('a', 0), ...outage('b', 60), tick(2 * DAY), tick(2 * DAY + 60), tick(4 * DAY), tick(5 * DAY)]
    const live = run(inputs, config)
    const forgotten = live.outputs.filter((o) => o.type === 'incident' && o.incident.postmortem.forgottenAt !== undefined)
    expect(forgotten).toHaveLength(1)
    // A snapshot after every input (drained, as the correlator takes it), restored and fed the rest.
    for (let k = 1; k < inputs.length; k++) {
      const head = run(inputs.slice(0, k), config)
      const engine = restore(head.engine, config)
      const outputs = [...head.outputs]
      for (const input of inputs.slice(k)) outputs.push(...engine.apply(input))
      expect(JSON.stringify(outputs), `restored after input ${k}`).toBe(JSON.stringify(live.outputs))
      expect(JSON.stringify(engine.snapshot()), `restored after input ${k}`).toBe(JSON.stringify(live.engine.snapshot()))
    }
  })

  it('keeps at most 100 members per incident maxAwaitingPostmortem allows, counting a storm kept whole, after a restart too', () => {
    const DAY = 24 * 60
    const storm = (svc: string, t: number, size = 150) => Array.from({ length: size }, (_, k) => [
      alert({ fp: `${svc}${k}`, t, severity: 'critical', service: svc }), alert({ fp: `${svc}${k}`, t: t + 45, status: 'resolved', severity: 'critical', service: svc }),
    ]).flat()
    const outage = (svc: string, t: number) => [alert({ fp: svc, t, severity: 'critical', service: svc }), alert({ fp: svc, t: t + 45, status: 'resolved', severity: 'critical', service: svc })]
    // Two critical storms of 150 alerts, then an outage of one: 301 members in three incidents.
    const inputs = [...storm('first', 0), ...storm('second', 60), ...outage('a', 120), tick(4 * DAY)]
    const kept = (engine: CorrelationEngine) => engine.incidents().map((i) => [i.services[0], i.alertCount]).sort()
    // Three allowed is 300 members: the oldest storm goes as the outage comes, though three incidents fit.
    const config = { retentionMs: 2 * 86_400_000, maxAwaitingPostmortem: 3 }
    expect(kept(run(inputs, config).engine)).toEqual([['a', 1], ['second', 150]])
    // Kept with room to spare, then restored with room for three: the same.
    const roomy = run(inputs, { ...config, maxAwaitingPostmortem: 10 })
    expect(kept(roomy.engine)).toEqual([['a', 1], ['first', 150], ['second', 150]])
    expect(kept(restore(roomy.engine, config))).toEqual([['a', 1], ['second', 150]])
    // One allowed is 100 members: a storm is never kept, the outage is.
    expect(kept(run(inputs, { ...config, maxAwaitingPostmortem: 1 }).engine)).toEqual([['a', 1]])
    // A storm larger than all the room goes alone: the older incidents, which fit, stay.
    const larger = [...outage('a', 0), ...outage('b', 60), ...storm('big', 120, 250), tick(4 * DAY)]
    expect(kept(run(larger, { ...config, maxAwaitingPostmortem: 2 }).engine)).toEqual([['a', 1], ['b', 1]])
    expect(kept(restore(run(larger, { ...config, maxAwaitingPostmortem: 10 }).engine, { ...config, maxAwaitingPostmortem: 2 }))).toEqual([['a', 1], ['b', 1]])
  })

  it('restores no incident as kept for its post-mortem that the retention has not reached yet, held back in its queue', () => {
    // A resolve by hand timed a minute ahead heads the retention's queue and holds back the incidents resolved
    // just after it: for that minute, 30 days on, they are past the horizon and not yet reached. A snapshot
    // taken then, restored, goes on as the live engine does.
    const DAY = 24 * 60
    const config = { retentionMs: 2 * 86_400_000 }
    // A critical outage of 50 minutes (a post-mortem required), its resolve decided at 95 (the quiet period after 90).
    const live = run([
      alert({ fp: 'b', t: 0, service: 'b' }), alert({ fp: 'a', t: 40, service: 'a', severity: 'critical' }),
      alert({ fp: 'a', t: 90, status: 'resolved', service: 'a', severity: 'critical' }), tick(94.5),
    ], config)
    const b = live.incidents.find((i) => i.services[0] === 'b')!.id
    // Queued at 95.4, before the outage's resolve is decided and queued at 95.
    live.engine.apply(command('incident.resolve', b, { at: at(95.4) }))
    live.engine.apply(tick(96))
    live.engine.apply(tick(2 * DAY + 95.2))
    const restored = restore(live.engine, config)
    const a = live.incidents.find((i) => i.services[0] === 'a')!.id
    // Scheduled before the retention reached it, it is an incident as any other: kept until the retention does.
    for (const engine of [live.engine, restored]) engine.apply(command('incident.schedule-postmortem', a, { scheduledFor: '2026-12-10T10:00:00Z' }))
    expect(restored.incidents()).toEqual(live.engine.incidents())
    expect(restored.incident(a)).toBeDefined()
    for (const engine of [live.engine, restored]) engine.apply(tick(2 * DAY + 200))
    expect(restored.incidents()).toEqual(live.engine.incidents())
    expect(restored.incidents()).toEqual([])
  })

  it('acts on an incident at its latest retention entry only: kept for its post-mortem as a restored engine would', () => {
    // X resolves (entry at 55), fires again and resolves again at 75; its new entry waits behind a resolve by
    // hand stamped 79. When the retention passes 77, the entry at 55 is an older one: acting on it kept X
    // for its post-mortem live, while an engine restored then saw X's entry still queued and did not.
    const DAY = 24 * 60
    const config = { retentionMs: 2 * 86_400_000, allowedLatenessMs: 5 * 60_000 }
    const critical = { service: 'x', severity: 'critical' as const }
    const live = run([
      alert({ fp: 'y', t: 0, service: 'y' }), alert({ fp: 'x', t: 10, ...critical }), alert({ fp: 'x', t: 50, status: 'resolved', ...critical }), tick(58),
      alert({ fp: 'x', t: 60, ...critical }), alert({ fp: 'x', t: 70, status: 'resolved', ...critical }), tick(78),
    ], config)
    const [x, y] = ['x', 'y'].map((svc) => live.incidents.find((i) => i.services[0] === svc)!.id) as [string, string]
    live.engine.apply(command('incident.resolve', y, { at: at(79) }))
    live.engine.apply(tick(81))
    live.engine.apply(tick(2 * DAY + 82))
    const restored = restore(live.engine, config)
    scheduleThenNote([live.engine, restored], x)
    expect(restored.incidents()).toEqual(live.engine.incidents())
    expect(live.engine.incident(x)?.notes).toMatchObject([{ text: 'after the post-mortem was set' }])
  })

  it('tells an incident\'s latest retention entry from an older one of the same time', () => {
    // X resolves (an entry at 55), a resolve by hand of Y is queued at 56, a late firing reopens X and a resolve
    // by hand stamped 55 queues X again at 55: the older entry at 55 is not X's latest.
    const DAY = 24 * 60
    const config = { retentionMs: 2 * 86_400_000 }
    const critical = { service: 'x', severity: 'critical' as const }
    const live = run([alert({ fp: 'y', t: 0, service: 'y' }), alert({ fp: 'x', t: 10, ...critical }), alert({ fp: 'x', t: 50, status: 'resolved', ...critical }), tick(55)], config)
    const [x, y] = ['x', 'y'].map((svc) => live.incidents.find((i) => i.services[0] === svc)!.id) as [string, string]
    live.engine.apply(command('incident.resolve', y, { at: at(56) }))
    live.engine.apply(alert({ fp: 'x2', t: 52, rx: 55, ...critical }))
    expect(live.engine.incident(x)).toMatchObject({ status: 'open' })
    live.engine.apply(command('incident.resolve', x, { at: at(55) }))
    live.engine.apply(tick(2 * DAY + 55.5))
    const restored = restore(live.engine, config)
    scheduleThenNote([live.engine, restored], x)
    expect(restored.incidents()).toEqual(live.engine.incidents())
  })

  it('times an acknowledgement no earlier than the opening, and as stamped after it, ticks or none', () => {
    const r = run([alert({ fp: 'a', t: 10, service: 'x' }), alert({ fp: 'b', t: 20, service: 'y' })])
    const [early, late] = r.incidents.map((i) => i.id) as [string, string]
    // A review clock an hour behind: no acknowledgement before the opening (and no negative time to acknowledge).
    r.engine.apply(command('incident.acknowledge', early, { at: at(-50) }))
    expect(r.engine.incident(early)!.acknowledgedAt).toBe(at(10))
    // Half an hour after the last event, with no tick since (ticks off, or before the first after an outage).
    r.engine.apply(command('incident.acknowledge', late, { at: at(50) }))
    expect(r.engine.incident(late)!.acknowledgedAt).toBe(at(50))
  })

  it('times a person\'s resolve no earlier than the incident\'s last event, nor later than the clock allows, and keeps its post-mortem', () => {
    // A critical incident open 40 min (a post-mortem required at 30): a resolve stamped 10 min after its
    // opening, by a review clock behind, does not make it 10 min long.
    const r = run([alert({ fp: 'a', t: 0, severity: 'critical' }), alert({ fp: 'b', t: 35, severity: 'critical' }), tick(40)])
    const id = only(r.incidents).id
    expect(r.engine.incident(id)!.postmortem.required).toBe(true)
    r.engine.apply(command('incident.resolve', id, { at: at(10) }))
    expect(r.engine.incident(id)).toMatchObject({ status: 'resolved', resolvedBy: 'manual', resolvedAt: at(35), postmortem: { required: true } })
    // A clock far ahead is taken as the engine's newest time and the future tolerance, no later.
    const ahead = run([alert({ fp: 'a', t: 0 }), tick(40)])
    const aheadId = only(ahead.incidents).id
    ahead.engine.apply(command('incident.resolve', aheadId, { at: '2099-01-01T00:00:00.000Z' }))
    expect(ahead.engine.incident(aheadId)!.resolvedAt).toBe(at(41))
  })

  it('refuses to acknowledge a resolved incident', () => {
    const r = run([alert({ fp: 'a', t: 0 }), alert({ fp: 'a', t: 2, status: 'resolved' }), tick(10)])
    const id = only(r.incidents).id
    expect(r.engine.incident(id)!.status).toBe('resolved')
    expect(r.engine.apply(command('incident.acknowledge', id, { at: at(11) }))).toMatchObject([{ result: { ok: false, error: 'incident is resolved: nothing to acknowledge' } }])
    expect(r.engine.incident(id)!.acknowledgedAt).toBeNull()
  })

  describe('a person\'s resolve and an event from before it that arrives late give what in-order delivery gives', () => {
    const summary = (engine: CorrelationEngine) => engine.incidents().sort((x, y) => x.openedAt.localeCompare(y.openedAt)).map((i) => ({
      id: i.id, status: i.status, resolvedBy: i.resolvedBy, openedAt: i.openedAt, resolvedAt: i.resolvedAt, reopenCount: i.reopenCount, alertCount: i.alertCount,
      customerImpact: i.customerImpact, alerts: i.alerts.map((m) => [m.fingerprint, m.status, m.flapCount, m.autoResolved]), reports: i.reports.length,
    }))
    const play = (inputs: (EngineInput | { resolveAt: number })[]) => {
      const engine = new CorrelationEngine({ allowedLatenessMs: 0 })
      for (const input of inputs) {
        if (!('resolveAt' in input)) { engine.apply(input); continue }
        const target = engine.incidents().find((i) => i.alerts.some((m) => m.fingerprint === 'a'))!
        engine.apply(command('incident.resolve', target.id, { at: at(input.resolveAt) }))
      }
      return summary(engine)
    }
    // `a` opens the incident at 0; after the events `before` and a tick at `clock` (default: `resolveAt`),
    // the person resolves it (the command's `at`); `event` comes in time, before the resolve, or late, after it.
    const cases: { name: string; before: EngineInput[]; clock?: number; resolveAt: number; event: (rx?: number) => EngineInput; expected: Partial<Incident>[] }[] = [
      {
        name: 'a re-fire of its alert: it stays resolved, its member firing',
        before: [alert({ fp: 'a', t: 2, status: 'resolved' })], resolveAt: 4, event: (rx) => alert({ fp: 'a', t: 3, rx }),
        expected: [{ status: 'resolved', resolvedBy: 'manual', resolvedAt: at(4), reopenCount: 0 }],
      },
      {
        name: 'a re-fire after a resolve stamped earlier by a review clock behind: the resolve moves to it',
        before: [alert({ fp: 'a', t: 2, status: 'resolved' })], clock: 4, resolveAt: 2.5, event: (rx) => alert({ fp: 'a', t: 3, rx }),
        expected: [{ status: 'resolved', resolvedAt: at(3), reopenCount: 0 }],
      },
      {
        name: 'a new alert of its group: it joins it, resolved',
        before: [], resolveAt: 4, event: (rx) => alert({ fp: 'b', t: 3, rx }),
        expected: [{ status: 'resolved', resolvedAt: at(4), alertCount: 2 }],
      },
      {
        name: 'a complaint: it joins it, resolved',
        before: [], resolveAt: 4, event: (rx) => report(3, { rx }),
        expected: [{ status: 'resolved', resolvedAt: at(4), customerImpact: true }],
      },
      {
        name: 'a re-fire long after its alert ended, nothing else active then: a new outage, an incident of its own',
        before: [alert({ fp: 'b', t: 1 }), alert({ fp: 'a', t: 2, status: 'resolved' })], resolveAt: 300, event: (rx) => alert({ fp: 'a', t: 296, rx }),
        expected: [{ status: 'resolved', resolvedBy: 'manual' }, { status: 'open', openedAt: at(296) }],
      },
    ]
    const outcome = (c: (typeof cases)[number], late: boolean) => {
      const engine = new CorrelationEngine({ allowedLatenessMs: 0 })
      for (const input of [alert({ fp: 'a', t: 0 }), ...c.before, ...(late ? [] : [c.event()])]) engine.apply(input)
      const clock = c.clock ?? c.resolveAt
      engine.apply(tick(clock))
      const target = engine.incidents().find((i) => i.alerts.some((m) => m.fingerprint === 'a' && m.firstSeenAt === at(0)))!
      engine.apply(command('incident.resolve', target.id, { at: at(c.resolveAt) }))
      if (late) engine.apply(c.event(clock + 1))
      engine.apply(tick(clock + 2))
      return summary(engine)
    }
    it.each(cases)('$name', (c) => {
      const inOrder = outcome(c, false)
      expect(inOrder).toMatchObject(c.expected)
      expect(outcome(c, true)).toEqual(inOrder)
    })

    it('a firing of a spooled backlog, not heard of since, is ended by the staleness timeout before the decision, as the open incident ended it', () => {
      // `a` is repeated every 4 h and keeps the incident open; `b`, received at 10 min and never again, times
      // out a day later, and the person resolves at 2000 min.
      const repeats = [240, 480, 720, 960, 1200, 1440, 1680, 1920].flatMap((rx) => [tick(rx), alert({ fp: 'a', t: 0, rx })])
      const b = alert({ fp: 'b', t: 10 })
      const end = [tick(2002), tick(2003), tick(2004)]
      const inOrder = play([alert({ fp: 'a', t: 0 }), b, ...repeats, tick(2000), { resolveAt: 2000 }, ...end])
      expect(inOrder).toMatchObject([{ status: 'resolved', resolvedBy: 'manual', alerts: [['a', 'firing', 0, false], ['b', 'resolved', 0, true]] }])
      expect(play([alert({ fp: 'a', t: 0 }), ...repeats, tick(2000), { resolveAt: 2000 }, b, ...end])).toEqual(inOrder)
    })

    it('a late firing of a member from before its incident began, running into it until its resolve, moves its start: no second member', () => {
      for (const resolved of [[], [tick(65), { resolveAt: 65 }]]) {
        const inOrder = play([alert({ fp: 'a', t: 10 }), alert({ fp: 'a', t: 60 }), ...resolved, alert({ fp: 'a', t: 70, status: 'resolved' }), tick(100)])
        const late = play([alert({ fp: 'a', t: 60 }), ...resolved, alert({ fp: 'a', t: 70, status: 'resolved' }), tick(100), alert({ fp: 'a', t: 10, rx: 101 }), tick(102), tick(103)])
        expect(late).toMatchObject([{ openedAt: at(10), alerts: [['a', 'resolved', 0, false]] }])
        // All but the id, which is its first event's: the firing of 60 opened it here.
        const withoutId = (incidents: typeof late) => incidents.map(({ id: _id, ...rest }) => rest)
        expect(withoutId(late)).toEqual(withoutId(inOrder))
      }
    })

    it('an event after the resolve leaves its time alone', () => {
      const r = run([alert({ fp: 'a', t: 0 }), tick(4)])
      const id = only(r.incidents).id
      r.engine.apply(command('incident.resolve', id, { at: at(4) }))
      r.engine.apply(alert({ fp: 'a', t: 10, status: 'resolved' }))
      r.engine.apply(report(12))
      expect(r.engine.incident(id)).toMatchObject({ status: 'resolved', resolvedBy: 'manual', resolvedAt: at(4) })
    })
  })

  it('rejects commands for unknown targets and ignores a redelivered command', () => {
    const r = run([alert({ fp: 'a', t: 0 })])
    expect(r.engine.apply(command('incident.assign', 'inc-nope', { owner: 'x' }))).toMatchObject([{ result: { ok: false, error: 'unknown incident inc-nope' } }])
    const c = command('incident.note', only(r.incidents).id, { text: 'once' })
    r.engine.apply(c)
    expect(r.engine.apply(c)).toEqual([])
    expect(only(r.engine.incidents()).notes).toHaveLength(1)
  })

  it('keeps the latest notes in the incident document, so a long-discussed incident stays a record Kafka takes', () => {
    const r = run([alert({ fp: 'a', t: 0 })])
    const id = only(r.incidents).id
    let doc: Incident | undefined
    for (let i = 0; i < CorrelationEngine.maxEntriesInDocument + 20; i++) {
      for (const o of r.engine.apply(command('incident.note', id, { text: `note ${i}` }))) if (o.type === 'incident') doc = o.incident
    }
    expect(doc!.notes).toHaveLength(CorrelationEngine.maxEntriesInDocument)
    expect(doc!.notes.at(-1)!.text).toBe(`note ${CorrelationEngine.maxEntriesInDocument + 19}`)
    expect(doc!.notes[0]!.text).toBe('note 20')
    // Nor does the state keep more: a problem is kept for ever, and its notes went into every snapshot.
    expect(only(r.engine.incidents()).notes).toHaveLength(CorrelationEngine.maxEntriesInDocument)
  })

  it('keeps the latest notes of a problem, in its document and in the state', () => {
    const r = run([alert({ fp: 'a', t: 0, service: 'x', labels: { host: 'h' } }), alert({ fp: 'b', t: 1, service: 'y', labels: { host: 'h' } })])
    expect(r.problems).toHaveLength(1)
    for (let i = 0; i < 5_000; i++) r.engine.apply(command('problem.note', r.problems[0]!.id, { text: `note ${i}` }))
    const kept = r.engine.problems()[0]!.notes
    expect(kept).toHaveLength(CorrelationEngine.maxEntriesInDocument)
    expect([kept[0]!.text, kept.at(-1)!.text]).toEqual(['note 4900', 'note 4999'])
    expect(JSON.stringify(r.engine.snapshot()).match(/"text":"note \d+"/g)).toHaveLength(CorrelationEngine.maxEntriesInDocument)
  })

  it('links an incident to a problem by hand', () => {
    const r = run([
      alert({ fp: 'a', t: 0, service: 'x', labels: { host: 'h' } }), alert({ fp: 'b', t: 1, service: 'y', labels: { host: 'h' } }),
      alert({ fp: 'c', t: 60, service: 'z' }),
    ])
    const problem: Problem = r.problems[0]!
    const z = r.incidents.find((i) => i.services[0] === 'z')!
    r.engine.apply(command('incident.link-problem', z.id, { problemId: problem.id }))
    expect(r.engine.incident(z.id)!.problemIds).toEqual([problem.id])
    expect(r.engine.problem(problem.id)!.incidentIds).toContain(z.id)
  })

  it('refuses a command of another environment than its target, which changes nothing', () => {
    const r = run([alert({ fp: 'a', t: 0, service: 'x', labels: { host: 'h' } }), alert({ fp: 'b', t: 1, service: 'y', labels: { host: 'h' } })])
    const inc = r.incidents[0]!
    const problem: Problem = r.problems[0]!
    expect(r.engine.apply(command('incident.assign', inc.id, { owner: 'bob', environment: 'staging' }))).toMatchObject([
      { type: 'command-result', result: { ok: false, error: `incident ${inc.id} is of environment production, the command of staging` } },
    ])
    expect(r.engine.apply(command('problem.confirm', problem.id, { environment: 'staging' }))).toMatchObject([
      { type: 'command-result', result: { ok: false, error: `problem ${problem.id} is of environment production, the command of staging` } },
    ])
    expect(r.engine.incident(inc.id)!.owner).toBeNull()
    expect(r.engine.problem(problem.id)!.status).toBe('candidate')
  })

  it.each(['dismissed', 'resolved'] as const)('refuses to link an incident by hand to a %s problem, as the rules do', (status) => {
    const r = run([
      alert({ fp: 'a', t: 0, service: 'x', labels: { host: 'h' } }), alert({ fp: 'b', t: 1, service: 'y', labels: { host: 'h' } }),
      alert({ fp: 'c', t: 60, service: 'z' }),
    ])
    const problem: Problem = r.problems[0]!
    const z = r.incidents.find((i) => i.services[0] === 'z')!
    if (status === 'dismissed') r.engine.apply(command('problem.dismiss', problem.id))
    else { r.engine.apply(command('problem.confirm', problem.id)); r.engine.apply(command('problem.resolve', problem.id)) }
    expect(r.engine.problem(problem.id)!.status).toBe(status)
    const before = r.engine.problem(problem.id)!.incidentCount
    expect(r.engine.apply(command('incident.link-problem', z.id, { problemId: problem.id }))).toMatchObject([
      { type: 'command-result', result: { ok: false, error: `problem ${problem.id} is ${status}: it takes no incident${status === 'resolved' ? '; confirm it again first if its fix did not hold' : ''}` } },
    ])
    expect(r.engine.incident(z.id)!.problemIds).toEqual([])
    expect(r.engine.problem(problem.id)).toMatchObject({ status, incidentCount: before })
    if (status === 'resolved') {
      // As the refusal says: confirmed again, it takes the incident.
      r.engine.apply(command('problem.confirm', problem.id))
      expect(r.engine.apply(command('incident.link-problem', z.id, { problemId: problem.id })).find((o) => o.type === 'command-result')).toMatchObject({ result: { ok: true } })
      expect(r.engine.incident(z.id)!.problemIds).toEqual([problem.id])
    }
  })

  it('refuses to link an incident to a problem of another environment', () => {
    const r = run([
      alert({ fp: 'a', t: 0, service: 'x', labels: { host: 'h' } }), alert({ fp: 'b', t: 1, service: 'y', labels: { host: 'h' } }),
      alert({ fp: 'c', t: 60, service: 'z', env: 'staging' }),
    ])
    const problem: Problem = r.problems[0]!
    const z = r.incidents.find((i) => i.services[0] === 'z')!
    expect(z.environment).toBe('staging')
    expect(r.engine.apply(command('incident.link-problem', z.id, { problemId: problem.id, environment: 'staging' }))).toMatchObject([
      { type: 'command-result', result: { ok: false, error: `problem ${problem.id} is of environment ${problem.environment}, the incident of staging` } },
    ])
    expect(r.engine.incident(z.id)!.problemIds).toEqual([])
  })
})

describe('emitted versions', () => {
  it('never change afterwards, though versions share the parts that did not change', () => {
    // Versions share an incident's services, reports, notes, problem ids and post-mortem, and a problem's
    // services and notes, with the engine's state: every kind of later change must leave them as emitted.
    const engine = new CorrelationEngine({ allowedLatenessMs: 0 })
    const emitted: { output: EngineOutput; json: string }[] = []
    const apply = (input: EngineInput) => {
      const out = engine.apply(input)
      for (const output of out) emitted.push({ output, json: JSON.stringify(output) })
      return out
    }
    apply(alert({ fp: 'a', t: 0, service: 'checkout', severity: 'critical', labels: { host: 'h' } }))
    apply(report(1, { service: 'checkout' }))
    apply(alert({ fp: 'b', t: 2, service: 'search', labels: { host: 'h' } }))
    const id = engine.incidents().find((i) => i.services.includes('checkout'))!.id
    apply(alert({ fp: 'c', t: 3, service: 'checkout', name: 'ErrorRate', labels: { host: 'h' } }))
    apply(report(4, { service: 'checkout', kind: 'internal-complaint' }))
    apply(command('incident.note', id, { text: 'first' }))
    apply(command('incident.note', id, { text: 'second' }))
    apply(command('incident.schedule-postmortem', id, { scheduledFor: '2026-12-02T10:00:00Z', owner: 'carol' }))
    const problem = engine.problems()[0]!
    apply(command('problem.note', problem.id, { text: 'same host' }))
    apply(alert({ fp: 'd', t: 5, service: 'ledger', labels: { host: 'h' } }))
    apply(command('problem.note', problem.id, { text: 'again' }))
    // One incident across services (by its incident key): its services grow version by version.
    apply(alert({ fp: 'k1', t: 6, service: 'checkout', labels: { incident_key: 'k' } }))
    apply(alert({ fp: 'k2', t: 7, service: 'search', labels: { incident_key: 'k' } }))
    apply(alert({ fp: 'k3', t: 8, service: 'ledger', labels: { incident_key: 'k' } }))
    apply(tick(40))
    apply(alert({ fp: 'a', t: 41, status: 'resolved' }))
    apply(alert({ fp: 'c', t: 42, status: 'resolved' }))
    apply(tick(60))
    apply(alert({ fp: 'a', t: 61, service: 'checkout', severity: 'critical', labels: { host: 'h' } }))
    expect(emitted.filter((e) => e.output.type === 'incident').length).toBeGreaterThan(10)
    expect(emitted.some((e) => e.output.type === 'problem')).toBe(true)
    for (const e of emitted) expect(JSON.stringify(e.output)).toBe(e.json)
  })
})

describe('retention', () => {
  it('forgets the problem rules\' openings of dependencies and signatures never seen again, and notification groups, once past the retention', () => {
    // A pod's address is a new dependency value with every restart, an unusual mix of alert names a new
    // signature and a notification group of its own: 180 of each over 30 days, a retention of 2 days.
    const every = 4 * 60
    const count = 180
    const inputs = Array.from({ length: count }, (_, k) => [
      alert({ fp: `a${k}`, t: k * every, name: `Alert${k}`, labels: { host: `10.0.${k >> 8}.${k & 255}` }, origin: { groupKey: `{}:{pod="p${k}"}` } }),
      alert({ fp: `a${k}`, t: k * every + 5, status: 'resolved', name: `Alert${k}`, labels: { host: `10.0.${k >> 8}.${k & 255}` }, origin: { groupKey: `{}:{pod="p${k}"}` } }),
      tick(k * every + 60),
    ]).flat()
    const { engine } = run(inputs, { retentionMs: 2 * 24 * HOUR })
    const snapshot = engine.snapshot()
    const kept = (days: number) => Math.ceil(days * 24 * 60 / every)
    // Kept: the retention, the rule's window beyond it, and up to a day until the next daily sweep.
    expect(snapshot.recentByDep.length).toBeLessThanOrEqual(kept(2 + 1) + 1)
    expect(snapshot.bySignature.length).toBeLessThanOrEqual(kept(2 + 7 + 1) + 1)
    expect(snapshot.recentByDep.map(([dep]) => dep)).toContain(`host=10.0.0.${count - 1}`)
    // Kept while its incident is (a late event may join it, resolved): the retention and up to a day more.
    expect(snapshot.openByAmGroup.length).toBeLessThanOrEqual(kept(2 + 1) + 1)
    expect(snapshot.openByAmGroup.length).toBeGreaterThanOrEqual(kept(2))
  })

  it('forgets an incident a person resolved at a time ahead of the watermark, once past the retention', () => {
    // The review's clock runs ahead of the correlator's watermark: the decision is timed after the
    // watermark at which the incident was queued for eviction.
    const r = run([alert({ fp: 'a', t: 0 }), tick(10)], { retentionMs: 24 * HOUR })
    const id = only(r.incidents).id
    r.engine.apply(command('incident.resolve', id, { at: at(10.9) }))
    for (const m of [24 * 60 + 10.5, 24 * 60 + 30, 3 * 24 * 60]) r.engine.apply(tick(m))
    expect(r.engine.incident(id)).toBeUndefined()
    expect(r.engine.snapshot().incidents).toHaveLength(0)
  })

  it('does not open again, under the same id, an incident a person resolved whose alert repeats past the retention', () => {
    const r = run([alert({ fp: 'disk', t: 0 }), tick(10)], { retentionMs: 2 * 24 * HOUR })
    const id = only(r.incidents).id
    const outputs = [...r.engine.apply(command('incident.assign', id, { owner: 'bob', at: at(5) })), ...r.engine.apply(command('incident.resolve', id, { at: at(10) }))]
    // Alertmanager repeats the firing every 4 h (repeat_interval) as long as it fires: the same event, the same id.
    for (let k = 1; k <= 30; k++) outputs.push(...r.engine.apply(alert({ fp: 'disk', t: 0, rx: k * 240 })), ...r.engine.apply(tick(k * 240)))
    const versions = outputs.flatMap((o) => (o.type === 'incident' && o.incident.id === id ? [o.incident.version] : []))
    expect(versions).toEqual([...versions].sort((a, b) => a - b))
    expect(new Set(versions).size).toBe(versions.length)
    // Forgotten after the retention, and not made again: the person's decision is the last word on it.
    expect(r.engine.incident(id)).toBeUndefined()
    expect(r.engine.incidents()).toHaveLength(0)
  })

  it('emits nothing in place of an incident it forgot, decisions and all, when its first event is delivered again', () => {
    // A record replayed after the retention (from a spool, the dead letters, a receiver's retry): the same
    // event as it was first received. Made again under its id, its version 1 was the latest document of the
    // incident on the compacted topic, without the owner, note and resolve of the review.
    const first = alert({ fp: 'payments', t: 0 })
    const r = run([first, tick(5)], { retentionMs: 2 * 24 * HOUR })
    const id = only(r.incidents).id
    for (const decision of [command('incident.assign', id, { owner: 'dana', at: at(5) }), command('incident.note', id, { text: 'bad deploy', at: at(6) }), command('incident.resolve', id, { at: at(10) })]) r.engine.apply(decision)
    r.engine.apply(tick(4 * 24 * 60))
    expect(r.engine.incident(id)).toBeUndefined()
    const after = [first, tick(4 * 24 * 60 + 1), tick(4 * 24 * 60 + 2), tick(5 * 24 * 60)].flatMap((i) => r.engine.apply(i))
    expect(after.filter((o) => o.type === 'incident')).toEqual([])
    expect(r.engine.incidents()).toEqual([])
    expect(r.engine.stats.lateDropped).toBe(1)
  })

  it('still knows what it forgot after a restart with a longer retention', () => {
    const first = alert({ fp: 'payments', t: 0 })
    const r = run([first, alert({ fp: 'payments', t: 10, status: 'resolved' }), tick(4 * 24 * 60)], { retentionMs: 2 * 24 * HOUR })
    expect(r.engine.incidents()).toEqual([])
    const restored = restore(r.engine, { retentionMs: 10 * 24 * HOUR })
    expect([first, tick(4 * 24 * 60 + 1), tick(4 * 24 * 60 + 2)].flatMap((i) => restored.apply(i)).filter((o) => o.type === 'incident')).toEqual([])
    expect(restored.stats.lateDropped).toBe(1)
  })

  it('still knows what it forgot when restored from a snapshot written before it kept that, with a longer retention', () => {
    const first = alert({ fp: 'payments', t: 0 })
    const r = run([first, alert({ fp: 'payments', t: 10, status: 'resolved' }), tick(4 * 24 * 60)], { retentionMs: 2 * 24 * HOUR })
    const snapshot = JSON.parse(JSON.stringify(r.engine.snapshot())) as EngineSnapshot
    delete snapshot.forgottenBefore
    const restored = new CorrelationEngine({ allowedLatenessMs: 0, retentionMs: 10 * 24 * HOUR }, snapshot)
    expect([first, tick(4 * 24 * 60 + 1), tick(4 * 24 * 60 + 2)].flatMap((i) => restored.apply(i)).filter((o) => o.type === 'incident')).toEqual([])
  })

  it('does not make an incident again from a record delivered again, when its id was first stamped behind its receipt', () => {
    // No ticks: the high-water mark lags the receipts. The alert, silenced since minute 0, is first heard of at
    // minute 3,000, when the newest event time seen is 1,501; its incident is resolved by staleness and
    // forgotten; the same record delivered again must not open it again under the same id, at version 1.
    const config = { allowedLatenessMs: 0, retentionMs: 24 * HOUR, stalenessMs: { alertmanager: 3 * HOUR } }
    const engine = new CorrelationEngine(config)
    const silenced = alert({ fp: 'c', t: 0, rx: 3000 })
    const inputs = [
      alert({ fp: 'c', t: 1, status: 'resolved', rx: 0 }), alert({ fp: 'a', t: 1501, status: 'resolved', rx: 1500 }), silenced,
      alert({ fp: 'a', t: 3001, status: 'resolved', rx: 3000 }), alert({ fp: 'a', t: 3401, status: 'resolved', rx: 3400 }), silenced, tick(3400),
    ]
    const versions = new Map<string, number>()
    for (const input of inputs) {
      for (const o of engine.apply(input)) {
        if (o.type !== 'incident') continue
        expect(o.incident.version, o.incident.id).toBeGreaterThan(versions.get(o.incident.id) ?? 0)
        versions.set(o.incident.id, o.incident.version)
      }
    }
    expect(versions.size).toBeGreaterThan(0)
  })

  it('makes no second incident of one episode from a record delivered again after an earlier copy of it came late', () => {
    // One id, two receipts (Alertmanager repeats a firing under one id): the earlier copy delivered again after
    // the later one must not lower when the id is forgotten, or the later copy, delivered again once the
    // incident is forgotten, opens a second incident of the same episode.
    const config = { allowedLatenessMs: 0, retentionMs: 24 * HOUR, stalenessMs: { alertmanager: 3 * HOUR } }
    const engine = new CorrelationEngine(config)
    const [early, late] = [alert({ fp: 'c', t: 0, rx: 1600, service: 'c' }), alert({ fp: 'c', t: 0, rx: 3000, service: 'c' })]
    const inputs = [
      alert({ fp: 'a', t: 1501, status: 'resolved', rx: 1500, service: 'a' }), early, late, early,
      alert({ fp: 'b', t: 3100, status: 'resolved', service: 'b' }), alert({ fp: 'd', t: 3400, status: 'resolved', service: 'd' }), late,
    ]
    const incidentsOfC = new Set(inputs.flatMap((i) => engine.apply(i)).flatMap((o) => (o.type === 'incident' && o.incident.services.includes('c') ? [o.incident.id] : [])))
    expect(incidentsOfC.size).toBe(1)
  })

  it('remembers an id for a retention past the times seen at most, however far ahead its receipt', () => {
    // A receiver whose clock runs a year ahead: its ids are forgotten as the others are, not a year later.
    const remembered = (aheadMinutes: number) => {
      const engine = new CorrelationEngine({ allowedLatenessMs: 0, retentionMs: 24 * HOUR })
      for (let m = 0; m < 3 * 24 * 60; m += 10) {
        engine.apply(alert({ fp: `fp${m}`, t: m, status: 'resolved', rx: m + aheadMinutes }))
        engine.apply(tick(m))
      }
      return engine.snapshot().seenStamps.reduce((n, block) => n + Buffer.byteLength(block, 'base64') / 8, 0)
    }
    const onTime = remembered(0)
    expect(onTime).toBeLessThan(3 * 24 * 6 / 2)
    expect(remembered(365 * 24 * 60)).toBeLessThanOrEqual(2 * onTime)
  })

  it('gives one delivery\'s incidents to another within the allowed lateness, for an alert first heard of resolved before a jump longer than the retention', () => {
    const config = { allowedLatenessMs: 5 * MIN, retentionMs: 2 * 24 * HOUR }
    const episode = alert({ fp: 'ep', t: 0, status: 'resolved' })
    const later = alert({ fp: 'later', t: 3 * 24 * 60, service: 'search' })
    const opened = (inputs: EngineInput[]) => {
      const engine = new CorrelationEngine(config)
      return [...new Set(inputs.flatMap((i) => engine.apply(i)).flatMap((o) => (o.type === 'incident' ? [`${o.incident.title} ${o.incident.openedAt}`] : [])))].sort()
    }
    const inOrder = opened([episode, tick(6), later, tick(3 * 24 * 60 + 6)])
    expect(inOrder).toHaveLength(2)
    expect(opened([episode, later, tick(3 * 24 * 60 + 6)])).toEqual(inOrder)
  })

  it('emits a current outage of an alert whose old firing it dropped as history, as any other', () => {
    // A check that never goes stale: its old down, delivered again after the retention, is dropped, and
    // the next real outage is an incident of its own, emitted.
    const config = { allowedLatenessMs: 0, retentionMs: 2 * 24 * HOUR, stalenessMs: { alertmanager: 0 } }
    const r = run([alert({ fp: 'api', t: 0 }), alert({ fp: 'api', t: 10, status: 'resolved' }), tick(4 * 24 * 60)], config)
    expect([alert({ fp: 'api', t: 0 }), tick(4 * 24 * 60 + 1), tick(4 * 24 * 60 + 2)].flatMap((i) => r.engine.apply(i))).toEqual([])
    const now = 5 * 24 * 60
    const outage = [alert({ fp: 'api', t: now }), tick(now + 1), alert({ fp: 'api', t: now + 60, status: 'resolved' }), tick(now + 120)].flatMap((i) => r.engine.apply(i))
    const versions = outage.flatMap((o) => (o.type === 'incident' ? [o.incident] : []))
    expect(versions.at(0)).toMatchObject({ status: 'open', openedAt: at(now) })
    expect(versions.at(-1)).toMatchObject({ status: 'resolved', openedAt: at(now), resolvedBy: 'alerts' })
  })

  it('applies on-time events before a jump of the watermark longer than the retention, not as forgotten history', () => {
    // A quiet spell longer than the retention with allowed lateness: the first event waits for the watermark,
    // which the next one moves days ahead; it is applied at its own time, nothing having been forgotten then.
    for (const next of [alert({ fp: 'later', t: 3 * 24 * 60, service: 'search' }), tick(3 * 24 * 60)]) {
      const engine = new CorrelationEngine({ allowedLatenessMs: 5 * MIN, retentionMs: 2 * 24 * HOUR })
      const out = [alert({ fp: 'first', t: 0 }), next].flatMap((i) => engine.apply(i))
      expect(out.flatMap((o) => (o.type === 'incident' ? [o.incident.openedAt] : []))).toContain(at(0))
      expect(engine.stats.lateDropped).toBe(0)
    }
  })

  it('opens an incident of its own for an alert heard of again, still firing, after a silence longer than the retention', () => {
    // Silenced for four days with a retention of two, the alert fires on: once the silence ends,
    // Alertmanager sends it again with its first start, under the id of its first notification.
    const r = run([alert({ fp: 'disk', t: 0 }), tick(5)], { retentionMs: 2 * 24 * HOUR })
    const id = only(r.incidents).id
    r.engine.apply(command('incident.assign', id, { owner: 'dana', at: at(5) }))
    r.engine.apply(command('incident.resolve', id, { at: at(10) }))
    r.engine.apply(tick(4 * 24 * 60))
    const after = [alert({ fp: 'disk', t: 0, rx: 4 * 24 * 60 + 1 }), tick(4 * 24 * 60 + 1), tick(4 * 24 * 60 + 2)].flatMap((i) => r.engine.apply(i))
    const emitted = after.flatMap((o) => (o.type === 'incident' ? [o.incident] : []))
    expect(emitted.map((i) => i.id)).not.toContain(id)
    expect(emitted.at(-1)).toMatchObject({ status: 'open', owner: null, openedAt: at(0), alertCount: 1 })
    expect(r.engine.incidents()).toEqual([emitted.at(-1)])
    expect(r.engine.stats.lateDropped).toBe(0)
  })

  it('keeps the event\'s id for an old alert first heard of by an engine that forgot nothing (a rebuild from the input log)', () => {
    const incidentIds = (r: ReturnType<typeof run>) => [...new Set(r.outputs.flatMap((o) => (o.type === 'incident' ? [o.incident.id] : [])))]
    const live = run([alert({ fp: 'watchdog', t: 0 }), tick(5)], { retentionMs: 2 * 24 * HOUR })
    const rebuilt = run([alert({ fp: 'watchdog', t: 0, rx: 4 * 24 * 60 }), tick(4 * 24 * 60)], { retentionMs: 2 * 24 * HOUR })
    expect(incidentIds(live)).toHaveLength(1)
    expect(incidentIds(rebuilt)).toEqual(incidentIds(live))
  })

  it('forgets such an incident restored from a snapshot of an engine that queued it at the watermark', () => {
    const r = run([alert({ fp: 'a', t: 0 }), tick(10)], { retentionMs: 24 * HOUR })
    const id = only(r.incidents).id
    r.engine.apply(command('incident.resolve', id, { at: at(10.9) }))
    const snapshot = JSON.parse(JSON.stringify(r.engine.snapshot())) as EngineSnapshot
    // As engines before 2026-12-04 wrote it: queued at the watermark (10 min), ahead of which it was decided.
    expect(snapshot.evictionQueue).toHaveLength(1)
    snapshot.evictionQueue[0]!.at = T0 + 10 * MIN
    const restored = new CorrelationEngine({ allowedLatenessMs: 0, retentionMs: 24 * HOUR }, snapshot)
    for (const m of [24 * 60 + 10.5, 24 * 60 + 30, 3 * 24 * 60]) restored.apply(tick(m))
    expect(restored.incident(id)).toBeUndefined()
  })

  it('keeps one eviction entry per resolve within the retention for an incident that keeps reopening, not one for ever', () => {
    // A check failing for the first half of every hour: one incident, reopened and resolved hourly.
    const inputs: EngineInput[] = []
    for (let m = 0; m <= 20 * 24 * 60; m += 5) {
      if (m % 30 === 0) inputs.push(alert({ fp: 'cron', t: m, service: 'batch', status: m % 60 === 0 ? 'firing' : 'resolved' }))
      inputs.push(tick(m))
    }
    const { engine } = run(inputs, { retentionMs: 24 * HOUR })
    expect(engine.incidents()).toHaveLength(1)
    // A day of hourly resolves, and the hour forgetting waits for.
    expect(engine.snapshot().evictionQueue.length).toBeLessThanOrEqual(26)
  })

  it('forgets an incident a person resolved that a late re-fire reopened after its timer came due', () => {
    // Every day: a critical alert fires, a person resolves it at 20 min, its post-mortem timer (30 min) comes
    // due while it is resolved, a re-fire of 29 min arrives at 31 min and reopens it, its resolve is lost.
    const inputs: EngineInput[] = []
    const day = 24 * 60
    for (let d = 0; d < 10; d++) {
      const t = d * day
      inputs.push(alert({ fp: `a${d}`, t, service: `svc${d}`, severity: 'critical' }), tick(t + 20), { type: 'resolve', day: d } as never, tick(t + 30))
      inputs.push(alert({ fp: `a${d}`, t: t + 29, rx: t + 31, service: `svc${d}`, severity: 'critical' }), tick(t + day - 1))
    }
    const engine = new CorrelationEngine({ allowedLatenessMs: 0, retentionMs: 24 * HOUR })
    for (const input of inputs as (EngineInput | { type: 'resolve'; day: number })[]) {
      if (input.type !== 'resolve') { engine.apply(input); continue }
      const inc = engine.incidents().find((i) => i.alerts[0]?.fingerprint === `a${input.day}`)!
      engine.apply(command('incident.resolve', inc.id, { at: at(input.day * day + 20) }))
    }
    // The staleness timeout (a day) ends each reopened incident; the retention (a day) forgets it.
    expect(engine.incidents().filter((i) => i.status === 'open')).toHaveLength(1)
    expect(engine.snapshot().incidents.length).toBeLessThanOrEqual(3)
  })
})

describe('checkpoints', () => {
  it('continues from a snapshot exactly as without one', () => {
    const inputs = [alert({ fp: 'a', t: 0 }), alert({ fp: 'b', t: 1, service: 's', labels: { host: 'h' } }), alert({ fp: 'a', t: 2, status: 'resolved' }), tick(10), alert({ fp: 'a', t: 20 }), report(21)]
    const whole = run(inputs)
    const first = run(inputs.slice(0, 3))
    const resumed = restore(first.engine)
    const rest = inputs.slice(3).flatMap((i) => resumed.apply(i))
    expect(rest).toEqual(whole.outputs.slice(first.outputs.length))
    expect(resumed.incidents()).toEqual(whole.engine.incidents())
  })
})

describe('an input that throws', () => {
  it('keeps what it changed up to the throw as a version of its own, drained with the batch it came in', () => {
    const engine = new CorrelationEngine()
    engine.applyBuffered(alert({ fp: 'a', t: 0, service: 'checkout' }))
    // A record the engine cannot apply half-way (a bug's stand-in): its labels read once, for its group,
    // and not again, for its member, after the incident it opens exists.
    const poison = alert({ fp: 'b', t: 1, service: 'search' })
    if (poison.type !== 'alert') throw new Error('an alert')
    const labels = poison.event.labels
    let reads = 0
    Object.defineProperty(poison.event, 'labels', { get: () => { if (++reads > 1) throw new Error('labels unreadable'); return labels } })
    expect(() => engine.applyBuffered(poison)).toThrow('labels unreadable')

    const drained = engine.drainOutputs().flatMap((o) => (o.type === 'incident' ? [o.incident] : []))
    expect(drained.map((i) => [i.services[0], i.version, i.alertCount])).toEqual([['checkout', 1, 1], ['search', 1, 0]])
    // Nor does the next input's version take it over.
    engine.applyBuffered(alert({ fp: 'c', t: 2, service: 'checkout' }))
    expect(engine.drainOutputs().flatMap((o) => (o.type === 'incident' ? [[o.incident.services[0], o.incident.version, o.incident.alertCount]] : []))).toEqual([['checkout', 2, 2]])
  })
})

describe('limits of the runtime', () => {
  it('stops at a full table with a capacity error, for that input and every later one, not a poison per input', () => {
    // V8 refuses a Map its 2^24th entry with this RangeError; filling one takes ~1 GB, so the table of alert
    // tracks is made to refuse the alert `full` instead.
    const set = Map.prototype.set
    const spy = vi.spyOn(Map.prototype, 'set').mockImplementation(function (this: Map<unknown, unknown>, key: unknown, value: unknown) {
      if (key === 'alertmanager:full') throw new RangeError('Map maximum size exceeded')
      return set.call(this, key, value)
    })
    onTestFinished(() => spy.mockRestore())
    const engine = new CorrelationEngine()
    engine.apply(alert({ fp: 'a', t: 0 }))
    expect(() => engine.apply(alert({ fp: 'full', t: 1 }))).toThrow(EngineCapacityError)
    try { engine.apply(alert({ fp: 'b', t: 2 })) } catch (err) {
      expect(err).toMatchObject({ code: 'ENGINE_CAPACITY', retriable: false, cause: { message: 'Map maximum size exceeded' } })
      expect((err as Error).message).toContain('OPSREVIEW_CORRELATOR_RETENTION')
      return
    }
    expect.unreachable('an input after the limit was applied')
  })

  it('lets any other throw stay the input\'s own: the next input applies', () => {
    const engine = new CorrelationEngine()
    const broken = alert({ fp: 'a', t: 0 })
    if (broken.type === 'alert') (broken.event as { labels: unknown }).labels = null
    expect(() => engine.apply(broken)).toThrow(TypeError)
    expect(engine.apply(alert({ fp: 'b', t: 1 }))).toMatchObject([{ type: 'incident' }])
  })

  it('throws on a record that is no engine input (an unknown type, a bare number), for the runner to dead-letter, instead of passing over it', () => {
    const engine = new CorrelationEngine()
    expect(() => engine.apply({ type: 'alerts', event: {} } as unknown as EngineInput)).toThrow('not an engine input: type "alerts" is none of alert, command, tick')
    expect(() => engine.apply(7 as unknown as EngineInput)).toThrow('not an engine input: type undefined')
    expect(engine.apply(alert({ fp: 'b', t: 1 }))).toMatchObject([{ type: 'incident' }])
  })
})
