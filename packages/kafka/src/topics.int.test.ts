import { describe, expect, it, onTestFinished } from 'vitest'
import { ConfigResourceTypes } from 'kafkajs'
import { kafkaClient, uniqueName } from '@opsreview/testing'
import { alertTopicSpec, ensureTopics } from './topics.ts'

describe('ensureTopics on the real Kafka', () => {
  it('lets services that start together create the same topics at once', async () => {
    const admins = Array.from({ length: 4 }, () => kafkaClient().admin())
    await Promise.all(admins.map((a) => a.connect()))
    onTestFinished(() => Promise.all(admins.map((a) => a.disconnect())).then(() => undefined))
    for (let round = 0; round < 5; round++) {
      const shared = alertTopicSpec(uniqueName('shared'), 6, 30)
      const specs = admins.map((_, i) => [shared, { topic: uniqueName(`own${i}`), numPartitions: 3, cleanupPolicy: 'compact' as const }])
      onTestFinished(() => admins[0]!.deleteTopics({ topics: [shared.topic, ...specs.map((s) => s[1]!.topic)] }).catch(() => undefined))
      await Promise.all(admins.map((admin, i) => ensureTopics(admin, specs[i]!)))
      const metadata = await admins[0]!.fetchTopicMetadata({ topics: [shared.topic] })
      expect(metadata.topics[0]!.partitions).toHaveLength(6)
      expect(metadata.topics[0]!.partitions.every((p) => p.leader >= 0)).toBe(true)
      const configs = await admins[0]!.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: shared.topic, configNames: ['retention.ms'] }], includeSynonyms: false })
      expect(configs.resources[0]!.configEntries[0]!.configValue).toBe(String(30 * 24 * 3600 * 1000))
    }
  })
})
