import type { Consumer, EachBatchPayload } from 'kafkajs'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { PartitionRunner } from './partition-runner.ts'
import type { KafkaStateStore } from './state-store.ts'

describe('PartitionRunner at shutdown', () => {
  it('applies no batch once stopping, although kafkajs still hands over batches it fetched before the pause', async () => {
    const touched: string[] = []
    const store = { loadAll: async () => { touched.push('store'); return new Map() } } as unknown as KafkaStateStore
    const runner = new PartitionRunner({
      consumer: {} as Consumer, producer: { sendBatch: async () => { touched.push('send'); return [] } }, store,
      topics: { alerts: 'a', commands: 'c', input: 'in', incidents: 'i', problems: 'p', commandResults: 'r', state: 's', deadLetter: 'd' },
      engineConfig: {}, logger: pino({ level: 'silent' }), snapshotIntervalMs: 60_000, now: () => 0,
      onApplied: () => touched.push('applied'),
    })
    await runner.stopApplying()
    const resolved: string[] = []
    const tick = JSON.stringify({ type: 'tick', at: '2026-12-03T00:00:00.000Z' })
    await runner.handler({
      batch: { topic: 'in', partition: 0, messages: [{ offset: '0', value: Buffer.from(tick) }] },
      resolveOffset: (o: string) => resolved.push(o), heartbeat: async () => undefined, isRunning: () => true, isStale: () => false,
    } as unknown as EachBatchPayload)
    expect(touched).toEqual([])
    expect(resolved).toEqual([])
  })
})
