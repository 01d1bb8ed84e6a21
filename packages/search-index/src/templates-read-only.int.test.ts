// An old month an operator made read-only (`index.blocks.read_only`, a common step before archiving it) must
// not keep the indexer, the review or a reindex from starting: each start puts the current mapping on every
// alert month, and Elasticsearch refuses any put on a read-only index, however small.
import { describe, expect, it, onTestFinished } from 'vitest'
import { indicesOfTest } from '@opsreview/testing'
import { alertMappings, ensureIndices, indexNames } from './templates.ts'

describe('a start with an old alert month read-only', () => {
  it('succeeds, and the writable months take the fields the schema added', async () => {
    const { prefix, es } = indicesOfTest('read-only')
    const n = indexNames(prefix).alerts
    const { description: _d, ...before } = alertMappings.properties!
    const old = n.monthIndex('2025.01', 'a1')
    const current = n.monthIndex('2026.12', 'a1')
    for (const [index, month] of [[old, '2025.01'], [current, '2026.12']] as const) {
      await es.indices.create({ index, mappings: { dynamic: 'strict', properties: before }, aliases: { [n.alias]: {}, [n.monthAlias(month)]: { is_write_index: true } } })
    }
    await es.indices.putSettings({ index: old, settings: { 'index.blocks.read_only': true } })
    onTestFinished(async () => { await es.indices.putSettings({ index: old, settings: { 'index.blocks.read_only': null } }) })

    await ensureIndices(es, prefix)

    const doc = {
      id: '0123456789abcdef0123456789abcdef', source: 'alertmanager', fingerprint: 'f1', status: 'firing', severity: 'critical', service: 'checkout', environment: 'production',
      title: 'Checkout down', description: 'all pods crash', labels: {}, startsAt: '2026-12-01T00:00:00.000Z', receivedAt: '2026-12-01T00:00:00.000Z', eventAt: '2026-12-01T00:00:00.000Z', links: [], origin: {},
    }
    await es.index({ index: n.monthAlias('2026.12'), id: doc.id, document: doc, refresh: true })
    const found = await es.search({ index: n.alias, query: { match: { description: 'pods' } } })
    expect(found.hits.hits.map((h) => h._id)).toEqual([doc.id])
    // The read-only month is left as it was: still read-only, still without the field.
    const settings = await es.indices.getSettings({ index: old })
    expect(settings[old]?.settings?.index?.blocks?.read_only).toBe('true')
  })
})
