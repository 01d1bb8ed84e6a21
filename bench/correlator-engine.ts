// pnpm bench:correlator (engine part): the pure correlation engine on one core, over a realistic mix.
//
// 200 services in 3 environments; most alerts fire and resolve once, some flap (re-fire every few
// minutes), some recur daily, some share a host; 1 % are redeliveries; a tick every 5 s of event time.
// The stream is built before timing; only engine.apply is timed.
import { createHash } from 'node:crypto'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { AlertEvent, EngineInput } from '@opsreview/correlation/types'

const total = Number(process.env.BENCH_ALERTS ?? 1_000_000)
const T0 = Date.parse('2026-11-01T00:00:00Z')
let seed = 42
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!

const services = Array.from({ length: 200 }, (_, i) => `svc-${i}`)
const envs = ['production', 'production', 'production', 'staging', 'dev']
const names = ['HighLatency', 'ErrorRate', 'PodCrashLooping', 'DiskFull', 'CPUThrottling', 'TargetDown']

function event(fp: string, service: string, env: string, name: string, status: 'firing' | 'resolved', at: number, host: string): EngineInput {
  const time = new Date(at).toISOString()
  const e: AlertEvent = {
    id: createHash('sha1').update(`${fp}|${status}|${time}`).digest('hex').slice(0, 32),
    source: 'alertmanager', fingerprint: fp, status, severity: name === 'TargetDown' ? 'critical' : 'warning', service, environment: env,
    title: `${name} on ${service}`, labels: { alertname: name, service, env, instance: `${host}:9100` },
    startsAt: time, receivedAt: time, links: [], origin: { groupKey: `{}:{alertname="${name}"}` },
  }
  if (status === 'resolved') e.endsAt = time
  return { type: 'alert', event: e }
}

const inputs: EngineInput[] = []
let now = T0
let nextTick = T0 + 5000
let alerts = 0
while (alerts < total) {
  now += Math.floor(rand() * 40) // ~50 alerts per second of event time
  while (now >= nextTick) { inputs.push({ type: 'tick', at: new Date(nextTick).toISOString() }); nextTick += 5000 }
  const r = rand()
  const service = pick(services)
  const env = pick(envs)
  const name = pick(names)
  const host = `host-${Math.floor(rand() * 60)}`
  if (r < 0.1) {
    // flapping: the same alert fires and resolves several times within minutes
    const fp = `flap-${service}-${name}`
    for (let k = 0; k < 5 && alerts < total; k++) {
      inputs.push(event(fp, service, env, name, 'firing', now + k * 120_000, host))
      inputs.push(event(fp, service, env, name, 'resolved', now + k * 120_000 + 60_000, host))
      alerts += 2
    }
  } else if (r < 0.2) {
    // recurring: one signature per service, a fresh fingerprint per episode
    const fp = `rec-${service}-${Math.floor(now / 86_400_000)}-${alerts}`
    inputs.push(event(fp, service, env, 'HighLatency', 'firing', now, host), event(fp, service, env, 'HighLatency', 'resolved', now + 300_000, host))
    alerts += 2
  } else {
    const fp = `a-${alerts}`
    const fire = event(fp, service, env, name, 'firing', now, host)
    inputs.push(fire, event(fp, service, env, name, 'resolved', now + Math.floor(rand() * 1_800_000), host))
    if (rand() < 0.01) inputs.push(structuredClone(fire))
    alerts += 2
  }
}
// Keep the stream in receive order.
inputs.sort((a, b) => (a.type === 'tick' ? Date.parse(a.at) : Date.parse((a as { event: AlertEvent }).event.receivedAt)) - (b.type === 'tick' ? Date.parse(b.at) : Date.parse((b as { event: AlertEvent }).event.receivedAt)))

const engine = new CorrelationEngine()
const started = performance.now()
let outputs = 0
for (const input of inputs) outputs += engine.apply(input).length
const seconds = (performance.now() - started) / 1000
const alertInputs = inputs.filter((i) => i.type === 'alert').length
const result = {
  alerts: alertInputs, ticks: inputs.length - alertInputs, seconds: Math.round(seconds * 100) / 100,
  alertsPerSec: Math.round(alertInputs / seconds), outputs,
  incidents: engine.incidents().length, problems: engine.problems().length,
  problemKinds: engine.problems().reduce<Record<string, number>>((acc, p) => ({ ...acc, [p.kind]: (acc[p.kind] ?? 0) + 1 }), {}),
  heapMiB: Math.round(process.memoryUsage().heapUsed / 1024 / 1024),
}
console.log(JSON.stringify(result, null, 2))
console.log(`\ncorrelation engine: ${result.alertsPerSec} alerts/s on one core (target >= 100000)`)
