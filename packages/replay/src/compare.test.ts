import { describe, expect, it } from 'vitest'
import type { TimedChange } from '@opsreview/review/availability'
import { compareRuns, type ComparedIncident, type ComparedProblem, type MemberAlert } from './compare.ts'

// The replay's input starts a 7-day warm-up before the range.
const range = { from: '2026-11-30T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z', readFrom: '2026-11-23T00:00:00.000Z' }
const at = (hhmm: string, day = '2026-11-30') => `${day}T${hhmm}:00.000Z`
const before = (hhmm: string) => at(hhmm, '2026-11-29')

function alert(key: string, from: string, to: string | null, extra: Partial<MemberAlert> = {}): MemberAlert {
  return { key, source: 'alertmanager', name: key, service: 'checkout', severity: 'critical', firstSeenAt: from, lastSeenAt: to ?? from, resolvedAt: to, autoResolved: false, ...extra }
}

function incident(id: string, alerts: MemberAlert[], extra: Partial<ComparedIncident> = {}): ComparedIncident {
  const opened = alerts.map((a) => a.firstSeenAt).sort()[0] ?? extra.openedAt ?? range.from
  const ends = alerts.map((a) => a.resolvedAt)
  const resolvedAt = ends.includes(null) ? null : (ends as string[]).sort().at(-1) ?? null
  return { id, title: id, status: resolvedAt ? 'resolved' : 'open', services: ['checkout'], environment: 'production', openedAt: opened, resolvedAt, resolvedBy: resolvedAt ? 'alerts' : null, alerts, reports: [], ...extra }
}

/** A critical alert's state change as the log holds it. */
const change = (key: string, status: TimedChange['status'], time: string, service = 'checkout'): TimedChange => ({ key, status, at: Date.parse(time), service, labels: { alertname: key } })

function problem(id: string, kind = 'recurring', extra: Partial<ComparedProblem> = {}): ComparedProblem {
  return { id, kind, signature: `{"kind":"${kind}","id":"${id}"}`, status: 'candidate', title: id, incidentCount: 3, firstSeenAt: at('01:00'), lastSeenAt: at('05:00'), ...extra }
}

describe('compareRuns', () => {
  it('the same incidents and problems compare as unchanged, with no availability delta', () => {
    const run = {
      incidents: [incident('inc-a', [alert('am:1', at('01:00'), at('01:30'))]), incident('inc-b', [alert('am:2', at('03:00'), at('03:10'))])],
      problems: [problem('prb-1')],
      changes: [],
    }
    const c = compareRuns(run, run, range)
    expect(c.incidents).toMatchObject({ live: 2, replay: 2, delta: 0, unchanged: 2, merged: [], split: [], onlyLive: [], onlyReplay: [] })
    expect(c.problems).toMatchObject({ live: 1, replay: 1, found: [], lost: [], kept: 1 })
    expect(c.availability).toEqual([{ service: 'checkout', liveDowntimeMs: 40 * 60_000, replayDowntimeMs: 40 * 60_000, deltaDowntimeMs: 0, liveAvailabilityPct: 97.22, replayAvailabilityPct: 97.22, deltaPct: 0 }])
  })

  it('rounds availability down, as the review shows it: 99.895 % is not a 99.9 % target met', () => {
    // 90,720 ms of downtime in the 1-day range: 99.895 %.
    const run = { incidents: [incident('inc-a', [alert('am:1', at('01:00'), '2026-11-30T01:01:30.720Z')])], problems: [], changes: [] }
    const c = compareRuns(run, run, range)
    expect(c.availability).toEqual([{ service: 'checkout', liveDowntimeMs: 90_720, replayDowntimeMs: 90_720, deltaDowntimeMs: 0, liveAvailabilityPct: 99.89, replayAvailabilityPct: 99.89, deltaPct: 0 }])
  })

  it('a replayed incident holding the alerts of two live ones is a merge; the live ones are not unchanged', () => {
    const a = alert('am:1', at('01:00'), at('01:30'))
    const b = alert('am:2', at('01:10'), at('01:40'), { service: 'payments' })
    const c = compareRuns(
      { incidents: [incident('inc-a', [a]), incident('inc-b', [b], { services: ['payments'] })], problems: [], changes: [] },
      { incidents: [incident('inc-a', [a, b], { services: ['checkout', 'payments'] })], problems: [], changes: [] },
      range,
    )
    expect(c.incidents.live).toBe(2)
    expect(c.incidents.replay).toBe(1)
    expect(c.incidents.delta).toBe(-1)
    expect(c.incidents.unchanged).toBe(0)
    expect(c.incidents.merged).toEqual([{ replay: { id: 'inc-a', title: 'inc-a', openedAt: at('01:00') }, live: [{ id: 'inc-a', title: 'inc-a', openedAt: at('01:00') }, { id: 'inc-b', title: 'inc-b', openedAt: at('01:10') }] }])
    expect(c.incidents.split).toEqual([])
    // Grouping does not change when alerts fired: downtime per service stays.
    expect(c.availability.map((s) => s.deltaDowntimeMs)).toEqual([0, 0])
  })

  it('a live incident whose alerts land in two replayed ones is a split', () => {
    const a = alert('am:1', at('01:00'), at('01:30'))
    const b = alert('am:2', at('01:10'), at('01:40'))
    const c = compareRuns(
      { incidents: [incident('inc-a', [a, b])], problems: [], changes: [] },
      { incidents: [incident('inc-a', [a]), incident('inc-x', [b])], problems: [], changes: [] },
      range,
    )
    expect(c.incidents.split).toEqual([{ live: { id: 'inc-a', title: 'inc-a', openedAt: at('01:00') }, replay: [{ id: 'inc-a', title: 'inc-a', openedAt: at('01:00') }, { id: 'inc-x', title: 'inc-x', openedAt: at('01:10') }] }])
    expect(c.incidents.merged).toEqual([])
    expect(c.incidents.unchanged).toBe(0)
  })

  it('one alert firing twice: two occurrences, matched by time, not a merge of the two live incidents', () => {
    // Live: a long quiet period kept each firing in its own incident hours apart. The replay does the same.
    const mon = alert('am:1', at('01:00'), at('01:20'))
    const tue = alert('am:1', at('20:00'), at('20:30'))
    const c = compareRuns(
      { incidents: [incident('inc-mon', [mon]), incident('inc-tue', [tue])], problems: [], changes: [] },
      { incidents: [incident('inc-mon', [mon]), incident('inc-tue', [tue])], problems: [], changes: [] },
      range,
    )
    expect(c.incidents).toMatchObject({ unchanged: 2, merged: [], split: [] })
  })

  it('a re-fire kept in one live incident but split off by a shorter quiet period is a split of that incident', () => {
    // Live: the member fired 01:00–01:10 and again 01:12–01:20 and stayed one incident (firstSeen .. last end).
    const live = incident('inc-a', [alert('am:1', at('01:00'), at('01:20'))])
    const r1 = incident('inc-a', [alert('am:1', at('01:00'), at('01:10'))])
    const r2 = incident('inc-r', [alert('am:1', at('01:12'), at('01:20'))])
    const changes = [change('am:1', 'firing', at('01:00')), change('am:1', 'resolved', at('01:10')), change('am:1', 'firing', at('01:12')), change('am:1', 'resolved', at('01:20'))]
    const c = compareRuns({ incidents: [live], problems: [], changes }, { incidents: [r1, r2], problems: [], changes }, range)
    expect(c.incidents.split.map((s) => [s.live.id, s.replay.map((r) => r.id)])).toEqual([['inc-a', ['inc-a', 'inc-r']]])
    expect(c.incidents.replay - c.incidents.live).toBe(1)
    // Downtime is when the alert fired, in both runs: not the live incident's span, which holds the two
    // minutes between the firings.
    expect(c.availability[0]).toMatchObject({ liveDowntimeMs: 18 * 60_000, replayDowntimeMs: 18 * 60_000, deltaDowntimeMs: 0 })
  })

  it('report-only incidents match by their reports', () => {
    const report = (id: string, eventId: string) => incident(id, [], { openedAt: at('02:00'), resolvedAt: at('03:00'), reports: [{ eventId }] })
    const c = compareRuns({ incidents: [report('inc-r1', 'evt-1'), report('inc-r2', 'evt-2')], problems: [], changes: [] }, { incidents: [report('inc-r1', 'evt-1'), { ...report('inc-r1b', 'evt-2') }], problems: [], changes: [] }, range)
    expect(c.incidents).toMatchObject({ unchanged: 2, onlyLive: [], onlyReplay: [] })
  })

  it('incidents with nothing in common are only-live and only-replay', () => {
    const c = compareRuns(
      { incidents: [incident('inc-a', [alert('am:1', at('01:00'), at('01:30'))])], problems: [], changes: [] },
      { incidents: [incident('inc-b', [alert('am:2', at('04:00'), null)])], problems: [], changes: [] },
      range,
    )
    expect(c.incidents.onlyLive.map((i) => i.id)).toEqual(['inc-a'])
    expect(c.incidents.onlyReplay.map((i) => i.id)).toEqual(['inc-b'])
    // A member still firing counts as down to the end of the range.
    expect(c.availability[0]).toMatchObject({ liveDowntimeMs: 30 * 60_000, replayDowntimeMs: 20 * 3_600_000 })
  })

  it('counts only incidents opened in the range, but an incident opened before it is still the live home of its alerts', () => {
    const early = alert('am:1', '2026-11-29T23:50:00.000Z', at('00:20'))
    const c = compareRuns(
      { incidents: [incident('inc-early', [early])], problems: [], changes: [] },
      // The replay opened it after the range start (say, a late first alert): no new incident, only a renamed one.
      { incidents: [incident('inc-late', [alert('am:1', at('00:05'), at('00:20'))])], problems: [], changes: [] },
      range,
    )
    expect(c.incidents).toMatchObject({ live: 0, replay: 1, onlyReplay: [], merged: [] })
    expect(c.availability[0]).toMatchObject({ liveDowntimeMs: 20 * 60_000, replayDowntimeMs: 15 * 60_000 })
  })

  it('a live incident resolved before the range, whose alert a longer reopen window keeps in a replayed incident open in it, is merged', () => {
    // The alert fired 50 min before the range, resolved 45 min before it, and fired again 5 min into it. Live
    // (30 min reopen window) opened a second incident; the replay (60 min) reopened the first.
    const first = alert('am:1', before('23:10'), before('23:15'))
    const again = alert('am:1', at('00:05'), at('00:20'))
    const c = compareRuns(
      { incidents: [incident('inc-1', [first]), incident('inc-2', [again])], problems: [], changes: [] },
      { incidents: [incident('inc-1', [alert('am:1', before('23:10'), at('00:20'))])], problems: [], changes: [] },
      range,
    )
    // Counts are of incidents opened in the range: the replay opened none.
    expect(c.incidents).toMatchObject({ live: 1, replay: 0, delta: -1, unchanged: 0, split: [], onlyLive: [], onlyReplay: [] })
    expect(c.incidents.merged).toEqual([{ replay: { id: 'inc-1', title: 'inc-1', openedAt: before('23:10') }, live: [{ id: 'inc-1', title: 'inc-1', openedAt: before('23:10') }, { id: 'inc-2', title: 'inc-2', openedAt: at('00:05') }] }])
  })

  it('a live incident open across the range start, split by a shorter reopen window into one resolved before it and one in it, is a split', () => {
    const c = compareRuns(
      { incidents: [incident('inc-1', [alert('am:1', before('23:10'), at('00:20'))])], problems: [], changes: [] },
      { incidents: [incident('inc-1', [alert('am:1', before('23:10'), before('23:15'))]), incident('inc-2', [alert('am:1', at('00:05'), at('00:20'))])], problems: [], changes: [] },
      range,
    )
    expect(c.incidents).toMatchObject({ live: 0, replay: 1, delta: 1, unchanged: 0, merged: [], onlyLive: [], onlyReplay: [] })
    expect(c.incidents.split).toEqual([{ live: { id: 'inc-1', title: 'inc-1', openedAt: before('23:10') }, replay: [{ id: 'inc-1', title: 'inc-1', openedAt: before('23:10') }, { id: 'inc-2', title: 'inc-2', openedAt: at('00:05') }] }])
  })

  it('judges no incident that ended before the range: a merge wholly in the warm-up is not reported', () => {
    const a = alert('am:1', before('10:00'), before('10:30'))
    const b = alert('am:2', before('10:10'), before('10:40'))
    const c = compareRuns(
      { incidents: [incident('inc-a', [a]), incident('inc-b', [b])], problems: [], changes: [] },
      { incidents: [incident('inc-a', [a, b])], problems: [], changes: [] },
      range,
    )
    expect(c.incidents).toMatchObject({ live: 0, replay: 0, unchanged: 0, merged: [], split: [], onlyLive: [], onlyReplay: [] })
  })

  it('ignores incidents wholly outside the range, and warnings for availability', () => {
    const c = compareRuns(
      { incidents: [incident('inc-old', [alert('am:1', '2026-11-28T01:00:00.000Z', '2026-11-28T02:00:00.000Z')]), incident('inc-w', [alert('am:2', at('01:00'), at('02:00'), { severity: 'warning' })])], problems: [], changes: [] },
      { incidents: [incident('inc-w', [alert('am:2', at('01:00'), at('02:00'), { severity: 'warning' })])], problems: [], changes: [] },
      range,
    )
    expect(c.incidents).toMatchObject({ live: 1, replay: 1, unchanged: 1 })
    expect(c.availability).toEqual([])
  })

  it('counts an outage that began before the log the runs read on both sides, though only the live run saw it begin', () => {
    // A Pingdom check down since before the warm-up, up in the range: both runs read only its UP, and a
    // replay's engine drops a resolve of a check it never saw fire. The same configuration: no delta.
    const r = { ...range, readFrom: '2026-11-29T18:00:00.000Z' }
    const check = alert('pingdom:check-42', '2026-11-29T12:00:00.000Z', at('02:00'), { source: 'pingdom', name: 'shop homepage' })
    const changes = [change('pingdom:check-42', 'resolved', at('02:00'))]
    const c = compareRuns({ incidents: [incident('inc-p', [check])], problems: [], changes }, { incidents: [], problems: [], changes }, r)
    expect(c.availability).toEqual([expect.objectContaining({ service: 'checkout', liveDowntimeMs: 2 * 3_600_000, replayDowntimeMs: 2 * 3_600_000, deltaDowntimeMs: 0 })])
    // Under the service the replay's rules give the alert.
    const relabelled = compareRuns({ incidents: [incident('inc-p', [check])], problems: [], changes }, { incidents: [], problems: [], changes: [{ ...changes[0]!, service: 'shop' }] }, r)
    expect(relabelled.availability.map((a) => [a.service, a.liveDowntimeMs, a.replayDowntimeMs])).toEqual([['checkout', 2 * 3_600_000, 0], ['shop', 0, 2 * 3_600_000]])
  })

  it('counts an outage that began before the log though the alert fires again later in the range, which the replay did see', () => {
    const r = { ...range, readFrom: '2026-11-29T18:00:00.000Z' }
    const down = alert('pingdom:check-42', '2026-11-29T12:00:00.000Z', at('02:00'), { source: 'pingdom', name: 'shop homepage' })
    const again = alert('pingdom:check-42', at('05:00'), at('06:00'), { source: 'pingdom', name: 'shop homepage' })
    const changes = [change('pingdom:check-42', 'resolved', at('02:00')), change('pingdom:check-42', 'firing', at('05:00')), change('pingdom:check-42', 'resolved', at('06:00'))]
    const c = compareRuns({ incidents: [incident('inc-p', [down]), incident('inc-q', [again])], problems: [], changes }, { incidents: [incident('inc-q', [again])], problems: [], changes }, r)
    expect(c.availability).toEqual([expect.objectContaining({ service: 'checkout', liveDowntimeMs: 3 * 3_600_000, replayDowntimeMs: 3 * 3_600_000, deltaDowntimeMs: 0 })])
  })

  it('problems found and lost by id; problems seen outside the range are left out', () => {
    const c = compareRuns(
      { incidents: [], problems: [problem('prb-kept'), problem('prb-lost', 'flapping'), problem('prb-old', 'recurring', { firstSeenAt: '2026-11-20T00:00:00.000Z', lastSeenAt: '2026-11-21T00:00:00.000Z' })], changes: [] },
      { incidents: [], problems: [problem('prb-kept'), problem('prb-new', 'shared-cause'), problem('prb-new2', 'recurring')], changes: [] },
      range,
    )
    expect(c.problems.live).toBe(2)
    expect(c.problems.replay).toBe(3)
    expect(c.problems.kept).toBe(1)
    expect(c.problems.found.map((p) => p.id)).toEqual(['prb-new2', 'prb-new'])
    expect(c.problems.lost.map((p) => [p.id, p.kind])).toEqual([['prb-lost', 'flapping']])
  })

  it('counts a staleness end where each run put it, and a degraded alert as no downtime, as the review does', () => {
    // The resolve was lost: live ended the alert by staleness where it was last seen (01:30); a replay with
    // a longer timeout still has it firing at the range's end.
    const changes = [change('am:1', 'firing', at('01:00')), change('am:lat', 'firing', at('02:00')), change('am:lat', 'resolved', at('03:00'))]
    const live = incident('inc-a', [alert('am:1', at('01:00'), at('01:30'), { autoResolved: true }), alert('am:lat', at('02:00'), at('03:00'), { name: 'CheckoutLatencyHigh' })])
    const replay = incident('inc-a', [alert('am:1', at('01:00'), null), alert('am:lat', at('02:00'), at('03:00'), { name: 'CheckoutLatencyHigh' })])
    const named = changes.map((c) => (c.key === 'am:lat' ? { ...c, labels: { alertname: 'CheckoutLatencyHigh' } } : c))
    const c = compareRuns({ incidents: [live], problems: [], changes: named }, { incidents: [replay], problems: [], changes: named }, range)
    expect(c.availability).toEqual([{ service: 'checkout', liveDowntimeMs: 30 * 60_000, replayDowntimeMs: 23 * 3_600_000, deltaDowntimeMs: 23 * 3_600_000 - 30 * 60_000, liveAvailabilityPct: 97.91, replayAvailabilityPct: 4.16, deltaPct: -93.75 }])
  })

  it('ends a member left firing in an incident a person resolved at their resolve, as the review does, on each side as it was resolved', () => {
    // A Pingdom check DOWN at 10:00 whose UP was lost; the on-call resolved its incident by hand at 10:30.
    const down = alert('pingdom:42', at('10:00'), null, { source: 'pingdom', name: 'shop' })
    const changes = [change('pingdom:42', 'firing', at('10:00'))]
    const resolvedByHand = incident('inc-p', [down], { status: 'resolved', resolvedAt: at('10:30'), resolvedBy: 'manual' })
    const same = compareRuns({ incidents: [resolvedByHand], problems: [], changes }, { incidents: [resolvedByHand], problems: [], changes }, range)
    expect(same.availability).toEqual([{ service: 'checkout', liveDowntimeMs: 30 * 60_000, replayDowntimeMs: 30 * 60_000, deltaDowntimeMs: 0, liveAvailabilityPct: 97.91, replayAvailabilityPct: 97.91, deltaPct: 0 }])
    // A grouping under which the person's resolve found no incident (another id): the replay's check is down to the end.
    const stillOpen = incident('inc-q', [down])
    const c = compareRuns({ incidents: [resolvedByHand], problems: [], changes }, { incidents: [stillOpen], problems: [], changes }, range)
    expect(c.availability[0]).toMatchObject({ liveDowntimeMs: 30 * 60_000, replayDowntimeMs: 14 * 3_600_000 })
  })

  it('ends an alert the staleness timeout ended during the warm-up where its incident, resolved before the range, says', () => {
    // Its resolve was lost: without the incident's end, it would be firing all through the range.
    const stale = alert('am:db', before('10:00'), before('10:00'), { service: 'db', autoResolved: true })
    const run = { incidents: [incident('inc-db', [stale], { services: ['db'] })], problems: [], changes: [change('am:db', 'firing', before('10:00'), 'db')] }
    expect(compareRuns(run, run, range).availability).toEqual([])
  })

  it('relabelled services move downtime from one service to another', () => {
    const live = incident('inc-a', [alert('am:1', at('01:00'), at('02:00'), { service: 'unknown' })])
    const replay = incident('inc-a', [alert('am:1', at('01:00'), at('02:00'), { service: 'checkout' })])
    const fired = (service: string) => [change('am:1', 'firing', at('01:00'), service), change('am:1', 'resolved', at('02:00'), service)]
    const c = compareRuns({ incidents: [live], problems: [], changes: fired('unknown') }, { incidents: [replay], problems: [], changes: fired('checkout') }, range)
    expect(c.availability).toEqual([
      { service: 'checkout', liveDowntimeMs: 0, replayDowntimeMs: 3_600_000, deltaDowntimeMs: 3_600_000, liveAvailabilityPct: 100, replayAvailabilityPct: 95.83, deltaPct: -4.17 },
      { service: 'unknown', liveDowntimeMs: 3_600_000, replayDowntimeMs: 0, deltaDowntimeMs: -3_600_000, liveAvailabilityPct: 95.83, replayAvailabilityPct: 100, deltaPct: 4.17 },
    ])
  })
})
