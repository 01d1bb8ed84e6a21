import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { cleanupIndices, createTopics, esClient, kafkaBrokers, kafkaClient, uniqueName, waitFor } from '@opsreview/testing'
import { freePort, startAlertmanager, startService } from './processes.ts'

const TOKEN = 'e2e-ingest-token'

interface AlertDoc {
  fingerprint: string
  status: string
  service: string
  severity: string
  environment: string
  startsAt: string
  endsAt?: string
  title: string
}

describe('Alertmanager → receiver → Kafka → indexer → Elasticsearch', () => {
  it('makes alerts fired into a real Alertmanager searchable, and then their resolves', async () => {
    const kafka = kafkaClient()
    const admin = kafka.admin()
    await admin.connect()
    const topics = { alerts: uniqueName('e2e-alerts'), rejected: uniqueName('e2e-rejected'), dlq: uniqueName('e2e-dlq') }
    await createTopics(admin, Object.values(topics))
    const es = esClient()
    const prefix = uniqueName('e2e')
    cleanupIndices(prefix)

    const receiverPort = await freePort()
    const common = { OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_TOPIC_ALERTS: topics.alerts }
    await startService('receiver', {
      ...common,
      OPSREVIEW_RECEIVER_PORT: String(receiverPort),
      OPSREVIEW_INGEST_TOKENS: TOKEN,
      OPSREVIEW_TOPIC_REJECTED: topics.rejected,
      OPSREVIEW_SPOOL_DIR: await mkdtemp(path.join(os.tmpdir(), 'e2e-spool-')),
    }, 'connected to kafka')
    const indexer = await startService('indexer', {
      ...common,
      OPSREVIEW_INDEXER_PORT: String(await freePort()),
      OPSREVIEW_ES_INDEX_PREFIX: prefix,
      OPSREVIEW_INDEXER_GROUP: uniqueName('e2e-indexer'),
      OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: topics.dlq,
    }, 'indexer consuming')
    const am = await startAlertmanager(`http://127.0.0.1:${receiverPort}/webhooks/alertmanager`, TOKEN)

    const startsAt = new Date(Date.now() - 60_000).toISOString()
    const alerts = [
      { labels: { alertname: 'CheckoutErrors', service: 'checkout', severity: 'critical', env: 'production', instance: 'checkout-1:9100' }, annotations: { summary: 'Checkout 5xx above 5%' }, startsAt },
      { labels: { alertname: 'CheckoutErrors', service: 'checkout', severity: 'critical', env: 'production', instance: 'checkout-2:9100' }, annotations: { summary: 'Checkout 5xx above 5%' }, startsAt },
      { labels: { alertname: 'SearchSlow', service: 'search', severity: 'warning', env: 'staging' }, annotations: { summary: 'Search p99 over 2s' }, startsAt },
    ]
    const posted = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) })
    expect(posted.status).toBe(200)
    // Alertmanager computes the fingerprints; ask it for them.
    const amAlerts = await waitFor(async () => {
      const list = await (await fetch(`${am.url}/api/v2/alerts`)).json() as { fingerprint: string; labels: Record<string, string> }[]
      return list.length === 3 ? list : undefined
    }, { what: 'alertmanager to hold three alerts' })
    const fingerprintOf = (instanceOrService: string) => amAlerts.find((a) => a.labels.instance === instanceOrService || (!a.labels.instance && a.labels.service === instanceOrService))!.fingerprint

    const alias = `${prefix}-alerts`
    const search = async (status: string) => {
      await es.indices.refresh({ index: alias }).catch(() => undefined)
      const res = await es.search<AlertDoc>({ index: alias, query: { term: { status } }, size: 10 }).catch(() => undefined)
      return res?.hits.hits.map((h) => h._source!) ?? []
    }
    const firing = await waitFor(async () => { const d = await search('firing'); return d.length === 3 ? d : undefined }, { timeoutMs: 30_000, what: 'three firing alerts in Elasticsearch' })
    const byFp = new Map(firing.map((d) => [d.fingerprint, d]))
    expect(byFp.get(fingerprintOf('checkout-1:9100'))).toMatchObject({ status: 'firing', service: 'checkout', severity: 'critical', environment: 'production', startsAt, title: 'Checkout 5xx above 5%' })
    expect(byFp.get(fingerprintOf('checkout-2:9100'))).toMatchObject({ status: 'firing', service: 'checkout', severity: 'critical', startsAt })
    expect(byFp.get(fingerprintOf('search'))).toMatchObject({ status: 'firing', service: 'search', severity: 'warning', environment: 'staging', startsAt })

    // Resolving one alert: Alertmanager sends the group again, now mixed, and only that alert changes state.
    const endsAt = new Date(Date.now() - 1000).toISOString()
    await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ ...alerts[0], endsAt }]) })
    const resolved = await waitFor(async () => { const d = await search('resolved'); return d.length === 1 ? d : undefined }, { timeoutMs: 30_000, what: 'the resolve in Elasticsearch' })
    expect(resolved[0]).toMatchObject({ fingerprint: fingerprintOf('checkout-1:9100'), service: 'checkout', startsAt, endsAt })
    expect(await search('firing')).toHaveLength(3)

    expect(await indexer.stop()).toBe(0)
    await admin.disconnect()
    await es.close()
  })
})
