import type { Producer, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs'
import type { Logger } from 'pino'
import { connectProducer, type ConnectRetry } from './connection.ts'

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
 */
export class SerialProducer implements Sender {
  readonly #create: () => Producer
  readonly #logger: Logger
  readonly #name: string
  #producer: Producer
  #needsConnect = true
  #tail: Promise<unknown> = Promise.resolve()

  constructor(create: () => Producer, logger: Logger, name: string) {
    this.#create = create
    this.#logger = logger
    this.#name = name
    this.#producer = create()
  }

  async connect(retry: ConnectRetry = {}): Promise<void> {
    await connectProducer(this.#producer, { onRetry: (err, attempt) => this.#logger.warn({ err, attempt, producer: this.#name }, 'kafka producer could not connect yet; retrying'), ...retry })
    this.#needsConnect = false
  }

  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    return this.#serial(() => this.#producer.send(record))
  }

  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    return this.#serial(() => this.#producer.sendBatch(batch))
  }

  /** After the sends queued so far. */
  async disconnect(): Promise<void> {
    await this.#tail
    await this.#producer.disconnect()
  }

  #serial<T>(send: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(async () => {
      if (this.#needsConnect) {
        await this.#producer.connect()
        this.#needsConnect = false
      }
      try {
        return await send()
      } catch (err) {
        this.#renew(err)
        throw err
      }
    })
    this.#tail = run.catch(() => undefined)
    return run
  }

  #renew(cause: unknown): void {
    const old = this.#producer
    this.#producer = this.#create()
    this.#needsConnect = true
    this.#logger.warn({ err: cause, producer: this.#name }, 'kafka send failed: the next send starts a fresh producer id')
    void old.disconnect().catch((err: unknown) => this.#logger.warn({ err, producer: this.#name }, 'replaced kafka producer did not disconnect cleanly'))
  }
}
