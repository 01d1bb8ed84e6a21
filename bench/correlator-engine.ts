// pnpm bench:correlator: the pure correlation engine on one core.
//
// 1. Throughput: BENCH_ALERTS alerts (default 1,000,000) of bench/correlator-stream.ts, built
//    BENCH_BATCH inputs at a time (default 1,000; 0: all of them first), each through JSON, and then
//    applied as the correlator applies a batch of records (applyBuffered each, drainOutputs once; an
//    engine without them: apply each); only the applying is timed (wall and CPU time: the machine is shared),
//    in a process pinned to one CPU (BENCH_CPU, below). Beside each rate, how fast the host was just before
//    and just after the pass (bench/host-reference.ts, on the same CPU): a fixed piece of work not the engine's.
// 2. State: for each size in BENCH_RETAINED (default 1,000,000 and 5,000,000 alerts retained), a process
//    of its own (bench/correlator-state.ts, with --expose-gc and a heap limit sized to it) measures heap per
//    remembered event, the snapshot (raw, gzip, chunks) and its encode and restore times.
// BENCH_ENGINE points at another engine module (e.g. a copy of an older commit's engine.ts). With
// BENCH_ENGINE_B as well, the two run side by side in this process, each batch applied by both, the first
// one alternating: on a shared host an A/B of separate runs measured the neighbours (±25 % run to run).
import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { CorrelationEngine as Engine } from '@opsreview/correlation/engine'
import type { EngineInput } from '@opsreview/correlation/types'
import { alertStream, streamStart } from './correlator-stream.ts'
import { batchesOf, median, sideBySide, type TimedRun } from './lib.ts'

// The target is per core: the throughput runs in a process of its own pinned to one CPU (`taskset`), where
// the collector's helper threads share the core with the engine instead of taking a second one.
// BENCH_CPU picks the CPU (default: the last); `none` runs it in this process, unpinned.
// Pinned, BENCH_ROUNDS passes (default 5), each a process of its own, and their median: this host's speed
// moves by a sixth from one minute to the next (docs/performance.md), which one pass reported as the engine's.
const pinnedTo = process.env.BENCH_PINNED
const cpu = process.env.BENCH_CPU ?? String(availableParallelism() - 1)
let total = Number(process.env.BENCH_ALERTS ?? 1_000_000)
if (total > 0 && pinnedTo === undefined && cpu !== 'none') {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  // By the engine's place in each pass's output (A, then B): BENCH_ENGINE_B may name the same engine (A/A).
  const rates: { path: string; list: number[] }[] = []
  // Before → after each pass, in ms.
  const host: string[] = []
  const report = () => {
    for (const { path, list } of rates) {
      console.log(`correlation engine ${path}: ${list.join(' · ')} alerts/s over ${list.length} rounds, median ${Math.round(median(list))} on one core (CPU ${cpu}) (target >= 200000)`)
    }
    if (host.length > 0) console.log(`host reference before → after each round (bench/host-reference.ts; lower is a faster host): ${host.join(' · ')} ms`)
    console.log('')
  }
  /** What a script of this directory prints, run in a process of its own pinned to the CPU. */
  const pinned = (script: string, env: NodeJS.ProcessEnv = process.env) => execFileSync('taskset', ['--cpu-list', cpu, process.execPath, ...process.execArgv, fileURLToPath(new URL(script, import.meta.url))], {
    env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  })
  const hostReferenceMs = () => pinned('./host-reference.ts').trim()
  for (let round = 1; round <= rounds; round++) {
    let out: string
    const hostBefore = hostReferenceMs()
    try {
      out = pinned(import.meta.url, { ...process.env, BENCH_PINNED: cpu, BENCH_RETAINED: '' })
    } catch (err) {
      // What the failed pass printed, and the passes before it.
      process.stdout.write(String((err as { stdout?: unknown }).stdout ?? ''))
      report()
      throw err
    }
    process.stdout.write(out)
    host.push(`${hostBefore} → ${hostReferenceMs()}`)
    let k = 0
    for (const [, path, rate] of out.matchAll(/"engine": "([^"]+)",(?:(?!"engine")[\s\S])*?"alertsPerSec": (\d+)/g)) (rates[k++] ??= { path: path!, list: [] }).list.push(Number(rate))
  }
  report()
  total = 0
}
const sizes = (process.env.BENCH_RETAINED ?? '1000000,5000000').split(',').map(Number).filter((n) => n > 0)
const enginePaths = [process.env.BENCH_ENGINE ?? '@opsreview/correlation/engine', ...(process.env.BENCH_ENGINE_B ? [process.env.BENCH_ENGINE_B] : [])]
const engineClasses = await Promise.all(enginePaths.map(async (path) => ((await import(path)) as { CorrelationEngine: typeof Engine }).CorrelationEngine))

const batchSize = Number(process.env.BENCH_BATCH ?? 1000)

/** One engine's run over the stream: the time it took to apply the inputs, and what it made of them. */
interface Run extends TimedRun { path: string; engine: Engine; outputs: number }

if (total > 0) {
  // The correlator parses a batch of records and applies them at once, so an input is fresh in the cache
  // when it is applied. A million inputs built first are not: reading them from a heap of ~700 MB cost
  // 15-25 % of the time (2026-12-04), and the collector marked them all.
  const runs: Run[] = enginePaths.map((path, i) => ({ path, engine: new engineClasses[i]!(), seconds: 0, cpuSeconds: 0, outputs: 0 }))
  let alertInputs = 0
  let ticks = 0
  let lastTickAt: string | undefined
  let batches = 0
  for (const generated of batchesOf(alertStream(total), batchSize)) {
    // Through JSON, as the partition runner reads its records (and as the state bench feeds its engine). The
    // generator's events share one copy of each string (service, fingerprint, name, title, environment,
    // source), whose hash V8 then computed once for the whole run; a parsed event brings its own copies of
    // all but the shortest (JSON.parse shares strings of up to 9 characters), as in the correlator
    // (docs/performance.md, 2026-12-04 13:36). Each engine parses its own: the second would find the hashes
    // the first computed.
    const records = generated.map((input) => JSON.stringify(input))
    sideBySide(runs, batches++, () => records.map((record) => JSON.parse(record) as EngineInput), (run, inputs) => {
      const engine = run.engine
      if (typeof engine.applyBuffered !== 'function') {
        for (const input of inputs) run.outputs += engine.apply(input).length
        return
      }
      for (const input of inputs) engine.applyBuffered(input)
      run.outputs += engine.drainOutputs().length
    })
    for (const input of generated) {
      if (input.type === 'alert') alertInputs++
      else if (input.type === 'tick') { ticks++; lastTickAt = input.at }
    }
  }
  const days = lastTickAt === undefined ? 0 : Math.round((Date.parse(lastTickAt) - streamStart) / 86_400_000 * 10) / 10
  for (const { path, engine, seconds, cpuSeconds, outputs } of runs) {
    const result = {
      engine: path, cpu: pinnedTo ?? 'any', batch: batchSize, alerts: alertInputs, ticks, eventTimeDays: days, seconds: Math.round(seconds * 100) / 100,
      alertsPerSec: Math.round(alertInputs / seconds), cpuSeconds: Math.round(cpuSeconds * 100) / 100,
      alertsPerCpuSec: Math.round(alertInputs / cpuSeconds), outputs,
      incidents: engine.incidents().length, problems: engine.problems().length,
      problemKinds: engine.problems().reduce<Record<string, number>>((acc, p) => ({ ...acc, [p.kind]: (acc[p.kind] ?? 0) + 1 }), {}),
      late: engine.stats.late,
    }
    console.log(JSON.stringify(result, null, 2))
    console.log(`\ncorrelation engine ${path}: ${result.alertsPerSec} alerts/s ${pinnedTo === undefined ? 'unpinned (BENCH_CPU=none)' : `on one core (CPU ${pinnedTo})`} (target >= 200000)\n`)
  }
  if (runs.length === 2) console.log(`B/A: ${(runs[0]!.seconds / runs[1]!.seconds).toFixed(3)} in wall time, ${(runs[0]!.cpuSeconds / runs[1]!.cpuSeconds).toFixed(3)} in CPU time (above 1: B is faster)\n`)
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
