// The state part of `pnpm bench:correlator`, run by bench/correlator-engine.ts in a process of its own per
// size (node --expose-gc --max-old-space-size=…): retain N alerts in one engine, then measure its heap per
// remembered event, its snapshot (raw, gzip'ed, chunks), the checkpoint (encode and write to Kafka) and the
// restore as a starting correlator does it: read the state topic back from Kafka (`loadAll`), decode the
// chunks, rebuild the engine.
//
// The state is built by feeding the engine directly (no Kafka): the question is what the state costs, and
// the engine's throughput is the other half of the bench. Only the snapshot goes through Kafka, to a topic
// of its own on OPSREVIEW_KAFKA_BROKERS (default 127.0.0.1:9092), deleted at the end.
//
// The retention is set past the stream's span, so every alert of the stream is remembered at the end (at
// the default 30 days, the stream's 5M alerts would span 48 days and the oldest would be forgotten).
// BENCH_PROFILE=<dir> writes a CPU profile of the restore alone there (.cpuprofile, for Chrome DevTools).
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { loadavg } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { join } from 'node:path'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import type { CorrelationEngine as Engine, EngineSnapshot } from '@opsreview/correlation/engine'
import type { EngineInput, EngineOutput } from '@opsreview/correlation/types'
import { stepped } from '@opsreview/correlation/steps'
import { KafkaStateStore } from '../packages/correlation-stream/src/state-store.ts'
import { alertStream } from './correlator-stream.ts'

const retained = Number(process.argv[2] ?? 1_000_000)
const enginePath = process.env.BENCH_ENGINE ?? '@opsreview/correlation/engine'
const { CorrelationEngine } = (await import(enginePath)) as { CorrelationEngine: typeof Engine }
const config = { retentionMs: 400 * 86_400_000 }

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')
// The engine keeps some state in typed arrays, whose bytes live outside the V8 heap: they count too.
// After a turn of the event loop: until this module's frame suspends, its interpreter registers may still
// hold temporaries (the dropped engine, the decoded snapshot), which a collection then counts as live.
const heapAfterGc = async () => {
  await new Promise((resolve) => setTimeout(resolve, 10))
  gc!(); gc!()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
const MiB = (n: number) => Math.round(n / 1024 / 1024)
const seconds = (ms: number) => Math.round(ms / 100) / 10
/** Wall and CPU time of a step: the machine is shared, and wall time counts the others' work too. */
const timed = async <T>(f: () => T | Promise<T>): Promise<{ value: T; wall: number; cpu: number }> => {
  const cpu = process.cpuUsage()
  const t = performance.now()
  const value = await f()
  const c = process.cpuUsage(cpu)
  return { value, wall: seconds(performance.now() - t), cpu: seconds((c.user + c.system) / 1000) }
}
/** A turn of the event loop, which the partition runner takes between the steps of long work. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
/** Runs a generator of steps with a turn between them, as the partition runner does. */
const runSteps = async <T>(steps: Generator<undefined, T>): Promise<T> => (await stepped(steps, turn, (err) => { throw err }))!
/**
 * The longest the event loop was held while `f` ran: what a partition's other consumer, the heartbeats and
 * the health endpoints wait meanwhile.
 */
async function longestBlock<T>(f: () => Promise<T>): Promise<{ value: T; longestBlockMs: number }> {
  const blocks = monitorEventLoopDelay({ resolution: 10 })
  blocks.enable()
  // The histogram counts from its second timer: a first turn, so that a block right away is measured.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const value = await f()
  blocks.disable()
  return { value, longestBlockMs: Math.round(blocks.max / 1e6) }
}
const load = () => loadavg().map((l) => Math.round(l * 10) / 10)
/** Each step's figures as soon as it is done (stderr): a large size runs long on a loaded host. */
const progress = (step: string, figures: object) => process.stderr.write(`${JSON.stringify({ step, retained, ...figures, load: load() })}\n`)

const heapBefore = await heapAfterGc()
let engine: Engine | undefined = new CorrelationEngine(config)
let alerts = 0
let redeliveries = 0
let lastTick = ''
const loadAtStart = load()
const feed = await timed(() => {
  for (const generated of alertStream(retained)) {
    // Through JSON, as the partition runner reads its input: the engine keeps strings of the events (titles,
    // times, fingerprints), and in production each event brings its own copies of them.
    const input = JSON.parse(JSON.stringify(generated)) as EngineInput
    if (input.type === 'alert') {
      alerts++
      // The stream redelivers a firing one second after it, unchanged but for its receipt.
      if (input.event.receivedAt !== input.event.startsAt) redeliveries++
    } else if (input.type === 'tick') lastTick = input.at
    engine!.apply(input)
  }
})
const remembered = alerts - redeliveries
const heapWithEngine = await heapAfterGc()
const engineHeap = heapWithEngine - heapBefore
progress('fed', { alerts, remembered, feedSeconds: feed.wall, feedCpuSeconds: feed.cpu, engineHeapMiB: MiB(engineHeap), heapBytesPerEvent: Math.round(engineHeap / remembered) })

const brokers = (process.env.OPSREVIEW_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const kafka = new Kafka({ clientId: 'bench-correlator-state', brokers, logLevel: logLevel.NOTHING })
const admin = kafka.admin()
await admin.connect()
const topic = `bench-correlator-state-${process.pid}-${Date.now()}`
// As the correlator's state topic, but with Kafka's default record limit: chunks must fit it.
await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'max.message.bytes', value: String(1024 * 1024) }] }], waitForLeaders: true })
try {
  // The correlator's state producer: idempotent, one request in flight.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  // The engine's own snapshot is one block of the checkpoint.
  let takeMs = 0
  const { value: checkpoint, longestBlockMs: checkpointLongestBlockMs } = await longestBlock(() => timed(async () => {
    // As the partition runner checkpoints: the event loop runs between the snapshot's steps and chunks.
    const took = performance.now()
    const snapshot = await runSteps(engine!.snapshotSteps())
    takeMs = performance.now() - took
    return new KafkaStateStore(kafka, producer, topic).save({ inputTopic: 'bench-input', partition: 0, offset: '0', snapshot }, { betweenSteps: turn })
  }))
  const snapshotTakeMs = Math.round(takeMs)
  await producer.disconnect()
  const saved = checkpoint.value
  progress('checkpointed', { ...saved, seconds: checkpoint.wall, cpuSeconds: checkpoint.cpu, checkpointLongestBlockMs, snapshotTakeMs })

  // What the engine does next, to compare with the restored one; then it goes, so that the restore runs in
  // the heap a restarted correlator has (the chunks and the decoded state, not a second engine beside them).
  const later: EngineInput = { type: 'tick', at: new Date(Date.parse(lastTick) + 86_400_000).toISOString() }
  const digest = (outputs: EngineOutput[]) => JSON.stringify(outputs)
  const incidents = engine.incidents().length
  const problems = engine.problems().length
  const expected = digest(engine.apply(later))
  engine = undefined
  await heapAfterGc()

  const session = process.env.BENCH_PROFILE ? new Session() : undefined
  if (session) {
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.start')
  }
  const loadAtRestore = load()
  // A fresh store, as a starting correlator has: it reads the whole topic, then decodes its partition.
  const read = await timed(() => new KafkaStateStore(kafka, kafka.producer(), topic).loadAll())
  const stored = read.value.get('bench-input/0')
  if (!stored) throw new Error('the snapshot written was not found on the state topic')
  // Decoded and rebuilt in steps with a turn of the event loop between them, as the partition runner restores.
  let decoded: EngineSnapshot | undefined
  const { value: { decode, rebuild }, longestBlockMs: restoreLongestBlockMs } = await longestBlock(async () => {
    const decode = await timed(async () => { decoded = await runSteps(stored.decodeSteps()) })
    const rebuild = await timed(() => runSteps(CorrelationEngine.restoring(config, decoded!)))
    return { decode, rebuild }
  })
  decoded = undefined
  if (session) {
    const { profile } = await session.post('Profiler.stop')
    writeFileSync(join(process.env.BENCH_PROFILE!, `restore-${retained}.cpuprofile`), JSON.stringify(profile))
    session.disconnect()
  }
  const restored = rebuild.value
  const same = restored.incidents().length === incidents && digest(restored.apply(later)) === expected
  const heapRestored = (await heapAfterGc()) - heapBefore

  console.log(JSON.stringify({
    retainedAlerts: alerts, rememberedEvents: remembered, incidents, problems, feedSeconds: feed.wall, feedCpuSeconds: feed.cpu,
    heapBytesPerEvent: Math.round(engineHeap / remembered), engineHeapMiB: MiB(engineHeap), heapAfterRestoreMiB: MiB(heapRestored),
    // heapAfterRestoreMiB: the restored engine, plus the chunks (arrayBuffers) the loaded state still holds.
    totalHeapUsedMiB: MiB(heapWithEngine), arrayBuffersMiB: MiB(process.memoryUsage().arrayBuffers), maxOldSpaceMiB: Number(process.env.BENCH_MAX_OLD_SPACE ?? 0),
    snapshotRawMiB: Math.round(saved.rawBytes / 1024 / 1024 * 10) / 10, snapshotGzipMiB: Math.round(saved.bytes / 1024 / 1024 * 10) / 10, chunks: saved.chunks,
    // Snapshot and encode and write to Kafka (acks=all, one chunk per request), as a checkpoint does.
    checkpointSeconds: checkpoint.wall, checkpointCpuSeconds: checkpoint.cpu, checkpointLongestBlockMs, snapshotTakeMs,
    // Restore = read the state topic + decode the chunks + rebuild the engine.
    restoreSeconds: seconds((read.wall + decode.wall + rebuild.wall) * 1000), restoreMs: Math.round((read.wall + decode.wall + rebuild.wall) * 1000), restoreCpuSeconds: seconds((read.cpu + decode.cpu + rebuild.cpu) * 1000), restoreLongestBlockMs,
    readSeconds: read.wall, readCpuSeconds: read.cpu, decodeSeconds: decode.wall, decodeCpuSeconds: decode.cpu, rebuildSeconds: rebuild.wall, rebuildCpuSeconds: rebuild.cpu,
    restoredIdentical: same, loadAverageAtStart: loadAtStart, loadAverageAtRestore: loadAtRestore, loadAverageAtEnd: load(),
  }))
} finally {
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
  await admin.disconnect()
}
