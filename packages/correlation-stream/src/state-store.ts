import { randomBytes } from 'node:crypto'
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs'
import type { Logger } from 'pino'
import type { EngineSnapshot } from '@opsreview/correlation/engine'
import { finish } from '@opsreview/correlation/steps'
import { KafkaUnavailableError } from './errors.ts'
import { checksumOf, decodeSteps, defaultMaxChunkBytes, snapshotChunks } from './snapshot-chunks.ts'

/** A partition's engine state and the last input offset it includes. */
export interface SavedState {
  inputTopic: string
  partition: number
  /** The last input offset applied; replay resumes after it. */
  offset: string
  snapshot: EngineSnapshot
}

/** A snapshot found on the state topic, decoded only when its partition is restored. */
export interface StoredState {
  inputTopic: string
  partition: number
  offset: string
  /** Decodes the chunks one by one; throws when they do not decode (the caller replays instead). */
  decode(): EngineSnapshot
  /** `decode` in steps, one per chunk and one per array field joined: a caller may let the event loop run at each. */
  decodeSteps(): Generator<undefined, EngineSnapshot>
}

/** A snapshot found, decoded by its steps (`decode` runs them all at once). */
/** A snapshot as one record (before chunks): where it stands in its input, and the engine's snapshot. */
function isSavedState(v: unknown): v is SavedState {
  const s = v as Partial<SavedState> | null
  return typeof s === 'object' && s !== null && typeof s.inputTopic === 'string' && typeof s.partition === 'number' && typeof s.offset === 'string'
    && typeof s.snapshot === 'object' && s.snapshot !== null
}

function storedState(where: { inputTopic: string; partition: number; offset: string }, decodeSteps: () => Generator<undefined, EngineSnapshot>): StoredState {
  return { inputTopic: where.inputTopic, partition: where.partition, offset: where.offset, decodeSteps, decode: () => finish(decodeSteps()) }
}

/**
 * The record keyed `<input topic>/<partition>` that makes a snapshot visible: it names the chunks, which
 * were all acknowledged before it was written.
 */
interface Manifest {
  format: 'chunked-1'
  inputTopic: string
  partition: number
  offset: string
  /** The snapshot's own id: its chunks are keyed `<input topic>/<partition>/<seq>/<i>`. */
  seq: string
  chunks: number
  rawBytes: number
  checksum: string
}

const isManifest = (v: unknown): v is Manifest => typeof v === 'object' && v !== null && (v as { format?: unknown }).format === 'chunked-1'
/** A record's value as a manifest, if it is one: small (a legacy snapshot record is megabytes, never parsed here). */
function parsedManifest(value: Buffer): Manifest | undefined {
  if (value.length > 64 * 1024) return undefined
  try {
    const parsed: unknown = JSON.parse(value.toString())
    return isManifest(parsed) ? parsed : undefined
  } catch {
    return undefined
  }
}
/** The key of a partition's manifest, and the first part of its chunks' keys. */
export const partitionKeyOf = (inputTopic: string, partition: number | string) => `${inputTopic}/${partition}`

/** The key of a snapshot's chunk `i`; exported for tests that write what a writer killed midway leaves. */
export const chunkKey = (partitionKey: string, seq: string, i: number) => `${partitionKey}/${seq}/${i}`

/** The manifest record of a snapshot whose chunks are all written; exported for the same tests. */
export function manifestRecord(where: Omit<SavedState, 'snapshot'>, seq: string, encoded: { chunks: number; rawBytes: number; checksum: string }): { key: string; value: string } {
  const manifest: Manifest = { format: 'chunked-1', inputTopic: where.inputTopic, partition: where.partition, offset: where.offset, seq, ...encoded }
  return { key: partitionKeyOf(where.inputTopic, where.partition), value: JSON.stringify(manifest) }
}
/** Topic names hold no `/`: a manifest's key has two parts, a chunk's four. */
const isChunkKey = (key: string) => key.split('/').length === 4
/** The partition (`partitionKeyOf`) a record of the state topic belongs to: a chunk's owner, else the record's own key. */
const ownerOf = (key: string) => (isChunkKey(key) ? chunkOwner(key).partitionKey : key)
/** The value `#readAll` keeps for a record of a partition the read does not want. */
const UNWANTED = Buffer.alloc(0)
/** The partition key and seq of a chunk's key. */
function chunkOwner(key: string): { partitionKey: string; seq: string } {
  const [topic, partition, seq] = key.split('/')
  return { partitionKey: partitionKeyOf(topic!, partition!), seq: seq! }
}
/** The offset a snapshot's seq starts with: `<offset>.<nonce>`. */
const offsetOfSeq = (seq: string) => BigInt(seq.slice(0, seq.indexOf('.')))

/** Chunk keys to tombstone after a partition's next manifest, and the read of the topic they were current at. */
interface Obsolete {
  keys: Set<string>
  /** `#reads` when recorded: a read that began later saw every one of these keys that still exists. */
  read: number
}

export interface LoadOptions {
  /** A read that receives nothing for this long fails (default 60 s). */
  idleTimeoutMs?: number
  /**
   * Called as records arrive, at most once every `progressIntervalMs`, and awaited: a long read (7 s for
   * one partition's snapshot at 5M alerts) otherwise keeps the caller from heartbeating its own group past
   * the session timeout. A rejection ends the read with that error.
   */
  onProgress?: () => Promise<void>
  /** Where a manifest left out (chunks missing or not matching) is reported: its partition replays from the start. */
  logger?: Logger
  /**
   * Only the snapshots of these partitions (`partitionKeyOf`) are wanted: the records of the others are
   * dropped as they arrive, not held until the whole topic is read (an instance of a group holds its
   * share of the state, not all of it). Default: every partition.
   */
  partitionKeys?: ReadonlySet<string>
}

export interface SaveOptions {
  /** Runs between the steps of encoding and sending (a turn of the event loop, a consumer's heartbeat). */
  betweenSteps?: () => Promise<void>
  /**
   * Asked before each chunk and before the manifest: false when the partition has moved to another member
   * meanwhile. That member may have read the chunks as orphans and tombstoned them, and a manifest naming
   * them would then be the partition's latest and incomplete, so none is written; nor is any further
   * chunk (tens of megabytes at a million alerts) that no manifest would name.
   */
  stillOwner?: () => boolean
}

/** What a snapshot written came to. */
export interface SaveSummary {
  chunks: number
  bytes: number
  rawBytes: number
}

/** How often a read reports progress, at the most. */
const progressIntervalMs = 1_000

export interface KafkaStateStoreOptions {
  /** Largest chunk (gzip'ed bytes); must stay below the state topic's `max.message.bytes`. */
  maxChunkBytes?: number
  /**
   * What the consumer group of each read is named from (`<prefix>-<pid>-<ms>`, one group per read; nothing
   * is committed). The correlator names it under its own groups' prefix, so that group ACLs granted on that
   * prefix cover the reads too. Default `opsreview-state-reader`.
   */
  readerGroupPrefix?: string
}

/**
 * Engine snapshots on a compacted topic: the correlator needs no local disk, and a restarted or reassigned
 * partition resumes from its latest snapshot.
 *
 * A snapshot is written as chunks far below Kafka's record limit (a large state as one record would exceed
 * it, and the checkpoint would fail forever), then a manifest naming them. The manifest is written only
 * after every chunk is acknowledged, so a reader never sees a torn snapshot: a crash between chunks leaves
 * the previous manifest, and its chunks, in place. Chunks no manifest names (a crashed write) are ignored.
 * Once a newer manifest is durable, the older snapshot's chunks get tombstones and compaction reclaims them.
 */
export class KafkaStateStore {
  readonly #kafka: Kafka
  readonly #producer: Pick<Producer, 'send'>
  readonly #topic: string
  readonly #maxChunkBytes: number
  readonly #readerGroupPrefix: string
  /** Per partition key: chunk keys of snapshots replaced or never completed, to tombstone after the next manifest. */
  readonly #obsolete = new Map<string, Obsolete>()
  /** Reads of the topic begun (`loadAll`). */
  #reads = 0

  constructor(kafka: Kafka, producer: Pick<Producer, 'send'>, topic: string, opts: KafkaStateStoreOptions = {}) {
    this.#kafka = kafka
    this.#producer = producer
    this.#topic = topic
    this.#maxChunkBytes = opts.maxChunkBytes ?? defaultMaxChunkBytes
    this.#readerGroupPrefix = opts.readerGroupPrefix ?? 'opsreview-state-reader'
  }

  /**
   * Resolves once the snapshot's manifest is acknowledged (acks=all): only then is the snapshot durable.
   * Each chunk is encoded just before it is sent, in steps, so the event loop runs while a large state is
   * written; `betweenSteps` runs between them (a turn of the event loop, a consumer's heartbeat). Resolves
   * to undefined, with no manifest written, when `stillOwner` says the partition has moved on.
   */
  async save(state: SavedState, opts?: Omit<SaveOptions, 'stillOwner'>): Promise<SaveSummary>
  async save(state: SavedState, opts: SaveOptions): Promise<SaveSummary | undefined>
  async save(state: SavedState, opts: SaveOptions = {}): Promise<SaveSummary | undefined> {
    const partitionKey = partitionKeyOf(state.inputTopic, state.partition)
    const seq = `${state.offset}.${randomBytes(4).toString('hex')}`
    const keys: string[] = []
    let bytes = 0
    // Orphans, as a crashed write leaves: tombstoned after this instance's next snapshot of the partition, or by the owner's.
    const abandon = () => { this.#markObsolete(partitionKey, keys, this.#reads); return undefined }
    const encoding = snapshotChunks(state.snapshot, this.#maxChunkBytes)
    let rawBytes: number
    try {
      let next = encoding.next()
      for (; !next.done; next = encoding.next()) {
        if (!next.value) { await opts.betweenSteps?.(); continue }
        if (opts.stillOwner && !opts.stillOwner()) return abandon()
        const key = chunkKey(partitionKey, seq, keys.length)
        keys.push(key)
        bytes += next.value.length
        // One chunk per request: the topic's limit applies to a whole record batch, and the records of one
        // partition in one request form one batch. Already gzip'ed: compressing again would only cost time.
        await this.#producer.send({ topic: this.#topic, acks: -1, compression: CompressionTypes.None, messages: [{ key, value: next.value }] })
      }
      rawBytes = next.value.rawBytes
      if (opts.stillOwner && !opts.stillOwner()) return abandon()
      await this.#producer.send({ topic: this.#topic, acks: -1, messages: [manifestRecord(state, seq, { chunks: keys.length, rawBytes, checksum: next.value.checksum })] })
    } catch (err) {
      // A send that failed (a timed-out one may still land) leaves the chunks sent so far as a crashed write
      // does; so does a failed step between them. Unrecorded, they stayed on the topic for good. Should the
      // manifest have landed after all, its chunks are tombstoned only once a newer snapshot is durable.
      abandon()
      throw err
    }
    const obsolete = this.#obsolete.get(partitionKey)?.keys ?? new Set<string>()
    this.#obsolete.set(partitionKey, { keys: new Set(keys), read: this.#reads })
    await this.#tombstone(partitionKey, obsolete, offsetOfSeq(seq))
    return { chunks: keys.length, bytes, rawBytes }
  }

  /**
   * Tombstones for chunks older than the snapshot just made durable. Only older ones: a chunk of a newer
   * offset may belong to a snapshot another instance is writing right now (during a rebalance). A failed
   * send is not the checkpoint's failure: the keys are kept and tombstoned after the next snapshot.
   */
  async #tombstone(partitionKey: string, keys: Set<string>, newest: bigint): Promise<void> {
    const current = this.#obsolete.get(partitionKey)!.keys
    const messages: Message[] = []
    for (const key of keys) {
      if (current.has(key)) continue
      // A newer one is kept for later: if no manifest ever names it, a later snapshot passes its offset.
      if (offsetOfSeq(chunkOwner(key).seq) < newest) messages.push({ key, value: null })
      else current.add(key)
    }
    if (messages.length === 0) return
    try {
      await this.#producer.send({ topic: this.#topic, acks: -1, messages })
    } catch {
      for (const m of messages) current.add(m.key as string)
    }
  }

  /**
   * Reads the topic to its end and returns the latest complete snapshot of every partition. A read that
   * receives nothing for `idleTimeoutMs` (Kafka went away meanwhile) fails as retriable instead of hanging;
   * a long read that keeps receiving is never cut short. A manifest whose chunks are not all there, or do
   * not match its checksum, is left out and logged: that partition replays its input from the start.
   */
  async loadAll({ idleTimeoutMs = 60_000, onProgress, logger, partitionKeys }: LoadOptions = {}): Promise<Map<string, StoredState>> {
    const read = ++this.#reads
    const { records, earlier } = await this.#readAll(idleTimeoutMs, onProgress, partitionKeys)
    const latest = new Map<string, StoredState>()
    const manifests = new Map<string, Manifest>()
    for (const [key, value] of records) {
      if (isChunkKey(key) || value === UNWANTED) continue
      let parsed: unknown
      try { parsed = JSON.parse(value.toString()) } catch { continue }
      if (isManifest(parsed)) manifests.set(key, parsed)
      else if (!isSavedState(parsed)) {
        // Neither (a foreign or broken writer's `null`): read as a snapshot, it threw, and every member that
        // restored crashed on it again, for good. That partition replays its input instead.
        logger?.warn({ key }, 'state record is neither a snapshot manifest nor a snapshot: left out, the partition replays')
      } else {
        // A snapshot of a version before chunks: one record holding it all (the engine may refuse it, then the partition replays).
        const legacy = parsed
        // eslint-disable-next-line require-yield -- one record: nothing to step through
        latest.set(key, storedState(legacy, function* () { return legacy.snapshot }))
      }
    }
    const complete = (key: string, m: Manifest): { chunks: Buffer[]; missing: number[]; ok: boolean } => {
      const chunks: Buffer[] = []
      const missing: number[] = []
      for (let i = 0; i < m.chunks; i++) {
        const c = records.get(chunkKey(key, m.seq, i))
        if (c) chunks.push(c)
        else missing.push(i)
      }
      return { chunks, missing, ok: missing.length === 0 && checksumOf(chunks) === m.checksum }
    }
    for (const [key, m] of manifests) {
      const found = complete(key, m)
      if (!found.ok) {
        // Two writers at once (a member evicted without hearing of it yet) leave the latest manifest naming chunks
        // the other tombstoned, while the other's manifest before it is complete: restoring that one loses nothing,
        // where a fresh engine replays only the retained input (problems, incidents older than the log are lost).
        // Compaction keeps only the latest manifest in the end: an earlier one helps until then.
        let before: { m: Manifest; chunks: Buffer[] } | undefined
        for (const value of (earlier.get(key) ?? []).toReversed()) {
          const e = parsedManifest(value)
          if (!e || e.seq === m.seq) continue
          const f = complete(key, e)
          if (f.ok) { before = { m: e, chunks: f.chunks }; break }
        }
        // Not silent: the partition restores an older snapshot, or starts from a fresh engine, and replays more.
        logger?.error({
          inputTopic: m.inputTopic, partition: m.partition, snapshotOffset: m.offset, seq: m.seq, chunks: m.chunks,
          missingChunks: found.missing.length, firstMissing: found.missing.slice(0, 10), checksumMismatch: found.missing.length === 0,
          ...(before ? { restoredOffset: before.m.offset, restoredSeq: before.m.seq } : {}),
        }, before ? 'snapshot incomplete: restoring the latest complete one before it' : 'snapshot incomplete: replaying the partition from the start of its input')
        if (!before) continue
        const { m: restored, chunks } = before
        latest.set(key, storedState(restored, () => decodeSteps(chunks) as Generator<undefined, unknown> as Generator<undefined, EngineSnapshot>))
        continue
      }
      const { chunks } = found
      latest.set(key, storedState(m, () => decodeSteps(chunks) as Generator<undefined, unknown> as Generator<undefined, EngineSnapshot>))
    }
    this.#forgetObsolete(records, read)
    return latest
  }

  /**
   * What the read found replaces what was recorded before it began: a key it did not find is gone (another
   * instance that took the partition tombstoned it, or this one did), and a partition no longer ours keeps
   * only the keys it has now, not more after every rebalance. Recorded while it ran, a save's chunks may be
   * past the end it read to, so those are kept. Every chunk found is obsolete once this instance has written
   * a newer snapshot of its partition: the current snapshot's, and those no complete manifest names (a crashed write).
   */
  #forgetObsolete(records: Map<string, Buffer>, read: number): void {
    for (const [partitionKey, o] of this.#obsolete) if (o.read < read) this.#obsolete.delete(partitionKey)
    for (const key of records.keys()) if (isChunkKey(key)) this.#markObsolete(chunkOwner(key).partitionKey, [key], read)
  }

  /** Chunks of a partition to tombstone once this instance has written a newer snapshot of it. */
  #markObsolete(partitionKey: string, keys: Iterable<string>, read: number): void {
    const o = this.#obsolete.get(partitionKey) ?? { keys: new Set<string>(), read }
    // Keys recorded while a read runs (a failed save's) may lie past the end it reads to: the entry must outlive it.
    o.read = Math.max(o.read, read)
    for (const key of keys) o.keys.add(key)
    this.#obsolete.set(partitionKey, o)
  }

  /**
   * The latest value of every key on the topic (tombstoned keys left out); `UNWANTED` for a key of a
   * partition not in `wanted` (its key still counts for `#forgetObsolete`). `earlier`: per wanted partition
   * key, the manifests it held before its latest value, oldest first (since its last tombstone or legacy
   * snapshot), for a latest manifest found incomplete.
   */
  async #readAll(idleTimeoutMs: number, onProgress: (() => Promise<void>) | undefined, wanted: ReadonlySet<string> | undefined): Promise<{ records: Map<string, Buffer>; earlier: Map<string, Buffer[]> }> {
    const admin = this.#kafka.admin()
    await admin.connect()
    const ends = await admin.fetchTopicOffsets(this.#topic).finally(() => admin.disconnect())
    const records = new Map<string, Buffer>()
    const earlier = new Map<string, Buffer[]>()
    const remaining = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]))
    if (remaining.size === 0) return { records, earlier }
    const consumer = this.#kafka.consumer({
      groupId: `${this.#readerGroupPrefix}-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 100,
      // Chunks are up to half a MiB: fetch many at once.
      maxBytesPerPartition: 16 * 1024 * 1024, maxBytes: 64 * 1024 * 1024,
    })
    await consumer.connect()
    try {
      await consumer.subscribe({ topic: this.#topic, fromBeginning: true })
      await new Promise<void>((resolve, reject) => {
        let settled = false
        const idle = () => { settled = true; reject(new KafkaUnavailableError(`no snapshot record from ${this.#topic} for ${idleTimeoutMs} ms`)) }
        let timer = setTimeout(idle, idleTimeoutMs)
        const done = () => { settled = true; clearTimeout(timer); resolve() }
        const failed = (err: unknown) => { settled = true; clearTimeout(timer); reject(err as Error) }
        // A monotonic clock: on the wall clock a step back (NTP) held the progress calls, the caller's heartbeats,
        // for as long as the step, and the group evicted the member in the middle of a long read.
        let reported = performance.now()
        // A join kafkajs may not retry (the group refused: GROUP_AUTHORIZATION_FAILED) comes only as a crash,
        // and run() resolves: waited out, the read failed as Kafka unavailable and was retried for ever.
        // Failed with it, the refusal stops the consumer and the service, as other refusals do.
        consumer.on(consumer.events.CRASH, ({ payload }) => { if (!settled && !payload.restart) failed(payload.error) })
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (settled) return
            clearTimeout(timer)
            timer = setTimeout(idle, idleTimeoutMs)
            if (message.key && message.value) {
              const key = message.key.toString()
              const isWanted = !wanted || wanted.has(ownerOf(key))
              if (isWanted && !isChunkKey(key)) {
                // A manifest replaced is kept (a few hundred bytes) in case the latest turns out incomplete.
                const previous = records.get(key)
                if (!previous || !parsedManifest(previous)) earlier.delete(key)
                else {
                  // Pushed, not copied: a topic not compacted for days holds thousands of a partition's manifests.
                  const kept = earlier.get(key)
                  if (kept) kept.push(previous)
                  else earlier.set(key, [previous])
                }
              }
              // Copied: kafkajs hands out views of a whole fetch response (up to 16 MiB of the log, other
              // partitions', replaced and orphaned chunks included), and one view kept would keep all of it.
              records.set(key, isWanted ? Buffer.from(message.value) : UNWANTED)
            } else if (message.key) {
              records.delete(message.key.toString())
              earlier.delete(message.key.toString())
            }
            const last = remaining.get(partition)
            if (last !== undefined && BigInt(message.offset) >= last) remaining.delete(partition)
            if (remaining.size === 0) { done(); return }
            if (onProgress && performance.now() - reported >= progressIntervalMs) {
              reported = performance.now()
              await onProgress().catch(failed)
            }
          },
        }).catch(failed)
      })
    } finally {
      await consumer.disconnect()
    }
    return { records, earlier }
  }
}
