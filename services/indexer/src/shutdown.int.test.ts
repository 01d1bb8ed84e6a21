import { describe, expect, it, onTestFinished } from 'vitest'
import { errors, type Client } from '@elastic/elasticsearch'
import { Partitioners, type Consumer } from 'kafkajs'
import { readConfig } from '@opsreview/config'
import { captureLogs, cleanupIndices, createTopics, esClient, kafkaClient, serve, uniqueName, waitFor } from '@opsreview/testing'
import { indexerConfigSpec } from './config.ts'
import { createIndexer } from './indexer.ts'

function alertEvent(n: number) {
  return {
    id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n}`, status: 'firing', severity: 'critical',
    service: 'svc', environment: 'production', title: `Alert ${n}`, labels: { alertname: 'HighLatency' },
    startsAt: '2026-11-01T00:00:00.000Z', receivedAt: '2026-11-01T00:00:01.000Z', links: [], origin: {},
  }
}

describe('the indexer at shutdown', () => {
  it('does not resume consumption when the Elasticsearch breaker recovers during the drain, and still drains through it', async () => {
    const kafka = kafkaClient()
    const admin = kafka.admin()
    await admin.connect()
    onTestFinished(() => admin.disconnect())
    const alerts = uniqueName('alerts')
    const t = { alerts, incidents: `${alerts}-incidents`, problems: `${alerts}-problems`, deadLetter: `${alerts}-dlq` }
    await createTopics(admin, Object.values(t))
    const prefix = uniqueName('idx')
    const group = `${prefix}-indexer`
    cleanupIndices(prefix)
    const parsed = readConfig(indexerConfigSpec, {
      OPSREVIEW_TOPIC_ALERTS: t.alerts, OPSREVIEW_TOPIC_INCIDENTS: t.incidents, OPSREVIEW_TOPIC_PROBLEMS: t.problems, OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: t.deadLetter,
      OPSREVIEW_INDEXER_GROUP: group, OPSREVIEW_ES_INDEX_PREFIX: prefix, OPSREVIEW_INDEXER_MIN_BACKOFF: '20ms', OPSREVIEW_INDEXER_MAX_BACKOFF: '200ms',
    })
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'))

    // Elasticsearch as the client sees it when the node is down, for bulk requests only, while `down` says so.
    const es = esClient()
    onTestFinished(() => es.close())
    let down = false
    const bulk = (async (params: Parameters<Client['bulk']>[0]) => {
      if (down) throw new errors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200')
      return es.bulk(params)
    }) as Client['bulk']
    const writer = new Proxy(es, { get: (target, key) => (key === 'bulk' ? bulk : Reflect.get(target, key)) })

    // The indexer's own consumer, with every resume it is told noted.
    const resumedAt: number[] = []
    const consumerOf = kafka.consumer.bind(kafka)
    kafka.consumer = (config) => {
      const consumer: Consumer = consumerOf(config)
      const resume = consumer.resume.bind(consumer)
      consumer.resume = (topics) => { resumedAt.push(Date.now()); resume(topics) }
      return consumer
    }

    const { logger } = captureLogs()
    const indexer = createIndexer({ config: parsed.value, logger, kafka, es: writer })
    await indexer.start()
    let closed = false
    onTestFinished(async () => { if (!closed) await indexer.close() })
    const url = await serve(indexer.app)
    const readyz = async () => (await (await fetch(`${url}/readyz`)).json()) as { breaker: string }
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const send = (ns: number[]) => producer.send({ topic: t.alerts, acks: -1, messages: ns.map((n) => ({ key: `fp-${n}`, partition: 0, value: JSON.stringify(alertEvent(n)) })) })
    const committed = async () => {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [t.alerts] })
      return offsets!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
    }

    await send([0])
    await waitFor(async () => ((await committed()) === 1 ? true : undefined), { what: 'the first alert committed' })
    down = true
    await send([1, 2, 3])
    await waitFor(async () => ((await readyz()).breaker === 'open' ? true : undefined), { what: 'the breaker open' })

    // SIGTERM while the breaker is open; Elasticsearch is back, so its next trial request (5 s on) succeeds.
    const closingAt = Date.now()
    down = false
    await indexer.close()
    closed = true
    // Before the fix: resumed at half-open and again at close, while the consumer was paused to drain.
    expect(resumedAt.filter((at) => at >= closingAt)).toEqual([])
    // The breaker still guarded the drain, and let it through once it closed: everything it held is committed.
    expect(await committed()).toBe(4)
  })
})
