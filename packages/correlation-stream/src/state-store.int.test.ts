import { createHash, randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { gzipSync } from 'node:zlib'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CompressionTypes, type Admin, type Kafka, type Producer } from 'kafkajs'
import { CorrelationEngine, type EngineSnapshot } from '@opsreview/correlation/engine'
import type { AlertEvent, EngineInput } from '@opsreview/correlation/types'
import { captureLogs, connectedAdmin, createReadyTopics, kafkaClient, readTopicToEnd, uniqueName, waitFor } from '@opsreview/testing'
import { encodeSnapshot } from './snapshot-chunks.ts'
import { chunkKey, KafkaStateStore, manifestRecord } from './state-store.ts'

const T0 = Date.parse('2026-11-01T00:00:00Z')
const MIN = 60_000
/** Kafka's default record limit: a snapshot as one record would have to fit in it. */
const ONE_MB = 1024 * 1024

/** A state topic that takes records of at most 1 MB, as a topic created with Kafka's defaults does. */
async function stateTopic(admin: Admin): Promise<string> {
  const topic = uniqueName('state')
  await createReadyTopics(admin, [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(ONE_MB) }, { name: 'cleanup.policy', value: 'compact' }] }])
  onTestFinished(async () => { await admin.deleteTopics({ topics: [topic] }).catch(() => undefined) })
  // The leader can be known before every broker path serves the partition: wait until it answers.
  await waitFor(async () => ((await admin.fetchTopicOffsets(topic)).length === 1 ? true : undefined), { what: `${topic} to serve` })
  return topic
}

async function setup() {
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  onTestFinished(() => producer.disconnect())
  const topic = await stateTopic(admin)
  return { kafka, admin, producer, topic, store: () => new KafkaStateStore(kafka, producer, topic) }
}

/** An engine holding `episodes` incidents of four alerts each, with distinct names: a state of several MB. */
function busyEngine(episodes: number): { engine: CorrelationEngine; next: EngineInput[] } {
  const engine = new CorrelationEngine()
  const ev = (fp: string, status: 'firing' | 'resolved', at: number, service: string): EngineInput => {
    const time = new Date(at).toISOString()
    const e: AlertEvent = {
      id: createHash('sha1').update(`${fp}|${status}|${time}`).digest('hex'), source: 'alertmanager', fingerprint: fp, status,
      severity: 'warning', service, environment: 'production', title: `Latency ${fp} on ${service}`,
      labels: { alertname: `Latency-${fp}`, instance: `${service}-host:9100` }, startsAt: time, receivedAt: time, links: [], origin: {},
    }
    if (status === 'resolved') e.endsAt = time
    return { type: 'alert', event: e }
  }
  for (let i = 0; i < episodes; i++) {
    const t = T0 + i * MIN
    for (let k = 0; k < 4; k++) engine.apply(ev(`f${i}-${k}`, 'firing', t + k * 1000, `svc-${i % 97}`))
    for (let k = 0; k < 4; k++) engine.apply(ev(`f${i}-${k}`, 'resolved', t + 30_000 + k * 1000, `svc-${i % 97}`))
  }
  const end = T0 + episodes * MIN
  return { engine, next: [ev('late', 'firing', end + MIN, 'svc-1'), { type: 'tick', at: new Date(end + 2 * 86_400_000).toISOString() }] }
}

/** A snapshot of `kib` KiB of random text: it barely compresses, so its chunks weigh about that much. */
const noise = (kib: number) => ({ version: 5, blocks: Array.from({ length: kib / 64 }, () => randomBytes(48 * 1024).toString('base64')) }) as unknown as EngineSnapshot

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
/** Bytes of buffers still reachable (chunks are buffers): after full collections, so only what something holds. */
async function heldBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) { gc(); await new Promise((resolve) => setImmediate(resolve)) }
  return process.memoryUsage().arrayBuffers
}
/** Waits until buffers held come below `limit`: kafkajs lets go of a fetch response a moment after its consumer disconnects. */
async function heldBelow(limit: number): Promise<void> {
  let held = 0
  await waitFor(async () => ((held = await heldBytes()) < limit ? true : undefined), { timeoutMs: 10_000, intervalMs: 250, what: `buffers held below ${limit} bytes` })
    .catch((err: Error) => { throw new Error(`${err.message}; still ${held}`) })
}

/** Chunk keys on the topic that are not tombstoned. */
async function liveChunkKeys(kafka: Kafka, topic: string): Promise<string[]> {
  const latest = new Map<string, string>()
  for (const m of await readTopicToEnd(kafka, topic)) latest.set(m.key!, m.value)
  return [...latest].filter(([k, v]) => k.split('/').length === 4 && v !== '').map(([k]) => k).sort()
}

const continueWith = (engine: CorrelationEngine, inputs: EngineInput[]): string => JSON.stringify(inputs.flatMap((i) => engine.apply(i)))
/** Compared as JSON: a deep equality of thousands of incidents takes the test runner a minute on a loaded host. */
const incidentsOf = (engine: CorrelationEngine): string => JSON.stringify(engine.incidents())

/** Writes a snapshot's chunks the way `save` does, but never its manifest: a writer killed between chunks. */
async function writeChunksOnly(kafka: Kafka, topic: string, partitionKey: string, offset: string, snapshot: object): Promise<string[]> {
  const producer = kafka.producer()
  await producer.connect()
  try {
    const { chunks } = encodeSnapshot(snapshot)
    const keys = chunks.map((_, i) => chunkKey(partitionKey, `${offset}.deadbeef`, i))
    for (let i = 0; i < chunks.length; i++) await producer.send({ topic, acks: -1, messages: [{ key: keys[i]!, value: chunks[i]! }] })
    return keys
  } finally {
    await producer.disconnect()
  }
}

describe('KafkaStateStore on the real Kafka', () => {
  it('round-trips a snapshot of several MB through a topic that takes records of at most 1 MB', async () => {
    const { producer, topic, store } = await setup()
    const { engine, next } = busyEngine(6000)
    const snapshot = engine.snapshot()
    const whole = gzipSync(JSON.stringify({ inputTopic: 'in', partition: 0, offset: '41', snapshot }))
    expect(whole.length).toBeGreaterThan(ONE_MB)
    // What the store wrote before chunks: one record. The topic refuses it, and such a checkpoint fails forever.
    await expect(producer.send({ topic, acks: -1, messages: [{ key: 'in/0', value: whole }] })).rejects.toThrow(/too large|size/i)

    // Chunks are encoded as they are sent, in steps, with a turn for the caller between them.
    let turns = 0
    const saved = await store().save({ inputTopic: 'in', partition: 0, offset: '41', snapshot }, { betweenSteps: async () => { turns++ } })
    expect(saved.chunks).toBeGreaterThan(2)
    expect(turns).toBeGreaterThan(saved.rawBytes / (2 * 1024 * 1024))
    expect(saved.rawBytes).toBeGreaterThan(4 * ONE_MB)

    const loaded = await store().loadAll()
    const state = loaded.get('in/0')!
    expect(state).toMatchObject({ inputTopic: 'in', partition: 0, offset: '41' })
    const restored = new CorrelationEngine({}, state.decode())
    expect(incidentsOf(restored)).toBe(incidentsOf(engine))
    expect(continueWith(restored, next)).toBe(continueWith(engine, next))
  }, 180_000)

  it('keeps the previous snapshot when a writer dies between chunks, and ignores the orphaned chunks', async () => {
    const { kafka, topic, store } = await setup()
    const first = busyEngine(300)
    await store().save({ inputTopic: 'in', partition: 0, offset: '100', snapshot: first.engine.snapshot() })
    const second = busyEngine(2000)
    await writeChunksOnly(kafka, topic, 'in/0', '200', second.engine.snapshot())

    const state = (await store().loadAll()).get('in/0')!
    expect(state.offset).toBe('100')
    const restored = new CorrelationEngine({}, state.decode())
    expect(incidentsOf(restored)).toBe(incidentsOf(first.engine))
    expect(continueWith(restored, first.next)).toBe(continueWith(first.engine, first.next))
  })

  it('leaves out a manifest whose chunks are not all there', async () => {
    const { kafka, topic, store } = await setup()
    const { engine } = busyEngine(2000)
    await store().save({ inputTopic: 'in', partition: 3, offset: '7', snapshot: engine.snapshot() })
    const chunkKeys = (await readTopicToEnd(kafka, topic)).map((m) => m.key!).filter((k) => k.split('/').length === 4)
    expect(chunkKeys.length).toBeGreaterThan(1)
    const producer = kafka.producer()
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    await producer.send({ topic, acks: -1, messages: [{ key: chunkKeys[1]!, value: null }] })

    const { logger, lines } = captureLogs()
    expect((await store().loadAll({ logger })).has('in/3')).toBe(false)
    // The partition replays from the start of its input: that must not go unnoticed.
    expect(lines.filter((l) => l.msg === 'snapshot incomplete: replaying the partition from the start of its input')).toMatchObject([
      { level: 50, inputTopic: 'in', partition: 3, snapshotOffset: '7', chunks: chunkKeys.length, missingChunks: 1, firstMissing: [1], checksumMismatch: false },
    ])
  })

  it('restores the latest complete snapshot when a newer manifest names chunks another member tombstoned (two writers at once)', async () => {
    const { kafka, producer, topic, store } = await setup()
    const opts = { maxChunkBytes: 8 * 1024 }
    // A member evicted without hearing of it (paused mid-checkpoint) has written the first chunks of its snapshot at 200.
    const zombie = busyEngine(200)
    const { chunks, rawBytes, checksum } = encodeSnapshot(zombie.engine.snapshot(), opts.maxChunkBytes)
    expect(chunks.length).toBeGreaterThan(2)
    const seq = '200.deadbeef'
    const send = (key: string, value: Buffer | string) => producer.send({ topic, acks: -1, messages: [{ key, value }] })
    await send(chunkKey('in/0', seq, 0), chunks[0]!)
    // The partition's new owner reads (that chunk is an orphan to it), goes on from an older snapshot and
    // checkpoints at 250: it tombstones the orphans of offsets below its own.
    const owner = new KafkaStateStore(kafka, producer, topic, opts)
    await owner.loadAll()
    const current = busyEngine(150)
    await owner.save({ inputTopic: 'in', partition: 0, offset: '250', snapshot: current.engine.snapshot() })
    // The evicted member goes on: its other chunks, then its manifest, the partition's latest, incomplete.
    for (let i = 1; i < chunks.length; i++) await send(chunkKey('in/0', seq, i), chunks[i]!)
    const manifest = manifestRecord({ inputTopic: 'in', partition: 0, offset: '200' }, seq, { chunks: chunks.length, rawBytes, checksum })
    await send(manifest.key, manifest.value)

    // The owner's snapshot at 250 is complete on the topic: restored, nothing is lost. Replaying the retained
    // input alone loses what only a snapshot held (problems, incidents older than the log).
    const { logger, lines } = captureLogs()
    const state = (await store().loadAll({ logger })).get('in/0')
    expect(state?.offset).toBe('250')
    expect(incidentsOf(new CorrelationEngine({}, state!.decode()))).toBe(incidentsOf(current.engine))
    expect(lines.filter((l) => l.level === 50)).toMatchObject([
      { msg: 'snapshot incomplete: restoring the latest complete one before it', snapshotOffset: '200', missingChunks: 1, firstMissing: [0], restoredOffset: '250' },
    ])
  })

  it('stops writing chunks and writes no manifest once the partition moved to another member, and the previous snapshot stands', async () => {
    const { kafka, producer, topic } = await setup()
    // Small chunks: the snapshot takes many, and the move lands between two of them.
    const store = () => new KafkaStateStore(kafka, producer, topic, { maxChunkBytes: 8 * 1024 })
    const first = busyEngine(300)
    const writer = store()
    await writer.save({ inputTopic: 'in', partition: 0, offset: '100', snapshot: first.engine.snapshot() })
    const second = busyEngine(2000).engine.snapshot()
    const whole = await store().save({ inputTopic: 'other', partition: 0, offset: '200', snapshot: second })
    expect(whole.chunks).toBeGreaterThan(3)

    let asked = 0
    // The rebalance lands once two chunks are written.
    const late = await writer.save({ inputTopic: 'in', partition: 0, offset: '200', snapshot: second }, { stillOwner: () => ++asked <= 2 })
    expect(late).toBeUndefined()
    const records = await readTopicToEnd(kafka, topic)
    expect(records.filter((m) => m.key!.startsWith('in/0/200.')).map((m) => m.key!.split('/').at(-1))).toEqual(['0', '1'])
    expect(asked).toBe(3)
    expect(records.filter((m) => m.key === 'in/0')).toHaveLength(1)

    const state = (await store().loadAll()).get('in/0')!
    expect(state.offset).toBe('100')
    expect(incidentsOf(new CorrelationEngine({}, state.decode()))).toBe(incidentsOf(first.engine))
  })

  it('tombstones the chunks of replaced and orphaned snapshots once a newer snapshot is durable', async () => {
    const { kafka, topic, store } = await setup()
    await store().save({ inputTopic: 'in', partition: 0, offset: '10', snapshot: busyEngine(300).engine.snapshot() })
    const orphans = await writeChunksOnly(kafka, topic, 'in/0', '15', busyEngine(50).engine.snapshot())
    const before = (await readTopicToEnd(kafka, topic)).map((m) => m.key!).filter((k) => k.split('/').length === 4)

    // A restarted instance: it loads, then checkpoints further on.
    const restarted = store()
    await restarted.loadAll()
    const third = busyEngine(100)
    await restarted.save({ inputTopic: 'in', partition: 0, offset: '20', snapshot: third.engine.snapshot() })

    const latest = new Map<string, string>()
    for (const m of await readTopicToEnd(kafka, topic)) latest.set(m.key!, m.value)
    for (const key of before) expect(latest.get(key), key).toBe('')
    for (const key of orphans) expect(latest.get(key), key).toBe('')
    const live = [...latest].filter(([k, v]) => k.split('/').length === 4 && v !== '').map(([k]) => k)
    expect(live.length).toBeGreaterThan(0)
    expect(live.every((k) => k.startsWith('in/0/20.'))).toBe(true)
    const state = (await store().loadAll()).get('in/0')!
    expect(state.offset).toBe('20')
    expect(incidentsOf(new CorrelationEngine({}, state.decode()))).toBe(incidentsOf(third.engine))
  })

  it('forgets chunk keys others tombstoned while it did not own their partition, however many rebalances it saw', async () => {
    const { kafka, producer, topic, store } = await setup()
    // Small chunks: a few each, without MBs of state.
    const opts = { maxChunkBytes: 8 * 1024 }
    const tombstones: string[] = []
    const recording: Pick<Producer, 'send'> = {
      send: (r) => { for (const m of r.messages) if (m.value === null) tombstones.push(m.key as string); return producer.send(r) },
    }
    const ours = new KafkaStateStore(kafka, recording, topic, opts)
    const other = new KafkaStateStore(kafka, producer, topic, opts)
    await ours.loadAll()
    await ours.save({ inputTopic: 'in', partition: 0, offset: '1', snapshot: noise(64) })
    // Rebalances that give in/0 to the other instance: each snapshot of it tombstones the one before, ours included.
    for (let round = 1; round <= 6; round++) {
      await other.loadAll()
      await other.save({ inputTopic: 'in', partition: 0, offset: String(10 * round), snapshot: noise(64) })
      await ours.loadAll()
    }
    const there = await liveChunkKeys(kafka, topic)
    expect(there.every((k) => k.startsWith('in/0/60.'))).toBe(true)

    // It gets in/0 back: the tombstones after its next snapshot are for what is there, not for every key it ever saw.
    const restored = (await ours.loadAll()).get('in/0')!
    expect(restored.offset).toBe('60')
    restored.decode()
    tombstones.length = 0
    await ours.save({ inputTopic: 'in', partition: 0, offset: '70', snapshot: noise(64) })
    expect(tombstones.sort()).toEqual(there)
    expect((await liveChunkKeys(kafka, topic)).every((k) => k.startsWith('in/0/70.'))).toBe(true)
    expect((await store().loadAll()).get('in/0')!.offset).toBe('70')
  })

  it('holds only the chunks of the newest snapshot it loaded, not the fetched log around them', async () => {
    const { store } = await setup()
    const before = await heldBytes()
    const writer = store()
    // Replaced snapshots stay in the log, tombstoned, until compaction: a reader fetches them with the newest.
    for (let i = 0; i < 3; i++) await writer.save({ inputTopic: 'in', partition: 0, offset: String(i), snapshot: noise(3 * 1024) })
    const newest = await writer.save({ inputTopic: 'in', partition: 0, offset: '10', snapshot: noise(1024) })
    expect(newest.bytes).toBeGreaterThan(512 * 1024)

    const reader = store()
    const loaded = await reader.loadAll()
    await heldBelow(before + 1.5 * newest.bytes)
    expect(loaded.get('in/0')!.decode()).toMatchObject({ version: 5 })
  })

  it('keeps only the snapshots of the partitions it is asked for, and holds none of the others\' records once read', async () => {
    const { store } = await setup()
    const before = await heldBytes()
    const writer = store()
    const mine = await writer.save({ inputTopic: 'in', partition: 0, offset: '10', snapshot: noise(1024) })
    await writer.save({ inputTopic: 'in', partition: 1, offset: '20', snapshot: noise(3 * 1024) })
    await writer.save({ inputTopic: 'in', partition: 2, offset: '30', snapshot: noise(3 * 1024) })

    const loaded = await store().loadAll({ partitionKeys: new Set(['in/0']) })
    expect([...loaded.keys()]).toEqual(['in/0'])
    await heldBelow(before + 1.5 * mine.bytes)
    expect(loaded.get('in/0')!.decode()).toMatchObject({ version: 5 })
  })

  /** A snapshot as one record, as engines before chunks wrote it. */
  const old = { version: 2, watermark: 0 } as unknown as EngineSnapshot
  const oneRecord = { key: 'in/1', value: JSON.stringify({ inputTopic: 'in', partition: 1, offset: '5', snapshot: old }) }

  it('still reads a snapshot written as one record before chunks', async () => {
    const { producer, topic, store } = await setup()
    await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: [oneRecord] })
    const state = (await store().loadAll()).get('in/1')!
    expect(state.offset).toBe('5')
    expect(state.decode()).toEqual(old)
  })

  it('leaves out a record under a partition\'s key that is neither a manifest nor a snapshot, and reads the others', async () => {
    const { producer, topic, store } = await setup()
    await producer.send({ topic, acks: -1, messages: [{ key: 'in/0', value: 'null' }, { key: 'in/2', value: '{"offset":"7"}' }, oneRecord] })
    const { logger, lines } = captureLogs()
    const loaded = await store().loadAll({ logger })
    expect([...loaded.keys()]).toEqual(['in/1'])
    expect(lines.filter((l) => l.msg === 'state record is neither a snapshot manifest nor a snapshot: left out, the partition replays').map((l) => l.key)).toEqual(['in/0', 'in/2'])
  })
})
