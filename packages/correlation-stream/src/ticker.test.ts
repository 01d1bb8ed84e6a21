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
})
