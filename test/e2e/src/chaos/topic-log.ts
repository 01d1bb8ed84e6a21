/**
 * Follows topics from their beginning for the whole run and keeps every record once (by partition and
 * offset: a consumer restarted by a broker kill may see some again). `caughtUp` compares with the broker's
 * end offsets, so the oracle counts a complete log, not whatever the last fetch happened to bring.
 */
import type { Admin, Consumer, Kafka } from 'kafkajs'
import { uniqueName } from '@opsreview/testing'

export interface LogRecord { topic: string; partition: number; offset: bigint; key: string | null; value: string }

export class TopicLog {
  readonly #kafka: Kafka
  readonly #topics: readonly string[]
  readonly #records = new Map<string, LogRecord>()
  readonly #next = new Map<string, bigint>()
  #consumer: Consumer | undefined
  #admin: Admin | undefined
  /** Called for each record the first time it is seen. */
  onRecord: ((r: LogRecord) => void) | undefined

  constructor(kafka: Kafka, topics: readonly string[]) {
    this.#kafka = kafka
    this.#topics = topics
  }

  async start(): Promise<void> {
    this.#admin = this.#kafka.admin()
    await this.#admin.connect()
    this.#consumer = this.#kafka.consumer({ groupId: uniqueName('chaos-oracle'), maxWaitTimeInMs: 200, retry: { retries: 30 } })
    await this.#consumer.connect()
    await this.#consumer.subscribe({ topics: [...this.#topics], fromBeginning: true })
    await this.#consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const id = `${topic}/${partition}/${message.offset}`
        const offset = BigInt(message.offset)
        const tp = `${topic}/${partition}`
        if ((this.#next.get(tp) ?? 0n) <= offset) this.#next.set(tp, offset + 1n)
        if (this.#records.has(id)) return
        const r: LogRecord = { topic, partition, offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? '' }
        this.#records.set(id, r)
        this.onRecord?.(r)
      },
    })
  }

  /** True when every partition of every topic has been read up to the broker's current end. */
  async caughtUp(): Promise<boolean> {
    for (const topic of this.#topics) {
      const ends = await this.#admin!.fetchTopicOffsets(topic)
      for (const e of ends) if (BigInt(e.high) > (this.#next.get(`${topic}/${e.partition}`) ?? BigInt(e.low))) return false
    }
    return true
  }

  /** A topic's records in log order per partition. */
  records(topic: string): LogRecord[] {
    return [...this.#records.values()].filter((r) => r.topic === topic).sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))
  }

  async stop(): Promise<void> {
    await this.#consumer?.disconnect().catch(() => undefined)
    await this.#admin?.disconnect().catch(() => undefined)
  }
}
