import { describe, expect, it } from 'vitest'
import { retryDelay } from './backoff.ts'

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
