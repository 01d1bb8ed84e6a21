import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Partitioners, type PartitionMetadata } from 'kafkajs'
import { PartitionCounts, partitionOf, type MetadataAdmin } from './partitions.ts'

describe('partitionOf', () => {
  it('puts a keyed message where kafkajs\'s default partitioner does with the topic\'s metadata, leaders down or not', () => {
    const partitioner = Partitioners.DefaultPartitioner()
    fc.assert(fc.property(fc.oneof(fc.string(), fc.uint8Array().map((a) => Buffer.from(a))), fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), (key, up) => {
      const partitionMetadata: PartitionMetadata[] = up.map((leaderUp, partitionId) => ({ partitionId, leader: leaderUp ? 1 : -1, replicas: [1], isr: [1], partitionErrorCode: 0 }))
      expect(partitionOf('t', { key }, up.length)).toBe(partitioner({ topic: 't', partitionMetadata, message: { key, value: null } }))
    }))
  })

  it('keeps a partition the message names, and gives a keyless one a partition of the topic', () => {
    expect(partitionOf('t', { key: 'k', partition: 4 }, 6)).toBe(4)
    for (let i = 0; i < 20; i++) expect(partitionOf('t', { key: null }, 3)).toBeLessThan(3)
  })
})

describe('PartitionCounts', () => {
  function admins(answers: (() => Promise<number>)[]) {
    const made: string[] = []
    const createAdmin = (): MetadataAdmin => {
      made.push('admin')
      return {
        connect: async () => undefined,
        disconnect: async () => { made.push('disconnect') },
        fetchTopicMetadata: async ({ topics }: { topics: string[] }) => {
          const count = await answers.shift()!()
          return { topics: topics.map((name) => ({ name, partitions: Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 })) })) }
        },
      } as unknown as MetadataAdmin
    }
    return { made, createAdmin }
  }
  const down = () => Promise.reject(Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError' }))

  it('reads a count once, again in the background once it is old, and keeps the old one while a read fails or hangs', async () => {
    let now = 0
    let hang: (n: number) => void = () => undefined
    const { made, createAdmin } = admins([async () => 6, down, () => new Promise<number>((resolve) => { hang = resolve })])
    const counts = new PartitionCounts(createAdmin, { maxAgeMs: 1000, timeoutMs: 50, now: () => now })
    expect(await counts.of('alerts')).toBe(6)
    now = 999
    expect(await counts.of('alerts')).toBe(6)
    now = 1000
    // Old: answered at once with what is known, the read failing behind it.
    expect(await counts.of('alerts')).toBe(6)
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(made).toEqual(['admin', 'disconnect'])
    // The failed read is tried again only after another maxAgeMs, on a fresh admin, and a hung one holds nothing up.
    now = 1999
    expect(await counts.of('alerts')).toBe(6)
    now = 2000
    expect(await counts.of('alerts')).toBe(6)
    expect(await counts.of('alerts')).toBe(6)
    hang(12)
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(await counts.of('alerts')).toBe(12)
    expect(made).toEqual(['admin', 'disconnect', 'admin'])
    await counts.close()
  })

  it('reads a topic\'s max.message.bytes with its count, forgets a distrusted one until the next read, and tells once of one Kafka will not describe', async () => {
    let now = 0
    const limits: (() => Promise<string>)[] = [async () => '4096', async () => '2048', () => Promise.reject(Object.assign(new Error('Topic authorization failed'), { type: 'TOPIC_AUTHORIZATION_FAILED' }))]
    const createAdmin = (): MetadataAdmin => ({
      connect: async () => undefined, disconnect: async () => undefined,
      fetchTopicMetadata: async ({ topics }: { topics: string[] }) => ({ topics: topics.map((name) => ({ name, partitions: [{ partitionId: 0 }] })) }),
      describeConfigs: async ({ resources }: { resources: { name: string }[] }) => {
        const configValue = await limits.shift()!()
        return { resources: resources.map(({ name }) => ({ resourceName: name, configEntries: [{ configName: 'max.message.bytes', configValue }] })) }
      },
    }) as unknown as MetadataAdmin
    const unknown: string[] = []
    const counts = new PartitionCounts(createAdmin, { maxAgeMs: 1000, now: () => now, onLimitUnknown: (topic) => unknown.push(topic) })
    expect(counts.maxMessageBytes('alerts')).toBeUndefined()
    await counts.of('alerts')
    expect(counts.maxMessageBytes('alerts')).toBe(4096)
    counts.distrustLimit('alerts')
    expect(counts.maxMessageBytes('alerts')).toBeUndefined()
    now = 1000
    await counts.of('alerts')
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(counts.maxMessageBytes('alerts')).toBe(2048)
    now = 2000
    await counts.of('alerts')
    await new Promise((resolve) => setTimeout(resolve, 5))
    // Not described: unknown, the count still read.
    expect(counts.maxMessageBytes('alerts')).toBeUndefined()
    expect(await counts.of('alerts')).toBe(1)
    limits.push(() => Promise.reject(new Error('again')))
    now = 3000
    await counts.of('alerts')
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(unknown).toEqual(['alerts'])
    await counts.close()
  })

  it('rejects as unavailable a topic never read when Kafka does not answer, in time or at all', async () => {
    const { createAdmin } = admins([down, () => new Promise<number>(() => undefined), async () => 3])
    const counts = new PartitionCounts(createAdmin, { timeoutMs: 50 })
    await expect(counts.of('alerts')).rejects.toMatchObject({ name: 'KafkaJSConnectionError' })
    await expect(counts.of('alerts')).rejects.toMatchObject({ name: 'KafkaUnavailableError', message: expect.stringContaining('within 50 ms') })
    await expect(counts.of('other')).resolves.toBe(3)
  })
})
