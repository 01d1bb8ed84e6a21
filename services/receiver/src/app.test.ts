import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import type { DeadLetterEnvelope } from '@opsreview/kafka/dead-letter'
import { DEFAULT_MAX_MESSAGE_BYTES, estimateMessageBytes } from '@opsreview/kafka/publisher'
import { defaultIngestOptions } from '@opsreview/ingest/event'
import { validateAlertEvent, type AlertEvent } from '@opsreview/schemas'
import { captureLogs, fixture, serve } from '@opsreview/testing'
import { SpoolClosedError, SpoolRecordTooLargeError } from '@opsreview/spool'
import { publishSpooled, spoolDeadLetter } from './app.ts'
import { receiverConfigSpec } from './config.ts'
import { fakeReceiver, post, TEST_NOW, TEST_TOPICS } from './test-fakes.ts'

const good = (fp: string, patch: Record<string, unknown> = {}) => ({
  status: 'firing', labels: { alertname: 'HighErrorRate', service: 'checkout' }, startsAt: '2026-11-28T20:00:00Z', fingerprint: fp, ...patch,
})
const webhook = (...alerts: unknown[]) => ({ version: '4', status: 'firing', receiver: 'opsreview', groupKey: '{}:{}', alerts })

type Notification = { alerts: Record<string, unknown>[]; groupKey: string } & Record<string, unknown>

/** A kube-prometheus-stack notification grouped by namespace: `n` alerts of ~1.5 KB, one per node. */
function kubePrometheusStorm(n: number): Notification {
  const one = fixture<Notification>('alertmanager/kube-prometheus-node-filesystem-filling-up.json')
  const alert = one.alerts[0]!
  return { ...one, alerts: Array.from({ length: n }, (_, i) => ({ ...alert, fingerprint: `fp${i}`, labels: { ...(alert.labels as object), instance: `node-${i}:9100` } })) }
}

interface Accepted { accepted: number; published: number; truncatedAlerts: number; rejected: { index: number; reason: string; errors: { path: string; message: string }[] }[] }

describe('receiver app (in-process, fake Kafka)', () => {
  it('is ready only once the topics are set up and the publisher can publish, and says which is missing', async () => {
    let topicsReady = false
    const r = fakeReceiver({ topicsReady: () => topicsReady })
    const url = await serve(r.app)
    const readiness = async () => { const res = await fetch(`${url}/readyz`); return [res.status, (await res.json() as { status: string }).status] }
    expect(await readiness()).toEqual([503, 'kafka topics not set up'])
    topicsReady = true
    expect(await readiness()).toEqual([200, 'ready'])
    r.publisher.ready = false
    expect(await readiness()).toEqual([503, 'kafka unavailable'])
  })

  it('publishes the good alerts of a webhook, dead-letters the bad ones before the 200, and lists them', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const res = await post(`${url}/webhooks/alertmanager`, webhook(
      good('a'),
      good('b', { startsAt: '9999-12-31T23:59:59-23:59' }),
      good('c', { labels: { alertname: 'X', service: 'x'.repeat(40_000) } }),
      good('d', { labels: { alertname: 'X', severity: 'constructor' } }),
      good('e', { startsAt: '2016-12-31T23:59:60Z' }),
    ))
    expect(res.status).toBe(200)
    const body = await res.json() as Accepted
    expect(body).toMatchObject({ accepted: 2, published: 2, truncatedAlerts: 0 })
    expect(body.rejected.map((x) => [x.index, x.reason, x.errors[0]!.path])).toEqual([
      [1, 'schema-invalid', '/alerts/1/startsAt'], [2, 'schema-invalid', '/alerts/2/labels/service'], [4, 'schema-invalid', '/alerts/4/startsAt'],
    ])
    const events = r.publisher.values<AlertEvent>(TEST_TOPICS.alerts)
    expect(events.map((e) => [e.fingerprint, e.severity])).toEqual([['a', 'warning'], ['d', 'warning']])
    for (const e of events) expect(validateAlertEvent(e).ok).toBe(true)
    const letters = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    expect(letters.map((l) => [l.stage, l.reason, l.detail?.index]).sort()).toEqual([['receiver', 'schema-invalid', 1], ['receiver', 'schema-invalid', 2], ['receiver', 'schema-invalid', 4]])
    const replay = letters.find((l) => l.detail?.index === 1)!.replay!
    expect(replay).toMatchObject({ kind: 'webhook', path: '/webhooks/alertmanager' })
    expect(JSON.parse(replay.kind === 'webhook' ? replay.body : '')).toEqual(webhook(good('b', { startsAt: '9999-12-31T23:59:59-23:59' })))
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/opsreview_dead_letters_total\{stage="receiver",reason="schema-invalid"\} 3/)
  })

  it('refuses a notification holding a lone surrogate with a 400 naming it, and publishes nothing', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    // UTF-8 writes it as U+FFFD, Elasticsearch as `?`: taken, `fp\ud800` was the same alert as `fp\ufffd` to the
    // ids and the dedup (the second acknowledged as a copy and never published) and to the index.
    const res = await post(`${url}/webhooks/alertmanager`, webhook(good('fp\ud800'), good('fp\ufffd')))
    expect(res.status).toBe(400)
    expect((await res.json() as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['/alerts/0/fingerprint'])
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts)).toEqual([])
  })

  it('replays a dead-lettered alert through a receiver whose bounds were widened', async () => {
    const strict = fakeReceiver()
    const res = await post(`${await serve(strict.app)}/webhooks/alertmanager`, webhook(good('old', { startsAt: '2020-01-01T00:00:00Z' }), good('new')))
    expect((await res.json() as Accepted).rejected).toMatchObject([{ index: 0, reason: 'event-invalid', errors: [{ path: '/alerts/0/startsAt' }] }])
    const [letter] = strict.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    const wide = fakeReceiver({ ingest: { ...defaultIngestOptions, maxEventAgeMs: 10 * 365 * 86_400_000 } })
    const replay = letter!.replay!
    if (replay.kind !== 'webhook') throw new Error('expected a webhook replay')
    const again = await post(`${await serve(wide.app)}${replay.path}`, replay.body)
    expect(await again.json()).toMatchObject({ accepted: 1, published: 1, rejected: [] })
    expect(wide.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.fingerprint)).toEqual(['old'])
  })

  it('dead-letters an event Kafka refuses as record-too-large, and still publishes the others', async () => {
    const r = fakeReceiver()
    r.publisher.refuse = (topic, m) => topic === TEST_TOPICS.alerts && String(m.key).endsWith(':huge')
    const res = await post(`${await serve(r.app)}/webhooks/alertmanager`, webhook(good('a'), good('huge'), good('c')))
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 2, published: 2, rejected: [{ index: 1, reason: 'record-too-large', errors: [{ path: '/alerts/1' }] }] })
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.fingerprint)).toEqual(['a', 'c'])
    expect(r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toMatchObject([{ stage: 'receiver', reason: 'record-too-large', detail: { index: 1 } }])
  })

  it('answers 503 when the dead letters of refused alerts are not acknowledged', async () => {
    const r = fakeReceiver()
    r.publisher.downTopics.add(TEST_TOPICS.rejected)
    const res = await post(`${await serve(r.app)}/webhooks/alertmanager`, webhook(good('a'), good('b', { startsAt: 'yesterday' })))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
  })

  it('dead-letters a refused alert once although the notification is retried after a 503', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const notification = webhook(good('a'), good('b', { startsAt: 'yesterday' }))
    r.publisher.downTopics.add(TEST_TOPICS.alerts)
    expect((await post(`${url}/webhooks/alertmanager`, notification)).status).toBe(503)
    r.publisher.downTopics.clear()
    expect(await (await post(`${url}/webhooks/alertmanager`, notification)).json()).toMatchObject({ published: 1, rejected: [{ index: 1 }] })
    expect(r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toMatchObject([{ reason: 'schema-invalid', detail: { index: 1 } }])
    // Another alert refused in the same notification is a dead letter of its own.
    await post(`${url}/webhooks/alertmanager`, webhook(good('a'), good('c', { startsAt: 'tomorrow' })))
    expect(r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected).map((l) => l.detail?.index)).toEqual([1, 1])
    expect(r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toHaveLength(2)
  })

  it('dead-letters every request refused whole, although those refused unread have the same empty replay', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    for (let i = 0; i < 2; i++) expect((await post(`${url}/webhooks/alertmanager`, '{}', { 'content-type': 'text/plain' })).status).toBe(415)
    expect(r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toHaveLength(2)
  })

  it('answers 503 while Kafka is down, and 200 to the retries without publishing twice', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const notification = webhook(good('a'), good('b'))
    r.publisher.down = true
    expect((await post(`${url}/webhooks/alertmanager`, notification)).status).toBe(503)
    expect(r.publisher.values(TEST_TOPICS.alerts)).toEqual([])
    // Kafka is back but does not acknowledge 'b' this time: 'a' is published, the answer is still a 503.
    r.publisher.down = false
    r.publisher.unacknowledged = (topic, m) => topic === TEST_TOPICS.alerts && String(m.key).endsWith(':b')
    expect((await post(`${url}/webhooks/alertmanager`, notification)).status).toBe(503)
    r.publisher.unacknowledged = () => false
    expect(await (await post(`${url}/webhooks/alertmanager`, notification)).json()).toMatchObject({ published: 1 })
    // A retry of a notification answered 200 (the answer lost on the way) publishes nothing.
    expect(await (await post(`${url}/webhooks/alertmanager`, notification)).json()).toMatchObject({ published: 0 })
    const ids = r.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.id)
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.fingerprint)).toEqual(['a', 'b'])
    expect(new Set(ids).size).toBe(2)
  })

  it('answers 503 when only some events were acknowledged, and the retry publishes only the rest', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const notification = webhook(good('a'), good('b'), good('c'))
    r.publisher.unacknowledged = (topic, m) => topic === TEST_TOPICS.alerts && String(m.key).endsWith(':b')
    const first = await post(`${url}/webhooks/alertmanager`, notification)
    expect(first.status).toBe(503)
    expect(first.headers.get('retry-after')).toBe('5')
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.fingerprint)).toEqual(['a', 'c'])
    r.publisher.unacknowledged = () => false
    const retry = await post(`${url}/webhooks/alertmanager`, notification)
    expect(retry.status).toBe(200)
    expect(await retry.json()).toMatchObject({ accepted: 3, published: 1, rejected: [] })
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.fingerprint)).toEqual(['a', 'c', 'b'])
  })

  it('lists the first 20 failing fields of a refused body, each a real one, and counts the rest, in the answer and the dead letter', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const unknown = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`extra${i}`, i]))
    const res = await post(`${url}/api/v1/reports`, { kind: 'manual', service: 's', title: 't', reportedBy: 'me', ...unknown })
    expect(res.status).toBe(400)
    const body = await res.json() as { errors: { path: string; message: string }[]; errorsOmitted: number }
    expect(body.errors).toHaveLength(20)
    expect(body.errorsOmitted).toBe(10)
    expect(body.errors.every((e) => /^must NOT have additional properties/.test(e.message))).toBe(true)
    await expect.poll(() => r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected).map((l) => [l.detail?.errorsOmitted, (l.detail?.errors as unknown[]).length])).toEqual([[10, 20]])
  })

  it('counts the failing fields left out of a refused alert, in a 200\'s rejected list and in a 422 of every alert', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const noisy = (fp: string) => good(fp, { labels: { alertname: 'X', ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`l${i}`, i])) } })
    const partly = await post(`${url}/webhooks/alertmanager`, webhook(good('a'), noisy('b')))
    expect(partly.status).toBe(200)
    const refused = (await partly.json() as { rejected: { errors: unknown[]; errorsOmitted?: number }[] }).rejected
    expect(refused.map((x) => [x.errors.length, x.errorsOmitted])).toEqual([[20, 10]])
    const none = await post(`${url}/webhooks/alertmanager`, webhook(noisy('c'), noisy('d')))
    expect(none.status).toBe(422)
    const body = await none.json() as { errors: unknown[]; errorsOmitted: number; rejected: { errorsOmitted?: number }[] }
    // 60 failing fields in all: 20 listed, 40 counted (not the 20 + 20 the two cut lists hold).
    expect([body.errors.length, body.errorsOmitted, body.rejected.map((x) => x.errorsOmitted)]).toEqual([20, 40, [10, 10]])
  })

  it('drains spooled records to the alerts topic configured now, not the one they were written under', async () => {
    // Written before OPSREVIEW_TOPIC_ALERTS changed (or its topic was deleted): that topic never takes them.
    const r = fakeReceiver()
    await publishSpooled(r.publisher, TEST_TOPICS.alerts, r.metrics)([
      { topic: 'opsreview.alerts.old', key: 'a', value: JSON.stringify({ n: 1 }) }, { topic: TEST_TOPICS.alerts, key: 'b', value: JSON.stringify({ n: 2 }) },
    ])
    expect(r.publisher.values<{ n: number }>(TEST_TOPICS.alerts)).toEqual([{ n: 1 }, { n: 2 }])
    expect(r.publisher.values('opsreview.alerts.old')).toEqual([])
  })

  it('validates Pingdom and reports before spooling, refusing them with the failing field', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const down = fixture<Record<string, unknown>>('pingdom/pingdom-http-down.json')
    const future = await post(`${url}/webhooks/pingdom`, { ...down, state_changed_timestamp: 1e15 })
    expect(future.status).toBe(400)
    expect(await future.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path: '/state_changed_timestamp' }] })
    const report = await post(`${url}/api/v1/reports`, { kind: 'manual', service: 's', title: 't', reportedBy: 'me', occurredAt: '2026-11-28T21:00:00+01' })
    expect(await report.json()).toMatchObject({ errors: [{ path: '/occurredAt' }] })
    const badService = await post(`${url}/api/v1/reports`, { kind: 'manual', service: 'shop\u0000api', title: 't', reportedBy: 'me' })
    expect(badService.status).toBe(400)
    expect(await badService.json()).toMatchObject({ errors: [{ path: '/service', message: 'must not be blank or hold control characters' }] })
    expect(r.spool.records).toEqual([])
    expect((await post(`${url}/webhooks/pingdom`, down)).status).toBe(202)
    expect(r.spool.records).toHaveLength(1)
    await expect.poll(() => r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected).map((l) => l.reason)).toEqual(['schema-invalid', 'schema-invalid', 'schema-invalid'])
  })

  it('refuses a Pingdom message or a report naming a field twice with a 400 naming it, and spools nothing', async () => {
    // JSON.parse keeps the last copy: a DOWN that also said UP was spooled as a resolve, a report marked info
    // and then critical filed as critical, neither saying which was meant.
    const r = fakeReceiver()
    const url = await serve(r.app)
    const down = { ...fixture<Record<string, unknown>>('pingdom/pingdom-http-down.json'), current_state: 'UP' }
    const pingdom = await post(`${url}/webhooks/pingdom`, JSON.stringify(down).replace('"current_state":"UP"', '"current_state":"DOWN","current_state":"UP"'))
    expect(pingdom.status).toBe(400)
    expect(await pingdom.json()).toMatchObject({ errors: [{ path: '/current_state', message: 'must be given once: an object holds this member more than once' }] })
    const report = await post(`${url}/api/v1/reports`, '{"kind":"manual","service":"s","title":"t","reportedBy":"me","severity":"info","severity":"critical"}')
    expect(report.status).toBe(400)
    expect(await report.json()).toMatchObject({ errors: [{ path: '/severity' }] })
    expect(r.spool.records).toEqual([])
  })

  it('counts 401s, logs them at a bounded rate, and never dead-letters them', async () => {
    const { logger, lines } = captureLogs()
    const r = fakeReceiver({ logger })
    const url = await serve(r.app)
    for (let i = 0; i < 5; i++) expect((await post(`${url}/webhooks/alertmanager`, webhook(good('a')), { authorization: 'Bearer nope' })).status).toBe(401)
    expect(r.publisher.sent.size).toBe(0)
    expect(lines.filter((l) => l.msg === 'unauthorized request')).toHaveLength(1)
    expect(lines.filter((l) => l.status === 401)).toEqual([])
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/opsreview_receiver_unauthorized_total\{source="alertmanager"\} 5/)
  })

  it('counts truncated alerts without a label the sender chooses', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    await post(`${url}/webhooks/alertmanager`, { ...webhook(good('a')), receiver: 'x'.repeat(200), truncatedAlerts: 4 })
    const text = await (await fetch(`${url}/metrics`)).text()
    expect(text).toMatch(/^opsreview_receiver_truncated_alerts_total 4$/m)
    expect(text).not.toContain('x'.repeat(200))
  })

  it('refuses bodies bad as a whole with a 4xx naming the field, and sets the security headers', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const cases: [string, RequestInit['body'], Record<string, string>, number][] = [
      ['deep', '['.repeat(100_000) + ']'.repeat(100_000), {}, 400],
      ['corrupt gzip', Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }, 400],
      ['truncated gzip', gzipSync(JSON.stringify(webhook(good('a')))).subarray(0, 20), { 'content-encoding': 'gzip' }, 400],
      ['corrupt br', Buffer.from([0xff, 0xff, 0xff]), { 'content-encoding': 'br' }, 400],
      ['unknown encoding', Buffer.from('{}'), { 'content-encoding': 'compress' }, 415],
      ['not json', '{"version":', {}, 400],
      ['form', 'a=b', { 'content-type': 'application/x-www-form-urlencoded' }, 415],
    ]
    for (const [what, body, headers, status] of cases) {
      const res = await post(`${url}/webhooks/alertmanager`, body, headers)
      expect(res.status, what).toBe(status)
      expect(res.headers.get('content-type'), what).toMatch(/application\/problem\+json/)
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      const problem = await res.json() as { errors?: { path: string }[] }
      expect(problem.errors?.[0]?.path, what).toEqual(expect.any(String))
    }
    const ok = await post(`${url}/webhooks/alertmanager`, gzipSync(JSON.stringify(webhook(good('a')))), { 'content-encoding': 'gzip' })
    expect(ok.status).toBe(200)
  })

  it('takes a storm of 800 kube-prometheus alerts in one notification (1.2 MB) with the default body limit', async () => {
    const config = readConfig(receiverConfigSpec, { OPSREVIEW_INGEST_TOKENS: 't' })
    if (!config.ok) throw new Error(config.errors.join('\n'))
    const r = fakeReceiver({ bodyLimit: config.value.OPSREVIEW_BODY_LIMIT })
    const storm = kubePrometheusStorm(800)
    expect(Buffer.byteLength(JSON.stringify(storm))).toBeGreaterThan(1024 * 1024)
    const res = await post(`${await serve(r.app)}/webhooks/alertmanager`, storm)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 800, published: 800, rejected: [] })
  })

  it('refuses a notification over the body limit with a 413, its dead letter giving the declared size of the body it did not read', async () => {
    const r = fakeReceiver({ bodyLimit: 1024 * 1024 })
    const body = JSON.stringify(kubePrometheusStorm(800))
    const res = await post(`${await serve(r.app)}/webhooks/alertmanager`, body)
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', errors: [{ path: '/', message: 'must not exceed 1048576 bytes' }] })
    expect(r.publisher.values(TEST_TOPICS.alerts)).toEqual([])
    await expect.poll(() => r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toMatchObject([{
      reason: 'payload-too-large', detail: { status: 413, bodyBytes: 0, contentLength: Buffer.byteLength(body) },
    }])
    // Nothing was read, so there is nothing to send again (until 2026-12-06 an empty body was its replay).
    const [letter] = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    expect(letter).not.toHaveProperty('replay')
    expect(letter!.detail).not.toHaveProperty('bodyHead')
  })

  it('keeps a refused body over 16 KiB as its head to read, not as a replay that would fail as invalid JSON', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const long = { ...webhook(good('a')), version: '3', commonLabels: { note: 'x'.repeat(20_000) } }
    expect((await post(`${url}/webhooks/alertmanager`, long)).status).toBe(400)
    const short = { ...webhook(good('a')), version: '3' }
    expect((await post(`${url}/webhooks/alertmanager`, short)).status).toBe(400)
    await expect.poll(() => r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toHaveLength(2)
    const [cut, whole] = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected).sort((a, b) => Number(b.detail!.bodyBytes) - Number(a.detail!.bodyBytes))
    expect(cut).toMatchObject({ reason: 'schema-invalid', detail: { bodyTruncated: true, bodyBytes: Buffer.byteLength(JSON.stringify(long)) } })
    expect(cut).not.toHaveProperty('replay')
    expect(JSON.stringify(long).startsWith(String(cut!.detail!.bodyHead))).toBe(true)
    expect(String(cut!.detail!.bodyHead)).toHaveLength(16 * 1024)
    expect(whole).toMatchObject({ reason: 'schema-invalid', detail: { bodyTruncated: false }, replay: { kind: 'webhook', path: '/webhooks/alertmanager', body: JSON.stringify(short) } })
  })

  it('keeps a body that is not UTF-8 as its head, never as a replay that would send it again changed', async () => {
    const r = fakeReceiver()
    const text = JSON.stringify(webhook(good('a', { labels: { alertname: 'X', service: 'caf@' } })))
    const latin1 = Buffer.from(text, 'latin1')
    latin1[latin1.indexOf('@'.charCodeAt(0))] = 0xe9
    expect((await post(`${await serve(r.app)}/webhooks/alertmanager`, latin1)).status).toBe(400)
    await expect.poll(() => r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toHaveLength(1)
    const [letter] = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    // Until 2026-12-06 its replay read "caf\ufffd", which a replay published as the alert's service.
    expect(letter).toMatchObject({ reason: 'bad-request', detail: { bodyBytes: latin1.length, bodyTruncated: false } })
    expect(letter).not.toHaveProperty('replay')
    expect(String(letter!.detail!.bodyHead)).toContain('"service":"caf\ufffd"')
  })

  it('sends a letter without a replay that Kafka refuses once more, smaller, not saying a replay was dropped', async () => {
    const r = fakeReceiver()
    r.publisher.maxMessageBytes = 4096
    const long = { ...webhook(good('a')), version: '3', commonLabels: { note: 'x'.repeat(20_000) } }
    expect((await post(`${await serve(r.app)}/webhooks/alertmanager`, long)).status).toBe(400)
    await expect.poll(() => r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toHaveLength(1)
    const [letter] = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    expect(letter).toMatchObject({ reason: 'schema-invalid', detail: { bodyTruncated: true, detailDropped: true, refused: expect.stringContaining('Kafka will not take') } })
    expect(letter!.detail).not.toHaveProperty('replayDropped')
  })

  it('cuts a body\'s head at a whole character', async () => {
    const r = fakeReceiver()
    // Two-byte characters from an odd offset: byte 16,384 falls inside one.
    const body = { ...webhook(good('a')), version: '3', commonLabels: { note: `x${'\u00e9'.repeat(10_000)}` } }
    expect((await post(`${await serve(r.app)}/webhooks/alertmanager`, body)).status).toBe(400)
    await expect.poll(() => r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toHaveLength(1)
    const head = String(r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)[0]!.detail!.bodyHead)
    expect(JSON.stringify(body).startsWith(head)).toBe(true)
    expect(Buffer.byteLength(head)).toBeLessThanOrEqual(16 * 1024)
    expect(Buffer.byteLength(head)).toBeGreaterThan(16 * 1024 - 2)
  })

  it('keeps a Pingdom message and a report to 1 MiB, whatever larger limit a storm\'s notification has', async () => {
    const r = fakeReceiver({ bodyLimit: 16 * 1024 * 1024 })
    const url = await serve(r.app)
    // Over 1 MiB and far under the default 16 MiB: one event is at most 128 KiB, and such a body only costs.
    const down = { ...fixture<Record<string, unknown>>('pingdom/pingdom-http-down.json'), tags: Array.from({ length: 600_000 }, () => 1) }
    const pingdom = await post(`${url}/webhooks/pingdom`, down)
    expect(pingdom.status).toBe(413)
    expect(await pingdom.json()).toMatchObject({ errors: [{ path: '/', message: 'must not exceed 1048576 bytes' }] })
    const report = await post(`${url}/api/v1/reports`, { service: 'checkout', title: 'x', description: 'y'.repeat(1_100_000) })
    expect(report.status).toBe(413)
    // The notification route keeps the default.
    expect((await post(`${url}/webhooks/alertmanager`, JSON.stringify(kubePrometheusStorm(800)))).status).toBe(200)
  })

  it('publishes the alerts of a notification whose group key is longer than 8,192 characters, carrying the key\'s digest', async () => {
    const r = fakeReceiver()
    // group_by: ['...'] puts every label in the key; each label is within its own cap.
    const labels = { alertname: 'BackupFailed', service: 'db', job: 'backup', error: 'x'.repeat(4096), target: 'y'.repeat(4096), instance: 'db-1' }
    const groupKey = `{}:{${Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`
    expect(groupKey.length).toBeGreaterThan(8192)
    const res = await post(`${await serve(r.app)}/webhooks/alertmanager`, { ...webhook(good('f1', { labels })), groupKey })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 1, published: 1, rejected: [] })
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.origin.groupKey)).toEqual([`sha256:${createHash('sha256').update(groupKey).digest('hex')}`])
  })

  it('publishes an alert whose generatorURL is too long for the event, without that link', async () => {
    const r = fakeReceiver()
    const expr = encodeURIComponent(`sum by (job) (rate(http_requests_total{job=~"${Array.from({ length: 400 }, (_, i) => `service-${i}`).join('|')}",code=~"5.."}[5m])) > 0.05`)
    const generatorURL = `http://prometheus:9090/graph?g0.expr=${expr}&g0.tab=1`
    expect(generatorURL.length).toBeGreaterThan(4096)
    const res = await post(`${await serve(r.app)}/webhooks/alertmanager`, webhook(good('f2', { generatorURL })))
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 1, published: 1, rejected: [] })
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts)).toMatchObject([{ fingerprint: 'f2', links: [], origin: { linksLeftOut: ['generator'] } }])
  })

  it('bounds the dead letters of many refused alerts by bytes as well as by count, each refused alert in one letter that replays it', async () => {
    const r = fakeReceiver()
    // 39 KB: a thousand broken alerts beside a 32 KB group key and a 4 KB externalURL, which each letter
    // copied: 37 MB of dead letters until 2026-12-06.
    const alerts = Array.from({ length: 1000 }, () => 1)
    const body = JSON.stringify({ ...webhook(), groupKey: '\u{1F600}'.repeat(8192), externalURL: `http://am/${'a'.repeat(4000)}`, alerts })
    const url = await serve(r.app)
    const res = await post(`${url}/webhooks/alertmanager`, body)
    expect(res.status).toBe(422)
    const answer = await res.json() as Accepted & { rejectedTotal: number }
    expect(answer.rejectedTotal).toBe(1000)
    // Each refused alert counted once, whether its letter is its own or shared.
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/opsreview_receiver_rejected_events_total\{source="alertmanager",reason="schema-invalid"\} 1000\n/)
    const messages = r.publisher.sent.get(TEST_TOPICS.rejected) ?? []
    // A MiB of letters one by one, then letters of up to 256 KiB shared by the rest.
    expect(messages.reduce((n, m) => n + Buffer.byteLength(String(m.value)), 0)).toBeLessThan(1.5 * 1024 * 1024)
    const letters = messages.map((m) => JSON.parse(String(m.value)) as DeadLetterEnvelope)
    const own = letters.filter((l) => typeof l.detail?.index === 'number')
    expect(own.length).toBeLessThan(1000)
    expect(answer.rejected.map((x) => x.index)).toEqual(own.map((l) => l.detail!.index))
    const indexesIn = (l: DeadLetterEnvelope) => (typeof l.detail?.index === 'number' ? [l.detail.index] : l.detail!.indexes as number[])
    expect(letters.flatMap(indexesIn).sort((a, b) => a - b)).toEqual(alerts.map((_, i) => i))
    for (const letter of letters) {
      const replay = letter.replay!
      if (replay.kind !== 'webhook') throw new Error('expected a webhook replay')
      expect((JSON.parse(replay.body) as { alerts: unknown[] }).alerts).toEqual(indexesIn(letter).map((i) => alerts[i]))
    }
  })

  it('still publishes the good alerts when more are bad than it dead-letters one by one: the rest share dead letters', async () => {
    const r = fakeReceiver()
    const bad = Array.from({ length: 1005 }, () => 1)
    const res = await post(`${await serve(r.app)}/webhooks/alertmanager`, webhook(good('a'), ...bad, good('z')))
    expect(res.status).toBe(200)
    const body = await res.json() as Accepted & { rejectedTotal: number }
    expect(body).toMatchObject({ accepted: 2, published: 2, rejectedTotal: 1005 })
    expect(body.rejected).toHaveLength(1000)
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.fingerprint)).toEqual(['a', 'z'])
    const letters = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    const shared = letters.filter((l) => Array.isArray(l.detail?.indexes))
    expect(letters).toHaveLength(1000 + shared.length)
    // Every refused alert is in exactly one dead letter, and the shared ones replay as one notification.
    const inShared = shared.flatMap((l) => l.detail!.indexes as number[])
    expect(inShared).toEqual([1001, 1002, 1003, 1004, 1005])
    const replay = shared[0]!.replay!
    expect(replay.kind === 'webhook' && (JSON.parse(replay.body) as { alerts: unknown[] }).alerts).toEqual([1, 1, 1, 1, 1])
  })

  it('shares dead letters by reason, so that a replay by one reason takes all of its alerts', async () => {
    const r = fakeReceiver()
    const old = (i: number) => good(`old${i}`, { startsAt: '2020-01-01T00:00:00Z' })
    const alerts = [...Array.from({ length: 1001 }, () => 1), old(0), 1, old(1), old(2)]
    expect((await post(`${await serve(r.app)}/webhooks/alertmanager`, webhook(good('a'), ...alerts))).status).toBe(200)
    const shared = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected).filter((l) => Array.isArray(l.detail?.indexes))
    // Until 2026-12-06 one letter, schema-invalid, held the event-invalid alerts too.
    expect(shared.map((l) => [l.reason, l.detail!.indexes])).toEqual([
      ['schema-invalid', [1001, 1003]],
      ['event-invalid', [1002, 1004, 1005]],
    ])
    for (const letter of shared) {
      const replay = letter.replay!
      if (replay.kind !== 'webhook') throw new Error('expected a webhook replay')
      expect((JSON.parse(replay.body) as { alerts: unknown[] }).alerts).toEqual((letter.detail!.indexes as number[]).map((i) => alerts[i - 1]))
    }
  })

  // 200,000 alerts validated and written into letters: seconds of CPU, more on a host busy with other suites.
  it('fits the shared dead letters of 49,998 tiny bad alerts under the publisher\'s limit, each replaying its alerts whole', { timeout: 60_000 }, async () => {
    const r = fakeReceiver()
    // Each letter lists its alerts' indexes and holds the alerts escaped again in its replay body: a letter
    // bounded by the alerts' own JSON (2 bytes each here) would be several times the limit. As many as a
    // notification may hold (MAX_ALERTS_PER_NOTIFICATION), with the two good ones.
    const bad = Array.from({ length: 49_998 }, (_, i) => i % 10)
    const alerts = [good('a'), ...bad, good('z')]
    const res = await post(`${await serve(r.app)}/webhooks/alertmanager`, { ...webhook(), alerts })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 2, published: 2, rejectedTotal: 49_998 })
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts).map((e) => e.fingerprint)).toEqual(['a', 'z'])
    const messages = r.publisher.sent.get(TEST_TOPICS.rejected) ?? []
    for (const m of messages) expect(estimateMessageBytes(m)).toBeLessThanOrEqual(DEFAULT_MAX_MESSAGE_BYTES)
    const shared = messages.map((m) => JSON.parse(String(m.value)) as DeadLetterEnvelope).filter((l) => Array.isArray(l.detail?.indexes))
    expect(shared.length).toBeGreaterThan(1)
    const inShared = shared.flatMap((l) => l.detail!.indexes as number[])
    expect(inShared).toEqual(Array.from({ length: 49_998 - 1000 }, (_, i) => 1001 + i))
    for (const letter of shared) {
      expect(letter.detail).not.toHaveProperty('bodyTruncated')
      expect(letter.detail).not.toHaveProperty('replayDropped')
      const replay = letter.replay!
      if (replay.kind !== 'webhook') throw new Error('expected a webhook replay')
      expect((JSON.parse(replay.body) as { alerts: unknown[] }).alerts).toEqual((letter.detail!.indexes as number[]).map((i) => alerts[i]))
    }
  })

  it('answers 200 when Kafka takes a dead letter only in its smallest form, or in no form at all', async () => {
    const { logger, lines } = captureLogs()
    const r = fakeReceiver({ logger })
    // A dead-letter limit far below the receiver's own: a shared letter's indexes alone are over it.
    r.publisher.maxMessageBytes = 4096
    const url = await serve(r.app)
    const res = await post(`${url}/webhooks/alertmanager`, { ...webhook(), alerts: [good('a'), ...Array.from({ length: 3000 }, () => 1)] })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 1, published: 1, rejectedTotal: 3000 })
    const letters = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    expect(letters.filter((l) => typeof l.detail?.index === 'number')).toHaveLength(1000)
    const smallest = letters.filter((l) => l.detail?.detailDropped === true)
    expect(smallest).toMatchObject([{ reason: 'schema-invalid', error: expect.stringContaining('2000 alerts refused (alerts 1001–3000)'), detail: { source: 'alertmanager', replayDropped: expect.any(String) } }])
    expect(smallest[0]).not.toHaveProperty('replay')
    expect(smallest[0]!.detail).not.toHaveProperty('indexes')
    // Kafka will take no form: no retry could change that, so the answer stands and the loss is logged.
    r.publisher.refuse = (topic) => topic === TEST_TOPICS.rejected
    const refusedAll = await post(`${url}/webhooks/alertmanager`, webhook(good('b'), good('c', { startsAt: 'yesterday' })))
    expect(refusedAll.status).toBe(200)
    expect(await refusedAll.json()).toMatchObject({ published: 1, rejected: [{ index: 1 }] })
    expect(lines.filter((l) => l.msg === 'kafka refused every form of a dead letter: it is lost')).toHaveLength(1)
  })

  it('dead-letters what the spool will not publish as an envelope that replays the record', async () => {
    const r = fakeReceiver()
    const deadLetter = spoolDeadLetter(r.publisher, TEST_TOPICS.rejected, r.metrics, () => TEST_NOW)
    await deadLetter({ topic: 'alerts', key: 'pingdom:check-1', value: '{"id":"x"}' }, { code: 'record-rejected', error: 'too large', segment: 3, offset: 120 })
    await deadLetter(undefined, { code: 'corrupt-record', error: 'not JSON', segment: 3, offset: 200, raw: '{"to' })
    expect(r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toEqual([
      { stage: 'receiver', reason: 'record-rejected', error: 'too large', at: TEST_NOW.toISOString(), detail: { spool: { segment: 3, offset: 120 } },
        replay: { kind: 'record', topic: 'alerts', key: 'pingdom:check-1', value: '{"id":"x"}' } },
      { stage: 'receiver', reason: 'corrupt-record', error: 'not JSON', at: TEST_NOW.toISOString(), detail: { spool: { segment: 3, offset: 200 }, raw: '{"to' } },
    ])
    r.publisher.refuse = () => true
    await expect(deadLetter({ topic: 'alerts', key: 'k', value: 'v' }, { code: 'record-too-large', error: 'big', segment: 1, offset: 0 })).rejects.toMatchObject({ retriable: false })
  })

  it('names a field whatever its name, in a refusal and a dead letter Kafka takes: a 200, never a 500', async () => {
    const r = fakeReceiver()
    // Kafka's default max.message.bytes: a dead letter quoting the field name whole would be refused, twice.
    r.publisher.refuse = (_topic, m) => Buffer.byteLength(String(m.value)) > 1_048_588
    const url = await serve(r.app)
    // A label name of 600,000 '/' and a number for its value: its JSON Pointer (each '/' as '~1') is over 1 MB.
    const name = '/'.repeat(600_000)
    const res = await post(`${url}/webhooks/alertmanager`, webhook(good('a'), good('b', { labels: { alertname: 'X', [name]: 1 } })))
    expect(res.status).toBe(200)
    const body = await res.json() as Accepted
    expect(body).toMatchObject({ accepted: 1, published: 1 })
    const [refused] = body.rejected
    expect(refused).toMatchObject({ index: 1, reason: 'schema-invalid' })
    expect(refused!.errors.some((e) => e.path.startsWith('/alerts/1/labels/~1~1'))).toBe(true)
    for (const e of refused!.errors) expect(e.path.length).toBeLessThan(1_000)
    const letters = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    expect(letters.map((l) => l.detail?.index)).toEqual([1])
  })

  it('cuts a long field name at a whole character, in the answer and the dead letter', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    // `/alerts/1/labels/` is 17 units: 512 units of the path end on the first half of an emoji, and 1,000 of the
    // letter's error, which lists both names, in the second one's.
    const name = '\u{1F600}'.repeat(600)
    const res = await post(`${url}/webhooks/alertmanager`, webhook(good('a'), good('b', { labels: { alertname: 'X', [name]: 'v', [`ab${name}`]: 'v' } })))
    expect(res.status).toBe(200)
    const answer = await res.text()
    expect(answer).not.toMatch(/\\ud[89ab]/i)
    const path = (JSON.parse(answer) as Accepted).rejected[0]!.errors.map((e) => e.path).find((p) => p.startsWith('/alerts/1/labels/\u{1F600}'))!
    expect(path).toBe(`/alerts/1/labels/${'\u{1F600}'.repeat(247)}… (1217 characters)`)
    const [letter] = r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)
    expect(letter!.error.isWellFormed()).toBe(true)
    expect(JSON.stringify(letter)).not.toMatch(/\\ud[89ab]/i)
  })

  it('answers a spool that refuses a record with a 413, and a closing spool or a full disk with a 503', async () => {
    const r = fakeReceiver()
    const url = await serve(r.app)
    const down = fixture<Record<string, unknown>>('pingdom/pingdom-http-down.json')
    r.spool.fail = new SpoolRecordTooLargeError(2000, 1000)
    const tooLarge = await post(`${url}/webhooks/pingdom`, down)
    expect(tooLarge.status).toBe(413)
    expect(await tooLarge.json()).toMatchObject({ errors: [{ path: '/' }] })
    r.spool.fail = new SpoolClosedError()
    expect((await post(`${url}/webhooks/pingdom`, down)).status).toBe(503)
    // A full disk: nothing kept, and a retry may find room.
    r.spool.fail = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' })
    const full = await post(`${url}/webhooks/pingdom`, down)
    expect(full.status).toBe(503)
    expect(full.headers.get('retry-after')).toMatch(/^\d+$/)
  })

  it('publishes an alert once when copies arrive together, in racing requests or in one notification', async () => {
    const r = fakeReceiver()
    r.publisher.delayMs = 50
    const url = await serve(r.app)
    const [a, b] = await Promise.all([post(`${url}/webhooks/alertmanager`, webhook(good('same'))), post(`${url}/webhooks/alertmanager`, webhook(good('same'), good('same')))])
    const answers = [await a.json(), await b.json()] as Accepted[]
    expect([a.status, b.status]).toEqual([200, 200])
    expect(answers.map((x) => x.published).sort()).toEqual([0, 1])
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts)).toHaveLength(1)
  })

  it('dead-letters a refused alert once when copies of its notification arrive together', async () => {
    const r = fakeReceiver()
    r.publisher.delayMs = 50
    const url = await serve(r.app)
    const notification = webhook(good('a'), good('b', { startsAt: 'yesterday' }))
    const answers = await Promise.all([post(`${url}/webhooks/alertmanager`, notification), post(`${url}/webhooks/alertmanager`, notification)])
    expect(answers.map((x) => x.status)).toEqual([200, 200])
    for (const answer of answers) expect(await answer.json()).toMatchObject({ rejected: [{ index: 1 }] })
    expect(r.publisher.values<AlertEvent>(TEST_TOPICS.alerts)).toHaveLength(1)
    expect(r.publisher.values<DeadLetterEnvelope>(TEST_TOPICS.rejected)).toMatchObject([{ reason: 'schema-invalid', detail: { index: 1 } }])
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/opsreview_dead_letters_total\{stage="receiver",reason="schema-invalid"\} 1$/m)
  })

  it('fails every copy of a refused alert\'s dead letter when the first copy is not acknowledged', async () => {
    const r = fakeReceiver()
    r.publisher.delayMs = 50
    r.publisher.downTopics.add(TEST_TOPICS.rejected)
    const url = await serve(r.app)
    const notification = webhook(good('a'), good('b', { startsAt: 'yesterday' }))
    const statuses = await Promise.all([post(`${url}/webhooks/alertmanager`, notification), post(`${url}/webhooks/alertmanager`, notification)])
    expect(statuses.map((x) => x.status)).toEqual([503, 503])
  })

  it('fails every copy of an alert when the first copy is not acknowledged', async () => {
    const r = fakeReceiver()
    r.publisher.delayMs = 50
    r.publisher.down = true
    const url = await serve(r.app)
    const statuses = await Promise.all([post(`${url}/webhooks/alertmanager`, webhook(good('same'))), post(`${url}/webhooks/alertmanager`, webhook(good('same')))])
    expect(statuses.map((x) => x.status)).toEqual([503, 503])
  })
})
