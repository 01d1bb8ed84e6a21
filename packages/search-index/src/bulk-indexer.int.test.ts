import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import { Client } from '@elastic/elasticsearch'
import { captureLogs, cleanupIndices, createTopics, esClient, kafkaClient, readTopicUntil, uniqueName, waitFor } from '@opsreview/testing'
import { alertDocument, createBulkIndexHandler, incidentDocument, indexerRunOptions } from './bulk-indexer.ts'
import { ensureIndices, indexNames } from './templates.ts'

function alertEvent(n: number, overrides: Record<string, unknown> = {}) {
  return {
    id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n}`, status: 'firing', severity: 'critical',
    service: `svc-${n % 3}`, environment: 'production', title: `Alert ${n}`, labels: { alertname: 'HighLatency', 'weird.label/name': 'x' },
    startsAt: n % 2 ? '2026-10-31T23:59:59.000Z' : '2026-11-01T00:00:00.000Z', receivedAt: '2026-11-01T00:00:01.000Z', links: [], origin: {},
    ...overrides,
  }
}

async function runIndexer(opts: { esNode?: string; groupId?: string; topic?: string; prefix?: string } = {}) {
  const kafka = kafkaClient()
  const admin = kafka.admin()
  await admin.connect()
  onTestFinished(() => admin.disconnect())
  const topic = opts.topic ?? uniqueName('alerts')
  const deadLetterTopic = uniqueName('dlq')
  const incidentTopic = `${topic}-incidents`
  await createTopics(admin, opts.topic ? [deadLetterTopic] : [topic, deadLetterTopic, incidentTopic])
  const es = esClient()
  const prefix = opts.prefix ?? uniqueName('idx')
  cleanupIndices(es, prefix)
  await ensureIndices(es, prefix)
  const writer = opts.esNode ? new Client({ node: opts.esNode, maxRetries: 0, requestTimeout: 1000 }) : es
  const groupId = opts.groupId ?? uniqueName('indexer')
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic, incidentTopic], fromBeginning: true })
  const { logger, lines } = captureLogs()
  await consumer.run({
    ...indexerRunOptions,
    eachBatch: createBulkIndexHandler({
      es: writer, logger, minBackoffMs: 50, maxBackoffMs: 200,
      documentFor: (t) => (t === incidentTopic ? incidentDocument(prefix) : alertDocument(prefix)),
      deadLetter: async (records) => { await producer.send({ topic: deadLetterTopic, messages: records }) },
    }),
  })
  let stopped = false
  const stop = async () => { if (!stopped) { stopped = true; await consumer.disconnect() } }
  onTestFinished(async () => { await stop(); await producer.disconnect(); await es.close() })
  const send = (events: object[]) => producer.send({ topic, acks: -1, messages: events.map((e) => ({ key: (e as { fingerprint: string }).fingerprint, value: JSON.stringify(e) })) })
  const count = async () => { await es.indices.refresh({ index: indexNames(prefix).alerts.alias }); return (await es.count({ index: indexNames(prefix).alerts.alias })).count }
  const sendIncidents = (versions: object[]) => producer.send({ topic: incidentTopic, acks: -1, messages: versions.map((v) => ({ key: (v as { id: string }).id, value: JSON.stringify(v) })) })
  return { kafka, admin, es, prefix, send, sendIncidents, count, deadLetterTopic, topic, groupId, lines, stop }
}

describe('alert indexer on the real Kafka and Elasticsearch', () => {
  it('indexes each event once by id into its monthly index behind the alias', async () => {
    const r = await runIndexer()
    const events = Array.from({ length: 50 }, (_, i) => alertEvent(i))
    await r.send(events)
    await r.send(events.slice(0, 10)) // redelivered: same ids, no new documents
    await r.send([alertEvent(1000)])
    await waitFor(async () => ((await r.es.exists({ index: indexNames(r.prefix).alerts.indexFor('2026-11-01'), id: alertEvent(1000).id })) ? true : undefined), { what: 'the marker document' })
    expect(await r.count()).toBe(51)
    const indices = Object.keys(await r.es.indices.get({ index: `${r.prefix}-alerts-*` })).sort()
    expect(indices).toEqual([`${r.prefix}-alerts-2026.10`, `${r.prefix}-alerts-2026.11`])
    const hit = await r.es.search({ index: indexNames(r.prefix).alerts.alias, query: { term: { 'labels.weird.label/name': 'x' } }, size: 1 })
    expect((hit.hits.total as { value: number }).value).toBe(51)
  })

  it('dead-letters what Elasticsearch rejects or what does not parse, and indexes the rest', async () => {
    const r = await runIndexer()
    await r.send([alertEvent(1), alertEvent(2, { unexpectedField: true }), 'not json' as unknown as object, alertEvent(3)])
    const dead = await readTopicUntil(r.kafka, r.deadLetterTopic, (m) => m.length >= 2)
    expect(dead.map((m) => JSON.parse(m.value).reason).sort()).toEqual(['strict_dynamic_mapping_exception', 'unparseable'])
    await waitFor(async () => ((await r.count()) === 2 ? true : undefined), { what: 'two good documents' })
  })

  it('commits nothing while Elasticsearch is unreachable, so a successor indexes everything', async () => {
    const down = await runIndexer({ esNode: 'http://127.0.0.1:9' })
    await down.send(Array.from({ length: 20 }, (_, i) => alertEvent(i)))
    await waitFor(() => (down.lines.filter((l) => l.msg === 'elasticsearch bulk request failed; retrying').length >= 3 ? true : undefined), { what: 'three failed bulk attempts' })
    await down.stop()
    const committed = await down.admin.fetchOffsets({ groupId: down.groupId, topics: [down.topic] })
    expect(committed[0]!.partitions.every((p) => p.offset === '-1')).toBe(true)

    const up = await runIndexer({ groupId: down.groupId, topic: down.topic, prefix: down.prefix })
    await waitFor(async () => ((await up.count()) === 20 ? true : undefined), { what: 'all 20 documents after the outage' })
  })

  it('keeps the newest incident version whatever order versions arrive in', async () => {
    const r = await runIndexer()
    const incident = (version: number, owner: string | null) => ({
      id: 'inc-0123456789abcdef01234567', title: 'Checkout errors', status: 'open', severity: 'critical', services: ['checkout'], environment: 'production',
      groupKey: 'checkout|production', openedAt: '2026-11-30T08:00:00.000Z', resolvedAt: null, resolvedBy: null, lastEventAt: '2026-11-30T08:05:00.000Z',
      alertCount: 1, alerts: [], reports: [], customerImpact: false, owner, acknowledgedAt: version >= 2 ? '2026-11-30T08:10:00.000Z' : null, acknowledgedBy: null,
      problemIds: [], postmortem: { required: true, reasons: ['severity critical'], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version,
    })
    await r.sendIncidents([incident(3, 'carol'), incident(1, null)])
    await r.sendIncidents([incident(2, 'bob')])
    const alias = indexNames(r.prefix).incidents.alias
    // Done when the group has committed past all three records: each was applied or refused by then.
    await waitFor(async () => {
      const [offsets] = await r.admin.fetchOffsets({ groupId: r.groupId, topics: [`${r.topic}-incidents`] })
      return offsets!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) >= 3 ? true : undefined
    }, { what: 'all three incident versions consumed' })
    await r.es.indices.refresh({ index: alias })
    const final = (await r.es.get<{ owner: string; version: number; timeToAcknowledgeMs: number }>({ index: alias, id: 'inc-0123456789abcdef01234567' }))._source!
    expect(final).toMatchObject({ owner: 'carol', version: 3, timeToAcknowledgeMs: 10 * 60_000 })
  })
})
