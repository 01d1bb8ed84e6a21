import CircuitBreaker from 'opossum'
import type { Message, Producer, TopicMessages } from 'kafkajs'
import type { Logger } from 'pino'
import { backoffMs, sleepUnlessAborted } from '@opsreview/lifecycle/backoff'
import { connectProducer, type ConnectRetry } from './connection.ts'
import { kafkaCauses, KafkaRecordRejectedError, KafkaUnavailableError, recordRefusal } from './errors.ts'
import { endedWithin } from './within-ms.ts'

/**
 * Kafka's default `max.message.bytes` (topic) and `message.max.bytes` (broker) is 1 MiB + 12 bytes, and
 * it limits a partition's whole record batch. 1 KiB less than 1 MiB leaves room for the batch header.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 - 1024

// A record batch's header is 61 bytes; a record's own length, attributes, timestamp and offset deltas,
// key and value lengths and header count are varints of at most 36 bytes together. Rounded up.
const RECORD_OVERHEAD_BYTES = 100
// Each header's key and value lengths are varints of at most 5 bytes each.
const HEADER_OVERHEAD_BYTES = 10

/** An upper bound of the bytes a message takes in a single-record batch on the broker. */
export function estimateMessageBytes(message: Message): number {
  let bytes = RECORD_OVERHEAD_BYTES + byteLength(message.key) + byteLength(message.value)
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) bytes += HEADER_OVERHEAD_BYTES + Buffer.byteLength(name) + byteLength(item)
  }
  return bytes
}

function byteLength(v: Buffer | string | null | undefined): number {
  if (v === null || v === undefined) return 0
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length
}

/**
 * The messages cut into produce requests of at most `maxBytes` estimated bytes each, in order, so that no
 * partition's record batch passes a topic's `max.message.bytes` (1 MiB by default) because many messages
 * went in one request. A message larger than `maxBytes` goes in a request of its own.
 */
export function requestsOf(topicMessages: readonly TopicMessages[], maxBytes = DEFAULT_MAX_MESSAGE_BYTES): TopicMessages[][] {
  const requests: TopicMessages[][] = []
  let current: TopicMessages[] = []
  let bytes = 0
  for (const { topic, messages } of topicMessages) {
    let list: Message[] | undefined
    for (const m of messages) {
      const size = estimateMessageBytes(m)
      if (bytes > 0 && bytes + size > maxBytes) {
        requests.push(current)
        current = []
        bytes = 0
        list = undefined
      }
      if (!list) { list = []; current.push({ topic, messages: list }) }
      list.push(m)
      bytes += size
    }
  }
  if (current.length > 0) requests.push(current)
  return requests
}

export interface PublisherOptions {
  /**
   * The producer to send with; the caller connects and disconnects it. Prefer `createProducer` for an
   * idempotent producer: see there.
   */
  producer?: Producer
  /**
   * Makes the producer; the publisher then owns it: `connect()` connects it, `close()` disconnects it.
   * When the broker refuses a record in a request spanning several partitions, it still appends the other
   * partitions' records, but kafkajs rolls back the sequence numbers of all of them; an idempotent
   * producer then fails every later send to those partitions with OUT_OF_ORDER_SEQUENCE_NUMBER, for good.
   * With a factory the publisher replaces the producer after such a refusal, before it resends the rest.
   */
  createProducer?: () => Producer
  logger: Logger
  /**
   * How long a request waits for others to join its batch (kafkajs has no linger of its own). 0, the
   * default, sends on the next tick: under load the batch still fills while the previous one is in
   * flight, so waiting longer only adds latency.
   */
  lingerMs?: number
  /** A batch is sent at once when it holds this many messages. */
  maxBatchMessages?: number
  /**
   * Messages waiting to be sent beyond which a call fails at once with KafkaUnavailableError (50,000, tens
   * of MB): Kafka is up but slower than the input. A call into an empty queue is always taken.
   */
  maxQueuedMessages?: number
  /**
   * A message whose estimated size (key, value, headers and record overhead) is over this is refused
   * before sending. Default 1 MiB − 1 KiB, just under Kafka's default limit.
   */
  maxMessageBytes?: number
  /**
   * A batch holds at most this many estimated bytes. Kafka limits each partition's record batch, and one
   * partition may get every message of a batch (they share a key), so the default is `maxMessageBytes`.
   */
  maxBatchBytes?: number
  /** A send slower than this counts as a failure, and the caller gets an error instead of a hang. */
  sendTimeoutMs?: number
  /**
   * For messages whose order on a partition matters (the review's decisions: the later one must win). A send
   * that failed before it ended (timed out) goes on inside kafkajs, on the replaced producer, until its
   * bounded retries run out, and can land then, after a later send: the decision its caller was told had
   * failed would be applied last. Keeping order, nothing is sent after such a send until it has ended or
   * `abandonAfterMs` has passed; meanwhile calls, and what was queued, fail at once with
   * KafkaUnavailableError (a 503: the caller decides again) and the publisher is not ready.
   */
  keepOrder?: boolean
  /** How long keeping order waits for a timed-out send that never ends (retries not bounded). Default 10 min. */
  abandonAfterMs?: number
  /** How long the breaker stays open before it lets one send through to test Kafka. */
  resetTimeoutMs?: number
  /** Called after each send, for metrics. */
  onBatch?: (info: { messages: number; durationMs: number; ok: boolean }) => void
  /** Called for each message Kafka will never take (too large, invalid), for metrics. */
  onRefused?: (info: { topic: string; bytes: number; reason: string }) => void
  /**
   * How the replacement producer's reconnect loop waits out a back-off; it resolves early, without
   * throwing, once `ends` aborts. Tests put it on fake time; by default node:timers/promises, unref'd.
   */
  reconnectSleep?: (ms: number, ends: AbortSignal) => Promise<void>
}

/**
 * The messages of a refused request that Kafka acknowledged all the same: those of the partitions it did not
 * refuse, and of the other brokers' requests (`acceptedMessages`, set by .patches/kafkajs on the protocol
 * error, which kafkajs wraps as `cause`); undefined when the error does not say.
 */
function acceptedMessagesOf(err: unknown): ReadonlySet<Message> | undefined {
  for (const e of kafkaCauses(err)) {
    const accepted = (e as { acceptedMessages?: unknown }).acceptedMessages
    if (Array.isArray(accepted)) return new Set(accepted as Message[])
  }
  return undefined
}

function behindTimedOutError(): KafkaUnavailableError {
  return new KafkaUnavailableError('a send that timed out has not ended yet inside kafkajs: nothing is sent after it until it has, so that it cannot land after a later send')
}

const reconnectSleep = (ms: number, ends: AbortSignal): Promise<void> => sleepUnlessAborted(ms, ends, { ref: false })

/**
 * What became of one message of `publishEach`: undefined once Kafka acknowledged it, else why not —
 * KafkaRecordRejectedError (Kafka will never take it) or KafkaUnavailableError (retry).
 */
export type PublishOutcome = KafkaRecordRejectedError | KafkaUnavailableError | undefined

interface Pending {
  topic: string
  messages: Message[]
  sizes: number[]
  /** Indexes of the messages to send, in order; `next` is the first not yet in a batch. */
  toSend: number[]
  next: number
  /** Messages not yet acknowledged, refused or abandoned. */
  outstanding: number
  refused: { index: number; bytes: number; reason: string }[]
  /** The broker's answer to the first refused message, if the broker refused it. */
  refusedCause: unknown
  failed: KafkaUnavailableError | undefined
  /** Per message, for `publishEach`; undefined for `publish`, which answers for all of them at once. */
  outcomes: PublishOutcome[] | undefined
  /** Called once, when `outstanding` reaches 0. */
  done: (p: Pending) => void
}

interface Entry {
  pending: Pending
  index: number
  bytes: number
}

export type BreakerState = 'closed' | 'open' | 'half-open'

// Between attempts to connect a replacement producer while Kafka is down: doubling, as connectProducer's.
const RECONNECT_INITIAL_DELAY_MS = 250
const RECONNECT_MAX_DELAY_MS = 5000

/** The breaker refused without sending (open, its half-open trial taken, shut down): no producer state changed. */
function breakerRefusedFast(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'EOPENBREAKER' || code === 'ESEMLOCKED' || code === 'ESHUTDOWN'
}

/**
 * Publishes messages with acks=all, micro-batching concurrent callers into one produce request so that
 * each webhook does not pay its own round trip. A promise resolves only after Kafka acknowledged its
 * messages. One batch is in flight at a time, which keeps the idempotent producer's order; the next
 * batch fills meanwhile. An opossum breaker fails callers fast while Kafka is unreachable.
 *
 * A message Kafka will never take fails only its own caller, with KafkaRecordRejectedError: one over
 * `maxMessageBytes` is never sent; when the broker refuses a batch for its records, the batch is split in
 * halves and resent until the refused messages stand alone. The caller's other messages are still sent.
 * Refusals do not count against the breaker, which is about Kafka being unavailable.
 */
export class BatchPublisher {
  readonly #createProducer: (() => Producer) | undefined
  readonly #logger: Logger
  readonly #lingerMs: number
  readonly #maxBatchMessages: number
  readonly #maxQueuedMessages: number
  readonly #maxMessageBytes: number
  readonly #maxBatchBytes: number
  readonly #onBatch: PublisherOptions['onBatch']
  readonly #onRefused: PublisherOptions['onRefused']
  readonly #reconnectSleep: (ms: number, ends: AbortSignal) => Promise<void>
  readonly #keepOrder: boolean
  readonly #abandonAfterMs: number
  readonly #breaker: CircuitBreaker<[TopicMessages[]], unknown>
  #producer: Producer
  #detach: (() => void) | undefined
  #needsConnect = false
  #queue: Pending[] = []
  #queuedMessages = 0
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined
  #flushing: Promise<void> | undefined
  #connected = false
  #warnedCannotRenew = false
  /** The running connect attempt of the current producer, which a send and the reconnect loop share. */
  #connecting: Promise<void> | undefined
  #reconnecting: Promise<void> | undefined
  /** Ends the current producer's reconnect loop, waiting or not: its producer was replaced, or the publisher closed. */
  #reconnectEnds: AbortController | undefined
  #closed = false
  /** The last send handed to kafkajs, which may outlive the breaker's timeout, and whether it has ended. */
  #attempt: { promise: Promise<unknown>; ended: boolean } | undefined
  /** Keeping order, the wait for a timed-out send that has not ended yet: while it runs, nothing may go after it. */
  #holding: Promise<void> | undefined
  /** Ends a wait for a timed-out send when the publisher closes. */
  readonly #closing = new AbortController()

  constructor(opts: PublisherOptions) {
    if (!opts.producer === !opts.createProducer) throw new TypeError('BatchPublisher needs exactly one of producer and createProducer')
    this.#createProducer = opts.createProducer
    this.#logger = opts.logger
    this.#lingerMs = opts.lingerMs ?? 0
    this.#maxBatchMessages = opts.maxBatchMessages ?? 2000
    this.#maxQueuedMessages = opts.maxQueuedMessages ?? 50_000
    this.#maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.#maxBatchBytes = opts.maxBatchBytes ?? this.#maxMessageBytes
    this.#onBatch = opts.onBatch
    this.#onRefused = opts.onRefused
    this.#reconnectSleep = opts.reconnectSleep ?? reconnectSleep
    this.#keepOrder = opts.keepOrder ?? false
    this.#abandonAfterMs = opts.abandonAfterMs ?? 600_000
    this.#producer = opts.producer ?? this.#newProducer()
    this.#watch(this.#producer)
    this.#breaker = new CircuitBreaker((topicMessages: TopicMessages[]) => this.#sendBatch(topicMessages), {
      timeout: opts.sendTimeoutMs ?? 5000,
      resetTimeout: opts.resetTimeoutMs ?? 5000,
      errorThresholdPercentage: 50,
      volumeThreshold: 2,
      // Long enough to hold several failed sends, so a few consecutive failures open it.
      rollingCountTimeout: 30_000,
      // The broker answered: Kafka is available, it just will not take these records.
      errorFilter: (err: unknown) => recordRefusal(err) !== undefined,
    })
    this.#breaker.on('open', () => this.#logger.warn({ breaker: 'open' }, 'kafka breaker opened: publishing fails fast'))
    this.#breaker.on('halfOpen', () => this.#logger.info({ breaker: 'half-open' }, 'kafka breaker half-open: trying one send'))
    this.#breaker.on('close', () => this.#logger.info({ breaker: 'closed' }, 'kafka breaker closed: publishing resumed'))
  }

  get breakerState(): BreakerState {
    return this.#breaker.opened ? 'open' : this.#breaker.halfOpen ? 'half-open' : 'closed'
  }

  /** Ready to accept: connected and the breaker is not open. */
  get ready(): boolean {
    return this.#connected && !this.#breaker.opened && this.#holding === undefined
  }

  get queuedMessages(): number {
    return this.#queuedMessages
  }

  /**
   * Connects the producer made by `createProducer` (a given `producer` is the caller's to connect), retrying
   * as `connectProducer` does; a caller with a retry loop of its own passes `{ timeoutMs: 0 }`.
   */
  async connect(retry: ConnectRetry = {}): Promise<void> {
    if (!this.#createProducer) return
    const producer = this.#producer
    await connectProducer({ connect: () => this.#connectOnce(producer), disconnect: () => producer.disconnect() }, {
      onRetry: (err, attempt) => this.#logger.warn({ err, attempt }, 'kafka producer could not connect yet; retrying'),
      ...retry,
    })
  }

  /**
   * Resolves once Kafka acknowledged every message. Rejects with KafkaRecordRejectedError when Kafka will
   * never take one or more of them (the others were still sent and acknowledged), with
   * KafkaUnavailableError when Kafka did not acknowledge (some may have been written: retry).
   */
  publish(topic: string, messages: Message[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve()
    const unavailable = this.#unavailableFor(messages.length)
    if (unavailable) return Promise.reject(unavailable)
    return new Promise<void>((resolve, reject) => {
      this.#enqueue(topic, messages, undefined, (p) => {
        if (p.failed) return reject(p.failed)
        if (p.refused.length === 0) return resolve()
        const shown = p.refused.slice(0, 3).map((r) => `message ${r.index} (${r.bytes} bytes): ${r.reason}`).join('; ')
        const more = p.refused.length > 3 ? `; and ${p.refused.length - 3} more` : ''
        reject(new KafkaRecordRejectedError(
          `Kafka will not take ${p.refused.length} of ${p.messages.length} message(s) to ${topic}: ${shown}${more}`,
          { cause: p.refusedCause, refused: p.refused.map(({ index, reason }) => ({ index, reason })).sort((a, b) => a.index - b.index) },
        ))
      })
    })
  }

  /**
   * The same guarantees as `publish`, answered per message: resolves (never rejects) once every message
   * is acknowledged, refused or failed, with one outcome per message in order. One call for a whole
   * webhook's events costs one entry in the queue instead of one per event, and a refusal or failure
   * still names the very messages it concerns. Messages acknowledged before a failure stay acknowledged.
   */
  publishEach(topic: string, messages: Message[]): Promise<PublishOutcome[]> {
    if (messages.length === 0) return Promise.resolve([])
    const unavailable = this.#unavailableFor(messages.length)
    if (unavailable) return Promise.resolve(messages.map(() => unavailable))
    return new Promise<PublishOutcome[]>((resolve) => {
      this.#enqueue(topic, messages, new Array<PublishOutcome>(messages.length).fill(undefined), (p) => resolve(p.outcomes!))
    })
  }

  /**
   * Fails a call fast while Kafka is unavailable (the breaker is open) or slower than the input (the queue
   * is full): callers answer 503 and senders retry, instead of the queue holding ever more webhooks' events
   * in memory while Kafka takes a few seconds per batch.
   */
  #unavailableFor(count: number): KafkaUnavailableError | undefined {
    if (this.#breaker.opened) return new KafkaUnavailableError('Kafka is unavailable (circuit open)')
    if (this.#holding) return behindTimedOutError()
    if (this.#queuedMessages > 0 && this.#queuedMessages + count > this.#maxQueuedMessages) {
      return new KafkaUnavailableError(`Kafka is slower than the input: ${this.#queuedMessages} messages wait to be sent`)
    }
    return undefined
  }

  #enqueue(topic: string, messages: Message[], outcomes: PublishOutcome[] | undefined, done: (p: Pending) => void): void {
    const sizes = messages.map(estimateMessageBytes)
    const p: Pending = { topic, messages, sizes, toSend: [], next: 0, outstanding: messages.length, refused: [], refusedCause: undefined, failed: undefined, outcomes, done }
    for (let index = 0; index < sizes.length; index++) if (sizes[index]! <= this.#maxMessageBytes) p.toSend.push(index)
    if (p.toSend.length < messages.length) {
      const over = sizes.flatMap((bytes, index) => (bytes > this.#maxMessageBytes ? [index] : []))
      this.#logger.warn({ topic, messages: over.length, bytes: over.reduce((max, i) => Math.max(max, sizes[i]!), 0), maxMessageBytes: this.#maxMessageBytes }, 'message over the size limit refused before sending')
      for (const index of over) this.#refuse(p, index, `larger than the ${this.#maxMessageBytes}-byte limit`)
      // Settled once for all, so that the caller's promise settles after the last of them.
      this.#settle(p, over.length)
    }
    if (p.toSend.length === 0) return
    this.#queue.push(p)
    this.#queuedMessages += p.toSend.length
    this.#schedule()
  }

  #schedule(): void {
    if (this.#flushing) return
    if (this.#queuedMessages >= this.#maxBatchMessages) {
      this.#startFlush()
    } else if (!this.#timer) {
      this.#timer = this.#lingerMs > 0 ? setTimeout(() => this.#startFlush(), this.#lingerMs) : setImmediate(() => this.#startFlush())
    }
  }

  #startFlush(): void {
    if (this.#timer) { clearTimeout(this.#timer as NodeJS.Timeout); clearImmediate(this.#timer as NodeJS.Immediate); this.#timer = undefined }
    if (this.#flushing) return
    this.#flushing = this.#drain().finally(() => {
      this.#flushing = undefined
      if (this.#queue.length > 0) this.#schedule()
    })
  }

  async #drain(): Promise<void> {
    for (let batch = this.#take(); batch.length > 0; batch = this.#take()) await this.#send(batch)
  }

  /** The next batch in queue order, within the message and byte limits; may end inside a caller's messages. */
  #take(): Entry[] {
    const batch: Entry[] = []
    let bytes = 0
    while (this.#queue.length > 0 && batch.length < this.#maxBatchMessages) {
      const p = this.#queue[0]!
      if (p.failed) {
        // Kafka already failed this caller: the rest of its messages would not change its answer.
        this.#queuedMessages -= p.toSend.length - p.next
        this.#queue.shift()
        this.#abandon(p, p.toSend.slice(p.next))
        continue
      }
      const index = p.toSend[p.next]!
      const size = p.sizes[index]!
      if (batch.length > 0 && bytes + size > this.#maxBatchBytes) break
      batch.push({ pending: p, index, bytes: size })
      bytes += size
      this.#queuedMessages -= 1
      if (++p.next === p.toSend.length) this.#queue.shift()
    }
    return batch
  }

  async #send(entries: Entry[]): Promise<void> {
    // A caller Kafka already failed (in the first half of a split batch) keeps its answer; the rest of its
    // messages are not sent, or they could be acknowledged ahead of the failed ones, out of its order.
    let batch = entries.filter((e) => !e.pending.failed)
    for (const e of entries) if (e.pending.failed) this.#abandon(e.pending, [e.index])
    if (batch.length === 0) return
    const byTopic = new Map<string, Message[]>()
    for (const { pending, index } of batch) {
      const list = byTopic.get(pending.topic) ?? []
      list.push(pending.messages[index]!)
      byTopic.set(pending.topic, list)
    }
    const started = performance.now()
    try {
      await this.#breaker.fire([...byTopic].map(([topic, messages]) => ({ topic, messages })))
      this.#onBatch?.({ messages: batch.length, durationMs: performance.now() - started, ok: true })
      for (const e of batch) this.#settle(e.pending, 1)
    } catch (cause) {
      this.#onBatch?.({ messages: batch.length, durationMs: performance.now() - started, ok: false })
      const refusal = recordRefusal(cause)
      if (refusal === undefined) {
        this.#logger.warn({ err: cause, messages: batch.length }, 'kafka publish failed')
        // The batch may have been written all the same (a timeout, a leader lost after the append), and
        // kafkajs has rolled back its sequence numbers: under the same producer id the next, different
        // batch would be taken for that batch's duplicate (acknowledged, not written) or refused as out of
        // order for good. A fresh producer id starts over; what was written twice, event ids dedupe.
        if (!breakerRefusedFast(cause)) this.#renewProducer()
        const err = new KafkaUnavailableError(`Kafka did not acknowledge: ${(cause as Error).message}`, { cause })
        for (const e of batch) {
          e.pending.failed ??= err
          if (e.pending.outcomes) e.pending.outcomes[e.index] = err
          this.#settle(e.pending, 1)
        }
        // A send that failed by itself has ended and lands nothing later; one the breaker timed out may.
        const attempt = this.#attempt
        // Not awaited: the wait fails what would be sent meanwhile (the queue, calls, the rest of a split batch).
        if (this.#keepOrder && !breakerRefusedFast(cause) && attempt && !attempt.ended) this.#holding = this.#untilEnded(attempt.promise)
        return
      }
      // Kafka rolled back the sequence numbers of every partition of the request, those it appended too:
      // under this producer id their next send would be refused as out of order for good (see createProducer).
      if (batch.length > 1) this.#renewProducer()
      // The broker appended the records of the partitions it did not refuse (kafkajs, as patched, names
      // them): those are acknowledged, and resending them in the halves below wrote them again, up to once
      // per halving (2026-12-07: 29 messages, 68 on the topic).
      const accepted = acceptedMessagesOf(cause)
      if (accepted) {
        const rest: Entry[] = []
        for (const e of batch) {
          if (accepted.has(e.pending.messages[e.index]!)) this.#settle(e.pending, 1)
          else rest.push(e)
        }
        batch = rest
        if (batch.length === 0) return
      }
      if (batch.length === 1) {
        const [{ pending, index, bytes }] = batch as [Entry]
        this.#logger.warn({ topic: pending.topic, bytes, reason: refusal }, 'kafka refused a message: only its caller fails')
        this.#refuse(pending, index, refusal, cause)
        this.#settle(pending, 1)
        return
      }
      this.#logger.info({ messages: batch.length, reason: refusal }, 'kafka refused a batch: resending it in halves to find the refused messages')
      const half = Math.ceil(batch.length / 2)
      await this.#send(batch.slice(0, half))
      if (this.#holding) {
        // The first half timed out, and its send may land after anything sent now: the rest fails as the queue did.
        const err = behindTimedOutError()
        for (const e of batch.slice(half)) {
          e.pending.failed ??= err
          this.#abandon(e.pending, [e.index])
        }
        return
      }
      await this.#send(batch.slice(half))
    }
  }

  #sendBatch(topicMessages: TopicMessages[]): Promise<unknown> {
    const producer = this.#producer
    const attempt = (async () => {
      // Throws if the breaker timed this call out and renewed the producer while it connected: nobody waits
      // for this batch any more, and it must not go out on either producer.
      if (this.#needsConnect) await this.#connectOnce(producer)
      return producer.sendBatch({ topicMessages, acks: -1 })
    })()
    const current = { promise: attempt, ended: false }
    // Attached before the breaker's own handlers, so it has run by the time the failure reaches `#send`.
    const ended = () => { current.ended = true }
    attempt.then(ended, ended)
    this.#attempt = current
    return attempt
  }

  /**
   * Keeping order after a timed-out send: fails what is queued now and every call until `attempt` has
   * ended, `abandonAfterMs` has passed, or the publisher closes.
   */
  async #untilEnded(attempt: Promise<unknown>): Promise<void> {
    const err = behindTimedOutError()
    for (const p of this.#queue.splice(0)) {
      this.#queuedMessages -= p.toSend.length - p.next
      p.failed ??= err
      this.#abandon(p, p.toSend.slice(p.next))
    }
    if (await endedWithin(attempt, this.#abandonAfterMs, this.#closing.signal) === 'abandoned') this.#logger.warn({ abandonAfterMs: this.#abandonAfterMs }, 'a timed-out kafka send has not ended: the sends after it go on without waiting for it')
    this.#holding = undefined
  }

  /**
   * Connects `producer`, joining the attempt already running on it: two kafkajs connects of one producer
   * would each ask for a producer id. A producer replaced (or a publisher closed) while it connected is
   * disconnected again, since its disconnect may have come before the connect finished, and is never
   * marked connected: `#needsConnect` is the current producer's.
   */
  #connectOnce(producer: Producer): Promise<void> {
    if (producer === this.#producer && this.#connecting) return this.#connecting
    const attempt = (async () => {
      try {
        await producer.connect()
      } catch (err) {
        // As connectProducer does: drops kafkajs's cached metadata, so the next attempt asks the cluster afresh.
        await producer.disconnect().catch(() => undefined)
        throw err
      }
      if (producer !== this.#producer || this.#closed) {
        void producer.disconnect().catch(() => undefined)
        throw new KafkaUnavailableError('kafka producer connected after it was replaced')
      }
      this.#needsConnect = false
    })()
    if (producer === this.#producer) {
      this.#connecting = attempt
      const clear = () => { if (this.#connecting === attempt) this.#connecting = undefined }
      attempt.then(clear, clear)
    }
    return attempt
  }

  /**
   * Connects a replacement producer right away instead of at the next send, retrying while Kafka is down:
   * readiness depends on it, and behind a readiness probe no send would ever come to connect it.
   */
  async #reconnect(producer: Producer, ends: AbortSignal): Promise<void> {
    for (let failures = 0; !ends.aborted && this.#needsConnect;) {
      try {
        await this.#connectOnce(producer)
      } catch (err) {
        if (ends.aborted) return
        failures++
        this.#logger.warn({ err, attempt: failures }, 'replacement kafka producer could not connect yet; retrying')
        await this.#reconnectSleep(backoffMs(failures, RECONNECT_INITIAL_DELAY_MS, RECONNECT_MAX_DELAY_MS), ends)
      }
    }
  }

  /**
   * After a refused multi-partition request the broker may hold some of its partitions' records while
   * kafkajs has rolled back their sequence numbers (see `createProducer`); a fresh producer id starts over.
   */
  #renewProducer(): void {
    if (!this.#createProducer) {
      if (!this.#warnedCannotRenew) {
        this.#warnedCannotRenew = true
        this.#logger.error({}, 'a send failed or kafka refused part of a batch, and the publisher has no createProducer to start a fresh producer id: an idempotent producer may now drop or refuse later batches')
      }
      return
    }
    const old = this.#producer
    this.#detach?.()
    this.#producer = this.#newProducer()
    this.#connecting = undefined
    this.#watch(this.#producer)
    // Not awaited: a send the breaker timed out may still hold the old producer, and the resend must not wait for it.
    void old.disconnect().catch((err: unknown) => this.#logger.warn({ err }, 'replaced kafka producer did not disconnect cleanly'))
    // The loop of the old producer, if it waits between attempts, ends.
    this.#reconnectEnds?.abort()
    this.#reconnectEnds = new AbortController()
    this.#reconnecting = this.#reconnect(this.#producer, this.#reconnectEnds.signal)
  }

  #newProducer(): Producer {
    this.#needsConnect = true
    return this.#createProducer!()
  }

  #watch(producer: Producer): void {
    this.#connected = false
    const off = [
      producer.on('producer.connect', () => { this.#connected = true }),
      producer.on('producer.disconnect', () => { this.#connected = false }),
    ]
    this.#detach = () => { for (const f of off) f() }
  }

  #refuse(p: Pending, index: number, reason: string, cause?: unknown): void {
    const bytes = p.sizes[index]!
    p.refused.push({ index, bytes, reason })
    this.#onRefused?.({ topic: p.topic, bytes, reason })
    p.refusedCause ??= cause
    if (p.outcomes) p.outcomes[index] = new KafkaRecordRejectedError(`Kafka will not take message ${index} (${bytes} bytes) to ${p.topic}: ${reason}`, { cause })
  }

  /** Answers messages of a caller Kafka already failed with that failure, unsent. */
  #abandon(p: Pending, indexes: readonly number[]): void {
    if (p.outcomes) for (const i of indexes) p.outcomes[i] = p.failed
    this.#settle(p, indexes.length)
  }

  #settle(p: Pending, count: number): void {
    p.outstanding -= count
    if (p.outstanding === 0) p.done(p)
  }

  /** Sends what is queued, then stops the breaker; disconnects the producer if the publisher made it. */
  async close(): Promise<void> {
    // What a wait for a timed-out send holds back has failed already; the process need not outlive that send.
    this.#closing.abort()
    await this.#holding
    this.#startFlush()
    await this.#flushing
    this.#closed = true
    this.#reconnectEnds?.abort()
    this.#breaker.shutdown()
    if (this.#createProducer) {
      this.#detach?.()
      await this.#producer.disconnect()
    }
    await this.#reconnecting
  }
}
