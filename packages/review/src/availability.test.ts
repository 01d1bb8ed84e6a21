import { describe, expect, it } from 'vitest'
import { availability, firingIntervals, unionWithin, type AlertChange } from './availability.ts'

const T0 = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000
const DAY = 24 * 60 * MIN
const at = (m: number) => new Date(T0 + m * MIN).toISOString()
const fire = (fp: string, m: number, source = 'alertmanager'): AlertChange => ({ fingerprint: fp, source, status: 'firing', startsAt: at(m) })
const resolve = (fp: string, m: number, source = 'alertmanager'): AlertChange => ({ fingerprint: fp, source, status: 'resolved', startsAt: at(m), endsAt: at(m) })

describe('availability', () => {
  it('counts a 30-minute Pingdom outage in 24 h as 97.92 %', () => {
    const a = availability([fire('check-1', 600, 'pingdom'), resolve('check-1', 630, 'pingdom')], T0, T0 + DAY)
    expect(a).toEqual({ availabilityPct: 97.92, downtimeMs: 30 * MIN, interruptions: 1, longestInterruptionMs: 30 * MIN })
  })

  it('counts overlapping alerts once: downtime is the union', () => {
    const a = availability([fire('a', 60), fire('b', 70), resolve('a', 90), resolve('b', 100)], T0, T0 + DAY)
    expect(a.downtimeMs).toBe(40 * MIN)
    expect(a.interruptions).toBe(1)
  })

  it('does not count the UP gaps between flaps', () => {
    const changes = [fire('f', 0), resolve('f', 2), fire('f', 5), resolve('f', 7), fire('f', 10), resolve('f', 12)]
    expect(availability(changes, T0, T0 + DAY)).toMatchObject({ downtimeMs: 6 * MIN, interruptions: 3 })
  })

  it('clips to the window and runs a still-firing alert to its end', () => {
    const changes = [fire('early', -30), resolve('early', 10), fire('late', DAY / MIN - 20)]
    expect(availability(changes, T0, T0 + DAY).downtimeMs).toBe(30 * MIN)
  })

  it('ignores a resolve without a firing and redelivered firings', () => {
    expect(firingIntervals([resolve('x', 5), fire('y', 1), fire('y', 1), resolve('y', 3)], T0 + DAY)).toEqual([{ from: T0 + MIN, to: T0 + 3 * MIN }])
  })

  it('merges touching intervals', () => {
    expect(unionWithin([{ from: 0, to: 5 }, { from: 5, to: 8 }, { from: 10, to: 12 }], 0, 100)).toEqual([{ from: 0, to: 8 }, { from: 10, to: 12 }])
  })
})
