import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { cachedDeadLetterCount, type DeadLetterSummary } from './dead-letters.ts'
import { DeadLetterCountError } from './errors.ts'

const summary = (total: number): DeadLetterSummary => ({ since: '2026-12-03T00:00:00.000Z', at: '2026-12-04T00:00:00.000Z', windowMs: 86_400_000, total, topics: [] })

describe('cachedDeadLetterCount', () => {
  const setup = () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    onTestFinished(() => { vi.useRealTimers() })
    let clock = 0
    const take = vi.fn<(nowMs: number) => Promise<DeadLetterSummary>>()
    const count = cachedDeadLetterCount(take, { ttlMs: 1_000, timeoutMs: 500, clock: () => clock })
    return { take, count, advance: (ms: number) => { clock += ms } }
  }

  it('takes the count once per ttl, and once for callers that ask while it is being taken', async () => {
    const { take, count, advance } = setup()
    take.mockResolvedValue(summary(3))
    const [a, b] = await Promise.all([count(), count()])
    expect(a).toEqual({ summary: summary(3), stale: false })
    expect(b).toEqual(a)
    advance(999)
    expect(await count()).toEqual({ summary: summary(3), stale: false })
    expect(take).toHaveBeenCalledTimes(1)
    advance(1)
    take.mockResolvedValue(summary(5))
    expect((await count()).summary.total).toBe(5)
    expect(take).toHaveBeenCalledTimes(2)
  })

  it('fails retriably, naming the timeout, when Kafka does not answer in time and no count was taken before', async () => {
    const { take, count } = setup()
    take.mockReturnValue(new Promise(() => {}))
    const outcome = count().then(() => 'answered', (err: unknown) => err)
    await vi.advanceTimersByTimeAsync(500)
    const err = await outcome
    expect(err).toBeInstanceOf(DeadLetterCountError)
    expect(err).toMatchObject({ message: 'Kafka did not answer within 500 ms', retriable: true })
  })

  it('serves the last count as stale when Kafka fails or does not answer in time, and a fresh one once it answers again', async () => {
    const { take, count, advance } = setup()
    take.mockResolvedValueOnce(summary(2))
    await count()
    advance(1_000)
    take.mockRejectedValueOnce(new Error('broker down'))
    expect(await count()).toEqual({ summary: summary(2), stale: true })
    take.mockReturnValueOnce(new Promise(() => {}))
    const slow = count()
    await vi.advanceTimersByTimeAsync(500)
    expect(await slow).toEqual({ summary: summary(2), stale: true })
    take.mockResolvedValueOnce(summary(4))
    expect(await count()).toEqual({ summary: summary(4), stale: false })
  })

  it('wraps any other failure as retriable, with the cause', async () => {
    const { take, count } = setup()
    const cause = new Error('broker down')
    take.mockRejectedValue(cause)
    const err = await count().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(DeadLetterCountError)
    expect(err).toMatchObject({ message: 'Kafka could not count the dead letters', cause, retriable: true })
  })
})
