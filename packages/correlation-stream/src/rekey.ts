import type { EachBatchPayload, KafkaMessage, Message } from 'kafkajs'
import type { Logger } from 'pino'
import { validateAlertEvent, validateCommand } from '@opsreview/schemas'
import { withReceiptNoLaterThan } from '@opsreview/correlation/event-time'
import type { EngineInput } from '@opsreview/correlation/types'
import { DEFAULT_MAX_MESSAGE_BYTES } from '@opsreview/kafka/publisher'
import { DEAD_LETTER_MAX_MESSAGE_BYTES } from '@opsreview/kafka/topics'
import { poisonDeadLetter } from './dead-letters.ts'
import { classifyFailure, KafkaRecordRejectedError, RecordRejectedError, SchemaInvalidError, UndecodableRecordError, type PoisonRecordError } from './errors.ts'

/** What the rekeyer needs of a publisher: acknowledged sends, answered per message (`BatchPublisher`). */
export interface RekeyPublisher {
  publish(topic: string, messages: Message[]): Promise<void>
  publishEach(topic: string, messages: Message[]): Promise<(Error | undefined)[]>
}

export interface RekeyOptions {
  /**
   * Sends the rekeyed records. A `BatchPublisher` joins the sends of batches handled at once (several
   * source partitions, `partitionsConsumedConcurrently`) into one produce request, keeping its producer's
   * one request in flight.
   */
  publisher: RekeyPublisher
  inputTopic: string
  commandsTopic: string
  /** Where records that are not valid events or commands go, as dead-letter envelopes. */
  deadLetterTopic: string
  logger: Logger
  /** Wall clock, for dead-letter times and the latest receipt an event may carry. */
  now: () => number
  /**
   * An event's receipt (`receivedAt`) later than the wall clock, or than its record's Kafka timestamp, plus
   * this is clamped to that (`withReceiptNoLaterThan`); a replay clamps to the record's timestamp alike.
   */
  receiptToleranceMs: number
  /** Per batch, with how many events' receipts were clamped. */
  onReceiptsClamped?: (count: number) => void
  /** After a dead letter is acknowledged, with its reason code. */
  onDeadLetter?: (reason: string) => void
  /** After every record of a source partition before `nextOffset` is acknowledged downstream. */
  onDurable?: (topic: string, partition: number, nextOffset: string) => void
}

/** The partition key of the engine input: one environment, one engine. */
export function inputKey(input: EngineInput): string {
  return input.type === 'alert' ? input.event.environment : input.type === 'command' ? input.command.environment : 'tick'
}

/** An alert event or a command as engine input, or why the record is poison. */
export function toEngineInput(raw: string, isCommand: boolean): EngineInput | PoisonRecordError {
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (err) {
    return new UndecodableRecordError(`record is not JSON: ${(err as Error).message}`, { cause: err })
  }
  if (isCommand) {
    const v = validateCommand(parsed)
    return v.ok ? { type: 'command', command: v.value } : new SchemaInvalidError('record is not a valid command', { detail: { errors: v.errors } })
  }
  const v = validateAlertEvent(parsed)
  return v.ok ? { type: 'alert', event: v.value } : new SchemaInvalidError('record is not a valid alert event', { detail: { errors: v.errors } })
}

/**
 * The latest receipt a record's event may carry: its Kafka timestamp (when the receiver published it; a
 * replay reads the same) or the rekeyer's clock, the earlier, plus the tolerance.
 */
function latestReceiptOf(m: KafkaMessage, nowMs: number, toleranceMs: number): number {
  const published = Number(m.timestamp)
  // -1 is Kafka's "no timestamp" (a client of the old message format, or one that sends none): taken as a
  // time, it clamped the receipt to 1970, and the engine dropped the event as forgotten history.
  return (Number.isFinite(published) && published >= 0 ? Math.min(published, nowMs) : nowMs) + toleranceMs
}

/**
 * How the rekey consumer runs: offsets resolved by the handler once durable, and several source partitions'
 * batches at once. One at a time, each waited for its own produce round trip, and the batches of one fetch
 * queued behind each other: the largest part of the alert → incident latency (docs/performance.md).
 */
export const rekeyRunOptions = Object.freeze({ eachBatchAutoResolve: false, partitionsConsumedConcurrently: 4 })

/**
 * The rekeyer's `BatchPublisher` limits. A dead letter carries its poison record whole, and the dead-letter
 * topic takes records up to 8 MiB: refused here as too large, it would stop the rekeyer on that record for
 * good. A batch stays within the input topic's limit (the broker's default), and an input record larger than
 * that goes alone, for the broker to refuse and the handler to dead-letter. A send slower than 10 s fails its
 * batches for a retry (what it wrote meanwhile is written again: ids absorb that), so that a batch queued
 * behind it still finishes well within the group's session timeout (30 s by default): the handler does not
 * heartbeat while it waits.
 */
// No queue limit: each source partition's batch waits for its publish before the next is fetched, so the
// queue holds at most the batches being handled, and a batch refused for a full queue would only be retried.
export const rekeyPublisherLimits = Object.freeze({ maxMessageBytes: DEAD_LETTER_MAX_MESSAGE_BYTES, maxBatchBytes: DEFAULT_MAX_MESSAGE_BYTES, sendTimeoutMs: 10_000, maxQueuedMessages: Infinity })

/**
 * Moves alerts and commands onto the engine's input topic, keyed by environment, so that everything one
 * incident group or problem needs is in one partition. Records that are not valid events or commands go
 * to the dead-letter topic, queued with them. Source offsets are resolved only after Kafka
 * acknowledged both (at least once; the engine drops redeliveries by id). Kafka failures are thrown for the
 * consumer's retry policy (`retryingBatches`).
 */
export function createRekeyHandler(opts: RekeyOptions): (payload: EachBatchPayload) => Promise<void> {
  return async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
    if (!isRunning() || isStale() || batch.messages.length === 0) return
    const { topic, partition } = batch
    const at = new Date(opts.now())
    const inputs: { message: Message; source: KafkaMessage }[] = []
    const deadLetters: Message[] = []
    const reasons: string[] = []
    const deadLetter = (err: PoisonRecordError, m: KafkaMessage) => {
      deadLetters.push(poisonDeadLetter(err, { topic, partition, offset: m.offset }, m, at))
      reasons.push(err.reason)
    }
    let clamped = 0
    for (const m of batch.messages) {
      let input = toEngineInput(m.value?.toString() ?? '', topic === opts.commandsTopic)
      if (!('type' in input)) { deadLetter(input, m); continue }
      if (input.type === 'alert') {
        const event = withReceiptNoLaterThan(input.event, latestReceiptOf(m, at.getTime(), opts.receiptToleranceMs))
        if (event !== input.event) { input = { type: 'alert', event }; clamped++ }
      }
      inputs.push({ message: { key: inputKey(input), value: JSON.stringify(input) }, source: m })
    }
    // Queued together, they go in one produce request unless the publisher's batch limits cut it. Both are
    // waited for before a failure is thrown, so that a retry does not race records still queued.
    const [sent, lettered] = await Promise.allSettled([
      opts.publisher.publishEach(opts.inputTopic, inputs.map((i) => i.message)),
      opts.publisher.publish(opts.deadLetterTopic, deadLetters),
    ])
    if (sent.status === 'rejected') throw sent.reason
    if (lettered.status === 'rejected') throw lettered.reason
    const outcomes = sent.value
    // A record Kafka refuses (too large for the input topic) is dead-lettered alone; the others went on.
    const poison = deadLetters.length
    outcomes.forEach((outcome, k) => {
      if (outcome === undefined) return
      const failure = classifyFailure(outcome)
      if (!(failure instanceof KafkaRecordRejectedError)) throw failure
      deadLetter(new RecordRejectedError(failure.message, { cause: outcome }), inputs[k]!.source)
    })
    await opts.publisher.publish(opts.deadLetterTopic, deadLetters.slice(poison))
    if (deadLetters.length > 0) opts.logger.warn({ topic, partition, count: deadLetters.length, reasons: [...new Set(reasons)] }, 'invalid records dead-lettered')
    if (clamped > 0) {
      opts.logger.warn({ topic, partition, count: clamped }, "events received after this instance's clock or their record's timestamp: receipts clamped to it")
      opts.onReceiptsClamped?.(clamped)
    }
    for (const reason of reasons) opts.onDeadLetter?.(reason)
    const last = batch.messages.at(-1)!
    resolveOffset(last.offset)
    opts.onDurable?.(topic, partition, String(BigInt(last.offset) + 1n))
    await heartbeat()
  }
}
