// An incident or problem index made by an earlier version takes the fields the schemas added since: its
// mapping is strict, and without them it refused every newer document.
import { describe, expect, it, onTestFinished } from 'vitest'
import { cleanupIndices, esClient, uniqueName } from '@opsreview/testing'
import { ensureIndices, indexNames, problemMappings } from './templates.ts'

describe('indices made before a schema added a field', () => {
  it('take the new fields on the next start, and then index documents that carry them', async () => {
    const prefix = uniqueName('upgrade')
    cleanupIndices(prefix)
    const es = esClient()
    onTestFinished(() => es.close())
    const n = indexNames(prefix).problems
    // The problems index as the version before `resolvedAt` and `reopenCount` made it.
    const { resolvedAt: _r, reopenCount: _c, ...before } = problemMappings.properties!
    await es.indices.create({ index: n.first, mappings: { dynamic: 'strict', properties: before }, aliases: { [n.alias]: { is_write_index: true } } })
    const doc = {
      id: 'prb-000000000000000000000001', kind: 'recurring', status: 'confirmed', title: 'x keeps recurring', signature: '{}', services: ['x'],
      environment: 'production', incidentIds: [], incidentCount: 4, firstSeenAt: '2026-12-01T00:00:00.000Z', lastSeenAt: '2026-12-02T00:00:00.000Z',
      owner: null, notes: [], resolvedAt: null, reopenCount: 1, version: 3,
    }
    await expect(es.index({ index: n.alias, id: doc.id, document: doc })).rejects.toThrow(/strict_dynamic_mapping_exception/)
    await ensureIndices(es, prefix)
    await es.index({ index: n.alias, id: doc.id, document: doc, refresh: true })
    const found = await es.search({ index: n.alias, query: { term: { reopenCount: 1 } } })
    expect(found.hits.hits.map((h) => h._id)).toEqual([doc.id])
  })
})
