import { describe, expect, it } from 'vitest'
import { assembleLookback, compareResponseTimes, mean, type IncidentFacts, type LookbackResponseTimes, type PeriodFacts } from './lookback.ts'
import { lookbackMarkdown } from './markdown.ts'
import { parseLookbackQuery } from './period.ts'
import type { ResponseTimes } from './response-times.ts'

const MIN = 60_000
const facts = (total: number, critical: number, ack: [number, number], res: [number, number]): IncidentFacts => ({
  incidents: { total, critical, warning: total - critical, info: 0 }, acknowledge: { count: ack[0], sum: ack[1] }, resolve: { count: res[0], sum: res[1] },
})
const time = (availabilityPct: number, downtimeMs: number, degradedMs: number) => ({ availabilityPct, downtimeMs, degradedMs, interruptions: downtimeMs > 0 ? 1 : 0, longestInterruptionMs: downtimeMs })

describe('assembleLookback', () => {
  const q = parseLookbackQuery({ period: 'month', at: '2026-11', tz: 'Europe/Berlin' }, Date.parse('2026-12-01T08:00:00Z'))
  if (!q.ok) throw new Error('query')
  const current: PeriodFacts = {
    services: new Map([['checkout', facts(3, 1, [2, 30 * MIN], [3, 180 * MIN])], ['search', facts(1, 0, [0, 0], [1, 60 * MIN])]]),
    all: facts(4, 1, [2, 30 * MIN], [4, 240 * MIN]),
    postmortems: { required: 2, scheduled: 1, forgotten: 1 },
    problems: new Map([['prb-b', 2], ['prb-a', 1], ['prb-c', 3]]),
    problemCount: 3,
    // `idle`: its alerts fired only in the week read before the period.
    times: new Map([['checkout', time(99.5, 216 * MIN, 30 * MIN)], ['search', time(100, 0, 90 * MIN)], ['idle', time(100, 0, 0)]]),
  }
  const previous: PeriodFacts = {
    services: new Map([['checkout', facts(5, 2, [5, 100 * MIN], [5, 500 * MIN])]]),
    all: facts(5, 2, [5, 100 * MIN], [5, 500 * MIN]),
    postmortems: { required: 3, scheduled: 3, forgotten: 0 },
    problems: new Map([['prb-a', 4]]),
    problemCount: 1,
    times: new Map([['checkout', time(99.75, 108 * MIN, 0)], ['gone', time(98, 864 * MIN, 0)], ['idle', time(100, 0, 0)]]),
  }
  const problems = [
    { id: 'prb-a', kind: 'shared-cause', status: 'confirmed', title: 'db', services: ['checkout'], environment: 'production', incidentCount: 9, firstSeenAt: '2026-10-01T00:00:00Z', lastSeenAt: '2026-11-20T00:00:00Z', owner: 'ann', reopenCount: 2, version: 7 },
    { id: 'prb-b', kind: 'recurring', status: 'candidate', title: 'HighLatency again', services: ['checkout'], environment: 'production', incidentCount: 2, firstSeenAt: '2026-11-01T00:00:00Z', lastSeenAt: '2026-11-20T00:00:00Z', owner: null, version: 1 },
    { id: 'prb-c', kind: 'flapping', status: 'candidate', title: 'flaps', services: ['search'], environment: 'production', incidentCount: 3, firstSeenAt: '2026-11-01T00:00:00Z', lastSeenAt: '2026-11-20T00:00:00Z', owner: null, version: 1 },
  ] as const
  // checkout slower, search faster to the tenth, idle without requests now, new only now, gone only before.
  const responseTimes = compareResponseTimes(
    { status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 375 }, { service: 'idle', ms: null }, { service: 'new', ms: 12.3 }, { service: 'search', ms: 200.2 }] },
    { status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 250 }, { service: 'gone', ms: 80 }, { service: 'idle', ms: 40 }, { service: 'search', ms: 375.1 }] },
  )
  const l = assembleLookback(q.value, Date.parse('2026-12-01T08:00:00Z'), current, previous, problems.map((p) => ({ ...p, services: [...p.services] })), responseTimes)

  it('computes MTTA and MTTR as means of the period, and the change from the previous one', () => {
    expect(mean({ count: 0, sum: 0 })).toBeNull()
    expect(mean({ count: 3, sum: 10 })).toBe(3)
    const checkout = l.services.find((s) => s.service === 'checkout')!
    expect(checkout).toMatchObject({ availabilityPct: 99.5, downtimeMs: 216 * MIN, degradedMs: 30 * MIN, incidents: { total: 3, critical: 1 }, mttaMs: 15 * MIN, mttrMs: 60 * MIN })
    expect(checkout.previous).toMatchObject({ availabilityPct: 99.75, incidents: { total: 5 }, mttaMs: 20 * MIN, mttrMs: 100 * MIN })
    expect(checkout.change).toEqual({ availabilityPct: -0.25, downtimeMs: 108 * MIN, degradedMs: 30 * MIN, incidents: -2, mttaMs: -5 * MIN, mttrMs: -40 * MIN })
    // No incident acknowledged in the period: no MTTA, and no change of it.
    expect(l.services.find((s) => s.service === 'search')).toMatchObject({ mttaMs: null, change: { mttaMs: null, incidents: 1 } })
    // A service seen only in the previous period is listed, fully available now.
    expect(l.services.find((s) => s.service === 'gone')).toMatchObject({ availabilityPct: 100, change: { availabilityPct: 2, downtimeMs: -864 * MIN } })
    // Nothing in either period: not listed.
    expect(l.services.map((s) => s.service)).toEqual(['checkout', 'search', 'gone'])
  })

  it('totals the period, with post-mortems required against scheduled and the problems recurring first', () => {
    expect(l.totals).toMatchObject({
      incidents: { total: 4, critical: 1 }, mttaMs: 15 * MIN, mttrMs: 60 * MIN, downtimeMs: 216 * MIN, degradedMs: 120 * MIN,
      postmortems: { required: 2, scheduled: 1, unscheduled: 1, forgotten: 1 }, problems: 3,
      change: { incidents: -1, mttaMs: -5 * MIN, mttrMs: -40 * MIN, downtimeMs: (216 - 108 - 864) * MIN, degradedMs: 120 * MIN, postmortemsRequired: -1, problems: 2 },
    })
    // A document of an engine before reopenCount never came back.
    expect(l.problems.items.map((p) => [p.id, p.incidentsInPeriod, p.incidentsInPrevious, p.reopenCount])).toEqual([['prb-b', 2, 0, 0], ['prb-c', 3, 0, 0], ['prb-a', 1, 4, 2]])
    expect(l.period).toMatchObject({ label: '2026-11', kind: 'month', timeZone: 'Europe/Berlin', from: '2026-10-31T23:00:00.000Z', localFrom: '2026-11-01T00:00:00+01:00', complete: true })
    expect(l.previous).toMatchObject({ label: '2026-10', localFrom: '2026-10-01T00:00:00+02:00' })
  })

  it('renders as Markdown with degraded time apart from downtime and the change', () => {
    const md = lookbackMarkdown(l)
    expect(md).toContain('# Monthly look-back 2026-11 (2026-11-01 – 2026-11-30 Europe/Berlin)')
    expect(md).toContain('| checkout | 99.50 % | −0.25 pp | 3 h 36 min | 30 min | 1 | 3 (1) | 15 min | 1 h 0 min | 99.75 %, 1 h 48 min down, 0 min degraded, 5 incidents |')
    expect(md).toContain('| post-mortems required | 2 | 3 | −1 |')
    expect(md).toContain('| recurring | candidate | HighLatency again (`prb-b`) | checkout | 2 | 0 | 2 | – |')
    expect(md).toContain('| downtime, summed over services | 3 h 36 min | 16 h 12 min | −12 h 36 min |')
    expect(md).not.toContain('shown._')
  })

  it('titles a period by its first and last day, a quarter ending with the year too', () => {
    const quarter = { ...l, period: { ...l.period, kind: 'quarter' as const, label: '2026-Q4', from: '2026-09-30T22:00:00.000Z', to: '2026-12-31T23:00:00.000Z', localFrom: '2026-10-01T00:00:00+02:00', localTo: '2027-01-01T00:00:00+01:00' } }
    expect(lookbackMarkdown(quarter)).toContain('# Quarterly look-back 2026-Q4 (2026-10-01 – 2026-12-31 Europe/Berlin)')
  })

  it('counts one of a kind in the singular in its Markdown: 1 incident, 1 post-mortem, 1 problem', () => {
    const one = { ...l.totals, incidents: { total: 1, critical: 1, warning: 0, info: 0 }, postmortems: { required: 1, scheduled: 1, unscheduled: 0, forgotten: 0 }, problems: 1 }
    const services = l.services.map((v) => ({ ...v, previous: { ...v.previous, incidents: { ...v.previous.incidents, total: 1 } } }))
    const md = lookbackMarkdown({ ...l, totals: one, services })
    expect(md).toContain('**1 incident** (1 critical, 0 warning, 0 info; −1 on 2026-10)')
    expect(md).toContain('**1 post-mortem required**, 1 scheduled (0 not), **1 problem** behind them.')
    expect(md).toContain('0 min degraded, 1 incident |')
    expect(md).not.toMatch(/\b1 (incidents|post-mortems|problems)\b/)
  })

  it('gives each service\'s response time beside the previous period\'s, by name, with the change to the tenth', () => {
    expect(l.responseTimes).toEqual({
      status: 'ok', name: 'p95', items: [
        { service: 'checkout', ms: 375, previousMs: 250, change: 125 },
        { service: 'gone', ms: null, previousMs: 80, change: null },
        { service: 'idle', ms: null, previousMs: 40, change: null },
        { service: 'new', ms: 12.3, previousMs: null, change: null },
        { service: 'search', ms: 200.2, previousMs: 375.1, change: -174.9 },
      ],
    })
  })

  it('has no response times when either period\'s read failed, or none is configured', () => {
    const ok: ResponseTimes = { status: 'ok', name: 'p95', items: [{ service: 'checkout', ms: 375 }] }
    const down: ResponseTimes = { status: 'unavailable', name: 'p95', error: 'connect ECONNREFUSED 127.0.0.1:9090' }
    const refused: ResponseTimes = { status: 'unavailable', name: 'p95', error: 'HTTP 400: parse error' }
    // The period that failed is named when it is the previous one, or the two failed apart.
    expect(compareResponseTimes(ok, down)).toEqual({ ...down, error: 'the previous period: connect ECONNREFUSED 127.0.0.1:9090' })
    expect(compareResponseTimes(down, ok)).toEqual(down)
    expect(compareResponseTimes(down, down)).toEqual(down)
    expect(compareResponseTimes(refused, down)).toEqual({ ...refused, error: 'HTTP 400: parse error; the previous period: connect ECONNREFUSED 127.0.0.1:9090' })
    expect(compareResponseTimes({ status: 'not-configured' }, { status: 'not-configured' })).toEqual({ status: 'not-configured' })
    expect(compareResponseTimes({ status: 'ok', name: 'p95', items: [] }, { status: 'ok', name: 'p95', items: [] })).toEqual({ status: 'ok', name: 'p95', items: [] })
  })

  it('renders the response times in its Markdown after the service levels, or says why there are none', () => {
    const section = (t: LookbackResponseTimes) => { const md = lookbackMarkdown({ ...l, responseTimes: t }); return md.slice(md.indexOf('## Response times'), md.indexOf('## Problems')) }
    expect(section(l.responseTimes)).toBe([
      '## Response times', '',
      '| service | p95 this period | previous (2026-10) | change |', '| --- | --- | --- | --- |',
      '| checkout | 375 ms | 250 ms | +125 ms |', '| gone | – | 80 ms | – |', '| idle | – | 40 ms | – |', '| new | 12.3 ms | – | – |', '| search | 200.2 ms | 375.1 ms | −174.9 ms |',
      '', '',
    ].join('\n'))
    expect(lookbackMarkdown(l).indexOf('## Service levels')).toBeLessThan(lookbackMarkdown(l).indexOf('## Response times'))
    expect(section({ status: 'ok', name: 'p*95', items: [{ service: 'check|out', ms: 1, previousMs: 1, change: 0 }] })).toContain('| service | p\\*95 this period | previous (2026-10) | change |\n| --- | --- | --- | --- |\n| check\\|out | 1 ms | 1 ms | ±0 |')
    expect(section({ status: 'not-configured' })).toBe('## Response times\n\n_Not configured (OPSREVIEW_PROMETHEUS_URL)._\n\n')
    expect(section({ status: 'unavailable', name: 'p95', error: 'connect ECONNREFUSED <x>' })).toBe('## Response times\n\n_No response times from Prometheus: connect ECONNREFUSED &lt;x&gt;._\n\n')
    expect(section({ status: 'ok', name: 'p95', items: [] })).toBe('## Response times\n\n_No requests measured._\n\n')
  })

  it('says in its Markdown how many of the period\'s problems its list shows, when it shows fewer', () => {
    const cut = { ...l, problems: { total: 250, items: l.problems.items } }
    const md = lookbackMarkdown(cut)
    const problems = md.slice(md.indexOf('## Problems'), md.indexOf('## Change'))
    expect(problems.trimEnd().split('\n').slice(-2)).toEqual(['', '_3 of 250 shown._'])
  })
})
