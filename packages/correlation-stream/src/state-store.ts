import { CompressionTypes, type Kafka, type Producer } from 'kafkajs'
import type { EngineSnapshot } from '@opsreview/correlation/engine'
import { KafkaUnavailableError } from './errors.ts'

/** A partition's engine state and the last input offset it includes. */
export interface SavedState {
  inputTopic: string
  partition: number
  /** The last input offset applied; replay resumes after it. */
  offset: string
  snapshot: EngineSnapshot
}

/**
 * Engine snapshots on a compacted topic, one record per input partition: the correlator needs no local
 * disk, and a restarted or reassigned partition resumes from its latest snapshot.
 */
export class KafkaStateStore {
  readonly #kafka: Kafka
  readonly #producer: Producer
  readonly #topic: string

  constructor(kafka: Kafka, producer: Producer, topic: string) {
    this.#kafka = kafka
    this.#producer = producer
    this.#topic = topic
  }

  async save(state: SavedState): Promise<void> {
    await this.#producer.send({
      topic: this.#topic, acks: -1, compression: CompressionTypes.GZIP,
      messages: [{ key: `${state.inputTopic}/${state.partition}`, value: JSON.stringify(state) }],
    })
  }

  /**
   * Reads the topic to its end and returns the latest snapshot of every partition. A read that receives
   * nothing for `idleTimeoutMs` (Kafka went away meanwhile) fails as retriable instead of hanging; a long
   * read that keeps receiving is never cut short.
   */
  async loadAll(idleTimeoutMs = 60_000): Promise<Map<string, SavedState>> {
    const admin = this.#kafka.admin()
    await admin.connect()
    const ends = await admin.fetchTopicOffsets(this.#topic).finally(() => admin.disconnect())
    const latest = new Map<string, SavedState>()
    const remaining = new Map(ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]))
    if (remaining.size === 0) return latest
    const consumer = this.#kafka.consumer({ groupId: `opsreview-state-reader-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 100 })
    await consumer.connect()
    try {
      await consumer.subscribe({ topic: this.#topic, fromBeginning: true })
      await new Promise<void>((resolve, reject) => {
        const idle = () => reject(new KafkaUnavailableError(`no snapshot record from ${this.#topic} for ${idleTimeoutMs} ms`))
        let timer = setTimeout(idle, idleTimeoutMs)
        const done = () => { clearTimeout(timer); resolve() }
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            clearTimeout(timer)
            timer = setTimeout(idle, idleTimeoutMs)
            if (message.key && message.value) latest.set(message.key.toString(), JSON.parse(message.value.toString()) as SavedState)
            else if (message.key) latest.delete(message.key.toString())
            const last = remaining.get(partition)
            if (last !== undefined && BigInt(message.offset) >= last) remaining.delete(partition)
            if (remaining.size === 0) done()
          },
        }).catch((err: unknown) => { clearTimeout(timer); reject(err as Error) })
      })
    } finally {
      await consumer.disconnect()
    }
    return latest
  }
}
