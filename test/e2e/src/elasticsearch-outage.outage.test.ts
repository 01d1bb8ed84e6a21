import { describe, expect, it, onTestFinished } from 'vitest'
import { Partitioners } from 'kafkajs'
import { cleanupIndices, connectedAdmin, createTopics, esClient, kafkaBrokers, kafkaClient, uniqueName, waitFor } from '@opsreview/testing'
import { freePort, stack, startService } from './processes.ts'

function alertEvent(n: number) {
  const at = new Date(Date.UTC(2026, 10, 30, 8) + n * 1000).toISOString()
  return {
    id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n % 400}`, status: n % 2 ? 'resolved' : 'firing', severity: 'warning',
    service: `svc-${n % 7}`, environment: 'production', title: `Alert ${n}`, labels: { alertname: 'Load' }, startsAt: at,
    ...(n % 2 ? { endsAt: at } : {}), receivedAt: at, links: [], origin: {},
  }
}

describe('the indexer through an Elasticsearch outage', () => {
  it('pauses while Elasticsearch is killed with -9, resumes by itself, and indexes every document exactly once', { timeout: 240_000 }, async () => {
    onTestFinished(async () => { await stack('start', 'elasticsearch') })
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    const topics = { alerts: uniqueName('esout-alerts'), dlq: uniqueName('esout-dlq') }
    await createTopics(admin, Object.values(topics))
    const prefix = uniqueName('esout')
    const es = esClient()
    cleanupIndices(prefix)
    const indexer = await startService('indexer', {
      OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_TOPIC_ALERTS: topics.alerts, OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: topics.dlq,
      OPSREVIEW_TOPIC_INCIDENTS: `${topics.alerts}-incidents`, OPSREVIEW_TOPIC_PROBLEMS: `${topics.alerts}-problems`,
      OPSREVIEW_ES_INDEX_PREFIX: prefix, OPSREVIEW_INDEXER_GROUP: uniqueName('esout-indexer'), OPSREVIEW_INDEXER_PORT: String(await freePort()),
    }, 'indexer consuming')
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const total = 3000
    const send = (from: number, to: number) => producer.send({ topic: topics.alerts, acks: -1, messages: Array.from({ length: to - from }, (_, i) => { const e = alertEvent(from + i); return { key: e.fingerprint, value: JSON.stringify(e) } }) })
    const alias = `${prefix}-alerts`
    const count = async () => { await es.indices.refresh({ index: alias }); return (await es.count({ index: alias })).count }

    await send(0, 1000)
    await waitFor(async () => ((await count()) > 0 ? true : undefined), { what: 'the first documents' })
    await stack('kill', 'elasticsearch')
    for (let from = 1000; from < total; from += 250) await send(from, from + 250)
    await waitFor(() => (indexer.logs.some((l) => l.msg === 'elasticsearch breaker opened: consumption paused') ? true : undefined), { timeoutMs: 60_000, what: 'the breaker to open' })
    await stack('start', 'elasticsearch')
    await waitFor(async () => ((await count().catch(() => 0)) === total ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, what: `all ${total} documents after the restart` })
    expect(indexer.logs.some((l) => l.msg === 'elasticsearch breaker closed: consumption resumed')).toBe(true)
    // Exactly once: document ids are event ids, each event has one monthly index, and the total matches.
    const ids = await es.search({ index: alias, size: 0, aggs: { ids: { cardinality: { field: 'id', precision_threshold: 4000 } } } })
    expect((ids.aggregations?.ids as { value: number }).value).toBe(total)
    expect(await indexer.stop()).toBe(0)
  })
})
