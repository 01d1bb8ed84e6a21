// pnpm bench:indexer: the same alert documents indexed two ways in one run, into the local Elasticsearch:
//   1. through the indexer service (a second process) from a Kafka topic;
//   2. with a raw @elastic/elasticsearch bulk helper loader, in this process.
// Both go into fresh indices with the same template; lost and duplicate documents are counted for both.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@elastic/elasticsearch'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { alertDocument } from '@opsreview/search-index/bulk-indexer'
import { ensureIndices } from '@opsreview/search-index/templates'
import { freePort } from './lib.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const brokers = (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const esUrl = process.env.OPSREVIEW_ES_URL ?? 'http://127.0.0.1:9200'
const total = Number(process.env.BENCH_DOCS ?? 200_000)
const run = `bench-idx-${Date.now().toString(36)}`
const es = new Client({ node: esUrl, requestTimeout: 120_000 })

const services = Array.from({ length: 300 }, (_, i) => `svc-${i}`)
const docs = Array.from({ length: total }, (_, n) => {
  const at = new Date(Date.UTC(2026, 10, 1) + n * 1000).toISOString()
  return JSON.stringify({
    id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n % 5000}`, status: n % 2 ? 'resolved' : 'firing',
    severity: n % 10 ? 'warning' : 'critical', service: services[n % services.length], environment: 'production', title: `HighLatency on ${services[n % services.length]}`,
    description: 'p99 latency above 500 ms for 5 minutes', labels: { alertname: 'HighLatency', instance: `host-${n % 97}:9100`, pod: `pod-${n % 1000}` },
    startsAt: at, ...(n % 2 ? { endsAt: at } : {}), receivedAt: at, links: [{ rel: 'generator', href: 'http://prometheus/graph' }], origin: { receiver: 'bench' },
  })
})

/** Document ids are event ids and each event has one monthly index: any document beyond the total is a duplicate. */
async function lostAndDuplicates(alias: string): Promise<{ count: number; lost: number; duplicates: number }> {
  await es.indices.refresh({ index: alias })
  const count = (await es.count({ index: alias })).count
  return { count, lost: Math.max(0, total - count), duplicates: Math.max(0, count - total) }
}


// 1. Through Kafka and the indexer service.
const kafka = new Kafka({ clientId: 'bench-indexer', brokers, logLevel: logLevel.NOTHING })
const admin = kafka.admin()
await admin.connect()
const topic = `${run}-alerts`
await admin.createTopics({ topics: [{ topic, numPartitions: 6 }, { topic: `${run}-dlq`, numPartitions: 1 }], waitForLeaders: true })
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
await producer.connect()
for (let i = 0; i < total; i += 5000) {
  await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: docs.slice(i, i + 5000).map((value, k) => ({ key: `fp-${(i + k) % 5000}`, value })) }] })
}
await producer.disconnect()
console.log(`${total} alert events on ${topic}`)

const viaPrefix = `${run}-via`
const indexer = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), '--conditions=@opsreview/source', path.join(repo, 'services/indexer/src/main.ts')], {
  env: {
    ...process.env, OPSREVIEW_LOG_LEVEL: 'warn', OPSREVIEW_TOPIC_ALERTS: topic, OPSREVIEW_TOPIC_INCIDENTS: `${run}-incidents`, OPSREVIEW_TOPIC_PROBLEMS: `${run}-problems`,
    OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: `${run}-dlq`, OPSREVIEW_ES_INDEX_PREFIX: viaPrefix, OPSREVIEW_INDEXER_GROUP: `${run}-group`, OPSREVIEW_INDEXER_PORT: String(await freePort()),
  },
  stdio: ['ignore', 'inherit', 'inherit'],
})
const viaAlias = `${viaPrefix}-alerts`
// Timing starts when the indexer has created its indices: its start-up is not indexing.
for (;;) {
  if (await es.indices.existsIndexTemplate({ name: viaAlias })) break
  await new Promise((r) => setTimeout(r, 50))
}
// Done when the group has committed every record: the indexer commits only what Elasticsearch accepted,
// which is where the raw loader's clock stops too (both before a refresh makes documents searchable).
const started = performance.now()
for (;;) {
  const [offsets] = await admin.fetchOffsets({ groupId: `${run}-group`, topics: [topic] }).catch(() => [undefined])
  const committed = offsets?.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) ?? 0
  if (committed >= total) break
  await new Promise((r) => setTimeout(r, 25))
}
const viaSeconds = (performance.now() - started) / 1000
indexer.kill('SIGTERM')
await once(indexer, 'exit')
const via = { seconds: Math.round(viaSeconds * 100) / 100, docsPerSec: Math.round(total / viaSeconds), ...(await lostAndDuplicates(viaAlias)) }

// 2. The raw bulk helper, same documents, same template.
const rawPrefix = `${run}-raw`
await ensureIndices(es, rawPrefix)
const toDoc = alertDocument(rawPrefix)
const rawStarted = performance.now()
const stats = await es.helpers.bulk({
  datasource: docs,
  flushBytes: 5 * 1024 * 1024,
  concurrency: 3,
  onDocument: (value) => {
    const op = toDoc(value)
    return [{ index: { _index: op.index, _id: op.id } }, op.document]
  },
})
const rawSeconds = (performance.now() - rawStarted) / 1000
const raw = { seconds: Math.round(rawSeconds * 100) / 100, docsPerSec: Math.round(total / rawSeconds), failed: stats.failed, ...(await lostAndDuplicates(`${rawPrefix}-alerts`)) }

await es.indices.delete({ index: `${run}-*`, expand_wildcards: 'all' }).catch(() => undefined)
await es.indices.deleteIndexTemplate({ name: `${run}-*` }).catch(() => undefined)
await admin.deleteTopics({ topics: [topic, `${run}-dlq`, `${run}-incidents`, `${run}-problems`] }).catch(() => undefined)
await admin.disconnect()

const result = {
  date: new Date().toISOString(), documents: total, indexer: via, rawBulkHelper: raw,
  indexerShareOfRaw: Math.round((via.docsPerSec / raw.docsPerSec) * 1000) / 10,
}
console.log(JSON.stringify(result, null, 2))
console.log(`\nindexer: ${via.docsPerSec} docs/s (target >= 10000), ${result.indexerShareOfRaw} % of the raw bulk helper's ${raw.docsPerSec} docs/s (target >= 80 %); lost ${result.indexer.lost}, duplicates ${result.indexer.duplicates}`)
