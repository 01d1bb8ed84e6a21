import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { EngineInput } from '@opsreview/correlation/types'
import { alertStream } from './correlator-stream.ts'
const total = 1_000_000
const engine = new CorrelationEngine()
const it = alertStream(total)
let timed = 0, cpu = 0, alerts = 0, outputs = 0
for (;;) {
  const chunk: EngineInput[] = []
  for (let r = it.next(); !r.done; r = it.next()) { chunk.push(r.value); if (chunk.length >= Number(process.env.CHUNK ?? 50000)) break }
  if (chunk.length === 0) break
  const t = performance.now(); const c = process.cpuUsage()
  for (const input of chunk) outputs += engine.apply(input).length
  timed += performance.now() - t; const d = process.cpuUsage(c); cpu += (d.user + d.system) / 1000
  alerts += chunk.filter((i) => i.type === 'alert').length
}
console.log({ alerts, outputs, seconds: timed / 1000, alertsPerSec: Math.round(alerts / timed * 1000), alertsPerCpuSec: Math.round(alerts / cpu * 1000) })
