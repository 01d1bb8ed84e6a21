// pnpm bench:pipeline: end to end, from an alert received to its incident being searchable in
// Elasticsearch, at 1,000 alerts/s (100 requests/s of 10 alerts) for BENCH_SECONDS.
// Receiver, correlator and indexer run as processes; the load and the measuring come from this one.
// Every request is a new service, so it opens an incident: its latency is from sending the request to
// the first poll (every 50 ms) that finds the incident in the index (refresh_interval 1 s included).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@elastic/elasticsearch'
import { Kafka, logLevel } from 'kafkajs'
import { freePort } from './lib.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const seconds = Number(process.env.BENCH_SECONDS ?? 30)
const requestsPerSec = 100
const alertsPerRequest = 10
const run = `bench-e2e-${Date.now().toString(36)}`
const es = new Client({ node: process.env.OPSREVIEW_ES_URL ?? 'http://127.0.0.1:9200' })


const topics = {
  OPSREVIEW_TOPIC_ALERTS: `${run}-alerts`, OPSREVIEW_TOPIC_REJECTED: `${run}-rejected`, OPSREVIEW_TOPIC_COMMANDS: `${run}-commands`,
  OPSREVIEW_TOPIC_CORRELATOR_INPUT: `${run}-input`, OPSREVIEW_TOPIC_INCIDENTS: `${run}-incidents`, OPSREVIEW_TOPIC_PROBLEMS: `${run}-problems`,
  OPSREVIEW_TOPIC_COMMAND_RESULTS: `${run}-results`, OPSREVIEW_TOPIC_CORRELATOR_STATE: `${run}-state`,
  OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: `${run}-cdlq`, OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: `${run}-idlq`,
}
const receiverPort = await freePort()
const common = { ...process.env, ...topics, OPSREVIEW_LOG_LEVEL: 'warn', OPSREVIEW_ES_INDEX_PREFIX: run }
const children: ChildProcess[] = []
function start(service: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--conditions=@opsreview/source', path.join(repo, `services/${service}/src/main.ts`)], { env: { ...common, ...env }, stdio: ['ignore', 'inherit', 'inherit'] })
  children.push(child)
}
start('receiver', { OPSREVIEW_RECEIVER_PORT: String(receiverPort), OPSREVIEW_INGEST_TOKENS: 'bench', OPSREVIEW_SPOOL_DIR: await mkdtemp(path.join(os.tmpdir(), 'bench-spool-')) })
start('correlator', { OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_CORRELATOR_GROUP: `${run}-corr` })
start('indexer', { OPSREVIEW_INDEXER_PORT: String(await freePort()), OPSREVIEW_INDEXER_GROUP: `${run}-idx` })
const receiver = `http://127.0.0.1:${receiverPort}`
for (let i = 0; !(await fetch(`${receiver}/readyz`).then((r) => r.ok, () => false)); i++) {
  if (i > 600) throw new Error('receiver not ready')
  await new Promise((r) => setTimeout(r, 100))
}
for (let i = 0; !(await es.indices.existsAlias({ name: `${run}-incidents` })); i++) {
  if (i > 600) throw new Error('indexer not ready')
  await new Promise((r) => setTimeout(r, 100))
}
await new Promise((r) => setTimeout(r, 3000)) // consumer groups settle

const sent = new Map<string, number>()
const seen = new Map<string, number>()
let failures = 0
let n = 0
function send(): void {
  const service = `svc-${n++}`
  const now = new Date().toISOString()
  const alerts = Array.from({ length: alertsPerRequest }, (_, i) => ({
    status: 'firing', labels: { alertname: `Alert${i}`, service, severity: i ? 'warning' : 'critical', instance: `${service}-${i}:9100` },
    annotations: { summary: `Alert${i} on ${service}` }, startsAt: now, endsAt: '0001-01-01T00:00:00Z', fingerprint: `${service}-${i}`,
  }))
  sent.set(service, performance.now())
  fetch(`${receiver}/webhooks/alertmanager`, { method: 'POST', headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body: JSON.stringify({ version: '4', status: 'firing', receiver: 'bench', groupKey: `{}:{service="${service}"}`, alerts }) })
    .then((r) => { if (!r.ok) failures++; return r.arrayBuffer() }, () => { failures++ })
}

let polling = true
let stoppedAt = 0
const poller = (async () => {
  while (polling || seen.size < sent.size) {
    const pending = [...sent.keys()].filter((s) => !seen.has(s))
    if (pending.length > 0) {
      const r = await es.search<{ services: string[] }>({ index: `${run}-incidents`, size: 1000, query: { terms: { services: pending.slice(0, 1000) } }, _source: ['services'] }).catch(() => undefined)
      const t = performance.now()
      for (const h of r?.hits.hits ?? []) for (const s of h._source!.services) if (!seen.has(s)) seen.set(s, t)
    }
    if (!polling && performance.now() - stoppedAt > 30_000) break
    await new Promise((res) => setTimeout(res, 50))
  }
})()
const startedAt = performance.now()
const total = seconds * requestsPerSec
for (let i = 0; i < total; i++) {
  const due = startedAt + (i * 1000) / requestsPerSec
  const wait = due - performance.now()
  if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  send()
}
stoppedAt = performance.now()
polling = false
await poller

const latencies = [...seen].map(([s, t]) => t - sent.get(s)!).sort((a, b) => a - b)
const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN)
for (const c of children) c.kill('SIGTERM')
await Promise.all(children.map((c) => once(c, 'exit')))
const kafka = new Kafka({ clientId: 'bench-e2e', brokers: (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), logLevel: logLevel.NOTHING })
const admin = kafka.admin()
await admin.connect()
await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
await admin.disconnect()
await es.indices.delete({ index: `${run}-*`, expand_wildcards: 'all' }).catch(() => undefined)
await es.indices.deleteIndexTemplate({ name: `${run}-*` }).catch(() => undefined)

const result = {
  date: new Date().toISOString(), alertsPerSec: requestsPerSec * alertsPerRequest, seconds, incidentsExpected: total, incidentsSeen: latencies.length, failedRequests: failures,
  latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: pct(100) },
}
console.log(JSON.stringify(result, null, 2))
console.log(`\nalert received → incident searchable at ${result.alertsPerSec} alerts/s: p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms (target <= 3000 ms); ${result.incidentsSeen}/${total} incidents seen, ${failures} failed requests`)
