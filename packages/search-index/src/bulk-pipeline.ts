import { recordReplay, replayValueEncoding, type DeadLetterEnvelope, type DeadLetterReplay } from '@opsreview/kafka/dead-letter'
import { recordRefusal } from '@opsreview/kafka/errors'
import type { Client, estypes } from '@elastic/elasticsearch'
import type { Logger } from 'pino'
import { retryDelay } from '@opsreview/lifecycle/backoff'
import { bulkAction, type IndexOperation, type RecordSource } from './documents.ts'
import { DurableOffsets, type Span } from './durable-offsets.ts'
import { classifyItemError, classifyRequestError, INDEXER_FAILURES, responseOf, retriableStatus, type Classified, type ErrorResponse, type IndexerFailureCode } from './errors.ts'
import { RateLimitedLog } from '@opsreview/logging/rate-limited'
import { deadlineIn } from '@opsreview/lifecycle/deadline'

/** A record the indexer gives up on, before the pipeline stamps it with the stage and the time. */
export interface Poison {
  code: IndexerFailureCode
  error: string
  source: RecordSource
  detail?: Record<string, unknown>
}

/** The indexer's dead letter: the shared envelope, from the indexer, of a record it read, with its reason code. */
export type IndexerDeadLetterEnvelope = DeadLetterEnvelope & {
  stage: 'indexer'
  reason: IndexerFailureCode
  origin: NonNullable<DeadLetterEnvelope['origin']>
  replay?: Extract<DeadLetterReplay, { kind: 'record' }>
}

/** One dead letter, ready for `deadLetterMessage(key, envelope)`: the key is the record's origin. */
export interface DeadLetterItem {
  key: string
  envelope: IndexerDeadLetterEnvelope
}

/**
 * Puts dead letters on the dead-letter topic; throws when Kafka did not take them (they are retried). All of
 * them or none: when Kafka refuses a call for a letter's size, each letter is sent again alone, so a call
 * taken in part (one send spread over partitions) would write the others twice.
 */
export type DeadLetter = (letters: DeadLetterItem[]) => Promise<void>

/** What one consumed batch of one partition brings: its writes and the records that cannot become one. */
export interface BatchWrites {
  topic: string
  partition: number
  lastOffset: string
  ops: IndexOperation[]
  poison: Poison[]
}

export type RetryReason = 'item' | 'request' | 'prepare' | 'breaker-open' | 'dead-letter'

/**
 * An outage still being retried: whole bulk requests failing (Elasticsearch down, a breaker open), until
 * one is answered; or, when none fails so, the making of one index (`index`) getting no answer, a 429 or a
 * 5xx, for as long as documents wait for it.
 */
export interface PipelineFailing {
  code: IndexerFailureCode
  since: number
  attempts: number
  error: string
  index?: string
}

/**
 * Documents held back by a retriable failure of their own (a blocked, closed or missing index) while
 * Elasticsearch takes other writes, by cause and index: no outage shows in `failing`, yet their records wait.
 */
export interface PipelineWaiting {
  code: IndexerFailureCode
  index: string
  documents: number
  /** Of those, how many by their records' partition (`topic/partition`): a stall of another partition is not theirs. */
  partitions: Record<string, number>
  /** When the one waiting longest was first refused. */
  since: number
  error: string
}

export interface BulkPipelineOptions {
  es: Client
  logger: Logger
  deadLetter: DeadLetter
  /** A bulk request is sent when it holds this much (5 MiB), or earlier when a request slot is free. */
  flushBytes?: number
  /** Bulk requests in flight at once (3). */
  concurrency?: number
  /** `add` waits while more than this is queued and not yet sent (flushBytes × concurrency). */
  maxQueuedBytes?: number
  /** Back-off bounds (each wait is jittered); the documents wait, nothing is skipped. */
  minBackoffMs?: number
  maxBackoffMs?: number
  /**
   * Attempts an item may fail with a retriable error while Elasticsearch accepts other items, before it is
   * treated as poison (`retries-exhausted`). Attempts while nothing is accepted (an outage) do not count,
   * nor do a 429, a block, a refusal of the cluster's or a missing alias (see `#blame`).
   */
  maxItemAttempts?: number
  /**
   * An item whose index is unavailable (`es-unavailable`: a 503, a shard not active) goes only once this
   * long has passed since its first counted attempt too (0: at once). A shard that is recovering or
   * relocating answers so for its index alone for a minute or more while the others take writes: after
   * ten attempts in ~45 s its documents were dead-lettered, to be replayed by hand after a routine restart.
   * A block or a closed index counts no attempts at all: its documents wait until the operator lifts it.
   */
  unavailableRetryMs?: number
  /** Repeated retry logs: at most one per reason in this interval (30 s). */
  logIntervalMs?: number
  /** Wraps each bulk attempt; throwing (an open breaker) counts as a failed attempt. */
  guard?: <T>(attempt: () => Promise<T>) => Promise<T>
  /**
   * Every target is an alias (live writes): Elasticsearch refuses a write to a missing one instead of
   * creating an index of that name, which would block the alias for good. Off for a rebuild's fresh indices.
   */
  requireAlias?: boolean
  /** Makes sure the target indices exist before a request writes to them (a new month's alias). */
  prepare?: (indices: ReadonlySet<string>) => Promise<void>
  /** A target turned out missing (`index_not_found_exception`): forget what `prepare` knew of it. */
  forget?: (index: string) => void
  onIndexed?: (count: number, durationMs: number) => void
  onRetry?: (reason: RetryReason, code: IndexerFailureCode) => void
  /** A partition's durable offset moved: there is something to commit. */
  onDurable?: () => void
  /** The wall clock, for dates: the dead letters' `at`, when an outage or a wait began (for health). */
  now?: () => number
  /**
   * A monotonic clock (ms), for how long something has lasted: `unavailableRetryMs`, `logIntervalMs`. Not
   * `now`: a step of the wall clock (NTP) would count in it, an hour forward dead-lettering a document
   * whose shard is recovering after a few tries, an hour back silencing the retry logs for the hour.
   */
  elapsed?: () => number
  /**
   * The pipeline broke: something threw where nothing should (a defect, not a failure of Elasticsearch or
   * Kafka, which are retried). It takes nothing more, and `add` and `drain` throw the error; what it held
   * is not committed, so a restart reads it again. The pipeline does not log it: whoever stops on it does.
   */
  onBroken?: (err: unknown) => void
}

interface Pending {
  op: IndexOperation
  /** Attempts that failed with a retriable error while Elasticsearch accepted something else. */
  attempts: number
  /** The pipeline's accepted count when this item was last tried. */
  acceptedAtLastTry: number
  /** Whether the last failure counted as the item's own. */
  counted: boolean
  /** When its first attempt counted, on the monotonic clock (`elapsed`). */
  countedSince?: number
  /**
   * Refused by a block of its index (`es-blocked`) while Elasticsearch took other writes: its index's trouble
   * alone, so it waits outside the slots as a counted one does, but it counts no attempt and is never
   * dead-lettered (the block is the operator's to lift).
   */
  blockedAlone?: boolean
  /**
   * How its tries have left it, for health; none yet: undefined. `held`: refused at its index (an item error
   * in a bulk answer, or Elasticsearch refusing to make its index), what `waiting` shows, until it is written
   * or an outage ends it (a made index does not: its write may be refused again); `unmade`: its index's making
   * got no answer, a 429 or a 5xx, an outage `failing` shows; `tried`: neither.
   */
  standing?: 'held' | 'unmade' | 'tried'
  /** When it was first refused at its index: kept through outages, for `waiting`. */
  heldSince?: number
  last?: Classified
}

interface Request {
  ops: IndexOperation[]
  poison: Poison[]
  /** Of its documents and its poison: in `#queuedBytes` until the request is sent. */
  bytes: number
  spans: Set<Span>
}

const BULK_RESPONSE_FIELDS = ['errors', 'items.*.status', 'items.*.error']

/** Retriable failures that never count towards an item's attempts: it waits as long as they last. */
const UNCOUNTED: ReadonlySet<IndexerFailureCode> = new Set(['es-overloaded', 'es-refused', 'alias-missing', 'es-blocked'])

const newRequest = (): Request => ({ ops: [], poison: [], bytes: 0, spans: new Set() })
// The action line and separators a document adds to a bulk body, roughly.
const ACTION_BYTES = 96
// A dead letter's envelope around the record it carries (stage, reason, time, origin), roughly.
const LETTER_BYTES = 256
// A dead letter's copy of a record Kafka would not take whole: the first 16 KiB stay in `detail`.
const TRUNCATED_VALUE_CHARS = 16 * 1024

/**
 * Bulk-writes documents to Elasticsearch while the consumer fetches the next records. Batches are cut into
 * requests of up to `flushBytes`; up to `concurrency` requests are in flight, and a partly filled request
 * goes as soon as a slot is free, so at low load a document waits for no timer and at high load requests
 * fill up. `add` waits while too much is queued, which holds the fetch loop back: memory stays bounded.
 *
 * This is the one place that acts on the error catalogue (`errors.ts`). A request is done when every item
 * is in Elasticsearch (a version conflict means a newer version is there: done too) or on the dead-letter
 * topic. Retriable failures wait with bounded, jittered back-off; poison is dead-lettered with its reason
 * at once. An item that keeps failing with a retriable error while Elasticsearch accepts the others is
 * poison after `maxItemAttempts`; a whole request failing (Elasticsearch down) is retried for as long as it
 * takes, logged at a bounded rate and shown in `failing`, while a whole request refused for what it holds
 * is sent in halves until the refused document is alone and poison. Only when a request is done do its
 * records count as durable in `offsets`, which is what the consumer commits.
 */
export class BulkPipeline {
  readonly offsets = new DurableOffsets()
  readonly #o: BulkPipelineOptions
  readonly #flushBytes: number
  readonly #concurrency: number
  readonly #maxQueuedBytes: number
  readonly #maxItemAttempts: number
  readonly #unavailableRetryMs: number
  readonly #now: () => number
  readonly #elapsed: () => number
  readonly #log: RateLimitedLog
  readonly #queue: Request[] = []
  #current = newRequest()
  #queuedBytes = 0
  #inFlight = 0
  /** Requests waiting out an isolated item failure without holding a slot. */
  #parked = 0
  /** Of the documents parked requests still hold (as `add` counts them), but those refused by a block. */
  #parkedBytes = 0
  /**
   * Of the documents parked requests hold that a block of their index refused: they wait as long as the
   * block lasts, so they count towards `add`'s bound (back-pressure), not towards dead-lettering.
   */
  #blockedBytes = 0
  /** Items Elasticsearch accepted so far: tells an item's own failure from an outage. */
  #accepted = 0
  /** Whole bulk requests failing. */
  #failing: PipelineFailing | undefined
  /** Indices whose making fails for want of Elasticsearch: since when, however many of their documents come and go. */
  readonly #unmade = new Map<string, PipelineFailing>()
  /** Each request's documents still to be written, while it retries: what `waiting` reads. */
  readonly #holding = new Map<Request, Pending[]>()
  #stopped = false
  /** The requests being written now, settled or not: what `stopped` waits for. */
  readonly #sending = new Set<Promise<void>>()
  /** What broke the pipeline, once it has (see `onBroken`). */
  #broken: { err: unknown } | undefined
  #waiters = new Set<() => void>()

  constructor(opts: BulkPipelineOptions) {
    this.#o = opts
    this.#flushBytes = opts.flushBytes ?? 5 * 1024 * 1024
    this.#concurrency = opts.concurrency ?? 3
    this.#maxQueuedBytes = opts.maxQueuedBytes ?? this.#flushBytes * this.#concurrency
    this.#maxItemAttempts = opts.maxItemAttempts ?? 10
    this.#unavailableRetryMs = opts.unavailableRetryMs ?? 0
    this.#now = opts.now ?? Date.now
    this.#elapsed = opts.elapsed ?? (() => performance.now())
    this.#log = new RateLimitedLog(opts.logIntervalMs ?? 30_000, this.#elapsed)
  }

  /** Bytes queued and not yet sent. */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  get inFlight(): number {
    return this.#inFlight + this.#parked
  }

  /** The outage being retried now that began first, if any: for health. */
  get failing(): PipelineFailing | undefined {
    // Whole requests failing is an outage of everything: not to be read as one index's.
    if (this.#failing) return this.#failing
    // Waited for by a document whose last try failed so, or that has had none yet (its first may be under way).
    const waitedFor = new Set<string>()
    for (const pending of this.#holding.values()) for (const { op, standing } of pending) if (standing === undefined || standing === 'unmade') waitedFor.add(op.index)
    let first: PipelineFailing | undefined
    for (const [index, f] of this.#unmade) {
      // No document waits for it any more (written elsewhere, or dead-lettered): over until one comes again.
      if (!waitedFor.has(index)) { this.#unmade.delete(index); continue }
      if (!first || f.since < first.since) first = f
    }
    return first
  }

  /** The documents held back by their own retriable failures, by cause and index, the longest-waiting first: for health. */
  get waiting(): PipelineWaiting[] {
    const byCause = new Map<string, PipelineWaiting>()
    for (const pending of this.#holding.values()) {
      for (const { op, standing, heldSince, last } of pending) {
        if (standing !== 'held' || !last || heldSince === undefined) continue
        const key = JSON.stringify([last.code, op.index])
        let w = byCause.get(key)
        if (!w) byCause.set(key, (w = { code: last.code, index: op.index, documents: 0, partitions: {}, since: heldSince, error: last.message }))
        w.documents++
        w.since = Math.min(w.since, heldSince)
        if (op.source) { const from = `${op.source.topic}/${op.source.partition}`; w.partitions[from] = (w.partitions[from] ?? 0) + 1 }
      }
    }
    return [...byCause.values()].sort((a, b) => a.since - b.since)
  }

  /**
   * Queues one batch's writes. Waits first while the queue is full, calling `whileWaiting` about every
   * second (a heartbeat, which throws when the group rebalances). Returns false, queuing nothing, when
   * `shouldStop` turns true while it waits: the records stay unresolved and are read again.
   */
  async add(batch: BatchWrites, wait: { shouldStop?: () => boolean; whileWaiting?: () => Promise<void> } = {}): Promise<boolean> {
    this.#throwIfBroken()
    while (this.#queuedBytes + this.#blockedBytes >= this.#maxQueuedBytes) {
      if (this.#stopped || wait.shouldStop?.()) return false
      await this.#changed(1000)
      await wait.whileWaiting?.()
      this.#throwIfBroken()
    }
    const span = this.offsets.open(batch.topic, batch.partition, batch.lastOffset)
    for (const op of batch.ops) this.#place(opBytes(op), span).ops.push(op)
    // Poison is held until the dead-letter topic takes it, which may be long: it counts like documents,
    // or a stream of it (or a dead-letter topic that is down) would never hold `add` back.
    for (const p of batch.poison) this.#place(poisonBytes(p), span).poison.push(p)
    if (this.offsets.settle(span)) this.#o.onDurable?.()
    this.#pump()
    return true
  }

  /**
   * Resolves true when everything added is durable; false after `timeoutMs`, or when stopped with writes
   * still queued (then what is left is not committed); throws what broke the pipeline.
   */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    const deadline = deadlineIn(timeoutMs)
    this.#pump()
    while (this.inFlight > 0 || this.#queue.length > 0 || this.#current.ops.length + this.#current.poison.length > 0) {
      this.#throwIfBroken()
      // Stopped, nothing more is sent: once the requests under way are over, what is queued would be waited for for ever.
      if (this.#stopped && this.inFlight === 0) return false
      const left = deadline.left()
      if (left <= 0) return false
      await this.#changed(Math.min(left, 1000))
      this.#pump()
    }
    this.#throwIfBroken()
    return true
  }

  /** Stops retrying: requests still failing give up, uncommitted, for the next owner to redo. */
  stop(): void {
    this.#stopped = true
    this.#notify()
  }

  /**
   * Stops, and resolves once no request is under way any more: a bulk request in flight may still create
   * or write to its index, so whoever deletes the target indices after a stop waits for this first.
   */
  async stopped(): Promise<void> {
    this.stop()
    await Promise.allSettled([...this.#sending])
  }

  /** The request to put `bytes` more of `span`'s into, counted as queued: the current one, or a new one when it is full. */
  #place(bytes: number, span: Span): Request {
    if (this.#current.ops.length + this.#current.poison.length > 0 && this.#current.bytes + bytes > this.#flushBytes) this.#seal()
    this.#current.bytes += bytes
    this.#queuedBytes += bytes
    this.#attach(span)
    return this.#current
  }

  #attach(span: Span): void {
    if (this.#current.spans.has(span)) return
    this.#current.spans.add(span)
    span.pending++
  }

  #seal(): void {
    this.#queue.push(this.#current)
    this.#current = newRequest()
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency && !this.#stopped) {
      if (this.#queue.length === 0) {
        if (this.#current.ops.length + this.#current.poison.length === 0) return
        this.#seal()
      }
      const request = this.#queue.shift()!
      this.#queuedBytes -= request.bytes
      this.#inFlight++
      const sending = this.#send(request).then((durable) => {
        this.#inFlight--
        let moved = false
        if (durable) for (const span of request.spans) moved = this.offsets.done(span) || moved
        if (moved) this.#o.onDurable?.()
        this.#notify()
        this.#pump()
      }).catch((err: unknown) => this.#break(err))
      this.#sending.add(sending)
      void sending.finally(() => this.#sending.delete(sending))
    }
  }

  #break(err: unknown): void {
    if (this.#broken) return
    this.#broken = { err }
    this.#stopped = true
    this.#notify()
    this.#o.onBroken?.(err)
  }

  #throwIfBroken(): void {
    if (this.#broken) throw this.#broken.err
  }

  /** Writes one request until every item is in Elasticsearch or dead-lettered; false when stopped first. */
  async #send(request: Request): Promise<boolean> {
    const minBackoff = this.#o.minBackoffMs ?? 200
    const maxBackoff = this.#o.maxBackoffMs ?? 10_000
    const poison = request.poison
    let pending: Pending[] = dedupeById(request.ops).map((op) => ({ op, attempts: 0, acceptedAtLastTry: this.#accepted, counted: false }))
    // From here on only the documents still pending are needed: a parked request keeps its few failing
    // ones, not the megabytes Elasticsearch already took.
    request.ops = []
    let retries = 0
    const retryLater = async (isolated: boolean) => {
      const wait = retryDelay(++retries, minBackoff, maxBackoff)
      // Only items of our own are failing while Elasticsearch takes the rest: give the slot to the next
      // request meanwhile, so a few such items cannot hold every slot (and hide that Elasticsearch is fine).
      let held = 0
      let blocked = 0
      if (isolated) for (const p of pending) if (p.last?.code === 'es-blocked') blocked += opBytes(p.op); else held += opBytes(p.op)
      if (isolated) { this.#inFlight--; this.#parked++; this.#parkedBytes += held; this.#blockedBytes += blocked; this.#pump() }
      await this.#changedOrStopped(wait)
      if (isolated) { this.#parked--; this.#parkedBytes -= held; this.#blockedBytes -= blocked; this.#inFlight++ }
    }
    // Read by `waiting` and `failing` from the first round on, and after each round what it left.
    this.#holding.set(request, pending)
    try {
      while (pending.length > 0) {
        if (this.#stopped) return false
        const { send, retry, failed } = await this.#prepare(pending, poison)
        const outage = (send.length > 0 && await this.#bulk(send, retry, poison)) || failed
        const now = this.#elapsed()
        // Only a round whose failure counted decides, by that failure (`last`): a 429, a block or a refusal of
        // the cluster's never does. Parked requests' bytes hold no `add` back (it waiting, no attempt would
        // count, and one failing shard would hold everything): past the queue's bytes, every item whose
        // failure counted goes. Those a block refused are never dead-lettered: their bytes hold `add` back instead.
        const pressed = this.#parkedBytes > this.#maxQueuedBytes
        const spent = (p: Pending) => p.counted && (pressed
          || (p.attempts >= this.#maxItemAttempts && (p.last!.code !== 'es-unavailable' || now - p.countedSince! >= this.#unavailableRetryMs)))
        pending = []
        for (const p of retry) if (spent(p)) poison.push(exhausted(p)); else pending.push(p)
        if (pending.length === 0) break
        // Documents refused at their index show in `waiting` from their first refusal until they are written or
        // dead-lettered; during an outage (which shows in `failing`) they are not refused, and do not show.
        this.#holding.set(request, pending)
        // Poison of this request goes now: its retriable documents may wait as long as their cause lasts.
        if (poison.length > 0) await this.#tryDeadLetter(poison)
        // Its items' own failure, seen once while Elasticsearch took others: it waits parked, also when no other
        // write came in between this time. Holding the slot, such requests could fill every slot, starve all
        // other writes, and so never count an attempt again: a blocked index would hold everything for ever.
        await retryLater(!outage && pending.every((p) => p.counted || p.attempts > 0 || p.blockedAlone === true))
      }
    } finally {
      this.#holding.delete(request)
    }
    retries = 0
    while (poison.length > 0) {
      if (this.#stopped) return false
      if (await this.#tryDeadLetter(poison)) break
      await retryLater(false)
    }
    return true
  }

  /** Dead-letters the poison; false (and the poison kept) while the dead-letter topic is unavailable. */
  async #tryDeadLetter(poison: Poison[]): Promise<boolean> {
    try {
      await this.#deadLetter(poison)
      return true
    } catch (err) {
      this.#log.maybe('dead-letter', (suppressed) => this.#o.logger.warn({ err, count: poison.length, suppressed }, 'dead-letter topic unavailable; retrying'))
      this.#o.onRetry?.('dead-letter', 'kafka-unavailable')
      return false
    }
  }

  /** Makes sure of each target index; an index that cannot exist makes its items poison, a retriable failure makes them wait. */
  async #prepare(pending: Pending[], poison: Poison[]): Promise<{ send: Pending[]; retry: Pending[]; failed: boolean }> {
    if (!this.#o.prepare) return { send: pending, retry: [], failed: false }
    const send: Pending[] = []
    const retry: Pending[] = []
    const byIndex = new Map<string, Pending[]>()
    for (const p of pending) {
      const list = byIndex.get(p.op.index)
      if (list) list.push(p)
      else byIndex.set(p.op.index, [p])
    }
    for (const [index, items] of byIndex) {
      try {
        await this.#o.prepare(new Set([index]))
        this.#unmade.delete(index)
        for (const p of items) if (p.standing !== 'held') p.standing = 'tried'
        send.push(...items)
      } catch (err) {
        const c = classifyRequestError(err)
        if (c.code === 'invalid-target') {
          // A target that cannot exist is one no write can reach: poison for its documents only.
          for (const p of items) poison.push(poisonOf(p.op, c, { index }))
          continue
        }
        this.#o.onRetry?.('prepare', c.code)
        this.#log.maybe(`prepare:${c.code}`, (suppressed) => this.#o.logger.warn({ err, index, reason: c.code, docs: items.length, partitions: partitionsOf(items), suppressed }, 'preparing the target index failed; retrying'))
        // Blamed on the index, like an item error, only while Elasticsearch takes other writes. Refused in so
        // many words (a permission, a cluster limit), the documents are held back at their index (`waiting`);
        // without such an answer (none, a 429 or 5xx), the making of that index is an outage (`failing`) until
        // it is made or refused.
        const response = responseOf(err)
        const refused = response?.error !== undefined && !retriableStatus(response.status)
        for (const p of items) {
          this.#blame(p, c)
          if (refused) this.#hold(p)
          else p.standing = 'unmade'
        }
        if (refused) this.#unmade.delete(index)
        else this.#unmade.set(index, { ...outageOf(this.#unmade.get(index), c, this.#now()), index })
        retry.push(...items)
      }
    }
    return { send, retry, failed: retry.some((p) => !p.counted) }
  }

  /** One bulk attempt for `send`; what must be tried again goes to `retry`, poison to `poison`. True when a whole request failed retriably (an outage). */
  async #bulk(send: Pending[], retry: Pending[], poison: Poison[]): Promise<boolean> {
    const guard = this.#o.guard ?? ((attempt) => attempt())
    const started = performance.now()
    // Only the request is an outage when it fails: a throw while its answer is read is a defect, which breaks
    // the pipeline (until 2026-12-06 it was retried as Elasticsearch unavailable, the accepted documents sent
    // again for ever).
    let answer: { res?: estypes.BulkResponse; refused?: Classified; status?: number | undefined }
    try {
      answer = await guard(async () => {
        try {
          // Only each item's status and error: a tenth of the response to parse, positions kept.
          return { res: await this.#o.es.bulk({ require_alias: this.#o.requireAlias, filter_path: BULK_RESPONSE_FIELDS, operations: send.flatMap((p) => [bulkAction(p.op), p.op.document]) }) }
        } catch (err) {
          // Elasticsearch answered, refusing what the request holds: no failure for the breaker, which would
          // otherwise open on the refusals in a row while `#refused` halves the request, and pause consumption.
          const response = responseOf(err)
          if (!response || !refusedForContent(response)) throw err
          const c = classifyItemError(response.status, response.error)
          if (c.retriable) throw err
          return { refused: c, status: response.status }
        }
      })
    } catch (err) {
      const c = classifyRequestError(err)
      this.#failing = outageOf(this.#failing, c, this.#now())
      this.#o.onRetry?.(c.code === 'breaker-open' ? 'breaker-open' : 'request', c.code)
      this.#log.maybe(`request:${c.code}`, (suppressed) => this.#o.logger.warn({ err, reason: c.code, docs: send.length, partitions: partitionsOf(send), failingSince: new Date(this.#failing!.since).toISOString(), attempts: this.#failing!.attempts, suppressed }, 'elasticsearch bulk request failed; retrying'))
      // An outage is not the items' fault: it does not count towards their attempts.
      for (const p of send) { p.acceptedAtLastTry = this.#accepted; p.counted = false; p.standing = 'tried' }
      retry.push(...send)
      return true
    }
    // Answered either way: whole requests go through again.
    this.#recovered()
    if (answer.refused) return await this.#refused(send, retry, poison, answer.refused, answer.status)
    const res = answer.res!
    let accepted = send.length
    const failed: Pending[] = []
    if (res.errors) res.items.forEach((item, i) => {
      const r = item.index as estypes.BulkResponseItem
      if (!r.error || r.status === 409) return
      accepted--
      const p = send[i]!
      const c = classifyItemError(r.status, r.error)
      p.last = c
      if (!c.retriable) {
        poison.push(poisonOf(p.op, c, { index: p.op.index, status: r.status }))
        return
      }
      if (c.code === 'alias-missing') this.#o.forget?.(p.op.index)
      failed.push(p)
    })
    this.#accepted += accepted
    this.#o.onIndexed?.(accepted, performance.now() - started)
    for (const p of failed) {
      this.#blame(p, p.last!)
      this.#hold(p)
      this.#o.onRetry?.('item', p.last!.code)
      this.#log.maybe(`item:${p.last!.code}`, (suppressed) => this.#o.logger.warn({ reason: p.last!.code, type: p.last!.type, error: p.last!.message, index: p.op.index, id: p.op.id, ...recordOf(p.op), attempts: p.attempts, maxAttempts: this.#maxItemAttempts, suppressed }, 'elasticsearch refused a document for a retriable reason; retrying'))
      retry.push(p)
    }
    return false
  }

  /**
   * A whole request refused for what it holds (an item that fails validation, a body over
   * `http.max_content_length`): no retry of it can succeed, and it is no outage. Sent in halves, each on its
   * own, until the refused item is alone: that one is poison, every other document is written.
   */
  async #refused(send: Pending[], retry: Pending[], poison: Poison[], c: Classified, status: number | undefined): Promise<boolean> {
    if (send.length === 1) {
      const p = send[0]!
      poison.push(poisonOf(p.op, c, { index: p.op.index, status }))
      return false
    }
    this.#log.maybe(`refused:${c.code}`, (suppressed) => this.#o.logger.warn({ reason: c.code, type: c.type, error: c.message, status, docs: send.length, suppressed }, 'elasticsearch refused a whole bulk request for what it holds; sending it in halves to find the documents it refuses'))
    const half = Math.ceil(send.length / 2)
    const first = await this.#bulk(send.slice(0, half), retry, poison)
    const second = await this.#bulk(send.slice(half), retry, poison)
    return first || second
  }

  /**
   * A retriable failure of one item: it counts towards the item's attempts only when Elasticsearch took
   * something else since the item's last try (the failure is the item's own, not an outage), and never for
   * a 429 (which items a busy node rejects is chance, not the document) nor a refusal of the cluster's
   * (a permission or a limit the operator must fix: the records wait, they are not dead-lettered wholesale),
   * nor a block or a closed index (a flood stage, a write block: an outage of that index the operator lifts;
   * until 2026-12-06 it counted, and one blocked month among working ones was dead-lettered after its ten
   * attempts, to be replayed by hand), nor a write alias missing (`prepare` makes it again; one it cannot
   * make, say a hand-deleted alias whose index is still there, is the operator's to fix too).
   */
  #blame(p: Pending, c: Classified): void {
    p.last = c
    const own = this.#accepted > p.acceptedAtLastTry
    if (own && c.code === 'es-blocked') p.blockedAlone = true
    p.counted = own && !UNCOUNTED.has(c.code)
    if (p.counted) { p.attempts++; p.countedSince ??= this.#elapsed() }
    p.acceptedAtLastTry = this.#accepted
  }

  /** Held back at its index (`waiting`), from its first refusal on, until an outage (or its write) ends it. */
  #hold(p: Pending): void {
    p.standing = 'held'
    p.heldSince ??= this.#now()
  }

  #recovered(): void {
    if (!this.#failing) return
    this.#o.logger.info({ reason: this.#failing.code, attempts: this.#failing.attempts, seconds: Math.round((this.#now() - this.#failing.since) / 1000) }, 'elasticsearch answers again')
    this.#failing = undefined
  }

  async #deadLetter(poison: Poison[]): Promise<void> {
    const at = new Date(this.#now()).toISOString()
    const letters = poison.map((p) => letterOf(p, at))
    try {
      await this.#o.deadLetter(letters)
    } catch (err) {
      // A letter Kafka will never take (too large): send the others, and that one without the full record.
      // Only the broker's refusal of the records says so: kafkajs gives up on an outage with a
      // non-retriable error too, and a letter cut down for an outage would lose its replay for nothing.
      if (recordRefusal(err) === undefined || letters.length === 0) throw err
      let sent = 0
      try {
        for (const letter of letters) {
          await this.#o.deadLetter([letter]).catch(async (e: unknown) => {
            if (recordRefusal(e) === undefined) throw e
            await this.#o.deadLetter([truncated(letter)])
          })
          sent++
        }
      } finally {
        // Those sent are not sent again when the rest is retried.
        poison.splice(0, sent)
      }
    }
    const byReason: Record<string, number> = {}
    for (const l of letters) byReason[l.envelope.reason] = (byReason[l.envelope.reason] ?? 0) + 1
    for (const [reason, count] of Object.entries(byReason)) {
      this.#log.maybe(`dead-letter:${reason}`, (suppressed) => this.#o.logger.warn({ reason, count, suppressed, example: letters.find((l) => l.envelope.reason === reason)!.envelope.origin }, 'records the indexer can never write: dead-lettered'))
    }
    poison.length = 0
  }

  /** Waits until a request finishes (or `ms` passes). */
  #changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#waiters
      const timer = setTimeout(done, ms)
      // A wait that times out leaves the set: through a long outage nothing notifies, and the set would grow.
      function done() { clearTimeout(timer); waiters.delete(done); resolve() }
      waiters.add(done)
    })
  }

  /** A back-off wait that `stop` cuts short. */
  async #changedOrStopped(ms: number): Promise<void> {
    const until = deadlineIn(ms)
    // Whole milliseconds: a fraction left of the wait made Node warn of a negative timeout on stderr.
    while (!this.#stopped && !until.passed()) await this.#changed(Math.max(1, Math.ceil(until.left())))
  }

  #notify(): void {
    const waiters = this.#waiters
    this.#waiters = new Set()
    for (const w of waiters) w()
  }
}

/** Where a document's record is, for a log line about that document. */
const recordOf = (op: IndexOperation): { topic?: string; partition?: number; offset?: string } =>
  op.source ? { topic: op.source.topic, partition: op.source.partition, offset: op.source.offset } : {}

/** `failing` one attempt on: the outage's start kept, its latest cause shown. */
function outageOf(failing: PipelineFailing | undefined, c: Classified, now: number): PipelineFailing {
  return { code: c.code, since: failing?.since ?? now, attempts: (failing?.attempts ?? 0) + 1, error: c.message }
}

/** The partitions (`topic/partition`) of a request's documents, for a log line about the request: which ones wait. */
function partitionsOf(items: readonly Pending[]): string[] {
  const out = new Set<string>()
  for (const p of items) if (p.op.source) out.add(`${p.op.source.topic}/${p.op.source.partition}`)
  return [...out]
}

function poisonOf(op: IndexOperation, c: Classified, detail: Record<string, unknown>): Poison {
  return { code: c.code, error: c.message, source: op.source ?? { topic: 'unknown', partition: -1, offset: '-1', key: null, value: op.document }, detail: { ...detail, type: c.type, id: op.id } }
}

/** What a poison record holds in memory until it is dead-lettered: the record's key and value, and its letter. */
function poisonBytes(p: Poison): number {
  return (p.source.value?.length ?? 0) + (p.source.key?.length ?? 0) + p.error.length + LETTER_BYTES
}

/** What a document counts for in the queue's bound. */
const opBytes = (op: IndexOperation): number => op.document.length + op.id.length + op.index.length + ACTION_BYTES

function exhausted(p: Pending): Poison {
  const last = p.last!
  return poisonOf(p.op, { code: 'retries-exhausted', retriable: false, type: last.type, message: `${INDEXER_FAILURES['retries-exhausted'].what}: ${last.message}` }, { index: p.op.index, attempts: p.attempts, lastReason: last.code })
}

/** The envelope of one poison record: where it was read, why, and the record itself, to put back after a fix. */
export function letterOf(p: Poison, at: string): DeadLetterItem {
  const s = p.source
  return {
    key: `${s.topic}/${s.partition}/${s.offset}`,
    envelope: {
      stage: 'indexer', reason: p.code, error: p.error, at,
      origin: { topic: s.topic, partition: s.partition, offset: s.offset },
      ...(p.detail ? { detail: p.detail } : {}),
      replay: recordReplay(s.topic, s),
    },
  }
}

function truncated(letter: DeadLetterItem): DeadLetterItem {
  const { replay, ...rest } = letter.envelope
  const value = replay?.kind === 'record' ? replay.value ?? '' : ''
  // Head and length of the value as the letter carried it: base64 text for bytes that are not UTF-8.
  const valueEncoding = replay?.kind === 'record' ? replayValueEncoding(replay) : undefined
  const encoded = valueEncoding ? { valueEncoding } : {}
  return { key: letter.key, envelope: { ...rest, detail: { ...rest.detail, replayDropped: 'the record is too large for the dead-letter topic', valueHead: value.slice(0, TRUNCATED_VALUE_CHARS), valueLength: value.length, ...encoded } } }
}

/**
 * Whether Elasticsearch itself refused a request for what it holds: its error body says why, or the body
 * was over `http.max_content_length` (413). A 4xx without an Elasticsearch error (a proxy's 404 for a wrong
 * URL, say) says nothing about the documents: the request waits as in an outage instead of being halved
 * until every document in it is dead-lettered.
 */
function refusedForContent(response: ErrorResponse): boolean {
  return response.status === 413 || response.error !== undefined
}

/** One request must not carry two writes of one id: the highest version wins. */
function dedupeById(ops: IndexOperation[]): IndexOperation[] {
  const byId = new Map<string, IndexOperation>()
  for (const op of ops) {
    const prev = byId.get(op.id)
    if (!prev || (op.version ?? 0) >= (prev.version ?? 0)) byId.set(op.id, op)
  }
  return [...byId.values()]
}
