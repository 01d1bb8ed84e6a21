import type { Producer, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs'
import type { Logger } from 'pino'
import { connectProducer, type ConnectRetry } from './connection.ts'
import { KafkaUnavailableError } from './errors.ts'
import { withinMs } from './within-ms.ts'

/** What the producers' users call: sends, and nothing of a particular kafkajs producer's identity. */
export type Sender = Pick<Producer, 'send' | 'sendBatch'>

/**
 * An idempotent producer that sends one request at a time and starts a fresh producer id after a send
 * that failed.
 *
 * kafkajs 2.2.4 gives a failed attempt's sequence numbers back (`sendMessages.js`), even when the broker
 * had appended its records (a timeout, a leader lost after the append). A send running beside it, or the
 * next one, then reuses those numbers, and the broker takes a batch whose sequence it has seen for a
 * duplicate: acknowledged, not written. Or, with another record count, refuses every later batch as out of
 * order. One at a time, kafkajs's own retry of the failed attempt goes first, with the numbers it had; a
 * send that failed for good leaves the producer id behind, and what it wrote, if anything, is there twice at
 * most (consumers dedupe by id).
 *
 * With `sendTimeoutMs`, a send that has not finished that long after it was called fails as
 * KafkaUnavailableError: the time counts from the call, so a send queued behind a slow one waits no longer,
 * and one whose turn comes too late fails without being sent. kafkajs cannot abandon a send (an idempotent
 * producer retries it for ever unless its `retry` is bounded), and a caller holding a consumer's batch
 * would wait with it. A send timed out while it ran counts as failed: its producer is disconnected and the
 * next send starts a fresh one, so the old send, if it goes on, never runs beside a later one on the same
 * producer id.
 */
export class SerialProducer implements Sender {
  readonly #create: () => Producer
  readonly #logger: Logger
  readonly #name: string
  readonly #sendTimeoutMs: number | undefined
  #producer: Producer
  #needsConnect = true
  #tail: Promise<unknown> = Promise.resolve()

  constructor(create: () => Producer, logger: Logger, name: string, opts: { sendTimeoutMs?: number } = {}) {
    this.#create = create
    this.#logger = logger
    this.#name = name
    this.#sendTimeoutMs = opts.sendTimeoutMs
    this.#producer = create()
  }

  async connect(retry: ConnectRetry = {}): Promise<void> {
    await connectProducer(this.#producer, { onRetry: (err, attempt) => this.#logger.warn({ err, attempt, producer: this.#name }, 'kafka producer could not connect yet; retrying'), ...retry })
    this.#needsConnect = false
  }

  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    return this.#serial((producer) => producer.send(record))
  }

  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    return this.#serial((producer) => producer.sendBatch(batch))
  }

  /** After the sends queued so far. */
  async disconnect(): Promise<void> {
    await this.#tail
    await this.#producer.disconnect()
  }

  #serial<T>(send: (producer: Producer) => Promise<T>): Promise<T> {
    const deadline = this.#sendTimeoutMs === undefined ? undefined : Date.now() + this.#sendTimeoutMs
    const run = this.#tail.then(async () => {
      if (deadline !== undefined && Date.now() >= deadline) {
        throw new KafkaUnavailableError(`kafka send (${this.#name}) waited ${this.#sendTimeoutMs} ms for the sends before it`)
      }
      const producer = this.#producer
      const attempt = (async () => {
        if (this.#needsConnect) {
          await producer.connect()
          if (producer !== this.#producer) {
            // The deadline passed while it connected: it was replaced, and its disconnect may have come
            // before this connect finished. Nobody waits for this attempt any more; it must not send.
            void producer.disconnect().catch(() => undefined)
            throw new KafkaUnavailableError(`kafka producer (${this.#name}) connected after its deadline`)
          }
          this.#needsConnect = false
        }
        return send(producer)
      })()
      try {
        return await this.#by(deadline, attempt)
      } catch (err) {
        this.#renew(err)
        throw err
      }
    })
    this.#tail = run.catch(() => undefined)
    return run
  }

  #by<T>(deadline: number | undefined, attempt: Promise<T>): Promise<T> {
    if (deadline === undefined) return attempt
    return withinMs(attempt, deadline - Date.now(), `kafka send (${this.#name}) did not finish within ${this.#sendTimeoutMs} ms`)
  }

  #renew(cause: unknown): void {
    const old = this.#producer
    this.#producer = this.#create()
    this.#needsConnect = true
    this.#logger.warn({ err: cause, producer: this.#name }, 'kafka send failed: the next send starts a fresh producer id')
    void old.disconnect().catch((err: unknown) => this.#logger.warn({ err, producer: this.#name }, 'replaced kafka producer did not disconnect cleanly'))
  }
}
