// pnpm bench:correlator: the pure correlation engine on one core.
//
// 1. Throughput: BENCH_ALERTS alerts (default 1,000,000) of bench/correlator-stream.ts, built before
//    timing; only engine.apply is timed (wall and CPU time: the machine is shared).
// 2. State: for each size in BENCH_RETAINED (default 1,000,000 and 5,000,000 alerts retained), a process
//    of its own (bench/correlator-state.ts, with --expose-gc and a heap limit sized to it) measures heap per
//    remembered event, the snapshot (raw, gzip, chunks) and its encode and restore times.
// BENCH_ENGINE points at another engine module (e.g. a copy of an older commit's engine.ts) for A/B runs.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { CorrelationEngine as Engine } from '@opsreview/correlation/engine'
import type { EngineInput } from '@opsreview/correlation/types'
import { alertStream, streamStart } from './correlator-stream.ts'

const total = Number(process.env.BENCH_ALERTS ?? 1_000_000)
const sizes = (process.env.BENCH_RETAINED ?? '1000000,5000000').split(',').map(Number).filter((n) => n > 0)
const enginePath = process.env.BENCH_ENGINE ?? '@opsreview/correlation/engine'
const { CorrelationEngine } = (await import(enginePath)) as { CorrelationEngine: typeof Engine }

if (total > 0) {
  const inputs: EngineInput[] = [...alertStream(total)]
  const lastTick = inputs.findLast((i) => i.type === 'tick')
  const days = lastTick?.type === 'tick' ? Math.round((Date.parse(lastTick.at) - streamStart) / 86_400_000 * 10) / 10 : 0
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
    engine: enginePath, alerts: alertInputs, ticks: inputs.length - alertInputs, eventTimeDays: days, seconds: Math.round(seconds * 100) / 100,
    alertsPerSec: Math.round(alertInputs / seconds), cpuSeconds: Math.round(cpuSeconds * 100) / 100,
    alertsPerCpuSec: Math.round(alertInputs / cpuSeconds), outputs,
    incidents: engine.incidents().length, problems: engine.problems().length,
    problemKinds: engine.problems().reduce<Record<string, number>>((acc, p) => ({ ...acc, [p.kind]: (acc[p.kind] ?? 0) + 1 }), {}),
    late: engine.stats.late,
  }
  console.log(JSON.stringify(result, null, 2))
  console.log(`\ncorrelation engine: ${result.alertsPerSec} alerts/s on one core (target >= 200000)\n`)
}

for (const size of sizes) {
  // A heap limit sized to the state (~0.45 GB per million alerts, and as much again while a restore
  // decodes), not the machine's 24 GiB; tighter, and garbage collection dominates every timing.
  const maxOldSpace = Math.ceil(size / 1e6) * 1536 + 1024
  const out = execFileSync(process.execPath, [
    `--max-old-space-size=${maxOldSpace}`, '--expose-gc', '--conditions=@opsreview/source',
    fileURLToPath(new URL('./correlator-state.ts', import.meta.url)), String(size),
  ], { env: { ...process.env, BENCH_MAX_OLD_SPACE: String(maxOldSpace) }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 })
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number | boolean>
  console.log(JSON.stringify(r, null, 2))
  console.log(`state at ${size} alerts retained: ${String(r.heapBytesPerEvent)} B heap per remembered event (target <= 400), `
    + `snapshot ${String(r.snapshotGzipMiB)} MiB gzip in ${String(r.chunks)} chunks, restore ${String(r.restoreMs)} ms (target <= 10 s at 1M), longest block ${String(r.restoreLongestBlockMs)} ms\n`)
}
