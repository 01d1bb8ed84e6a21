import { describe, expect, it } from 'vitest'
import type { Incident, Problem } from '@opsreview/correlation/types'
import { fittedDocument, MAX_DOCUMENT_BYTES } from './fitted-document.ts'

const incident = (extra: Partial<Incident>): Incident => ({
  id: 'inc-000000000000000000000001', title: 'HighLatency on svc-0', status: 'open', severity: 'warning', services: ['svc-0'], environment: 'production',
  groupKey: '{}', openedAt: '2026-12-01T00:00:00.000Z', resolvedAt: null, resolvedBy: null, lastEventAt: '2026-12-01T00:00:00.000Z', alertCount: 1,
  alerts: [], reports: [], customerImpact: false, owner: null, acknowledgedAt: null, acknowledgedBy: null, problemIds: [],
  postmortem: { required: false, reasons: [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version: 1, ...extra,
})
const bytes = (json: string) => Buffer.byteLength(json)

describe('fittedDocument', () => {
  it('leaves a document that fits as JSON.stringify writes it', () => {
    const doc = incident({ services: ['svc-0', 'svc-1'] })
    expect(fittedDocument('incident', doc)).toEqual({ json: JSON.stringify(doc), shortened: false })
  })

  it('halves the widest list until the document fits, keeping the first services and the latest problem ids, and the counts', () => {
    // An incident key shared by 35,000 services of 256 characters: 9.1 MB, past the 8 MiB topic.
    const services = Array.from({ length: 35_000 }, (_, i) => `${i}-`.padEnd(256, 's'))
    const problemIds = Array.from({ length: 40 }, (_, i) => `prb-${String(i).padStart(24, '0')}`)
    const doc = incident({ services, problemIds, alertCount: 35_000 })
    expect(bytes(JSON.stringify(doc))).toBeGreaterThan(MAX_DOCUMENT_BYTES)
    const { json, shortened } = fittedDocument('incident', doc)
    const fitted = JSON.parse(json) as Incident
    expect(shortened).toBe(true)
    expect(bytes(json)).toBeLessThanOrEqual(MAX_DOCUMENT_BYTES)
    // One halving is enough: 17,500 services, the other lists untouched.
    expect(fitted.services).toEqual(services.slice(0, 17_500))
    expect(fitted.problemIds).toEqual(problemIds)
    expect(fitted.alertCount).toBe(35_000)
    expect(doc.services).toHaveLength(35_000)
  })

  it('counts bytes, not characters: notes of multi-byte text keep the latest that fit', () => {
    const notes = Array.from({ length: 10 }, (_, i) => ({ at: '2026-12-01T00:00:00.000Z', author: 'alice', text: `${i} ${'€'.repeat(1000)}` }))
    const doc = incident({ notes })
    const max = 12_000 // characters the ten notes fit in; not their ~30,000 bytes
    expect(JSON.stringify(doc).length).toBeLessThan(max + 2_000)
    const { json, shortened } = fittedDocument('incident', doc, max)
    expect(shortened).toBe(true)
    expect(bytes(json)).toBeLessThanOrEqual(max)
    const kept = (JSON.parse(json) as Incident).notes.map((n) => n.text.split(' ')[0])
    expect(kept).toEqual(['7', '8', '9'])
  })

  it('shortens a problem by its incident ids first, keeping the latest', () => {
    const incidentIds = Array.from({ length: 1000 }, (_, i) => `inc-${String(i).padStart(24, '0')}`)
    const doc: Problem = {
      id: 'prb-000000000000000000000001', kind: 'recurring', status: 'candidate', title: 'x keeps recurring', signature: '{}', services: ['x'],
      environment: 'production', incidentIds, incidentCount: 1000, firstSeenAt: '2026-12-01T00:00:00.000Z', lastSeenAt: '2026-12-02T00:00:00.000Z',
      owner: null, notes: [], resolvedAt: null, reopenCount: 0, version: 1,
    }
    const { json } = fittedDocument('problem', doc, 20_000)
    const fitted = JSON.parse(json) as Problem
    expect(fitted.incidentIds).toEqual(incidentIds.slice(-fitted.incidentIds.length))
    expect(fitted.incidentIds.length).toBeLessThan(1000)
    expect(fitted.incidentCount).toBe(1000)
  })
})
