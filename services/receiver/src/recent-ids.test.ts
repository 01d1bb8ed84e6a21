import { describe, expect, it } from 'vitest'
import { RecentIds } from './recent-ids.ts'

describe('RecentIds', () => {
  it('remembers an id for the ttl, then lets a repeat through', () => {
    const ids = new RecentIds(10, 60_000)
    ids.add('a', 0)
    expect(ids.has('a', 59_999)).toBe(true)
    expect(ids.has('a', 60_000)).toBe(false)
  })

  it('forgets the oldest id beyond its size', () => {
    const ids = new RecentIds(2, 60_000)
    ids.add('a', 0)
    ids.add('b', 1)
    ids.add('c', 2)
    expect([ids.has('a', 3), ids.has('b', 3), ids.has('c', 3)]).toEqual([false, true, true])
  })

  it('remembers at least the newest half of its size and at most its size', () => {
    const ids = new RecentIds(10, 60_000)
    for (let i = 0; i < 23; i++) ids.add(`id-${i}`, i)
    const remembered = Array.from({ length: 23 }, (_, i) => ids.has(`id-${i}`, 30)).map((yes, i) => (yes ? i : -1)).filter((i) => i >= 0)
    expect(remembered.length).toBeGreaterThanOrEqual(5)
    expect(remembered.length).toBeLessThanOrEqual(10)
    expect(remembered).toEqual(Array.from({ length: remembered.length }, (_, k) => 23 - remembered.length + k))
  })

  it('keeps the newest time of an id added again', () => {
    const ids = new RecentIds(4, 100)
    ids.add('a', 0)
    ids.add('b', 1)
    ids.add('c', 2)
    ids.add('a', 90)
    expect(ids.has('a', 150)).toBe(true)
  })
})
