// The receiver on the real Kafka maps kube-prometheus-stack alerts as its grouping rules file says.
import { mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { captureLogs, connectedAdmin, createTopics, fixture, kafkaClient, readTopicUntil, uniqueName } from '@opsreview/testing'
import type { AlertEvent } from '@opsreview/schemas'
import { ingestOptionsOf, receiverConfigSpec } from './config.ts'
import { receiverOnKafka } from './test-receiver.ts'

const TOKEN = 'grouping-test-token'

/** A receiver configured from these variables, as main.ts configures it, on topics of its own. */
async function startReceiver(env: Record<string, string>) {
  const config = readConfig(receiverConfigSpec, { OPSREVIEW_INGEST_TOKENS: TOKEN, ...env })
  if (!config.ok) throw new Error(config.errors.join('\n'))
  const kafka = kafkaClient()
  const admin = await connectedAdmin(kafka)
  const topics = { alerts: uniqueName('alerts'), rejected: uniqueName('rejected') }
  await createTopics(admin, [topics.alerts, topics.rejected])
  const { logger } = captureLogs()
  const { url } = await receiverOnKafka(kafka, topics, { logger, tokens: [TOKEN], ingest: ingestOptionsOf(config.value) })
  return { url, kafka, topics }
}

async function publishedFor(env: Record<string, string>, fixtureName: string): Promise<string[][]> {
  const r = await startReceiver(env)
  const payload = fixture<{ alerts: unknown[] }>(`alertmanager/${fixtureName}`)
  const res = await fetch(`${r.url}/webhooks/alertmanager`, {
    method: 'POST', body: JSON.stringify(payload), headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
  })
  expect(await res.json()).toMatchObject({ accepted: payload.alerts.length, published: payload.alerts.length, rejected: [] })
  const got = await readTopicUntil(r.kafka, r.topics.alerts, (m) => m.length >= payload.alerts.length)
  return got.map((m) => JSON.parse(m.value) as AlertEvent).map((e) => [e.labels.pod!, e.service, e.environment]).sort((a, b) => a[0]!.localeCompare(b[0]!))
}

describe('receiver grouping rules on the real Kafka', () => {
  it('publishes a crash-looping pod under its container and the default environment with the defaults', async () => {
    expect(await publishedFor({}, 'kube-prometheus-pod-crashlooping.json')).toEqual([
      ['cart-5f6d7c8b94-mk8zt', 'cart', 'production'],
      ['checkout-7d9f8b6c5d-q7w3e', 'checkout', 'production'],
      ['checkout-7d9f8b6c5d-x2x9k', 'checkout', 'production'],
    ])
  })

  it('publishes the same notification as a rules file given in OPSREVIEW_GROUPING_RULES says', async () => {
    // A team that runs one environment per namespace, and names services after the pod's uid for the test's sake.
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'receiver-grouping-')), 'rules.yaml')
    writeFileSync(file, [
      'version: 1',
      'service:',
      '  labels: [service]',
      '  rules:',
      '    - match: { labels: { alertname: { regex: "KubePod.*" }, pod: { regex: "checkout-.*" } } }',
      '      labels: [uid]',
      'environment:',
      '  labels: [namespace]',
      '',
    ].join('\n'))
    expect(await publishedFor({ OPSREVIEW_GROUPING_RULES: file }, 'kube-prometheus-pod-crashlooping.json')).toEqual([
      ['cart-5f6d7c8b94-mk8zt', 'kube-prometheus-stack-kube-state-metrics', 'shop'],
      ['checkout-7d9f8b6c5d-q7w3e', '7a9e0d21-c4f3-4b6a-8e12-5d0c9b3f7a18', 'shop'],
      ['checkout-7d9f8b6c5d-x2x9k', '0c2f6f3e-5b8a-4d0e-9a51-3b7f2c1d9e40', 'shop'],
    ])
  })
})
