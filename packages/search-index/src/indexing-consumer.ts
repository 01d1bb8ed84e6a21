import type { Consumer, EachBatchPayload, IHeaders } from 'kafkajs'
import type { ConsumerHealth } from '@opsreview/kafka/consumer-health'
import type { Logger } from 'pino'
import { BulkPipeline, type BulkPipelineOptions, type PipelineFailing, type PipelineWaiting, type Poison } from './bulk-pipeline.ts'
import type { DocumentFor, IndexOperation } from './documents.ts'
import type { CommitOffset } from './durable-offsets.ts'
import { retryDelay } from '@opsreview/lifecycle/backoff'
import { IndexerError, type IndexerFailureCode } from './errors.ts'
import { RateLimitedLog } from '@opsreview/logging/rate-limited'

/** Where the consumer tells its health tracker what it fetched and made durable. */
export type ConsumerProgress = Pick<ConsumerHealth, 'fetched' | 'processed'>

export interface IndexingConsumerOptions {
  consumer: Consumer
  /** The bulk pipeline's options; its durable offsets are what this consumer commits. */
  pipeline: Omit<BulkPipelineOptions, 'onDurable'>
  /** The document mapping of each consumed topic. */
  documentFor: (topic: string) => DocumentFor
  logger: Logger
  /** Told what each batch brought and what each commit made durable. */
  progress?: ConsumerProgress
  /** Durable offsets are committed at most this often (200 ms): a commit per finished request is broker work for nothing. */
  commitIntervalMs?: number
  /**
   * Longest wait before a failed commit is tried again (10 s). The first wait is `commitIntervalMs` (at least
   * 10 ms), doubled after each failure in a row, each jittered.
   */
  commitRetryMaxMs?: number
  /**
   * Topics whose writes go through a bulk pipeline of their own (a lane, with its own queue and request
   * slots): the incidents and problems people wait for are then never queued behind alert bulk requests.
   * Every other topic shares the main lane (`pipeline`). Default: none, one lane for all.
   */
  ownLane?: readonly string[]
}

/** Records parsed and handed to the pipeline at a time. */
const SLICE = 500

/** Why a record could not become a write: not JSON, not what the topic holds, or a target that cannot exist. */
function parseFailure(err: unknown): IndexerFailureCode {
  if (err instanceof IndexerError) return err.code
  return err instanceof SyntaxError ? 'unparseable' : 'schema-invalid'
}

/** Parses one batch into writes; a record that is not what its topic should hold becomes a dead letter. */
export function batchWrites(documentFor: DocumentFor, topic: string, partition: number, messages: readonly { offset: string; key?: Buffer | null; value: Buffer | null; headers?: IHeaders }[]) {
  const ops: IndexOperation[] = []
  const poison: Poison[] = []
  for (const m of messages) {
    const source = { topic, partition, offset: m.offset, key: m.key ?? null, value: m.value, headers: m.headers }
    try {
      const op = documentFor(m.value?.toString() ?? '')
      op.source = source
      ops.push(op)
    } catch (err) {
      poison.push({ code: parseFailure(err), error: (err as Error).message, source })
    }
  }
  return { ops, poison }
}

/**
 * Feeds a kafkajs consumer's batches into a bulk pipeline. The handler resolves a batch as soon as the
 * pipeline has taken it, which only moves kafkajs's fetch position, so the next fetch overlaps the bulk
 * requests; offsets are committed (autoCommit is off) only as far as the pipeline says records are
 * durable. A group join forgets what was tracked, because kafkajs then reads again from the committed
 * offsets; writes repeated that way are idempotent (ids, external versions).
 */
export class IndexingConsumer {
  /** How the consumer must be run: the handler resolves, and this class commits. */
  static readonly runOptions = Object.freeze({ eachBatchAutoResolve: false, autoCommit: false, partitionsConsumedConcurrently: 3 })

  /** The main lane: every topic not in `ownLane`. */
  readonly pipeline: BulkPipeline
  /** Every lane, the main one first; each commits its own topics' offsets. */
  readonly lanes: readonly BulkPipeline[]
  readonly #laneOf: (topic: string) => BulkPipeline
  readonly #o: IndexingConsumerOptions
  #committing: Promise<void> | undefined
  #again = false
  #commitTimer: NodeJS.Timeout | undefined
  /** When the last commit began, on a monotonic clock (performance.now): see `#scheduleCommit`. */
  #lastCommit = -Infinity
  /** Commits that failed in a row: sets the back-off of the next retry. */
  #commitFailures = 0
  readonly #commitLog: RateLimitedLog
  /** Once set, nothing schedules another commit: `close` makes the last one itself. */
  #closed = false
  #joined = false

  constructor(opts: IndexingConsumerOptions) {
    this.#o = opts
    this.#commitLog = new RateLimitedLog(opts.pipeline.logIntervalMs ?? 30_000)
    const lane = () => new BulkPipeline({ ...opts.pipeline, onDurable: () => this.#scheduleCommit() })
    this.pipeline = lane()
    const own = new Set(opts.ownLane ?? [])
    const ownLane = own.size > 0 ? lane() : undefined
    this.lanes = ownLane ? [this.pipeline, ownLane] : [this.pipeline]
    this.#laneOf = (topic) => (ownLane && own.has(topic) ? ownLane : this.pipeline)
    opts.consumer.on(opts.consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const l of this.lanes) l.offsets.reset()
      this.#joined = true
      opts.logger.info({ assignment: payload.memberAssignment }, 'indexer joined its consumer group')
    })
  }

  /** Whether the consumer has joined its group and is assigned partitions to read. */
  get joined(): boolean {
    return this.#joined
  }

  /** Bytes queued and not yet sent, in every lane. */
  get queuedBytes(): number {
    return this.lanes.reduce((sum, l) => sum + l.queuedBytes, 0)
  }

  /** Bulk requests in flight, in every lane. */
  get inFlight(): number {
    return this.lanes.reduce((sum, l) => sum + l.inFlight, 0)
  }

  /** An outage being retried in any lane (the longest-running one): for health. */
  get failing(): PipelineFailing | undefined {
    return this.lanes.map((l) => l.failing).filter((f) => f !== undefined).sort((a, b) => a.since - b.since)[0]
  }

  /** Documents held back by their own retriable failures in every lane, the longest-waiting first: for health. */
  get waiting(): PipelineWaiting[] {
    return this.lanes.flatMap((l) => l.waiting).sort((a, b) => a.since - b.since)
  }

  readonly handler = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const documentFor = this.#o.documentFor(batch.topic)
    const pipeline = this.#laneOf(batch.topic)
    // In slices, yielding between them: parsing a whole multi-megabyte batch at once would hold the event
    // loop while bulk responses wait, and Elasticsearch would idle for want of the next request.
    for (let from = 0; from < batch.messages.length; from += SLICE) {
      const slice = batch.messages.slice(from, from + SLICE)
      this.#o.progress?.fetched(batch.topic, batch.partition, { firstOffset: slice[0]!.offset, lastOffset: slice.at(-1)!.offset, timestamp: slice[0]!.timestamp })
      const { ops, poison } = batchWrites(documentFor, batch.topic, batch.partition, slice)
      const taken = await pipeline.add(
        { topic: batch.topic, partition: batch.partition, lastOffset: slice.at(-1)!.offset, ops, poison },
        { shouldStop: () => !isRunning() || isStale(), whileWaiting: heartbeat },
      )
      // Not taken: the group is rebalancing or the consumer stopping; the rest is read again.
      if (!taken) return
      resolveOffset(slice.at(-1)!.offset)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await heartbeat()
  }

  #scheduleCommit(): void {
    if (this.#commitTimer || this.#closed) return
    // A monotonic clock: on the wall clock, a step back (NTP) held every commit back for as long as the step,
    // and a restart meanwhile read again all that had become durable since the last one.
    const wait = Math.max(0, this.#lastCommit + (this.#o.commitIntervalMs ?? 200) - performance.now())
    this.#commitTimer = setTimeout(() => { this.#commitTimer = undefined; void this.commit() }, wait)
  }

  /**
   * Commits what is durable; one commit at a time, and a call during one makes one more after it. A failed
   * commit is tried again by itself, with back-off, until it succeeds, a join forgets the offsets, or `close`.
   */
  commit(): Promise<void> {
    this.#lastCommit = performance.now()
    if (this.#committing) {
      this.#again = true
      return this.#committing
    }
    this.#committing = (async () => {
      let failure: { err: unknown; offsets: CommitOffset[] } | undefined
      do {
        this.#again = false
        failure = undefined
        const byLane = this.lanes.map((l) => ({ lane: l, offsets: l.offsets.uncommitted() }))
        const offsets = byLane.flatMap((b) => b.offsets)
        if (offsets.length === 0) break
        try {
          await this.#o.consumer.commitOffsets(offsets)
          for (const b of byLane) b.lane.offsets.committed(b.offsets)
          for (const o of offsets) this.#o.progress?.processed(o.topic, o.partition, o.offset)
        } catch (err) {
          failure = { err, offsets }
        }
      } while (this.#again)
      if (failure) this.#commitFailed(failure.err, failure.offsets)
      else this.#commitFailures = 0
    })().finally(() => { this.#committing = undefined })
    return this.#committing
  }

  /**
   * A rebalance or a broker restart: the offsets stay uncommitted. Durable progress may be all there is
   * (no record comes after it), so the commit is tried again by itself; otherwise lag would stay, and the
   * partition show as stalled, until traffic arrived. A rebalance ends it: the join forgets the offsets.
   */
  #commitFailed(err: unknown, offsets: readonly CommitOffset[]): void {
    this.#commitFailures++
    const failures = this.#commitFailures
    if (this.#closed) {
      this.#o.logger.warn({ err, offsets, failures }, 'offset commit failed at shutdown; those records are read again on start')
      return
    }
    // At least 10 ms: with commits not spaced at all (commitIntervalMs 0), a lost coordinator would be asked in a tight loop.
    const retryInMs = Math.round(retryDelay(failures, Math.max(10, this.#o.commitIntervalMs ?? 200), this.#o.commitRetryMaxMs ?? 10_000))
    this.#commitLog.maybe('commit', (suppressed) => this.#o.logger.warn({ err, offsets, failures, retryInMs, suppressed }, 'offset commit failed; retrying'))
    // In place of any commit due sooner: new progress goes with the retry, so the back-off holds.
    clearTimeout(this.#commitTimer)
    this.#commitTimer = setTimeout(() => { this.#commitTimer = undefined; void this.commit() }, retryInMs)
  }

  /**
   * For SIGTERM: stop fetching, let the pipeline finish what it holds (up to `timeoutMs`), commit, and
   * leave the group. What could not be written in time stays uncommitted and is read again. Throws, after
   * all that, what broke a lane.
   */
  async close(topics: readonly string[], timeoutMs = 15_000): Promise<void> {
    this.#o.consumer.pause(topics.map((topic) => ({ topic })))
    // Each lane to its end, a broken one too: what the others made durable is still committed, and the group left.
    const drains = await Promise.allSettled(this.lanes.map((l) => l.drain(timeoutMs)))
    const broken = drains.find((d) => d.status === 'rejected')
    const drained = drains.every((d) => d.status === 'fulfilled' && d.value)
    if (!drained && !broken) this.#o.logger.warn({ queuedBytes: this.queuedBytes, inFlight: this.inFlight, notDurable: this.lanes.flatMap((l) => l.offsets.notDurable()) }, 'shutdown: elasticsearch did not take everything in time; the rest is read again on start')
    for (const l of this.lanes) l.stop()
    this.#closed = true
    clearTimeout(this.#commitTimer)
    // A commit still in flight may fail after the flag is set; this one is the last, made after it.
    await this.#committing
    await this.commit()
    // What broke the lane is the error, rather than a failure to leave the group that followed it.
    const left = this.#o.consumer.disconnect()
    if (!broken) return left
    await left.catch((err: unknown) => this.#o.logger.warn({ err }, 'leaving the group failed after a lane broke'))
    throw broken.reason
  }
}
