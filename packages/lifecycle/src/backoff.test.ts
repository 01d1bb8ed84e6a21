import { describe, expect, it } from 'vitest'
import { backoffMs, retryDelay, sleepUnlessAborted } from './backoff.ts'

describe('retryDelay', () => {
  it('doubles per failure in a row up to the maximum, each between half and all of it', () => {
    const lowest = (failures: number) => retryDelay(failures, 200, 10_000, () => 0)
    const highest = (failures: number) => retryDelay(failures, 200, 10_000, () => 1)
    expect([1, 2, 3, 4].map(highest)).toEqual([200, 400, 800, 1600])
    expect([1, 2, 3, 4].map(lowest)).toEqual([100, 200, 400, 800])
    expect(highest(7)).toBe(10_000)
    expect(lowest(1_000)).toBe(5_000)
    expect(highest(1_000)).toBe(10_000)
  })
})

describe('backoffMs', () => {
  it('doubles per failure in a row from the initial wait up to the maximum, without jitter', () => {
    expect([1, 2, 3, 4, 5].map((failures) => backoffMs(failures, 250, 5000))).toEqual([250, 500, 1000, 2000, 4000])
    expect(backoffMs(6, 250, 5000)).toBe(5000)
    expect(backoffMs(10_000, 250, 5000)).toBe(5000)
    // No failure yet is the initial wait, and a zero initial wait stays zero however many failures.
    expect(backoffMs(0, 250, 5000)).toBe(250)
    expect(backoffMs(10_000, 0, 5000)).toBe(0)
  })
})

describe('sleepUnlessAborted', () => {
  it('resolves, not rejects, as soon as the signal aborts, long before its time', async () => {
    const ends = new AbortController()
    const wait = sleepUnlessAborted(3_600_000, ends.signal, { ref: false })
    let settled: string | undefined
    wait.then(() => { settled = 'resolved' }, () => { settled = 'rejected' })
    await Promise.resolve()
    expect(settled).toBeUndefined()
    ends.abort()
    await wait
    expect(settled).toBe('resolved')
  })
})
