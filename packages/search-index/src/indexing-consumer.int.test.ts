import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners, type Kafka } from 'kafkajs'
import { Client } from '@elastic/elasticsearch'
import { captureLogs, cleanupIndices, connectedAdmin, createTopics, esClient, kafkaClient, readTopicUntil, uniqueName, waitFor } from '@opsreview/testing'
import { liveWrites } from './documents.ts'
import { IndexingConsumer } from './indexing-consumer.ts'
import { ensureIndices, FIRST_GENERATION, indexNames } from './templates.ts'
import { indexerTopicsOfTest } from './test-topics.ts'

function alertEvent(n: number, overrides: Record<string, unknown> = {}) {
  return {
    id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n}`, status: 'firing', severity: 'critical',
    service: `svc-${n % 3}`, environment: 'production', title: `Alert ${n}`, labels: { alertname: 'HighLatency', 'weird.label/name': 'x' },
    startsAt: n % 2 ? '2026-10-31T23:59:59.000Z' : '2026-11-01T00:00:00.000Z', receivedAt: '2026-11-01T00:00:01.000Z', links: [], origin: {},
    ...overrides,
  }
}

interface Setup {
  kafka: Kafka
  topic: string
  incidentTopic: string
  deadLetterTopic: string
  prefix: string
}

async function setUp(): Promise<Setup & { send: (events: (object | string)[]) => Promise<unknown>; sendIncidents: (versions: object[]) => Promise<unknown>; count: () => Promise<number>; committed: (topic?: string) => Promise<number>; es: Client }> {
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  const topic = uniqueName('alerts')
  const s = { kafka, topic, incidentTopic: `${topic}-incidents`, deadLetterTopic: uniqueName('dlq'), prefix: uniqueName('idx') }
  await createTopics(admin, [s.topic, s.deadLetterTopic, s.incidentTopic])
  const es = esClient()
  cleanupIndices(s.prefix)
  await ensureIndices(es, s.prefix)
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  onTestFinished(async () => { await producer.disconnect(); await es.close() })
  const alias = indexNames(s.prefix).alerts.alias
  return {
    ...s, es,
    send: (events) => producer.send({ topic, acks: -1, messages: events.map((e) => ({ key: (e as { fingerprint?: string }).fingerprint ?? 'x', value: typeof e === 'string' ? e : JSON.stringify(e) })) }),
    sendIncidents: (versions) => producer.send({ topic: s.incidentTopic, acks: -1, messages: versions.map((v) => ({ key: (v as { id: string }).id, value: JSON.stringify(v) })) }),
    count: async () => { await es.indices.refresh({ index: alias }); return (await es.count({ index: alias })).count },
    committed: async (t = topic) => {
      const [offsets] = await admin.fetchOffsets({ groupId: `${s.prefix}-indexer`, topics: [t] })
      return offsets!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
    },
  }
}

/** One indexer instance, as services/indexer wires it: the consumer group is `<prefix>-indexer`. */
/**
 * The real client, except that bulk requests writing alerts wait for `release`: a slow alert index, to
 * show what else still gets through meanwhile.
 */
function holdingAlertBulks(es: Client, prefix: string) {
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  const alerts = indexNames(prefix).alerts.alias
  let held = 0
  const bulk: Client['bulk'] = (async (params: Parameters<Client['bulk']>[0]) => {
    const ops = (params as { operations?: unknown[] }).operations ?? []
    if (ops.some((o) => JSON.stringify(o).includes(`"${alerts}-`))) { held++; await released }
    return es.bulk(params)
  }) as Client['bulk']
  const client = new Proxy(es, { get: (target, key) => (key === 'bulk' ? bulk : Reflect.get(target, key)) })
  return { client, release, held: () => held }
}

async function startIndexer(s: Setup, opts: { esNode?: string; flushBytes?: number; writer?: Client; ownLane?: string[]; concurrency?: number } = {}) {
  const writer = opts.writer ?? (opts.esNode ? new Client({ node: opts.esNode, maxRetries: 0, requestTimeout: 1000 }) : esClient())
  const producer = s.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const consumer = s.kafka.consumer({ groupId: `${s.prefix}-indexer`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  const topics = [s.topic, s.incidentTopic]
  await consumer.subscribe({ topics, fromBeginning: true })
  const { logger, lines } = captureLogs()
  const live = liveWrites(writer, s.prefix, { alerts: s.topic, incidents: s.incidentTopic, problems: `${s.topic}-problems` })
  let indexed = 0
  let itemRetries = 0
  let failedAttempts = 0
  const indexing = new IndexingConsumer({
    consumer, logger,
    documentFor: live.documentFor,
    ownLane: opts.ownLane,
    pipeline: {
      ...live.pipeline, es: writer, logger, minBackoffMs: 50, maxBackoffMs: 200, flushBytes: opts.flushBytes, concurrency: opts.concurrency,
      onIndexed: (count) => { indexed += count },
      onRetry: (reason) => { if (reason === 'item') itemRetries++; else failedAttempts++ },
      deadLetter: async (letters) => { await producer.send({ topic: s.deadLetterTopic, messages: letters.map((l) => ({ key: l.key, value: JSON.stringify(l.envelope) })) }) },
    },
  })
  await consumer.run({ ...IndexingConsumer.runOptions, eachBatch: indexing.handler })
  let stopped = false
  const stop = async () => { if (!stopped) { stopped = true; await indexing.close(topics, 2000); await producer.disconnect(); if (!opts.writer) await writer.close() } }
  onTestFinished(stop)
  return { lines, stop, indexed: () => indexed, itemRetries: () => itemRetries, failedAttempts: () => failedAttempts, joined: () => indexing.joined, waiting: () => indexing.waiting }
}

describe('the indexer on the real Kafka and Elasticsearch', () => {
  it('indexes each event once by id into its month behind the read and month aliases', async () => {
    const s = await setUp()
    await startIndexer(s)
    const events = Array.from({ length: 50 }, (_, i) => alertEvent(i))
    await s.send(events)
    await s.send(events.slice(0, 10)) // redelivered: same ids, no new documents
    await s.send([alertEvent(1000)])
    const n = indexNames(s.prefix).alerts
    await waitFor(async () => ((await s.committed()) === 61 ? true : undefined), { what: 'every record committed' })
    expect(await s.count()).toBe(51)
    expect(await s.es.exists({ index: n.indexFor('2026-11-01'), id: alertEvent(1000).id })).toBe(true)
    const aliases = await s.es.indices.getAlias({ index: `${s.prefix}-alerts-*` })
    expect(Object.fromEntries(Object.entries(aliases).map(([index, a]) => [index, Object.keys(a.aliases).sort()]))).toEqual({
      [n.monthIndex('2026.10', FIRST_GENERATION)]: [n.alias, n.monthAlias('2026.10')],
      [n.monthIndex('2026.11', FIRST_GENERATION)]: [n.alias, n.monthAlias('2026.11')],
    })
    const hit = await s.es.search({ index: n.alias, query: { term: { 'labels.weird.label/name': 'x' } }, size: 1 })
    expect((hit.hits.total as { value: number }).value).toBe(51)
  })

  it('commits exactly to the end when many small requests finish out of order', async () => {
    const s = await setUp()
    const indexer = await startIndexer(s, { flushBytes: 2048 })
    await s.send(Array.from({ length: 600 }, (_, i) => alertEvent(i)))
    await waitFor(async () => ((await s.committed()) === 600 ? true : undefined), { what: 'all 600 records committed' })
    expect(await s.count()).toBe(600)
    expect(indexer.indexed()).toBe(600)
  })

  it('dead-letters what Elasticsearch rejects or what does not parse, and indexes the rest', async () => {
    const s = await setUp()
    await startIndexer(s)
    await s.send([alertEvent(1), alertEvent(2, { unexpectedField: true }), 'not json', alertEvent(3)])
    const dead = await readTopicUntil(s.kafka, s.deadLetterTopic, (m) => m.length >= 2)
    expect(dead.map((m) => JSON.parse(m.value).reason).sort()).toEqual(['mapping-rejected', 'unparseable'])
    await waitFor(async () => ((await s.committed()) === 4 ? true : undefined), { what: 'all four records committed' })
    expect(await s.count()).toBe(2)
  })

  // The month index refuses writes for a cause of the cluster's, set by hand or by Elasticsearch itself: the
  // records wait (the index is the only one written, so nothing counts their attempts) and are committed once
  // the cause is gone, none dead-lettered.
  type Refusal = { what: string; code: string; refused: string; lifted: string; refuse: (es: Client, month: string, alias: string) => Promise<unknown>; lift: (es: Client, month: string, alias: string) => Promise<unknown> }
  const refusals: Refusal[] = [
    {
      // What Elasticsearch itself sets when a disk passes the flood-stage watermark.
      what: 'a flood-stage block', code: 'es-blocked', refused: 'the blocked writes refused and retried', lifted: 'the blocked records committed after the block lifted',
      refuse: (es, month) => es.indices.putSettings({ index: month, settings: { 'index.blocks.read_only_allow_delete': true } }),
      lift: (es, month) => es.indices.putSettings({ index: month, settings: { 'index.blocks.read_only_allow_delete': null } }),
    },
    {
      what: 'a month alias without a write index', code: 'es-refused', refused: 'the writes refused for want of a write index, and retried', lifted: 'the records committed once the alias has a write index',
      refuse: (es, month, alias) => es.indices.updateAliases({ actions: [{ add: { index: month, alias, is_write_index: false } }] }),
      lift: (es, month, alias) => es.indices.updateAliases({ actions: [{ add: { index: month, alias, is_write_index: true } }] }),
    },
    {
      // An old month closed to free heap, written to by a late alert.
      what: 'a closed month index', code: 'es-blocked', refused: 'the writes refused by the closed index, and retried', lifted: 'the records committed once the index is open',
      refuse: (es, month) => es.indices.close({ index: month }),
      lift: (es, month) => es.indices.open({ index: month, wait_for_active_shards: 1 }),
    },
  ]
  it.each(refusals)('waits out $what instead of dead-lettering, names it for /readyz, and commits only once the documents are in', async ({ code, refused, lifted, refuse, lift }) => {
    const s = await setUp()
    const indexer = await startIndexer(s)
    await s.send([alertEvent(0)])
    await waitFor(async () => ((await s.committed()) === 1 ? true : undefined), { what: 'the month index' })
    const names = indexNames(s.prefix).alerts
    const month = names.monthIndex('2026.11', FIRST_GENERATION)
    await refuse(s.es, month, names.monthAlias('2026.11'))
    onTestFinished(() => lift(s.es, month, names.monthAlias('2026.11')).then(() => undefined, () => undefined))
    await s.send([2, 4, 6, 8].map((n) => alertEvent(n)))
    await waitFor(() => (indexer.itemRetries() >= 2 ? true : undefined), { what: refused })
    expect(await s.committed()).toBe(1)
    expect(indexer.waiting()).toEqual([expect.objectContaining({ code, index: names.monthAlias('2026.11'), documents: 4 })])
    await lift(s.es, month, names.monthAlias('2026.11'))
    await waitFor(async () => ((await s.committed()) === 5 ? true : undefined), { what: lifted })
    expect(indexer.waiting()).toEqual([])
    expect(await s.count()).toBe(5)
    const admin = s.kafka.admin()
    await admin.connect()
    const deadLetters = await admin.fetchTopicOffsets(s.deadLetterTopic).finally(() => admin.disconnect())
    expect(deadLetters.every((p) => p.high === '0')).toBe(true)
  })

  it('commits nothing while Elasticsearch is unreachable, so a successor indexes everything', async () => {
    const s = await setUp()
    const down = await startIndexer(s, { esNode: 'http://127.0.0.1:9' })
    await s.send(Array.from({ length: 20 }, (_, i) => alertEvent(i)))
    await waitFor(() => (down.failedAttempts() >= 3 ? true : undefined), { what: 'three failed attempts' })
    // Retried for as long as it takes, but logged at a bounded rate.
    expect(down.lines.filter((l) => typeof l.msg === 'string' && l.msg.endsWith('failed; retrying')).length).toBe(1)
    await down.stop()
    expect(await s.committed()).toBe(0)
    await startIndexer(s)
    await waitFor(async () => ((await s.count()) === 20 ? true : undefined), { what: 'all 20 documents after the outage' })
  })

  it('on close writes what it holds and commits it, so a successor has nothing to redo', async () => {
    const s = await setUp()
    const first = await startIndexer(s)
    await waitFor(() => (first.joined() ? true : undefined), { what: 'the first indexer in its group' })
    await s.send(Array.from({ length: 300 }, (_, i) => alertEvent(i)))
    await waitFor(() => (first.indexed() > 0 ? true : undefined), { what: 'the first documents' })
    await first.stop()
    expect(await s.committed()).toBe(300)
    const successor = await startIndexer(s)
    await waitFor(() => (successor.joined() ? true : undefined), { what: 'the successor in its group' })
    await s.send([alertEvent(5000)])
    await waitFor(async () => ((await s.committed()) === 301 ? true : undefined), { what: 'the marker committed' })
    expect(successor.indexed()).toBe(1)
    expect(await s.count()).toBe(301)
  })

  it('loses nothing when a second instance joins mid-stream and the group rebalances', async () => {
    const s = await setUp()
    const first = await startIndexer(s, { flushBytes: 4096 })
    await waitFor(() => (first.joined() ? true : undefined), { what: 'the first indexer in its group' })
    for (let i = 0; i < 10; i++) await s.send(Array.from({ length: 100 }, (_, k) => alertEvent(i * 100 + k)))
    const second = await startIndexer(s, { flushBytes: 4096 })
    for (let i = 10; i < 20; i++) await s.send(Array.from({ length: 100 }, (_, k) => alertEvent(i * 100 + k)))
    await waitFor(() => (second.joined() ? true : undefined), { what: 'the second indexer in the group' })
    await waitFor(async () => ((await s.committed()) === 2000 ? true : undefined), { what: 'every record committed by the group' })
    expect(await s.count()).toBe(2000)
  })

  it('keeps the newest incident version whatever order versions arrive in', async () => {
    const s = await setUp()
    await startIndexer(s)
    const incident = (version: number, owner: string | null) => ({
      id: 'inc-0123456789abcdef01234567', title: 'Checkout errors', status: 'open', severity: 'critical', services: ['checkout'], environment: 'production',
      groupKey: 'checkout|production', openedAt: '2026-11-30T08:00:00.000Z', resolvedAt: null, resolvedBy: null, lastEventAt: '2026-11-30T08:05:00.000Z',
      alertCount: 1, alerts: [], reports: [], customerImpact: false, owner, acknowledgedAt: version >= 2 ? '2026-11-30T08:10:00.000Z' : null, acknowledgedBy: null,
      problemIds: [], postmortem: { required: true, reasons: ['severity critical'], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version,
    })
    await s.sendIncidents([incident(3, 'carol'), incident(1, null)])
    await s.sendIncidents([incident(2, 'bob')])
    // Done when the group has committed past all three records: each was applied or refused by then.
    await waitFor(async () => ((await s.committed(s.incidentTopic)) >= 3 ? true : undefined), { what: 'all three incident versions consumed' })
    const alias = indexNames(s.prefix).incidents.alias
    await s.es.indices.refresh({ index: alias })
    const final = (await s.es.get<{ owner: string; version: number; timeToAcknowledgeMs: number }>({ index: alias, id: 'inc-0123456789abcdef01234567' }))._source!
    expect(final).toMatchObject({ owner: 'carol', version: 3, timeToAcknowledgeMs: 10 * 60_000 })
  })

  it('makes the incidents index and alias again when they were deleted by hand, and dead-letters nothing', async () => {
    const s = await setUp()
    const indexer = await startIndexer(s)
    const alias = indexNames(s.prefix).incidents.alias
    const incident = (id: string, version: number) => ({
      id, title: 'Checkout errors', status: 'open', severity: 'critical', services: ['checkout'], environment: 'production',
      groupKey: 'checkout|production', openedAt: '2026-11-30T08:00:00.000Z', resolvedAt: null, resolvedBy: null, lastEventAt: '2026-11-30T08:05:00.000Z',
      alertCount: 1, alerts: [], reports: [], customerImpact: false, owner: null, acknowledgedAt: null, acknowledgedBy: null,
      problemIds: [], postmortem: { required: false, reasons: [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version,
    })
    await s.sendIncidents([incident('inc-0000000000000000000000a1', 1)])
    await waitFor(async () => ((await s.committed(s.incidentTopic)) === 1 ? true : undefined), { what: 'the first incident written' })
    await s.es.indices.delete({ index: indexNames(s.prefix).incidents.first })
    expect(await s.es.indices.existsAlias({ name: alias })).toBe(false)
    // Alerts keep flowing meanwhile, so a failing incident write would count towards its attempts.
    await s.send([alertEvent(1), alertEvent(3)])
    await s.sendIncidents([incident('inc-0000000000000000000000a2', 1), incident('inc-0000000000000000000000a1', 2)])
    await waitFor(async () => ((await s.committed(s.incidentTopic)) === 3 ? true : undefined), { what: 'both incident versions written after the deletion' })
    await s.es.indices.refresh({ index: alias })
    const found = await s.es.search<{ version: number }>({ index: alias, query: { match_all: {} } })
    expect(found.hits.hits.map((h) => [h._id, h._source?.version]).sort()).toEqual([['inc-0000000000000000000000a1', 2], ['inc-0000000000000000000000a2', 1]])
    expect(indexer.itemRetries()).toBeGreaterThan(0)
    const admin = s.kafka.admin()
    await admin.connect()
    const deadLetters = await admin.fetchTopicOffsets(s.deadLetterTopic).finally(() => admin.disconnect())
    expect(deadLetters.every((p) => p.high === '0')).toBe(true)
  })

  it('writes incidents in a lane of their own while alert bulk requests are held up, committing each lane only as far as it is durable', async () => {
    const s = await setUp()
    const hold = holdingAlertBulks(s.es, s.prefix)
    // One request slot per lane: in a shared lane the incident would wait behind the held alert request.
    await startIndexer(s, { writer: hold.client, ownLane: [s.incidentTopic], concurrency: 1 })
    await s.send(Array.from({ length: 20 }, (_, i) => alertEvent(i)))
    await waitFor(() => (hold.held() > 0 ? true : undefined), { what: 'an alert bulk request held' })
    const id = 'inc-00000000000000000000abcd'
    await s.sendIncidents([{
      id, title: 'Checkout errors', status: 'open', severity: 'critical', services: ['checkout'], environment: 'production',
      groupKey: 'checkout|production', openedAt: '2026-11-30T08:00:00.000Z', resolvedAt: null, resolvedBy: null, lastEventAt: '2026-11-30T08:05:00.000Z',
      alertCount: 1, alerts: [], reports: [], customerImpact: false, owner: null, acknowledgedAt: null, acknowledgedBy: null,
      problemIds: [], postmortem: { required: false, reasons: [], scheduledFor: null, owner: null }, notes: [], reopenCount: 0, version: 1,
    }])
    await waitFor(async () => ((await s.committed(s.incidentTopic)) === 1 ? true : undefined), { what: 'the incident committed while alerts are held' })
    expect(await s.es.exists({ index: indexNames(s.prefix).incidents.alias, id })).toBe(true)
    // The alerts are not in Elasticsearch yet, so their offsets are not committed.
    expect(await s.committed()).toBe(0)
    expect(await s.count()).toBe(0)
    hold.release()
    await waitFor(async () => ((await s.committed()) === 20 ? true : undefined), { what: 'the alerts committed once released' })
    expect(await s.count()).toBe(20)
  })
})

describe('a month index without its aliases', () => {
  it('gets them back, as the incidents index does, and the alerts partition moves on', { timeout: 60_000 }, async () => {
    const { kafka, admin, run, topics, es } = await indexerTopicsOfTest('month-alias', 1)
    await ensureIndices(es, run)
    const n = indexNames(run).alerts
    // The month's first index, restored from a snapshot without its aliases (or an alias removed by hand).
    await es.indices.create({ index: n.monthIndex('2026.12', FIRST_GENERATION) })
    const a = { id: '1'.padStart(32, '0'), source: 'alertmanager', fingerprint: 'fp', status: 'firing', severity: 'warning', service: 's', environment: 'production', title: 't', labels: {}, startsAt: '2026-12-01T00:00:00.000Z', receivedAt: '2026-12-01T00:00:00.000Z', links: [], origin: {} }
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    await producer.send({ topic: topics.alerts, acks: -1, messages: [{ key: 'k', value: JSON.stringify(a) }] })
    const { logger } = captureLogs()
    const consumer = kafka.consumer({ groupId: `${run}-live`, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topics: Object.values(topics), fromBeginning: true })
    const live = liveWrites(es, run, topics)
    const indexing = new IndexingConsumer({ consumer, logger, documentFor: live.documentFor, pipeline: { ...live.pipeline, es, logger, deadLetter: async () => undefined, minBackoffMs: 50, maxBackoffMs: 200 } })
    await consumer.run({ ...IndexingConsumer.runOptions, eachBatch: indexing.handler })
    onTestFinished(() => indexing.close(Object.values(topics), 1000))
    // Until 2026-12-06 its creation was skipped as done, and the write waited for the alias for ever.
    await waitFor(async () => {
      const [c] = await admin.fetchOffsets({ groupId: `${run}-live`, topics: [topics.alerts] })
      return c!.partitions[0]!.offset === '1' ? true : undefined
    }, { what: 'the alert committed', timeoutMs: 30_000 })
    expect(await es.indices.existsAlias({ name: n.monthAlias('2026.12') })).toBe(true)
    await es.indices.refresh({ index: n.alias })
    expect((await es.count({ index: n.alias })).count).toBe(1)
  })
})
