import CircuitBreaker from 'opossum'
import type { Message, Producer, TopicMessages } from 'kafkajs'
import type { Logger } from 'pino'
import { KafkaUnavailableError } from './errors.ts'

export interface PublisherOptions {
  producer: Producer
  logger: Logger
  /**
   * How long a request waits for others to join its batch (kafkajs has no linger of its own). 0, the
   * default, sends on the next tick: under load the batch still fills while the previous one is in
   * flight, so waiting longer only adds latency.
   */
  lingerMs?: number
  /** A batch is sent at once when it holds this many messages. */
  maxBatchMessages?: number
  /** A send slower than this counts as a failure, and the caller gets an error instead of a hang. */
  sendTimeoutMs?: number
  /** How long the breaker stays open before it lets one send through to test Kafka. */
  resetTimeoutMs?: number
  /** Called after each batch, for metrics. */
  onBatch?: (info: { messages: number; durationMs: number; ok: boolean }) => void
}

interface Pending {
  topic: string
  messages: Message[]
  resolve: () => void
  reject: (err: Error) => void
}

export type BreakerState = 'closed' | 'open' | 'half-open'

/**
 * Publishes messages with acks=all, micro-batching concurrent callers into one produce request so that
 * each webhook does not pay its own round trip. A promise resolves only after Kafka acknowledged its
 * messages. One batch is in flight at a time, which keeps the idempotent producer's order; the next
 * batch fills meanwhile. An opossum breaker fails callers fast while Kafka is unreachable.
 */
export class BatchPublisher {
  readonly #producer: Producer
  readonly #logger: Logger
  readonly #lingerMs: number
  readonly #maxBatchMessages: number
  readonly #onBatch: PublisherOptions['onBatch']
  readonly #breaker: CircuitBreaker<[TopicMessages[]], unknown>
  #queue: Pending[] = []
  #queuedMessages = 0
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined
  #flushing: Promise<void> | undefined
  #connected = false

  constructor(opts: PublisherOptions) {
    this.#producer = opts.producer
    this.#logger = opts.logger
    this.#lingerMs = opts.lingerMs ?? 0
    this.#maxBatchMessages = opts.maxBatchMessages ?? 2000
    this.#onBatch = opts.onBatch
    this.#breaker = new CircuitBreaker((topicMessages: TopicMessages[]) => this.#producer.sendBatch({ topicMessages, acks: -1 }), {
      timeout: opts.sendTimeoutMs ?? 5000,
      resetTimeout: opts.resetTimeoutMs ?? 5000,
      errorThresholdPercentage: 50,
      volumeThreshold: 2,
      // Long enough to hold several failed sends, so a few consecutive failures open it.
      rollingCountTimeout: 30_000,
    })
    this.#breaker.on('open', () => this.#logger.warn({ breaker: 'open' }, 'kafka breaker opened: publishing fails fast'))
    this.#breaker.on('halfOpen', () => this.#logger.info({ breaker: 'half-open' }, 'kafka breaker half-open: trying one send'))
    this.#breaker.on('close', () => this.#logger.info({ breaker: 'closed' }, 'kafka breaker closed: publishing resumed'))
    this.#producer.on('producer.connect', () => { this.#connected = true })
    this.#producer.on('producer.disconnect', () => { this.#connected = false })
  }

  get breakerState(): BreakerState {
    return this.#breaker.opened ? 'open' : this.#breaker.halfOpen ? 'half-open' : 'closed'
  }

  /** Ready to accept: connected and the breaker is not open. */
  get ready(): boolean {
    return this.#connected && !this.#breaker.opened
  }

  get queuedMessages(): number {
    return this.#queuedMessages
  }

  /** Resolves once Kafka acknowledged every message; rejects with KafkaUnavailableError otherwise. */
  publish(topic: string, messages: Message[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve()
    if (this.#breaker.opened) {
      return Promise.reject(new KafkaUnavailableError('Kafka is unavailable (circuit open)'))
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ topic, messages, resolve, reject })
      this.#queuedMessages += messages.length
      this.#schedule()
    })
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
    while (this.#queue.length > 0) {
      const batch: Pending[] = []
      let count = 0
      while (this.#queue.length > 0 && (batch.length === 0 || count + this.#queue[0]!.messages.length <= this.#maxBatchMessages)) {
        const p = this.#queue.shift()!
        batch.push(p)
        count += p.messages.length
      }
      this.#queuedMessages -= count
      const byTopic = new Map<string, Message[]>()
      for (const p of batch) {
        const list = byTopic.get(p.topic) ?? []
        list.push(...p.messages)
        byTopic.set(p.topic, list)
      }
      const started = performance.now()
      try {
        await this.#breaker.fire([...byTopic].map(([topic, messages]) => ({ topic, messages })))
        this.#onBatch?.({ messages: count, durationMs: performance.now() - started, ok: true })
        for (const p of batch) p.resolve()
      } catch (cause) {
        this.#onBatch?.({ messages: count, durationMs: performance.now() - started, ok: false })
        this.#logger.warn({ err: cause, messages: count }, 'kafka publish failed')
        const err = new KafkaUnavailableError(`Kafka did not acknowledge: ${(cause as Error).message}`, { cause })
        for (const p of batch) p.reject(err)
      }
    }
  }

  /** Sends what is queued, then stops the breaker. For graceful shutdown. */
  async close(): Promise<void> {
    this.#startFlush()
    await this.#flushing
    this.#breaker.shutdown()
  }
}
