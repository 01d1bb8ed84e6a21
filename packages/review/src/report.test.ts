import { describe, expect, it } from 'vitest'
import type { ServiceTime } from './availability.ts'
import { serviceLevelsOf } from './report.ts'

const MIN = 60_000
const time = (downtimeMs: number, degradedMs = 0, interruptions = downtimeMs > 0 ? 1 : 0): ServiceTime => ({
  availabilityPct: Math.floor(((1440 * MIN - downtimeMs) * 10_000) / (1440 * MIN)) / 100, downtimeMs, interruptions, longestInterruptionMs: downtimeMs, degradedMs,
})

describe('serviceLevelsOf', () => {
  it('lists the worst first: least available, then longest degraded, then most interrupted, then by name', () => {
    const times = new Map([
      ['api', time(0)], ['search', time(0, 90 * MIN)], ['checkout', time(30 * MIN)], ['mail', time(0, 20 * MIN)],
      ['queue', time(0, 20 * MIN, 3)], ['dns', time(0, 20 * MIN)],
    ])
    const incidents = new Map([['api', { incidents: 1, mttaMs: null, mttrMs: 5 * MIN }]])
    expect(serviceLevelsOf(times, incidents).map((l) => l.service)).toEqual(['checkout', 'search', 'queue', 'dns', 'mail', 'api'])
  })

  it('leaves out a service whose alerts fired only before the window and that had no incident in it', () => {
    // The look-back reads alerts of the week before: their services come back with nothing in the window.
    const times = new Map([['billing', time(0)], ['checkout', time(10 * MIN)]])
    const incidents = new Map([['search', { incidents: 2, mttaMs: MIN, mttrMs: 4 * MIN }]])
    expect(serviceLevelsOf(times, incidents)).toEqual([
      { service: 'checkout', ...time(10 * MIN), incidents: 0, mttaMs: null, mttrMs: null },
      { service: 'search', availabilityPct: 100, downtimeMs: 0, interruptions: 0, longestInterruptionMs: 0, degradedMs: 0, incidents: 2, mttaMs: MIN, mttrMs: 4 * MIN },
    ])
  })
})
