import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { onTestFinished, describe, expect, it } from 'vitest'
import { Partitioners } from 'kafkajs'
import { BatchPublisher } from '@opsreview/kafka/publisher'
import { defaultIngestOptions } from '@opsreview/ingest/event'
import { Spool } from '@opsreview/spool'
import { captureLogs, createTopics, fixture, kafkaClient, readTopicUntil, serve, uniqueName } from '@opsreview/testing'
import type { AlertEvent } from '@opsreview/schemas'
import { createReceiverApp, publishSpooled } from './app.ts'
import { createReceiverMetrics } from './metrics.ts'

const TOKEN = 'test-token-1'

async function startReceiver(opts: { bodyLimit?: number } = {}) {
  const kafka = kafkaClient()
  const admin = kafka.admin()
  await admin.connect()
  onTestFinished(() => admin.disconnect())
  const topics = { alerts: uniqueName('alerts'), rejected: uniqueName('rejected') }
  await createTopics(admin, [topics.alerts, topics.rejected])
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const { logger, lines } = captureLogs()
  const publisher = new BatchPublisher({ producer, logger })
  const spool = await Spool.open(await mkdtemp(path.join(os.tmpdir(), 'spool-')), { logger })
  spool.startDraining(publishSpooled(publisher))
  onTestFinished(async () => { await spool.close(); await publisher.close(); await producer.disconnect() })
  const metrics = createReceiverMetrics({ breakerState: () => publisher.breakerState, spoolDepth: () => spool.depth })
  const app = createReceiverApp({
    publisher, spool, logger, metrics, clock: () => new Date('2026-11-28T20:30:00Z'),
    tokens: ['old-token', TOKEN], bodyLimit: opts.bodyLimit ?? 1024 * 1024, topics, ingest: defaultIngestOptions,
  })
  return { url: await serve(app), kafka, topics, lines, spool }
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers } })

const events = (messages: { value: string }[]) => messages.map((m) => JSON.parse(m.value) as AlertEvent)

describe('receiver on the real Kafka', () => {
  it('publishes one event per Alertmanager alert, keyed by alert, and answers after the ack', async () => {
    const r = await startReceiver()
    const payload = fixture<{ alerts: unknown[] }>('alertmanager/am025-mixed-one-resolved-truncated.json')
    const res = await post(`${r.url}/webhooks/alertmanager`, payload)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ accepted: 2, published: 2, truncatedAlerts: 1 })
    const got = await readTopicUntil(r.kafka, r.topics.alerts, (m) => m.length >= 2)
    expect(got.map((m) => m.key).sort()).toEqual(['alertmanager:34fc7e79f23863fc', 'alertmanager:d1a7f99944274c97'])
    expect(events(got).map((e) => e.status).sort()).toEqual(['firing', 'resolved'])
    expect(r.lines.some((l) => l.msg?.toString().includes('dropped alerts') && l.truncatedAlerts === 1)).toBe(true)
  })

  it('publishes a byte-identical redelivery only once', async () => {
    const r = await startReceiver()
    const body = JSON.stringify(fixture('alertmanager/am025-firing-truncated-max-alerts-2.json'))
    expect((await post(`${r.url}/webhooks/alertmanager`, body)).status).toBe(200)
    const again = await post(`${r.url}/webhooks/alertmanager`, body)
    expect(await again.json()).toMatchObject({ accepted: 2, published: 0 })
    // A marker published after the redelivery: once it is read, everything before it has been too.
    await post(`${r.url}/webhooks/alertmanager`, fixture('alertmanager/am-resolved.json'))
    const got = await readTopicUntil(r.kafka, r.topics.alerts, (m) => events(m).some((e) => e.status === 'resolved' && e.service !== 'checkout') && m.length >= 3)
    const ids = events(got).map((e) => e.id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('spools Pingdom and reports, answers 202, and drains them to Kafka in order', async () => {
    const r = await startReceiver()
    const down = await post(`${r.url}/webhooks/pingdom?token=${TOKEN}`, fixture('pingdom/pingdom-http-down.json'), { authorization: '' })
    expect(down.status).toBe(202)
    const up = await post(`${r.url}/webhooks/pingdom?token=${TOKEN}`, fixture('pingdom/pingdom-http-up.json'), { authorization: '' })
    expect(up.status).toBe(202)
    const report = await post(`${r.url}/api/v1/reports`, { kind: 'customer-complaint', service: 'checkout', title: 'Payment fails', reportedBy: 'support' })
    expect(report.status).toBe(202)
    const got = await readTopicUntil(r.kafka, r.topics.alerts, (m) => m.length >= 3)
    const pingdom = events(got).filter((e) => e.source === 'pingdom')
    expect(pingdom.map((e) => e.status)).toEqual(['firing', 'resolved'])
    expect(events(got).find((e) => e.source === 'report')).toMatchObject({ service: 'checkout', severity: 'warning' })
    expect(await r.spool.drained(5000)).toBe(true)
  })

  it.each([
    ['no token', 401, {}],
    ['a wrong token', 401, { authorization: 'Bearer nope' }],
    ['an older token still listed for rotation', 200, { authorization: 'Bearer old-token' }],
  ])('answers a request with %s with %i', async (_name, status, headers) => {
    const r = await startReceiver()
    const res = await post(`${r.url}/webhooks/alertmanager`, fixture('alertmanager/am-resolved.json'), { authorization: '', ...headers })
    expect(res.status).toBe(status)
    if (status === 401) {
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/)
      expect(JSON.stringify(r.lines)).not.toContain('nope')
    }
  })

  it('rejects bad input with problem+json naming the fields, and dead-letters it', async () => {
    const r = await startReceiver({ bodyLimit: 4096 })
    const invalid = await post(`${r.url}/webhooks/alertmanager`, { version: '4', status: 'firing', receiver: 'x', groupKey: 'g', alerts: [{ status: 'burning', labels: {} }] })
    expect(invalid.status).toBe(400)
    const problem = await invalid.json() as { errors: { path: string }[]; code: string }
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors.map((e) => e.path).sort()).toEqual(['/alerts/0/labels/alertname', '/alerts/0/startsAt', '/alerts/0/status'])

    const notJson = await post(`${r.url}/webhooks/alertmanager`, '{"version":')
    expect(notJson.status).toBe(400)
    expect((await notJson.json() as { code: string }).code).toBe('INVALID_JSON')

    const wrongType = await post(`${r.url}/webhooks/pingdom`, 'a=b', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(wrongType.status).toBe(415)

    const tooLarge = await post(`${r.url}/api/v1/reports`, { kind: 'manual', service: 's', title: 'x'.repeat(5000), reportedBy: 'me' })
    expect(tooLarge.status).toBe(413)

    const dead = await readTopicUntil(r.kafka, r.topics.rejected, (m) => m.length >= 4)
    const reasons = dead.map((m) => JSON.parse(m.value) as { reason: string; body: string; source: string })
    expect(reasons.map((d) => d.reason).sort()).toEqual(['invalid_json', 'payload_too_large', 'unsupported_media_type', 'validation_failed'])
    expect(reasons.find((d) => d.reason === 'validation_failed')?.body).toContain('burning')
    expect(JSON.stringify(reasons)).not.toContain(TOKEN)

    const metrics = await (await fetch(`${r.url}/metrics`)).text()
    expect(metrics).toMatch(/opsreview_receiver_rejections_total\{source="alertmanager",reason="validation_failed"\} 1/)
  })
})
