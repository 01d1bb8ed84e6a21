import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CorrelationEngine } from '@opsreview/correlation/engine'
import type { AlertEvent } from '@opsreview/correlation/types'
import { withReceiptNoLaterThan } from '@opsreview/correlation/event-time'
import { connectedAdmin, createTopics, kafkaClient, uniqueName } from '@opsreview/testing'
import { runReplay } from './replay.ts'

const T = Date.parse('2026-11-30T00:00:00.000Z')
const MIN = 60_000
const HOUR = 60 * MIN
const iso = (t: number) => new Date(t).toISOString()
function ev(fp: string, startsAt: number, receivedAt: number): AlertEvent {
  return {
    id: createHash('sha256').update(`alertmanager|${fp}|firing|${startsAt}`).digest('hex').slice(0, 32),
    source: 'alertmanager', fingerprint: fp, status: 'firing', severity: 'critical', service: fp, environment: 'production',
    title: `Down on ${fp}`, labels: { alertname: 'Down' }, startsAt: iso(startsAt), receivedAt: iso(receivedAt), links: [], origin: {},
  }
}

describe('replay: a receipt ahead of its record', () => {
  it("clamps it to the record's timestamp as the rekeyer does: a receiver clock 30 days ahead does not resolve the other incidents of its environment", async () => {
    const kafka = kafkaClient()
    const admin = await connectedAdmin(kafka)
    const alerts = uniqueName('rv-alerts')
    const commands = uniqueName('rv-commands')
    await createTopics(admin, [alerts, commands], 1)
    // db fires at 00:00 and keeps firing; at 00:10 a receiver whose clock runs 30 days ahead stamps web's firing.
    const db = ev('db', T, T)
    const web = ev('web', T + 30 * 24 * HOUR, T + 30 * 24 * HOUR)
    const records = [{ event: db, at: T }, { event: web, at: T + 10 * MIN }]
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: alerts, messages: records.map((r) => ({ key: r.event.fingerprint, value: JSON.stringify(r.event), timestamp: String(r.at) })) })
    await producer.disconnect()
    await admin.disconnect()

    // Live: the rekeyer (clock at the record's time) clamps web's receipt to its clock + 1 min; the engine ticks every 5 s.
    const live = new CorrelationEngine({})
    // (web's start is clamped to its receipt: both lie at 00:11 then.)
    for (let t = T; t <= T + HOUR; t += 5000) {
      for (const r of records) if (r.at === t) live.apply({ type: 'alert', event: withReceiptNoLaterThan(r.event, r.at + MIN) })
      live.apply({ type: 'tick', at: iso(t) })
    }
    const liveDb = live.incidents().find((i) => i.services.includes('db'))!
    expect(liveDb.status).toBe('open')

    const logs: unknown[] = []
    const replay = await runReplay({
      kafka, topics: { alerts, commands }, fromMs: T, toMs: T + HOUR, warmUpMs: 0, engineConfig: {}, commands: false,
      groupId: uniqueName('rv-replay'), idleTimeoutMs: 20_000, logger: { info: (o) => logs.push(o), warn: (o) => logs.push(o) },
    })
    const replayDb = replay.incidents.find((i) => i.services.includes('db'))!
    expect({ status: replayDb.status, resolvedBy: replayDb.resolvedBy }).toEqual({ status: 'open', resolvedBy: null })
    // web opened at its clamped receipt, as live.
    expect(replay.incidents.find((i) => i.services.includes('web'))!.openedAt).toBe(live.incidents().find((i) => i.services.includes('web'))!.openedAt)
  }, 60_000)
})
