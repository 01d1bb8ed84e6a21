// pnpm bench:pipeline: end to end, from an alert received to its incident being searchable in
// Elasticsearch, at 1,000 alerts/s (100 requests/s of 10 alerts) for BENCH_SECONDS.
// Receiver, correlator and indexer run as processes; the load and the measuring come from this one.
// Every request is a new service, so it opens an incident: its latency is from sending the request to
// the first search (polled every 50 ms) that finds the incident in the index, i.e. after a refresh.
// The clock starts only once the whole pipeline is flowing (a warm-up request found searchable), so group
// joins and the first JIT are not counted. Where the time goes is read from the Kafka records' own
// timestamps (CreateTime, stamped by each producer): the alert on the alerts topic, rekeyed on the
// correlator's input, the incident's first version produced; a side consumer of this process reads them.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@elastic/elasticsearch'
import { Kafka, logLevel } from 'kafkajs'
import { freePort } from '@opsreview/testing/ports'

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
const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'bench-spool-'))
start('receiver', { OPSREVIEW_RECEIVER_PORT: String(receiverPort), OPSREVIEW_INGEST_TOKENS: 'bench', OPSREVIEW_SPOOL_DIR: spoolDir })
start('correlator', { OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_CORRELATOR_GROUP: `${run}-corr` })
const indexerPort = await freePort()
start('indexer', { OPSREVIEW_INDEXER_PORT: String(indexerPort), OPSREVIEW_INDEXER_GROUP: `${run}-idx` })
const receiver = `http://127.0.0.1:${receiverPort}`
for (let i = 0; !(await fetch(`${receiver}/readyz`).then((r) => r.ok, () => false)); i++) {
  if (i > 600) throw new Error('receiver not ready')
  await new Promise((r) => setTimeout(r, 100))
}
for (let i = 0; !(await es.indices.existsAlias({ name: `${run}-incidents` })); i++) {
  if (i > 600) throw new Error('indexer not ready')
  await new Promise((r) => setTimeout(r, 100))
}
const indexerReady = `http://127.0.0.1:${indexerPort}/readyz`
for (let i = 0; !(await fetch(indexerReady).then((r) => r.ok, () => false)); i++) {
  if (i > 600) throw new Error('indexer not in its group')
  await new Promise((r) => setTimeout(r, 100))
}

const kafka = new Kafka({ clientId: 'bench-e2e', brokers: (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), logLevel: logLevel.NOTHING })

// Per service (one request, one incident), wall-clock ms of each step.
interface Steps { sent: number; acked?: number; onAlerts?: number; rekeyed?: number; produced?: number; searchable?: number }
const steps = new Map<string, Steps>()
let failures = 0
let n = 0
function send(service: string): void {
  const now = new Date().toISOString()
  const alerts = Array.from({ length: alertsPerRequest }, (_, i) => ({
    status: 'firing', labels: { alertname: `Alert${i}`, service, severity: i ? 'warning' : 'critical', instance: `${service}-${i}:9100` },
    annotations: { summary: `Alert${i} on ${service}` }, startsAt: now, endsAt: '0001-01-01T00:00:00Z', fingerprint: `${service}-${i}`,
  }))
  const s: Steps = { sent: Date.now() }
  steps.set(service, s)
  fetch(`${receiver}/webhooks/alertmanager`, { method: 'POST', headers: { authorization: 'Bearer bench', 'content-type': 'application/json' }, body: JSON.stringify({ version: '4', status: 'firing', receiver: 'bench', groupKey: `{}:{service="${service}"}`, alerts }) })
    .then((r) => { if (!r.ok) failures++; else s.acked = Date.now(); return r.arrayBuffer() }, () => { failures++ })
}

// The side consumer: the first record of each service on each topic, by the record's CreateTime.
const side = kafka.consumer({ groupId: `${run}-side`, maxWaitTimeInMs: 100 })
await side.connect()
await side.subscribe({ topics: [topics.OPSREVIEW_TOPIC_ALERTS, topics.OPSREVIEW_TOPIC_CORRELATOR_INPUT, topics.OPSREVIEW_TOPIC_INCIDENTS], fromBeginning: true })
const stepOf = { [topics.OPSREVIEW_TOPIC_ALERTS]: 'onAlerts', [topics.OPSREVIEW_TOPIC_CORRELATOR_INPUT]: 'rekeyed', [topics.OPSREVIEW_TOPIC_INCIDENTS]: 'produced' } as const
await side.run({
  eachMessage: async ({ topic, message }) => {
    const v = JSON.parse(message.value?.toString() ?? '{}') as { service?: string; services?: string[]; event?: { service?: string } }
    const services = v.services ?? [v.event?.service ?? v.service]
    const step = stepOf[topic]!
    for (const service of services) {
      const s = service === undefined ? undefined : steps.get(service)
      if (s && s[step] === undefined) s[step] = Number(message.timestamp)
    }
  },
})

let polling = true
let stoppedAt = 0
// How long each search of the poller took: a slow search delays every "searchable" it finds.
const pollMs: number[] = []
let measuring = false
async function poll(): Promise<void> {
  const pending = [...steps].filter(([, s]) => s.searchable === undefined).map(([service]) => service)
  if (pending.length === 0) return
  const asked = Date.now()
  const r = await es.search<{ services: string[] }>({ index: `${run}-incidents`, size: 1000, query: { terms: { services: pending.slice(0, 1000) } }, _source: ['services'] }).catch(() => undefined)
  const t = Date.now()
  if (measuring) pollMs.push(t - asked)
  for (const h of r?.hits.hits ?? []) for (const service of h._source!.services) { const s = steps.get(service); if (s && s.searchable === undefined) s.searchable = t }
}

// Warm-up: until one request goes all the way, the pipeline is still joining groups and compiling.
for (let i = 0; ; i++) {
  if (i > 600) throw new Error('the pipeline never made a warm-up incident searchable')
  send(`warmup-${i}`)
  await new Promise((r) => setTimeout(r, 200))
  await poll()
  if ([...steps.values()].some((s) => s.searchable !== undefined)) break
}
await new Promise((r) => setTimeout(r, 2000))
steps.clear()

const poller = (async () => {
  while (polling || [...steps.values()].some((s) => s.searchable === undefined)) {
    await poll()
    if (!polling && Date.now() - stoppedAt > 30_000) break
    await new Promise((res) => setTimeout(res, 50))
  }
})()
const loadBefore = os.loadavg()
measuring = true
const startedAt = performance.now()
const total = seconds * requestsPerSec
for (let i = 0; i < total; i++) {
  const due = startedAt + (i * 1000) / requestsPerSec
  const wait = due - performance.now()
  if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  send(`svc-${n++}`)
}
const sendingSeconds = (performance.now() - startedAt) / 1000
stoppedAt = Date.now()
polling = false
await poller
const loadAfter = os.loadavg()
await side.disconnect()

const all = [...steps.values()]
function percentiles(xs: number[]) {
  const sorted = xs.sort((a, b) => a - b)
  const pct = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN)
  return { n: sorted.length, p50: pct(50), p90: pct(90), p99: pct(99), max: pct(100) }
}
const between = (from: keyof Steps, to: keyof Steps) => percentiles(all.filter((s) => s[from] !== undefined && s[to] !== undefined).map((s) => s[to]! - s[from]!))

for (const c of children) c.kill('SIGTERM')
await Promise.all(children.map((c) => once(c, 'exit')))
await rm(spoolDir, { recursive: true, force: true })
const admin = kafka.admin()
await admin.connect()
await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
for (const group of [`${run}-side`, `${run}-idx`, `${run}-corr-rekey`, `${run}-corr-engine`]) await admin.deleteGroups([group]).catch(() => undefined)
await admin.disconnect()
await es.indices.delete({ index: `${run}-*`, expand_wildcards: 'all' }).catch(() => undefined)
await es.indices.deleteIndexTemplate({ name: `${run}-*` }).catch(() => undefined)

const latency = between('sent', 'searchable')
const result = {
  date: new Date().toISOString(), alertsPerSec: requestsPerSec * alertsPerRequest, seconds, sendingSeconds: Math.round(sendingSeconds * 10) / 10,
  incidentsExpected: total, incidentsSeen: latency.n, failedRequests: failures,
  loadAverage1m: { before: Math.round(loadBefore[0]! * 100) / 100, after: Math.round(loadAfter[0]! * 100) / 100 },
  latencyMs: { p50: latency.p50, p90: latency.p90, p99: latency.p99, max: latency.max },
  // Each step on its own (percentiles of steps do not add up to the whole).
  stepsMs: {
    'request acknowledged': between('sent', 'acked'),
    'sent → alert on the alerts topic': between('sent', 'onAlerts'),
    'alerts topic → correlator input (rekey)': between('onAlerts', 'rekeyed'),
    'correlator input → incident produced (engine)': between('rekeyed', 'produced'),
    'incident produced → searchable (indexer, refresh, poll)': between('produced', 'searchable'),
  },
  pollSearchMs: percentiles(pollMs),
}
console.log(JSON.stringify(result, null, 2))
console.log(`\nalert received → incident searchable at ${result.alertsPerSec} alerts/s: p50 ${latency.p50} ms, p99 ${latency.p99} ms (target <= 1500 ms); ${latency.n}/${total} incidents seen, ${failures} failed requests; load average ${result.loadAverage1m.before} → ${result.loadAverage1m.after}`)
