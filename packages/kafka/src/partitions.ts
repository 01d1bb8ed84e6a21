import kafkajs, { Partitioners, type Admin, type Message, type PartitionMetadata } from 'kafkajs'
import { settleWithin } from '@opsreview/lifecycle/deadline'
import { KafkaUnavailableError } from './errors.ts'

// From the default export: kafkajs is CommonJS, and plain Node does not see this one as a named export.
const { ConfigResourceTypes } = kafkajs

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

export type MetadataAdmin = Pick<Admin, 'connect' | 'disconnect' | 'fetchTopicMetadata' | 'describeConfigs'>

interface Known {
  count: number
  /** The topic's effective max.message.bytes; undefined when Kafka would not say, or a send showed it lower. */
  maxMessageBytes: number | undefined
  at: number
}

/**
 * Topics' partition counts and `max.message.bytes`, read with an admin of their own (connected at the first
 * read, again after a failed one). They are read again in the background once `maxAgeMs` old (5 min,
 * kafkajs's metadata age), so partitions added to a topic are taken as kafkajs would take them, while the
 * known count goes on being used: partitions are never removed, and no send waits for a read but a topic's
 * first. A limit Kafka will not describe (no DescribeConfigs permission) is unknown, not a failed read.
 */
export class PartitionCounts {
  readonly #createAdmin: () => MetadataAdmin
  readonly #maxAgeMs: number
  readonly #timeoutMs: number
  readonly #now: () => number
  readonly #onLimitUnknown: ((topic: string, err: unknown) => void) | undefined
  readonly #counts = new Map<string, Known>()
  readonly #reading = new Map<string, Promise<number>>()
  readonly #limitUnknownTold = new Set<string>()
  #admin: { admin: MetadataAdmin; connected: Promise<void> } | undefined

  constructor(createAdmin: () => MetadataAdmin, opts: { maxAgeMs?: number; timeoutMs?: number; now?: () => number; onLimitUnknown?: (topic: string, err: unknown) => void } = {}) {
    this.#createAdmin = createAdmin
    this.#maxAgeMs = opts.maxAgeMs ?? 300_000
    this.#timeoutMs = opts.timeoutMs ?? 5000
    this.#now = opts.now ?? (() => performance.now())
    this.#onLimitUnknown = opts.onLimitUnknown
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

  /**
   * The largest record batch `topic` takes on one partition (its effective `max.message.bytes`), as read
   * with its partition count; undefined before `of` has answered, when Kafka would not describe the topic,
   * or since `distrustLimit`, until the next read.
   */
  maxMessageBytes(topic: string): number | undefined {
    return this.#counts.get(topic)?.maxMessageBytes
  }

  /** A send showed the limit of `topic` lower than read (changed since): unknown until the next read. */
  distrustLimit(topic: string): void {
    const known = this.#counts.get(topic)
    if (known) known.maxMessageBytes = undefined
  }

  /** The read of `topic` running, or a new one. */
  #refresh(topic: string): Promise<number> {
    let reading = this.#reading.get(topic)
    if (!reading) {
      reading = this.#read(topic)
        .then(({ count, maxMessageBytes }) => { this.#counts.set(topic, { count, maxMessageBytes, at: this.#now() }); return count })
        .finally(() => this.#reading.delete(topic))
      this.#reading.set(topic, reading)
    }
    return reading
  }

  async #read(topic: string): Promise<{ count: number; maxMessageBytes: number | undefined }> {
    this.#admin ??= (() => { const admin = this.#createAdmin(); return { admin, connected: admin.connect() } })()
    const { admin, connected } = this.#admin
    try {
      await connected
      const [metadata, limit] = await Promise.all([
        admin.fetchTopicMetadata({ topics: [topic] }),
        this.#readLimit(admin, topic).then((maxMessageBytes) => ({ maxMessageBytes, err: undefined }), (err: unknown) => ({ maxMessageBytes: undefined, err })),
      ])
      const partitions = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0
      if (partitions === 0) throw new KafkaUnavailableError(`Kafka named no partition of ${topic}`)
      // Told once per topic, and only when Kafka answered otherwise: with Kafka down the whole read fails.
      if (limit.err !== undefined && !this.#limitUnknownTold.has(topic)) {
        this.#limitUnknownTold.add(topic)
        this.#onLimitUnknown?.(topic, limit.err)
      }
      return { count: partitions, maxMessageBytes: limit.maxMessageBytes }
    } catch (err) {
      // The next read starts from a fresh connection; kafkajs's admin does not always reconnect by itself.
      if (this.#admin?.admin === admin) this.#admin = undefined
      await admin.disconnect().catch(() => undefined)
      throw err
    }
  }

  async #readLimit(admin: MetadataAdmin, topic: string): Promise<number> {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
    })
    const value = resources.find((r) => r.resourceName === topic)?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue
    const bytes = Number(value)
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`Kafka described max.message.bytes of ${topic} as ${String(value)}`)
    return bytes
  }

  async close(): Promise<void> {
    const current = this.#admin
    this.#admin = undefined
    if (current) await current.connected.then(() => current.admin.disconnect(), () => undefined)
  }
}
