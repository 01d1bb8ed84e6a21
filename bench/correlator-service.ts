// pnpm bench:correlator-service: the correlator service (its own process) on the local broker.
// N alert events are on the alerts topic first; the bench times from the service's start until its engine
// group has committed past every input record (which it does only with a durable snapshot), i.e. until
// all alerts were rekeyed, correlated, their incidents produced and the state checkpointed.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { freePort } from '@opsreview/testing/ports'
import { syntheticAlertRecord } from './lib.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const brokers = (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const total = Number(process.env.BENCH_ALERTS ?? 100_000)
const run = `bench-corr-${Date.now().toString(36)}`
// Recent, as a receiver stamps them: ticks carry the wall clock, and events must not be a month behind it.
const T0 = Date.now() - 3 * 3_600_000
const envs = ['production', 'staging', 'dev', 'eu-production', 'us-production', 'qa']

const kafka = new Kafka({ clientId: 'bench-correlator', brokers, logLevel: logLevel.NOTHING })
const admin = kafka.admin()
await admin.connect()
const topics = { alerts: `${run}-alerts`, commands: `${run}-commands`, input: `${run}-input`, incidents: `${run}-incidents`, problems: `${run}-problems`, results: `${run}-results`, state: `${run}-state`, dlq: `${run}-dlq` }
await admin.createTopics({ topics: [{ topic: topics.alerts, numPartitions: 6 }], waitForLeaders: true })
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
await producer.connect()
for (let i = 0; i < total; i += 5000) {
  const messages = Array.from({ length: Math.min(5000, total - i) }, (_, k) => syntheticAlertRecord(i + k, T0, envs))
  await producer.send({ topic: topics.alerts, acks: -1, messages })
}
await producer.disconnect()
console.log(`${total} alert events on ${topics.alerts}`)

const started = performance.now()
const child = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), '--conditions=@opsreview/source', path.join(repo, 'services/correlator/src/main.ts')], {
  env: {
    ...process.env, OPSREVIEW_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', OPSREVIEW_CORRELATOR_GROUP: run, OPSREVIEW_CORRELATOR_PORT: String(await freePort()), OPSREVIEW_TICK_INTERVAL: '5s', OPSREVIEW_SNAPSHOT_INTERVAL: process.env.BENCH_SNAPSHOT_INTERVAL ?? '10s',
    OPSREVIEW_TOPIC_ALERTS: topics.alerts, OPSREVIEW_TOPIC_COMMANDS: topics.commands, OPSREVIEW_TOPIC_CORRELATOR_INPUT: topics.input, OPSREVIEW_TOPIC_INCIDENTS: topics.incidents,
    OPSREVIEW_TOPIC_PROBLEMS: topics.problems, OPSREVIEW_TOPIC_COMMAND_RESULTS: topics.results, OPSREVIEW_TOPIC_CORRELATOR_STATE: topics.state, OPSREVIEW_TOPIC_CORRELATOR_DEAD_LETTER: topics.dlq,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
})
const sum = (xs: { offset: string }[]) => xs.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0)
let rekeyedAfter = 0
for (;;) {
  await new Promise((r) => setTimeout(r, 200))
  const rekeyed = await admin.fetchOffsets({ groupId: `${run}-rekey`, topics: [topics.alerts] }).then(([t]) => sum(t!.partitions), () => 0)
  if (rekeyed < total) continue
  rekeyedAfter ||= (performance.now() - started) / 1000
  const ends = await admin.fetchTopicOffsets(topics.input).catch(() => [])
  const inputRecords = ends.reduce((s, p) => s + Number(p.high), 0)
  const applied = await admin.fetchOffsets({ groupId: `${run}-engine`, topics: [topics.input] }).then(([t]) => sum(t!.partitions), () => 0)
  // Ticks keep arriving; everything up to the alerts is enough.
  if (applied >= inputRecords - 20 * envs.length) break
}
const seconds = (performance.now() - started) / 1000
const incidents = await admin.fetchTopicOffsets(topics.incidents).then((p) => p.reduce((s, x) => s + Number(x.high), 0))
child.kill('SIGTERM')
await once(child, 'exit')
await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
await admin.disconnect()
const result = { date: new Date().toISOString(), alerts: total, seconds: Math.round(seconds * 10) / 10, rekeyedAfterSeconds: Math.round(rekeyedAfter * 10) / 10, alertsPerSec: Math.round(total / seconds), incidentVersionsProduced: incidents, note: 'includes process start, topic creation and consumer-group joins' }
console.log(JSON.stringify(result, null, 2))
console.log(`\ncorrelator service: ${result.alertsPerSec} alerts/s end to end on the local broker (target >= 5000)`)
