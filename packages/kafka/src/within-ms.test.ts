import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { KafkaUnavailableError } from './errors.ts'
import { endedWithin, withinMs } from './within-ms.ts'

// The race itself (timer cleared, late outcome ignored) is settleWithin's, tested in @opsreview/lifecycle.
describe('withinMs', () => {
  it('fails as Kafka unavailable, retriable, with the message given, once the time has passed and not before', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    onTestFinished(() => { vi.useRealTimers() })
    const outcome = withinMs(new Promise<never>(() => {}), 100, 'the offsets did not come within 100 ms').then(() => 'resolved', (err: unknown) => err)
    await vi.advanceTimersByTimeAsync(99)
    expect(await Promise.race([outcome, Promise.resolve('pending')])).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    const err = await outcome
    expect(err).toBeInstanceOf(KafkaUnavailableError)
    expect(err).toMatchObject({ message: 'the offsets did not come within 100 ms', retriable: true })
  })

  it('is the promise\'s value when it comes in time', async () => {
    expect(await withinMs(Promise.resolve('answer'), 100, 'too slow')).toBe('answer')
  })
})

describe('endedWithin', () => {
  it('answers ended when the send ends, failed or not, abandoned when it has not after the time, aborted when told', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    onTestFinished(() => { vi.useRealTimers() })
    expect(await endedWithin(Promise.reject(new Error('retries used up')), 100)).toBe('ended')
    expect(await endedWithin(Promise.resolve([]), 100)).toBe('ended')

    const never = new Promise<never>(() => {})
    const abandoned = endedWithin(never, 100)
    await vi.advanceTimersByTimeAsync(99)
    expect(await Promise.race([abandoned, Promise.resolve('pending')])).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    expect(await abandoned).toBe('abandoned')

    const stop = new AbortController()
    const aborted = endedWithin(never, 100)
    const told = endedWithin(never, 100, stop.signal)
    stop.abort()
    expect(await told).toBe('aborted')
    expect(await endedWithin(never, 100, stop.signal)).toBe('aborted')
    await vi.advanceTimersByTimeAsync(100)
    expect(await aborted).toBe('abandoned')
  })
})
