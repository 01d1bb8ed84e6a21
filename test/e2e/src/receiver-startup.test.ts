import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixture, kafkaClient, readTopicUntil, uniqueName, waitFor } from '@opsreview/testing'
import { freePort, startService } from './processes.ts'

const TOKEN = 'startup-token'

describe('the receiver while its topics cannot be set up', () => {
  it('is not ready, even once a spooled post has connected its producer', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const topics = { alerts: uniqueName('startup-alerts'), rejected: uniqueName('startup-rejected') }
    // More copies than the local broker can hold: every creation is refused, for as long as this is set.
    const receiver = await startService('receiver', {
      OPSREVIEW_TOPIC_ALERTS: topics.alerts, OPSREVIEW_TOPIC_REJECTED: topics.rejected, OPSREVIEW_KAFKA_REPLICATION_FACTOR: '9',
      OPSREVIEW_RECEIVER_PORT: String(port), OPSREVIEW_INGEST_TOKENS: TOKEN, OPSREVIEW_SPOOL_DIR: await mkdtemp(path.join(os.tmpdir(), 'startup-spool-')),
    }, 'receiver listening')
    const post = await fetch(`${url}/webhooks/pingdom?token=${TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fixture('pingdom/pingdom-http-down.json')) })
    expect(post.status).toBe(202)
    // Meanwhile the spool's drain has tried to publish it, which connects the producer on demand.
    await waitFor(() => (receiver.logs.filter((l) => l.step === 'topics').length >= 3 ? true : undefined), { timeoutMs: 30_000, what: 'three failed topic set-ups' })
    const ready = await fetch(`${url}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.json()).toMatchObject({ status: 'kafka topics not set up', spoolDepth: 1 })
    // The post stays in the spool: nothing reached a topic a broker default would have made.
    const admin = kafkaClient().admin()
    await admin.connect()
    try {
      expect(await admin.listTopics()).not.toContain(topics.alerts)
    } finally {
      await admin.disconnect()
    }
    expect(await receiver.stop()).toBe(0)
    expect(receiver.logs.filter((l) => l.msg === 'stopping with alerts still in the spool: the next start publishes them')).toMatchObject([{ level: 'warn', spoolDepth: 1 }])
  })

  it('is ready once the topics are set up, and the spooled post is published', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const topics = { alerts: uniqueName('startup-alerts'), rejected: uniqueName('startup-rejected') }
    await startService('receiver', {
      OPSREVIEW_TOPIC_ALERTS: topics.alerts, OPSREVIEW_TOPIC_REJECTED: topics.rejected,
      OPSREVIEW_RECEIVER_PORT: String(port), OPSREVIEW_INGEST_TOKENS: TOKEN, OPSREVIEW_SPOOL_DIR: await mkdtemp(path.join(os.tmpdir(), 'startup-spool-')),
    }, 'connected to kafka')
    expect((await fetch(`${url}/readyz`)).status).toBe(200)
    const post = await fetch(`${url}/webhooks/pingdom?token=${TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fixture('pingdom/pingdom-http-down.json')) })
    expect(post.status).toBe(202)
    expect(await readTopicUntil(kafkaClient(), topics.alerts, (m) => m.length >= 1)).toHaveLength(1)
  })
})
