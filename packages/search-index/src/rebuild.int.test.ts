import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners, type Kafka } from 'kafkajs'
import type { Client } from '@elastic/elasticsearch'
import { captureLogs, cleanupIndices, connectedAdmin, createTopics, esClient, kafkaClient, uniqueName, waitFor } from '@opsreview/testing'
import { liveWrites } from './documents.ts'
import { IndexingConsumer } from './indexing-consumer.ts'
import { rebuildFromKafka, replay } from './rebuild.ts'
import { ensureIndices, indexNames, liveAlertMonths } from './templates.ts'
import { indexerTopicsOfTest } from './test-topics.ts'

const alert = (n: number, receivedAt: string) => ({
  id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n}`, status: 'firing', severity: 'warning', service: 's',
  environment: 'production', title: `a${n}`, labels: { alertname: 'A' }, startsAt: receivedAt, receivedAt, links: [], origin: {},
})
const minutesAfter = (base: string, minutes: number) => new Date(Date.parse(base) + minutes * 60_000).toISOString()
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

/**
 * Replays partition 0 of the alerts topic into fresh indices of the prefix `run`, its range `to` (from `from`
 * when given, as a catch-up pass does); what the replay told lost.
 */
async function replayAlertsOf(kafka: Kafka, run: string, topics: { alerts: string; incidents: string; problems: string }, to: { low: bigint; high: bigint }, from?: bigint) {
  const es = esClient()
  cleanupIndices(run)
  await ensureIndices(es, run)
  const live = liveWrites(es, run, topics)
  const key = `${topics.alerts}/0`
  const lost: [string, number][] = []
  await replay({ kafka, es, prefix: run, topics, logger: captureLogs().logger }, {
    topics: [topics.alerts], documentFor: live.documentFor, to: new Map([[key, to]]), ...(from === undefined ? {} : { from: new Map([[key, from]]) }),
    groupId: `${run}-replay`, ...live.pipeline, logStartCheckMs: 200, onLost: (k, beforeMs) => lost.push([k, beforeMs]),
  })
  return { es, lost }
}

/** Every document behind the three read aliases, keyed by kind and id, so two prefixes compare. */
async function everything(es: Client, prefix: string) {
  const n = indexNames(prefix)
  const out: Record<string, unknown> = {}
  for (const [kind, alias] of [['alerts', n.alerts.alias], ['incidents', n.incidents.alias], ['problems', n.problems.alias]] as const) {
    await es.indices.refresh({ index: alias })
    for (const h of (await es.search({ index: alias, size: 1000, query: { match_all: {} } })).hits.hits) out[`${kind}/${h._id}`] = h._source
  }
  return out
}

/** A live indexer over the three topics into `prefix`, wired as services/indexer wires it. */
async function liveIndexer(kafka: Kafka, es: Client, prefix: string, topics: { alerts: string; incidents: string; problems: string }) {
  await ensureIndices(es, prefix)
  const { logger } = captureLogs()
  const consumer = kafka.consumer({ groupId: `${prefix}-live`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: Object.values(topics), fromBeginning: true })
  const live = liveWrites(es, prefix, topics)
  const indexing = new IndexingConsumer({
    consumer, logger, documentFor: live.documentFor,
    pipeline: { ...live.pipeline, es, logger, deadLetter: async () => undefined },
  })
  await consumer.run({ ...IndexingConsumer.runOptions, eachBatch: indexing.handler })
  onTestFinished(() => indexing.close(Object.values(topics), 2000))
  const admin = await connectedAdmin(kafka)
  /** Resolves when the live group has committed every record on the topics. */
  const caughtUp = () => waitFor(async () => {
    for (const topic of Object.values(topics)) {
      const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: `${prefix}-live`, topics: [topic] })])
      for (const e of ends) if (Number(committed!.partitions.find((p) => p.partition === e.partition)?.offset ?? -1) < Number(e.high) && Number(e.high) > Number(e.low)) return undefined
    }
    return true
  }, { what: `${prefix} caught up` })
  return { caughtUp }
}

/** The three topics of a test, its index prefix (cleaned up after it), and a producer. */
async function rebuildSetup(name: string) {
  const { kafka, admin, run, topics, es } = await indexerTopicsOfTest(name)
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  onTestFinished(() => producer.disconnect())
  return { kafka, admin, run, topics, es, producer }
}

describe('rebuilding the index from Kafka', () => {
  it('makes a corrupted index equal to one the live pipeline built, while the live indexer keeps writing', { timeout: 90_000 }, async () => {
    const { kafka, admin, run, topics, es, producer } = await rebuildSetup('rebuild')
    const sendAlerts = (partition: number, alerts: ReturnType<typeof alert>[]) =>
      producer.send({ topic: topics.alerts, acks: -1, messages: alerts.map((a) => ({ partition, key: a.id, value: JSON.stringify(a), timestamp: String(Date.parse(a.receivedAt)) })) })
    const send = (topic: string, docs: { id: string }[]) => producer.send({ topic, acks: -1, messages: docs.map((d) => ({ key: d.id, value: JSON.stringify(d) })) })

    // October alerts first on partition 0 (retention will take them), then November ones everywhere.
    await sendAlerts(0, Array.from({ length: 10 }, (_, i) => alert(i, minutesAfter('2026-10-15T00:00:00.000Z', i))))
    // Sent by a receiver whose clock ran ahead of the one that sent the first record the log will keep:
    // received, by its clock, after that record's timestamp, yet before it in the log.
    const ahead = alert(50, minutesAfter('2026-11-30T00:00:00.000Z', 2))
    await producer.send({ topic: topics.alerts, acks: -1, messages: [{ partition: 0, key: ahead.id, value: JSON.stringify(ahead), timestamp: String(Date.parse('2026-10-15T00:10:00.000Z')) }] })
    for (let p = 0; p < 3; p++) await sendAlerts(p, Array.from({ length: 10 }, (_, i) => alert(100 + p * 10 + i, minutesAfter('2026-11-30T00:00:00.000Z', p * 10 + i))))
    await send(topics.incidents, Array.from({ length: 10 }, (_, i) => incident(i, 1)))
    await send(topics.incidents, Array.from({ length: 10 }, (_, i) => incident(i, 1 + (i % 3))))
    await send(topics.problems, Array.from({ length: 5 }, (_, i) => problem(i, 1 + (i % 2))))

    // The reference is never corrupted; the live index is, then rebuilt.
    const reference = await liveIndexer(kafka, es, `${run}-ref`, topics)
    const live = await liveIndexer(kafka, es, run, topics)
    await reference.caughtUp()
    await live.caughtUp()
    expect(Object.keys(await everything(es, run))).toHaveLength(41 + 10 + 5)

    // Retention: the October records leave the log; their documents stay only in the index.
    // Retried: the admin client may not know the new topic's leaders yet.
    await waitFor(() => admin.deleteTopicRecords({ topic: topics.alerts, partitions: [{ partition: 0, offset: '11' }] }).then(() => true), { what: 'the October records deleted' })

    // Corruption: documents deleted, documents altered (their versions kept), documents that never existed.
    const n = indexNames(run)
    const recent = alert(105, minutesAfter('2026-11-30T00:00:00.000Z', 5))
    await es.delete({ index: n.incidents.alias, id: incident(3, 1).id, refresh: true })
    await es.delete({ index: n.alerts.indexFor(recent.startsAt), id: recent.id, refresh: true })
    await es.index({ index: n.problems.alias, id: problem(1, 1).id, document: { ...problem(1, 2), status: 'dismissed', title: 'wrong' }, version: 2, version_type: 'external_gte', refresh: true })
    await es.index({ index: n.alerts.indexFor(recent.startsAt), id: alert(112, recent.startsAt).id, document: { ...alert(112, recent.startsAt), title: 'wrong', eventAt: recent.startsAt }, refresh: true })
    // Altered within the minutes past the first record kept that are carried over too: the log's version stands.
    const early = alert(101, minutesAfter('2026-11-30T00:00:00.000Z', 1))
    await es.index({ index: n.alerts.indexFor(early.startsAt), id: early.id, document: { ...early, title: 'wrong', eventAt: early.startsAt }, refresh: true })
    await es.index({ index: n.incidents.alias, id: 'inc-ffffffffffffffffffffffff', document: { ...incident(99, 1), id: 'inc-ffffffffffffffffffffffff' }, refresh: true })
    const invented = alert(999, '2026-12-01T00:00:00.000Z')
    await liveAlertMonths(es, run).prepare(new Set([n.alerts.indexFor(invented.startsAt)]))
    await es.index({ index: n.alerts.indexFor(invented.startsAt), id: invented.id, document: { ...invented, eventAt: invented.startsAt }, refresh: true })
    expect(await everything(es, run)).not.toEqual(await everything(es, `${run}-ref`))

    // New records arrive while the rebuild runs; the live indexer writes them through the aliases.
    const logs = captureLogs()
    const rebuilding = rebuildFromKafka({ kafka, es, prefix: run, topics, logger: logs.logger })
    await sendAlerts(1, Array.from({ length: 10 }, (_, i) => alert(200 + i, minutesAfter('2026-12-01T01:00:00.000Z', i))))
    await send(topics.incidents, [incident(0, 3), incident(20, 1)])
    const result = await rebuilding
    await reference.caughtUp()
    await live.caughtUp()

    expect(await everything(es, run)).toEqual(await everything(es, `${run}-ref`))
    // The October alerts were carried over: the log no longer has them, so it could not vouch for them. So was
    // the one of the receiver ahead, though its receivedAt is past the first record kept.
    expect(result.carriedOver).toBe(11)
    expect(result.oldestRetained).toBe(minutesAfter('2026-11-30T00:00:00.000Z', 0))
    // The log says how far past that bound the copy reached.
    expect(logs.lines.find((l) => l.msg === 'rebuild: alert documents older than the log carried over')).toMatchObject({
      carriedOver: 11, oldestRetained: result.oldestRetained, copiedReceivedBefore: minutesAfter('2026-11-30T00:00:00.000Z', 5),
    })
    // Readers see only the fresh indices; the old ones are gone.
    const aliases = await es.indices.getAlias({ index: `${run}-alerts-*,${run}-incidents-*,${run}-problems-*` })
    expect(Object.keys(aliases).filter((index) => !result.fresh.includes(index))).toEqual([])
    expect(result.fresh).toEqual(expect.arrayContaining([n.alerts.monthIndex('2026.10', result.generation), n.alerts.monthIndex('2026.11', result.generation), `${run}-incidents-${result.generation}`]))
    for (const index of result.replaced) expect(await es.indices.exists({ index })).toBe(false)
  })

  /**
   * A replay of one alert partition of `count` records whose range was read from 0, after retention took
   * the records before offset `deleteTo`; what it said it lost, and its log.
   */
  async function replayTrimmed(count: number, deleteTo: number) {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    const run = uniqueName('rebuild-trimmed')
    const topics = { alerts: `${run}-alerts`, incidents: `${run}-incidents`, problems: `${run}-problems` }
    await createTopics(admin, [topics.alerts], 1)
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const sent = Array.from({ length: count }, (_, i) => alert(i + 1, minutesAfter('2026-11-30T00:00:00.000Z', i + 1)))
    await producer.send({ topic: topics.alerts, acks: -1, messages: sent.map((a) => ({ partition: 0, key: a.id, value: JSON.stringify(a), timestamp: String(Date.parse(a.receivedAt)) })) })
    const to = new Map([[`${topics.alerts}/0`, { low: 0n, high: BigInt(count) }]])
    await waitFor(() => admin.deleteTopicRecords({ topic: topics.alerts, partitions: [{ partition: 0, offset: String(deleteTo) }] }).then(() => true), { what: 'the records deleted' })
    const { logger, lines } = captureLogs()
    const es = esClient()
    cleanupIndices(run)
    await ensureIndices(es, run)
    const live = liveWrites(es, run, topics)
    const lost: [string, number][] = []
    const before = Date.now()
    await replay({ kafka, es, prefix: run, topics, logger }, {
      topics: [topics.alerts], documentFor: live.documentFor, to, groupId: `${run}-replay`, ...live.pipeline, logStartCheckMs: 200,
      onLost: (key, beforeMs) => lost.push([key, beforeMs]),
    })
    return { key: `${topics.alerts}/0`, sent, lost, lines, before }
  }

  it('moves the aliases only once what arrived during the replay is in the fresh indices: no reader sees an older version, nor misses a new incident', { timeout: 90_000 }, async () => {
    const { kafka, run, topics, es, producer } = await rebuildSetup('rebuild-window')
    const send = (docs: { id: string }[]) => producer.send({ topic: topics.incidents, acks: -1, messages: docs.map((d) => ({ key: d.id, value: JSON.stringify(d) })) })
    const n = indexNames(run)
    /** The incident as the review reads it, through the alias. */
    const seen = async (id: string) => {
      await es.indices.refresh({ index: n.incidents.alias })
      return (await es.search<{ version: number; status: string }>({ index: n.incidents.alias, query: { ids: { values: [id] } } })).hits.hits.map((h) => [h._source!.version, h._source!.status])
    }
    await send([incident(1, 1)])
    await liveIndexer(kafka, es, run, topics)
    await waitFor(async () => ((await seen(incident(1, 1).id))[0]?.[0] === 1 ? true : undefined), { what: 'v1 indexed' })

    // Once the first pass read its ranges, incident 1 resolves (v2) and incident 2 opens: the live indexer
    // writes both through the aliases, into the old index, while the rebuild replays.
    let rangesRead = 0
    const wrapped: Kafka = Object.create(kafka)
    wrapped.admin = (cfg) => {
      const a = kafka.admin(cfg)
      const fetchTopicOffsets = a.fetchTopicOffsets.bind(a)
      a.fetchTopicOffsets = async (topic: string) => {
        const r = await fetchTopicOffsets(topic)
        if (++rangesRead === 3) {
          await send([incident(1, 2), incident(2, 1)])
          await waitFor(async () => ((await seen(incident(2, 1).id)).length === 1 && (await seen(incident(1, 1).id))[0]?.[0] === 2 ? true : undefined), { what: 'the live indexer wrote both' })
        }
        return r
      }
      return a
    }
    // What a reader sees the moment the aliases move.
    const atSwitch: unknown[] = []
    const updateAliases = es.indices.updateAliases.bind(es.indices)
    es.indices.updateAliases = (async (...args: Parameters<typeof updateAliases>) => {
      const r = await updateAliases(...args)
      atSwitch.push([await seen(incident(1, 1).id), await seen(incident(2, 1).id)])
      return r
    }) as typeof es.indices.updateAliases
    await rebuildFromKafka({ kafka: wrapped, es, prefix: run, topics, logger: captureLogs().logger })
    // Until 2026-12-06 the aliases moved before the catch-up: v1 open again, and incident 2 missing.
    expect(atSwitch[0]).toEqual([[[2, 'resolved']], [[1, 'open']]])
    expect([await seen(incident(1, 1).id), await seen(incident(2, 1).id)]).toEqual([[[2, 'resolved']], [[1, 'open']]])
  })

  it('ends a replay whose partitions lost the rest of their range to retention after it was read, rather than wait for ever', { timeout: 60_000 }, async () => {
    const { key, lost, lines, before } = await replayTrimmed(3, 3)
    // The rebuild then carries over every alert document received before that: none of that partition's was replayed.
    expect(lost).toEqual([[key, expect.any(Number)]])
    expect(lost[0]![1]).toBeGreaterThanOrEqual(before)
    expect(lines.filter((l) => l.msg === "rebuild: the rest of a partition's range went to retention meanwhile")).toMatchObject([{ partition: key, logStart: '3', rangeEnd: '3' }])
  })

  it('tells the records retention removed before the replay read them, by the time of the first record read after them', { timeout: 60_000 }, async () => {
    const { key, sent, lost } = await replayTrimmed(5, 2)
    expect(lost).toEqual([[key, Date.parse(sent[2]!.receivedAt)]])
  })

  it('reads a partition to its end when transaction markers lie in its range and end it, which kafkajs hands no reader: no loss told', { timeout: 30_000 }, async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    const run = uniqueName('rebuild-txn')
    const topics = { alerts: `${run}-alerts`, incidents: `${run}-incidents`, problems: `${run}-problems` }
    await createTopics(admin, [topics.alerts], 1)
    onTestFinished(() => admin.disconnect())
    const sent = Array.from({ length: 5 }, (_, i) => alert(i + 1, minutesAfter('2026-11-30T00:00:00.000Z', i + 1)))
    const message = (a: (typeof sent)[number]) => ({ partition: 0, key: a.id, value: JSON.stringify(a), timestamp: String(Date.parse(a.receivedAt)) })
    // Another client's transactions between the receiver's records: a commit marker after the third alert,
    // and one after the fifth that ends the partition (offsets 0–1, 2 and its marker 3, 4, 5 and its marker 6).
    const plain = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    const writer = kafka.producer({ transactionalId: uniqueName('rebuild-txn'), idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
    await plain.connect()
    await writer.connect()
    onTestFinished(async () => { await plain.disconnect(); await writer.disconnect() })
    const inTransaction = async (a: (typeof sent)[number]) => {
      const t = await writer.transaction()
      await t.send({ topic: topics.alerts, messages: [message(a)] })
      await t.commit()
    }
    await plain.send({ topic: topics.alerts, acks: -1, messages: sent.slice(0, 2).map(message) })
    await inTransaction(sent[2]!)
    await plain.send({ topic: topics.alerts, acks: -1, messages: [message(sent[3]!)] })
    await inTransaction(sent[4]!)
    // The coordinator writes a marker after the commit returns: the end (read committed) then passes it.
    await waitFor(async () => ((await admin.fetchTopicOffsets(topics.alerts))[0]!.high === '7' ? true : undefined), { what: 'the last transaction ended by its marker' })
    const { es, lost } = await replayAlertsOf(kafka, run, topics, { low: 0n, high: 7n })
    expect(lost).toEqual([])
    const n = indexNames(run)
    await es.indices.refresh({ index: n.alerts.alias })
    expect((await es.search({ index: n.alerts.alias, size: 10, query: { match_all: {} } })).hits.hits.map((h) => h._id).sort()).toEqual(sent.map((a) => a.id).sort())
  })

  it('takes a catch-up pass, which starts where the pass before it ended, for no loss: the log still holds what lies before it', { timeout: 60_000 }, async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    const run = uniqueName('rebuild-catch-up')
    const topics = { alerts: `${run}-alerts`, incidents: `${run}-incidents`, problems: `${run}-problems` }
    await createTopics(admin, [topics.alerts], 1)
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const sent = Array.from({ length: 5 }, (_, i) => alert(i + 1, minutesAfter('2026-11-30T00:00:00.000Z', i + 1)))
    await producer.send({ topic: topics.alerts, acks: -1, messages: sent.map((a) => ({ partition: 0, key: a.id, value: JSON.stringify(a), timestamp: String(Date.parse(a.receivedAt)) })) })
    // The first pass read offsets 0–1; these three arrived during it.
    const { lost } = await replayAlertsOf(kafka, run, topics, { low: 0n, high: 5n }, 2n)
    // Taken for a loss, its first record's time became the carry-over bound: every alert document the old indices
    // held from before it, those the log never had too, was copied into the fresh ones.
    expect(lost).toEqual([])
  })
})
