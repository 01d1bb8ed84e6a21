import type { Admin, ITopicConfig } from 'kafkajs'

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
}

export const defaultTopics = Object.freeze({
  alerts: 'opsreview.alerts.v1',
  rejected: 'opsreview.rejected.v1',
  indexerDeadLetter: 'opsreview.indexer.dead-letter.v1',
})

export function alertTopicSpec(topic: string, numPartitions = 6, retentionDays = 30): TopicSpec {
  return { topic, numPartitions, cleanupPolicy: 'delete', retentionMs: retentionDays * DAY_MS }
}

export function deadLetterTopicSpec(topic: string): TopicSpec {
  return { topic, numPartitions: 1, cleanupPolicy: 'delete', retentionMs: 30 * DAY_MS }
}

/** Creates the topics that are missing; existing ones are left as they are. */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics())
  const missing = specs.filter((s) => !existing.has(s.topic))
  if (missing.length === 0) return
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((s) => {
      const configEntries: ITopicConfig['configEntries'] = [{ name: 'cleanup.policy', value: s.cleanupPolicy }]
      if (s.retentionMs !== undefined) configEntries.push({ name: 'retention.ms', value: String(s.retentionMs) })
      for (const [name, value] of Object.entries(s.configs ?? {})) configEntries.push({ name, value })
      // No replicationFactor: the broker's default.replication.factor applies, so one setup fits one broker or many.
      return { topic: s.topic, numPartitions: s.numPartitions, configEntries }
    }),
  })
}
