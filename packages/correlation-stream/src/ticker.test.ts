import { describe, expect, it } from 'vitest'
import { captureLogs } from '@opsreview/testing'
import { startTicker } from './ticker.ts'

describe('startTicker', () => {
  it('ticks partitions added after its start once it reads the partitions again, and says when their count is not the one made', async () => {
    let count = 2
    let now = Date.parse('2026-12-05T00:00:00Z')
    const sent: number[][] = []
    const { logger, lines } = captureLogs()
    const ticker = startTicker({
      producer: { send: async ({ messages }) => { sent.push(messages.map((m) => m.partition!)); return [] } },
      admin: { fetchTopicMetadata: async () => ({ topics: [{ name: 'in', partitions: Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 })) }] }) },
      inputTopic: 'in', intervalMs: 3_600_000, clock: () => new Date(now), logger, expectedPartitions: 2, refreshMs: 60_000,
    })
    try {
      await ticker.tick()
      count = 4
      now += 5_000
      await ticker.tick()
      now += 60_000
      await ticker.tick()
    } finally {
      ticker.stop()
    }
    expect(sent).toEqual([[0, 1], [0, 1], [0, 1, 2, 3]])
    expect(lines.filter((l) => l.level === 50).map((l) => [l.partitions, l.expected])).toEqual([[4, 2]])
  })

  it('reads the partitions again a refresh after its last read also when the wall clock jumped back meanwhile (an NTP step)', async () => {
    let count = 2
    let now = Date.parse('2026-12-05T12:00:00Z')
    const sent: number[][] = []
    const { logger } = captureLogs()
    const ticker = startTicker({
      producer: { send: async ({ messages }) => { sent.push(messages.map((m) => m.partition!)); return [] } },
      admin: { fetchTopicMetadata: async () => ({ topics: [{ name: 'in', partitions: Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 })) }] }) },
      inputTopic: 'in', intervalMs: 3_600_000, clock: () => new Date(now), logger, refreshMs: 60_000,
    })
    try {
      await ticker.tick()
      // The clock steps back an hour, then partitions are added; two minutes pass.
      now -= 3_600_000
      count = 4
      for (let i = 0; i < 24; i++) { now += 5_000; await ticker.tick() }
    } finally {
      ticker.stop()
    }
    // Read again within a minute or two of the last read, as the docs promise ("ticked within a minute"), not an hour later.
    expect(sent.at(-1)).toEqual([0, 1, 2, 3])
  })
})
