import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { alertMonthsToDelete, incidentsToDeleteQuery, monthName, oldestKeptMonth, retentionCutoff } from './retention.ts'
import { indexNames, whatIfPrefix } from './templates.ts'

const at = (iso: string) => Date.parse(iso)

describe('retentionCutoff', () => {
  it('is 00:00 UTC on the first of the month N months before the current UTC month', () => {
    expect(retentionCutoff(at('2026-12-01T21:05:00Z'), 13).toISOString()).toBe('2025-11-01T00:00:00.000Z')
    expect(retentionCutoff(at('2026-12-31T23:59:59.999Z'), 13).toISOString()).toBe('2025-11-01T00:00:00.000Z')
    expect(retentionCutoff(at('2026-03-15T00:00:00Z'), 25).toISOString()).toBe('2024-02-01T00:00:00.000Z')
    expect(retentionCutoff(at('2026-01-10T00:00:00Z'), 1).toISOString()).toBe('2025-12-01T00:00:00.000Z')
  })

  it('takes the month in UTC, not in the local zone: 23:30 on 31 January in UTC-1 is already February', () => {
    expect(retentionCutoff(at('2026-01-31T23:30:00-01:00'), 1).toISOString()).toBe('2026-01-01T00:00:00.000Z')
    expect(retentionCutoff(at('2026-01-31T23:59:59.999Z'), 1).toISOString()).toBe('2025-12-01T00:00:00.000Z')
  })

  it('moves only on a month boundary, by exactly one month', () => {
    expect(oldestKeptMonth(at('2026-11-30T23:59:59.999Z'), 13)).toBe('2025.10')
    expect(oldestKeptMonth(at('2026-12-01T00:00:00.000Z'), 13)).toBe('2025.11')
  })

  it('keeps the current month and the N before it, for any instant and N', () => {
    fc.assert(fc.property(
      fc.integer({ min: Date.parse('1000-01-01T00:00:00Z'), max: Date.parse('9000-12-31T23:59:59Z') }), fc.integer({ min: 1, max: 240 }),
      (now, months) => {
        const cutoff = retentionCutoff(now, months)
        const current = new Date(now)
        expect(cutoff.getUTCDate()).toBe(1)
        expect(cutoff.getUTCHours() + cutoff.getUTCMinutes() + cutoff.getUTCSeconds() + cutoff.getUTCMilliseconds()).toBe(0)
        const monthsBack = (current.getUTCFullYear() - cutoff.getUTCFullYear()) * 12 + current.getUTCMonth() - cutoff.getUTCMonth()
        expect(monthsBack).toBe(months)
        expect(monthName(cutoff)).toBe(oldestKeptMonth(now, months))
      },
    ))
  })
})

describe('alertMonthsToDelete', () => {
  const now = at('2026-12-01T21:05:00Z')
  const alerts = indexNames('ops').alerts

  it('chooses every generation of each month older than the oldest kept, and nothing else', () => {
    const names = [
      alerts.monthIndex('2025.09', '000001'), alerts.monthIndex('2025.10', '000001'), alerts.monthIndex('2025.10', 'mhx1a2b'),
      alerts.monthIndex('2025.11', '000001'), alerts.monthIndex('2026.12', '000001'), 'ops-alerts-2024.03',
    ]
    expect(alertMonthsToDelete(names, 'ops', now, 13)).toEqual({
      months: ['2024.03', '2025.09', '2025.10'],
      indices: ['ops-alerts-2024.03', 'ops-alerts-2025.09-000001', 'ops-alerts-2025.10-000001', 'ops-alerts-2025.10-mhx1a2b'],
    })
  })

  it('never chooses a what-if dataset, another prefix, incidents, problems or a name that is not a month', () => {
    const dataset = indexNames(whatIfPrefix('ops', 'alerts')).alerts
    const names = [
      dataset.monthIndex('2020.01', '000001'), `${whatIfPrefix('ops', 'x')}-incidents-000001`,
      indexNames('ops-alerts').alerts.monthIndex('2020.01', '000001'), indexNames('other').alerts.monthIndex('2020.01', '000001'),
      'ops-incidents-000001', 'ops-problems-000001', 'ops-alerts-2020.1-000001', 'ops-alerts-2020.01-000001-x', 'ops-alerts-old', 'ops-retention-lease',
    ]
    expect(alertMonthsToDelete(names, 'ops', now, 1)).toEqual({ months: [], indices: [] })
  })

  it('deletes a month only when every instant in it is before the cutoff', () => {
    fc.assert(fc.property(
      fc.integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2100-12-31T23:59:59Z') }), fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1990, max: 2110 }), fc.integer({ min: 1, max: 12 }),
      (now, months, year, month) => {
        const name = `${year}.${String(month).padStart(2, '0')}`
        const deleted = alertMonthsToDelete([alerts.monthIndex(name, '000001')], 'ops', now, months).months.includes(name)
        const monthEnd = new Date(0)
        monthEnd.setUTCFullYear(year, month, 1)
        // Deleted exactly when the month ended at or before the cutoff: never a partial month, never a kept one.
        expect(deleted).toBe(monthEnd.getTime() <= retentionCutoff(now, months).getTime())
      },
    ))
  })
})

describe('incidentsToDeleteQuery', () => {
  it('takes resolved incidents before the cutoff, except those open problems refer to and those awaiting a post-mortem', () => {
    const q = incidentsToDeleteQuery(new Date('2024-11-01T00:00:00Z'), { problemIds: ['prb-1'], incidentIds: ['inc-2'] })
    expect(q).toEqual({
      bool: {
        filter: [{ term: { status: 'resolved' } }, { range: { resolvedAt: { lt: '2024-11-01T00:00:00.000Z' } } }],
        must_not: [
          { bool: { filter: [{ term: { 'postmortem.required': true } }], must_not: [{ exists: { field: 'postmortem.scheduledFor' } }, { exists: { field: 'postmortem.forgottenAt' } }] } },
          { terms: { problemIds: ['prb-1'] } }, { ids: { values: ['inc-2'] } },
        ],
      },
    })
  })

  it('cuts long reference lists below the terms limit', () => {
    const problemIds = Array.from({ length: 25_000 }, (_, i) => `prb-${i}`)
    const q = incidentsToDeleteQuery(new Date(0), { problemIds, incidentIds: [] })
    const mustNot = (q.bool!.must_not as { terms?: { problemIds: string[] } }[]).filter((c) => c.terms) as { terms: { problemIds: string[] } }[]
    expect(mustNot.map((c) => c.terms.problemIds.length)).toEqual([10_000, 10_000, 5_000])
    expect(mustNot.flatMap((c) => c.terms.problemIds)).toEqual(problemIds)
  })
})
