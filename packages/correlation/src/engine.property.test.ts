import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CorrelationEngine } from './engine.ts'
import type { AlertEvent, EngineInput } from './types.ts'

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

function finalState(inputs: EngineInput[]) {
  const engine = new CorrelationEngine()
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
      const a = finalState(inputs)
      const b = finalState(withDupes)
      expect(b.incidents).toEqual(a.incidents)
      expect(b.problems).toEqual(a.problems)
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
