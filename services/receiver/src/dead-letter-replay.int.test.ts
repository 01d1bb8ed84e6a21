// The receiver and the dead-letter replay together: what the replay counts as replayed must be what the
// receiver took. The replay's own tests stand a fake in for the receiver; this one is the real app.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import { captureLogs, connectedAdmin, createTopics, kafkaClient, readTopicToEnd, readTopicUntil, uniqueName } from '@opsreview/testing'
import { replayCommand } from '@opsreview/dead-letters'
import { receiverOnKafka } from './test-receiver.ts'
import { TEST_NOW } from './test-fakes.ts'

const TOKEN = 'test-token-1'
const HOUR = 3_600_000

describe('dead-letter replay through the real receiver', () => {
  it('reports an alert the receiver still refuses as failed again, not replayed', async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    const topics = { alerts: uniqueName('alerts'), rejected: uniqueName('rejected') }
    await createTopics(admin, [topics.alerts, topics.rejected])
    const { url } = await receiverOnKafka(kafka, topics, { logger: captureLogs().logger, tokens: [TOKEN] })

    const notification = { version: '4', status: 'firing', receiver: 'x', groupKey: 'g', alerts: [{ status: 'burning', labels: {} }] }
    const res = await fetch(`${url}/webhooks/alertmanager`, { method: 'POST', body: JSON.stringify(notification), headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } })
    expect(res.status).toBe(422)
    expect(await res.json()).toMatchObject({ code: 'ALERTS_REFUSED', accepted: 0, rejectedTotal: 1 })
    const [letter] = await readTopicUntil(kafka, topics.rejected, (m) => m.length >= 1)
    expect((JSON.parse(letter!.value) as DeadLetterEnvelope).replay).toMatchObject({ kind: 'webhook', path: '/webhooks/alertmanager' })

    // The envelope's time is the receiver's clock (TEST_NOW); the Kafka record's is now.
    const sinceMs = Math.min(TEST_NOW.getTime(), Date.now()) - HOUR
    const result = await replayCommand(
      { command: 'replay', sinceMs, reasons: ['schema-invalid'], topics: [], dryRun: false, json: false },
      { kafka, logger: pino({ level: 'silent' }), topics: [topics.rejected], receiverUrl: url, ingestToken: TOKEN },
    )
    expect(result.json).toMatchObject({ matched: 1, replayed: 0, failed: 1 })
    expect((result.json as { outcomes: unknown[] }).outcomes[0]).toMatchObject({ outcome: 'failed', retriable: false, status: 422 })
    expect(result.text).toContain('receiver answered 422 (ALERTS_REFUSED: 1 alert(s) refused, none accepted; each is dead-lettered)')
    expect(result.exitCode).toBe(1)
    // Nothing reached the alerts topic.
    expect(await readTopicToEnd(kafka, topics.alerts)).toHaveLength(0)
  })
})
