import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { CorrelationEngine, type EngineSnapshot } from './engine.ts'
import type { AlertEvent, EngineInput, EngineOutput } from './types.ts'

// A version of an incident on the compacted topic replaces the one before it. An incident made again under an
// id it had before, at version 1, replaced its latest document there (the review's decisions with it): no
// delivery may emit an id at a version it already had. The streams mix what makes an engine forget and meet
// old events again: a retention of a day, redeliveries of any earlier record, alerts first heard of long
// after they started, whole episodes, reports, a person's resolves, and restarts from a snapshot, some with a
// longer retention; with ticks at every input, as a live correlator, and without, as a quiet partition.

const T0 = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000
const DAY = 24 * 60 * MIN
const staleness = { alertmanager: 3 * 60 * MIN, pingdom: 0, report: 2 * 60 * MIN }

const step = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('alert' as const), fp: fc.constantFrom('a', 'b', 'c'), service: fc.constantFrom('checkout', 'search'), firing: fc.boolean(),
      newEpisode: fc.boolean(), lagMinutes: fc.constantFrom(0, 0, 3, 90, 2000), advance: fc.constantFrom(0, 1, 10, 60, 400, 1500),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), advance: fc.constantFrom(0, 1, 30, 600, 1500) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('report' as const), service: fc.constantFrom('checkout', 'search'), lagMinutes: fc.constantFrom(0, 2000), advance: fc.constantFrom(0, 10) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('redeliver' as const), pick: fc.nat(), advance: fc.constantFrom(0, 1, 30) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resolve' as const), pick: fc.nat(), advance: fc.constantFrom(0, 5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), longerRetention: fc.boolean(), advance: fc.constant(0) }) },
)
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never

const idOf = (...parts: string[]) => createHash('sha256').update(parts.join('|')).digest('hex').slice(0, 32)

function outputsOf(steps: Step[], allowedLatenessMs: number, tickEachInput: boolean): EngineOutput[] {
  let now = T0
  let retentionMs = DAY
  const config = () => ({ allowedLatenessMs, retentionMs, stalenessMs: staleness })
  let engine = new CorrelationEngine(config())
  const episodes = new Map<string, number>()
  const sent: EngineInput[] = []
  const incidentIds: string[] = []
  const outputs: EngineOutput[] = []
  let commands = 0
  const feed = (input: EngineInput) => {
    if (tickEachInput && input.type !== 'tick') feed({ type: 'tick', at: new Date(now).toISOString() })
    for (const o of engine.apply(input)) {
      if (o.type === 'incident') incidentIds.push(o.incident.id)
      outputs.push(o)
    }
  }
  for (const s of steps) {
    now += s.advance * MIN
    switch (s.kind) {
      case 'tick': feed({ type: 'tick', at: new Date(now).toISOString() }); break
      case 'restart':
        if (s.longerRetention) retentionMs *= 2
        engine = new CorrelationEngine(config(), JSON.parse(JSON.stringify(engine.snapshot())) as EngineSnapshot)
        break
      case 'redeliver':
        if (sent.length > 0) feed(structuredClone(sent[s.pick % sent.length]!))
        break
      case 'resolve':
        if (incidentIds.length > 0) {
          const target = incidentIds[s.pick % incidentIds.length]!
          feed({ type: 'command', command: { id: `c${++commands}`, type: 'incident.resolve', target, environment: 'production', actor: 'x', at: new Date(now).toISOString() } })
        }
        break
      case 'report': {
        const occurred = new Date(now - s.lagMinutes * MIN).toISOString()
        const event: AlertEvent = {
          id: idOf('report', occurred, s.service), source: 'report', fingerprint: `r-${occurred}`, status: 'firing', severity: 'warning', service: s.service,
          environment: 'production', title: 'complaint', labels: { alertname: 'complaint' }, startsAt: occurred, receivedAt: new Date(now).toISOString(), links: [],
          origin: { kind: 'customer-complaint' },
        }
        sent.push({ type: 'alert', event })
        feed({ type: 'alert', event })
        break
      }
      case 'alert': {
        const fp = `${s.fp}-${s.service}`
        let start = episodes.get(fp)
        if (start === undefined || s.newEpisode) episodes.set(fp, (start = now - s.lagMinutes * MIN))
        const startsAt = new Date(start).toISOString()
        // A resolve heard of with no firing before it is a whole episode (Alertmanager's: fired and ended between two flushes).
        const event: AlertEvent = {
          id: idOf('alertmanager', fp, s.firing ? 'firing' : 'resolved', startsAt), source: 'alertmanager', fingerprint: fp, status: s.firing ? 'firing' : 'resolved',
          severity: 'warning', service: s.service, environment: 'production', title: fp, labels: { alertname: s.fp }, startsAt, receivedAt: new Date(now).toISOString(),
          links: [], origin: {},
        }
        if (!s.firing) {
          event.endsAt = new Date(Math.max(start + MIN, now)).toISOString()
          episodes.delete(fp)
        }
        sent.push({ type: 'alert', event })
        feed({ type: 'alert', event })
        break
      }
    }
  }
  return outputs
}

describe('incident versions', () => {
  for (const [allowedLatenessMs, tickEachInput] of [[0, true], [0, false], [5 * MIN, true], [5 * MIN, false]] as const) {
    it(`never go back for an id, whatever is delivered again or forgotten (allowed lateness ${allowedLatenessMs / MIN} min, ${tickEachInput ? 'a tick at every input' : 'no ticks'})`, () => {
      fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 150 }), (steps) => {
        const latest = new Map<string, number>()
        for (const o of outputsOf(steps, allowedLatenessMs, tickEachInput)) {
          if (o.type !== 'incident') continue
          const before = latest.get(o.incident.id) ?? 0
          if (o.incident.version <= before) throw new Error(`${o.incident.id} emitted at version ${o.incident.version} after version ${before}`)
          latest.set(o.incident.id, o.incident.version)
        }
      }), { numRuns: 2_000 })
    }, 60_000)
  }
})
