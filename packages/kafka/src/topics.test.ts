import { describe, expect, it } from 'vitest'
import { alertTopicSpec, createTopicRequest, documentTopicSpec, topicReplicationOf } from './topics.ts'

describe('createTopicRequest', () => {
  it('leaves the replication to the broker when none is given', () => {
    const request = createTopicRequest(alertTopicSpec('a', 6, 30))
    expect(request).toEqual({
      topic: 'a', numPartitions: 6,
      configEntries: [{ name: 'cleanup.policy', value: 'delete' }, { name: 'retention.ms', value: String(30 * 86_400_000) }],
    })
    expect(request).not.toHaveProperty('replicationFactor')
  })

  it('asks for the replication factor and min.insync.replicas given, beside the spec’s own configs', () => {
    const request = createTopicRequest(documentTopicSpec('incidents', 6), { replicationFactor: 3, minInsyncReplicas: 2 })
    expect(request.replicationFactor).toBe(3)
    expect(request.configEntries).toEqual([
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'max.message.bytes', value: String(8 * 1024 * 1024) },
      { name: 'min.insync.replicas', value: '2' },
    ])
  })
})

describe('topicReplicationOf', () => {
  it('asks for what the configuration sets and nothing else', () => {
    expect(topicReplicationOf({ OPSREVIEW_KAFKA_REPLICATION_FACTOR: undefined, OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: undefined })).toEqual({})
    expect(topicReplicationOf({ OPSREVIEW_KAFKA_REPLICATION_FACTOR: 3, OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: undefined })).toEqual({ replicationFactor: 3 })
    expect(topicReplicationOf({ OPSREVIEW_KAFKA_REPLICATION_FACTOR: 3, OPSREVIEW_KAFKA_MIN_INSYNC_REPLICAS: 2 })).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 })
  })
})
