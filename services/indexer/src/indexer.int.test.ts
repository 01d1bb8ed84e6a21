import { describe, expect, it, onTestFinished } from 'vitest'
import { errors, type Client } from '@elastic/elasticsearch'
import { Partitioners, type Consumer, type Kafka } from 'kafkajs'
import { readConfig } from '@opsreview/config'
import { captureLogs, cleanupIndices, connectedAdmin, createTopics, esClient, kafkaClient, readTopicToEnd, serve, uniqueName, waitFor } from '@opsreview/testing'
import { FIRST_GENERATION, indexNames } from '@opsreview/search-index/templates'
import { indexerConfigSpec } from './config.ts'
import { createIndexer } from './indexer.ts'

function alertEvent(n: number, overrides: Record<string, unknown> = {}) {
  return {
    id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n}`, status: 'firing', severity: 'critical',
    service: `svc-${n % 3}`, environment: 'production', title: `Alert ${n}`, labels: { alertname: 'HighLatency', service: `svc-${n % 3}` },
    startsAt: '2026-11-01T00:00:00.000Z', receivedAt: '2026-11-01T00:00:01.000Z', links: [], origin: {},
    ...overrides,
  }
}

interface Envelope {
  stage: string
  reason: string
  error: string
  origin: { topic: string; partition: number; offset: string }
  detail?: Record<string, unknown>
  replay: { kind: string; topic: string; key: string | null; value: string }
}

/**
 * One indexer as main.ts builds it, on this test's own topics, group and index prefix, with its app served.
 * `kafka` and `writer` stand in for the client and for Elasticsearch as the indexer sees them.
 */
async function setUp(env: Record<string, string> = {}, deps: { kafka?: Kafka; writer?: (es: Client) => Client; onFatal?: (err: unknown) => void; breakerResetMs?: number } = {}) {
  const kafka = deps.kafka ?? kafkaClient()
  const admin = await connectedAdmin(kafka)
  const alerts = uniqueName('alerts')
  const t = { alerts, incidents: `${alerts}-incidents`, problems: `${alerts}-problems`, deadLetter: `${alerts}-dlq` }
  await createTopics(admin, Object.values(t))
  const prefix = uniqueName('idx')
  const group = `${prefix}-indexer`
  cleanupIndices(prefix)
  const parsed = readConfig(indexerConfigSpec, {
    OPSREVIEW_TOPIC_ALERTS: t.alerts, OPSREVIEW_TOPIC_INCIDENTS: t.incidents, OPSREVIEW_TOPIC_PROBLEMS: t.problems, OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: t.deadLetter,
    OPSREVIEW_INDEXER_GROUP: group, OPSREVIEW_ES_INDEX_PREFIX: prefix, OPSREVIEW_INDEXER_MIN_BACKOFF: '20ms', OPSREVIEW_INDEXER_MAX_BACKOFF: '200ms',
    OPSREVIEW_CONSUMER_HEALTH_INTERVAL: '200ms', ...env,
  })
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'))
  const es = esClient()
  const { logger, lines } = captureLogs()
  let closed = false
  const onFatal = deps.onFatal && ((err: unknown) => { closed = true; deps.onFatal!(err) })
  const indexer = createIndexer({ config: parsed.value, logger, kafka, es: deps.writer ? deps.writer(es) : es, onFatal, ...(deps.breakerResetMs === undefined ? {} : { breakerResetMs: deps.breakerResetMs }) })
  await indexer.start()
  onTestFinished(async () => { if (!closed) await indexer.close(); await es.close() })
  const url = await serve(indexer.app)
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  onTestFinished(() => producer.disconnect())
  const alias = indexNames(prefix).alerts.alias
  return {
    kafka, es, t, prefix, group, lines, url,
    /** Sends each value (an object as JSON, a string as it is) to one partition, so they interleave in order there. */
    send: (values: (object | string)[], partition = 0) => producer.send({ topic: t.alerts, acks: -1, messages: values.map((v) => ({ key: typeof v === 'string' ? 'raw' : (v as { fingerprint: string }).fingerprint, partition, value: typeof v === 'string' ? v : JSON.stringify(v) })) }),
    committed: async () => {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [t.alerts] })
      return offsets!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
    },
    committedOf: async (partition: number) => {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [t.alerts] })
      return Math.max(0, Number(offsets!.partitions.find((p) => p.partition === partition)?.offset ?? -1))
    },
    ends: async () => (await admin.fetchTopicOffsets(t.alerts)).reduce((sum, p) => sum + Number(p.high), 0),
    ids: async () => {
      await es.indices.refresh({ index: alias })
      const res = await es.search<{ id: string }>({ index: alias, size: 1000, _source: ['id'] })
      return res.hits.hits.map((h) => h._source!.id).sort()
    },
    deadLetters: async () => (await readTopicToEnd(kafka, t.deadLetter)).map((m) => ({ key: m.key, partition: m.partition, ...(JSON.parse(m.value) as Envelope) })),
    readyz: async () => { const res = await fetch(`${url}/readyz`); return { status: res.status, body: (await res.json()) as Record<string, unknown>, nosniff: res.headers.get('x-content-type-options') } },
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    /** SIGTERM's path: what main.ts calls on shutdown. */
    close: async () => { closed = true; await indexer.close() },
  }
}

const metric = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('the indexer survives whatever is on its topics', () => {
  it('dead-letters each poison record once with its reason, indexes every normal alert, and commits to the end', async () => {
    const s = await setUp()
    const normal = Array.from({ length: 12 }, (_, i) => alertEvent(i))
    // What an older receiver let through: `9999-12-31T23:59:59-23:59` read as an instant in year 10000.
    const year10000 = alertEvent(100, { startsAt: '+010000-01-01T23:58:59.000Z' })
    const hugeService = 'x'.repeat(40 * 1024)
    const hugeLabel = alertEvent(101, { service: hugeService, labels: { alertname: 'HighLatency', service: hugeService } })
    const unparseable = '{"id": "not json'
    const mappingConflict = alertEvent(102, { title: { text: 'an object where the mapping has text' } })
    const poison = [JSON.stringify(year10000), JSON.stringify(hugeLabel), unparseable, JSON.stringify(mappingConflict)]
    // Not poison: valid JSON over several lines, as another producer may write it. A bulk body is one JSON per
    // line, so sent as it is it would break the whole request, for ever.
    const pretty = JSON.stringify(normal[5], null, 2)
    await s.send([normal[0]!, normal[1]!, year10000, normal[2]!, normal[3]!, hugeLabel, normal[4]!, unparseable, pretty, mappingConflict, normal[6]!, normal[7]!])
    // And the same once more behind it, on another partition, after the first ones are in.
    await s.send(normal.slice(8), 1)

    const end = await s.ends()
    await waitFor(async () => ((await s.committed()) === end ? true : undefined), { what: 'every record committed', timeoutMs: 30_000 })
    expect(await s.ids()).toEqual(normal.map((a) => a.id).sort())
    const dead = await s.deadLetters()
    expect(dead.map((d) => d.reason).sort()).toEqual(['invalid-target', 'mapping-rejected', 'term-too-long', 'unparseable'])
    const byReason = new Map(dead.map((d) => [d.reason, d]))
    for (const d of dead) {
      expect(d).toMatchObject({ stage: 'indexer', origin: { topic: s.t.alerts, partition: 0 }, replay: { kind: 'record', topic: s.t.alerts } })
      expect(d.key).toBe(`${s.t.alerts}/0/${d.origin.offset}`)
    }
    // The record itself, to put back after a fix.
    expect(byReason.get('invalid-target')!.replay.value).toBe(poison[0])
    expect(byReason.get('term-too-long')!.replay.value).toBe(poison[1])
    expect(byReason.get('term-too-long')!.detail).toMatchObject({ type: 'document_parsing_exception', status: 400 })
    expect(byReason.get('unparseable')!.replay.value).toBe(unparseable)
    expect(byReason.get('mapping-rejected')!.replay).toMatchObject({ key: 'fp-102', value: poison[3] })
    const text = await s.metrics()
    for (const reason of ['invalid-target', 'mapping-rejected', 'term-too-long', 'unparseable']) expect(metric(text, 'opsreview_dead_letters_total', `reason="${reason}"`)).toBe(1)
    const ready = await waitFor(async () => { const r = await s.readyz(); return r.status === 200 ? r : undefined }, { what: 'ready with nothing left behind' })
    expect(ready.nosniff).toBe('nosniff')
    expect(metric(await s.metrics(), 'opsreview_consumer_lag', 'partition="0"')).toBe(0)
  })

  it('dead-letters a record too large for the dead-letter topic without its copy, instead of retrying forever', async () => {
    const s = await setUp()
    // Fits the alert topic (1 MB), but not once escaped into an envelope: Kafka refuses that for good.
    const huge = '"'.repeat(700_000)
    await s.send([alertEvent(1), huge, alertEvent(2)])
    await waitFor(async () => ((await s.committed()) === 3 ? true : undefined), { what: 'every record committed' })
    const [dead, ...more] = await s.deadLetters()
    expect(more).toEqual([])
    expect(dead).toMatchObject({ reason: 'unparseable', origin: { topic: s.t.alerts, partition: 0, offset: '1' }, detail: { valueLength: huge.length } })
    expect(dead!.replay).toBeUndefined()
    expect((dead!.detail!.valueHead as string).length).toBe(16 * 1024)
    expect(await s.ids()).toEqual([alertEvent(1).id, alertEvent(2).id].sort())
  })

  it('writes each letter of a batch the dead-letter topic refuses for size once, on a topic of several partitions', async () => {
    // The dead-letter topic as an operator may have made it: 3 partitions (setUp's), 1 MB records. The
    // letters of one request go in one send, to every partition; the broker refuses the part of the one
    // with the large letter and appends the others.
    const s = await setUp()
    const huge = '"'.repeat(700_000)
    const small = Array.from({ length: 8 }, (_, i) => `{"not json ${i}`)
    await s.send([small[0]!, small[1]!, small[2]!, small[3]!, huge, small[4]!, small[5]!, small[6]!, small[7]!])
    await waitFor(async () => ((await s.committed()) === 9 ? true : undefined), { what: 'every record committed' })
    const dead = await s.deadLetters()
    // Until 2026-12-06 the letters sent to the other partitions were written again one by one: some twice.
    expect(dead.map((d) => Number(d.origin.offset)).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(new Set(dead.map((d) => d.partition)).size).toBeGreaterThan(1)
    expect(dead.find((d) => d.origin.offset === '4')!.replay).toBeUndefined()
    for (const d of dead.filter((l) => l.origin.offset !== '4')) expect(d.replay.value).toBe(small[Number(d.origin.offset) - (Number(d.origin.offset) > 4 ? 1 : 0)])
  })

  // A write block someone set, and the flood-stage block Elasticsearch sets when a node's disk fills (429):
  // an outage of one index, the operator's to lift, while the other months take writes.
  it.each([
    ['a write block', { 'index.blocks.write': true }, { 'index.blocks.write': null }],
    ['a flood-stage block', { 'index.blocks.read_only_allow_delete': true }, { 'index.blocks.read_only_allow_delete': null }],
  ])('keeps what one blocked month refuses (%s) while the others take writes, shows it, and indexes it once the block is lifted', async (_kind, block, lift) => {
    const s = await setUp({ OPSREVIEW_INDEXER_MAX_ITEM_ATTEMPTS: '3', OPSREVIEW_STALL_AFTER: '2s' })
    const october = indexNames(s.prefix).alerts.monthIndex('2026.10', FIRST_GENERATION)
    await s.send([alertEvent(0, { startsAt: '2026-10-15T00:00:00.000Z' }), alertEvent(1)])
    await waitFor(async () => ((await s.committed()) === 2 ? true : undefined), { what: 'both months created' })
    await s.es.indices.putSettings({ index: october, settings: block })
    onTestFinished(() => s.es.indices.putSettings({ index: october, settings: lift }).then(() => undefined))
    const blocked = alertEvent(50, { startsAt: '2026-10-20T00:00:00.000Z' })
    await s.send([blocked, alertEvent(51)])
    // Alerts keep coming to November on the other partitions, as they would: far more rounds than its 3 attempts.
    let next = 52
    await waitFor(async () => {
      await s.send([alertEvent(next++)], 1 + (next % 2))
      const retries = metric(await s.metrics(), 'opsreview_indexer_failures_total', 'code="es-blocked"') ?? 0
      return retries >= 8 || (await s.deadLetters()).length > 0 ? true : undefined
    }, { what: 'the blocked document retried past its attempts, or dead-lettered', timeoutMs: 30_000 })
    // Until 2026-12-06: dead-lettered as retries-exhausted (lastReason es-blocked) after its 3 attempts.
    expect(await s.deadLetters()).toEqual([])
    // Everything else is written; partition 0 commits nothing past the blocked record, the others reach their end.
    const end = await s.ends()
    await waitFor(async () => ((await s.ids()).length === end - 1 ? true : undefined), { what: 'every other alert indexed' })
    expect(await s.ids()).not.toContain(blocked.id)
    await waitFor(async () => ((await s.committedOf(1)) + (await s.committedOf(2)) === end - 4 ? true : undefined), { what: 'the other partitions committed' })
    expect(await s.committedOf(0)).toBe(2)
    // Shown: /readyz names the blocked month and the partition it holds back, and the retries are logged.
    const stalled = await waitFor(async () => { const r = await s.readyz(); return r.status === 503 ? r.body : undefined }, { what: '/readyz 503' })
    expect(stalled).toMatchObject({ stalled: true, breaker: 'closed', waiting: [{ reason: 'es-blocked', index: indexNames(s.prefix).alerts.monthAlias('2026.10'), documents: 1, partitions: { [`${s.t.alerts}/0`]: 1 } }] })
    expect(s.lines.some((l) => l.msg === 'elasticsearch refused a document for a retriable reason; retrying' && l.reason === 'es-blocked' && l.id === blocked.id)).toBe(true)

    await s.es.indices.putSettings({ index: october, settings: lift })
    await waitFor(async () => ((await s.committed()) === end ? true : undefined), { what: 'every record committed once the block lifted' })
    expect(await s.ids()).toContain(blocked.id)
    expect(await s.deadLetters()).toEqual([])
    await waitFor(async () => ((await s.readyz()).status === 200 ? true : undefined), { what: 'ready again' })
  })

  it('reports a stall truthfully: lag from the broker, /readyz 503 and opsreview_consumer_stalled 1 while the breaker is closed', async () => {
    // The shortest stall the indexer takes (1 s): /readyz turns 503 that long after the writes stop.
    const s = await setUp({ OPSREVIEW_STALL_AFTER: '1s' })
    const month = indexNames(s.prefix).alerts.monthIndex('2026.11', FIRST_GENERATION)
    await s.send([alertEvent(0)])
    await waitFor(async () => ((await s.committed()) === 1 ? true : undefined), { what: 'the month index' })
    await waitFor(async () => ((await s.readyz()).status === 200 ? true : undefined), { what: 'ready' })
    // Every write to the only target is refused for a retriable reason and nothing else is accepted:
    // no item can be blamed, so they wait, and the partition makes no progress.
    await s.es.indices.putSettings({ index: month, settings: { 'index.blocks.write': true } })
    onTestFinished(() => s.es.indices.putSettings({ index: month, settings: { 'index.blocks.write': null } }).then(() => undefined))
    await s.send([alertEvent(1), alertEvent(2), alertEvent(3)])
    const stalled = await waitFor(async () => { const r = await s.readyz(); return r.status === 503 ? r.body : undefined }, { what: '/readyz 503' })
    expect(stalled).toMatchObject({ ready: false, joined: true, breaker: 'closed', stalled: true, stalledPartitions: [{ topic: s.t.alerts, partition: 0, lag: 3, position: '1' }] })
    expect(String((stalled.reasons as string[])[0])).toMatch(/^stalled: .* has 3 record\(s\) waiting and no progress for \d+ s$/)
    // And why: the documents the blocked month holds back, from the stalled partition.
    expect(String((stalled.reasons as string[])[1])).toMatch(new RegExp(`^held back: 3 document\\(s\\) for \\S+ from ${s.t.alerts}/0, es-blocked: .*blocked by`))
    expect(stalled.waiting).toEqual([expect.objectContaining({ reason: 'es-blocked', documents: 3, partitions: { [`${s.t.alerts}/0`]: 3 } })])
    const text = await s.metrics()
    expect(metric(text, 'opsreview_consumer_stalled', `group="${s.group}"`)).toBe(1)
    expect(metric(text, 'opsreview_consumer_lag', 'partition="0"')).toBe(3)
    expect(metric(text, 'opsreview_consumer_oldest_unprocessed_age_seconds', 'partition="0"')).toBeGreaterThan(0)
    expect(metric(text, 'opsreview_indexer_breaker_state', '')).toBeUndefined() // no labels: read below
    expect(text).toMatch(/^opsreview_indexer_breaker_state 0$/m)
    expect(await s.deadLetters()).toEqual([])

    await s.es.indices.putSettings({ index: month, settings: { 'index.blocks.write': null } })
    await waitFor(async () => ((await s.committed()) === 4 ? true : undefined), { what: 'the waiting records committed once the block lifted' })
    await waitFor(async () => ((await s.readyz()).status === 200 ? true : undefined), { what: 'ready again' })
    expect(metric(await s.metrics(), 'opsreview_consumer_stalled', `group="${s.group}"`)).toBe(0)
    expect((await s.ids()).length).toBe(4)
  })
})

describe('the indexer at shutdown', () => {
  it('does not resume consumption when the Elasticsearch breaker recovers during the drain, and still drains through it', async () => {
    // Elasticsearch as the client sees it when the node is down, for bulk requests only, while `down` says so.
    let down = false
    const writer = (es: Client) => {
      const bulk = (async (params: Parameters<Client['bulk']>[0]) => {
        if (down) throw new errors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200')
        return es.bulk(params)
      }) as Client['bulk']
      return new Proxy(es, { get: (target, key) => (key === 'bulk' ? bulk : Reflect.get(target, key)) })
    }
    // The indexer's own consumer, with every resume it is told noted.
    const resumedAt: number[] = []
    const kafka = kafkaClient()
    const consumerOf = kafka.consumer.bind(kafka)
    kafka.consumer = (config) => {
      const consumer: Consumer = consumerOf(config)
      const resume = consumer.resume.bind(consumer)
      consumer.resume = (topics) => { resumedAt.push(Date.now()); resume(topics) }
      return consumer
    }
    // The breaker's trial request 1 s after it opens, not its 5 s: the drain waits for it.
    const s = await setUp({}, { kafka, writer, breakerResetMs: 1_000 })

    await s.send([alertEvent(0)])
    await waitFor(async () => ((await s.committed()) === 1 ? true : undefined), { what: 'the first alert committed' })
    down = true
    await s.send([alertEvent(1), alertEvent(2), alertEvent(3)])
    await waitFor(async () => ((await s.readyz()).body.breaker === 'open' ? true : undefined), { what: 'the breaker open' })

    // SIGTERM while the breaker is open; Elasticsearch is back, so its next trial request (1 s on) succeeds.
    const closingAt = Date.now()
    down = false
    await s.close()
    // Before the fix: resumed at half-open and again at close, while the consumer was paused to drain.
    expect(resumedAt.filter((at) => at >= closingAt)).toEqual([])
    // The breaker still guarded the drain, and let it through once it closed: everything it held is committed.
    expect(await s.committed()).toBe(4)
  })
})

describe('the indexer stopped for good', () => {
  it('commits what other requests made durable before it reports the break, so a successor does not redo it', async () => {
    // Two requests in flight: one of alert 1 (partition 0) written, and one of alert 2 (partition 1) whose
    // answer breaks the pipeline (a bulk answer without items: reading it throws, a defect), just after it.
    const good = alertEvent(1)
    const bad = alertEvent(2)
    let badArrived!: () => void
    const badIn = new Promise<void>((resolve) => { badArrived = resolve })
    let goodDone!: () => void
    const goodOut = new Promise<void>((resolve) => { goodDone = resolve })
    const writer = (es: Client) => {
      const bulk = (async (params: { operations: unknown[] }) => {
        const ids = params.operations.filter((_, i) => i % 2 === 0).map((a) => (a as { index: { _id: string } }).index._id)
        if (ids.includes(bad.id)) {
          badArrived()
          await goodOut
          await new Promise((resolve) => setTimeout(resolve, 0))
          return { errors: true }
        }
        if (ids.includes(good.id)) {
          await badIn
          const res = await es.bulk(params as Parameters<Client['bulk']>[0])
          goodDone()
          return res
        }
        return es.bulk(params as Parameters<Client['bulk']>[0])
      }) as unknown as Client['bulk']
      return new Proxy(es, { get: (target, key) => (key === 'bulk' ? bulk : Reflect.get(target, key)) })
    }
    // The indexer's own consumer, with each commit noted once Kafka has it.
    const committed: { topic: string; partition: number; offset: string }[] = []
    const kafka = kafkaClient()
    const consumerOf = kafka.consumer.bind(kafka)
    kafka.consumer = (config) => {
      const consumer: Consumer = consumerOf(config)
      const commit = consumer.commitOffsets.bind(consumer)
      consumer.commitOffsets = async (offsets) => { await commit(offsets); committed.push(...offsets) }
      return consumer
    }
    // What main.ts does there is exit: what is committed by then is all a successor finds.
    let fatal!: (at: { err: unknown; committed: typeof committed }) => void
    const stopped = new Promise<{ err: unknown; committed: typeof committed }>((resolve) => { fatal = resolve })
    const s = await setUp({}, { kafka, writer, onFatal: (err) => fatal({ err, committed: [...committed] }) })
    await s.send([good], 0)
    await s.send([bad], 1)
    const at = await stopped
    expect(at.err).toBeInstanceOf(TypeError)
    // Until 2026-12-06: reported (the process gone) before the commit due for alert 1, which was indexed again.
    expect(at.committed).toContainEqual({ topic: s.t.alerts, partition: 0, offset: '1' })
    expect(at.committed.find((c) => c.partition === 1)).toBeUndefined()
    expect(await s.committed()).toBe(1)
    expect(s.lines.some((l) => l.msg === 'indexing stopped for good: the bulk pipeline broke')).toBe(true)
  })
})
