// ConfigResourceTypes through the default export: Node's ESM loader does not find it among kafkajs's named
// CommonJS exports (vitest's transform does, so only a service started by node fails).
import kafkajs, { type Admin, type ITopicConfig } from 'kafkajs'
import { deadlineIn } from '@opsreview/lifecycle/deadline'

const DAY_MS = 24 * 60 * 60 * 1000

/** What a topic is for decides its retention: the alert log is the source of truth and is kept long. */
export interface TopicSpec {
  topic: string
  numPartitions: number
  /** `delete` keeps `retentionMs`; `compact` keeps the latest record per key forever. */
  cleanupPolicy: 'delete' | 'compact'
  retentionMs?: number
  /** Further topic configs, e.g. max.message.bytes. */
  configs?: Record<string, string>
  /**
   * The partition count routes the records (the correlator's input, keyed by environment: a partition is
   * an engine's state): an existing topic of another count is refused, as records would move between engines.
   */
  partitionsFixed?: true
}

/** Existing topics that are not what their specs need: each fault named. */
export class TopicMismatchError extends Error {
  readonly faults: readonly string[]
  constructor(faults: readonly string[]) {
    super(`existing topics do not fit: ${faults.join('; ')}`)
    this.name = 'TopicMismatchError'
    this.faults = faults
  }
}

export const defaultTopics = Object.freeze({
  alerts: 'opsreview.alerts.v1',
  rejected: 'opsreview.rejected.v1',
  indexerDeadLetter: 'opsreview.indexer.dead-letter.v1',
})

export function alertTopicSpec(topic: string, numPartitions = 6, retentionDays = 30): TopicSpec {
  return { topic, numPartitions, cleanupPolicy: 'delete', retentionMs: retentionDays * DAY_MS }
}

/**
 * Incidents and problems, keyed by id, the latest version per key kept (compacted). A long incident's
 * document (its notes, reports and first alerts) can outgrow Kafka's 1 MB default; refused, it would stop
 * the correlator for good, so these topics take records up to 8 MiB.
 */
export function documentTopicSpec(topic: string, numPartitions: number): TopicSpec {
  return { topic, numPartitions, cleanupPolicy: 'compact', configs: { 'max.message.bytes': String(DOCUMENT_MAX_MESSAGE_BYTES) } }
}
export const DOCUMENT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024

/** A dead letter holds a whole record (up to the 1 MB default) escaped into JSON, and must always fit. */
export const DEAD_LETTER_MAX_MESSAGE_BYTES = 8 * 1024 * 1024

export function deadLetterTopicSpec(topic: string): TopicSpec {
  return { topic, numPartitions: 1, cleanupPolicy: 'delete', retentionMs: 30 * DAY_MS, configs: { 'max.message.bytes': String(DEAD_LETTER_MAX_MESSAGE_BYTES) } }
}

/**
 * How many copies of each partition a topic gets, and how many must hold a write before an acks=all
 * produce (every opsreview producer) returns. Unset, the broker's `default.replication.factor` and
 * `min.insync.replicas` apply: one setup fits one broker or a cluster that sets its defaults, as the
 * local cluster does (3 and 2, docs/cluster.md). Set them where the cluster's defaults are not the ones
 * opsreview's topics need.
 */
export interface TopicReplication {
  replicationFactor?: number
  minInsyncReplicas?: number
}

/** The part of a service's validated configuration that says how its topics are replicated. */
export interface KafkaReplicationConfig {
  readonly OPSREVIEW_KAFKA_REPLICATION_FACTOR: number | undefined
  readonly OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: number | undefined
}

/** The replication a service creates its topics with: what is set, the broker's defaults for the rest. */
export function topicReplicationOf(c: KafkaReplicationConfig): TopicReplication {
  return {
    ...(c.OPSREVIEW_KAFKA_REPLICATION_FACTOR !== undefined ? { replicationFactor: c.OPSREVIEW_KAFKA_REPLICATION_FACTOR } : {}),
    ...(c.OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS !== undefined ? { minInsyncReplicas: c.OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS } : {}),
  }
}

/** The createTopics entry of a spec: its cleanup, retention and configs, and the replication if given. */
export function createTopicRequest(s: TopicSpec, replication: TopicReplication = {}): ITopicConfig {
  const configEntries: NonNullable<ITopicConfig['configEntries']> = [{ name: 'cleanup.policy', value: s.cleanupPolicy }]
  if (s.retentionMs !== undefined) configEntries.push({ name: 'retention.ms', value: String(s.retentionMs) })
  for (const [name, value] of Object.entries(s.configs ?? {})) configEntries.push({ name, value })
  if (replication.minInsyncReplicas !== undefined) configEntries.push({ name: 'min.insync.replicas', value: String(replication.minInsyncReplicas) })
  return {
    topic: s.topic, numPartitions: s.numPartitions, configEntries,
    ...(replication.replicationFactor !== undefined ? { replicationFactor: replication.replicationFactor } : {}),
  }
}

export interface EnsureTopicsOptions extends TopicReplication {
  /** How long to wait for every partition to have a leader. */
  timeoutMs?: number
  /**
   * Refuse existing topics the specs cannot live with (`TopicMismatchError`): for the service that writes
   * them (the correlator its input, state and documents); a reader lives with what the writer accepted.
   */
  verifyExisting?: boolean
}

/** Another process created the topic between our look and our create: that is what we wanted. */
function onlyAlreadyExists(err: unknown): boolean {
  const errors = (err as { errors?: { type?: string }[] }).errors
  return Array.isArray(errors) && errors.length > 0 && errors.every((e) => e.type === 'TOPIC_ALREADY_EXISTS')
}

/**
 * Creates the topics that are missing (existing ones are left as they are, their replication too), then
 * waits until every partition of every topic has a leader. Services starting together race to create
 * shared topics, and a topic another process has just created can be unknown to the broker's metadata for
 * a moment. With `verifyExisting`, an existing topic its spec cannot live with is refused
 * (`TopicMismatchError`, every fault named): a compacted spec's topic not compacted (snapshots and versions
 * piled up for ever, and retention deleted the latest), a fixed partition count changed, or a record limit
 * (`max.message.bytes`) below the spec's.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], options: EnsureTopicsOptions = {}): Promise<void> {
  const { timeoutMs = 30_000, verifyExisting = false, ...replication } = options
  const existing = new Set(await admin.listTopics())
  const missing = specs.filter((s) => !existing.has(s.topic))
  if (missing.length > 0) {
    try {
      // No waitForLeaders: kafkajs's own wait throws UNKNOWN_TOPIC_OR_PARTITION when another service is
      // creating the same topics at that moment; the loop below waits and tolerates that.
      await admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((s) => createTopicRequest(s, replication)),
      })
    } catch (err) {
      if (!onlyAlreadyExists(err)) throw err
    }
  }
  const topics = specs.map((s) => s.topic)
  const deadline = deadlineIn(timeoutMs)
  let partitionCounts: Map<string, number>
  for (;;) {
    const ready = await admin.fetchTopicMetadata({ topics }).then(
      (m) => m.topics.length === topics.length && m.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)) ? m : undefined,
      () => undefined,
    )
    if (ready) {
      partitionCounts = new Map(ready.topics.map((t) => [t.name, t.partitions.length]))
      break
    }
    if (deadline.passed()) throw new Error(`topics without leaders after ${timeoutMs} ms: ${topics.join(', ')}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  if (!verifyExisting) return
  // The partition counts are the ones the leaders were seen for: a second look could meet a partition
  // added meanwhile without its leader, and kafkajs throws on that metadata instead of returning it.
  const faults = await mismatches(admin, specs.filter((s) => existing.has(s.topic)), partitionCounts)
  if (faults.length > 0) throw new TopicMismatchError(faults)
}

/** What makes each existing topic unfit for its spec. */
async function mismatches(admin: Admin, specs: readonly TopicSpec[], partitionCounts: ReadonlyMap<string, number>): Promise<string[]> {
  const faults: string[] = []
  for (const s of specs) {
    const count = partitionCounts.get(s.topic)
    if (s.partitionsFixed && count !== s.numPartitions) faults.push(`${s.topic} has ${count} partitions, not ${s.numPartitions}: its partition count decides which engine holds each key, so records would move between engines`)
  }
  // The configs each spec needs: compaction, and a record limit at least its own (a topic made before the
  // spec raised it keeps the broker's 1 MiB, and the first larger document stopped the writer for good).
  const described = specs.filter((s) => s.cleanupPolicy === 'compact' || s.configs?.['max.message.bytes'] !== undefined)
  if (described.length === 0) return faults
  const { resources } = await admin.describeConfigs({ resources: described.map((s) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name: s.topic, configNames: ['cleanup.policy', 'max.message.bytes'] })), includeSynonyms: false })
  for (const r of resources) {
    const spec = described.find((s) => s.topic === r.resourceName)!
    const value = (name: string) => r.configEntries.find((e) => e.configName === name)?.configValue ?? ''
    const policy = value('cleanup.policy')
    if (spec.cleanupPolicy === 'compact' && !policy.split(',').includes('compact')) faults.push(`${r.resourceName} has cleanup.policy=${policy}, not compact: it keeps the latest record per key, and retention would delete it`)
    const wanted = spec.configs?.['max.message.bytes']
    const limit = value('max.message.bytes')
    if (wanted !== undefined && Number(limit) < Number(wanted)) {
      faults.push(`${r.resourceName} takes records of at most ${limit} bytes (max.message.bytes), not ${wanted}: a larger record would be refused for good; raise it with kafka-configs.sh --alter --entity-type topics --entity-name ${r.resourceName} --add-config max.message.bytes=${wanted}`)
    }
  }
  return faults
}
