import { describe, expect, it } from 'vitest'
import { validateAlertEvent, validateReport, type Report } from '@opsreview/schemas'
import { normalizeReport } from './report.ts'
import { defaultIngestOptions } from './event.ts'

const ctx = { receivedAt: new Date('2026-11-28T20:30:00.000Z'), options: defaultIngestOptions }

function valid(input: unknown): Report {
  const r = validateReport(input)
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return r.value
}

describe('normalizeReport', () => {
  it('turns a customer complaint into a firing report event, warning by default', () => {
    const e = normalizeReport(valid({ kind: 'customer-complaint', service: 'checkout', title: 'Cannot pay', reportedBy: 'support@acme' }), ctx)
    expect(validateAlertEvent(e).ok).toBe(true)
    expect(e).toMatchObject({ source: 'report', status: 'firing', severity: 'warning', environment: 'production', startsAt: '2026-11-28T20:30:00.000Z' })
    expect(e.labels).toMatchObject({ alertname: 'report:customer-complaint', report_kind: 'customer-complaint' })
  })

  it('treats the same reference as the same report', () => {
    const a = normalizeReport(valid({ kind: 'manual', service: 's', title: 'one', reportedBy: 'a', reference: 'T-1', occurredAt: '2026-11-28T10:00:00Z' }), ctx)
    const b = normalizeReport(valid({ kind: 'manual', service: 's', title: 'one, edited', reportedBy: 'b', reference: 'T-1', occurredAt: '2026-11-28T10:00:00Z' }), ctx)
    expect(b.fingerprint).toBe(a.fingerprint)
    expect(b.id).toBe(a.id)
    // Filed again without occurredAt (a client retry, 20 s later) or with it corrected: still the same report.
    const retried = normalizeReport(valid({ kind: 'manual', service: 's', title: 'one', reportedBy: 'a', reference: 'T-1' }), { ...ctx, receivedAt: new Date('2026-11-28T20:30:20.000Z') })
    const first = normalizeReport(valid({ kind: 'manual', service: 's', title: 'one', reportedBy: 'a', reference: 'T-1' }), ctx)
    const corrected = normalizeReport(valid({ kind: 'manual', service: 's', title: 'one', reportedBy: 'a', reference: 'T-1', occurredAt: '2026-11-28T09:50:00Z' }), ctx)
    expect(new Set([a.id, retried.id, first.id, corrected.id]).size).toBe(1)
    // Without a reference, a report is what it says, its time included.
    const once = (occurredAt: string) => normalizeReport(valid({ kind: 'manual', service: 's', title: 'one', reportedBy: 'a', occurredAt }), ctx).id
    expect(once('2026-11-28T10:00:00Z')).not.toBe(once('2026-11-28T10:05:00Z'))
  })

  it('rejects unknown kinds and fields, naming them', () => {
    const r = validateReport({ kind: 'rumour', service: 's', title: 't', reportedBy: 'x', colour: 'red' })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.errors.map((e) => e.path).sort()).toEqual(['/colour', '/kind'])
  })
})
