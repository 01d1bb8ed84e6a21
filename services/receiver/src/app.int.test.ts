import { onTestFinished, describe, expect, it } from 'vitest'
import { captureLogs, connectedAdmin, createReadyTopics, createTopics, fixture, kafkaClient, readTopicToEnd, readTopicUntil, uniqueName } from '@opsreview/testing'
import type { AlertEvent } from '@opsreview/schemas'
import type { DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import { receiverOnKafka } from './test-receiver.ts'

const TOKEN = 'test-token-1'

async function startReceiver(opts: { bodyLimit?: number; alertsMaxMessageBytes?: number } = {}) {
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  const topics = { alerts: uniqueName('alerts'), rejected: uniqueName('rejected') }
  if (opts.alertsMaxMessageBytes) {
    // A topic that takes less than an event: the broker itself refuses the record.
    await createReadyTopics(admin, [{ topic: topics.alerts, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: String(opts.alertsMaxMessageBytes) }] }])
    onTestFinished(async () => { await admin.deleteTopics({ topics: [topics.alerts] }).catch(() => undefined) })
    await createTopics(admin, [topics.rejected])
  } else {
    await createTopics(admin, [topics.alerts, topics.rejected])
  }
  const { logger, lines } = captureLogs()
  const { url, spool } = await receiverOnKafka(kafka, topics, { logger, tokens: ['old-token', TOKEN], bodyLimit: opts.bodyLimit })
  return { url, kafka, admin, topics, lines, spool }
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
    // Right at the answer, no waiting: the broker already holds both records.
    const ends = await r.admin.fetchTopicOffsets(r.topics.alerts)
    expect(ends.reduce((sum, p) => sum + Number(p.high), 0)).toBe(2)
    expect(await res.json()).toEqual({ accepted: 2, published: 2, truncatedAlerts: 1, rejected: [], rejectedTotal: 0 })
    const got = await readTopicToEnd(r.kafka, r.topics.alerts)
    expect(got).toHaveLength(2)
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
    // A marker of three alerts published after the redelivery. The receiver answers after the ack, so once
    // it has answered the whole topic, every partition, holds whatever the redelivery wrote.
    const marker = await post(`${r.url}/webhooks/alertmanager`, fixture('alertmanager/am-resolved.json'))
    expect(await marker.json()).toMatchObject({ accepted: 3, published: 3 })
    const got = await readTopicToEnd(r.kafka, r.topics.alerts)
    expect(got).toHaveLength(5)
    const ids = events(got).map((e) => e.id)
    expect(new Set(ids).size).toBe(5)
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
    // Counted by source once Kafka acknowledged them, as Alertmanager's are.
    const metrics = await (await fetch(`${r.url}/metrics`)).text()
    expect(metrics).toMatch(/^opsreview_receiver_events_published_total\{source="pingdom"\} 2$/m)
    expect(metrics).toMatch(/^opsreview_receiver_events_published_total\{source="report"\} 1$/m)
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

  it('refuses bad alerts alone and bad bodies with problem+json naming the fields, and dead-letters both', async () => {
    const r = await startReceiver({ bodyLimit: 4096 })
    const badAlert = await post(`${r.url}/webhooks/alertmanager`, { version: '4', status: 'firing', receiver: 'x', groupKey: 'g', alerts: [{ status: 'burning', labels: {} }] })
    // Its only alert refused: nothing of the notification could be used, a 4xx naming the fields.
    expect(badAlert.status).toBe(422)
    expect(badAlert.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    const refused = await badAlert.json() as { code: string; errors: { path: string }[]; accepted: number; rejected: { index: number; errors: { path: string }[] }[] }
    expect(refused.code).toBe('ALERTS_REFUSED')
    expect(refused.errors.map((e) => e.path).sort()).toEqual(['/alerts/0/labels/alertname', '/alerts/0/startsAt', '/alerts/0/status'])
    expect(refused.accepted).toBe(0)
    expect(refused.rejected[0]!.errors.map((e) => e.path).sort()).toEqual(['/alerts/0/labels/alertname', '/alerts/0/startsAt', '/alerts/0/status'])

    const invalid = await post(`${r.url}/webhooks/alertmanager`, { version: '4', status: 'firing', groupKey: 'g', alerts: 'none' })
    expect(invalid.status).toBe(400)
    const problem = await invalid.json() as { errors: { path: string }[]; code: string }
    expect(problem.code).toBe('VALIDATION_FAILED')
    expect(problem.errors.map((e) => e.path).sort()).toEqual(['/alerts', '/receiver'])

    const notJson = await post(`${r.url}/webhooks/alertmanager`, '{"version":')
    expect(notJson.status).toBe(400)
    expect((await notJson.json() as { code: string }).code).toBe('INVALID_JSON')

    const wrongType = await post(`${r.url}/webhooks/pingdom`, 'a=b', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(wrongType.status).toBe(415)

    const tooLarge = await post(`${r.url}/api/v1/reports`, { kind: 'manual', service: 's', title: 'x'.repeat(5000), reportedBy: 'me' })
    expect(tooLarge.status).toBe(413)

    const dead = await readTopicUntil(r.kafka, r.topics.rejected, (m) => m.length >= 5)
    const letters = dead.map((m) => JSON.parse(m.value) as DeadLetterEnvelope)
    expect(letters.map((d) => d.reason).sort()).toEqual(['invalid-json', 'payload-too-large', 'schema-invalid', 'schema-invalid', 'unsupported-media-type'])
    expect(letters.every((d) => d.stage === 'receiver')).toBe(true)
    const perAlert = letters.find((d) => d.detail?.index === 0)
    expect(perAlert?.replay).toMatchObject({ kind: 'webhook', path: '/webhooks/alertmanager', body: expect.stringContaining('burning') })
    expect(JSON.stringify(letters)).not.toContain(TOKEN)

    const metrics = await (await fetch(`${r.url}/metrics`)).text()
    expect(metrics).toMatch(/opsreview_receiver_rejections_total\{source="alertmanager",reason="schema-invalid"\} 1/)
    expect(metrics).toMatch(/opsreview_receiver_rejected_events_total\{source="alertmanager",reason="schema-invalid"\} 1/)
  })

  it('never dead-letters a 401', async () => {
    const r = await startReceiver()
    const denied = await post(`${r.url}/webhooks/alertmanager`, fixture('alertmanager/am-resolved.json'), { authorization: 'Bearer nope' })
    expect(denied.status).toBe(401)
    // A marker refusal after the 401. A refused body's dead letter is sent after the answer, not before,
    // so wait until the marker is on the topic: a letter sent before it would be acknowledged by then, on
    // whichever partition. Then read every partition to its end.
    expect((await post(`${r.url}/webhooks/alertmanager`, '{')).status).toBe(400)
    await readTopicUntil(r.kafka, r.topics.rejected, (m) => m.some((d) => (JSON.parse(d.value) as DeadLetterEnvelope).reason === 'invalid-json'))
    const dead = await readTopicToEnd(r.kafka, r.topics.rejected)
    expect(dead.map((m) => (JSON.parse(m.value) as DeadLetterEnvelope).reason)).toEqual(['invalid-json'])
  })

  it('cuts the body of a refused alert too large for its dead letter at a whole character, never inside a surrogate pair', async () => {
    const r = await startReceiver({ bodyLimit: 4 * 1024 * 1024 })
    // 150,000 emoji (4 UTF-8 bytes, 2 UTF-16 units each) make a letter over 512 KiB: its body is halved until it
    // fits. The text after them moves where the half falls, so that some of these cut the run of emoji at an odd unit.
    const tails = ['z', 'zz', 'zzz', 'zzzz']
    for (const tail of tails) {
      const alert = { status: 'burning', labels: { alertname: 'Emoji', service: 'db' }, annotations: { description: '\u{1F600}'.repeat(150_000), tail }, startsAt: '2026-11-28T20:00:00Z', fingerprint: `emoji-${tail}` }
      const res = await post(`${r.url}/webhooks/alertmanager`, { version: '4', status: 'firing', receiver: 'r', groupKey: 'g', alerts: [alert] })
      expect(res.status, tail).toBe(422)
    }
    const letters = await readTopicUntil(r.kafka, r.topics.rejected, (m) => m.length >= tails.length)
    for (const letter of letters) {
      // Written as JSON text: a lone surrogate would be the escape `\ud83d`, read back as U+FFFD by every decoder.
      expect(letter.value).not.toMatch(/\\ud[89ab]/i)
      const envelope = JSON.parse(letter.value) as DeadLetterEnvelope
      const head = String(envelope.detail?.bodyHead)
      expect(envelope.detail).toMatchObject({ bodyTruncated: true })
      expect(envelope.replay).toBeUndefined()
      expect(head.length).toBeGreaterThan(100_000)
      expect(head.isWellFormed()).toBe(true)
      expect(head.endsWith('\u{1F600}')).toBe(true)
    }
  })

  it('dead-letters an event the broker refuses as too large, and publishes the rest of the webhook', async () => {
    const r = await startReceiver({ alertsMaxMessageBytes: 4096 })
    const alert = (fp: string, description = 'short') => ({
      status: 'firing', labels: { alertname: 'Disk', service: 'db' }, annotations: { description }, startsAt: '2026-11-28T20:00:00Z', fingerprint: fp,
    })
    const res = await post(`${r.url}/webhooks/alertmanager`, { version: '4', status: 'firing', receiver: 'r', groupKey: 'g', alerts: [alert('small-1'), alert('large', 'x'.repeat(6000)), alert('small-2')] })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 2, published: 2, rejected: [{ index: 1, reason: 'record-too-large' }] })
    // At least once: the broker may have appended a refused request's other records before the resend.
    const got = await readTopicUntil(r.kafka, r.topics.alerts, (m) => new Set(events(m).map((e) => e.fingerprint)).size >= 2)
    expect([...new Set(events(got).map((e) => e.fingerprint))].sort()).toEqual(['small-1', 'small-2'])
    const dead = await readTopicUntil(r.kafka, r.topics.rejected, (m) => m.length >= 1)
    expect(JSON.parse(dead[0]!.value)).toMatchObject({ stage: 'receiver', reason: 'record-too-large', detail: { index: 1 } })
    // The publisher replaced its producer after the refusal: the next webhook goes through.
    expect((await post(`${r.url}/webhooks/alertmanager`, { version: '4', status: 'firing', receiver: 'r', groupKey: 'g', alerts: [alert('after')] })).status).toBe(200)
  })
})
