// The state part of `pnpm bench:correlator`, run by bench/correlator-engine.ts in a process of its own per
// size (node --expose-gc --max-old-space-size=…): retain N alerts in one engine, then measure its heap per
// remembered event, its snapshot (raw, gzip'ed, chunks) and the time to encode and restore it.
//
// The retention is set past the stream's span, so every alert of the stream is remembered at the end (at
// the default 30 days, the stream's 5M alerts would span 48 days and the oldest would be forgotten).
import type { CorrelationEngine as Engine, EngineSnapshot } from '@opsreview/correlation/engine'
import type { EngineInput, EngineOutput } from '@opsreview/correlation/types'
import { decodeSnapshot, encodeSnapshot } from '../packages/correlation-stream/src/snapshot-chunks.ts'
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
const ms = (t: number) => Math.round(performance.now() - t)

const heapBefore = await heapAfterGc()
let engine: Engine | undefined = new CorrelationEngine(config)
let alerts = 0
let redeliveries = 0
let lastTick = ''
const started = performance.now()
for (const generated of alertStream(retained)) {
  // Through JSON, as the partition runner reads its input: the engine keeps strings of the events (titles,
  // times, fingerprints), and in production each event brings its own copies of them.
  const input = JSON.parse(JSON.stringify(generated)) as EngineInput
  if (input.type === 'alert') {
    alerts++
    // The stream redelivers a firing one second after it, unchanged but for its receipt.
    if (input.event.receivedAt !== input.event.startsAt) redeliveries++
  } else if (input.type === 'tick') lastTick = input.at
  engine.apply(input)
}
const feedMs = ms(started)
const remembered = alerts - redeliveries
const heapWithEngine = await heapAfterGc()
const engineHeap = heapWithEngine - heapBefore

let t = performance.now()
let snapshot: EngineSnapshot | undefined = engine.snapshot()
const encoded = encodeSnapshot(snapshot)
const encodeMs = ms(t)
snapshot = undefined
const gzipBytes = encoded.chunks.reduce((n, c) => n + c.length, 0)

// What the engine does next, to compare with the restored one; then it goes, so that the restore runs in
// the heap a restarted correlator has (the chunks and the decoded state, not a second engine beside them).
const later: EngineInput = { type: 'tick', at: new Date(Date.parse(lastTick) + 86_400_000).toISOString() }
const digest = (outputs: EngineOutput[]) => JSON.stringify(outputs)
const incidents = engine.incidents().length
const problems = engine.problems().length
const expected = digest(engine.apply(later))
engine = undefined
await heapAfterGc()

t = performance.now()
let decoded: EngineSnapshot | undefined = decodeSnapshot(encoded.chunks) as unknown as EngineSnapshot
const decodeMs = ms(t)
t = performance.now()
const restored = new CorrelationEngine(config, decoded)
const rebuildMs = ms(t)
decoded = undefined
const same = restored.incidents().length === incidents && digest(restored.apply(later)) === expected
const heapRestored = (await heapAfterGc()) - heapBefore

console.log(JSON.stringify({
  retainedAlerts: alerts, rememberedEvents: remembered, incidents, problems, feedSeconds: Math.round(feedMs / 100) / 10,
  heapBytesPerEvent: Math.round(engineHeap / remembered), engineHeapMiB: MiB(engineHeap), heapAfterRestoreMiB: MiB(heapRestored),
  // heapAfterRestoreMiB: the restored engine, plus the chunks (arrayBuffers) the bench still holds.
  totalHeapUsedMiB: MiB(heapWithEngine), arrayBuffersMiB: MiB(process.memoryUsage().arrayBuffers), maxOldSpaceMiB: Number(process.env.BENCH_MAX_OLD_SPACE ?? 0),
  snapshotRawMiB: Math.round(encoded.rawBytes / 1024 / 1024 * 10) / 10, snapshotGzipMiB: Math.round(gzipBytes / 1024 / 1024 * 10) / 10,
  chunks: encoded.chunks.length, largestChunkKiB: Math.round(Math.max(...encoded.chunks.map((c) => c.length)) / 1024),
  encodeMs, decodeMs, rebuildMs, restoreMs: decodeMs + rebuildMs, restoredIdentical: same,
}))
