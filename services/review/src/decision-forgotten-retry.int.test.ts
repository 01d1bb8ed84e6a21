// A keyed decision retried where its key is not kept (another instance, a restart), on an incident the
// decision itself let go: scheduling the post-mortem of an incident kept past its retention for it alone
// makes its last version, with forgottenAt. The retry is the same decision, taken already: not a refusal.
import { describe, expect, it } from 'vitest'
import { bulkAction, incidentDocument } from '@opsreview/search-index/documents'
import { indexNames } from '@opsreview/search-index/templates'
import { serve } from '@opsreview/testing'
import { createReviewApp } from './app.ts'
import { at, incident } from './fuzz-seed.ts'
import { correlatorStandIn, decisionsOnKafka, reviewDeps } from './test-review-kafka.ts'

describe('a keyed retry of a decision that let its incident go', () => {
  it('is answered the accepted outcome on another instance, not 409 for the forgottenAt the decision made', async () => {
    const on = await decisionsOnKafka()
    const index = indexNames(on.prefix).incidents.alias
    const required = { required: true, reasons: ['severity critical'], scheduledFor: null, owner: null }
    const kept = incident(920, { title: 'Outage six weeks ago, kept for its post-mortem', severity: 'critical', openedAt: at(1000), resolvedAt: at(999), postmortem: required, version: 4 })
    const write = async (doc: object) => {
      const d = incidentDocument(index)(JSON.stringify(doc))
      const r = await on.es.bulk({ refresh: true, operations: [bulkAction(d), d.document] })
      expect(r.errors).toBe(false)
    }
    await write(kept)
    const scheduledFor = '2026-12-03T09:00:00.000Z'
    // As the engine: the schedule of an archived incident is its last version, which says it was let go.
    await correlatorStandIn(on.kafka, on.commandsTopic, on.resultsTopic, new Set(), {
      beforeAnswer: async (c) => {
        if (c.type !== 'incident.schedule-postmortem' || c.target !== kept.id) return
        await write({ ...kept, postmortem: { ...required, scheduledFor, owner: null }, forgottenAt: at(0), version: 5 })
        return 5
      },
    })
    const deps = reviewDeps(on, { waitTimeoutMs: 15_000 })
    // Two instances behind one address: each keeps its own keys, and both read the same topics.
    const first = await serve(createReviewApp(deps))
    const second = await serve(createReviewApp(deps))
    const patch = (url: string) => fetch(`${url}/api/v1/incidents/${kept.id}?wait=true`, {
      method: 'PATCH', headers: { authorization: 'Bearer secret1', 'content-type': 'application/json', 'idempotency-key': 'pm-920-once' },
      body: JSON.stringify({ postmortem: { scheduledFor } }),
    })
    const taken = await patch(first)
    expect(taken.status).toBe(200)
    const { commandIds } = (await taken.json()) as { commandIds: string[] }
    // The retry (its first answer was lost) reaches the other instance, which does not keep the key.
    const retried = await patch(second)
    const body = (await retried.json()) as { commandIds: string[]; decisions: { outcome: string }[]; visible: boolean }
    expect(retried.status).toBe(200)
    expect(body).toMatchObject({ commandIds, visible: true, decisions: [expect.objectContaining({ outcome: 'accepted' })] })
  })
})
