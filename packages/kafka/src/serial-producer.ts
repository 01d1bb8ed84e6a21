import type { Producer, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs'
import type { Logger } from 'pino'
import { connectProducer, type ConnectRetry } from './connection.ts'
import { KafkaUnavailableError } from './errors.ts'
import { endedWithin, withinMs } from './within-ms.ts'
import { deadlineIn, type Deadline } from '@opsreview/lifecycle/deadline'

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
 *
 * Nor does the next send start before the old one has ended. Disconnected, a kafkajs producer still retries a
 * send (it connects again for it) until its bounded retries run out, and can land it then: a correlator's
 * outputs sent after it would otherwise come first, and a compacted topic keeps the last record of a key,
 * the older version, for good (serial-producer.int.test.ts: version 1 landed after version 2 on the real Kafka).
 * The caller still hears of the timeout at its deadline; the sends after it wait for the old one's end, or
 * fail at their own deadlines meanwhile. After `abandonAfterMs` (10 min) they stop waiting: a send that
 * never ends (retries not bounded) must not stop every later one for ever.
 */
export class SerialProducer implements Sender {
  readonly #create: () => Producer
  readonly #logger: Logger
  readonly #name: string
  readonly #sendTimeoutMs: number | undefined
  readonly #abandonAfterMs: number
  #producer: Producer
  #needsConnect = true
  /** The last send called, and, after a timed-out one, that send's end: the next send starts after it. */
  #tail: Promise<unknown> = Promise.resolve()
  /** The last send called, settled (every one has a deadline): what `disconnect` waits for. */
  #called: Promise<unknown> = Promise.resolve()

  constructor(create: () => Producer, logger: Logger, name: string, opts: { sendTimeoutMs?: number; abandonAfterMs?: number } = {}) {
    this.#create = create
    this.#logger = logger
    this.#name = name
    this.#sendTimeoutMs = opts.sendTimeoutMs
    this.#abandonAfterMs = opts.abandonAfterMs ?? 600_000
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

  /** After the sends queued so far have been answered (a timed-out one may go on: it is not waited for). */
  async disconnect(): Promise<void> {
    await this.#called
    await this.#producer.disconnect()
  }

  #serial<T>(send: (producer: Producer) => Promise<T>): Promise<T> {
    const deadline = this.#sendTimeoutMs === undefined ? undefined : deadlineIn(this.#sendTimeoutMs)
    const waited = `kafka send (${this.#name}) waited ${this.#sendTimeoutMs} ms for the sends before it`
    const previous = this.#tail
    // Its turn comes when the sends before it have ended, timed-out ones too; its caller waits no longer than its deadline.
    const turn = deadline === undefined ? previous : withinMs(previous, deadline.left(), waited)
    let attempt: Promise<T> | undefined
    const run = turn.then(async () => {
      if (deadline?.passed()) throw new KafkaUnavailableError(waited)
      const producer = this.#producer
      attempt = (async () => {
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
    // The next send's turn: after the sends before this one, and after this one's attempt has ended (one
    // that failed at its deadline may still be running); a send that never had its turn sent nothing.
    this.#tail = previous.then(() => run.then(() => undefined, () => (attempt === undefined ? undefined : this.#ended(attempt))))
    this.#called = run.catch(() => undefined)
    return run
  }

  /** When the timed-out `attempt` has ended, or `abandonAfterMs` after now if it has not. */
  async #ended(attempt: Promise<unknown>): Promise<void> {
    if (await endedWithin(attempt, this.#abandonAfterMs) === 'abandoned') {
      this.#logger.warn({ producer: this.#name, abandonAfterMs: this.#abandonAfterMs }, 'a timed-out kafka send has not ended: the sends after it go on without waiting for it')
    }
  }

  #by<T>(deadline: Deadline | undefined, attempt: Promise<T>): Promise<T> {
    if (deadline === undefined) return attempt
    return withinMs(attempt, deadline.left(), `kafka send (${this.#name}) did not finish within ${this.#sendTimeoutMs} ms`)
  }

  #renew(cause: unknown): void {
    const old = this.#producer
    this.#producer = this.#create()
    this.#needsConnect = true
    this.#logger.warn({ err: cause, producer: this.#name }, 'kafka send failed: the next send starts a fresh producer id')
    void old.disconnect().catch((err: unknown) => this.#logger.warn({ err, producer: this.#name }, 'replaced kafka producer did not disconnect cleanly'))
  }
}
