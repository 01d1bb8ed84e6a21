// An incident or problem index made by an earlier version takes the fields the schemas added since: its
// mapping is strict, and without them it refused every newer document.
import { describe, expect, it } from 'vitest'
import { indicesOfTest } from '@opsreview/testing'
import { KEYWORD_MAX_CHARS } from './templates-from-schema.ts'
import { alertMappings, DOCUMENT_REFRESH_INTERVAL, ensureIndices, indexNames, problemMappings } from './templates.ts'

describe('indices made before a schema added a field', () => {
  it('take the new fields on the next start, and then index documents that carry them', async () => {
    const { prefix, es } = indicesOfTest('upgrade')
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

  it('take the new fields in the alert months there already, the month being written among them', async () => {
    const { prefix, es } = indicesOfTest('upgrade')
    const n = indexNames(prefix).alerts
    // December's index as the version before `description` made it (its template too, gone here), behind the
    // read alias and its write alias.
    const { description: _d, ...before } = alertMappings.properties!
    const index = n.monthIndex('2026.12', 'a1')
    await es.indices.create({ index, mappings: { dynamic: 'strict', properties: before }, aliases: { [n.alias]: {}, [n.monthAlias('2026.12')]: { is_write_index: true } } })
    const doc = {
      id: '0123456789abcdef0123456789abcdef', source: 'alertmanager', fingerprint: 'f1', status: 'firing', severity: 'critical', service: 'checkout', environment: 'production',
      title: 'Checkout down', description: 'all pods crash', labels: {}, startsAt: '2026-12-01T00:00:00.000Z', receivedAt: '2026-12-01T00:00:00.000Z', eventAt: '2026-12-01T00:00:00.000Z', links: [], origin: {},
    }
    await expect(es.index({ index: n.monthAlias('2026.12'), id: doc.id, document: doc })).rejects.toThrow(/strict_dynamic_mapping_exception/)
    await ensureIndices(es, prefix)
    await es.index({ index: n.monthAlias('2026.12'), id: doc.id, document: doc, refresh: true })
    const found = await es.search({ index: n.alias, query: { match: { description: 'pods' } } })
    expect(found.hits.hits.map((h) => h._id)).toEqual([doc.id])
  })

  it('take the new fields also when the index is there without its alias (a snapshot restored without aliases)', async () => {
    const { prefix, es } = indicesOfTest('upgrade')
    const n = indexNames(prefix).problems
    const { resolvedAt: _r, reopenCount: _c, ...before } = problemMappings.properties!
    await es.indices.create({ index: n.first, mappings: { dynamic: 'strict', properties: before }, settings: { refresh_interval: '1s' } })
    await ensureIndices(es, prefix)
    const doc = {
      id: 'prb-000000000000000000000003', kind: 'recurring', status: 'confirmed', title: 'x keeps recurring', signature: '{}', services: ['x'],
      environment: 'production', incidentIds: [], incidentCount: 4, firstSeenAt: '2026-12-01T00:00:00.000Z', lastSeenAt: '2026-12-02T00:00:00.000Z',
      owner: null, notes: [], resolvedAt: null, reopenCount: 1, version: 3,
    }
    // Until 2026-12-07 the alias went back onto it and nothing more: every problem with the new fields was dead-lettered.
    await es.index({ index: n.alias, id: doc.id, document: doc, refresh: true })
    const settings = await es.indices.getSettings({ index: n.first })
    expect(settings[n.first]?.settings?.index?.refresh_interval).toBe(DOCUMENT_REFRESH_INTERVAL)
  })

  it('take the keyword limit on the next start, and then index a problem whose signature Lucene could not hold as a term', async () => {
    const { prefix, es } = indicesOfTest('upgrade')
    const n = indexNames(prefix).problems
    // The problems index as the version before the limit made it: keywords of any length.
    const unlimited = Object.fromEntries(Object.entries(problemMappings.properties!).map(([k, m]) => [k, 'ignore_above' in m ? { type: 'keyword' as const } : m]))
    await es.indices.create({ index: n.first, mappings: { dynamic: 'strict', properties: unlimited }, aliases: { [n.alias]: { is_write_index: true } } })
    // 32 alert names of 1,000 characters: a recurring signature of ~32 KB, and of ~64 KB in UTF-8 with a two-byte letter in each.
    const names = Array.from({ length: 32 }, (_, i) => `${'é'.repeat(999)}${i}`)
    const signature = JSON.stringify({ kind: 'recurring', environment: 'production', service: 'x', alertNames: names })
    expect(signature.length).toBeGreaterThan(KEYWORD_MAX_CHARS)
    const doc = {
      id: 'prb-000000000000000000000002', kind: 'recurring', status: 'candidate', title: 'x keeps recurring', signature, services: ['x'],
      environment: 'production', incidentIds: [], incidentCount: 3, firstSeenAt: '2026-12-01T00:00:00.000Z', lastSeenAt: '2026-12-02T00:00:00.000Z',
      owner: null, notes: [], resolvedAt: null, reopenCount: 0, version: 1,
    }
    await expect(es.index({ index: n.alias, id: doc.id, document: doc })).rejects.toThrow(/immense term/)
    await ensureIndices(es, prefix)
    await es.index({ index: n.alias, id: doc.id, document: doc, refresh: true })
    const found = await es.search<typeof doc>({ index: n.alias, query: { term: { services: 'x' } } })
    expect(found.hits.hits.map((h) => [h._id, h._source?.signature])).toEqual([[doc.id, signature]])
  })
})

describe('keywords longer than Lucene holds as a term', () => {
  it('a fresh incidents index takes an incident whose group key is one', async () => {
    const { prefix, es } = indicesOfTest('upgrade')
    await ensureIndices(es, prefix)
    const n = indexNames(prefix).incidents
    // Three label values at the receiver's limit (4,096 characters), of three bytes each in UTF-8: ~36 KB.
    const groupKey = JSON.stringify({ service: 'x', environment: 'production', labels: ['€'.repeat(4096), '€'.repeat(4096), '€'.repeat(4096)] })
    expect(Buffer.byteLength(groupKey)).toBeGreaterThan(32_766)
    await es.index({ index: n.alias, id: 'inc-000000000000000000000001', document: { id: 'inc-000000000000000000000001', status: 'open', services: ['x'], groupKey }, refresh: true })
    const found = await es.search({ index: n.alias, query: { term: { status: 'open' } } })
    expect(found.hits.hits.map((h) => h._id)).toEqual(['inc-000000000000000000000001'])
  })

  it('puts a lost write alias back onto the first index when an index of that name is there without it', async () => {
    // What a reindex stopped before deleting the indices it replaced leaves, once the alias is lost too.
    const { prefix, es } = indicesOfTest('upgrade')
    const n = indexNames(prefix).incidents
    await ensureIndices(es, prefix)
    await es.indices.updateAliases({ actions: [{ remove: { index: n.first, alias: n.alias } }] })
    expect(await es.indices.existsAlias({ name: n.alias })).toBe(false)
    await ensureIndices(es, prefix)
    const aliases = await es.indices.getAlias({ name: n.alias })
    expect(Object.entries(aliases).map(([index, a]) => [index, a.aliases[n.alias]?.is_write_index])).toEqual([[n.first, true]])
  })
})
