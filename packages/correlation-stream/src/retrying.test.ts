import { describe, expect, it, vi } from 'vitest'
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSProtocolError, type EachBatchPayload } from 'kafkajs'
import { captureLogs } from '@opsreview/testing'
import { retryingBatches } from './retrying.ts'

/** The parts of kafkajs's batch payload the policy touches. */
function payload(partition = 2): EachBatchPayload & { heartbeats: number } {
  const p = {
    heartbeats: 0,
    batch: { topic: 'input', partition },
    heartbeat: async () => { p.heartbeats++ },
    isRunning: () => true,
  }
  return p as unknown as EachBatchPayload & { heartbeats: number }
}

describe('retryingBatches', () => {
  it('backs off on a retriable failure and logs a run of them at a bounded rate', async () => {
    const { logger, lines } = captureLogs()
    let clock = 0
    let failing = true
    const retried: string[] = []
    const run = retryingBatches(async () => { if (failing) throw new KafkaJSConnectionError('Connection closed') }, {
      logger, initialBackoffMs: 1, maxBackoffMs: 4, logEveryMs: 30_000, now: () => clock, onRetry: (err) => retried.push(err.name),
    })
    for (let i = 0; i < 10; i++) { await run(payload()); clock += 5_000 } // 45 s of failures, one batch every 5 s
    failing = false
    await run(payload())
    await run(payload())

    expect(retried).toHaveLength(10)
    expect(new Set(retried)).toEqual(new Set(['KafkaUnavailableError']))
    const warnings = lines.filter((l) => l.msg === 'kafka unavailable: retrying the batch')
    expect(warnings.map((w) => [w.failures, w.suppressed])).toEqual([[1, 0], [7, 5]])
    expect(warnings[0]).toMatchObject({ topic: 'input', partition: 2, retryInMs: 1 })
    expect(lines.filter((l) => l.msg === 'kafka available again: batches flow')).toMatchObject([{ failures: 10, outageMs: 50_000 }])
  })

  it('logs a run of failures on time when the wall clock stepped back an hour meanwhile', async () => {
    const { logger, lines } = captureLogs()
    // The wall clock as NTP would move it: an hour back once the first failure is logged.
    let step = 0
    vi.spyOn(Date, 'now').mockImplementation(() => performance.timeOrigin + performance.now() + step)
    try {
      const run = retryingBatches(async () => { throw new KafkaJSConnectionError('Connection closed') }, { logger, initialBackoffMs: 1, maxBackoffMs: 1, logEveryMs: 50 })
      await run(payload())
      step = -3_600_000
      await new Promise((r) => setTimeout(r, 80))
      await run(payload())
    } finally {
      vi.restoreAllMocks()
    }
    // The second line is due 50 ms after the first, whatever the wall clock says.
    expect(lines.filter((l) => l.msg === 'kafka unavailable: retrying the batch').map((l) => l.failures)).toEqual([1, 2])
  })

  it('backs off per partition, and logs the outage of the consumer from the first failure to the last partition getting through', async () => {
    const { logger, lines } = captureLogs()
    const failing = new Set([1, 2])
    const run = retryingBatches(async ({ batch }) => { if (failing.has(batch.partition)) throw new KafkaJSConnectionError('Connection closed') }, {
      logger, initialBackoffMs: 1, maxBackoffMs: 64, logEveryMs: 0,
    })
    await Promise.all([run(payload(1)), run(payload(2))])
    failing.delete(1)
    await Promise.all([run(payload(1)), run(payload(2))])
    // Partition 2's second failure backs off as its second (2 ms), not as the consumer's third.
    expect(lines.filter((l) => l.msg === 'kafka unavailable: retrying the batch').map((l) => [l.partition, l.failures, l.retryInMs])).toEqual([[1, 1, 1], [2, 2, 1], [2, 3, 2]])
    expect(lines.filter((l) => l.msg === 'kafka available again: batches flow')).toEqual([])
    failing.delete(2)
    await run(payload(2))
    expect(lines.filter((l) => l.msg === 'kafka available again: batches flow')).toMatchObject([{ failures: 3 }])
  })

  it('rethrows what no retry can fix, and leaves rebalances to kafkajs', async () => {
    const { logger, lines } = captureLogs()
    const bug = new TypeError('x is not a function')
    await expect(retryingBatches(async () => { throw bug }, { logger })(payload())).rejects.toBe(bug)
    expect(lines.filter((l) => l.msg === 'non-retriable failure: the consumer stops')).toHaveLength(1)
    const rebalance = new KafkaJSProtocolError({ type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false, message: 'The group is rebalancing' } as never)
    await expect(retryingBatches(async () => { throw rebalance }, { logger })(payload())).rejects.toBe(rebalance)
    const evicted = new KafkaJSProtocolError({ type: 'UNKNOWN_MEMBER_ID', code: 25, retriable: false, message: 'The coordinator is not aware of this member' } as never)
    await expect(retryingBatches(async () => { throw evicted }, { logger })(payload())).rejects.toBe(evicted)
  })

  it('retries an eviction kafkajs wrapped, which its runner could not read to rejoin: the next heartbeat meets it bare', async () => {
    const { logger } = captureLogs()
    const evicted = new KafkaJSProtocolError({ type: 'UNKNOWN_MEMBER_ID', code: 25, retriable: false, message: 'The coordinator is not aware of this member' } as never)
    const wrapped = Object.assign(new KafkaJSNonRetriableError(evicted), { cause: evicted })
    let calls = 0
    const handler = retryingBatches(async () => { calls++; throw wrapped }, { logger, initialBackoffMs: 1 })
    await expect(handler(payload())).resolves.toBeUndefined()
    expect(calls).toBe(1)
  })

  it('stops the consumer when Kafka refuses the credentials or permissions, and says so', async () => {
    const { logger, lines } = captureLogs()
    const refused = new KafkaJSProtocolError({ type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false, message: 'Not authorized to access topics: [Topic authorization failed]' } as never)
    const retried: unknown[] = []
    await expect(retryingBatches(async () => { throw refused }, { logger, onRetry: (err) => retried.push(err) })(payload())).rejects.toMatchObject({ retriable: false, cause: refused })
    expect(retried).toEqual([])
    expect(lines.filter((l) => l.msg === 'kafka refused this client (credentials or permissions): the consumer stops')).toMatchObject([{ level: 50, partition: 2 }])
  })

  it('heartbeats while it backs off, so the group keeps the member', async () => {
    const { logger } = captureLogs()
    const p = payload()
    await retryingBatches(async () => { throw new KafkaJSConnectionError('Connection closed') }, { logger, initialBackoffMs: 1200 })(p)
    expect(p.heartbeats).toBeGreaterThanOrEqual(2)
  })

  it('ends its back-off on time when the wall clock steps back meanwhile (an NTP step)', async () => {
    const { logger } = captureLogs()
    const realNow = Date.now.bind(Date)
    let offset = 0
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset)
    let running = true
    const p = Object.assign(payload(), { isRunning: () => running })
    // The first heartbeat of the back-off comes after its first slice: the clock has stepped back an hour by then.
    p.heartbeat = async () => { p.heartbeats++; offset = -3_600_000 }
    try {
      const done = retryingBatches(async () => { throw new KafkaJSConnectionError('Connection closed') }, { logger, initialBackoffMs: 300 })(p).then(() => 'done')
      const outcome = await Promise.race([done, new Promise((resolve) => setTimeout(() => resolve('still backing off'), 3000))])
      expect(outcome).toBe('done')
    } finally {
      running = false
      spy.mockRestore()
    }
  })
})
