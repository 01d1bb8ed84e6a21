import type { Admin, Consumer, EachBatchPayload, KafkaMessage, Message, Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { CorrelationEngine, EngineCapacityError, isRoomRefused, SnapshotVersionError } from '@opsreview/correlation/engine'
import type { CorrelationConfig } from '@opsreview/correlation/config'
import type { EngineInput, EngineOutput, Incident, Problem } from '@opsreview/correlation/types'
import { stepped } from '@opsreview/correlation/steps'
import { kafkaErrorType } from '@opsreview/kafka/errors'
import { requestsOf } from '@opsreview/kafka/publisher'
import { withinMs } from '@opsreview/kafka/within-ms'
import { backoffMs, sleepUnlessAborted } from '@opsreview/lifecycle/backoff'
import { poisonDeadLetter } from './dead-letters.ts'
import { fittedDocument } from './fitted-document.ts'
import { classifyFailure, EngineRejectedError, EVICTIONS, evictedFromGroup, KafkaUnavailableError, UndecodableRecordError, type PoisonRecordError } from './errors.ts'
import { partitionKeyOf, type KafkaStateStore, type StoredState } from './state-store.ts'
import type { CorrelatorTopics } from './topics.ts'

export interface PartitionRunnerOptions {
  consumer: Consumer
  /** Sends one request at a time (`SerialProducer`): see there why. */
  producer: Pick<Producer, 'sendBatch'>
  store: KafkaStateStore
  topics: CorrelatorTopics
  engineConfig: Partial<CorrelationConfig>
  logger: Logger
  /** How often a partition's state is checkpointed (and its input offset committed), at the most. */
  snapshotIntervalMs: number
  /**
   * The largest share of a partition's time its checkpoints may take (default 0.05): the next checkpoint
   * waits at least the last one's duration divided by it. A checkpoint encodes the whole state on the event
   * loop (14–20 s of CPU at 1M alerts retained), so a fixed interval shorter than that would leave the
   * engine nothing but checkpoints; the cost is a longer replay after a crash (at most as much input as
   * arrived in that wait).
   */
  checkpointShare?: number
  /** Wall clock, for the dead letters' times only (the engine has its own clock): intervals are on `monotonicMs`. */
  now: () => number
  /**
   * A monotonic clock in ms (default `performance.now`), for the checkpoint cadence, the checkpoints' duration
   * and the snapshot ages. On the wall clock a step back (NTP) held checkpoints and commits back for as long
   * as the step (a restart then replayed that much more input), and a step forward checkpointed at once and
   * reported the step as snapshot age.
   */
  monotonicMs?: () => number
  /** How a commit retry waits out its back-off, resolving early once `ends` aborts (`sleepUnlessAborted`); tests wait on `ends` alone. */
  sleep?: (ms: number, ends: AbortSignal) => Promise<void>
  /**
   * The first offset of an input partition still in the log (its low watermark): where a restored engine
   * resumes when retention has removed the records after its snapshot. Asked only when a batch for a
   * restored engine starts past the record after its snapshot.
   */
  logStartOf: (topic: string, partition: number) => Promise<string>
  /** After a batch's outputs (and dead letters) are acknowledged by Kafka. */
  onApplied?: (inputs: number, outputs: number) => void
  /** After a poison record's dead letter is acknowledged, with its reason code. */
  onDeadLetter?: (reason: string) => void
  /**
   * After the outputs of every input before `nextOffset` are acknowledged: nothing before it would be
   * lost by a crash (a restart may replay it, producing the same outputs).
   */
  onDurable?: (topic: string, partition: number, nextOffset: string) => void
}

/**
 * `logStartOf` answered by an admin client: the partition's low watermark, or a KafkaUnavailableError after
 * `timeoutMs` (the admin asks for every partition's offsets, and while a broker is down its retries take
 * minutes; the batch is tried again after a back-off instead).
 */
export function logStartFrom(admin: Pick<Admin, 'fetchTopicOffsets'>, { timeoutMs = 10_000 } = {}): (topic: string, partition: number) => Promise<string> {
  return async (topic, partition) => {
    const offsets = (await withinMs(admin.fetchTopicOffsets(topic), timeoutMs, `the offsets of ${topic} did not come within ${timeoutMs} ms`)).find((o) => o.partition === partition)
    // Metadata behind a partition just added: a later batch asks again.
    if (!offsets) throw new KafkaUnavailableError(`no offsets known yet for ${topic} partition ${partition}`)
    return offsets.low
  }
}

interface PartitionEngine {
  engine: CorrelationEngine
  /** The last input offset applied whose outputs Kafka acknowledged (-1: none). */
  applied: bigint
  /** The last offset checkpointed (`NONE_OF_THIS_LOG` once the input log started over). */
  saved: bigint
  /** The last offset whose commit (of the offset after it) Kafka acknowledged, or the snapshot restored from (`NONE_OF_THIS_LOG` as `saved`). */
  committed: bigint
  /** Times the input log started over under this engine: a checkpoint taken before the last of them is of the old log. */
  logRestarts: number
  /** `monotonicMs` when the last checkpoint was written (or found nothing to write). */
  lastCheckpoint: number
  /** Time the last checkpoint took, in ms: it spaces the next (`checkpointShare`). */
  lastCheckpointMs: number
  /** `monotonicMs` when the first input after the snapshot being written was applied. */
  unsavedSinceTake: number | undefined
  /** `monotonicMs` when the oldest input no snapshot includes was applied; undefined when all are saved. */
  unsavedSince: number | undefined
  /** Whether a batch has been applied since the restore: until then the first batch may start anywhere at or after the log's start. */
  continued: boolean
}

/**
 * Where each output goes: incidents and problems keyed by id (compacted topics), results by command id.
 * The outputs are a batch's `drainOutputs`: the last version of each incident and problem the batch changed,
 * once each. The topics keep the latest record per key and the index the highest version, so the versions
 * in between would be overwritten unread (a burst of ten alerts joining one incident is one write, not ten).
 * A document larger than its topic takes is shortened to fit (`fittedDocument`), and `onShortened` told.
 */
export function outputMessages(outputs: EngineOutput[], topics: CorrelatorTopics, onShortened?: (kind: 'incident' | 'problem', id: string) => void): { topic: string; messages: Message[] }[] {
  const byTopic = new Map<string, Message[]>()
  const documentJson = (kind: 'incident' | 'problem', doc: Incident | Problem): string => {
    const { json, shortened } = fittedDocument(kind, doc)
    if (shortened) onShortened?.(kind, doc.id)
    return json
  }
  for (const o of outputs) {
    const [topic, key, value] = o.type === 'incident' ? [topics.incidents, o.incident.id, documentJson('incident', o.incident)]
      : o.type === 'problem' ? [topics.problems, o.problem.id, documentJson('problem', o.problem)]
      : [topics.commandResults, o.result.commandId, JSON.stringify(o.result)]
    const message: Message = { key, value }
    const messages = byTopic.get(topic)
    if (messages) messages.push(message)
    else byTopic.set(topic, [message])
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
}

/**
 * Applies one input record, its outputs kept for the batch's `drainOutputs`; a record that is not JSON or
 * that the engine throws on is poison, unless the engine is at a limit of the runtime (thrown).
 */
function applyRecord(engine: CorrelationEngine, raw: string): PoisonRecordError | undefined {
  let input: EngineInput
  try {
    input = JSON.parse(raw) as EngineInput
  } catch (err) {
    return new UndecodableRecordError(`input record is not JSON: ${(err as Error).message}`, { cause: err })
  }
  try {
    engine.applyBuffered(input)
    return undefined
  } catch (err) {
    // Not the record's fault, and every record after it would fail the same: the consumer stops (the engine is dropped).
    if (err instanceof EngineCapacityError) throw err
    // Replaying the log hits the same record at the same point, so the engine's state stays what a replay gives.
    return new EngineRejectedError(`the engine could not apply the input: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * A partition's engine from its latest snapshot. A snapshot written by an older engine cannot be continued
 * (its state means something else), so the partition replays its whole retained input instead: slower to
 * start, and the same result a fresh deployment would have. So does one that does not decode or restore,
 * unless the runtime refused the room for it (`atCapacity`).
 */
async function restoreEngine(config: Partial<CorrelationConfig>, saved: StoredState | undefined, log: Logger, between: () => Promise<void>): Promise<{ engine: CorrelationEngine; applied: bigint; fromSnapshot: boolean }> {
  const fresh = () => ({ engine: new CorrelationEngine(config), applied: -1n, fromSnapshot: false })
  if (!saved) return fresh()
  // Decoded a chunk at a time and rebuilt in steps, with a turn of the event loop between: a large state
  // takes seconds. Only the steps' own failures decide here; one of `between` (a rebalance) is the caller's.
  const snapshot = await stepped(saved.decodeSteps(), between, (err) => {
    atCapacity(err)
    // Complete and checksummed, yet unreadable: replaying is slower, and stalling on it forever is worse.
    log.error({ err, snapshotOffset: saved.offset }, 'snapshot unreadable: replaying the partition from the start of its input')
  })
  if (snapshot === undefined) return fresh()
  const engine = await stepped(CorrelationEngine.restoring(config, snapshot), between, (err) => {
    atCapacity(err)
    if (err instanceof SnapshotVersionError) log.warn({ err, snapshotOffset: saved.offset }, 'snapshot written by an older engine: replaying the partition from the start of its input')
    // Rethrown, it would end the process, and every member the partition then goes to, on the same snapshot.
    else log.error({ err, snapshotOffset: saved.offset }, 'snapshot does not restore: replaying the partition from the start of its input')
  })
  return engine === undefined ? fresh() : { engine, applied: BigInt(saved.offset), fromSnapshot: true }
}

/**
 * Throws when a restore failed for want of room (an allocation refused, a table at V8's limit): the snapshot
 * is good, and replaying instead would soon checkpoint an engine of the retained log alone over it, losing
 * for good what only it held (problems, incidents older than the log). The consumer stops, as when the
 * engine reaches a limit while applying, and the snapshot stays for a restart with more room.
 */
function atCapacity(err: unknown): void {
  if (err instanceof EngineCapacityError) throw err
  // Not an invalid array length: a bad number in the snapshot gives that too, and it replays instead.
  if (isRoomRefused(err)) throw new EngineCapacityError(err)
}

/**
 * What `saved` and `committed` hold once the input log started over: no offset, so that no offset of the new
 * log is taken for one of the old log's snapshot or commit (-1 is one: a batch that applied nothing).
 */
const NONE_OF_THIS_LOG = -2n

/** Snapshots read from the state topic, by `topic/partition`, and the partitions the read stands for. */
interface SavedSnapshots {
  byKey: Map<string, StoredState>
  partitions: Set<number> | undefined
}

/**
 * Runs one correlation engine per assigned input partition. A partition is restored from its latest
 * snapshot and replays its input log from the snapshot's offset. An input counts as applied only once
 * Kafka acknowledged its outputs (acks=all); a batch whose outputs are not acknowledged (a failed send,
 * a batch abandoned half-way) leaves an engine that is ahead of the topics, so that engine is dropped and
 * the partition restores from its snapshot, and the redelivered inputs produce their outputs again. The
 * input offset is committed only together with a snapshot that includes it. A crash at any point
 * therefore replays from a snapshot and re-produces the same outputs (same ids, same versions), which
 * the compacted output topics and the indexer's external versions absorb.
 *
 * Poison input (not JSON, or the engine throws) goes to the dead-letter topic with the batch's outputs,
 * before the batch counts as applied, and is applied as far as the engine got. Kafka failures are thrown
 * for the consumer's retry policy (`retryingBatches`).
 */
export class PartitionRunner {
  readonly #o: PartitionRunnerOptions
  readonly #engines = new Map<number, PartitionEngine>()
  /** Per partition, the checkpoint being written (the engine goes on applying), also after its engine was dropped or revoked. */
  readonly #writing = new Map<number, Promise<void>>()
  /**
   * The snapshots read for the partitions still to restore (`byKey`): each goes once its partition is
   * restored (a dropped engine reads the topic afresh), and those of partitions not assigned here are never
   * kept. `partitions`: those whose latest snapshot the read stands for (one `byKey` lacks has none), less
   * those restored since; undefined: every partition, as read before the assignment was known.
   */
  #saved: SavedSnapshots | undefined
  /** The partitions the group last gave this member; undefined before it said. */
  #assigned: ReadonlySet<number> | undefined
  #running = 0
  /** Aborted by `stopApplying`: ends the commit retries' back-off waits too, so shutdown does not wait one out. */
  readonly #stopping = new AbortController()
  readonly #sleep: (ms: number, ends: AbortSignal) => Promise<void>
  /** `monotonicMs`: every interval is timed on it, never on the wall clock. */
  readonly #monotonicMs: () => number
  #idle: (() => void)[] = []

  constructor(opts: PartitionRunnerOptions) {
    this.#o = opts
    this.#sleep = opts.sleep ?? sleepUnlessAborted
    this.#monotonicMs = opts.monotonicMs ?? (() => performance.now())
  }

  /**
   * After a rebalance: forget partitions no longer ours, and read snapshots afresh for new ones. Those read
   * for partitions still ours are kept: a member evicted while it read (a large state takes tens of seconds)
   * rejoins with the same partitions, and reading it all again would start the same wait over. If another
   * member held a partition meanwhile and checkpointed it, the snapshot kept is older, not wrong: the
   * partition replays more and produces the same outputs again.
   */
  onAssignment(partitions: readonly number[]): void {
    for (const p of [...this.#engines.keys()]) if (!partitions.includes(p)) this.#engines.delete(p)
    this.#assigned = new Set(partitions)
    const saved = this.#saved
    if (saved?.partitions) {
      const kept = saved.partitions
      for (const p of kept) if (!partitions.includes(p)) kept.delete(p)
      for (const [key, state] of saved.byKey) if (!kept.has(state.partition)) saved.byKey.delete(key)
    } else this.#saved = undefined
  }

  get partitions(): number[] {
    return [...this.#engines.keys()]
  }

  /**
   * Per partition, seconds since it first held input that no snapshot includes (0 when all is saved):
   * how much a restart would replay, and whether checkpoints are failing.
   */
  snapshotAges(): Map<number, number> {
    const now = this.#monotonicMs()
    return new Map([...this.#engines].map(([p, pe]) => [p, pe.unsavedSince === undefined ? 0 : Math.max(0, now - pe.unsavedSince) / 1000]))
  }

  /**
   * Per partition, the snapshot age (`snapshotAges`, seconds) that a partition whose checkpoints succeed
   * reaches at most: input applied just after a snapshot was taken waits for that snapshot's write, the
   * spacing after it, and the next checkpoint. Checkpoints are spaced by their own cost (`checkpointShare`),
   * so at a large state this is many minutes, and an alert on a fixed age fired on a healthy correlator.
   */
  expectedSnapshotAges(): Map<number, number> {
    return new Map([...this.#engines].map(([p, pe]) => [p, (this.#checkpointSpacing(pe) + 2 * pe.lastCheckpointMs) / 1000]))
  }

  /** How the handler must be run: it resolves and commits by itself. */
  static readonly runOptions = Object.freeze({ eachBatchAutoResolve: false, autoCommit: false })

  /**
   * The longest one send of outputs or state may take (`SerialProducer`'s `sendTimeoutMs`). The handler
   * does not heartbeat while a send waits, only between the requests of a batch: 10 s keeps each well inside
   * the session timeout (30 s by default), as the rekeyer's publisher does. A send that takes longer fails as Kafka unavailable, the engine is
   * dropped, and the consumer's retry policy backs off, heartbeating.
   */
  static readonly sendTimeoutMs = 10_000

  readonly handler = async (payload: EachBatchPayload): Promise<void> => {
    this.#running++
    try {
      await this.#apply(payload)
    } finally {
      if (--this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve()
    }
  }

  /**
   * For shutdown, after pausing the consumer: no batch is applied from now on, and this resolves when the
   * one being applied is done. Pausing alone is not enough: batches kafkajs fetched before the pause still
   * come, and one applied while `checkpointAll` snapshots could be in a snapshot before its outputs are sent.
   */
  stopApplying(): Promise<void> {
    this.#stopping.abort()
    return this.idle()
  }

  /** Resolves when no batch is being applied: after pausing the consumer, the engines hold still. */
  idle(): Promise<void> {
    return this.#running === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve))
  }

  async #apply({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { partition, topic } = batch
    // Not resolved: read again after the restart, from the offset the last checkpoint committed.
    if (this.#stopping.signal.aborted || !isRunning() || isStale()) return
    const log = this.#o.logger.child({ topic, partition })
    let pe = this.#engines.get(partition)
    const first = batch.messages[0]
    if (pe?.continued && first && BigInt(first.offset) > pe.applied + 1n) {
      // Input offsets have no gaps, so another member applied the records in between: this member lost the
      // partition and got it back without a rebalance telling it (its consumer crashed and rejoined while
      // a broker was down). Its engine has missed those records and must not go on.
      this.#drop(partition, pe, log, `input continues at ${first.offset}, after ${pe.applied} this engine applied: another member applied the records between`)
      pe = undefined
    }
    if (!pe) {
      // A dropped engine's checkpoint may still be on its way: let it land, so that the restore reads the
      // state topic after it and two snapshots of one partition are never written at once.
      await this.#writing.get(partition)
      let saved = this.#saved
      if (!saved || (saved.partitions && !saved.partitions.has(partition))) saved = await this.#readSaved(topic, partition, heartbeat)
      const key = `${topic}/${partition}`
      const { engine, applied, fromSnapshot } = await restoreEngine(this.#o.engineConfig, saved.byKey.get(key), log, turnAndHeartbeat(heartbeat))
      // The batch ended while this restored (the consumer stopped, or a seek made it stale): the next batch
      // restores, from the same snapshot, kept for it. Nor does a shutdown begun meanwhile take it: applied,
      // its batch would cost the shutdown a whole checkpoint of a state nobody asked for yet.
      if (this.#stopping.signal.aborted || !isRunning() || isStale()) return
      // Its chunks are megabytes at a large state: restored, nothing reads them again.
      saved.byKey.delete(key)
      saved.partitions?.delete(partition)
      pe = { engine, applied, saved: applied, committed: applied, logRestarts: 0, lastCheckpoint: this.#monotonicMs(), lastCheckpointMs: 0, unsavedSinceTake: undefined, unsavedSince: undefined, continued: false }
      this.#engines.set(partition, pe)
      log.info({ fromOffset: String(applied + 1n), snapshot: fromSnapshot }, 'partition restored')
    }
    if (first && BigInt(first.offset) <= pe.applied && BigInt(batch.highWatermark) <= pe.applied) {
      // Records this engine applied are read again (a rejoin sets the position back to the last commit) only
      // from a log that still holds them. This one ends before the last of them: it was made anew (the topic
      // deleted and created again) or cut back (an unclean leader election), and its records at those offsets
      // are new ones. Skipped as applied, they would be lost. Applied from here, any the engine had already
      // (a truncated log written again) are dropped as duplicates by their ids.
      log.warn({ applied: String(pe.applied), highWatermark: batch.highWatermark, batchFrom: first.offset }, 'input log starts over below what this engine applied: applying it from its batch on')
      pe.applied = BigInt(first.offset) - 1n
      // The snapshot and the commit are the old log's. Kept, the new log reaching their offset looked saved,
      // so no checkpoint (SIGTERM's neither) wrote it, and a restart resumed the old state after that offset:
      // the new log's records before it were lost. The new log is checkpointed after this batch, and one of the
      // old log still being written counts for nothing.
      pe.saved = pe.committed = NONE_OF_THIS_LOG
      pe.lastCheckpoint = Number.NEGATIVE_INFINITY
      pe.logRestarts++
    }
    if (!pe.continued && first && pe.saved >= 0n && pe.committed === pe.saved && BigInt(first.offset) <= pe.saved && !this.#writing.has(partition)) {
      // The group reads from at or before the snapshot restored: its commit never landed (a SIGKILL between
      // the manifest and the commit, a commit refused after an eviction). Taken for committed, it never was:
      // a partition with no new input (ticks off) kept that lag for good, and /readyz turned 503. The group's
      // position is at or past its commit, so committing the snapshot's offset moves it forward.
      pe.committed = BigInt(first.offset) - 1n
      const saved = pe.saved
      this.#writing.set(partition, this.#commitSaved(topic, partition, pe, saved, pe.logRestarts, log).finally(() => this.#writing.delete(partition)))
    }
    if (!pe.continued && first && BigInt(first.offset) > pe.applied + 1n) {
      // A restored engine goes on from the record after its snapshot, or from the log's start if retention
      // removed that; a batch from further on would leave it a gap. The group's position is past the snapshot
      // when another member committed more, or the snapshot was read before a rebalance. And a seek back does
      // not always hold: with autoCommit off it only moves kafkajs's resolved offset, which every rejoin of the
      // group (a rebalance, a fetch that met a leader change) sets back to the committed one. So each batch of
      // a restored engine is checked, and sent back as often as it comes from further on.
      const start = BigInt(await this.#logStart(topic, partition, heartbeat))
      const from = pe.applied + 1n > start ? pe.applied + 1n : start
      if (BigInt(first.offset) > from) {
        log.info({ batchFrom: first.offset, seekTo: String(from), snapshotOffset: String(pe.applied) }, 'batch past the restored engine: seeking back')
        this.#o.consumer.seek({ topic, partition, offset: String(from) })
        return
      }
      if (from > pe.applied + 1n) log.warn({ snapshotOffset: String(pe.applied), logStart: String(start) }, 'input after the snapshot removed by retention: the engine goes on from the start of the log, without it')
    }

    // From the first apply until Kafka acknowledges the outputs, the engine is ahead of the topics: if
    // anything stops us in between, it must not be used again.
    let outputs: EngineOutput[]
    const deadLetters: Message[] = []
    const reasons: string[] = []
    let last = pe.applied
    let inputs = 0
    try {
      for (const m of batch.messages) {
        const offset = BigInt(m.offset)
        if (offset <= last) continue
        if (!isRunning() || isStale()) {
          if (inputs > 0) this.#drop(partition, pe, log, 'batch abandoned half-way')
          return
        }
        const poison = applyRecord(pe.engine, m.value?.toString() ?? '')
        if (poison) {
          log.warn({ err: poison, offset: m.offset, reason: poison.reason }, 'poison input record dead-lettered')
          deadLetters.push(this.#deadLetter(poison, topic, partition, m))
          reasons.push(poison.reason)
        }
        last = offset
        inputs++
      }
      outputs = pe.engine.drainOutputs()
      const topicMessages = outputMessages(outputs, this.#o.topics, (kind, id) => log.warn({ kind, id }, 'document larger than its topic takes: its longest lists shortened to fit'))
      if (deadLetters.length > 0) topicMessages.push({ topic: this.#o.topics.deadLetter, messages: deadLetters })
      // In requests of at most 1 MiB: a late backlog's release can touch thousands of incidents in one batch,
      // and in one request a partition's record batch would pass max.message.bytes, for good (the replay
      // after the restart brings the same outputs). A failure half-way drops the engine as any other does.
      // The group hears from this member before each request (each may take up to sendTimeoutMs), the first
      // too: a member that stood still in this batch past its session (a SIGSTOP, a paused VM) learns here
      // that the partition is another's, whose newer versions its outputs would otherwise follow on the
      // compacted topics. kafkajs hands over a fetched batch without asking the group first.
      for (const request of requestsOf(topicMessages)) {
        await unlessEvicted(heartbeat)
        await this.#o.producer.sendBatch({ topicMessages: request, acks: -1 })
      }
    } catch (err) {
      // An engine at a limit threw half-way through its first input as well: it is changed, if nothing was applied.
      if (inputs > 0 || err instanceof EngineCapacityError) this.#drop(partition, pe, log, dropReason(err))
      throw err
    }

    if (last > pe.applied) {
      if (pe.unsavedSince === undefined) pe.unsavedSince = this.#monotonicMs()
      if (this.#writing.has(partition) && pe.unsavedSinceTake === undefined) pe.unsavedSinceTake = this.#monotonicMs()
      pe.applied = last
      pe.continued = true
      this.#o.onDurable?.(topic, partition, String(last + 1n))
    }
    this.#o.onApplied?.(inputs, outputs.length)
    for (const reason of reasons) this.#o.onDeadLetter?.(reason)
    // Resolving only moves kafkajs's fetch position past this batch (without it kafkajs fetches the same
    // records again); nothing is committed until a snapshot includes them (autoCommit is off).
    if (pe.applied >= 0n) resolveOffset(String(pe.applied))
    if (!this.#writing.has(partition) && this.#monotonicMs() - pe.lastCheckpoint >= this.#checkpointSpacing(pe)) await this.#checkpoint(topic, partition, pe, heartbeat, log)
    await heartbeat()
  }

  /** The partition's log start; the group hears from this member every second while it is asked. */
  async #logStart(topic: string, partition: number, heartbeat: () => Promise<void>): Promise<string> {
    // One promise raced each second: a failure after a heartbeat is this call's, never an unhandled rejection.
    const asked = this.#o.logStartOf(topic, partition).then((start) => ({ start }))
    for (;;) {
      const second = new AbortController()
      const answer = await Promise.race([asked, sleepUnlessAborted(1000, second.signal).then(() => undefined)]).finally(() => second.abort())
      if (answer) return answer.start
      await heartbeat()
    }
  }

  #deadLetter(err: PoisonRecordError, topic: string, partition: number, m: KafkaMessage): Message {
    return poisonDeadLetter(err, { topic, partition, offset: m.offset }, m, new Date(this.#o.now()))
  }

  /**
   * Reads the latest snapshots for the partitions assigned here. The group hears from this member while the
   * read goes on (kafkajs heartbeats only between batches): past the session timeout it would be evicted,
   * and the read be of no use. A heartbeat that says the member must rejoin (`mustRejoin`) does not end the
   * read: it is kept over the rebalance, and the failure is the batch's once the read is done. Any other
   * failure (a connection reset, a request timed out) says nothing of the member, and the next progress
   * heartbeats again: stopping on it left the rest of a long read without heartbeats, and the member evicted.
   */
  async #readSaved(topic: string, partition: number, heartbeat: () => Promise<void>): Promise<SavedSnapshots> {
    let failed: { err: unknown } | undefined
    const onProgress = async () => { if (!failed) await heartbeat().catch((err: unknown) => { if (mustRejoin(err)) failed = { err } }) }
    const assigned = this.#assigned?.has(partition) ? this.#assigned : undefined
    const partitionKeys = assigned && new Set([...assigned].map((p) => partitionKeyOf(topic, p)))
    const all = await this.#o.store.loadAll({ onProgress, logger: this.#o.logger, ...(partitionKeys ? { partitionKeys } : {}) })
    // The partitions read for and still assigned: one assigned during the read has no snapshot in it, and
    // one revoked meanwhile loses its snapshot (#assignedOnly); either is read afresh when it comes (back).
    const kept = assigned && new Set([...assigned].filter((p) => this.#assigned?.has(p)))
    const saved: SavedSnapshots = { byKey: this.#assignedOnly(topic, partition, all), partitions: kept }
    this.#saved = saved
    if (failed) throw failed.err
    return saved
  }

  /** What `loadAll` read, less the snapshots of partitions not assigned here; all of it if the assignment is not known to include `partition`. */
  #assignedOnly(topic: string, partition: number, all: Map<string, StoredState>): Map<string, StoredState> {
    const assigned = this.#assigned
    if (!assigned?.has(partition)) return all
    for (const [key, state] of all) if (state.inputTopic !== topic || !assigned.has(state.partition)) all.delete(key)
    return all
  }

  /**
   * The next batch of this partition restores it from its latest snapshot, read afresh. Only `pe` goes, never
   * an engine restored since: kafkajs 2.2.4 hands over one batch at a time, also across a crash and restart,
   * so this only guards a client that would not.
   */
  #drop(partition: number, pe: PartitionEngine, log: Logger, why: string): void {
    if (this.#engines.get(partition) !== pe) return
    this.#engines.delete(partition)
    this.#saved = undefined
    log.warn({ why }, 'partition engine dropped: it restores from its snapshot and replays')
  }

  /** How long after the last checkpoint the next one is due. */
  #checkpointSpacing(pe: PartitionEngine): number {
    return Math.max(this.#o.snapshotIntervalMs, pe.lastCheckpointMs / (this.#o.checkpointShare ?? 0.05))
  }

  /**
   * Takes the partition's snapshot (its batches wait meanwhile; other work runs between the steps, and the
   * group hears from this member) and writes it in the background: the snapshot shares nothing the engine
   * changes later, so the partition goes on applying while the chunks are encoded and sent. The input
   * offset is committed once the snapshot is durable, if this engine still holds the partition, and
   * committed again with back-off while that fails (`#commitSaved`).
   */
  async #checkpoint(topic: string, partition: number, pe: PartitionEngine, heartbeat: () => Promise<void>, log: Logger): Promise<void> {
    if (pe.applied === pe.saved) { pe.lastCheckpoint = this.#monotonicMs(); return }
    const offset = pe.applied
    const logRestarts = pe.logRestarts
    const started = this.#monotonicMs()
    const snapshot = (await stepped(pe.engine.snapshotSteps(), turnAndHeartbeat(heartbeat), (err) => { throw err }))!
    pe.unsavedSinceTake = undefined
    const writing = (async () => {
      try {
        const written = await this.#o.store.save({ inputTopic: topic, partition, offset: String(offset), snapshot }, { betweenSteps: turn, stillOwner: () => this.#engines.get(partition) === pe })
        if (!written) {
          log.info({ offset: String(offset) }, 'checkpoint abandoned: the engine lost the partition before its manifest was written')
          return
        }
        if (pe.logRestarts !== logRestarts) {
          // Its offset is the old log's: counted as saved, a checkpoint of the new log at that offset would be
          // skipped, and committed, it would skip the new log's records up to there after a restart.
          log.info({ offset: String(offset) }, 'checkpoint of the input log before it started over: not counted, not committed')
          return
        }
        pe.saved = offset
        pe.unsavedSince = pe.applied > offset ? pe.unsavedSinceTake : undefined
      } catch (err) {
        // Nothing is lost: the previous snapshot and commit stand, and the next checkpoint tries again.
        log.warn({ err, offset: String(offset) }, 'checkpoint not written: the next one tries again')
        return
      } finally {
        pe.lastCheckpointMs = this.#monotonicMs() - started
        // A log that started over meanwhile is checkpointed at its next batch, not a spacing later.
        if (pe.logRestarts === logRestarts) pe.lastCheckpoint = this.#monotonicMs()
      }
      // The commit holds the partition's checkpoint slot: the next snapshot waits until it is done.
      await this.#commitSaved(topic, partition, pe, offset, logRestarts, log)
    })().finally(() => this.#writing.delete(partition))
    this.#writing.set(partition, writing)
  }

  /**
   * Commits the offset after a durable snapshot, and again with back-off while that fails with a retriable
   * error: until the commit lands, a restart reads the input again from the previous commit, and the next
   * snapshot, which would commit further, may be minutes away (`checkpointShare`), or never come for a
   * partition with no new input. A dropped or revoked engine commits nothing: another may have committed
   * further already; nor one whose input log started over since (`logRestarts`): the offset is the old log's.
   * On shutdown the loop ends and `checkpointAll` commits what it left.
   */
  async #commitSaved(topic: string, partition: number, pe: PartitionEngine, offset: bigint, logRestarts: number, log: Logger): Promise<void> {
    for (let failures = 0; this.#engines.get(partition) === pe && pe.logRestarts === logRestarts && !this.#stopping.signal.aborted; failures++) {
      try {
        await this.#o.consumer.commitOffsets([{ topic, partition, offset: String(offset + 1n) }])
        pe.committed = offset
        if (failures > 0) log.info({ offset: String(offset), failures }, 'offset committed after the checkpoint')
        return
      } catch (raw) {
        if (evictedFromGroup(raw)) {
          // Another member owns the partition now and commits its own offsets; retried, this one could land
          // after them, below.
          log.info({ offset: String(offset) }, 'offset not committed after the checkpoint: the group went on without this member')
          return
        }
        const err = classifyFailure(raw)
        if (!err.retriable) {
          log.error({ err, offset: String(offset) }, 'offset not committed after the checkpoint: no retry can fix this; the next checkpoint after new input, or the one at shutdown, commits it')
          return
        }
        const delay = backoffMs(failures + 1, 250, 5000)
        // The first failure, then now and then: a long outage is one line a minute at most.
        if (failures % 12 === 0) log.warn({ err, offset: String(offset), failures: failures + 1, retryInMs: delay }, 'offset not committed after the checkpoint: retrying')
        await this.#sleep(delay, this.#stopping.signal)
      }
    }
  }

  /**
   * On shutdown: checkpoint every partition and commit, so a restart replays nothing. Pause the consumer
   * and wait for `idle()` first, and call it before `stop()`: kafkajs drops the group on stop, and a commit
   * after it cannot succeed.
   */
  async checkpointAll(): Promise<void> {
    // A checkpoint still being written commits first: the commits below must not be overtaken by it.
    await Promise.all(this.#writing.values())
    const commits: { topic: string; partition: number; offset: string }[] = []
    const committing: PartitionEngine[] = []
    // One partition's failed save does not cost the others their checkpoint: they are saved and committed.
    const failed = new Map<number, unknown>()
    for (const [partition, pe] of this.#engines) {
      if (pe.applied !== pe.saved) {
        let written
        try {
          written = await this.#o.store.save({ inputTopic: this.#o.topics.input, partition, offset: String(pe.applied), snapshot: pe.engine.snapshot() }, { stillOwner: () => this.#engines.get(partition) === pe })
        } catch (err) {
          failed.set(partition, err)
          continue
        }
        if (!written) continue
        pe.saved = pe.applied
        pe.unsavedSince = undefined
      }
      // Also a snapshot already written whose commit has not landed yet.
      if (pe.saved === pe.committed) continue
      commits.push({ topic: this.#o.topics.input, partition, offset: String(pe.saved + 1n) })
      committing.push(pe)
    }
    if (commits.length > 0) {
      await this.#o.consumer.commitOffsets(commits)
      for (const pe of committing) pe.committed = pe.saved
    }
    if (failed.size > 0) {
      throw new AggregateError([...failed.values()], `the checkpoint of partition ${[...failed.keys()].join(', ')} of ${this.#o.topics.input} failed; the next start replays it from its last one`)
    }
  }
}

/**
 * The heartbeat answers that end a batch for kafkajs to rejoin: a rebalance, the group gone on without this
 * member, or its coordinator moved (kafkajs finds the new one only by rejoining: every heartbeat meanwhile
 * goes to the old broker, so the new coordinator hears nothing and evicts the member unheard).
 */
const REJOINS: ReadonlySet<string> = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', ...EVICTIONS])

function mustRejoin(err: unknown): boolean {
  return kafkaErrorType(err, REJOINS) !== undefined
}

/**
 * A heartbeat before a request of outputs. Any failure but eviction (a rebalance in progress, the
 * coordinator moving) lets the request go: the member still owns the partition, and the heartbeat after the
 * batch meets the failure again once the outputs are acknowledged, and kafkajs rejoins then. Failing here, it
 * would drop an engine the rebalance most often leaves in place, and cost a restore and a replay.
 */
async function unlessEvicted(heartbeat: () => Promise<void>): Promise<void> {
  try {
    await heartbeat()
  } catch (err) {
    if (evictedFromGroup(err)) throw err
  }
}

function dropReason(err: unknown): string {
  if (err instanceof EngineCapacityError) return 'engine at a limit of the runtime'
  return evictedFromGroup(err) ? 'the group went on without this member while it held the batch' : 'outputs not acknowledged'
}

/** A turn of the event loop: the other consumer, the health endpoints and the engine's batches run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Between steps of a partition's long work: a turn of the event loop, and the group hears from this member. */
const turnAndHeartbeat = (heartbeat: () => Promise<void>) => async (): Promise<void> => { await turn(); await heartbeat() }
