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
  })

  it('takes the caps every alert event has for service and title (written once, in alert.v1.json)', () => {
    const at = (service: string, title: string) => validateReport({ kind: 'manual', service, title, reportedBy: 'a' })
    expect(at('s'.repeat(256), 't'.repeat(1024)).ok).toBe(true)
    const r = at('s'.repeat(257), 't'.repeat(1025))
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.errors.map((e) => e.path).sort()).toEqual(['/service', '/title'])
    const empty = at('s', '')
    if (!empty.ok) expect(empty.errors.map((e) => e.path)).toEqual(['/title'])
    expect(empty.ok).toBe(false)
  })

  it('refuses a blank service or environment, or one holding a control character, naming the field', () => {
    // They become the incident's service and environment, which the review's filters refuse with any of these.
    for (const bad of ['', '   ', '\u3000', 'shop\u0000api', 'shop\napi', '\u001b[31mred', 'a\u007f', 'a\u0085']) {
      const r = validateReport({ kind: 'manual', service: bad, environment: bad, title: 't', reportedBy: 'a' })
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.errors.filter((e) => e.message === 'must not be blank or hold control characters').map((e) => e.path).sort()).toEqual(['/environment', '/service'])
    }
    expect(validateReport({ kind: 'manual', service: 'Café – 山田', environment: 'prod eu', title: 't', reportedBy: 'a' }).ok).toBe(true)
  })

  it('rejects unknown kinds and fields, naming them', () => {
    const r = validateReport({ kind: 'rumour', service: 's', title: 't', reportedBy: 'x', colour: 'red' })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.errors.map((e) => e.path).sort()).toEqual(['/colour', '/kind'])
  })
})
