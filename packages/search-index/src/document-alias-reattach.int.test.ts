// The running indexer puts a lost incidents or problems write alias back itself (liveDocumentAliases); the
// index it puts it onto may be older than the fields a schema added since (a snapshot restored without
// aliases while the indexer runs). Its mapping is strict, so it must take them there too, not only at a start.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { indicesOfTest } from '@opsreview/testing'
import { BulkPipeline, type DeadLetterItem } from './bulk-pipeline.ts'
import { liveWrites } from './documents.ts'
import { ensureIndices, indexNames, problemMappings } from './templates.ts'

describe('a write alias the running indexer puts back', () => {
  it('goes onto an older index with the fields added since, and the documents that carry them are written, none dead-lettered', async () => {
    const { prefix, es } = indicesOfTest('reattach')
    await ensureIndices(es, prefix)
    const n = indexNames(prefix).problems
    // After the start, the problems index is replaced by one the version before `resolvedAt` and
    // `reopenCount` made, without its alias (restored from a snapshot without aliases). A restore applies no
    // template, so the index is made while the template is away: it would have added the new fields.
    const { resolvedAt: _r, reopenCount: _c, ...before } = problemMappings.properties!
    const [template] = (await es.indices.getIndexTemplate({ name: n.template })).index_templates
    await es.indices.delete({ index: n.first })
    await es.indices.deleteIndexTemplate({ name: n.template })
    await es.indices.create({ index: n.first, mappings: { dynamic: 'strict', properties: before } })
    await es.indices.putIndexTemplate({ name: n.template, ...template!.index_template })
    expect(Object.keys((await es.indices.getMapping({ index: n.first }))[n.first]!.mappings.properties!)).not.toContain('reopenCount')
    expect(await es.indices.existsAlias({ name: n.alias })).toBe(false)

    const topics = { alerts: `${prefix}.alerts`, incidents: `${prefix}.incidents`, problems: `${prefix}.problems` }
    const live = liveWrites(es, prefix, topics)
    const letters: DeadLetterItem[] = []
    const pipeline = new BulkPipeline({ es, logger: pino({ level: 'silent' }), deadLetter: async (l) => { letters.push(...l) }, minBackoffMs: 5, maxBackoffMs: 20, ...live.pipeline })
    const doc = {
      id: 'prb-000000000000000000000004', kind: 'recurring', status: 'confirmed', title: 'x keeps recurring', signature: '{}', services: ['x'],
      environment: 'production', incidentIds: [], incidentCount: 4, firstSeenAt: '2026-12-01T00:00:00.000Z', lastSeenAt: '2026-12-02T00:00:00.000Z',
      owner: null, notes: [], resolvedAt: null, reopenCount: 1, version: 3,
    }
    const value = JSON.stringify(doc)
    const op = live.documentFor(topics.problems)(value)
    op.source = { topic: topics.problems, partition: 0, offset: '0', key: doc.id, value }
    // The write finds the alias missing, the pipeline forgets it, and its next round puts it back.
    await pipeline.add({ topic: topics.problems, partition: 0, lastOffset: '0', ops: [op], poison: [] })
    expect(await pipeline.drain(20_000)).toBe(true)
    pipeline.stop()

    expect(letters.map((l) => l.envelope.reason)).toEqual([])
    const mapping = await es.indices.getMapping({ index: n.first })
    expect(mapping[n.first]?.mappings.properties?.reopenCount).toEqual(problemMappings.properties!.reopenCount)
    await es.indices.refresh({ index: n.alias })
    const found = await es.search({ index: n.alias, query: { term: { reopenCount: 1 } } })
    expect(found.hits.hits.map((h) => h._id)).toEqual([doc.id])
  })
})
