// A label that cannot name a service or environment, through the real receiver into the real Kafka.
import { describe, expect, it } from 'vitest'
import { captureLogs, connectedAdmin, createTopics, fixture, kafkaClient, readTopicUntil, uniqueName } from '@opsreview/testing'
import type { AlertEvent, AlertmanagerWebhook } from '@opsreview/schemas'
import { receiverOnKafka } from './test-receiver.ts'

const TOKEN = 'label-names-test-token'

describe('receiver on the real Kafka, a label holding a control character', () => {
  it('acknowledges the notification and publishes the alert under the fallback service and environment, the raw labels kept', async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    const topics = { alerts: uniqueName('alerts'), rejected: uniqueName('rejected') }
    await createTopics(admin, [topics.alerts, topics.rejected])
    const { logger } = captureLogs()
    const { url } = await receiverOnKafka(kafka, topics, { logger, tokens: [TOKEN] })

    const payload = fixture<AlertmanagerWebhook>('alertmanager/kube-prometheus-target-down.json')
    // Every label the precedence reads is unusable, each in its own way: the fallbacks name the alert.
    const labels = { ...payload.alerts[0]!.labels, service: 'checkout\n', job: 'checkout\u0085', app: '\u007f', cluster: 'staging\u0000' }
    payload.alerts[0]!.labels = labels
    const res = await fetch(`${url}/webhooks/alertmanager`, {
      method: 'POST', body: JSON.stringify(payload), headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ accepted: 1, published: 1, rejected: [] })

    const [published] = (await readTopicUntil(kafka, topics.alerts, (m) => m.length >= 1)).map((m) => JSON.parse(m.value) as AlertEvent)
    expect(published).toMatchObject({ service: 'TargetDown', environment: 'production' })
    expect(published!.labels).toEqual(labels)
  })
})
