// A small seeded review index for the property-based tests: few documents, but every shape a cursor
// or a window can meet (an open incident has no resolvedAt, so its sort value is the missing marker).
import { expect } from 'vitest'
import type { Client } from '@elastic/elasticsearch'
import { bulkAction, incidentDocument, problemDocument } from '@opsreview/search-index/documents'
import { ensureIndices, indexNames } from '@opsreview/search-index/templates'
import { cleanupIndices, esClient, uniqueName } from '@opsreview/testing'

export const NOW = Date.parse('2026-12-01T08:00:00.000Z')
const H = 3_600_000
/** An instant so many hours before NOW. */
export const at = (hoursBeforeNow: number) => new Date(NOW - hoursBeforeNow * H).toISOString()

export const seededIncidentIds = ['inc-000000000000000000000001', 'inc-000000000000000000000002', 'inc-000000000000000000000003']
export const seededProblemIds = ['prb-00000000000000000000000a']

/** An incident document as the indexer writes it: resolved, one alert, `o` overriding any field. */
export function incident(n: number, o: Record<string, unknown>) {
  return {
    id: `inc-${n.toString(16).padStart(24, '0')}`, title: `Incident ${n}`, status: 'resolved', severity: 'warning', services: ['checkout'], environment: 'production',
    groupKey: 'checkout|production', openedAt: at(10), resolvedAt: at(9), resolvedBy: 'alerts', lastEventAt: at(9), alertCount: 1,
    alerts: [{ key: `alertmanager:fp-${n}`, fingerprint: `fp-${n}`, source: 'alertmanager', name: 'HighLatency', title: 'Latency high', service: 'checkout', severity: 'warning', status: 'resolved', firstSeenAt: at(10), lastSeenAt: at(9), resolvedAt: at(9), flapCount: 0, autoResolved: false }],
    reports: [], customerImpact: false, owner: null, acknowledgedAt: null, acknowledgedBy: null, problemIds: [],
    postmortem: { required: false, reasons: [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version: 1, ...o,
  }
}

/** Creates the indices under a unique prefix (deleted when the test finishes) and indexes three incidents and a problem. */
export async function seedSmallReview(): Promise<{ es: Client; prefix: string }> {
  const es = esClient()
  const prefix = uniqueName('revfuzz')
  cleanupIndices(prefix)
  await seedSmallReviewAt(es, prefix)
  return { es, prefix }
}

/** The seed of seedSmallReview under `prefix`, for a file that shares one among its tests and deletes it itself. */
export async function seedSmallReviewAt(es: Client, prefix: string): Promise<void> {
  await ensureIndices(es, prefix)
  const inc = incidentDocument(indexNames(prefix).incidents.alias)
  const prb = problemDocument(indexNames(prefix).problems.alias)
  const docs = [
    inc(JSON.stringify(incident(1, { title: 'Checkout <b>payment</b> timeouts [x](javascript:alert(1))', status: 'open', severity: 'critical', openedAt: at(3), resolvedAt: null, resolvedBy: null, postmortem: { required: true, reasons: ['severity critical'], scheduledFor: null, owner: null } }))),
    inc(JSON.stringify(incident(2, { title: 'Search latency', services: ['search'], owner: 'bob' }))),
    inc(JSON.stringify(incident(3, { title: 'Old checkout errors', openedAt: at(30), resolvedAt: at(20) }))),
    prb(JSON.stringify({ id: seededProblemIds[0], kind: 'recurring', status: 'candidate', title: 'HighLatency keeps recurring', signature: 'production|checkout|HighLatency', services: ['checkout'], environment: 'production', incidentIds: [seededIncidentIds[0]], incidentCount: 3, firstSeenAt: at(100), lastSeenAt: at(3), owner: null, notes: [], version: 1 })),
  ]
  const r = await es.bulk({ refresh: true, operations: docs.flatMap((o) => [bulkAction(o), o.document]) })
  expect(r.errors).toBe(false)
}
