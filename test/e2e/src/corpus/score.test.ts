import { describe, expect, it } from 'vitest'
import type { Corpus, TruthEpisode } from './corpus.ts'
import { placeEpisodes, score, type ScoredIncident, type ScoredProblem } from './score.ts'

const T = Date.parse('2026-11-01T00:00:00.000Z')
const MIN = 60_000
const iso = (m: number) => new Date(T + m * MIN).toISOString()
const ep = (key: string, m: number, incident: string, kind: TruthEpisode['kind'] = 'alert'): TruthEpisode => ({ kind, key, at: T + m * MIN, incident })

function inc(id: string, from: number, to: number | null, alerts: [string, number][], extra: Partial<ScoredIncident> = {}): ScoredIncident {
  return {
    id, status: to === null ? 'open' : 'resolved', environment: 'production', services: ['svc'], openedAt: iso(from), resolvedAt: to === null ? null : iso(to),
    alerts: alerts.map(([key, m]) => ({ key, firstSeenAt: iso(m) })), reports: [], problemIds: [], ...extra,
  }
}

/** Two truth incidents of two episodes each, a recurring problem planted over both, both finished. */
const truth: Pick<Corpus, 'episodes' | 'incidents' | 'problems'> = {
  episodes: [ep('am:a', 0, 'one'), ep('am:b', 2, 'one'), ep('am:a', 300, 'two'), ep('am:c', 301, 'two')],
  incidents: [
    { label: 'one', environment: 'production', services: ['svc'], finished: true, open: false, note: '' },
    { label: 'two', environment: 'production', services: ['svc'], finished: true, open: false, note: '' },
  ],
  problems: [{ label: 'p', kind: 'recurring', signature: { service: 'svc', alertNames: ['B', 'A'] }, incidents: ['one', 'two'], note: '' }],
}
const problem = (incidentIds: string[], signature = { kind: 'recurring', environment: 'production', service: 'svc', alertNames: ['A', 'B'] }): ScoredProblem =>
  ({ id: 'prb-1', kind: 'recurring', status: 'candidate', signature: JSON.stringify(signature), incidentIds })

describe('corpus scorer', () => {
  it('places an alert episode in the incident whose span holds its firing time, a report by title and time', () => {
    const incidents = [inc('i1', 0, 20, [['am:a', 0]]), inc('i2', 300, null, [['am:a', 300]], { reports: [{ title: 'Cannot pay', at: iso(305) }] })]
    const eps = [ep('am:a', 0, 'x'), ep('am:a', 300, 'y'), ep('am:a', 400, 'y'), ep('report:Cannot pay', 305, 'y', 'report'), ep('am:z', 1, 'x')]
    expect([...placeEpisodes(eps, incidents).values()]).toEqual(['i1', 'i2', 'i2', 'i2', undefined])
  })

  it('scores a perfect run 1, finds the problem and passes', () => {
    const s = score(truth, [inc('i1', 0, 30, [['am:a', 0], ['am:b', 2]]), inc('i2', 300, 330, [['am:a', 300], ['am:c', 301]])], [problem(['i1', 'i2'])])
    expect(s.pairs).toMatchObject({ precision: 1, recall: 1, f1: 1, truePairs: 2, falsePairs: 0, missedPairs: 0 })
    expect(s.problems).toMatchObject({ found: ['p'], missed: [], false: [] })
    expect(s.lifecycle).toMatchObject({ finished: 2, resolved: 2, notResolved: [] })
    expect(s.pass).toBe(true)
    expect(s.line).toMatch(/^corpus score: F1 1\.000 .* PASS$/)
  })

  it('counts two incidents merged into one as false pairs, and the problem they hid as missed', () => {
    const s = score(truth, [inc('i1', 0, 330, [['am:a', 0], ['am:b', 2], ['am:c', 301]])], [])
    // Six pairs among four episodes, two of them true.
    expect(s.pairs).toMatchObject({ truePairs: 2, falsePairs: 4, missedPairs: 0, recall: 1 })
    expect(s.pairs.precision).toBeCloseTo(1 / 3)
    expect(s.incidents.merged).toEqual([{ engine: 'i1', truth: ['one', 'two'] }])
    expect(s.problems.missed).toEqual([{ label: 'p', why: expect.stringContaining('no recurring problem') }])
    expect(s.pass).toBe(false)
    expect(s.report).toContain('merged: engine incident i1 holds one + two')
  })

  it('counts a split incident as missed pairs, an unresolved finished incident, and a problem of another signature as false', () => {
    const s = score(truth, [
      inc('i1', 0, 30, [['am:a', 0]]), inc('i1b', 2, 30, [['am:b', 2]]),
      inc('i2', 300, null, [['am:a', 300], ['am:c', 301]]),
    ], [problem(['i1', 'i2']), { ...problem(['i1b']), id: 'prb-2', kind: 'flapping', signature: JSON.stringify({ kind: 'flapping', environment: 'production', source: 'alertmanager', fingerprint: 'b' }) }])
    expect(s.pairs).toMatchObject({ truePairs: 1, falsePairs: 0, missedPairs: 1, precision: 1, recall: 0.5 })
    expect(s.incidents.split).toEqual([{ truth: 'one', engine: ['i1', 'i1b'] }])
    expect(s.lifecycle.notResolved).toEqual(['two'])
    expect(s.problems.false).toMatchObject([{ id: 'prb-2', kind: 'flapping', truth: ['one'] }])
    // Found: it links an engine incident of each planted one (i1 of "one", i2 of "two").
    expect(s.problems.found).toEqual(['p'])
    expect(s.pass).toBe(false)
  })

  it('misses a problem whose signature matches but that does not link a planted incident', () => {
    const s = score(truth, [inc('i1', 0, 30, [['am:a', 0], ['am:b', 2]]), inc('i2', 300, 330, [['am:a', 300], ['am:c', 301]])], [problem(['i1'])])
    expect(s.problems.missed).toEqual([{ label: 'p', why: 'found, but not linked to two' }])
  })

  it('finds a problem linked by its incidents\' problemIds when its document no longer names them (it keeps the latest 100)', () => {
    const s = score(truth, [
      inc('i1', 0, 30, [['am:a', 0], ['am:b', 2]], { problemIds: ['prb-1'] }), inc('i2', 300, 330, [['am:a', 300], ['am:c', 301]], { problemIds: ['prb-1'] }),
    ], [problem(['i2'])])
    expect(s.problems).toMatchObject({ found: ['p'], missed: [], false: [] })
  })
})
