// The running indexer puts a lost incidents or problems write alias back itself (liveDocumentAliases); the
// index it puts it onto may be older than the fields a schema added since (a snapshot restored without
// aliases while the indexer runs). Its mapping is strict, so it must take them there too, not only at a start.
// Such an index may also hold a field of another type than the current mapping's: Elasticsearch refuses the
// whole put-mapping then, and the documents meet the index as it is (as before 2026-12-07, when the re-attach
// put none): those it takes written, those it refuses dead-lettered one by one, never the lane held back.
// It takes the documents' refresh interval too: a restored index keeps the one it was made with.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { indicesOfTest } from '@opsreview/testing'
import { BulkPipeline, type DeadLetterItem } from './bulk-pipeline.ts'
import { liveWrites } from './documents.ts'
import { DOCUMENT_REFRESH_INTERVAL, ensureIndices, indexNames, problemMappings } from './templates.ts'

type Properties = NonNullable<typeof problemMappings.properties>

/**
 * A started index whose problems index is then replaced by one of `properties`, without its alias (restored
 * from a snapshot without aliases). A restore applies no template, so the index is made while the template is
 * away: it would have added the current fields.
 */
async function problemsIndexPutBack(name: string, properties: Properties) {
  const { prefix, es } = indicesOfTest(name)
  await ensureIndices(es, prefix)
  const n = indexNames(prefix).problems
  const [template] = (await es.indices.getIndexTemplate({ name: n.template })).index_templates
  await es.indices.delete({ index: n.first })
  await es.indices.deleteIndexTemplate({ name: n.template })
  await es.indices.create({ index: n.first, mappings: { dynamic: 'strict', properties } })
  await es.indices.putIndexTemplate({ name: n.template, ...template!.index_template })
  expect(await es.indices.existsAlias({ name: n.alias })).toBe(false)
  return { prefix, es, n }
}

/**
 * Writes one problem document through the live pipeline: the write finds the alias missing, the pipeline
 * forgets it, and its next round puts it back. What the pipeline made of it, and the document.
 */
async function writeProblem(es: ReturnType<typeof indicesOfTest>['es'], prefix: string, id: string) {
  const topics = { alerts: `${prefix}.alerts`, incidents: `${prefix}.incidents`, problems: `${prefix}.problems` }
  const live = liveWrites(es, prefix, topics)
  const letters: DeadLetterItem[] = []
  const pipeline = new BulkPipeline({ es, logger: pino({ level: 'silent' }), deadLetter: async (l) => { letters.push(...l) }, minBackoffMs: 5, maxBackoffMs: 20, ...live.pipeline })
  const doc = {
    id, kind: 'recurring', status: 'confirmed', title: 'x keeps recurring', signature: '{}', services: ['x'],
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
  return { drained, waiting, letters: letters.map((l) => l.envelope.reason), doc }
}

describe('a write alias the running indexer puts back', () => {
  it('goes onto an older index with the fields added since, and the documents that carry them are written, none dead-lettered', async () => {
    // The version before `resolvedAt` and `reopenCount` made it.
    const { resolvedAt: _r, reopenCount: _c, ...before } = problemMappings.properties!
    const { prefix, es, n } = await problemsIndexPutBack('reattach', before)
    expect(Object.keys((await es.indices.getMapping({ index: n.first }))[n.first]!.mappings.properties!)).not.toContain('reopenCount')

    const { drained, waiting, letters, doc } = await writeProblem(es, prefix, 'prb-000000000000000000000004')

    expect({ drained, waiting, letters }).toEqual({ drained: true, waiting: [], letters: [] })
    const mapping = await es.indices.getMapping({ index: n.first })
    expect(mapping[n.first]?.mappings.properties?.reopenCount).toEqual(problemMappings.properties!.reopenCount)
    await es.indices.refresh({ index: n.alias })
    const found = await es.search({ index: n.alias, query: { term: { reopenCount: 1 } } })
    expect(found.hits.hits.map((h) => h._id)).toEqual([doc.id])
  })

  it('gives the index the documents\' refresh interval, as a start does, so they show in searches as soon as those of a made index', async () => {
    const { prefix, es, n } = await problemsIndexPutBack('reattach-refresh', problemMappings.properties!)
    const refreshOf = async () => (await es.indices.getSettings({ index: n.first }))[n.first]?.settings?.index?.refresh_interval
    expect(await refreshOf()).toBeUndefined()

    const { drained, letters } = await writeProblem(es, prefix, 'prb-000000000000000000000006')

    expect({ drained, letters }).toEqual({ drained: true, letters: [] })
    expect(await refreshOf()).toBe(DOCUMENT_REFRESH_INTERVAL)
  })

  it('onto an index whose mapping conflicts with the current one writes the documents that index takes, though the put-mapping is refused', async () => {
    // `signature` is text there, a keyword now.
    const { prefix, es, n } = await problemsIndexPutBack('reattach-conflict', { ...problemMappings.properties!, signature: { type: 'text' } })
    await expect(es.indices.putMapping({ index: n.first, properties: problemMappings.properties!, dynamic: problemMappings.dynamic })).rejects.toThrow(/illegal_argument_exception/)

    const { drained, waiting, letters, doc } = await writeProblem(es, prefix, 'prb-000000000000000000000005')

    expect({ drained, waiting, letters }).toEqual({ drained: true, waiting: [], letters: [] })
    await es.indices.refresh({ index: n.alias })
    const found = await es.search({ index: n.alias, query: { ids: { values: [doc.id] } } })
    expect(found.hits.hits.map((h) => h._id)).toEqual([doc.id])
  })
})
