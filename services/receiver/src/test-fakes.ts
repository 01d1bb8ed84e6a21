// Fakes of the app's two ports, for the in-process unit and fuzz tests; the *.int.test.ts use the real
// publisher, spool and Kafka.
import type { Message } from 'kafkajs'
import pino from 'pino'
import { defaultIngestOptions } from '@opsreview/ingest/event'
import { KafkaRecordRejectedError, KafkaUnavailableError } from '@opsreview/kafka/errors'
import { DEFAULT_MAX_MESSAGE_BYTES, estimateMessageBytes } from '@opsreview/kafka/publisher'
import type { SpoolRecord } from '@opsreview/spool'
import { createReceiverApp, type EventPublisher, type EventSpool, type ReceiverDeps } from './app.ts'
import { createReceiverMetrics } from './metrics.ts'

export const TEST_TOKEN = 'test-token-1'
export const TEST_TOPICS = Object.freeze({ alerts: 'alerts', rejected: 'rejected' })
export const TEST_NOW = new Date('2026-11-28T20:30:00.000Z')

/**
 * Keeps what it was given per topic; `refuse` picks messages Kafka would never take, `down` is Kafka gone,
 * `unacknowledged` picks messages Kafka does not acknowledge this time while it takes the others (a batch
 * that failed after earlier ones of the same call were acknowledged). A message over `maxMessageBytes`
 * is refused, as the real publisher refuses it before sending.
 */
export class FakePublisher implements EventPublisher {
  readonly sent = new Map<string, Message[]>()
  ready = true
  down = false
  readonly downTopics = new Set<string>()
  refuse: (topic: string, m: Message) => boolean = () => false
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES
  unacknowledged: (topic: string, m: Message) => boolean = () => false
  /** How long Kafka takes to acknowledge, so that requests overlap. */
  delayMs = 0

  async publish(topic: string, messages: Message[]): Promise<void> {
    await new Promise((resolve) => (this.delayMs > 0 ? setTimeout(resolve, this.delayMs) : queueMicrotask(() => resolve(undefined))))
    if (this.down || this.downTopics.has(topic)) throw new KafkaUnavailableError('Kafka is unavailable (test)')
    const refused = messages.filter((m) => this.#refused(topic, m))
    const unacknowledged = messages.filter((m) => !this.#refused(topic, m) && this.unacknowledged(topic, m))
    const list = this.sent.get(topic) ?? []
    list.push(...messages.filter((m) => !this.#refused(topic, m) && !this.unacknowledged(topic, m)))
    this.sent.set(topic, list)
    if (unacknowledged.length > 0) throw new KafkaUnavailableError(`Kafka did not acknowledge ${unacknowledged.length} message(s) to ${topic} (test)`)
    if (refused.length > 0) throw new KafkaRecordRejectedError(`Kafka will not take ${refused.length} message(s) to ${topic} (test)`)
  }

  async publishEach(topic: string, messages: Message[]): Promise<(Error | undefined)[]> {
    await new Promise((resolve) => (this.delayMs > 0 ? setTimeout(resolve, this.delayMs) : queueMicrotask(() => resolve(undefined))))
    if (this.down || this.downTopics.has(topic)) {
      const err = new KafkaUnavailableError('Kafka is unavailable (test)')
      return messages.map(() => err)
    }
    const list = this.sent.get(topic) ?? []
    this.sent.set(topic, list)
    return messages.map((m) => {
      if (this.#refused(topic, m)) return new KafkaRecordRejectedError(`Kafka will not take the message to ${topic} (test)`)
      if (this.unacknowledged(topic, m)) return new KafkaUnavailableError(`Kafka did not acknowledge the message to ${topic} (test)`)
      list.push(m)
      return undefined
    })
  }

  #refused(topic: string, m: Message): boolean {
    return estimateMessageBytes(m) > this.maxMessageBytes || this.refuse(topic, m)
  }

  values<T>(topic: string): T[] {
    return (this.sent.get(topic) ?? []).map((m) => JSON.parse(String(m.value)) as T)
  }
}

export class FakeSpool implements EventSpool {
  readonly records: SpoolRecord[] = []
  /** What `append` throws, if anything. */
  fail: Error | undefined
  /** What the real spool measures from its records' times; set by a test. */
  oldestAgeMs = 0
  maxBytes = Infinity
  get depth() { return this.records.length }
  get bytes() { return this.records.reduce((n, r) => n + Buffer.byteLength(r.value ?? ''), 0) }
  async append(records: readonly SpoolRecord[]): Promise<void> {
    if (this.fail) throw this.fail
    this.records.push(...records)
  }
}

export function fakeReceiver(overrides: Partial<ReceiverDeps> = {}) {
  const publisher = new FakePublisher()
  const spool = new FakeSpool()
  const metrics = createReceiverMetrics({ breakerState: () => 'closed', spool })
  const app = createReceiverApp({
    publisher, spool, metrics, logger: pino({ level: 'silent' }), clock: () => TEST_NOW, topicsReady: () => true,
    tokens: [TEST_TOKEN], bodyLimit: 1024 * 1024, topics: TEST_TOPICS, ingest: defaultIngestOptions, ...overrides,
  })
  return { app, publisher, spool, metrics }
}

export function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_TOKEN}`, ...headers },
  })
}
