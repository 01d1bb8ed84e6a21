// The running indexer's re-attach of a lost incidents or problems write alias puts the current mapping
// (document-alias-reattach.int.test.ts). An index restored without aliases may hold a field of another type
// than the current mapping's: Elasticsearch refuses the whole put-mapping then. Before 2026-12-07 the re-attach
// put none, and the documents met the index as it was: those it takes written, those it refuses dead-lettered
// one by one as mapping-rejected. The refusal must not now hold back every document of the lane.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { indicesOfTest } from '@opsreview/testing'
import { BulkPipeline, type DeadLetterItem } from './bulk-pipeline.ts'
import { liveWrites } from './documents.ts'
import { ensureIndices, indexNames, problemMappings } from './templates.ts'

describe('a write alias the running indexer puts back onto an index whose mapping conflicts with the current one', () => {
  it('writes the documents that index takes, though the put-mapping is refused', async () => {
    const { prefix, es } = indicesOfTest('reattach-conflict')
    await ensureIndices(es, prefix)
    const n = indexNames(prefix).problems
    // Restored without its alias while the indexer runs: `signature` is text there, a keyword now.
    const [template] = (await es.indices.getIndexTemplate({ name: n.template })).index_templates
    await es.indices.delete({ index: n.first })
    await es.indices.deleteIndexTemplate({ name: n.template })
    await es.indices.create({ index: n.first, mappings: { dynamic: 'strict', properties: { ...problemMappings.properties!, signature: { type: 'text' } } } })
    await es.indices.putIndexTemplate({ name: n.template, ...template!.index_template })
    await expect(es.indices.putMapping({ index: n.first, properties: problemMappings.properties!, dynamic: problemMappings.dynamic })).rejects.toThrow(/illegal_argument_exception/)

    const topics = { alerts: `${prefix}.alerts`, incidents: `${prefix}.incidents`, problems: `${prefix}.problems` }
    const live = liveWrites(es, prefix, topics)
    const letters: DeadLetterItem[] = []
    const pipeline = new BulkPipeline({ es, logger: pino({ level: 'silent' }), deadLetter: async (l) => { letters.push(...l) }, minBackoffMs: 5, maxBackoffMs: 20, ...live.pipeline })
    const doc = {
      id: 'prb-000000000000000000000005', kind: 'recurring', status: 'confirmed', title: 'y keeps recurring', signature: '{}', services: ['y'],
      environment: 'production', incidentIds: [], incidentCount: 4, firstSeenAt: '2026-12-01T00:00:00.000Z', lastSeenAt: '2026-12-02T00:00:00.000Z',
      owner: null, notes: [], resolvedAt: null, reopenCount: 1, version: 3,
    }
    const value = JSON.stringify(doc)
    const op = live.documentFor(topics.problems)(value)
    op.source = { topic: topics.problems, partition: 0, offset: '0', key: doc.id, value }
    await pipeline.add({ topic: topics.problems, partition: 0, lastOffset: '0', ops: [op], poison: [] })
    const drained = await pipeline.drain(20_000)
    const waiting = pipeline.waiting.map((w) => w.code)
    pipeline.stop()

    expect({ drained, waiting, letters: letters.map((l) => l.envelope.reason) }).toEqual({ drained: true, waiting: [], letters: [] })
    await es.indices.refresh({ index: n.alias })
    const found = await es.search({ index: n.alias, query: { ids: { values: [doc.id] } } })
    expect(found.hits.hits.map((h) => h._id)).toEqual([doc.id])
  })
})
