// pnpm bench:scale: does a second instance add throughput? For the indexer and for the correlator
// service, in one run and under the same load: N records are drained first by one instance, then by two
// instances of one consumer group (a fresh group and fresh outputs per phase, so each phase does the same
// work). Instances are processes of their own; this process only writes the records and watches.
//
// Each phase's clock starts once every instance is in its groups (for two, after the rebalance the
// second one's join causes), so start-up and joining count in neither phase, and stops when all N are done:
// - indexer: the N alert events are on a 6-partition topic before the instances start; done is the group's
//   committed offsets (it commits only what Elasticsearch accepted, every 200 ms). The rate is the records
//   committed inside the window over its length.
// - correlator: records a first instance took before the second joined would be replayed by the second
//   (a moved partition restores from its snapshot) and counted twice, so here the instances join on an
//   empty 6-partition alerts topic and the N events are then written in one burst (at several times the
//   drain rate; its duration is reported). Done is the engines' `opsreview_correlator_inputs_applied_total`
//   summed (an input counts once its outputs are acknowledged); ticks are off, so N inputs are N alerts.
//   Environments are picked so that each input partition gets two: the engine input is keyed by them.
// CPU: /proc/<pid>/stat of each instance and of the local broker, and Elasticsearch's node stats, over
// the same window.
//
// BENCH_INDEXER_DOCS (200,000), BENCH_CORRELATOR_ALERTS (100,000), BENCH_PARTS (indexer,correlator).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@elastic/elasticsearch'
import { Kafka, logLevel, Partitioners, type Admin } from 'kafkajs'
import { freePort } from '@opsreview/testing/ports'
import { syntheticAlertRecord } from './lib.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const brokers = (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const esUrl = process.env.OPSREVIEW_ES_URL ?? 'http://127.0.0.1:9200'
const indexerDocs = Number(process.env.BENCH_INDEXER_DOCS ?? 200_000)
const correlatorAlerts = Number(process.env.BENCH_CORRELATOR_ALERTS ?? 100_000)
const parts = (process.env.BENCH_PARTS ?? 'indexer,correlator').split(',')
const PARTITIONS = 6
const run = `bench-scale-${Date.now().toString(36)}`
const CLK_TCK = 100 // Linux USER_HZ: /proc/<pid>/stat counts CPU time in these
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const es = new Client({ node: esUrl, requestTimeout: 120_000 })
const kafka = new Kafka({ clientId: 'bench-scale', brokers, logLevel: logLevel.NOTHING })
const admin = kafka.admin()
await admin.connect()

/** CPU seconds (user + system) a process has used so far; undefined once it is gone. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch {
    return undefined
  }
}

/** The local broker's pid, if it runs on this machine (for its CPU only). */
function brokerPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmd.includes('kafka.Kafka') && cmd.includes(`${path.sep}opsreview${path.sep}kafka${path.sep}server.properties`)) return Number(entry)
    } catch { /* gone meanwhile */ }
  }
  return undefined
}

async function esCpuSeconds(): Promise<number | undefined> {
  const stats = await es.nodes.stats({ metric: 'process' }).catch(() => undefined)
  const node = stats ? Object.values(stats.nodes)[0] : undefined
  const ms = node?.process?.cpu?.total_in_millis
  return ms === undefined ? undefined : ms / 1000
}

async function metric(port: number, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '')
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0
}

const committed = async (groupId: string, topic: string) =>
  admin.fetchOffsets({ groupId, topics: [topic] }).then(([t]) => t!.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0), () => 0)

interface Instance { child: ChildProcess; port: number }
const children = new Set<ChildProcess>()
async function startService(service: 'indexer' | 'correlator', env: Record<string, string>): Promise<Instance> {
  const port = await freePort()
  const portVar = service === 'indexer' ? 'OPSREVIEW_INDEXER_PORT' : 'OPSREVIEW_CORRELATOR_PORT'
  const child = spawn(process.execPath, ['--conditions=@opsreview/source', path.join(repo, `services/${service}/src/main.ts`)], {
    env: { ...process.env, OPSREVIEW_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', ...env, [portVar]: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return { child, port }
}
async function stopAll(instances: Instance[]): Promise<void> {
  await Promise.all(instances.map(async ({ child }) => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    await once(child, 'exit')
  }))
}

interface Window { seconds: number; done: number; cpu: { instances: number[]; broker?: number; elasticsearch?: number } }
/**
 * Waits until every instance is in its group (`ready`), then measures until `progress` reaches `total`:
 * records done in the window, its length, and the CPU each process used in it.
 */
async function measure(instances: Instance[], ready: () => Promise<boolean>, progress: () => Promise<number>, total: number, what: string, begin?: () => Promise<void>): Promise<Window> {
  const deadline = Date.now() + 30 * 60_000
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what}: instances never joined`)
    if (instances.some((i) => i.child.exitCode !== null)) throw new Error(`${what}: an instance exited`)
    await sleep(100)
  }
  const broker = brokerPid()
  const cpu0 = { instances: instances.map((i) => cpuSeconds(i.child.pid) ?? 0), broker: cpuSeconds(broker), elasticsearch: await esCpuSeconds() }
  const done0 = await progress()
  if (done0 > total / 2) console.warn(`${what}: ${done0} of ${total} were done before every instance joined; use more records`)
  const t0 = performance.now()
  const begun = begin?.()
  let done = done0
  while (done < total) {
    if (Date.now() > deadline) throw new Error(`${what}: not done after 30 minutes (${done}/${total})`)
    if (instances.some((i) => i.child.exitCode !== null)) throw new Error(`${what}: an instance exited`)
    await sleep(100)
    done = await progress()
  }
  const seconds = (performance.now() - t0) / 1000
  await begun
  const es1 = await esCpuSeconds()
  const b1 = cpuSeconds(broker)
  return {
    seconds, done: done - done0,
    cpu: {
      instances: instances.map((i, k) => round((cpuSeconds(i.child.pid) ?? 0) - cpu0.instances[k]!, 2)),
      ...(cpu0.broker !== undefined && b1 !== undefined ? { broker: round(b1 - cpu0.broker, 2) } : {}),
      ...(cpu0.elasticsearch !== undefined && es1 !== undefined ? { elasticsearch: round(es1 - cpu0.elasticsearch, 2) } : {}),
    },
  }
}

function phaseResult(instances: number, w: Window, unit: 'docs' | 'alerts') {
  const perSec = w.done / w.seconds
  const per100k = (s: number) => round((s / w.done) * 100_000, 2)
  return {
    instances, unit, done: w.done, seconds: round(w.seconds, 2), perSec: Math.round(perSec),
    cpuSeconds: w.cpu,
    // What each process spent per 100,000 records in the window; the instances' share is split between them.
    cpuSecondsPer100k: { instances: w.cpu.instances.map(per100k), instancesTotal: per100k(w.cpu.instances.reduce((a, b) => a + b, 0)), ...(w.cpu.broker !== undefined ? { broker: per100k(w.cpu.broker) } : {}), ...(w.cpu.elasticsearch !== undefined ? { elasticsearch: per100k(w.cpu.elasticsearch) } : {}) },
    // Cores busy on average over the window.
    cores: { instances: w.cpu.instances.map((c) => round(c / w.seconds, 2)), ...(w.cpu.broker !== undefined ? { broker: round(w.cpu.broker / w.seconds, 2) } : {}), ...(w.cpu.elasticsearch !== undefined ? { elasticsearch: round(w.cpu.elasticsearch / w.seconds, 2) } : {}) },
  }
}

const created: string[] = []
async function createTopic(topic: string, numPartitions: number): Promise<void> {
  created.push(topic)
  // A busy broker answers "not the leader yet" for a while after a create: wait for the metadata.
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: false })
  for (let i = 0; ; i++) {
    const ok = await admin.fetchTopicMetadata({ topics: [topic] }).then(({ topics: [t] }) => t!.partitions.length === numPartitions && t!.partitions.every((p) => p.leader >= 0), () => false)
    if (ok) return
    if (i > 300) throw new Error(`topic ${topic} has no leaders`)
    await sleep(100)
  }
}

// --- the indexer ---------------------------------------------------------------------------------------
async function indexerScale() {
  const topic = `${run}-idx-alerts`
  await createTopic(topic, PARTITIONS)
  const services = Array.from({ length: 300 }, (_, i) => `svc-${i}`)
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  for (let i = 0; i < indexerDocs; i += 5000) {
    const messages = Array.from({ length: Math.min(5000, indexerDocs - i) }, (_, k) => {
      const n = i + k
      const at = new Date(Date.UTC(2026, 10, 1) + n * 1000).toISOString()
      const service = services[n % services.length]
      return {
        key: `fp-${n % 5000}`,
        value: JSON.stringify({
          id: n.toString(16).padStart(32, '0'), source: 'alertmanager', fingerprint: `fp-${n % 5000}`, status: n % 2 ? 'resolved' : 'firing',
          severity: n % 10 ? 'warning' : 'critical', service, environment: 'production', title: `HighLatency on ${service}`,
          description: 'p99 latency above 500 ms for 5 minutes', labels: { alertname: 'HighLatency', instance: `host-${n % 97}:9100`, pod: `pod-${n % 1000}` },
          startsAt: at, ...(n % 2 ? { endsAt: at } : {}), receivedAt: at, links: [{ rel: 'generator', href: 'http://prometheus/graph' }], origin: { receiver: 'bench' },
        }),
      }
    })
    await producer.send({ topic, acks: -1, messages })
  }
  await producer.disconnect()
  console.log(`indexer: ${indexerDocs} alert events on ${topic} (${PARTITIONS} partitions)`)

  const phases = []
  for (const count of [1, 2]) {
    const group = `${run}-idx-group${count}`
    const env = {
      OPSREVIEW_TOPIC_ALERTS: topic, OPSREVIEW_TOPIC_INCIDENTS: `${run}-idx-incidents`, OPSREVIEW_TOPIC_PROBLEMS: `${run}-idx-problems`,
      OPSREVIEW_TOPIC_INDEXER_DEAD_LETTER: `${run}-idx-dlq`, OPSREVIEW_ES_INDEX_PREFIX: `${run}-p${count}`, OPSREVIEW_INDEXER_GROUP: group,
      // A stopped instance leaves the group at once; only a killed one would hold partitions this long.
      OPSREVIEW_KAFKA_SESSION_TIMEOUT: '10s',
    }
    created.push(`${run}-idx-incidents`, `${run}-idx-problems`, `${run}-idx-dlq`)
    const instances: Instance[] = []
    for (let k = 0; k < count; k++) instances.push(await startService('indexer', env))
    try {
      // /readyz is 200 once the instance is in its group (and Elasticsearch takes writes).
      // For two, also the group stable with both members holding partitions: the rebalance is over.
      const ready = async () => (await Promise.all(instances.map((i) => fetch(`http://127.0.0.1:${i.port}/readyz`).then((r) => r.ok, () => false)))).every(Boolean)
        && await bothAssigned(group, topic, count)
      const w = await measure(instances, ready, () => committed(group, topic), indexerDocs, `indexer ×${count}`)
      phases.push(phaseResult(count, w, 'docs'))
      console.log(`indexer ×${count}: ${phases.at(-1)!.perSec} docs/s`)
    } finally {
      await stopAll(instances)
    }
  }
  return phases
}

/** Whether the group has `count` members, each assigned partitions of `topic`: the rebalance is over. */
async function bothAssigned(groupId: string, topic: string, count: number): Promise<boolean> {
  const { groups } = await admin.describeGroups([groupId]).catch(() => ({ groups: [] }))
  const g = groups[0]
  return !!g && g.state === 'Stable' && g.members.length === count && g.members.every((m) => m.memberAssignment.includes(Buffer.from(topic)))
}

// --- the correlator service ----------------------------------------------------------------------------
/** Environment names spread evenly over the input partitions (the engine input is keyed by environment). */
function spreadEnvironments(perPartition: number): string[] {
  const partitioner = Partitioners.DefaultPartitioner()
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, p) => ({ partitionId: p, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }))
  const byPartition = new Map<number, string[]>()
  for (let i = 0; [...byPartition.values()].reduce((s, l) => s + l.length, 0) < perPartition * PARTITIONS; i++) {
    const env = `env-${i}`
    const p = partitioner({ topic: 'input', partitionMetadata, message: { key: env, value: null } })
    const list = byPartition.get(p) ?? []
    if (list.length < perPartition) { list.push(env); byPartition.set(p, list) }
  }
  return [...byPartition.values()].flat()
}

async function correlatorScale() {
  const envs = spreadEnvironments(2)
  // Recent, as a receiver stamps them; ordered in event time within each environment.
  const T0 = Date.now() - 3 * 3_600_000
  const batches: { key: string; value: string }[][] = []
  for (let i = 0; i < correlatorAlerts; i += 5000) {
    batches.push(Array.from({ length: Math.min(5000, correlatorAlerts - i) }, (_, k) => syntheticAlertRecord(i + k, T0, envs)))
  }
  console.log(`correlator: ${correlatorAlerts} alert events (${envs.length} environments, two per input partition of ${PARTITIONS})`)
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()

  const phases = []
  for (const count of [1, 2]) {
    const p = `${run}-corr${count}`
    const alertsTopic = `${p}-alerts`
    await createTopic(alertsTopic, PARTITIONS)
    const topics = {
      OPSREVIEW_TOPIC_ALERTS: alertsTopic, OPSREVIEW_TOPIC_COMMANDS: `${p}-commands`, OPSREVIEW_TOPIC_CORRELATOR_INPUT: `${p}-input`, OPSREVIEW_TOPIC_INCIDENTS: `${p}-incidents`,
      OPSREVIEW_TOPIC_PROBLEMS: `${p}-problems`, OPSREVIEW_TOPIC_COMMAND_RESULTS: `${p}-results`, OPSREVIEW_TOPIC_CORRELATOR_STATE: `${p}-state`, OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: `${p}-dlq`,
    }
    created.push(...Object.values(topics))
    const env = {
      ...topics, OPSREVIEW_CORRELATOR_GROUP: p, OPSREVIEW_CORRELATOR_PARTITIONS: String(PARTITIONS), OPSREVIEW_KAFKA_SESSION_TIMEOUT: '10s',
      // Ticks off: every input record is an alert, so "all applied" is exactly N.
      OPSREVIEW_TICK_INTERVAL: '0',
    }
    const instances: Instance[] = []
    for (let k = 0; k < count; k++) instances.push(await startService('correlator', env))
    try {
      // Both groups stable with every instance holding partitions (the engine gauge is set on each join).
      const ready = async () => {
        const assigned = await Promise.all(instances.map((i) => metric(i.port, 'opsreview_correlator_partitions')))
        return assigned.every((n) => n > 0) && assigned.reduce((a, b) => a + b, 0) === PARTITIONS
          && await bothAssigned(`${p}-engine`, topics.OPSREVIEW_TOPIC_CORRELATOR_INPUT, count) && await bothAssigned(`${p}-rekey`, alertsTopic, count)
      }
      const applied = async () => (await Promise.all(instances.map((i) => metric(i.port, 'opsreview_correlator_inputs_applied_total')))).reduce((a, b) => a + b, 0)
      let loadSeconds = 0
      const w = await measure(instances, ready, applied, correlatorAlerts, `correlator ×${count}`, async () => {
        // The alerts are written in one burst once the instances are in their groups (see the top).
        const t = performance.now()
        for (const messages of batches) await producer.send({ topic: alertsTopic, acks: -1, messages })
        loadSeconds = (performance.now() - t) / 1000
      })
      phases.push({ ...phaseResult(count, w, 'alerts'), burstWrittenInSeconds: round(loadSeconds, 2) })
      console.log(`correlator ×${count}: ${phases.at(-1)!.perSec} alerts/s`)
    } finally {
      await stopAll(instances)
    }
  }
  await producer.disconnect()
  return phases
}

async function cleanUp(): Promise<void> {
  for (const c of children) c.kill('SIGTERM')
  await sleep(children.size > 0 ? 3000 : 0)
  const existing = new Set(await admin.listTopics().catch(() => [] as string[]))
  const mine = [...new Set(created)].filter((t) => existing.has(t))
  if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch((err: unknown) => console.error('could not delete topics', err))
  await es.indices.delete({ index: `${run}-*`, expand_wildcards: 'all' }).catch(() => undefined)
  await es.indices.deleteIndexTemplate({ name: `${run}-*` }).catch(() => undefined)
  await deleteGroups(admin, [`${run}-idx-group1`, `${run}-idx-group2`, ...[1, 2].flatMap((c) => [`${run}-corr${c}-rekey`, `${run}-corr${c}-engine`])])
}
async function deleteGroups(a: Admin, groups: string[]): Promise<void> {
  for (const g of groups) await a.deleteGroups([g]).catch(() => undefined)
}

const loadBefore = os.loadavg()
const result: Record<string, unknown> = { date: new Date().toISOString(), cores: os.cpus().length }
const summary: string[] = []
try {
  for (const part of parts) {
    const phases = part === 'indexer' ? await indexerScale() : part === 'correlator' ? await correlatorScale() : undefined
    if (!phases) throw new Error(`unknown part ${part}`)
    const [one, two] = phases
    const ratio = round(two!.perSec / one!.perSec, 2)
    result[part] = { one, two, ratio }
    summary.push(`${part}: one instance ${one!.perSec} ${one!.unit}/s, two instances ${two!.perSec} ${two!.unit}/s: ×${ratio}; instance CPU s per 100k: ${one!.cpuSecondsPer100k.instancesTotal} (one), ${two!.cpuSecondsPer100k.instancesTotal} (two together)`)
  }
} finally {
  await cleanUp()
  await admin.disconnect()
  await es.close()
}
result.loadAverage1m = { before: round(loadBefore[0]!, 2), after: round(os.loadavg()[0]!, 2) }
console.log(JSON.stringify(result, null, 2))
console.log(`\n${summary.join('\n')}\nload average ${round(loadBefore[0]!, 2)} → ${round(os.loadavg()[0]!, 2)} on ${os.cpus().length} cores`)
