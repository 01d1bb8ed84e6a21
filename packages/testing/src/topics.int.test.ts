import { ConfigResourceTypes } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { connectedAdmin, createReadyTopics, createTopics, kafkaClient, uniqueName } from './index.ts'

describe('test topics on the real Kafka', () => {
  it('keep records stamped at fixed past dates (no time retention), unless the test sets a retention', async () => {
    const admin = await connectedAdmin(kafkaClient())
    const plain = uniqueName('testing-plain')
    const own = uniqueName('testing-own')
    await createTopics(admin, [plain], 1)
    await createReadyTopics(admin, [{ topic: own, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }])
    try {
      const described = await admin.describeConfigs({ resources: [plain, own].map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })), includeSynonyms: false })
      const retention = Object.fromEntries(described.resources.map((r) => [r.resourceName, r.configEntries[0]!.configValue]))
      expect(retention).toEqual({ [plain]: '-1', [own]: '3600000' })
    } finally {
      await admin.deleteTopics({ topics: [own] }).catch(() => undefined)
    }
  })
})
