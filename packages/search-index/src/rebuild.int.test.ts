import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import type { Client } from '@elastic/elasticsearch'
import { captureLogs, cleanupIndices, createTopics, esClient, kafkaClient, uniqueName, waitFor } from '@opsreview/testing'
import { alertDocument, createBulkIndexHandler, incidentDocument, indexerRunOptions, problemDocument } from './bulk-indexer.ts'
import { rebuildFromKafka } from './rebuild.ts'
import { ensureIndices, indexNames } from './templates.ts'

const alert = (n: number) => {
  const at = new Date(Date.UTC(2026, 10, 30) + n * 60_000).toISOString()
  return { id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n}`, status: 'firing', severity: 'warning', service: 's', environment: 'production', title: `a${n}`, labels: { alertname: 'A' }, startsAt: at, receivedAt: at, links: [], origin: {} }
}
const incident = (n: number, version: number) => ({
  id: `inc-${n.toString(16).padStart(24, '0')}`, title: `incident ${n}`, status: version > 1 ? 'resolved' : 'open', severity: 'warning', services: ['s'], environment: 'production',
  groupKey: 's|production', openedAt: '2026-11-30T08:00:00.000Z', resolvedAt: version > 1 ? '2026-11-30T09:00:00.000Z' : null, resolvedBy: version > 1 ? 'alerts' : null,
  lastEventAt: '2026-11-30T09:00:00.000Z', alertCount: 1, alerts: [], reports: [], customerImpact: false, owner: version > 2 ? 'bob' : null, acknowledgedAt: null, acknowledgedBy: null,
  problemIds: [], postmortem: { required: false, reasons: [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version,
})
const problem = (n: number, version: number) => ({
  id: `prb-${n.toString(16).padStart(24, '0')}`, kind: 'recurring', status: version > 1 ? 'confirmed' : 'candidate', title: `p${n}`, signature: `sig${n}`, services: ['s'], environment: 'production',
  incidentIds: [], incidentCount: 3, firstSeenAt: '2026-11-30T08:00:00.000Z', lastSeenAt: '2026-11-30T08:00:00.000Z', owner: null, notes: [], version,
})

async function everything(es: Client, prefix: string) {
  const n = indexNames(prefix)
  const out: Record<string, Record<string, unknown>> = {}
  for (const alias of [n.alerts.alias, n.incidents.alias, n.problems.alias]) {
    await es.indices.refresh({ index: alias })
    for (const h of (await es.search({ index: alias, size: 1000, query: { match_all: {} } })).hits.hits) out[`${alias}/${h._id}`] = h._source as Record<string, unknown>
  }
  return out
}

describe('rebuilding the index from Kafka', () => {
  it('makes a corrupted index equal to the one the live pipeline built, moving aliases atomically', async () => {
    const kafka = kafkaClient()
    const admin = kafka.admin()
    await admin.connect()
    onTestFinished(() => admin.disconnect())
    const run = uniqueName('rebuild')
    const topics = { alerts: `${run}-alerts`, incidents: `${run}-incidents`, problems: `${run}-problems` }
    await createTopics(admin, Object.values(topics))
    const es = esClient()
    cleanupIndices(es, run)
    await ensureIndices(es, run)
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const send = (topic: string, docs: { id: string }[]) => producer.send({ topic, acks: -1, messages: docs.map((d) => ({ key: d.id, value: JSON.stringify(d) })) })
    await send(topics.alerts, Array.from({ length: 40 }, (_, i) => alert(i)))
    await send(topics.incidents, Array.from({ length: 10 }, (_, i) => incident(i, 1)))
    await send(topics.incidents, Array.from({ length: 10 }, (_, i) => incident(i, 1 + (i % 3))))
    await send(topics.problems, Array.from({ length: 5 }, (_, i) => problem(i, 1 + (i % 2))))

    // The live pipeline: the indexer's handler on the three topics.
    const { logger } = captureLogs()
    const live = kafka.consumer({ groupId: `${run}-live`, maxWaitTimeInMs: 100 })
    await live.connect()
    await live.subscribe({ topics: Object.values(topics), fromBeginning: true })
    const documents = new Map([[topics.alerts, alertDocument(run)], [topics.incidents, incidentDocument(run)], [topics.problems, problemDocument(run)]])
    await live.run({ ...indexerRunOptions, eachBatch: createBulkIndexHandler({ es, logger, deadLetter: async () => undefined, documentFor: (t) => documents.get(t)! }) })
    const expected = await waitFor(async () => { const all = await everything(es, run); return Object.keys(all).length === 55 ? all : undefined }, { what: 'the live index' })
    await live.disconnect()

    // Corruption: documents deleted, documents altered (their versions kept), a document that never existed.
    const n = indexNames(run)
    await es.delete({ index: n.incidents.alias, id: incident(3, 1).id, refresh: true })
    await es.delete({ index: n.alerts.indexFor(alert(7).startsAt), id: alert(7).id, refresh: true })
    await es.index({ index: n.problems.alias, id: problem(1, 1).id, document: { ...problem(1, 2), status: 'dismissed', title: 'wrong' }, version: 2, version_type: 'external_gte', refresh: true })
    await es.index({ index: n.alerts.indexFor(alert(9).startsAt), id: alert(9).id, document: { ...alert(9), title: 'wrong', eventAt: alert(9).startsAt }, refresh: true })
    await es.index({ index: n.incidents.alias, id: 'inc-ffffffffffffffffffffffff', document: { ...incident(99, 1), id: 'inc-ffffffffffffffffffffffff' }, refresh: true })
    expect(await everything(es, run)).not.toEqual(expected)

    const result = await rebuildFromKafka({ kafka, es, prefix: run, topics, logger })
    expect(result.replaced).toEqual(expect.arrayContaining([`${run}-incidents-000001`, `${run}-problems-000001`]))
    const aliases = await es.indices.getAlias({ name: [n.incidents.alias, n.problems.alias] })
    expect(Object.keys(aliases).sort()).toEqual([result.incidentsIndex, result.problemsIndex].sort())
    expect(await everything(es, run)).toEqual(expected)
  })
})
