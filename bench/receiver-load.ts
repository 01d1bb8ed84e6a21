// The receiver benches' load: unique Alertmanager webhooks, autocannon's closed loop, a process's CPU time,
// and the raw kafkajs producer the receiver is compared with (bench/receiver.ts, bench/receiver-floor.ts).
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import autocannon from 'autocannon'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { intakeAlertmanager } from '../packages/ingest/src/intake.ts'
import { defaultIngestOptions, eventKey } from '../packages/ingest/src/event.ts'

export const brokers = (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
export { median } from './lib.ts'
export const round2 = (n: number) => Math.round(n * 100) / 100

export const alertsPerRequest = 10
export const token = 'bench-token'
export const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` }

let counter = 0
/** A unique payload each time: identical bodies would be dropped as redeliveries and measure nothing. */
export function payload(): string {
  const n = counter++
  const startsAt = new Date(Date.UTC(2026, 10, 1) + n * 1000).toISOString()
  const alerts = Array.from({ length: alertsPerRequest }, (_, i) => ({
    status: 'firing',
    labels: { alertname: 'BenchAlert', service: `svc-${i}`, env: 'production', severity: i % 3 ? 'warning' : 'critical', instance: `host-${n % 50}:9100` },
    annotations: { summary: 'Bench alert', description: 'Synthetic load' },
    startsAt, endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prometheus/graph', fingerprint: `${n.toString(16)}-${i}`,
  }))
  return JSON.stringify({ version: '4', status: 'firing', receiver: 'bench', groupKey: `{}:{n="${n}"}`, groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://am', truncatedAlerts: 0, alerts })
}

/** As many requests as `connections` connections get answered: a closed loop, for throughput. */
export async function load(url: string, opts: { connections: number; duration: number }) {
  const result = await autocannon({
    url: `${url}/webhooks/alertmanager`, method: 'POST', duration: opts.duration, connections: opts.connections, headers,
    requests: [{ setupRequest: (req) => ({ ...req, body: payload() }) }],
  })
  return {
    requests: result.requests.total, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts,
    requestsPerSec: result.requests.average, alertsPerSec: result.requests.average * alertsPerRequest,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks; fields[0] here is field 3.
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/**
 * The receiver's messages, as it would publish them: the canonical events of one of the bench's payloads
 * (value ~640 bytes, not the ~340-byte raw alert) under keys shaped like the receiver's, one per alert,
 * so the raw producer moves the same bytes to the same spread of partitions.
 */
function canonicalMessageTemplate(): { value: string; keyPrefix: string } {
  const intake = intakeAlertmanager(JSON.parse(payload()), { receivedAt: new Date(), options: defaultIngestOptions })
  if (!intake.ok || intake.accepted.length === 0) throw new Error('the bench payload does not pass the receiver validation')
  const event = intake.accepted[0]!.event
  return { value: JSON.stringify(event), keyPrefix: `${eventKey(event).split(':')[0]}:` }
}

export async function rawProducer(brokers: string[], topic: string, events: number) {
  const kafka = new Kafka({ clientId: 'bench-raw', brokers, logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const { value, keyPrefix } = canonicalMessageTemplate()
  const batch = 2000
  const cpuStart = process.cpuUsage()
  const started = performance.now()
  for (let sent = 0; sent < events; sent += batch) {
    const messages = Array.from({ length: Math.min(batch, events - sent) }, (_, i) => ({ key: `${keyPrefix}${(sent + i).toString(16)}`, value }))
    await producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 })
  }
  const secs = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuStart)
  await producer.disconnect()
  const cpuSecondsPer100kEvents = Math.round(((cpu.user + cpu.system) / 1e6 / events) * 100_000 * 100) / 100
  return { events, seconds: Math.round(secs * 100) / 100, eventsPerSec: Math.round(events / secs), cpuSecondsPer100kEvents, loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100 }
}
