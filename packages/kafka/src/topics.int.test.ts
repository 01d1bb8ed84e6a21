import { describe, expect, it, onTestFinished } from 'vitest'
import { ConfigResourceTypes, type Admin } from 'kafkajs'
import { connectedAdmin, createReadyTopics, kafkaClient, uniqueName, waitFor } from '@opsreview/testing'
import { alertTopicSpec, DOCUMENT_MAX_MESSAGE_BYTES, documentTopicSpec, ensureTopics, TopicMismatchError } from './topics.ts'

/** Waits until the broker describes the topic's config as altered: an alter is applied a moment after it returns. */
const configTaken = (admin: Admin, topic: string, name: string, value: string) => waitFor(async () => {
  const { resources } = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [name] }], includeSynonyms: false })
  return resources[0]?.configEntries.find((e) => e.configName === name)?.configValue === value ? true : undefined
}, { what: `${topic} ${name}=${value}` })

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

  it('gives a topic the replication asked for, as its own config rather than the broker default', async () => {
    const admin = await connectedAdmin(kafkaClient())
    const spec = alertTopicSpec(uniqueName('replicated'), 2, 1)
    onTestFinished(() => admin.deleteTopics({ topics: [spec.topic] }).catch(() => undefined))
    // The shared test broker is one node: one copy is all it can hold, the setting must still be the topic's own.
    await ensureTopics(admin, [spec], { replicationFactor: 1, minInsyncReplicas: 1 })
    const metadata = await admin.fetchTopicMetadata({ topics: [spec.topic] })
    expect(metadata.topics[0]!.partitions.map((p) => p.replicas.length)).toEqual([1, 1])
    const configs = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: spec.topic, configNames: ['min.insync.replicas'] }], includeSynonyms: false })
    const entry = configs.resources[0]!.configEntries[0]!
    expect(entry.configValue).toBe('1')
    expect(entry.isDefault).toBe(false)
  })

  it('refuses an existing topic its spec cannot live with: a compacted one not compacted, a fixed partition count changed', async () => {
    const admin = await connectedAdmin(kafkaClient())
    const state = uniqueName('state')
    const input = uniqueName('input')
    onTestFinished(() => admin.deleteTopics({ topics: [state, input] }).catch(() => undefined))
    const specs = [{ topic: state, numPartitions: 1, cleanupPolicy: 'compact' as const }, { topic: input, numPartitions: 6, cleanupPolicy: 'delete' as const, partitionsFixed: true as const }]
    // Made by someone else, otherwise: deleted after a week, and two partitions.
    await createReadyTopics(admin, [{ topic: state, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] }, { topic: input, numPartitions: 2 }])
    // A reader takes them as they are; the writer refuses them.
    await ensureTopics(admin, specs)
    const refused = await ensureTopics(admin, specs, { verifyExisting: true }).then(() => undefined, (err: unknown) => err)
    expect(refused).toBeInstanceOf(TopicMismatchError)
    expect((refused as TopicMismatchError).faults).toEqual([
      `${input} has 2 partitions, not 6: its partition count decides which engine holds each key, so records would move between engines`,
      `${state} has cleanup.policy=delete, not compact: it keeps the latest record per key, and retention would delete it`,
    ])
    // Put right, they are taken as they are.
    await admin.createPartitions({ topicPartitions: [{ topic: input, count: 6 }] })
    // The broker's metadata takes the new partitions a moment after the controller did.
    await waitFor(() => admin.fetchTopicMetadata({ topics: [input] }).then((m) => m.topics[0]!.partitions.length === 6 || undefined, () => undefined), { timeoutMs: 30_000, what: `six partitions of ${input}` })
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: state, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] })
    await configTaken(admin, state, 'cleanup.policy', 'compact')
    await ensureTopics(admin, specs, { verifyExisting: true })
  })
  it('refuses an existing document topic that takes smaller records than its spec: the first larger document would stop the writer for good', async () => {
    const admin = await connectedAdmin(kafkaClient())
    const incidents = uniqueName('incidents')
    onTestFinished(() => admin.deleteTopics({ topics: [incidents] }).catch(() => undefined))
    const specs = [documentTopicSpec(incidents, 1)]
    // Made before the documents' spec took 8 MiB: compacted, with the broker's default record limit (1 MiB).
    await createReadyTopics(admin, [{ topic: incidents, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'max.message.bytes', value: '1048588' }] }])
    await ensureTopics(admin, specs)
    const refused = await ensureTopics(admin, specs, { verifyExisting: true }).then(() => undefined, (err: unknown) => err)
    expect(refused).toBeInstanceOf(TopicMismatchError)
    expect((refused as TopicMismatchError).faults).toEqual([
      `${incidents} takes records of at most 1048588 bytes (max.message.bytes), not ${DOCUMENT_MAX_MESSAGE_BYTES}: a larger record would be refused for good; raise it with kafka-configs.sh --alter --entity-type topics --entity-name ${incidents} --add-config max.message.bytes=${DOCUMENT_MAX_MESSAGE_BYTES}`,
    ])
    // Put right, it is taken as it is; a larger limit is taken too.
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: incidents, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'max.message.bytes', value: String(2 * DOCUMENT_MAX_MESSAGE_BYTES) }] }] })
    await configTaken(admin, incidents, 'max.message.bytes', String(2 * DOCUMENT_MAX_MESSAGE_BYTES))
    await ensureTopics(admin, specs, { verifyExisting: true })
  })
})
