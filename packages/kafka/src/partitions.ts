import { Partitioners, type Admin, type Message, type PartitionMetadata } from 'kafkajs'
import { settleWithin } from '@opsreview/lifecycle/deadline'
import { KafkaUnavailableError } from './errors.ts'

// The partitioner keeps a round-robin counter per topic for keyless messages; keyed ones depend on the count only.
const defaultPartitioner = Partitioners.DefaultPartitioner()
const metadataOfCount = new Map<number, PartitionMetadata[]>()

/**
 * The partition of `count` that Kafka's default partitioner (kafkajs's DefaultPartitioner, murmur2 as Java's)
 * puts `message` on: its own `partition` if it names one, its key's hash, else the next in turn. A producer
 * given messages with this partition writes them where it would have, one send per partition.
 */
export function partitionOf(topic: string, message: Pick<Message, 'key' | 'partition'>, count: number): number {
  let partitionMetadata = metadataOfCount.get(count)
  if (!partitionMetadata) {
    partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }))
    metadataOfCount.set(count, partitionMetadata)
  }
  return defaultPartitioner({ topic, partitionMetadata, message: { key: message.key ?? null, value: null, ...(message.partition === undefined ? {} : { partition: message.partition }) } })
}

export type MetadataAdmin = Pick<Admin, 'connect' | 'disconnect' | 'fetchTopicMetadata'>

/**
 * Topics' partition counts, read with an admin of their own (connected at the first read, again after a
 * failed one). A count is read again in the background once `maxAgeMs` old (5 min, kafkajs's metadata
 * age), so partitions added to a topic are taken as kafkajs would take them, while the known count goes on
 * being used: partitions are never removed, and no send waits for a read but a topic's first.
 */
export class PartitionCounts {
  readonly #createAdmin: () => MetadataAdmin
  readonly #maxAgeMs: number
  readonly #timeoutMs: number
  readonly #now: () => number
  readonly #counts = new Map<string, { count: number; at: number }>()
  readonly #reading = new Map<string, Promise<number>>()
  #admin: { admin: MetadataAdmin; connected: Promise<void> } | undefined

  constructor(createAdmin: () => MetadataAdmin, opts: { maxAgeMs?: number; timeoutMs?: number; now?: () => number } = {}) {
    this.#createAdmin = createAdmin
    this.#maxAgeMs = opts.maxAgeMs ?? 300_000
    this.#timeoutMs = opts.timeoutMs ?? 5000
    this.#now = opts.now ?? (() => performance.now())
  }

  /**
   * How many partitions `topic` has. Rejects with KafkaUnavailableError when it was never read and cannot be
   * within `timeoutMs` (Kafka down or slow, no such topic): an admin's own retries can take minutes.
   */
  of(topic: string): Promise<number> {
    const known = this.#counts.get(topic)
    if (!known) return settleWithin(this.#refresh(topic), this.#timeoutMs, () => new KafkaUnavailableError(`Kafka did not say within ${this.#timeoutMs} ms how many partitions ${topic} has`))
    if (this.#now() - known.at >= this.#maxAgeMs && !this.#reading.has(topic)) {
      // Failed, it is tried again after another maxAgeMs.
      void this.#refresh(topic).catch(() => { known.at = this.#now() })
    }
    return Promise.resolve(known.count)
  }

  /** The read of `topic` running, or a new one. */
  #refresh(topic: string): Promise<number> {
    let reading = this.#reading.get(topic)
    if (!reading) {
      reading = this.#read(topic)
        .then((count) => { this.#counts.set(topic, { count, at: this.#now() }); return count })
        .finally(() => this.#reading.delete(topic))
      this.#reading.set(topic, reading)
    }
    return reading
  }

  async #read(topic: string): Promise<number> {
    this.#admin ??= (() => { const admin = this.#createAdmin(); return { admin, connected: admin.connect() } })()
    const { admin, connected } = this.#admin
    try {
      await connected
      const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics.find((t) => t.name === topic)?.partitions.length ?? 0
      if (partitions === 0) throw new KafkaUnavailableError(`Kafka named no partition of ${topic}`)
      return partitions
    } catch (err) {
      // The next read starts from a fresh connection; kafkajs's admin does not always reconnect by itself.
      if (this.#admin?.admin === admin) this.#admin = undefined
      await admin.disconnect().catch(() => undefined)
      throw err
    }
  }

  async close(): Promise<void> {
    const current = this.#admin
    this.#admin = undefined
    if (current) await current.connected.then(() => current.admin.disconnect(), () => undefined)
  }
}
