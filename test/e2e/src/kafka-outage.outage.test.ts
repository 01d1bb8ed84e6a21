import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createTopics, fixture, kafkaBrokers, kafkaClient, readTopicUntil, uniqueName, waitFor } from '@opsreview/testing'
import { freePort, stack, startAlertmanager, startService } from './processes.ts'

const TOKEN = 'outage-token'

interface Event { id: string; fingerprint: string; status: string; source: string }

/** Makes sure Kafka is back whatever happens in the test, so later tests find it. */
function restoreKafkaAfterTest() {
  onTestFinished(async () => { await stack('start', 'kafka') })
}

async function setup() {
  const kafka = kafkaClient()
  const admin = kafka.admin()
  await admin.connect()
  const topics = { alerts: uniqueName('outage-alerts'), rejected: uniqueName('outage-rejected') }
  await createTopics(admin, Object.values(topics))
  await admin.disconnect()
  const port = await freePort()
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'outage-spool-'))
  const env = {
    OPSREVIEW_KAFKA_BROKERS: kafkaBrokers.join(','), OPSREVIEW_TOPIC_ALERTS: topics.alerts, OPSREVIEW_TOPIC_REJECTED: topics.rejected,
    OPSREVIEW_RECEIVER_PORT: String(port), OPSREVIEW_INGEST_TOKENS: TOKEN, OPSREVIEW_SPOOL_DIR: spoolDir,
  }
  const receiver = await startService('receiver', env, 'connected to kafka')
  return { kafka, topics, url: `http://127.0.0.1:${port}`, env, receiver }
}

const readyStatus = async (url: string) => (await fetch(`${url}/readyz`)).status

describe('no alert is lost while Kafka is down', () => {
  it('Alertmanager retries through a kill -9 of the broker, and every alert it sent reaches Kafka once by id', async () => {
    restoreKafkaAfterTest()
    const r = await setup()
    const am = await startAlertmanager(`${r.url}/webhooks/alertmanager`, TOKEN)
    const fire = async (names: string[]) => {
      const startsAt = new Date(Date.now() - 30_000).toISOString()
      const body = names.map((n) => ({ labels: { alertname: n, service: `svc-${n}`, severity: 'critical' }, startsAt }))
      expect((await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(200)
    }
    const before = ['Before1', 'Before2', 'Before3']
    await fire(before)
    await readTopicUntil(r.kafka, r.topics.alerts, (m) => m.length >= before.length)

    await stack('kill', 'kafka')
    const during = ['During1', 'During2', 'During3', 'During4']
    await fire(during)
    // The receiver refuses with 503 (Alertmanager keeps the notifications and retries) and says it is not ready.
    await waitFor(async () => ((await readyStatus(r.url)) === 503 ? true : undefined), { timeoutMs: 30_000, what: '/readyz to report Kafka unavailable' })
    await waitFor(() => (r.receiver.logs.some((l) => l.status === 503 && l.msg === 'request completed') ? true : undefined), { timeoutMs: 30_000, what: 'a 503 answered to Alertmanager' })

    await stack('start', 'kafka')
    const after = ['After1', 'After2']
    await fire(after)
    const all = [...before, ...during, ...after]
    const messages = await readTopicUntil(r.kafka, r.topics.alerts, (m) => new Set(m.map((x) => (JSON.parse(x.value) as Event).id)).size >= all.length, 120_000)
    const events = messages.map((m) => JSON.parse(m.value) as Event)
    const ids = new Set(events.map((e) => e.id))
    expect(ids.size).toBe(all.length)
    expect(events).toHaveLength(ids.size) // no record twice: retries after a 503 were not already written
    const amAlerts = await (await fetch(`${am.url}/api/v2/alerts`)).json() as { fingerprint: string }[]
    expect(new Set(events.map((e) => e.fingerprint))).toEqual(new Set(amAlerts.map((a) => a.fingerprint)))
    expect(events.every((e) => e.status === 'firing')).toBe(true)
    expect(await readyStatus(r.url)).toBe(200)
  })

  it('Pingdom posts are spooled through a broker kill and a receiver kill, then drained in order', async () => {
    restoreKafkaAfterTest()
    const r = await setup()
    const base = fixture<Record<string, unknown>>('pingdom/pingdom-http-down.json')
    // Alternating DOWN/UP of one check: order matters, each state change has its own time.
    const posts = Array.from({ length: 12 }, (_, i) => ({ ...base, current_state: i % 2 ? 'UP' : 'DOWN', state_changed_timestamp: 1773737091 + i * 60 }))
    const send = async (p: object) => {
      const res = await fetch(`${r.url}/webhooks/pingdom?token=${TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(p) })
      expect(res.status).toBe(202)
      return ((await res.json()) as { ids: string[] }).ids[0]!
    }
    const ids: string[] = []
    for (const p of posts.slice(0, 4)) ids.push(await send(p))
    await stack('kill', 'kafka')
    for (const p of posts.slice(4, 8)) ids.push(await send(p))
    // The receiver dies too, with the spooled posts not yet on Kafka; its successor drains them.
    r.receiver.child.kill('SIGKILL')
    await r.receiver.stop()
    await stack('start', 'kafka')
    const successor = await startService('receiver', r.env, 'connected to kafka')
    expect(successor.logs.some((l) => l.msg === 'spool has records from before the restart')).toBe(true)
    for (const p of posts.slice(8)) ids.push(await send(p))

    const messages = await readTopicUntil(r.kafka, r.topics.alerts, (m) => new Set(m.map((x) => (JSON.parse(x.value) as Event).id)).size >= ids.length, 120_000)
    const events = messages.map((m) => JSON.parse(m.value) as Event)
    expect(new Set(events.map((e) => e.id))).toEqual(new Set(ids))
    // One check, one key, one partition: the log holds the state changes in the order they were posted.
    const firstSeen = [...new Map(events.map((e) => [e.id, e])).keys()]
    expect(firstSeen).toEqual(ids)
  })
})
