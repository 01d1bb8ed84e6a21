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
})
