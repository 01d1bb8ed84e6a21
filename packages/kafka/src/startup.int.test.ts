import { describe, expect, it } from 'vitest'
import { captureLogs, kafkaClient, uniqueName } from '@opsreview/testing'
import { startKafka } from './startup.ts'
import { alertTopicSpec, ensureTopics } from './topics.ts'

describe('startKafka on the real Kafka', () => {
  it('closes the admin connection of every attempt while the broker refuses to create the topics', async () => {
    const kafka = kafkaClient()
    const { logger, lines } = captureLogs()
    const counts = { connected: 0, disconnected: 0 }
    const ends = new AbortController()
    let waits = 0
    const result = await startKafka({
      createAdmin: () => {
        const admin = kafka.admin()
        admin.on(admin.events.CONNECT, () => { counts.connected++ })
        admin.on(admin.events.DISCONNECT, () => { counts.disconnected++ })
        return admin
      },
      // More copies than the local cluster has brokers: the broker refuses every creation.
      ensureTopics: (admin) => ensureTopics(admin, [alertTopicSpec(uniqueName('startup'), 1)], { replicationFactor: 9 }),
      connectPublisher: async () => { throw new Error('the publisher must wait for the topics') },
      startDraining: () => undefined,
      logger,
      ends: ends.signal,
      sleep: async () => { if (++waits >= 3) ends.abort() },
    })
    expect(result).toBe(false)
    expect(counts).toEqual({ connected: 3, disconnected: 3 })
    const failures = lines.filter((l) => l.step !== undefined)
    expect(failures.map((l) => l.step)).toEqual(['topics', 'topics', 'topics'])
    // The broker's own answer is in the log line, not a guess that Kafka is unreachable.
    expect(JSON.stringify(failures[0]!.err)).toContain('INVALID_REPLICATION_FACTOR')
  })
})
