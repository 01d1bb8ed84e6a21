import { describe, expect, it } from 'vitest'
import { availabilityPctOf, alertIntervals, availability, completeChanges, firingIntervals, serviceTimes, subtract, unionWithin, type AlertChange, type MemberRecord, type TimedChange } from './availability.ts'

const T0 = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000
const DAY = 24 * 60 * MIN
const at = (m: number) => new Date(T0 + m * MIN).toISOString()
const fire = (fp: string, m: number, source = 'alertmanager'): AlertChange => ({ fingerprint: fp, source, status: 'firing', startsAt: at(m) })
const resolve = (fp: string, m: number, source = 'alertmanager'): AlertChange => ({ fingerprint: fp, source, status: 'resolved', startsAt: at(m), endsAt: at(m) })

describe('availability', () => {
  it('rounds down to the hundredth, in integers: 99.8999 % is 99.89 %, and 99.9 % exactly stays 99.9 %', () => {
    expect(availabilityPctOf(10_001, 10_000_000)).toBe(99.89)
    expect(availabilityPctOf(1, 1000)).toBe(99.9)
    expect(availabilityPctOf(0, 5)).toBe(100)
    expect(availabilityPctOf(5, 5)).toBe(0)
  })

  it('counts a 30-minute Pingdom outage in 24 h as 97.91 % (97.916…, rounded down)', () => {
    const a = availability([fire('check-1', 600, 'pingdom'), resolve('check-1', 630, 'pingdom')], T0, T0 + DAY)
    expect(a).toEqual({ availabilityPct: 97.91, downtimeMs: 30 * MIN, interruptions: 1, longestInterruptionMs: 30 * MIN })
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

  it('keeps an alert down that recovered and failed again within one instant, and counts a blip of no length as no downtime', () => {
    // Pingdom's state changes are timed to the second: DOWN, UP and DOWN again within one.
    expect(availability([fire('c', 0, 'pingdom'), resolve('c', 10, 'pingdom'), fire('c', 10, 'pingdom'), resolve('c', 20, 'pingdom')], T0, T0 + DAY))
      .toMatchObject({ downtimeMs: 20 * MIN, interruptions: 1 })
    // Whatever order the changes of the instant come in; and still down at the end of the window when no UP followed.
    expect(availability([fire('c', 0, 'pingdom'), fire('c', 10, 'pingdom'), resolve('c', 10, 'pingdom')], T0, T0 + DAY).downtimeMs).toBe(DAY)
    // Up before the instant: a DOWN and an UP within it are a blip, not down until the end of the window.
    expect(availability([resolve('c', 10, 'pingdom'), fire('c', 10, 'pingdom')], T0, T0 + DAY).downtimeMs).toBe(0)
  })

  it('merges touching intervals', () => {
    expect(unionWithin([{ from: 0, to: 5 }, { from: 5, to: 8 }, { from: 10, to: 12 }], 0, 100)).toEqual([{ from: 0, to: 8 }, { from: 10, to: 12 }])
  })
})

describe('service time from the alert index completed by the incidents', () => {
  const change = (key: string, status: 'firing' | 'resolved', m: number, labels: Record<string, string> = { alertname: 'Down' }, service = 'shop'): TimedChange => ({ key, status, at: T0 + m * MIN, service, labels })
  const member = (key: string, o: Partial<MemberRecord>): MemberRecord => ({
    key, service: 'shop', severity: 'critical', name: 'Down', source: key.split(':')[0]!, firstSeenAt: at(0), resolvedAt: null, autoResolved: false, ...o,
  })
  const down = () => false
  const times = (changes: TimedChange[], members: MemberRecord[], from = T0, to = T0 + DAY, isDegraded: (l: Readonly<Record<string, string>> | undefined) => boolean = down) =>
    serviceTimes(alertIntervals(completeChanges(changes, members), to, isDegraded), from, to)

  it('ends an alert whose resolve was lost where the incident resolved it by staleness, not at the end of the window', () => {
    const changes = [change('alertmanager:a', 'firing', 60)]
    // Without the incident: down from 01:00 to the end of the day.
    expect(times(changes, []).get('shop')!.downtimeMs).toBe(23 * 60 * MIN)
    // The incident resolved it by staleness at 01:40, when it was last seen.
    const stale = member('alertmanager:a', { firstSeenAt: at(60), resolvedAt: at(100), autoResolved: true })
    expect(times(changes, [stale]).get('shop')).toMatchObject({ downtimeMs: 40 * MIN, interruptions: 1 })
    // A later firing of the same alert opens a new interval after the staleness end.
    expect(times([...changes, change('alertmanager:a', 'firing', 200), change('alertmanager:a', 'resolved', 230)], [stale]).get('shop')).toMatchObject({ downtimeMs: 70 * MIN, interruptions: 2 })
  })

  it('ends each episode of an alert that went stale and fired again with a new start at the end guessed for it, not at the next firing', () => {
    // Fired at 01:00, last seen at 01:40, its resolve lost; it fired anew at 05:00 in the same incident (the
    // correlator reopened it, or another alert held it open) and resolved at 06:00. The index holds two firings and one resolve.
    const changes = [change('alertmanager:a', 'firing', 60), change('alertmanager:a', 'firing', 300), change('alertmanager:a', 'resolved', 360)]
    const member2 = member('alertmanager:a', { firstSeenAt: at(60), resolvedAt: at(360), guessedEnds: [at(100)] })
    expect(times(changes, [member2]).get('shop')).toMatchObject({ downtimeMs: 100 * MIN, interruptions: 2 })
    // Still firing in the second episode at the end of the day: the same first episode, and the second until then.
    const firing = member('alertmanager:a', { firstSeenAt: at(60), guessedEnds: [at(100)] })
    expect(times(changes.slice(0, 2), [firing]).get('shop')).toMatchObject({ downtimeMs: 40 * MIN + (24 * 60 - 300) * MIN, interruptions: 2 })
    // Its second episode sent only resolved (it fired at 05:00 and ended at 05:10 between two flushes of its
    // group): opened at that resolve's start, not at the guess, nor counted as nothing.
    const blip = { ...change('alertmanager:a', 'resolved', 310), startedAt: T0 + 300 * MIN }
    expect(times([changes[0]!, blip], [member('alertmanager:a', { firstSeenAt: at(60), resolvedAt: at(310), guessedEnds: [at(100)] })]).get('shop'))
      .toMatchObject({ downtimeMs: 40 * MIN + 10 * MIN, interruptions: 2 })
    // Its first firing before the look-back (not read): opened at its first sight, ended at the guess.
    expect(times(changes.slice(1), [member('alertmanager:a', { firstSeenAt: at(-10 * 24 * 60), resolvedAt: at(360), guessedEnds: [at(100)] })]).get('shop'))
      .toMatchObject({ downtimeMs: 100 * MIN + 60 * MIN, interruptions: 2 })
  })

  it('counts an alert that started before the look-back from its incident, not as zero', () => {
    // Fired 10 days ago (before the 7-day look-back), resolved at 02:00 in the window: only the resolve is read.
    const changes = [change('alertmanager:old', 'resolved', 120)]
    expect(times(changes, []).get('shop')!.downtimeMs).toBe(0)
    const old = member('alertmanager:old', { firstSeenAt: at(-10 * 24 * 60), resolvedAt: at(120) })
    expect(times(changes, [old]).get('shop')).toMatchObject({ downtimeMs: 120 * MIN, interruptions: 1 })
    // Still firing with no change at all in the read range: down for the whole window.
    const still = member('pingdom:check-9', { firstSeenAt: at(-10 * 24 * 60), service: 'api' })
    expect(times([], [still]).get('api')).toMatchObject({ downtimeMs: DAY, availabilityPct: 0 })
  })

  it('keeps an alert down through a resolve and a firing of one instant, in the service levels as in availability', () => {
    const changes = [change('pingdom:c', 'firing', 0), change('pingdom:c', 'resolved', 10), change('pingdom:c', 'firing', 10)]
    expect(times(changes, []).get('shop')).toMatchObject({ downtimeMs: DAY, interruptions: 1 })
    expect(times([...changes, change('pingdom:c', 'resolved', 20)], []).get('shop')).toMatchObject({ downtimeMs: 20 * MIN, interruptions: 1 })
  })

  it('ends an alert at the staleness resolve timed at its last firing: the decided resolve comes after that instant\'s firing', () => {
    // Its UP lost; re-fired at 00:20, when it was last seen, and resolved by the staleness timeout there.
    const changes = [change('pingdom:c', 'firing', 0), change('pingdom:c', 'firing', 20)]
    const stale = member('pingdom:c', { firstSeenAt: at(0), resolvedAt: at(20), autoResolved: true })
    expect(times(changes, [stale]).get('shop')).toMatchObject({ downtimeMs: 20 * MIN, interruptions: 1 })
  })

  it('keeps an alert down through UP and DOWN instants that end and open members of several incidents', () => {
    // A member per incident: 00:00–00:10, 00:10–00:20, from 00:20 on; each UP came with the next DOWN in one second.
    const changes = [change('pingdom:c', 'firing', 0), change('pingdom:c', 'resolved', 10), change('pingdom:c', 'firing', 10), change('pingdom:c', 'resolved', 20), change('pingdom:c', 'firing', 20)]
    const members = [member('pingdom:c', { firstSeenAt: at(0), resolvedAt: at(10) }), member('pingdom:c', { firstSeenAt: at(10), resolvedAt: at(20) }), member('pingdom:c', { firstSeenAt: at(20) })]
    expect(times(changes, members).get('shop')).toMatchObject({ downtimeMs: DAY, interruptions: 1 })
    // Down since before the look-back, its UP and DOWN in one second: the member it ended and the one it opened.
    const since = [member('pingdom:c', { firstSeenAt: at(-10 * 24 * 60), resolvedAt: at(10) }), member('pingdom:c', { firstSeenAt: at(10) })]
    expect(times([change('pingdom:c', 'resolved', 10), change('pingdom:c', 'firing', 10)], since).get('shop')).toMatchObject({ downtimeMs: DAY, interruptions: 1 })
  })

  it('opens an alert down since before the look-back at its member\'s start when its first instant in the index is an UP and a DOWN', () => {
    const changes = [change('pingdom:c', 'resolved', 10), change('pingdom:c', 'firing', 10)]
    const still = member('pingdom:c', { firstSeenAt: at(-10 * 24 * 60) })
    expect(times(changes, [still]).get('shop')).toMatchObject({ downtimeMs: DAY, interruptions: 1 })
  })

  it('counts every blip Alertmanager sent only resolved, each from its own member, not only the first', () => {
    // Fired and ended between two flushes of its group, twice: the index holds two resolves and no firing.
    const changes = [change('alertmanager:blip', 'resolved', 64), change('alertmanager:blip', 'resolved', 304)]
    const episodes = [member('alertmanager:blip', { firstSeenAt: at(60), resolvedAt: at(64) }), member('alertmanager:blip', { firstSeenAt: at(300), resolvedAt: at(304) })]
    expect(times(changes, episodes).get('shop')).toMatchObject({ downtimeMs: 8 * MIN, interruptions: 2 })
    // After an episode the index has whole, a blip still gets its opening.
    const whole = [change('alertmanager:blip', 'firing', 0), change('alertmanager:blip', 'resolved', 2), ...changes]
    expect(times(whole, [member('alertmanager:blip', { firstSeenAt: at(0), resolvedAt: at(2) }), ...episodes]).get('shop')).toMatchObject({ downtimeMs: 10 * MIN, interruptions: 3 })
  })

  it('opens a member whose first change is a resolve though it fired again in its incident after it', () => {
    // A blip sent only resolved (08:00–08:20), then the alert fired again (08:30–08:40) in the same incident: one member.
    const refired = [change('alertmanager:r', 'resolved', 500), change('alertmanager:r', 'firing', 510), change('alertmanager:r', 'resolved', 520)]
    expect(times(refired, [member('alertmanager:r', { firstSeenAt: at(480), resolvedAt: at(520) })]).get('shop')).toMatchObject({ downtimeMs: 30 * MIN, interruptions: 2 })
    // Firing since before the look-back, resolved at 01:00, then a flap at 01:10–01:20.
    const old = [change('alertmanager:o', 'resolved', 60), change('alertmanager:o', 'firing', 70), change('alertmanager:o', 'resolved', 80)]
    expect(times(old, [member('alertmanager:o', { firstSeenAt: at(-10 * 24 * 60), resolvedAt: at(80) })]).get('shop')).toMatchObject({ downtimeMs: 70 * MIN, interruptions: 2 })
  })

  it('leaves alerts the index has whole as they are, and ignores non-critical members', () => {
    const changes = [change('alertmanager:b', 'firing', 10), change('alertmanager:b', 'resolved', 20)]
    const b = member('alertmanager:b', { firstSeenAt: at(10), resolvedAt: at(20) })
    expect(completeChanges(changes, [b])).toEqual(changes)
    expect(completeChanges([], [member('alertmanager:w', { severity: 'warning', firstSeenAt: at(-99999) })])).toEqual([])
    // A flapping alert keeps its gaps: the member's firstSeenAt does not fill them.
    const flaps = [change('alertmanager:f', 'firing', 0), change('alertmanager:f', 'resolved', 2), change('alertmanager:f', 'firing', 5), change('alertmanager:f', 'resolved', 7)]
    expect(times(flaps, [member('alertmanager:f', { firstSeenAt: at(0), resolvedAt: at(7) })]).get('shop')!.downtimeMs).toBe(4 * MIN)
  })

  it('reports degraded time apart from downtime, and not while the service is down', () => {
    const slow = (l: Readonly<Record<string, string>> | undefined) => l?.slo === 'latency'
    const changes = [
      change('alertmanager:lat', 'firing', 0, { alertname: 'HighLatency', slo: 'latency' }), change('alertmanager:lat', 'resolved', 60, { alertname: 'HighLatency', slo: 'latency' }),
      change('alertmanager:down', 'firing', 30), change('alertmanager:down', 'resolved', 40),
    ]
    expect(times(changes, [], T0, T0 + DAY, slow).get('shop')).toEqual({ availabilityPct: 99.3, downtimeMs: 10 * MIN, interruptions: 1, longestInterruptionMs: 10 * MIN, degradedMs: 50 * MIN })
    // The index's labels decide, even when the incident's member record (alertname only) comes last.
    const stale = member('alertmanager:lat', { name: 'HighLatency', firstSeenAt: at(0), resolvedAt: at(90), autoResolved: true })
    expect(times(changes.slice(0, 1), [stale], T0, T0 + DAY, slow).get('shop')).toMatchObject({ downtimeMs: 0, degradedMs: 90 * MIN })
  })

  it('subtracts intervals', () => {
    expect(subtract([{ from: 0, to: 10 }, { from: 20, to: 30 }], [{ from: 2, to: 4 }, { from: 8, to: 22 }, { from: 29, to: 40 }])).toEqual([{ from: 0, to: 2 }, { from: 4, to: 8 }, { from: 22, to: 29 }])
    expect(subtract([{ from: 0, to: 10 }], [])).toEqual([{ from: 0, to: 10 }])
    expect(subtract([{ from: 0, to: 10 }], [{ from: 0, to: 10 }])).toEqual([])
  })
})
