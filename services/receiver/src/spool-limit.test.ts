import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import pino from 'pino'
import { readConfig } from '@opsreview/config'
import { fixture, serve } from '@opsreview/testing'
import { Spool, SpoolFullError, type SpoolRecord } from '@opsreview/spool'
import { receiverConfigSpec } from './config.ts'
import { createReceiverMetrics } from './metrics.ts'
import { fakeReceiver, post } from './test-fakes.ts'

const required = { OPSREVIEW_INGEST_TOKENS: 't' }

describe('receiver spool limit (OPSREVIEW_SPOOL_MAX_BYTES)', () => {
  it('defaults to 1 GiB, takes a size, and refuses at start one under 1 MiB, listed with the other errors', () => {
    const d = readConfig(receiverConfigSpec, required)
    expect(d.ok && d.value.OPSREVIEW_SPOOL_MAX_BYTES).toBe(1024 * 1024 * 1024)
    const set = readConfig(receiverConfigSpec, { ...required, OPSREVIEW_SPOOL_MAX_BYTES: '256mb' })
    expect(set.ok && set.value.OPSREVIEW_SPOOL_MAX_BYTES).toBe(256 * 1024 * 1024)
    const bad = readConfig(receiverConfigSpec, { ...required, OPSREVIEW_SPOOL_MAX_BYTES: '512kb', OPSREVIEW_ALERTS_PARTITIONS: '0' })
    expect(!bad.ok && bad.errors).toEqual([
      expect.stringMatching(/^OPSREVIEW_ALERTS_PARTITIONS /),
      expect.stringMatching(/^OPSREVIEW_SPOOL_MAX_BYTES must be at least 1048576 bytes, got "512kb"/),
    ])
  })

  it('answers 503 with Retry-After, naming the full spool, while the spool is at its limit, and 202 to the retry once the drain made room', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'receiver-spool-limit-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const spool = await Spool.open(dir, { logger: pino({ level: 'silent' }), maxBytes: 4096 })
    onTestFinished(() => spool.close())
    // Kafka is down and the spool fills up to its last few bytes: no event fits.
    for (let i = 0; ; i++) {
      const full = await spool.append([{ topic: 'alerts', key: `k${i}`, value: '' }]).then(() => false, (err: unknown) => err instanceof SpoolFullError)
      if (full) break
    }
    const metrics = createReceiverMetrics({ breakerState: () => 'open', spool })
    const r = fakeReceiver({ spool, metrics })
    const url = await serve(r.app)
    // What OpsreviewReceiverSpoolNearlyFull compares: the bytes waiting and the limit.
    const gauge = async (name: string) => Number((await (await fetch(`${url}/metrics`)).text()).match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1])
    expect(await gauge('opsreview_receiver_spool_max_bytes')).toBe(4096)
    expect(await gauge('opsreview_receiver_spool_bytes')).toBe(spool.bytes)
    expect(spool.bytes).toBeGreaterThan(4096 * 0.9)
    const down = fixture<Record<string, unknown>>('pingdom/pingdom-http-down.json')

    const refused = await post(`${url}/webhooks/pingdom`, down)
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(await refused.json()).toMatchObject({ detail: 'The receiver\'s spool is full while Kafka is away (OPSREVIEW_SPOOL_MAX_BYTES); retry later' })

    // Kafka is back: the drain makes room, and the sender's retry is taken.
    const published: SpoolRecord[] = []
    spool.startDraining(async (records) => { published.push(...records) })
    expect(await spool.drained(5000)).toBe(true)
    const filled = published.length
    const retried = await post(`${url}/webhooks/pingdom`, down)
    expect(retried.status).toBe(202)
    expect(await spool.drained(5000)).toBe(true)
    expect(published.slice(filled).map((p) => JSON.parse(p.value) as { source: string })).toEqual([expect.objectContaining({ source: 'pingdom' })])
  })
})
