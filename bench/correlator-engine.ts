// pnpm bench:correlator (engine part): the pure correlation engine on one core, over a realistic mix.
//
// Episodes on 500 services in 3 environments, about 11 days of event time: most are 1-8 alerts that fire
// together and resolve 2-20 minutes later; 10 % flap (one alert toggling every 3 minutes for half an hour);
// 10 % recur (one signature per service, once a day); some share a database host across services;
// 1 % of firing notifications are redelivered; a tick every 5 s of event time.
// The stream is built before timing; only engine.apply is timed.
import { createHash } from 'node:crypto'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { AlertEvent, EngineInput } from '@opsreview/correlation/types'

const total = Number(process.env.BENCH_ALERTS ?? 1_000_000)
const T0 = Date.parse('2026-11-01T00:00:00Z')
const MIN = 60_000
let seed = 42
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!

const services = Array.from({ length: 500 }, (_, i) => `svc-${i}`)
const envs = ['production', 'staging', 'dev'] as const
const names = ['HighLatency', 'ErrorRate', 'PodCrashLooping', 'DiskFull', 'CPUThrottling', 'TargetDown', 'QueueBacklog', 'CertExpiry']

interface Timed { at: number; input: EngineInput }
const timed: Timed[] = []

function push(fp: string, service: string, env: string, name: string, status: 'firing' | 'resolved', at: number, host: string): void {
  const time = new Date(at).toISOString()
  const e: AlertEvent = {
    id: createHash('sha1').update(`${fp}|${status}|${time}`).digest('hex').slice(0, 32),
    source: 'alertmanager', fingerprint: fp, status, severity: name === 'TargetDown' ? 'critical' : 'warning', service, environment: env,
    title: `${name} on ${service}`, labels: { alertname: name, service, env, instance: `${host}:9100` },
    startsAt: time, receivedAt: time, links: [], origin: { groupKey: `{}:{alertname="${name}"}` },
  }
  if (status === 'resolved') e.endsAt = time
  timed.push({ at, input: { type: 'alert', event: e } })
  if (status === 'firing' && rand() < 0.01) timed.push({ at: at + 1000, input: { type: 'alert', event: { ...e, receivedAt: new Date(at + 1000).toISOString() } } })
}

let alerts = 0
let episode = 0
let now = T0
while (alerts < total) {
  now += Math.floor(rand() * 15_000) // an episode starts every ~7.5 s somewhere
  episode++
  const service = pick(services)
  const env = pick(envs)
  const host = rand() < 0.2 ? `db-${Math.floor(rand() * 5)}` : `${service}-${Math.floor(rand() * 3)}`
  const r = rand()
  if (r < 0.1) {
    const fp = `flap-${service}-${env}`
    for (let k = 0; k < 10; k++, alerts += 2) {
      push(fp, service, env, 'TargetDown', 'firing', now + k * 3 * MIN, host)
      push(fp, service, env, 'TargetDown', 'resolved', now + k * 3 * MIN + 90_000, host)
    }
  } else if (r < 0.2) {
    const day = Math.floor((now - T0) / 86_400_000)
    const fp = `rec-${service}-${env}-${day}`
    push(fp, service, env, 'QueueBacklog', 'firing', now, host)
    push(fp, service, env, 'QueueBacklog', 'resolved', now + 10 * MIN, host)
    alerts += 2
  } else {
    const count = 1 + Math.floor(rand() * 8)
    const duration = (2 + Math.floor(rand() * 18)) * MIN
    for (let k = 0; k < count; k++, alerts += 2) {
      const fp = `e${episode}-${k}`
      const name = pick(names)
      push(fp, service, env, name, 'firing', now + k * 10_000, host)
      push(fp, service, env, name, 'resolved', now + duration + k * 5_000, host)
    }
  }
}
const last = timed.reduce((m, t) => Math.max(m, t.at), 0)
for (let t = T0 + 5000; t <= last + 60 * MIN; t += 5000) timed.push({ at: t, input: { type: 'tick', at: new Date(t).toISOString() } })
// Receive order, with ticks after the events of the same instant.
timed.sort((a, b) => a.at - b.at || (a.input.type === 'tick' ? 1 : 0) - (b.input.type === 'tick' ? 1 : 0))
const inputs = timed.map((t) => t.input)
const days = Math.round((last - T0) / 86_400_000 * 10) / 10

const engine = new CorrelationEngine()
const started = performance.now()
const cpuStarted = process.cpuUsage()
let outputs = 0
for (const input of inputs) outputs += engine.apply(input).length
const seconds = (performance.now() - started) / 1000
// CPU time of this process too: the machine is shared, and wall time counts the others' work.
const cpu = process.cpuUsage(cpuStarted)
const cpuSeconds = (cpu.user + cpu.system) / 1e6
const alertInputs = inputs.filter((i) => i.type === 'alert').length
const result = {
  alerts: alertInputs, ticks: inputs.length - alertInputs, eventTimeDays: days, seconds: Math.round(seconds * 100) / 100,
  alertsPerSec: Math.round(alertInputs / seconds), cpuSeconds: Math.round(cpuSeconds * 100) / 100,
  alertsPerCpuSec: Math.round(alertInputs / cpuSeconds), outputs,
  incidents: engine.incidents().length, problems: engine.problems().length,
  problemKinds: engine.problems().reduce<Record<string, number>>((acc, p) => ({ ...acc, [p.kind]: (acc[p.kind] ?? 0) + 1 }), {}),
  heapMiB: Math.round(process.memoryUsage().heapUsed / 1024 / 1024),
  late: engine.stats.late,
}
console.log(JSON.stringify(result, null, 2))
console.log(`\ncorrelation engine: ${result.alertsPerSec} alerts/s on one core (target >= 200000)`)
