import { describe, expect, it } from 'vitest'
import type { CorrelationConfig } from '@opsreview/correlation/config'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { AlertEvent, EngineInput } from '@opsreview/correlation/types'
import { closingTicks } from './replay.ts'

const T0 = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000
const isoOf = (t: number) => new Date(t).toISOString()

function firing(fingerprint: string, service: string, t: number, receivedAt: number): EngineInput {
  const event: AlertEvent = {
    id: `${fingerprint}-${t}`, source: 'alertmanager', fingerprint, status: 'firing', severity: 'critical', service,
    environment: 'production', title: `Down on ${service}`, labels: { alertname: 'Down', service }, startsAt: isoOf(t),
    receivedAt: isoOf(receivedAt), links: [], origin: {},
  }
  return { type: 'alert', event }
}

describe('closingTicks', () => {
  // As runReplay configures its engine: an allowed lateness, ticks expected, the default future tolerance (1 min).
  const config: Partial<CorrelationConfig> = {
    allowedLatenessMs: 5 * MIN,
    lateHold: { afterMs: 5 * MIN, quietMs: 30_000, maxMs: 10 * MIN, maxEvents: 100_000, expectTicks: true },
  }

  it("applies every event of the range: one timed up to two tolerances past `to`, and a backlog held with a receipt past it", () => {
    const toMs = T0 + 60 * MIN
    const engine = new CorrelationEngine(config)
    // The replay's ticks at the records' times, a minute apart, up to `to`.
    for (let t = T0; t <= toMs; t += MIN) engine.applyBuffered({ type: 'tick', at: isoOf(t) })
    // A record of `to` whose receipt the clamp let be a tolerance later, and whose sender's clock ran ahead by
    // as much again: its event time is two tolerances past `to`, where it waits for the watermark.
    engine.applyBuffered(firing('ahead', 'search', toMs + 110_000, toMs + 50_000))
    // An alert of an hour ago received at the end of the range: a backlog's, held until the watermark reaches
    // its receipt (20 s past `to`).
    engine.applyBuffered(firing('late', 'checkout', T0 + 5 * MIN, toMs + 20_000))
    expect(engine.stats.late).toBe(1)
    for (const at of closingTicks(toMs, config)) engine.applyBuffered({ type: 'tick', at: isoOf(at) })

    expect(engine.stats.pending).toBe(0)
    expect(engine.incidents().flatMap((i) => i.alerts.map((a) => a.fingerprint)).sort()).toEqual(['ahead', 'late'])
  })

  it('takes the watermark to `to` first, as the timers due by then fire before anything past it', () => {
    expect(closingTicks(T0, config)[0]).toBe(T0 + 5 * MIN)
    expect(closingTicks(T0, {})).toEqual([T0, T0 + 2 * MIN, T0 + 2 * MIN + 30_000])
  })
})
