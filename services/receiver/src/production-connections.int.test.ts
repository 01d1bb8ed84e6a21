// Kafka over SASL_SSL, end to end: a broker of the test's own (a CA and certificate made here, SCRAM and
// PLAIN users), reached through the receiver's own configuration (receiverConfigSpec: the variables, their
// _FILE twins, the CA file read at start) and the shared connection builder, then through the receiver
// itself, started as `pnpm start` starts it.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readConfig } from '@opsreview/config'
import { kafkaConnectionOptions } from '@opsreview/kafka/connection'
import { createReadyTopics, fixture, freePort, makeTestCa, readTopicUntil, repoRoot, startSaslSslKafka, tempDir, uniqueName, waitFor, type SaslSslKafka } from '@opsreview/testing'
import { receiverConfigSpec } from './config.ts'

let broker: SaslSslKafka

beforeAll(async () => { broker = await startSaslSslKafka() }, 90_000)
afterAll(async () => { await broker?.stop() })

/** The variables an operator would set for this broker; the password comes from a file, as a container's would. */
function envFor(mechanism: string, overrides: Record<string, string> = {}): Record<string, string> {
  const passwordFile = path.join(broker.dir, 'sasl-password')
  writeFileSync(passwordFile, `${broker.password}\n`)
  return {
    OPSREVIEW_KAFKA_BROKERS: broker.brokers.join(','),
    OPSREVIEW_KAFKA_SSL_CA: broker.ca.certFile,
    OPSREVIEW_KAFKA_SASL_MECHANISM: mechanism,
    OPSREVIEW_KAFKA_SASL_USERNAME: broker.username,
    OPSREVIEW_KAFKA_SASL_PASSWORD_FILE: passwordFile,
    ...overrides,
  }
}

/** `retries`: a consumer needs some while the broker creates its offsets topic; a test of a refusal needs none. */
function kafkaFrom(env: Record<string, string>, retries = 5): Kafka {
  const r = readConfig(receiverConfigSpec, { OPSREVIEW_INGEST_TOKENS: 'unused', ...env })
  if (!r.ok) throw new Error(r.errors.join('\n'))
  return new Kafka({ clientId: uniqueName('sasl-ssl'), ...kafkaConnectionOptions(r.value), logLevel: logLevel.NOTHING, connectionTimeout: 5000, retry: { retries, initialRetryTime: 200, maxRetryTime: 2000 } })
}

describe('kafka over SASL_SSL with a private CA', () => {
  it.each(['scram-sha-512', 'SCRAM-SHA-512', 'scram-sha-256', 'plain'])('creates a topic, produces with acks=all and consumes, with %s', async (mechanism) => {
    const kafka = kafkaFrom(envFor(mechanism))
    const admin = kafka.admin()
    await admin.connect()
    try {
      const topic = uniqueName('sasl-ssl')
      await createReadyTopics(admin, [{ topic, numPartitions: 2 }])
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      await producer.connect()
      await producer.send({ topic, acks: -1, messages: [{ key: 'a', value: `over ${mechanism}` }, { key: 'b', value: 'second' }] })
      await producer.disconnect()
      const read = await readTopicUntil(kafka, topic, (m) => m.length >= 2, 20_000)
      expect(read.map((m) => m.value).sort()).toEqual([`over ${mechanism}`, 'second'])
    } finally {
      await admin.disconnect()
    }
  })

  it('refuses a wrong password, naming the mechanism', async () => {
    const scram = kafkaFrom(envFor('scram-sha-512', { OPSREVIEW_KAFKA_SASL_PASSWORD_FILE: '', OPSREVIEW_KAFKA_SASL_PASSWORD: 'not-the-password' }), 0).admin()
    await expect(scram.connect()).rejects.toThrow(/SASL SCRAM SHA512 authentication failed: .*invalid credentials/)
    const plain = kafkaFrom(envFor('plain', { OPSREVIEW_KAFKA_SASL_PASSWORD_FILE: '', OPSREVIEW_KAFKA_SASL_PASSWORD: 'not-the-password' }), 0).admin()
    await expect(plain.connect()).rejects.toThrow(/SASL PLAIN authentication failed: .*Invalid username or password/)
  })

  it('refuses a broker whose certificate another CA signed, and one the system CAs do not know', async () => {
    const other = await makeTestCa(tempDir('sasl-ssl-other-ca'), 'some other CA')
    await expect(kafkaFrom(envFor('scram-sha-512', { OPSREVIEW_KAFKA_SSL_CA: other.certFile }), 0).admin().connect())
      .rejects.toThrow(/unable to verify the first certificate/)
    await expect(kafkaFrom(envFor('scram-sha-512', { OPSREVIEW_KAFKA_SSL_CA: '', OPSREVIEW_KAFKA_SSL: 'true' }), 0).admin().connect())
      .rejects.toThrow(/unable to verify the first certificate/)
  })
})

describe('the receiver on a SASL_SSL broker', () => {
  function startReceiver(env: Record<string, string>) {
    const child = spawn(process.execPath, ['--conditions=@opsreview/source', path.join(repoRoot, 'services/receiver/src/main.ts')], {
      env: { PATH: process.env.PATH ?? '', OPSREVIEW_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (c: Buffer) => { output += c.toString() })
    child.stderr.on('data', (c: Buffer) => { output += c.toString() })
    const exited = once(child, 'exit').then(([code]) => code as number | null)
    return { child, exited, output: () => output }
  }

  it('starts with the settings, and acknowledges a webhook once the SASL_SSL broker has its alerts', async () => {
    const port = await freePort()
    const alerts = uniqueName('alerts')
    const receiver = startReceiver({
      ...envFor('scram-sha-512'),
      OPSREVIEW_INGEST_TOKENS: 'sasl-ssl-token', OPSREVIEW_RECEIVER_PORT: String(port), OPSREVIEW_SPOOL_DIR: tempDir('sasl-ssl-receiver-spool'),
      OPSREVIEW_TOPIC_ALERTS: alerts, OPSREVIEW_TOPIC_REJECTED: uniqueName('rejected'), OPSREVIEW_ALERTS_PARTITIONS: '1',
    })
    try {
      const connected = await waitFor(() => receiver.output().split('\n').find((l) => l.includes('"msg":"connected to kafka"')), { timeoutMs: 45_000, what: `the receiver to connect:\n${receiver.output()}` })
      expect(JSON.parse(connected)).toMatchObject({ brokers: broker.brokers, tls: 'CA file', sasl: `scram-sha-512 as ${broker.username}` })
      const res = await fetch(`http://127.0.0.1:${port}/webhooks/alertmanager`, {
        method: 'POST', headers: { authorization: 'Bearer sasl-ssl-token', 'content-type': 'application/json' },
        body: JSON.stringify(fixture('alertmanager/am-firing-3-alerts.json')),
      })
      expect(res.status, await res.text()).toBe(200)
      // Read back with PLAIN: the same user, another mechanism.
      const events = await readTopicUntil(kafkaFrom(envFor('plain')), alerts, (m) => m.length >= 3, 20_000)
      expect(events).toHaveLength(3)
    } finally {
      receiver.child.kill('SIGTERM')
      expect(await receiver.exited).toBe(0)
    }
  })

  it('does not start on a bad connection setting, listing every fault by its variable', async () => {
    const receiver = startReceiver({
      OPSREVIEW_INGEST_TOKENS: 't', OPSREVIEW_KAFKA_SSL_CA: '/nonexistent/ca.pem', OPSREVIEW_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-1',
      OPSREVIEW_KAFKA_SASL_PASSWORD: 'hunter2', OPSREVIEW_KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka-password',
    })
    const code = await receiver.exited
    const out = receiver.output()
    expect(code, out).toBe(78)
    expect(out).toMatch(/OPSREVIEW_KAFKA_SSL_CA \/nonexistent\/ca\.pem cannot be read: no such file/)
    expect(out).toMatch(/OPSREVIEW_KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512, got "SCRAM-SHA-1"/)
    expect(out).toMatch(/OPSREVIEW_KAFKA_SASL_USERNAME is required with OPSREVIEW_KAFKA_SASL_MECHANISM/)
    expect(out).toMatch(/OPSREVIEW_KAFKA_SASL_PASSWORD and OPSREVIEW_KAFKA_SASL_PASSWORD_FILE are both set/)
    expect(out).not.toContain('hunter2')
  })
})
