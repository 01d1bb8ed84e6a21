import type { Client, estypes } from '@elastic/elasticsearch'
import type { Logger } from 'pino'
import { bulkAction, type IndexOperation } from './documents.ts'
import { DurableOffsets, type Span } from './durable-offsets.ts'

export interface DeadLetterRecord {
  key: string
  value: string
}

export type DeadLetter = (records: DeadLetterRecord[]) => Promise<void>

/** Retry a per-item failure when it is load or outage, not when the document itself is wrong. */
export function isRetriableItem(status: number, type: string | undefined): boolean {
  return status === 429 || status >= 500 || type === 'cluster_block_exception'
}

/** What one consumed batch of one partition brings: its writes and the records that cannot become one. */
export interface BatchWrites {
  topic: string
  partition: number
  lastOffset: string
  ops: IndexOperation[]
  poison: DeadLetterRecord[]
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
  /** Back-off bounds while Elasticsearch refuses; the documents wait, nothing is skipped. */
  minBackoffMs?: number
  maxBackoffMs?: number
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
  onRetry?: (reason: 'item' | 'request' | 'breaker-open' | 'dead-letter') => void
  /** A partition's durable offset moved: there is something to commit. */
  onDurable?: () => void
}

interface Request {
  ops: IndexOperation[]
  poison: DeadLetterRecord[]
  bytes: number
  spans: Set<Span>
}

const BULK_RESPONSE_FIELDS = ['errors', 'items.*.status', 'items.*.error']

const newRequest = (): Request => ({ ops: [], poison: [], bytes: 0, spans: new Set() })
// The action line and separators a document adds to a bulk body, roughly.
const ACTION_BYTES = 96

/**
 * Bulk-writes documents to Elasticsearch while the consumer fetches the next records. Batches are cut into
 * requests of up to `flushBytes`; up to `concurrency` requests are in flight, and a partly filled request
 * goes as soon as a slot is free, so at low load a document waits for no timer and at high load requests
 * fill up. `add` waits while too much is queued, which holds the fetch loop back: memory stays bounded.
 *
 * A request is done when Elasticsearch accepted every item (a version conflict means a newer version is
 * there: done too) and the rejected ones are on the dead-letter topic. Retriable item failures (429, 5xx,
 * a flood-stage block) and failed requests are retried with back-off, the rest dead-lettered. Only then do
 * its records count as durable in `offsets`, which is what the consumer commits.
 */
export class BulkPipeline {
  readonly offsets = new DurableOffsets()
  readonly #o: BulkPipelineOptions
  readonly #flushBytes: number
  readonly #concurrency: number
  readonly #maxQueuedBytes: number
  readonly #queue: Request[] = []
  #current = newRequest()
  #queuedBytes = 0
  #inFlight = 0
  #stopped = false
  #waiters: (() => void)[] = []

  constructor(opts: BulkPipelineOptions) {
    this.#o = opts
    this.#flushBytes = opts.flushBytes ?? 5 * 1024 * 1024
    this.#concurrency = opts.concurrency ?? 3
    this.#maxQueuedBytes = opts.maxQueuedBytes ?? this.#flushBytes * this.#concurrency
  }

  /** Bytes queued and not yet sent. */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  get inFlight(): number {
    return this.#inFlight
  }

  /**
   * Queues one batch's writes. Waits first while the queue is full, calling `whileWaiting` about every
   * second (a heartbeat, which throws when the group rebalances). Returns false, queuing nothing, when
   * `shouldStop` turns true while it waits: the records stay unresolved and are read again.
   */
  async add(batch: BatchWrites, wait: { shouldStop?: () => boolean; whileWaiting?: () => Promise<void> } = {}): Promise<boolean> {
    while (this.#queuedBytes >= this.#maxQueuedBytes) {
      if (this.#stopped || wait.shouldStop?.()) return false
      await this.#changed(1000)
      await wait.whileWaiting?.()
    }
    const span = this.offsets.open(batch.topic, batch.partition, batch.lastOffset)
    for (const op of batch.ops) {
      const bytes = op.document.length + op.id.length + op.index.length + ACTION_BYTES
      if (this.#current.ops.length > 0 && this.#current.bytes + bytes > this.#flushBytes) this.#seal()
      this.#current.ops.push(op)
      this.#current.bytes += bytes
      this.#queuedBytes += bytes
      this.#attach(span)
    }
    if (batch.poison.length > 0) {
      this.#current.poison.push(...batch.poison)
      this.#attach(span)
    }
    if (this.offsets.settle(span)) this.#o.onDurable?.()
    this.#pump()
    return true
  }

  /** Resolves when everything added is durable, or after `timeoutMs` (then what is left is not committed). */
  async drain(timeoutMs = Infinity): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    this.#pump()
    while (this.#inFlight > 0 || this.#queue.length > 0 || this.#current.ops.length + this.#current.poison.length > 0) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await this.#changed(Math.min(left, 1000))
      this.#pump()
    }
    return true
  }

  /** Stops retrying: requests still failing give up, uncommitted, for the next owner to redo. */
  stop(): void {
    this.#stopped = true
    this.#notify()
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
      void this.#send(request).then((durable) => {
        this.#inFlight--
        let moved = false
        if (durable) for (const span of request.spans) moved = this.offsets.done(span) || moved
        if (moved) this.#o.onDurable?.()
        this.#notify()
        this.#pump()
      })
    }
  }

  /** Writes one request until every item is done; false when stopped first. */
  async #send(request: Request): Promise<boolean> {
    const minBackoff = this.#o.minBackoffMs ?? 200
    const maxBackoff = this.#o.maxBackoffMs ?? 10_000
    const guard = this.#o.guard ?? ((attempt) => attempt())
    const poison = request.poison
    let pending = dedupeById(request.ops)
    let backoff = minBackoff
    const retryLater = async () => {
      await sleep(backoff)
      backoff = Math.min(maxBackoff, backoff * 2)
    }
    while (pending.length > 0) {
      if (this.#stopped) return false
      const started = performance.now()
      const retry: IndexOperation[] = []
      let rejected = 0
      try {
        await this.#o.prepare?.(new Set(pending.map((op) => op.index)))
        // Only each item's status and error: a tenth of the response to parse, positions kept.
        const res = await guard(() => this.#o.es.bulk({ require_alias: this.#o.requireAlias, filter_path: BULK_RESPONSE_FIELDS, operations: pending.flatMap((op) => [bulkAction(op), op.document]) }))
        if (res.errors) res.items.forEach((item, i) => {
          const r = item.index as estypes.BulkResponseItem
          if (!r.error || r.status === 409) return
          const op = pending[i]!
          if (r.error.type === 'index_not_found_exception') {
            this.#o.forget?.(op.index)
            retry.push(op)
          } else if (isRetriableItem(r.status, r.error.type)) {
            retry.push(op)
          } else {
            rejected++
            poison.push({ key: op.id, value: JSON.stringify({ reason: r.error.type, error: r.error.reason, status: r.status, index: op.index, document: JSON.parse(op.document) as unknown }) })
          }
        })
        this.#o.onIndexed?.(pending.length - retry.length - rejected, performance.now() - started)
        if (retry.length > 0) this.#o.onRetry?.('item')
      } catch (err) {
        this.#o.logger.warn({ err, docs: pending.length, backoffMs: backoff }, 'elasticsearch bulk request failed; retrying')
        this.#o.onRetry?.((err as Error).name === 'OpenCircuitError' ? 'breaker-open' : 'request')
        retry.push(...pending)
      }
      pending = retry
      if (pending.length > 0) await retryLater()
    }
    while (poison.length > 0) {
      if (this.#stopped) return false
      try {
        await this.#o.deadLetter(poison)
        this.#o.logger.warn({ count: poison.length }, 'documents rejected by elasticsearch or unparseable: dead-lettered')
        break
      } catch (err) {
        this.#o.logger.warn({ err, count: poison.length }, 'dead-letter topic unavailable; retrying')
        this.#o.onRetry?.('dead-letter')
        await retryLater()
      }
    }
    return true
  }

  /** Waits until a request finishes (or `ms` passes). */
  #changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() { clearTimeout(timer); resolve() }
      this.#waiters.push(done)
    })
  }

  #notify(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One request must not carry two writes of one id: the highest version wins. */
function dedupeById(ops: IndexOperation[]): IndexOperation[] {
  const byId = new Map<string, IndexOperation>()
  for (const op of ops) {
    const prev = byId.get(op.id)
    if (!prev || (op.version ?? 0) >= (prev.version ?? 0)) byId.set(op.id, op)
  }
  return [...byId.values()]
}
