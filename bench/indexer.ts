// pnpm bench:indexer: the same alert documents indexed two ways in one run, into the local Elasticsearch:
//   1. through the indexer service (a second process) from a Kafka topic;
//   2. with a raw @elastic/elasticsearch bulk helper loader, in this process.
// Both go into fresh indices with the same template; lost and duplicate documents are counted for both.
// BENCH_ROUNDS rounds (4) alternate which way goes first, since the second one meets the first one's
// merges and a warmer JVM. This machine's speed drifts between minutes, so the share of raw is the
// median of each round's own ratio (both halves of a round meet the same machine); rates are medians.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@elastic/elasticsearch'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { alertDocument, bulkAction } from '@opsreview/search-index/documents'
import { ensureIndices, liveAlertMonths } from '@opsreview/search-index/templates'
import { freePort } from '@opsreview/testing/ports'
import { median } from './lib.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const brokers = (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const esUrl = process.env.OPSREVIEW_ES_URL ?? 'http://127.0.0.1:9200'
// Phases of ~15 s: shorter ones measure the indexer's start (a cold JIT) and this machine's drift more
// than its rate (200,000 documents gave medians of 80-90 % with rounds from 56 to 114 %).
const total = Number(process.env.BENCH_DOCS ?? 500_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 4)
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

const round2 = (x: number) => Math.round(x * 100) / 100

/** 1. Through Kafka and the indexer service, with a consumer group of its own, into indices of its own. */
async function viaIndexer(round: number) {
  const prefix = `${run}-via${round}`
  const group = `${run}-group${round}`
  const port = await freePort()
  const indexer = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), '--conditions=@opsreview/source', path.join(repo, 'services/indexer/src/main.ts')], {
    env: {
      ...process.env, OPSREVIEW_LOG_LEVEL: 'warn', OPSREVIEW_TOPIC_ALERTS: topic, OPSREVIEW_TOPIC_INCIDENTS: `${run}-incidents`, OPSREVIEW_TOPIC_PROBLEMS: `${run}-problems`,
      OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: `${run}-dlq`, OPSREVIEW_ES_INDEX_PREFIX: prefix, OPSREVIEW_INDEXER_GROUP: group, OPSREVIEW_INDEXER_PORT: String(port),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  // Two clocks. Start-up included: from when the indexer has created its templates. Indexing: from when it
  // is ready (in its consumer group), as the raw loader's clock starts when it starts sending. Connecting
  // and joining a group is start-up, like creating the templates, which neither clock counts.
  while (!(await es.indices.existsIndexTemplate({ name: `${prefix}-alerts` }))) await new Promise((r) => setTimeout(r, 20))
  const templatesAt = performance.now()
  while (!(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false))) await new Promise((r) => setTimeout(r, 20))
  // Done when the group has committed every record: the indexer commits only what Elasticsearch accepted,
  // which is where the raw loader's clock stops too (both before a refresh makes documents searchable).
  const started = performance.now()
  for (;;) {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] }).catch(() => [undefined])
    const committed = offsets?.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) ?? 0
    if (committed >= total) break
    // Not faster: these requests load the broker and this process during the indexer's clock only.
    await new Promise((r) => setTimeout(r, 100))
  }
  const finished = performance.now()
  indexer.kill('SIGTERM')
  await once(indexer, 'exit')
  const seconds = (finished - started) / 1000
  return {
    seconds: round2(seconds), docsPerSec: Math.round(total / seconds),
    startupSeconds: round2((started - templatesAt) / 1000), docsPerSecWithStartup: Math.round(total / ((finished - templatesAt) / 1000)),
    ...(await lostAndDuplicates(`${prefix}-alerts`)),
  }
}

/** 2. The raw bulk helper, same documents, same template, from memory. */
async function viaRawLoader(round: number) {
  const prefix = `${run}-raw${round}`
  await ensureIndices(es, prefix)
  const months = liveAlertMonths(es, prefix)
  const toDoc = alertDocument(months.indexFor)
  const targets = new Set(docs.map((d) => toDoc(d).index))
  const started = performance.now()
  // The indexer creates the month's index on its first write; so does the loader, on its clock.
  await months.prepare(targets)
  const stats = await es.helpers.bulk({
    datasource: docs,
    flushBytes: 5 * 1024 * 1024,
    concurrency: 3,
    onDocument: (value) => {
      const op = toDoc(value)
      return [bulkAction(op), op.document]
    },
  })
  const seconds = (performance.now() - started) / 1000
  return { seconds: round2(seconds), docsPerSec: Math.round(total / seconds), failed: stats.failed, ...(await lostAndDuplicates(`${prefix}-alerts`)) }
}

const results: { round: number; first: string; indexer: Awaited<ReturnType<typeof viaIndexer>>; raw: Awaited<ReturnType<typeof viaRawLoader>> }[] = []
for (let round = 0; round < rounds; round++) {
  const indexerFirst = round % 2 === 0
  let indexer, raw
  if (indexerFirst) { indexer = await viaIndexer(round); raw = await viaRawLoader(round) } else { raw = await viaRawLoader(round); indexer = await viaIndexer(round) }
  results.push({ round, first: indexerFirst ? 'indexer' : 'raw', indexer, raw })
  console.log(`round ${round + 1}/${rounds} (${indexerFirst ? 'indexer' : 'raw loader'} first): indexer ${indexer.docsPerSec} docs/s, raw ${raw.docsPerSec} docs/s, ${Math.round((indexer.docsPerSec / raw.docsPerSec) * 1000) / 10} %`)
  // Each round's indices go before the next, so every round starts from the same empty cluster.
  await es.indices.delete({ index: `${run}-*`, expand_wildcards: 'all' }).catch(() => undefined)
}

await es.indices.deleteIndexTemplate({ name: `${run}-*` }).catch(() => undefined)
await admin.deleteTopics({ topics: [topic, `${run}-dlq`, `${run}-incidents`, `${run}-problems`] }).catch(() => undefined)
await admin.disconnect()

const indexerRate = median(results.map((r) => r.indexer.docsPerSec))
const indexerRateWithStartup = median(results.map((r) => r.indexer.docsPerSecWithStartup))
const rawRate = median(results.map((r) => r.raw.docsPerSec))
const lost = results.reduce((s, r) => s + r.indexer.lost + r.raw.lost, 0)
const duplicates = results.reduce((s, r) => s + r.indexer.duplicates + r.raw.duplicates, 0)
const shares = results.map((r) => r.indexer.docsPerSec / r.raw.docsPerSec)
const sharesWithStartup = results.map((r) => r.indexer.docsPerSecWithStartup / r.raw.docsPerSec)
const summary = {
  date: new Date().toISOString(), documents: total, rounds, results,
  median: { indexerDocsPerSec: indexerRate, indexerDocsPerSecWithStartup: indexerRateWithStartup, rawDocsPerSec: rawRate },
  indexerShareOfRaw: Math.round(median(shares) * 1000) / 10,
  indexerShareOfRawWithStartup: Math.round(median(sharesWithStartup) * 1000) / 10,
  shareRange: [Math.round(Math.min(...shares) * 1000) / 10, Math.round(Math.max(...shares) * 1000) / 10],
  lost, duplicates,
}
console.log(JSON.stringify(summary, null, 2))
console.log(`\nindexer (median of ${rounds} rounds): ${indexerRate} docs/s (target >= 10000); raw bulk helper ${rawRate} docs/s; indexer/raw ${summary.indexerShareOfRaw} % (target >= 80 %, rounds ${summary.shareRange.join(' - ')} %); `
  + `start-up included ${indexerRateWithStartup} docs/s, ${summary.indexerShareOfRawWithStartup} %; lost ${lost}, duplicates ${duplicates} (all rounds, both ways)`)
