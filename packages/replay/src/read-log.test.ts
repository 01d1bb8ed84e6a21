import { Kafka, logLevel } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { readLog } from './read-log.ts'

describe('readLog', () => {
  it('fails as UNAVAILABLE (retriable) when no broker answers, once kafkajs has spent its retries', async () => {
    // Port 1 on loopback: nothing listens there, so every connection is refused at once.
    const kafka = new Kafka({ clientId: 'read-log-test', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING, retry: { retries: 1, initialRetryTime: 50 } })
    const read = readLog({ kafka, topics: ['opsreview.alerts.v1'], fromMs: 0, toMs: 1000, groupId: 'read-log-test' }, () => undefined)
    await expect(read).rejects.toMatchObject({ name: 'ReplayError', code: 'UNAVAILABLE', retriable: true, message: expect.stringMatching(/^Kafka is unavailable: Connection error: connect ECONNREFUSED 127\.0\.0\.1:1$/) })
  })
})
